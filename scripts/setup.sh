#!/usr/bin/env bash
# Idempotent set-up of a fresh machine: .venv with the pinned packages (requirements.txt), mmcv 2.1.0
# built from its source package with compiled ops, fma_wsss installed editable, and the `python3` Jupyter
# kernel registered inside the venv. A second run takes seconds.
# mmcv's ops are built with CUDA (Mask2Former's deformable attention needs them on a GPU) when a CUDA
# toolkit (nvcc, torch's CUDA_HOME) AND a CUDA device are present, or when FMA_WSSS_MMCV_CUDA=1 (e.g. a
# build machine without a GPU; set TORCH_CUDA_ARCH_LIST then); FMA_WSSS_MMCV_CUDA=0 forces CPU-only ops.
# Wheel cache: <cache>/torch-<v>-cp311 for CPU-only builds, <cache>/torch-<v>-cu<cuda>-cp311 for CUDA ones.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${FMA_WSSS_VENV:-.venv}
PYTHON=${PYTHON:-python3.11}
MMCV_VERSION=2.1.0
WHEELS=${FMA_WSSS_WHEEL_CACHE:-$HOME/.cache/fma_wsss/wheels}
STAMP=$VENV/.fma_wsss-setup
want=$(cat requirements.txt setup.py settings.ini scripts/setup.sh | sha256sum | cut -c1-16)
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ] && "$VENV/bin/python" -c "import fma_wsss, mmcv" 2>/dev/null; then
  echo "set-up: $VENV is up to date"; exit 0
fi
t0=$(date +%s)
pipq() { # pip, quiet, without the noise of this machine's local-index warnings
  "$VENV/bin/python" -m pip "$@" --disable-pip-version-check 2>&1 | { grep -v "WARNING: Location 'file://" || true; }
}
[ -x "$VENV/bin/python" ] || { echo "set-up: creating $VENV with $PYTHON"; "$PYTHON" -m venv "$VENV"; }
VPY=$(cd "$VENV" && pwd)/bin/python
echo "set-up: installing requirements.txt (first run: a few minutes)"
# sam2 is a source package whose build asks for torch: it is built below against the venv's torch
# (no isolated build environment, which would fetch a second torch of several GB), without its CUDA kernel
reqs=$(mktemp)
grep -v '^sam2==' requirements.txt > "$reqs"
pipq install -q -r "$reqs" "setuptools<81" wheel
rm -f "$reqs"
sam2_pin=$(grep '^sam2==' requirements.txt | cut -d'#' -f1 | tr -d ' ')
if ! "$VENV/bin/python" -c "import sam2, importlib.metadata as m; assert '$sam2_pin' == 'sam2==' + m.version('sam2')" 2>/dev/null; then
  SAM2_BUILD_CUDA=0 pipq install -q --no-deps --no-build-isolation "$sam2_pin"
fi
torch_v=$("$VENV/bin/python" -c "import torch; print(torch.__version__)")
cp_tag=$("$VENV/bin/python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')
# CUDA ops: a toolkit (nvcc under torch's CUDA_HOME) and a device, unless FMA_WSSS_MMCV_CUDA says otherwise
cuda_v=$("$VENV/bin/python" -c "import torch; print(torch.version.cuda or '')")
cuda_home=$("$VENV/bin/python" -c "from torch.utils.cpp_extension import CUDA_HOME; print(CUDA_HOME or '')" 2>/dev/null || true)
has_toolkit=0; [ -n "$cuda_v" ] && [ -n "$cuda_home" ] && [ -x "$cuda_home/bin/nvcc" ] && has_toolkit=1
has_device=$("$VENV/bin/python" -c "import torch; print(int(torch.cuda.is_available()))" 2>/dev/null || echo 0)
case "${FMA_WSSS_MMCV_CUDA:-}" in
  1) mmcv_cuda=1 ;;
  0) mmcv_cuda=0 ;;
  *) mmcv_cuda=$(( has_toolkit && has_device )) ;;
esac
if [ "$mmcv_cuda" = 1 ]; then
  [ -n "$cuda_v" ] || { echo "set-up: FMA_WSSS_MMCV_CUDA=1 but torch $torch_v is a CPU build"; exit 1; }
  nvcc_v=$("$cuda_home/bin/nvcc" --version 2>/dev/null | sed -n 's/.*release \([0-9.]*\),.*/\1/p' || true)
  cuda_v=${nvcc_v:-$cuda_v}                                     # the toolkit that compiles the ops
  wheel_dir="$WHEELS/torch-$torch_v-cu${cuda_v//./}-$cp_tag"   # CUDA builds: keyed by torch AND CUDA
  flavour="with CUDA $cuda_v ops"
else
  wheel_dir="$WHEELS/torch-$torch_v-$cp_tag"                   # CPU-only builds: the key CI's cache uses
  flavour="with CPU-only ops"
fi
mmcv_ok="import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV_VERSION'"
[ "$mmcv_cuda" = 1 ] && mmcv_ok="$mmcv_ok; assert mmcv.ops.get_compiling_cuda_version() != 'not available'"
if ! "$VENV/bin/python" -c "$mmcv_ok" 2>/dev/null; then
  if ! ls "$wheel_dir"/mmcv-$MMCV_VERSION-*.whl >/dev/null 2>&1; then
    echo "set-up: building mmcv $MMCV_VERSION $flavour against torch $torch_v (about 6 minutes on a CPU, once; cached in $wheel_dir)"
    src=$(mktemp -d)
    pipq download -q --no-deps --no-binary :all: "mmcv==$MMCV_VERSION" -d "$src"
    tar -xzf "$src"/mmcv-$MMCV_VERSION.tar.gz -C "$src"
    # torch 2.14's headers need C++20; mmcv 2.1.0 asks for C++17
    sed -i 's/-std=c++17/-std=c++20/g' "$src/mmcv-$MMCV_VERSION/setup.py"
    mkdir -p "$wheel_dir"
    if [ "$mmcv_cuda" = 1 ]; then  # mmcv's setup builds CUDA ops when torch sees a device or FORCE_CUDA=1
      build_env=(FORCE_CUDA=1)
    else                           # hide any device, or mmcv's setup would try CUDA ops without a toolkit
      build_env=(FORCE_CUDA=0 CUDA_VISIBLE_DEVICES=)
    fi
    (cd "$src/mmcv-$MMCV_VERSION" && env "${build_env[@]}" MMCV_WITH_OPS=1 CFLAGS=-g0 CXXFLAGS=-g0 MAX_JOBS=$(nproc) \
      "$VPY" -m pip wheel -q --no-build-isolation --no-deps -w "$src/dist" . 2>&1 \
      | { grep -v "WARNING: Location 'file://" || true; })
    mv "$src"/dist/mmcv-$MMCV_VERSION-*.whl "$wheel_dir"/   # atomic enough: only a finished wheel lands
    rm -rf "$src"
  fi
  pipq install -q --no-deps --force-reinstall "$wheel_dir"/mmcv-$MMCV_VERSION-*.whl
  if [ "$mmcv_cuda" = 1 ]; then
    echo "set-up: mmcv $MMCV_VERSION installed with CUDA $cuda_v ops"
  else
    why="no CUDA toolkit (nvcc)"; [ "$has_toolkit" = 1 ] && why="no CUDA device"
    [ "${FMA_WSSS_MMCV_CUDA:-}" = 0 ] && why="FMA_WSSS_MMCV_CUDA=0"
    echo "set-up: NOTE: mmcv $MMCV_VERSION installed with CPU-only ops ($why): Mask2Former's deformable attention"
    echo "set-up:       will not run on a GPU. With a CUDA toolkit and device, or FMA_WSSS_MMCV_CUDA=1, run set-up again."
  fi
fi
pipq install -q --no-deps --no-build-isolation -e .
"$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (fma_wsss)" >/dev/null
echo "$want" > "$STAMP"
echo "set-up: done in $(( $(date +%s) - t0 )) s; $VENV uses $(du -sh "$VENV" | cut -f1)"

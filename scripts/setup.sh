#!/usr/bin/env bash
# Idempotent set-up of a fresh machine: .venv with the pinned packages (requirements.txt), mmcv 2.1.0
# built from its source package with compiled ops (wheel cached per torch version), fma_wsss installed
# editable, and the `python3` Jupyter kernel registered inside the venv. A second run takes seconds.
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
pipq install -q -r requirements.txt "setuptools<81" wheel
torch_v=$("$VENV/bin/python" -c "import torch; print(torch.__version__)")
wheel_dir="$WHEELS/torch-$torch_v-$("$VENV/bin/python" -c 'import sys; print(f"cp{sys.version_info[0]}{sys.version_info[1]}")')"
if ! "$VENV/bin/python" -c "import mmcv, mmcv.ops; assert mmcv.__version__ == '$MMCV_VERSION'" 2>/dev/null; then
  if ! ls "$wheel_dir"/mmcv-$MMCV_VERSION-*.whl >/dev/null 2>&1; then
    echo "set-up: building mmcv $MMCV_VERSION with ops against torch $torch_v (about 6 minutes, once; cached in $wheel_dir)"
    src=$(mktemp -d)
    pipq download -q --no-deps --no-binary :all: "mmcv==$MMCV_VERSION" -d "$src"
    tar -xzf "$src"/mmcv-$MMCV_VERSION.tar.gz -C "$src"
    # torch 2.14's headers need C++20; mmcv 2.1.0 asks for C++17
    sed -i 's/-std=c++17/-std=c++20/g' "$src/mmcv-$MMCV_VERSION/setup.py"
    mkdir -p "$wheel_dir"
    (cd "$src/mmcv-$MMCV_VERSION" && MMCV_WITH_OPS=1 FORCE_CUDA=0 CFLAGS=-g0 CXXFLAGS=-g0 MAX_JOBS=$(nproc) \
      "$VPY" -m pip wheel -q --no-build-isolation --no-deps -w "$src/dist" . 2>&1 \
      | { grep -v "WARNING: Location 'file://" || true; })
    mv "$src"/dist/mmcv-$MMCV_VERSION-*.whl "$wheel_dir"/   # atomic enough: only a finished wheel lands
    rm -rf "$src"
  fi
  pipq install -q --no-deps "$wheel_dir"/mmcv-$MMCV_VERSION-*.whl
fi
pipq install -q --no-deps --no-build-isolation -e .
"$VENV/bin/python" -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (fma_wsss)" >/dev/null
echo "$want" > "$STAMP"
echo "set-up: done in $(( $(date +%s) - t0 )) s; $VENV uses $(du -sh "$VENV" | cut -f1)"

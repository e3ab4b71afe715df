"""`make gpu-check`: what only a GPU can measure, in one prepared run (meant to take under 8 minutes on one H100).

    .venv/bin/python benchmarks/gpu_check.py            # on a machine with CUDA; refuses without one
    .venv/bin/python benchmarks/gpu_check.py --rehearse # on the CPU, tiny models, nothing written to results/

Steps, each with its own time limit, each recorded even when it fails (the others still run):

1. the GPU-flagged tests and the notebooks with `#| gpu` cells (08_train: fp16 prompt training on CUDA);
2. CAMs per image: CLIP ViT-B/16 shapes with random weights, the demo images, VOC vocabulary, fp32
   (METHOD 1) and bf16 (`run.inference_dtype`), with TF32 off (the release, torch's default);
3. SAM ViT-H shapes (random weights) against SAM 2.1 Hiera-L at METHOD 8's generator settings
   (`benchmarks/bench_sam2.py --gpu`);
4. one prompt-training iteration per task, ViT-B/16 shapes, batch 16, fp32 (`bench_train.py --device cuda`);
5. stage-2 iterations, DeepLabV3+ R101 and Mask2Former Swin-L at the paper batch (`bench_segmenter.py --gpu`);
6. the pipeline end to end on CUDA: `fma-wsss run smoke -p run.device cuda` into a temporary folder.

Writes benchmarks/results/gpu.json (`per_image_seconds` of the per-image stages, read by
bench_distributed.py's VOC/COCO estimates) and gpu.md; steps 3-5 also write their own results files.
Random weights: the times are the real architectures' times, the outputs mean nothing.
"""

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
import warnings
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from _record import RESULTS, Load, _write, machine  # noqa: E402

from fma_wsss.cam import compute_cams  # noqa: E402
from fma_wsss.clip import INFERENCE_DTYPES, FrozenClip  # noqa: E402
from fma_wsss.data import VOC_VOCAB, demo_dataset  # noqa: E402
from fma_wsss.prompts import PromptSettings, prompts_from_settings  # noqa: E402


def _sync(dev: torch.device):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def cams_per_image(dev: torch.device, arch: str, images: int) -> dict:
    "Seconds per image (median after one warm-up) and peak memory of the CAM stage's computation, fp32 and bf16."
    ds = demo_dataset()
    samples = [ds[i] for i in ds.ids[: images + 1]]
    out = {}
    for name, dtype in INFERENCE_DTYPES.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # bf16 on a CPU without fast bf16 (rehearsal only)
            clip = FrozenClip.build(arch, "random", device=dev, dtype=dtype)
        learner = prompts_from_settings(clip, VOC_VOCAB, PromptSettings(), random_seed=0).to(dev)
        with torch.no_grad():
            text = learner()  # once per split, as the CAM stage does
        if dev.type == "cuda":
            torch.cuda.reset_peak_memory_stats(dev)
        secs = []
        for k, s in enumerate(samples):
            _sync(dev)
            t0 = time.perf_counter()
            compute_cams(clip, text, learner.n_fg, s.image, s.labels)
            _sync(dev)
            if k:  # the first image is the warm-up
                secs.append(time.perf_counter() - t0)
        out[name] = {"sec_per_image_median": statistics.median(secs), "sec_per_image": secs}
        if dev.type == "cuda":
            out[name]["peak_memory_bytes"] = torch.cuda.max_memory_allocated(dev)
        del clip, learner
    return out


def _command(cmd: list[str], timeout: int, env: dict | None = None) -> dict:
    "Run one step's command; its exit status, wall seconds and the end of its output."
    t0 = time.perf_counter()
    try:
        p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
        rc, tail = p.returncode, (p.stdout + p.stderr)[-2500:]
    except subprocess.TimeoutExpired as e:
        rc, tail = "timeout", f"over {timeout} s: {((e.stdout or b'')[-1500:]).decode(errors='replace')}"
    return {"ok": rc == 0, "returncode": rc, "seconds": round(time.perf_counter() - t0, 1), "output_tail": tail}


def _read(name: str) -> dict:
    f = RESULTS / f"{name}.json"
    return json.loads(f.read_text()) if f.is_file() else {}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rehearse", action="store_true", help="run the steps on the CPU with tiny models; write nothing")
    ap.add_argument("--images", type=int, default=4, help="timed demo images per measurement (after one warm-up)")
    ap.add_argument("--skip", nargs="*", default=[], help="steps to skip: tests cams sam train segmenter pipeline")
    a = ap.parse_args()
    if not a.rehearse and not torch.cuda.is_available():
        sys.exit("gpu-check needs a CUDA device and torch sees none (nvidia-smi, CUDA_VISIBLE_DEVICES); "
                 "`--rehearse` runs the same steps on the CPU with tiny models")  # fmt: skip
    dev = torch.device("cpu" if a.rehearse else "cuda")
    py, env = sys.executable, {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
    load, steps, started = Load(), {}, time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="fma_wsss_gpu_check_"))

    def step(name: str, f):
        if name in a.skip:
            return
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        try:
            steps[name] = {"ok": True, **f()}
        except Exception as e:
            steps[name] = {
                "ok": False,
                "error": f"{type(e).__name__}: {e}",
                "traceback": traceback.format_exc()[-2500:],
            }
        steps[name].setdefault("seconds", round(time.perf_counter() - t0, 1))
        print(f"   {'ok' if steps[name]['ok'] else 'FAILED'} in {steps[name]['seconds']} s", flush=True)

    if a.rehearse:  # the same calls, small: checks this script, not the GPU
        step("tests", lambda: _command([py, "-m", "pytest", "-q", "-m", "gpu", "tests/test_speed.py"], 300, env))
        step("cams", lambda: {"result": cams_per_image(dev, "tiny", 1)})
        step("pipeline", lambda: _command([str(Path(py).parent / "fma-wsss"), "run", "smoke", "--no-progress", "--out",
                                          str(tmp / "smoke"), "-p", "run.until", "masks"], 600, env))  # fmt: skip
        print(
            json.dumps({k: {kk: v for kk, v in s.items() if kk != "output_tail"} for k, s in steps.items()}, indent=1)
        )
        sys.exit(0 if all(s["ok"] for s in steps.values()) else 1)

    gpu_nbs = sorted(nb.stem for nb in (ROOT / "nbs").glob("*.ipynb") if "#| gpu" in nb.read_text())  # 08_train
    select = " or ".join(["gpu", *(f"{n}.ipynb" for n in gpu_nbs)])  # the gpu tests and the notebooks' gpu cells
    step("tests", lambda: _command([py, "-m", "pytest", "-q", "-ra", "-k", select, "tests"], 420, env))
    step("cams", lambda: {"result": cams_per_image(dev, "ViT-B-16", a.images)})
    step("sam", lambda: {**_command([py, "benchmarks/bench_sam2.py", "--gpu", "--images", str(a.images + 1)], 420, env),
                         "result": _read("sam2_gpu").get("results") or _read("sam2_gpu")})  # fmt: skip
    step("train", lambda: {**_command([py, "benchmarks/bench_train.py", "--device", "cuda"], 300, env),
                           "result": _read("train_cuda").get("per_image_s")})  # fmt: skip
    step("segmenter", lambda: {**_command([py, "benchmarks/bench_segmenter.py", "--gpu", "--iters", "3"], 420, env),
                               "result": _read("segmenter_gpu").get("per_image_s")})  # fmt: skip
    step("pipeline", lambda: _command([str(Path(py).parent / "fma-wsss"), "run", "smoke", "--no-progress", "--out",
                                      str(tmp / "smoke"), "-p", "run.device", "cuda"], 300, env))  # fmt: skip

    per_image = {}
    if steps.get("cams", {}).get("ok"):
        per_image["cams"] = steps["cams"]["result"]["fp32"]["sec_per_image_median"]
        per_image["cams_bf16"] = steps["cams"]["result"]["bf16"]["sec_per_image_median"]
    sam = _read("sam2_gpu").get("per_image_s", {}) if steps.get("sam", {}).get("ok") else {}
    for k, v in sam.items():
        if "ViT-H" in k:
            per_image["masks_sam_vit_h"] = v
        elif "Hiera-L" in k:
            per_image["masks_sam2_hiera_l"] = v
    rec = {
        "benchmark": "gpu",
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "load_1min": load.end(),
        "per_image_s": per_image,
        "per_image_seconds": per_image,  # read by bench_distributed.py
        "ratio_to_previous": {},
        "seconds_total": round(time.perf_counter() - started, 1),
        "steps": steps,
    }
    _write(RESULTS / "gpu.json", json.dumps(rec, indent=1, default=str) + "\n")
    lines = [
        "# GPU check (`make gpu-check`)",
        "",
        f"Machine: {rec['machine'].get('gpu', '?')}, torch {rec['machine'].get('torch')}; {rec['date']}; "
        f"{rec['seconds_total']} s in all. Random weights: real architectures' times, meaningless outputs.",
        "",
        "| step | ok | seconds | result |",
        "|---|---|---|---|",
    ]
    for k, s in steps.items():
        res = s.get("error") or (s.get("output_tail", "").strip().splitlines() or [""])[-1][:160]
        lines.append(f"| {k} | {'yes' if s['ok'] else 'NO'} | {s['seconds']} | {res.replace('|', '/')} |")
    lines += ["", "| per-image stage | seconds per image |", "|---|---|"]
    lines += [f"| {k} | {v:.3f} |" for k, v in per_image.items()]
    lines += ["", "Details: gpu.json, sam2_gpu.md, train_cuda.md, segmenter_gpu.md."]
    _write(RESULTS / "gpu.md", "\n".join(lines) + "\n")
    print("\n".join(lines))
    sys.exit(0 if all(s["ok"] for s in steps.values()) else 1)


if __name__ == "__main__":
    main()

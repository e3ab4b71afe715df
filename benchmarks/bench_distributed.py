"""Benchmark: the pipeline's stages on 1 and on 2 processes (`fma-wsss run PROFILE --nproc N`, Gloo on
the CPU), and the wall time of VOC and COCO on 1, 8 and 16 GPUs estimated from per-image costs.

    .venv/bin/python benchmarks/bench_distributed.py [--profile smoke] [-p NAME VALUE ...]

Each run starts from an empty cache. Per stage: the seconds it took and, for per-image stages, the
images per second (`items_per_second` in metrics.json). On a 2-core machine two processes share the
same two cores: the ratio says what the sharding costs or saves there, not what GPUs would do.

The GPU estimates take the per-image seconds that `make gpu-check` measured on one GPU
(benchmarks/results/gpu.json, stages `masks_sam_vit_h`, `cams`) when that file exists, and otherwise
say that no GPU was measured. They assume per-image stages scale linearly with the GPUs (each GPU
takes every N-th image) and are labelled as estimates.
Results: benchmarks/results/distributed.json and distributed.md.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"
IMAGES = {"VOC train_aug": 10_582, "COCO train": 82_081}  # METHOD 0


def run(profile: str, params: list[tuple[str, str]], nproc: int, root: Path) -> dict:
    env = {**os.environ, "FMA_WSSS_CACHE": str(root / f"cache{nproc}"), "FMA_WSSS_REPORTS": str(root / "reports"),
           "HF_HUB_OFFLINE": "1"}  # fmt: skip
    out = root / f"run{nproc}"
    cmd = [str(Path(sys.executable).parent / "fma-wsss"), "run", profile, "--nproc", str(nproc), "--out", str(out),
           "--no-progress"] + [x for kv in params for x in ("-p", *kv)]  # fmt: skip
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, env=env, cwd=ROOT, capture_output=True)
    wall = time.perf_counter() - t0
    m = json.loads((out / "metrics.json").read_text())
    return {"wall_seconds": round(wall, 1), "stages": {k: {"seconds": round(v["seconds"], 2),
            "items_per_second": v.get("items_per_second")} for k, v in m["stages"].items()}}  # fmt: skip


def gpu_estimates() -> list[dict]:
    "Estimated hours for the per-image stages of VOC and COCO on 1, 8 and 16 GPUs, from gpu.json when measured."
    f = RESULTS / "gpu.json"
    if not f.is_file():
        return []
    per_image = json.loads(f.read_text()).get("per_image_seconds", {})
    rows = []
    for what, n in IMAGES.items():
        for gpus in (1, 8, 16):
            hours = {k: round(v * n / gpus / 3600, 2) for k, v in per_image.items()}
            rows.append({"split": what, "images": n, "gpus": gpus, "estimated_hours": hours})
    return rows


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="smoke")
    ap.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    a = ap.parse_args()
    load = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as d:
        res = {n: run(a.profile, a.param, n, Path(d)) for n in (1, 2)}
    out = {"profile": a.profile, "params": a.param, "load_average_1min_at_start": round(load, 2),
           "cpu_count": os.cpu_count(), "runs": res, "gpu_estimates": gpu_estimates()}  # fmt: skip
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "distributed.json").write_text(json.dumps(out, indent=2) + "\n")
    lines = [f"# Stages on 1 and 2 processes (`{a.profile}`, CPU, Gloo)", "",
             f"Measured on {os.cpu_count()} CPU cores, 1-minute load average {load:.2f} at the start; each run from "
             f"an empty cache.", "", "| stage | 1 process: s | 2 processes: s | images/s, 1 | images/s, 2 |",
             "|---|---|---|---|---|"]  # fmt: skip
    for k in res[1]["stages"]:
        s1, s2 = res[1]["stages"][k], res[2]["stages"].get(k, {})
        lines.append(f"| {k} | {s1['seconds']} | {s2.get('seconds', '')} | {s1['items_per_second'] or ''} | "
                     f"{s2.get('items_per_second') or ''} |")  # fmt: skip
    lines += ["", f"Whole command (papermill, report): {res[1]['wall_seconds']} s on 1 process, "
              f"{res[2]['wall_seconds']} s on 2.", ""]  # fmt: skip
    est = out["gpu_estimates"]
    lines += ["## Estimated wall time on GPUs (estimates, not measurements)", ""]
    if not est:
        lines.append("No GPU was measured (benchmarks/results/gpu.json is absent): `make gpu-check` on a GPU "
                     "machine measures the per-image costs these estimates need.")  # fmt: skip
    else:
        lines += ["| split | images | GPUs | estimated hours per stage |", "|---|---|---|---|"]
        lines += [f"| {r['split']} | {r['images']} | {r['gpus']} | {r['estimated_hours']} |" for r in est]
    (RESULTS / "distributed.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

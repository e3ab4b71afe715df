"""Benchmark: the whole pipeline (every stage, computed from an empty cache) on a profile, per stage and image.

    .venv/bin/python benchmarks/bench_pipeline.py [--profile demo] [-p NAME VALUE ...] [--cli]

Runs `fma_wsss.pipeline.Pipeline(load_config(profile)).run()` into a temporary cache (nothing reused),
then a second time on the same cache (everything reused: the cost of a cached re-run: hashing, model
building for the hashes); with --cli also `fma-wsss run PROFILE` (papermill, figures, HTML) from another
empty cache: what `make run` costs. Seconds per image = each stage's seconds / the images of the train
split (the training stages amortised over it). The demo profile must finish in under 15 minutes on the
2-core CPU dev machine. Without cached weights the demo uses the tiny untrained CLIP and superpixel
masks (its numbers are meaningless; only the time matters here).
Results: benchmarks/results/pipeline_<profile>[_<overrides>].{json,md}.
"""

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
from _record import Load, record  # noqa: E402

from fma_wsss.config import load_config  # noqa: E402
from fma_wsss.pipeline import Pipeline, dataset  # noqa: E402

TARGET_S = {"demo": 15 * 60, "smoke": 120}  # brief: demo < 15 min, smoke about a minute


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="demo")
    ap.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    ap.add_argument("--cli", action="store_true", help="also time `fma-wsss run PROFILE` from an empty cache")
    a = ap.parse_args()
    load = Load()
    cfg = load_config(a.profile, dict(a.param))
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        pipe = Pipeline(cfg, cache=cache)
        pipe.run()
        cold = time.perf_counter() - t0
        n_images = len(dataset(pipe, "train"))
        t0 = time.perf_counter()
        again = Pipeline(cfg, cache=cache)
        again.run()
        warm = time.perf_counter() - t0
        assert all(r.reused for r in again.results.values())
    cli = None
    if a.cli:
        with tempfile.TemporaryDirectory() as tmp:
            cmd = [
                str(Path(sys.executable).parent / "fma-wsss"),
                "run",
                a.profile,
                "--out",
                f"{tmp}/run",
                "--no-progress",
            ]
            cmd += [x for kv in a.param for x in ("-p", *kv)]
            t0 = time.perf_counter()
            env = {**os.environ, "FMA_WSSS_CACHE": f"{tmp}/cache"}
            subprocess.run(cmd, check=True, capture_output=True, env=env)
            cli = time.perf_counter() - t0
    m = pipe.metrics()
    stages = {k: v["seconds"] for k, v in m["stages"].items()}
    per_image = {f"stage {k}": v / n_images for k, v in stages.items()}
    per_image["whole pipeline, empty cache"] = cold / n_images
    per_image["whole pipeline, everything cached"] = warm / n_images
    if cli is not None:
        per_image["fma-wsss run (notebook, figures, HTML)"] = cli / n_images
    details = {
        "profile": a.profile,
        "overrides": dict(a.param),
        "n_train_images": n_images,
        "seconds_total_cold": round(cold, 1),
        "seconds_total_cached": round(warm, 1),
        "seconds_cli_run": None if cli is None else round(cli, 1),
        "target_seconds": TARGET_S.get(a.profile),
        "stages_seconds": stages,
        "resolved": m["resolved"],
        "seed_miou": {k: v for k, v in m.items() if k.endswith("miou")},
        "meaningless": m["meaningless"],
    }
    how = (
        f"`Pipeline(load_config({a.profile!r}, {dict(a.param)})).run()` from an empty cache, then again with every "
        f"stage cached; {n_images} train images (training stages amortised over them). Models used: {m['resolved']}"
        + (" (untrained: numbers meaningless)." if m["meaningless"] else ".")
    )
    body = (
        f"From an empty cache: **{cold / 60:.1f} min** (target {TARGET_S.get(a.profile, 0) / 60:.0f} min); again with "
        f"every stage cached: {warm:.1f} s"
        + (f"; `fma-wsss run {a.profile}` from an empty cache: {cli / 60:.1f} min." if cli is not None else ".")
    )
    suffix = "_".join(re.sub(r"[^A-Za-z0-9.-]+", "-", f"{k}-{v}") for k, v in a.param)
    name = f"pipeline_{a.profile}" + (f"_{suffix}" if suffix else "")
    record(name, f"Pipeline, profile `{a.profile}`", per_image, load, how, details=details, body=body)


if __name__ == "__main__":
    main()

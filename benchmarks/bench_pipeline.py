"""Benchmark: the whole pipeline (every stage, computed from an empty cache) on a profile, per stage.

    .venv/bin/python benchmarks/bench_pipeline.py [--profile demo] [-p NAME VALUE ...]

Runs `fma_wsss.pipeline.Pipeline(load_config(profile)).run()` into a temporary cache (nothing reused),
then a second time on the same cache (everything reused: the cost of a cached re-run: hashing, model
building for the hashes), then `fma-wsss run PROFILE` (papermill, figures, HTML) from another empty
cache: what `make run` costs. The demo profile must finish in under 15 minutes on the 2-core CPU dev
machine (the brief's target). Without cached weights the demo uses an untrained ViT-B/16 CLIP and
superpixel masks (its numbers are meaningless; only the time matters here).
Results: benchmarks/results/pipeline_<profile>.json and pipeline_<profile>.md.
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
from fma_wsss.config import load_config  # noqa: E402
from fma_wsss.pipeline import Pipeline  # noqa: E402

TARGET_S = {"demo": 15 * 60, "smoke": 120}  # brief: demo < 15 min, smoke about a minute


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--profile", default="demo")
    ap.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"))
    a = ap.parse_args()
    cfg = load_config(a.profile, dict(a.param))
    with tempfile.TemporaryDirectory() as cache:
        t0 = time.perf_counter()
        pipe = Pipeline(cfg, cache=cache)
        pipe.run()
        cold = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = Pipeline(cfg, cache=cache)
        again.run()
        warm = time.perf_counter() - t0
        assert all(r.reused for r in again.results.values())
    with tempfile.TemporaryDirectory() as tmp:
        cmd = [str(Path(sys.executable).parent / "fma-wsss"), "run", a.profile, "--out", f"{tmp}/run", "--no-progress"]
        cmd += [x for kv in a.param for x in ("-p", *kv)]
        t0 = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True, env={**os.environ, "FMA_WSSS_CACHE": f"{tmp}/cache"})
        cli = time.perf_counter() - t0
    m = pipe.metrics()
    res = {
        "profile": a.profile,
        "overrides": dict(a.param),
        "machine": "2-core CPU dev machine (shared)",
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "seconds_total_cold": round(cold, 1),
        "seconds_total_cached": round(warm, 1),
        "seconds_cli_run": round(cli, 1),
        "target_seconds": TARGET_S.get(a.profile),
        "stages": {k: v["seconds"] for k, v in m["stages"].items()},
        "resolved": m["resolved"],
        "seed_miou": m.get("seed_miou"),
        "final_miou": m.get("final_miou"),
        "meaningless": m["meaningless"],
    }
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"pipeline_{a.profile}.json").write_text(json.dumps(res, indent=2) + "\n")
    lines = [
        f"# Pipeline, profile `{a.profile}`",
        "",
        f"Machine: 2-core CPU dev machine (1-min load average {os.getloadavg()[0]:.1f} when done; {platform.platform()}).",
        "",
        f"- from an empty cache: **{cold / 60:.1f} min** (target {TARGET_S.get(a.profile, 0) / 60:.0f} min)",
        f"- again with every stage cached: {warm:.1f} s",
        f"- `fma-wsss run {a.profile}` (notebook, figures, HTML) from an empty cache: **{cli / 60:.1f} min**",
        f"- models used: {m['resolved']}" + (" (untrained: numbers meaningless)" if m["meaningless"] else ""),
        "",
        "| stage | seconds |",
        "|---|---|",
    ]
    lines += [f"| {k} | {v:.1f} |" for k, v in res["stages"].items()]
    (out / f"pipeline_{a.profile}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

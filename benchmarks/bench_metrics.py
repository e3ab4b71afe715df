"""Benchmark: score a VOC-val-sized split (1,464 label maps of 500x375) as `score_split` does.

    .venv/bin/python benchmarks/bench_metrics.py [--n 1464] [--repeats 3]

Writes ground truth (palette PNGs with 1-3 objects and a 255 boundary band, like VOC) and predictions
(the objects shifted and a spurious blob, so the confusion matrix is not diagonal) to a temporary
folder, then times `score_split` end to end: reading both PNGs per image, checking them, and
accumulating one 21x21 confusion matrix. Writing the files is not timed. Target: under 10 s on the
2-core CPU dev machine. Results: benchmarks/results/metrics.json and metrics.md (seconds per image).
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from _record import Load, record  # noqa: E402

from fma_wsss.data import VOC_VOCAB, SegDataset, write_label  # noqa: E402
from fma_wsss.metrics import confusion_matrix, score_split  # noqa: E402

H, W, TARGET_S = 375, 500, 10.0


def _label_pair(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    "(ground truth, prediction), each (H,W) uint8."
    gt, pred = np.zeros((H, W), np.uint8), np.zeros((H, W), np.uint8)
    yy, xx = np.mgrid[:H, :W]
    for c in rng.choice(np.arange(1, 21), rng.integers(1, 4), replace=False):
        cy, cx, ry, rx = (
            rng.integers(60, H - 60),
            rng.integers(60, W - 60),
            rng.integers(30, 120),
            rng.integers(30, 160),
        )
        m = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        band = (((yy - cy) / (ry + 3)) ** 2 + ((xx - cx) / (rx + 3)) ** 2 <= 1) & ~m
        gt[band] = 255
        gt[m] = c
        dy, dx = rng.integers(-15, 16, 2)
        pred[np.roll(m, (dy, dx), (0, 1))] = c
    pred[rng.integers(0, H - 40) :, :][:40, rng.integers(0, W - 40) :][:, :40] = rng.integers(1, 21)
    return gt, pred


def main(n: int = 1464, repeats: int = 3, seed: int = 0) -> dict:
    load = Load()
    rng = np.random.default_rng(seed)
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        ids = [f"img_{i:05d}" for i in range(n)]
        t0 = time.perf_counter()
        pairs = []
        for id in ids:
            gt, pred = _label_pair(rng)
            write_label(d / "gt" / f"{id}.png", gt)
            write_label(d / "pred" / f"{id}.png", pred)
            if len(pairs) < 50:
                pairs.append((gt, pred))
        write_s = time.perf_counter() - t0
        ds = SegDataset("bench", "val", VOC_VOCAB, ids, d / "gt", [d / "gt"], image_ext=".png")
        runs = {}
        for workers in (1, None):
            times = []
            for _ in range(repeats):
                t0 = time.perf_counter()
                res = score_split(d / "pred", ds, workers=workers, progress=False)
                times.append(time.perf_counter() - t0)
            runs["1 thread" if workers == 1 else f"default ({min(4, os.cpu_count() or 1)} threads)"] = times
        t0 = time.perf_counter()
        for _ in range(n // len(pairs)):
            for gt, pred in pairs:
                confusion_matrix(pred, gt, 21)
        cm_only = (time.perf_counter() - t0) / (n // len(pairs) * len(pairs)) * n
    best = min(min(t) for t in runs.values())
    out = {
        "what": f"score_split over {n} label maps of {W}x{H} (read GT + prediction PNGs, check, accumulate 21x21 cm)",
        "n_images": n,
        "repeats": repeats,
        "seconds": runs,
        "best_seconds": best,
        "confusion_matrix_only_seconds": cm_only,
        "write_files_seconds": write_s,
        "target_seconds": TARGET_S,
        "meets_target": best < TARGET_S,
        "miou_of_synthetic_predictions": res["miou"],
    }
    per_image = {"score_split (read 2 PNGs + confusion matrix)": best / n}
    per_image.update({f"score_split, {k}": min(v) / n for k, v in runs.items()})
    per_image["confusion matrix alone (arrays in memory)"] = cm_only / n
    how = (
        f"Measured: {out['what']}; files written beforehand (not timed, {write_s:.1f} s); best of {repeats} repeats "
        f"per setting (the first row: the best setting)."
    )
    lines = ["| setting | seconds (each repeat) | best |", "|---|---|---|"]
    lines += [f"| {k} | {', '.join(f'{t:.2f}' for t in v)} | {min(v):.2f} |" for k, v in runs.items()]
    lines += [
        "",
        f"Target < {TARGET_S:.0f} s for the split: {'met' if best < TARGET_S else 'MISSED'} (best {best:.2f} s).",
    ]
    record("metrics", "Scoring: score_split over a VOC-val-sized split", per_image, load, how, details=out,
           body="\n".join(lines))  # fmt: skip
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1464)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    main(a.n, a.repeats)

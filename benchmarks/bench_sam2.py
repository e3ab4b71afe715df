"""Benchmark: SAM against SAM 2 (beyond the release) as the SAMS mask source, seconds per image on the same images.

    .venv/bin/python benchmarks/bench_sam2.py            # CPU: the tiny random SAM against the toy random SAM 2
    .venv/bin/python benchmarks/bench_sam2.py --gpu      # CUDA: SAM ViT-H against SAM 2.1 Hiera-L, random weights

Both generators run through fma_wsss (`SamMaskGenerator`, `Sam2MaskGenerator`) with the same `MaskSettings`,
in fp32, on the demo photographs (data/demo): on the GPU METHOD 8's paper settings (32 points per side,
batches of 256, one crop layer, IoU 0.86, stability 0.92, minimum region 100, the FMA changes); on the CPU
the demo profile's lighter grid (16 points per side, batches of 64, no crop layer). Random weights pass few
masks through METHOD 8's thresholds, where trained ones keep about a hundred per image, so a second row
turns both thresholds off (every candidate mask is post-processed): a trained model's time lies between the
two. Per-image time = median over the images after one untimed warm-up image. `--gpu` refuses without CUDA.
Results: benchmarks/results/sam2{,_gpu}.{json,md}.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
from fma_wsss.data import demo_dataset  # noqa: E402
from fma_wsss.masks import MaskSettings  # noqa: E402
from fma_wsss.sam import SAM_ARCHS, SamMaskGenerator, build_sam  # noqa: E402
from fma_wsss.sam2_masks import Sam2MaskGenerator, build_sam2  # noqa: E402

OUT = ROOT / "benchmarks" / "results"
ROWS = {"METHOD 8's": {}, "off": {"pred_iou_thresh": 0.0, "stability_score_thresh": 0.0}}  # the thresholds
GRID = {
    "cpu": {"points_per_side": 16, "points_per_batch": 64, "crop_n_layers": 0},
    "cuda": {},
}  # the demo profile's / METHOD 8's


def _sync(dev: torch.device):
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)


def models(gpu: bool, dev: torch.device) -> dict:
    "{name: (model, generator class)}: the two sizes compared."
    if not gpu:
        return {"SAM tiny (random)": (build_sam("tiny", device=dev), SamMaskGenerator),
                "SAM 2 toy (random)": (build_sam2("toy", device=dev), Sam2MaskGenerator)}  # fmt: skip
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        vit_h = SAM_ARCHS["vit_h"](checkpoint=None).requires_grad_(False).eval().to(dev)
    vit_h.fma_wsss_id = "vit_h-random-seed0"
    hiera_l = build_sam2("large", weights="random", device=dev)
    return {"SAM ViT-H (random)": (vit_h, SamMaskGenerator), "SAM 2.1 Hiera-L (random)": (hiera_l, Sam2MaskGenerator)}


def bench(model, generator, settings: MaskSettings, images: list, dev: torch.device) -> dict:
    gen = generator(model, settings)
    gen(images[0])  # warm-up: lazy initialisation, kernel selection
    secs, n = [], []
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    for im in images[1:]:
        _sync(dev)
        t0 = time.perf_counter()
        ms = gen(im)
        _sync(dev)
        secs.append(time.perf_counter() - t0)
        n.append(len(ms))
    out = {"sec_per_image_median": statistics.median(secs), "sec_per_image": secs, "masks_per_image": n}
    if dev.type == "cuda":
        out["peak_memory_bytes"] = torch.cuda.max_memory_allocated(dev)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gpu", action="store_true", help="SAM ViT-H against SAM 2.1 Hiera-L on CUDA (random weights)")
    ap.add_argument("--images", type=int, default=4, help="demo images used (the first is the warm-up)")
    a = ap.parse_args()
    if a.gpu and not torch.cuda.is_available():
        raise SystemExit("bench_sam2.py --gpu needs a CUDA device and none is visible: nothing was run. "
                         "Run it where CUDA is available, or without --gpu for the CPU comparison.")  # fmt: skip
    dev = torch.device("cuda" if a.gpu else "cpu")
    ds = demo_dataset()
    images = [ds[i].image for i in range(min(a.images, len(ds)))]
    if len(images) < 2:
        raise SystemExit("need at least 2 images (one warm-up, one timed)")
    machine = (torch.cuda.get_device_name(dev) if a.gpu
               else f"{os.cpu_count()}-CPU dev machine ({platform.processor() or platform.machine()})")  # fmt: skip
    load0 = os.getloadavg()[0]
    results = []
    for name, (model, generator) in models(a.gpu, dev).items():
        for row, loose in ROWS.items():
            r = bench(model, generator, MaskSettings(**GRID[dev.type], **loose), images, dev)
            results.append({"model": name, "thresholds": row, **r})
            print(name, row, f"{r['sec_per_image_median']:.2f} s/image", r["masks_per_image"], flush=True)
    load = f"1-min load average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end ({os.cpu_count()} CPUs)"
    sizes = sorted({tuple(im.shape[:2]) for im in images[1:]})
    name = "sam2_gpu" if a.gpu else "sam2"
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(json.dumps(
        {"machine": machine, "torch": torch.__version__, "load": load, "image_sizes": sizes, "results": results},
        indent=1))  # fmt: skip
    lines = [
        f"# SAM against SAM 2 as the mask source ({'GPU' if a.gpu else 'CPU'})",
        "",
        f"Machine: {machine}; torch {torch.__version__}; {load}.",
        (
            "METHOD 8's generator settings (32x32 points, batch 256, one crop layer"
            if a.gpu
            else "The demo profile's generator settings (16x16 points, batch 64, no crop layer"
        )
        + f"; FMA changes), fp32, random weights; {len(images) - 1} timed demo images of (H, W) {sizes} after one "
        "warm-up image.",
        "",
        "| model | thresholds | s/image (median) | masks/image |" + (" peak GPU memory (GiB) |" if a.gpu else ""),
        "|---|---|---|---|" + ("---|" if a.gpu else ""),
    ]
    for r in results:
        mem = f" {r['peak_memory_bytes'] / 2**30:.2f} |" if a.gpu else ""
        lines.append(f"| {r['model']} | {r['thresholds']} | {r['sec_per_image_median']:.2f} | "
                     f"{', '.join(map(str, r['masks_per_image']))} |{mem}")  # fmt: skip
    (OUT / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

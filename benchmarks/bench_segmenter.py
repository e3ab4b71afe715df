"""Stage-2 training speed: seconds per iteration (median) and peak memory of mmseg networks.

    python benchmarks/bench_segmenter.py            # CPU: SegFormer-B0, 512x512 crops, batch 2, random init
    python benchmarks/bench_segmenter.py --gpu      # CUDA: DeepLabV3+ R101 and Mask2Former Swin-L, paper batch 4

One iteration = mmseg's `train_step` (data preprocessor, forward, loss, backward, optimiser step) on a
synthetic batch of random images and label maps of the crop size, so data loading is not timed.
Peak memory: CPU = the process's peak resident set (ru_maxrss, includes Python and libraries);
GPU = torch.cuda.max_memory_allocated. Seconds per image = iteration / batch.
Writes benchmarks/results/segmenter{,_gpu}.{json,md}.
"""

import argparse
import resource
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # this checkout's fma_wsss
sys.path.insert(0, str(Path(__file__).resolve().parent))
from _record import Load, record  # noqa: E402

from fma_wsss.segmenter import SegmenterSettings, model_sections, require_modules  # noqa: E402

PAPER_BATCH = SegmenterSettings().batch_size  # METHOD 9
NUM_CLASSES = 21  # VOC: 20 classes + background


def _batch(n: int, crop: tuple[int, int], num_classes: int, device: torch.device, gen: torch.Generator):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    h, w = crop
    inputs, samples = [], []
    for _ in range(n):
        inputs.append(torch.randint(0, 256, (3, h, w), dtype=torch.uint8, generator=gen))
        lab = torch.randint(0, num_classes, (1, h, w), generator=gen)
        s = SegDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w)))
        s.gt_sem_seg = PixelData(data=lab)
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


def bench(model: str, batch: int, crop: int, iters: int, warmup: int, device: torch.device) -> dict:
    from mmengine.optim import build_optim_wrapper
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    require_modules(model)
    init_default_scope("mmseg")
    cfg = SegmenterSettings(
        model=model,
        crop_size=crop,
        batch_size=batch,
        iterations=1000,
        backbone_weights="random",
        amp=device.type == "cuda",
    )
    sec = model_sections(cfg, NUM_CLASSES)
    net = MODELS.build(sec["model"]).to(device).train()
    net.init_weights()
    optim = build_optim_wrapper(net, sec["optim_wrapper"])
    gen = torch.Generator().manual_seed(0)
    times = []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for i in range(warmup + iters):
        data = _batch(batch, cfg.crop, NUM_CLASSES, device, gen)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        t0 = time.perf_counter()
        net.train_step(data, optim)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    peak = (
        torch.cuda.max_memory_allocated(device)
        if device.type == "cuda"
        else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    )
    return dict(
        model=model,
        batch=batch,
        crop=[crop, crop],
        iters_timed=iters,
        warmup=warmup,
        sec_per_iter_median=statistics.median(times),
        sec_per_iter_all=times,
        peak_memory_bytes=int(peak),
        peak_memory_kind="cuda max_memory_allocated" if device.type == "cuda" else "process peak RSS (ru_maxrss)",
        params=sum(p.numel() for p in net.parameters()),
        amp=cfg.amp,
    )


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--gpu", action="store_true", help="DeepLabV3+ R101 and Mask2Former Swin-L on CUDA, paper batch")
    ap.add_argument("--iters", type=int, default=5, help="timed iterations")
    ap.add_argument("--warmup", type=int, default=1, help="untimed iterations first")
    a = ap.parse_args()
    load = Load()
    if a.gpu:
        if not torch.cuda.is_available():
            raise SystemExit("--gpu needs a CUDA device; none is visible")
        dev, name = torch.device("cuda"), "segmenter_gpu"
        runs = [("deeplabv3plus_r101", PAPER_BATCH), ("mask2former_swin-l", PAPER_BATCH)]
    else:
        dev, runs, name = torch.device("cpu"), [("segformer_mit-b0", 2)], "segmenter"
    results = [bench(m, b, 512, a.iters, a.warmup, dev) for m, b in runs]
    per_image = {f"{r['model']} train_step": r["sec_per_iter_median"] / r["batch"] for r in results}
    how = (
        f"One iteration = mmseg train_step on a synthetic batch (no data loading), random init, 512x512 crops; "
        f"median of {a.iters} timed iterations after {a.warmup} warm-up; per image = iteration / batch."
    )
    lines = ["| model | batch | s/iter (median) | peak memory (GiB) | params (M) |", "|---|---|---|---|---|"]
    for r in results:
        lines.append(
            f"| {r['model']} | {r['batch']} | {r['sec_per_iter_median']:.2f} | {r['peak_memory_bytes'] / 2**30:.2f} "
            f"| {r['params'] / 1e6:.1f} |"
        )
    lines += ["", f"Peak memory is the {results[0]['peak_memory_kind']}."]
    if not a.gpu:
        lines += ["GPU figures (DeepLabV3+ R101, Mask2Former Swin-L at batch 4): `--gpu`."]
    record(name, f"Stage-2 training speed ({'GPU' if a.gpu else 'CPU'})", per_image, load, how,
           details={"results": results}, body="\n".join(lines))  # fmt: skip


if __name__ == "__main__":
    main()

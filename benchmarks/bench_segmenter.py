"""Stage-2 training speed: seconds per iteration (median) and peak memory of mmseg networks.

    python benchmarks/bench_segmenter.py            # CPU: SegFormer-B0, 512x512 crops, batch 2, random init
    python benchmarks/bench_segmenter.py --gpu      # CUDA: DeepLabV3+ R101 and Mask2Former Swin-L, paper batch 4

One iteration = mmseg's `train_step` (data preprocessor, forward, loss, backward, optimiser step) on a
synthetic batch of random images and label maps of the crop size, so data loading is not timed.
Peak memory: CPU = the process's peak resident set (ru_maxrss, includes Python and libraries);
GPU = torch.cuda.max_memory_allocated. Writes benchmarks/results/segmenter{,_gpu}.{json,md}.
"""

import argparse
import json
import os
import platform
import resource
import statistics
import time
from pathlib import Path

import torch

from fma_wsss.segmenter import PAPER_BATCH, SegmenterConfig, model_sections, require_modules

OUT = Path(__file__).resolve().parent / "results"


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
    cfg = SegmenterConfig(
        model=model,
        crop_size=crop,
        batch_size=batch,
        iterations=1000,
        backbone_weights="random",
        amp=device.type == "cuda",
    )
    sec = model_sections(cfg)
    net = MODELS.build(sec["model"]).to(device).train()
    net.init_weights()
    optim = build_optim_wrapper(net, sec["optim_wrapper"])
    gen = torch.Generator().manual_seed(0)
    times = []
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    for i in range(warmup + iters):
        data = _batch(batch, cfg.crop, cfg.num_classes, device, gen)
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
    if a.gpu:
        if not torch.cuda.is_available():
            raise SystemExit("--gpu needs a CUDA device; none is visible")
        dev, runs, name = (
            torch.device("cuda"),
            [("deeplabv3plus_r101", PAPER_BATCH), ("mask2former_swin-l", PAPER_BATCH)],
            "segmenter_gpu",
        )
        machine = torch.cuda.get_device_name(dev)
    else:
        dev, runs, name = torch.device("cpu"), [("segformer_mit-b0", 2)], "segmenter"
        machine = f"2-core CPU dev machine ({platform.processor() or platform.machine()}, torch {torch.get_num_threads()} threads)"
    load0 = os.getloadavg()[0]
    results = [bench(m, b, 512, a.iters, a.warmup, dev) for m, b in runs]
    load = f"1-min load average {load0:.1f} at the start, {os.getloadavg()[0]:.1f} at the end ({os.cpu_count()} CPUs)"
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"{name}.json").write_text(
        json.dumps(dict(machine=machine, torch=torch.__version__, load=load, results=results), indent=1)
    )
    lines = [
        f"# Stage-2 training speed ({'GPU' if a.gpu else 'CPU'})",
        "",
        f"Machine: {machine}; torch {torch.__version__}.",
        "One iteration = mmseg train_step on a synthetic batch (no data loading), random init, 512x512 crops.",
        "",
        "| model | batch | s/iter (median) | peak memory (GiB) | params (M) |",
        "|---|---|---|---|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['model']} | {r['batch']} | {r['sec_per_iter_median']:.2f} | {r['peak_memory_bytes'] / 2**30:.2f} "
            f"| {r['params'] / 1e6:.1f} |"
        )
    lines += [
        "",
        f"Peak memory is the {results[0]['peak_memory_kind']}; {a.iters} timed iterations after {a.warmup} warm-up; "
        f"{load} (other work shares the machine: the CPU figure is an upper bound).",
    ]
    if not a.gpu:
        lines += [
            "",
            "GPU figures (DeepLabV3+ R101, Mask2Former Swin-L at batch 4): `--gpu`, not run (no GPU in this session).",
        ]
    (OUT / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

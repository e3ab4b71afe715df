"""One prompt-training iteration: time and peak memory, ViT-B/16 shapes with random weights.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_train.py [--device cpu|cuda] [--iters 2] [--batch 16]

Each task ("cls": contrastive loss; "seg": CAM activation loss through the second-order Grad-CAM)
runs in its own subprocess so that peak memory is its own. Time: wall seconds of each full
iteration (forward, loss, backward, SGD step; batch 16 of 224x224 crops, VOC vocabulary: 20 classes,
25 background prompts). Memory on the CPU: the increase of the process's peak resident set size
(`resource.getrusage(RUSAGE_SELF).ru_maxrss`) from just before the first iteration to the end: what
training adds on top of the loaded model (no tracemalloc, which does not see torch's allocator).
On CUDA: `torch.cuda.max_memory_allocated`. Writes benchmarks/results/train.{json,md}.
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def run_task(task: str, device: str, iters: int, batch: int, threads: int) -> dict:
    import torch

    from fma_wsss.clip import FrozenClip
    from fma_wsss.data import VOC_VOCAB
    from fma_wsss.prompts import classification_prompts, segmentation_prompts
    from fma_wsss.train import PromptTrainConfig, prompt_loss

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dev = torch.device(device)
    clip = FrozenClip.build("ViT-B-16", weights="random", device=dev)
    learner = (classification_prompts if task == "cls" else segmentation_prompts)(clip, VOC_VOCAB).to(dev)
    cfg = PromptTrainConfig(task=task, batch_size=batch)
    params = [p for p in learner.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=1e-3, momentum=0.9, weight_decay=5e-4)
    g = torch.Generator().manual_seed(0)
    C = VOC_VOCAB.num_classes - 1
    labels = torch.zeros(batch, C, dtype=torch.bool)
    seed = torch.zeros(batch, 224, 224, dtype=torch.long)
    for b in range(batch):  # 1-3 classes per crop, each a rectangle in the seed
        cls = torch.randperm(C, generator=g)[: 1 + b % 3]
        labels[b, cls] = True
        for i, c in enumerate(cls.tolist()):
            seed[b, 20 + 60 * i : 80 + 60 * i, 30:200] = c + 1
    batch_d = dict(image=torch.randn(batch, 3, 224, 224, generator=g), seed=seed, labels=labels)
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    times = []
    for _ in range(iters):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss, parts = prompt_loss(cfg, clip, {task: learner}, batch_d, dev)
        loss.backward()
        opt.step()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        times.append(time.perf_counter() - t0)
    out = dict(
        task=task,
        device=device,
        batch=batch,
        crop=224,
        iterations=iters,
        seconds=times,
        loss_terms=parts,
        threads=threads,
    )
    if dev.type == "cuda":
        out["peak_mem_mib"] = torch.cuda.max_memory_allocated(dev) / 2**20
        out["memory_method"] = "torch.cuda.max_memory_allocated"
        out["gpu"] = torch.cuda.get_device_name(dev)
    else:
        out["peak_mem_mib"] = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024  # Linux: KiB
        out["memory_method"] = "increase of ru_maxrss over the iterations"
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--iters", type=int, default=2)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--task", default=None, help="internal: run one task and print JSON")
    ap.add_argument("--machine", default="2-core CPU dev machine")
    a = ap.parse_args()
    if a.task:
        print(json.dumps(run_task(a.task, a.device, a.iters, a.batch, a.threads)))
        return
    res = []
    for task in ("cls", "seg"):
        p = subprocess.run(
            [
                sys.executable,
                __file__,
                "--task",
                task,
                "--device",
                a.device,
                "--iters",
                str(a.iters),
                "--batch",
                str(a.batch),
                "--threads",
                str(a.threads),
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
        )
        if p.returncode:
            sys.exit(f"{task} failed:\n{p.stderr[-3000:]}")
        res.append(json.loads(p.stdout.strip().splitlines()[-1]))
    info = dict(machine=a.machine, python=platform.python_version(), platform=platform.platform(), results=res)
    import torch

    info["torch"] = torch.__version__
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = "train" if a.device == "cpu" else f"train_{a.device.split(':')[0]}"
    (RESULTS / f"{stem}.json").write_text(json.dumps(info, indent=1))
    lines = [
        f"# Prompt-training iteration ({a.machine})",
        "",
        f"ViT-B/16 shapes, random weights, batch {a.batch} of 224x224 crops, VOC vocabulary (20 classes, 25 background "
        f"prompts), device {a.device}, torch {torch.__version__}, {a.threads} threads. One iteration = forward, loss, "
        "backward, SGD step. First iteration includes warm-up.",
        "",
        "| task | loss | seconds per iteration | peak memory added (MiB) |",
        "|---|---|---|---|",
    ]
    for r in res:
        loss = "contrastive" if r["task"] == "cls" else "CAM activation (2nd-order Grad-CAM)"
        lines.append(
            f"| {r['task']} | {loss} | {', '.join(f'{s:.2f}' for s in r['seconds'])} | {r['peak_mem_mib']:.0f} |"
        )
    lines += [
        "",
        f"Memory: {res[0]['memory_method']}.",
        f"1-min load average {os.getloadavg()[0]:.1f} when done (2 CPU cores); expect tens of percent of variation between runs.",
    ]
    (RESULTS / f"{stem}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()

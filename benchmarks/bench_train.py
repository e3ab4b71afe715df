"""One prompt-training iteration: time and peak memory, ViT-B/16 shapes with random weights.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_train.py [--device cpu|cuda] [--iters 3] [--batch 16]

Each task ("cls": contrastive loss; "seg": CAM activation loss through the second-order Grad-CAM)
runs in its own subprocess so that peak memory is its own. Time: wall seconds of each full
iteration (forward, loss, backward, SGD step; batch 16 of 224x224 crops, VOC vocabulary: 20 classes,
25 background prompts). Memory on the CPU: the increase of the process's peak resident set size
(`resource.getrusage(RUSAGE_SELF).ru_maxrss`) from just before the first iteration to the end: what
training adds on top of the loaded model (no tracemalloc, which does not see torch's allocator).
On CUDA: `torch.cuda.max_memory_allocated`. Seconds per image = the median iteration after the first
(warm-up) over the batch size. Writes benchmarks/results/train.{json,md}.
"""

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from _record import Load, record  # noqa: E402


def run_task(task: str, device: str, iters: int, batch: int, threads: int) -> dict:
    import torch

    from fma_wsss.clip import FrozenClip
    from fma_wsss.data import VOC_VOCAB
    from fma_wsss.prompts import PromptSettings, prompts_from_settings
    from fma_wsss.train import TrainSettings, prompt_loss

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    dev = torch.device(device)
    clip = FrozenClip.build("ViT-B-16", weights="random", device=dev)
    shape = (
        PromptSettings() if task == "cls" else PromptSettings(shared_ctx=False, name_position="before", learned_bg=True)
    )
    learner = prompts_from_settings(clip, VOC_VOCAB, shape, random_seed=0).to(dev)  # METHOD 2: VOC cls / seg prompts
    cfg = TrainSettings(loss="contrastive" if task == "cls" else "cam_activation", batch_size=batch)
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
    ap.add_argument("--iters", type=int, default=3)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--task", default=None, help="internal: run one task and print JSON")
    a = ap.parse_args()
    load = Load()
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
    per_image = {}
    for r in res:
        t = r["seconds"][1:] or r["seconds"]
        per_image[f"prompt training, {r['task']}"] = statistics.median(t) / r["batch"]
    how = (
        f"ViT-B/16 shapes, random weights, batch {a.batch} of 224x224 crops, VOC vocabulary (20 classes; cls: 25 "
        f"background words, seg: 25 learned background prompts), device {a.device}, {a.threads} threads. One iteration "
        f"= forward, loss, backward, SGD step; per image = median iteration after the first / batch."
    )
    lines = ["| task | loss | seconds per iteration | peak memory added (MiB) |", "|---|---|---|---|"]
    for r in res:
        loss = "contrastive" if r["task"] == "cls" else "CAM activation (2nd-order Grad-CAM)"
        lines.append(
            f"| {r['task']} | {loss} | {', '.join(f'{s:.2f}' for s in r['seconds'])} | {r['peak_mem_mib']:.0f} |"
        )
    lines += ["", f"Memory: {res[0]['memory_method']}."]
    stem = "train" if a.device == "cpu" else f"train_{a.device.split(':')[0]}"
    record(stem, "Prompt training: one iteration", per_image, load, how, details={"results": res},
           body="\n".join(lines))  # fmt: skip


if __name__ == "__main__":
    main()

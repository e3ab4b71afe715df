"""Per-image Grad-CAM time on the CPU: all present classes in one batched backward vs one backward per class.

ViT-B/16 shapes with random weights (no pretrained weights are needed for timing), one 512x384 input
(a 500x375 image rounded up to /16, METHOD 1) with 3 present classes, VOC classification prompts
(20 foreground + 25 background). Each repeat times the whole per-image CAM (image forward with the
attention maps + Grad-CAM) and, separately, the backward part alone; runs alternate between the two
methods so that load from other processes hits both alike. Writes benchmarks/results/cam.{json,md}.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_cam.py [--repeats 3]
"""
import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch

from fma_wsss.cam import grad_cam, grad_cam_loop
from fma_wsss.clip import FrozenClip
from fma_wsss.core import atomic_write_bytes, project_root
from fma_wsss.data import VOC_VOCAB
from fma_wsss.prompts import classification_prompts


def one_image(clip, x, text, classes, fn):
    "Seconds for the whole per-image CAM and for its Grad-CAM part alone."
    t0 = time.perf_counter()
    with torch.enable_grad():
        feats = clip.encode_image(x, with_attn=True)
        t1 = time.perf_counter()
        cam = fn(clip, feats, text, 20, classes)
    t2 = time.perf_counter()
    return t2 - t0, t2 - t1, cam


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    torch.manual_seed(0)
    clip = FrozenClip.build("ViT-B-16", "random")
    with torch.no_grad(): text = classification_prompts(clip, VOC_VOCAB, seed=0)()
    image = np.random.default_rng(0).integers(0, 256, (375, 500, 3), dtype=np.uint8)
    x = clip.preprocess(image)
    classes = torch.tensor([4, 11, 14])  # bottle, dog, person (0-based)
    one_image(clip, x, text, classes, grad_cam)  # warm-up
    times = {"batched": [], "loop": []}
    for _ in range(args.repeats):
        for name, fn in (("batched", grad_cam), ("loop", grad_cam_loop)):
            total, back, cam = one_image(clip, x, text, classes, fn)
            times[name].append((total, back))
    b_tot = statistics.median(t for t, _ in times["batched"]); l_tot = statistics.median(t for t, _ in times["loop"])
    b_bwd = statistics.median(b for _, b in times["batched"]); l_bwd = statistics.median(b for _, b in times["loop"])
    with torch.enable_grad():
        f = clip.encode_image(x, with_attn=True)
        ref = grad_cam_loop(clip, f, text, 20, classes)  # retains the graph; grad_cam then frees it
        diff = (grad_cam(clip, f, text, 20, classes) - ref).abs().max().item()
    res = dict(machine="2-core CPU dev machine (shared with other jobs)", cpu=platform.processor() or platform.machine(),
               torch=torch.__version__, threads=torch.get_num_threads(), model="ViT-B-16 random weights, fp32",
               input=list(x.shape), n_classes=len(classes), n_prompts=int(text.shape[0]), repeats=args.repeats,
               per_image_s=dict(batched=b_tot, loop=l_tot), gradcam_part_s=dict(batched=b_bwd, loop=l_bwd),
               speedup_per_image=l_tot / b_tot, speedup_gradcam_part=l_bwd / b_bwd,
               max_abs_diff_batched_vs_loop=diff, raw=times)
    out = project_root() / "benchmarks/results"
    atomic_write_bytes(out / "cam.json", json.dumps(res, indent=2).encode())
    md = (f"# Grad-CAM: batched vs one class at a time\n\n"
          f"Machine: {res['machine']}, torch {res['torch']}, {res['threads']} threads. {res['model']}, "
          f"input {tuple(res['input'])}, {res['n_classes']} present classes, {res['n_prompts']} prompts; "
          f"median of {args.repeats} alternating repeats.\n\n"
          f"| | batched | loop | loop / batched |\n|---|---|---|---|\n"
          f"| per-image CAM (forward with attention + Grad-CAM) | {b_tot:.2f} s | {l_tot:.2f} s | {l_tot / b_tot:.2f}x |\n"
          f"| Grad-CAM part (scores + backward + maps) | {b_bwd:.2f} s | {l_bwd:.2f} s | {l_bwd / b_bwd:.2f}x |\n\n"
          f"Max |batched - loop| = {diff:.2e}. Both share the image forward (12 blocks, 768 patches); only the "
          f"last block is back-propagated, so batching shortens the Grad-CAM part only, and the per-image ratio "
          f"also carries the noise of the forward on a shared machine (raw times in cam.json).\n")
    atomic_write_bytes(out / "cam.md", md.encode())
    print(md)


if __name__ == "__main__":
    main()

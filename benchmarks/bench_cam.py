"""The CAM stage per image on the CPU: text features once per split vs per image, Grad-CAM's backward, bf16.

    HF_HUB_OFFLINE=1 .venv/bin/python benchmarks/bench_cam.py [--repeats 3]

ViT-B/16 shapes with random weights (no pretrained weights are needed for timing) and VOC classification
prompts (20 foreground + 25 background words = 45 prompts, `prompts_from_settings`):

1. The CAM stage on the demo set (4 images, 300x451 to 512x512, 1-4 classes): `compute_cams` per image
   (forward with attention, Grad-CAM, CAA, resize) with the prompts' text features encoded for every
   image (what the stage did before) and once per split (what it does now: `infer.write_cams`);
   the text encoder alone is timed too. The drop per image should be at least the encoder's time.
2. Grad-CAM on one 500x375 image with 3 classes: forward with attention + Grad-CAM with the batched
   backward (`CamSettings.backward="batched"`), one backward per class ("loop"), and the released
   code's way (one backward per class through the whole network).
3. The whole `compute_cams` with CLIP in bf16 (`run.inference_dtype: bf16`) against fp32. bf16 is fast
   on CPUs with AMX or AVX512-BF16 (and GPUs); elsewhere PyTorch emulates it and it is slower.

Runs alternate between the variants so that load from other processes hits all alike; medians.
Writes benchmarks/results/cam.{json,md}.
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

from fma_wsss.cam import CamSettings, compute_cams, grad_cam, masked_scores  # noqa: E402
from fma_wsss.clip import INFERENCE_DTYPES, FrozenClip, cpu_has_fast_bf16  # noqa: E402
from fma_wsss.data import VOC_VOCAB, demo_dataset  # noqa: E402
from fma_wsss.prompts import PromptSettings, prompts_from_settings  # noqa: E402


def _timed(f):
    t0 = time.perf_counter()
    out = f()
    return time.perf_counter() - t0, out


def demo_split(clip, learner, samples, repeats: int) -> dict:
    "Seconds per image of the CAM stage on the demo set, text per image vs once per split; the text encoder alone."
    settings = CamSettings()

    def per_image():
        for s in samples:
            with torch.no_grad():
                text = learner()
            compute_cams(clip, text, learner.n_fg, s.image, s.labels, settings)

    def once():
        with torch.no_grad():
            text = learner()
        for s in samples:
            compute_cams(clip, text, learner.n_fg, s.image, s.labels, settings)

    def text_only():
        with torch.no_grad():
            learner()

    runs = {"text per image": per_image, "text once per split": once, "text encoder": text_only}
    once()  # warm-up
    times = {k: [] for k in runs}
    for _ in range(repeats):
        for k, f in runs.items():
            times[k].append(_timed(f)[0])
    med = {k: statistics.median(v) for k, v in times.items()}
    n = len(samples)
    return {
        "per_image_s": {
            "text per image": med["text per image"] / n,
            "text once per split": med["text once per split"] / n,
        },
        "text_encoder_s": med["text encoder"],
        "n_images": n,
        "raw_s": times,
    }


def grad_cam_full_backward(clip, text, present, x):
    """The released code's way (CLIP-ES): one backward per class through the WHOLE network (its hooks
    sit on a model whose weights require grad, so autograd walks all 12 blocks down to the input)."""
    x = x.clone().requires_grad_(True)
    feats = clip.encode_image(x, with_attn=True)
    scores = masked_scores(clip.logits(feats.image_emb, text), present)[0]
    classes = torch.nonzero(present[0]).flatten().tolist()
    grads = [torch.autograd.grad(scores[c], [feats.act, x], retain_graph=True)[0][0] for c in classes]
    w = torch.stack(grads).mean(1)
    return (w @ feats.act[0].detach().T).reshape(-1, *feats.grid)


def backward_variants(clip, text, repeats: int) -> dict:
    "Seconds per image of forward with attention + Grad-CAM, three ways, on one 500x375 image with 3 classes."
    image = np.random.default_rng(0).integers(0, 256, (375, 500, 3), dtype=np.uint8)
    x = clip.preprocess(image)
    present = torch.zeros(1, 20, dtype=torch.bool)
    present[0, [4, 11, 14]] = True  # bottle, dog, person

    def ours(backward):
        def f():
            with torch.enable_grad():
                feats = clip.encode_image(x, with_attn=True)
                return grad_cam(feats, clip.logits(feats.image_emb, text), present, backward=backward)[0]

        return f

    runs = {
        "batched": ours("batched"),
        "loop": ours("loop"),
        "full_backward": lambda: grad_cam_full_backward(clip, text, present, x),
    }
    maps = {k: f() for k, f in runs.items()}  # warm-up
    diff = {k: (maps[k][[4, 11, 14]] - maps["loop"][[4, 11, 14]]).abs().max().item() for k in ("batched",)}
    diff["full_backward"] = (maps["full_backward"] - maps["loop"][[4, 11, 14]]).abs().max().item()
    times = {k: [] for k in runs}
    for _ in range(repeats):
        for k, f in runs.items():
            times[k].append(_timed(f)[0])
    return {
        "per_image_s": {k: statistics.median(v) for k, v in times.items()},
        "max_abs_diff_to_loop": diff,
        "input": list(x.shape),
        "raw_s": times,
    }


def bf16_variant(c32, text32, samples, repeats: int) -> dict:
    "Seconds per image of compute_cams (text once) with CLIP in bf16 vs fp32, and how far the maps move."
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the slow-bf16 warning on CPUs without AMX: measured here
        c16 = FrozenClip.build("ViT-B-16", "random", dtype=INFERENCE_DTYPES["bf16"])
    s = samples[0]
    runs = {"fp32": c32, "bf16": c16}
    maps = {k: compute_cams(c, text32, 20, s.image, s.labels) for k, c in runs.items()}  # warm-up
    times = {k: [] for k in runs}
    for _ in range(repeats):
        for k, c in runs.items():
            times[k].append(_timed(lambda c=c: compute_cams(c, text32, 20, s.image, s.labels))[0])
    rel = ((maps["bf16"] - maps["fp32"]).norm() / maps["fp32"].norm()).item()
    same = (maps["bf16"].argmax(0) == maps["fp32"].argmax(0)).float().mean().item()
    return {"per_image_s": {k: statistics.median(v) for k, v in times.items()}, "relative_l2_change": rel,
            "argmax_agreement": same, "image": s.id, "raw_s": times}  # fmt: skip


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    load = Load()
    torch.manual_seed(0)
    clip = FrozenClip.build("ViT-B-16", "random")
    learner = prompts_from_settings(clip, VOC_VOCAB, PromptSettings(), random_seed=0)
    ds = demo_dataset()
    samples = [ds[i] for i in ds.ids]
    split = demo_split(clip, learner, samples, a.repeats)
    with torch.no_grad():
        text = learner()
    back = backward_variants(clip, text, a.repeats)
    bf16 = bf16_variant(clip, text, samples, a.repeats)
    sp, bp = split["per_image_s"], back["per_image_s"]
    per_image = {
        "CAM stage per image, demo set, text encoded per image": sp["text per image"],
        "CAM stage per image, demo set, text once per split": sp["text once per split"],
        "text encoder, 45 prompts (once per split now)": split["text_encoder_s"],
        "CAM per image, ViT-B/16, text once, batched backward": bp["batched"],
        "CAM per image, ViT-B/16, text once, loop backward": bp["loop"],
        "CAM per image, ViT-B/16, released full backward per class": bp["full_backward"],
        "compute_cams, CLIP fp32": bf16["per_image_s"]["fp32"],
        "compute_cams, CLIP bf16": bf16["per_image_s"]["bf16"],
    }
    drop = sp["text per image"] - sp["text once per split"]
    how = (
        f"ViT-B/16 shapes with random weights, fp32 unless said, VOC classification prompts ({int(text.shape[0])} "
        f"prompts); medians of {a.repeats} alternating repeats after a warm-up. Rows 1-3: `compute_cams` (forward "
        f"with attention, Grad-CAM, CAA, resize) over the demo set's {split['n_images']} images. Rows 4-6: forward "
        f"with attention + Grad-CAM only, one 500x375 image (input {tuple(back['input'])}), 3 classes. Rows 7-8: "
        f"`compute_cams` on {bf16['image']} with CLIP's weights and forwards in fp32 / bf16 (logits fp32)."
    )
    body = (
        f"Text once per split: the CAM stage's time per image drops by {drop:.2f} s "
        f"({drop / sp['text per image']:.0%}); the text encoder alone takes {split['text_encoder_s']:.2f} s "
        f"({split['text_encoder_s'] / sp['text per image']:.0%} of the per-image time before), now once per split "
        f"(per rank). The CAMs are identical bit for bit (tests/test_speed.py).\n\n"
        f"Grad-CAM: max |batched - loop| = {back['max_abs_diff_to_loop']['batched']:.1e}, max |released - loop| = "
        f"{back['max_abs_diff_to_loop']['full_backward']:.1e}; the released code back-propagates each class through "
        f"the whole network, `grad_cam` stops at the last block's ln_1 activation.\n\n"
        f"bf16: {bf16['per_image_s']['bf16'] / bf16['per_image_s']['fp32']:.2f}x the fp32 time on this CPU "
        f"(native bf16 matrix products: {cpu_has_fast_bf16()}; without AVX512-BF16/AMX PyTorch emulates bf16); the "
        f"maps move by {bf16['relative_l2_change']:.1%} (relative L2) and {bf16['argmax_agreement']:.1%} of the "
        f"pixels keep their arg-max class (random weights)."
    )
    record("cam", "CAM stage: text features once per split, Grad-CAM backward, bf16", per_image, load, how,
           details={"demo_split": split, "backward": back, "bf16": bf16}, body=body)  # fmt: skip


if __name__ == "__main__":
    main()

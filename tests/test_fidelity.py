"""Fidelity checks that span modules (nbs/FIDELITY.md): the CAM files change no seed of a whole pipeline run, and
a VOC tree whose split files use the "/JPEGImages/x.jpg /SegmentationClassAug/x.png" pair format passes the
data check the `run` command relies on."""

import numpy as np
import pytest
import torch

from fma_wsss.cam import compute_cams, upsample_cam
from fma_wsss.cli import check_dataset
from fma_wsss.config import load_config
from fma_wsss.data import make_fake_voc, read_image, read_label, voc_dataset
from fma_wsss.infer import cam_path, load_cams, save_cams
from fma_wsss.pipeline import Pipeline, clip_model, dataset, mask_store, prompt_checkpoint, seed_dir
from fma_wsss.prompts import PromptLearner
from fma_wsss.seeding import make_seeds, seed_from_runs, seed_image

KINDS = {
    "coarse": ("cams_cls", "cls", "cam_cls", "bg_power_coarse"),
    "fine": ("cams_seg", "seg", "cam_seg", "bg_power_fine"),
}


def _scaled_copy(src, dst, ids, k):
    "Every stored CAM of `src` multiplied by 2^k, written to `dst` in the same format."
    for i in ids:
        cam, classes = load_cams(src, i, resize=False)
        size = np.load(cam_path(src, i))["size"]
        save_cams(cam_path(dst, i), cam * np.float32(2.0**k), classes, tuple(size))
    return dst


@pytest.mark.slow
def test_stored_cams_change_no_seed(tmp_path):
    """The smoke pipeline's coarse and fine seeds (METHOD 4, 8):
    - equal the seeds `seed_image` makes again from the stored CAM files;
    - equal the SAMS rule applied to the CAMs recomputed in memory (`compute_cams`, then `upsample_cam`): the
      stored maps are those maps bit for bit;
    - multiplying every stored CAM by a power of two 2^k and re-seeding gives exactly the seeds of 2^k times
      the in-memory maps (k = -3, 5), i.e. the files add nothing and lose nothing;
    - at k = -40 some seeds change: the rule's 1e-7 eps acts on the raw values, as in the release (the earlier
      reader normalised every map by its maximum, which made the seeds blind to k)."""
    pipe = Pipeline(load_config("smoke"), cache=tmp_path / "cache", progress=False)
    pipe.run(until="seeds_fine")
    ds, store, clip = dataset(pipe), mask_store(pipe), clip_model(pipe)
    changed = 0
    for kind, (stage, which, cam_section, power) in KINDS.items():
        p, cams = getattr(pipe.cfg.seeds, power), pipe.path(stage)
        learner = PromptLearner.load(prompt_checkpoint(pipe, which), clip)
        with torch.no_grad():
            text = learner()
        scaled = {k: _scaled_copy(cams, tmp_path / f"{kind}{k}", ds.ids, k) for k in (-3, 5, -40)}
        remade = {
            k: make_seeds(ds, d, store, p, tmp_path / f"seeds_{kind}{k}", progress=False) for k, d in scaled.items()
        }
        for i in ds.ids:
            written = read_label(seed_dir(pipe, kind) / f"{i}.png", ds.vocab.num_classes)
            assert np.array_equal(written, seed_image(cams, store, i, p)), (kind, i)
            image, labels, runs = read_image(ds.image_path(i)), ds.image_labels(i), store.load_runs(i)
            mem = compute_cams(clip, text, learner.n_fg, image, labels, getattr(pipe.cfg, cam_section))
            assert np.array_equal(load_cams(cams, i, resize=False)[0], mem.numpy()), (kind, i)
            assert np.array_equal(written, seed_from_runs(upsample_cam(mem, image.shape[:2]).numpy(), runs, labels, p))
            for k in (-3, 5, -40):
                want = seed_from_runs(upsample_cam(mem * 2.0**k, image.shape[:2]).numpy(), runs, labels, p)
                assert np.array_equal(read_label(remade[k] / f"{i}.png", ds.vocab.num_classes), want), (kind, i, k)
            changed += not np.array_equal(written, read_label(remade[-40] / f"{i}.png", ds.vocab.num_classes))
    assert changed > 0


def test_pair_split_files_pass_data_check(tmp_path):
    """Split files written as "/JPEGImages/<id>.jpg /SegmentationClassAug/<id>.png" (METHOD 0) pass `fma-wsss
    data check` (cli.check_dataset, which `run` relies on) and give the paper-voc run the same train_aug and
    val images as one id per line."""
    root = make_fake_voc(tmp_path / "voc", n_train=3, n_val=2)
    split_dir = root / "VOCdevkit" / "VOC2012" / "ImageSets" / "Segmentation"
    plain = {f.stem: f.read_text().split() for f in split_dir.glob("*.txt")}
    for name, ids in plain.items():
        (split_dir / f"{name}.txt").write_text(
            "".join(f"/JPEGImages/{i}.jpg /SegmentationClassAug/{i}.png\n" for i in ids)
        )
    lines, problems = check_dataset(root, "voc")
    assert problems == [], problems
    pipe = Pipeline(load_config("paper-voc", {"data.root": str(root), "run.device": "cpu"}), {}, tmp_path / "cache",
                    progress=False)  # fmt: skip
    for part, split in (("train", "train_aug"), ("val", "val")):
        ds = dataset(pipe, part)
        assert ds.ids == plain[split] and all(ds.image_path(i).is_file() for i in ds.ids)
        assert all(ds.label_path(i) is not None for i in ds.ids)
    assert voc_dataset(root, "train_aug").ids == plain["train_aug"]

"""Stage 2 end to end on a fake VOC tree: train the tiny segmenter a few iterations on corrupted seeds,
checkpoint, reload under weights_only=True, resume an interrupted run, evaluate, and check our mIoU
against mmseg's IoUMetric on the same predictions."""

import json
import shutil

import numpy as np
import pytest
import torch

from fma_wsss.data import IGNORE_INDEX, make_fake_voc, read_label, voc_dataset, write_label
from fma_wsss.metrics import confusion_matrix, mean_iou
from fma_wsss.segmenter import (
    Segmenter,
    SegmenterSettings,
    evaluate_segmenter,
    last_checkpoint,
    load_checkpoint,
    train_from_config,
    train_segmenter,
)


@pytest.fixture(scope="module")
def voc(tmp_path_factory):
    d = tmp_path_factory.mktemp("voc")
    root = make_fake_voc(d, n_train=4, n_val=3)
    tr, va = voc_dataset(root, "train"), voc_dataset(root, "val")
    rng = np.random.default_rng(0)
    for id in tr.ids:  # corrupted seeds: 20% of pixels relabelled at random, 5% ignored
        lab = tr.read_label(id).copy()
        r = rng.random(lab.shape)
        lab[r < 0.2] = rng.integers(0, 21, lab.shape)[r < 0.2]
        lab[r > 0.95] = IGNORE_INDEX
        write_label(d / "seeds" / f"{id}.png", lab)
    return tr, va, d / "seeds"


def _cfg(**kw):
    return SegmenterSettings(**{**dict(model="tiny", crop_size=32, batch_size=2, iterations=6, checkpoint_interval=3,
                                       backbone_weights="random", num_workers=0, log_interval=2), **kw})  # fmt: skip


def _train(cfg, tr, seeds, wd):
    return train_segmenter(cfg, tr, seeds, work_dir=wd, device="cpu")


def test_missing_seed_names_id_and_folder(voc, tmp_path):
    tr, _, seeds = voc
    part = tmp_path / "seeds"
    shutil.copytree(seeds, part)
    (part / f"{tr.ids[1]}.png").unlink()
    with pytest.raises(FileNotFoundError) as e:
        _train(_cfg(), tr, part, tmp_path / "wd")
    assert tr.ids[1] in str(e.value) and str(part) in str(e.value)


@pytest.mark.slow
def test_train_reload_resume_evaluate(voc, tmp_path):
    tr, va, seeds = voc
    cfg = _cfg()
    wd = _train(cfg, tr, seeds, tmp_path / "wd")
    ckpt = last_checkpoint(wd)
    assert ckpt.name == "iter_6.pth" and (wd / "iter_3.pth").is_file()

    # mmengine checkpoints need the allow-list: a bare weights_only load refuses them, ours succeeds
    with pytest.raises(Exception, match="weights_only|Unsupported global"):
        torch.load(ckpt, map_location="cpu", weights_only=True)
    state = load_checkpoint(ckpt)
    assert state["meta"]["iter"] == 6 and "decode_head.conv_seg.weight" in state["state_dict"]

    # save -> reload -> same predictions: a Runner resumed from the checkpoint (mmengine's own loading)
    # and a Segmenter built from the file predict the same labels
    runner = train_from_config(wd / "config.py")  # resumes at iter 6 of 6: loads, trains nothing
    assert runner.iter == 6
    from_file, in_memory = Segmenter(cfg, 21, ckpt), Segmenter(cfg, 21, model=runner.model)
    for id in va.ids:
        p = from_file(va.image_path(id))
        assert p.shape == va.read_label(id).shape and p.max() < 21
        assert np.array_equal(p, in_memory(va.image_path(id)))

    # an interrupted run resumes from its last checkpoint and finishes
    (wd / "iter_6.pth").unlink()
    (wd / "last_checkpoint").write_text(str(wd / "iter_3.pth"))
    _train(cfg, tr, seeds, wd)
    assert last_checkpoint(wd).name == "iter_6.pth" and load_checkpoint(wd / "iter_6.pth")["meta"]["iter"] == 6

    # other settings in the same work dir are refused
    with pytest.raises(FileExistsError):
        _train(_cfg(iterations=7), tr, seeds, tmp_path / "wd")

    # evaluation: our confusion-matrix mIoU equals mmseg's IoUMetric on the same predictions
    res = evaluate_segmenter(cfg, last_checkpoint(wd), va, out_dir=tmp_path / "eval", device="cpu")
    from mmseg.evaluation import IoUMetric

    cm = np.zeros((21, 21), np.int64)
    areas = []
    for id in va.ids:
        pred, gt = read_label(tmp_path / "eval" / "pred" / f"{id}.png"), va.read_label(id)
        assert np.array_equal(pred, from_file(va.image_path(id)))
        cm += confusion_matrix(pred, gt, 21)
        areas.append(IoUMetric.intersect_and_union(torch.from_numpy(pred), torch.from_numpy(gt), 21, IGNORE_INDEX))
    inter, union, _, label = (sum(a[j] for a in areas).numpy() for j in range(4))
    assert np.array_equal(res["confusion_matrix"], cm)
    assert np.array_equal(inter, np.diag(cm)) and np.array_equal(union, cm.sum(0) + cm.sum(1) - np.diag(cm))
    assert np.array_equal(label, cm.sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        assert np.isclose(res["miou"], np.nanmean(inter / union)) and np.isclose(res["miou"], mean_iou(cm))
    assert round(res["miou"] * 100, 2) == pytest.approx(res["mmseg_miou"] * 100, abs=1e-6)  # IoUMetric rounds to 0.01%
    assert cm.sum() == sum(int((va.read_label(i) != IGNORE_INDEX).sum()) for i in va.ids)
    saved = json.loads((tmp_path / "eval" / "metrics.json").read_text())
    assert saved["miou"] == pytest.approx(res["miou"]) and np.array_equal(np.array(saved["confusion_matrix"]), cm)


def test_multi_gpu_needs_gpus(voc, tmp_path):
    tr, _, seeds = voc
    if torch.cuda.device_count() >= 2:
        pytest.skip("this machine has several GPUs")
    with pytest.raises(RuntimeError, match="gpus=2 needs"):
        _train(_cfg(gpus=2), tr, seeds, tmp_path / "wd")

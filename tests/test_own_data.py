"""Your own data and the weights you already have.

- A folder dataset of photographs (scikit-image's) with class names of its own runs through the pipeline
  (the smoke profile's tiny CLIP, superpixels and few iterations) and is scored on the one image that has
  a ground-truth mask; the seed mIoU is recomputed here from the PNGs with plain numpy.
- `fma-wsss seed` writes seeds and overlays for two images (hand prompts, then trained ones).
- `fma-wsss data check DIR --dataset folder` passes a good folder and names the file and line of a bad one.
- CLIP weights in the Hugging Face cache layout (a tiny CLIP saved in open_clip's file format) resolve and
  load offline; without them, `fma-wsss run` stops before any stage with ONE error listing every missing file.
"""

import contextlib
import hashlib
import io
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

from fma_wsss.data import read_label, write_label

PHOTOS = {  # file name -> (scikit-image photograph, its class)
    "astronaut.jpg": ("astronaut", "astronaut"),
    "chelsea.png": ("chelsea", "cat"),  # a PNG among JPEGs: ids are file stems
    "coffee.jpg": ("coffee", "coffee cup"),
    "rocket.jpg": ("rocket", "rocket"),
}
CLASSES = "astronaut: astronaut, person in a space suit\ncat\ncoffee cup: cup of coffee, coffee\nrocket\n"


def _photo(name: str) -> np.ndarray:
    "A scikit-image photograph at a quarter of its size (fast on a CPU)."
    img = getattr(skimage.data, name)()
    return np.asarray(Image.fromarray(img).resize((img.shape[1] // 4, img.shape[0] // 4), Image.BICUBIC))


def _cat_mask(h: int, w: int) -> np.ndarray:
    "A hand-made ground truth for chelsea: label 2 (cat) in an ellipse, 255 on a ring around it, 0 elsewhere."
    yy, xx = np.mgrid[:h, :w]
    r = ((yy - 0.55 * h) / (0.42 * h)) ** 2 + ((xx - 0.45 * w) / (0.38 * w)) ** 2
    lab = np.zeros((h, w), np.uint8)
    lab[r <= 1.15] = 255
    lab[r <= 1] = 2
    return lab


def make_folder(root: Path) -> Path:
    "A folder dataset of four photographs, our own four classes, and one ground-truth mask."
    (root / "images").mkdir(parents=True)
    rows = ["image,labels"]
    for fname, (photo, cls) in PHOTOS.items():
        Image.fromarray(_photo(photo)).save(root / "images" / fname)
        rows.append(f"{fname},{cls}")
    (root / "classes.txt").write_text(CLASSES)
    (root / "image_labels.csv").write_text("\n".join(rows) + "\n")
    h, w = _photo("chelsea").shape[:2]
    write_label(root / "masks" / "chelsea.png", _cat_mask(h, w))
    return root


@pytest.fixture
def env(tmp_path, monkeypatch):
    "Every folder the package reads or writes under tmp_path; no cache of this machine's user; no downloads."
    for var, sub in [("FMA_WSSS_CACHE", "cache"), ("FMA_WSSS_REPORTS", "reports"), ("FMA_WSSS_WEIGHTS", "weights"),
                     ("HF_HUB_CACHE", "hub"), ("TORCH_HOME", "torch"), ("HOME", "home")]:  # fmt: skip
        monkeypatch.setenv(var, str(tmp_path / sub))
    monkeypatch.setenv("FMA_WSSS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return tmp_path


def fma(*args) -> SimpleNamespace:
    "`fma-wsss ARGS` in this process (main()), stdout and stderr captured."
    from fma_wsss.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            rc = main([str(a) for a in args])
        except SystemExit as e:
            rc = e.code
    return SimpleNamespace(returncode=rc, stdout=out.getvalue(), stderr=err.getvalue())


def _miou_by_hand(pred: np.ndarray, gt: np.ndarray) -> float:
    "Mean IoU over the classes in the ground truth or the prediction, 255 ignored: a plain loop over classes."
    keep = gt != 255
    pred, gt = pred[keep], gt[keep]
    ious = []
    for c in sorted(set(np.unique(pred).tolist()) | set(np.unique(gt).tolist())):
        inter, union = np.sum((pred == c) & (gt == c)), np.sum((pred == c) | (gt == c))
        ious.append(inter / union)
    return float(np.mean(ious))


def test_data_check_folder(env):
    root = make_folder(env / "mine")
    r = fma("data", "check", root, "--dataset", "folder", "--read")
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stdout + r.stderr
    assert "4 classes (astronaut, cat, coffee cup, rocket)" in r.stdout and "1 with a ground-truth mask" in r.stdout
    (root / "image_labels.csv").write_text("image,labels\nastronaut.jpg,astronaut\nchelsea.png,kitten\n")
    r = fma("data", "check", root, "--dataset", "folder")
    assert r.returncode == 2 and "image_labels.csv, line 3" in r.stdout and "'kitten'" in r.stdout, r.stdout


@pytest.mark.slow
def test_folder_dataset_through_the_pipeline_and_scored(env):
    "Four photographs, own classes: hand prompts (too few to train), every stage, the seed mIoU on the masked image."
    from fma_wsss.config import load_config
    from fma_wsss.pipeline import dataset, run_pipeline, seed_dir

    root = make_folder(env / "mine")
    folder = {"data.dataset": "folder", "data.root": str(root), "data.train_split": "all", "data.val_split": "all"}
    pipe = run_pipeline(load_config("smoke", folder))
    m = pipe.metrics()
    assert pipe.resolved["prompts_cls"]["mode"] == pipe.resolved["prompts_seg"]["mode"] == "hand"
    assert "4 images, fewer than data.folder_min_train = 50" in pipe.resolved["prompts_cls"]["why"]
    assert not (pipe.path("prompts_cls") / "log.csv").exists()  # nothing was trained
    ds = dataset(pipe)
    assert ds.vocab.class_names == ("background", "astronaut", "cat", "coffee cup", "rocket")
    assert ds.vocab.clip_names[0] == "astronaut,person in a space suit"
    for id in ds.ids:  # each seed holds only its image's class
        seed = read_label(seed_dir(pipe, "fine") / f"{id}.png")
        assert set(np.unique(seed).tolist()) <= {0, int(ds.image_labels(id)[0])}, id
    fine, coarse = pipe.results["seeds_fine"].metrics, pipe.results["seeds_coarse"].metrics
    assert fine["seed_n_images"] == coarse["coarse_seed_n_images"] == 1  # only chelsea has a mask
    gt = read_label(root / "masks" / "chelsea.png")
    pred = read_label(seed_dir(pipe, "fine") / "chelsea.png")
    assert abs(m["seed_miou"] - _miou_by_hand(pred, gt)) < 1e-12
    assert 0 <= m["final_miou"] <= 1 and m["meaningless"]  # stage 2 trained on the seeds, scored on chelsea

    # enough images for the threshold: the classification prompts are trained on the folder's images
    learned = run_pipeline(load_config("smoke", {**folder, "data.folder_min_train": 4}), until="cams_cls")
    assert learned.resolved["prompts_cls"] == {"mode": "learned"}
    assert (learned.path("prompts_cls") / "log.csv").is_file()

    # those trained prompts seed two of the images through `fma-wsss seed`
    prompts = learned.path("prompts_cls") / "prompts_cls.pt"
    out = env / "seeded_trained"
    r = fma("seed", root / "images" / "chelsea.png", root / "images" / "coffee.jpg", "--classes", root / "classes.txt",
            "--prompts", prompts, "--profile", "smoke", "--out", out, "--no-progress")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["chelsea.jpg", "chelsea.png", "classes.txt", "coffee.jpg",
                                                     "coffee.png", "settings.json"]  # fmt: skip
    r = fma("seed", root / "images" / "chelsea.png", "--classes", "cat,dog", "--prompts", prompts,
            "--profile", "smoke", "--out", env / "x")  # fmt: skip
    assert r.returncode == 2 and "trained for the classes" in r.stderr


@pytest.mark.slow
def test_seed_command_two_images(env):
    "`fma-wsss seed` with hand prompts: a palette PNG and an overlay per image; labels per image; a resume; a refusal."
    src = env / "photos"
    src.mkdir()
    for name in ("astronaut", "chelsea"):
        Image.fromarray(_photo(name)).save(src / f"{name}.jpg")
    out = env / "seeds"
    args = ["--classes", "person,cat", "--out", out, "-p", "clip.fallback", "tiny", "-p", "masks.fallback", "slic"]
    r = fma("seed", src / "astronaut.jpg", src / "chelsea.jpg", *args, "--no-progress")  # the zero-shot profile
    assert r.returncode == 0, r.stderr
    assert (out / "classes.txt").read_text() == "0 background\n1 person\n2 cat\n"
    for name in ("astronaut", "chelsea"):
        with Image.open(out / f"{name}.png") as im:
            assert im.mode == "P" and im.size == Image.open(src / f"{name}.jpg").size
            assert set(np.unique(np.asarray(im)).tolist()) <= {0, 1, 2}
        with Image.open(out / f"{name}.jpg") as im:
            assert im.format == "JPEG" and im.size == Image.open(src / f"{name}.jpg").size
    before = (out / "chelsea.png").stat().st_mtime_ns
    assert fma("seed", src, *args, "--no-progress").returncode == 0  # a folder; both images already done
    assert (out / "chelsea.png").stat().st_mtime_ns == before
    r = fma("seed", src, *args[:1], "cat,dog", *args[2:])
    assert r.returncode == 2 and "other settings" in r.stderr

    labels = env / "labels.csv"  # per image: chelsea holds only the cat
    labels.write_text("image,labels\nastronaut.jpg,person\nchelsea.jpg,cat\n")
    r = fma("seed", src, *args[:3], env / "seeds_labelled", *args[4:], "--labels", labels, "--no-progress")
    assert r.returncode == 0, r.stderr
    assert set(np.unique(read_label(env / "seeds_labelled" / "chelsea.png")).tolist()) <= {0, 2}
    assert set(np.unique(read_label(env / "seeds_labelled" / "astronaut.png")).tolist()) <= {0, 1}


def _hf_cache_file(hub: Path, repo: str, fname: str, data: bytes, rev: str = "0123456789abcdef" * 2 + "01234567"):
    "A file in the Hugging Face hub cache layout: blobs/<sha256>, refs/main, snapshots/<rev>/<file> -> blob."
    base = hub / ("models--" + repo.replace("/", "--"))
    sha = hashlib.sha256(data).hexdigest()
    (base / "blobs").mkdir(parents=True)
    (base / "blobs" / sha).write_bytes(data)
    (base / "refs").mkdir()
    (base / "refs" / "main").write_text(rev)
    (base / "snapshots" / rev).mkdir(parents=True)
    (base / "snapshots" / rev / fname).symlink_to(f"../../blobs/{sha}")
    return base / "snapshots" / rev / fname


def test_clip_weights_from_the_hugging_face_cache_offline(env, monkeypatch):
    "open_clip's files for ViT-B-16/openai in the hub cache resolve with downloads forbidden, and load."
    from safetensors.torch import save

    from fma_wsss import clip as fclip
    from fma_wsss.config import load_config
    from fma_wsss.pipeline import Pipeline, preflight, resolved_clip, weights_used
    from fma_wsss.weights import WeightsNotFoundError, resolve_weights

    # without any copy: `fma-wsss run` stops before any stage, one error naming every missing file
    r = fma("run", "paper-voc", "--out", env / "never")
    assert r.returncode == 2 and "3 checkpoint(s) missing" in r.stderr and not (env / "never").exists()
    assert "ViT-B-16.pt" in r.stderr and "sam_vit_h_4b8939.pth" in r.stderr and str(env / "weights") in r.stderr
    assert "models--timm--vit_base_patch16_clip_224.openai" in r.stderr  # the hub cache was looked in

    # a tiny CLIP stands in for ViT-B/16 (same file format: open_clip's state dict as safetensors)
    monkeypatch.setitem(fclip.CLIP_ARCHS, "tiny-as-openai", dict(config=fclip.TINY_CFG, quick_gelu=False,
                        weights={"openai": "clip_vit_b16_openai"}))  # fmt: skip
    model = fclip._build_open_clip(fclip._open_clip_cfg("tiny-as-openai"), random_seed=7)
    blob = save({k: v.contiguous() for k, v in model.state_dict().items()})
    path = _hf_cache_file(env / "hub", "timm/vit_base_patch16_clip_224.openai", "open_clip_model.safetensors", blob)
    assert resolve_weights("clip_vit_b16_openai", download=False) == path
    c = fclip.FrozenClip.build("tiny-as-openai", "openai", download=False)
    assert all(torch.equal(a, b) for a, b in zip(c.model.state_dict().values(), model.state_dict().values()))

    cfg = load_config("smoke", {"clip.arch": "tiny-as-openai", "clip.weights": "openai", "clip.fallback": None})
    assert preflight(cfg) == {"clip_vit_b16_openai": str(path)}
    pipe = Pipeline(cfg, {}, env / "cache")
    assert resolved_clip(pipe) == {"arch": "tiny-as-openai", "weights": "openai"}  # no fall-back taken
    assert weights_used(pipe)["clip"] == str(path)

    path.resolve().write_bytes(blob[:-8] + b"corrupt!")  # the blob no longer matches its content address
    with pytest.raises(Exception, match="checksum mismatch"):
        resolve_weights("clip_vit_b16_openai", download=False)
    with pytest.raises(WeightsNotFoundError, match="checksum mismatch"):
        preflight(cfg)

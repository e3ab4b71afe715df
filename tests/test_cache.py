"""What the stage cache guarantees, tried as a user would (issue 11): cached stages follow the data and
the code, sweeps follow their settings, runs stay in their folders, concurrent runs share work, and
failures are recorded. Each test failed on the code before the cache engine (fma_wsss.cache)."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from fma_wsss import cache as cache_mod
from fma_wsss.cli import load_sweep, rerender, run_notebook, run_profile, run_sweep
from fma_wsss.config import load_config
from fma_wsss.core import settings_hash
from fma_wsss.infer import load_cams
from fma_wsss.pipeline import Pipeline
from fma_wsss.runs import collect_runs

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


@pytest.fixture()
def env(tmp_path, monkeypatch):
    "A private cache and reports folder (the papermill kernels inherit os.environ)."
    for k, v in {"FMA_WSSS_CACHE": tmp_path / "cache", "FMA_WSSS_REPORTS": tmp_path / "reports"}.items():
        monkeypatch.setenv(k, str(v))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
    return tmp_path


def _demo_copy(tmp_path: Path) -> Path:
    root = tmp_path / "demo"
    shutil.copytree(ROOT / "data" / "demo", root)
    return root


def _demo_cfg(root: Path, **kw):
    "The smoke profile's tiny models on a copy of the demo photographs (real images, image-level labels)."
    over = {"data.dataset": "demo", "data.root": str(root), "train_split": "demo", "val_split": "demo",
            "segmenter.enabled": False, **kw}  # fmt: skip
    return load_config("smoke", over)


def test_edited_image_labels_recompute_what_reads_them(env):
    "cat -> dog in image_labels.json: the CAMs say dog; masks (which read only the image) are reused."
    root = _demo_copy(env)
    p1 = Pipeline(_demo_cfg(root), cache=env / "cache", progress=False)
    r1 = p1.run(until="cams_cls")
    assert load_cams(r1["cams_cls"].path, "skimage_chelsea")[1].tolist() == [8]  # cat
    labels = json.loads((root / "image_labels.json").read_text())
    labels["skimage_chelsea"] = ["dog"]
    (root / "image_labels.json").write_text(json.dumps(labels))
    p2 = Pipeline(_demo_cfg(root), cache=env / "cache", progress=False)
    r2 = p2.run(until="cams_cls")
    assert load_cams(r2["cams_cls"].path, "skimage_chelsea")[1].tolist() == [12]  # dog
    assert r2["masks"].reused and r2["masks"].computed == 0
    assert not r2["prompts_cls"].reused and r2["prompts_cls"].key != r1["prompts_cls"].key  # trained on all labels


def test_edited_module_recomputes_only_the_stages_that_run_it(env, monkeypatch):
    "An edit to seeding.py (its source fingerprint) recomputes the seed stages and what reads them, nothing before."
    cfg = load_config("smoke", {"segmenter.enabled": False})
    r1 = Pipeline(cfg, cache=env / "cache", progress=False).run()
    monkeypatch.setitem(cache_mod._CODE_FP, "seeding", "edited-source")
    r2 = Pipeline(cfg, cache=env / "cache", progress=False).run()
    assert [s for s, r in r2.items() if r.reused] == ["masks", "prompts_cls", "cams_cls"]
    assert r2["seeds_coarse"].key != r1["seeds_coarse"].key and r2["seeds_fine"].key != r1["seeds_fine"].key


def test_changed_sweep_recomputes_its_points_and_says_so(env):
    "A `fixed` setting added to a finished sweep: its points run again and sweep.json describes what ran."
    f, out = env / "s.yaml", env / "reports" / "sw"
    f.write_text("profile: smoke\nnotebook: 05_fine_seeds\ngrid: {seeds.bg_power_fine: [0.5]}\n")
    assert run_sweep(f, out, progress=False, summary=False) == {"bg_power_fine=0.5": "done"}
    f.write_text("profile: smoke\nnotebook: 05_fine_seeds\nfixed: {seeds.use_masks: false}\n"
                 "grid: {seeds.bg_power_fine: [0.5]}\n")  # fmt: skip
    assert run_sweep(f, out, progress=False, summary=False) == {"bg_power_fine=0.5": "done"}
    point = out / "bg_power_fine=0.5"
    cfg = json.loads((point / "config.json").read_text())["config"]
    assert cfg["seeds"]["use_masks"] is False  # the point's own record: the settings it ran with
    sweep = json.loads((out / "sweep.json").read_text())
    want = settings_hash(load_config("smoke", {"seeds.use_masks": False, "seeds.bg_power_fine": 0.5}).to_dict(), 16)
    assert (
        sweep["points"]["bg_power_fine=0.5"]["settings_hash"]
        == want
        == json.loads((point / "DONE.json").read_text())["settings_hash"]
    )
    assert len(list((out / ".superseded").iterdir())) == 1  # the old point kept aside, not described as the new one
    assert run_sweep(f, out, progress=False, summary=False) == {"bg_power_fine=0.5": "skipped"}  # same settings


def test_rerun_of_a_copied_report_writes_only_into_the_copy(env):
    "`fma-wsss report COPY --rerun` used to rewrite the ORIGINAL run's metrics and figures."
    orig = env / "reports" / "orig"
    run_notebook("01_sam_masks", orig, {"profile": "smoke", "out_dir": str(orig)}, progress=False, html=False)
    copy = env / "reports" / "copy"
    shutil.copytree(orig, copy)
    before = {p: p.stat().st_mtime_ns for p in orig.rglob("*") if p.is_file()}
    (copy / "metrics.json").unlink()
    rerender(copy, rerun=True)
    assert (copy / "metrics.json").is_file()
    assert {p: p.stat().st_mtime_ns for p in orig.rglob("*") if p.is_file()} == before


_CONCURRENT = r"""
import json, sys
from fma_wsss.config import load_config
from fma_wsss.pipeline import Pipeline
p = Pipeline(load_config("smoke"), cache=sys.argv[1], progress=False)
r = p.run(until="prompts_cls")
print(json.dumps({k: v.reused for k, v in r.items()}))
"""


def test_two_runs_sharing_a_cache_compute_each_stage_once(env):
    "Two runs started together: one computes, the other waits for its lock and reuses; log.csv has each row once."
    script = env / "conc.py"
    script.write_text(_CONCURRENT)
    procs = [subprocess.Popen([sys.executable, str(script), str(env / "cache")], stdout=subprocess.PIPE, text=True,
                              env=os.environ.copy()) for _ in range(2)]  # fmt: skip
    outs = [json.loads(p.communicate(timeout=600)[0].strip().splitlines()[-1]) for p in procs]
    assert all(p.returncode == 0 for p in procs)
    for stage in ("masks", "prompts_cls"):
        assert sorted(o[stage] for o in outs) == [False, True], outs  # computed by one run, reused by the other
    log = next((env / "cache" / "prompts_cls").glob("*/log.csv"))
    iters = [r.split(",")[0] for r in log.read_text().splitlines()[1:]]
    assert iters == [str(i) for i in range(load_config("smoke").prompts_cls.iterations)]


def test_ids_and_names_from_data_never_leave_their_folders(env, tmp_path):
    "A val id '../x' in a split file and a sweep named '../../x' are refused before anything is written."
    from fma_wsss.cli import CliError
    from fma_wsss.data import DataError, make_fake_voc, voc_dataset

    root = make_fake_voc(tmp_path / "voc", n_train=2, n_val=1)
    (root / "VOCdevkit/VOC2012/ImageSets/Segmentation/val.txt").write_text("2012_000002\n../../victim\n")
    with pytest.raises(DataError, match="line 2"):
        voc_dataset(root, "val")
    f = tmp_path / "x.yaml"
    f.write_text("name: ../../x\nprofile: smoke\ngrid: {seeds.bg_power_fine: [0.5]}\n")
    with pytest.raises(CliError, match="sweep name"):
        load_sweep(f)


def test_a_failed_run_leaves_failed_json_and_shows_in_the_runs_table(env, tmp_path):
    """A run that fails in a stage writes FAILED.json (error, stage, traceback) and the runs table lists it. A
    missing label map fails the first stage that reads labels (prompts_cls); the masks, made from images
    alone, are kept."""
    from fma_wsss.data import make_fake_voc

    root = make_fake_voc(tmp_path / "voc", n_train=2, n_val=1)
    (root / "VOCdevkit/VOC2012/SegmentationClassAug/2012_000001.png").unlink()
    (root / "VOCdevkit/VOC2012/SegmentationClass/2012_000001.png").unlink()
    out = env / "reports" / "failed-run"
    with pytest.raises(Exception, match="prompts_cls"):  # papermill's error, naming the stage
        run_profile(
            "smoke", {"data.dataset": "voc", "data.root": str(root), "train_split": "train"}, out, progress=False
        )
    failed = json.loads((out / "FAILED.json").read_text())
    assert failed["stage"] == "prompts_cls" and "2012_000001" in failed["error"] and Path(failed["traceback"]).is_file()
    assert "nothing was written" in failed["error"]
    assert len(list((Path(os.environ["FMA_WSSS_CACHE"]) / "masks").glob("*/DONE.json"))) == 1
    table = collect_runs(env / "reports", errors="skip")
    assert table.loc[table.run == "failed-run", "status"].tolist() == ["failed"]

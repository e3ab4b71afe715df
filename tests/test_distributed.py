"""The pipeline on several processes (issue 12), on the CPU with Gloo: `fma-wsss run --nproc 2` gives the
results of one process with every image computed once, and a rank killed mid-stage costs only the
images it had not finished."""

import functools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import fma

from fma_wsss.cache import read_manifest
from fma_wsss.cli import EXPERIMENTS, notebook_until

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _env(tmp: Path, name: str) -> dict:
    return {**os.environ, "FMA_WSSS_CACHE": str(tmp / f"cache-{name}"), "FMA_WSSS_REPORTS": str(tmp / "reports"),
            "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}  # fmt: skip


_fma = functools.partial(fma, timeout=1200)


HEADLINE = ("coarse_seed_miou", "seed_miou", "final_miou", "final_mmseg_miou")


def test_nproc_2_gives_the_results_of_one_process(tmp_path):
    "Same headline metrics and byte-identical seeds; every image of every per-image stage computed exactly once."
    runs = {}
    for n in (1, 2):
        out = tmp_path / f"run{n}"
        r = _fma("run", "smoke", "--nproc", str(n), "--out", str(out), "--no-progress", env=_env(tmp_path, str(n)))
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
        runs[n] = json.loads((out / "metrics.json").read_text())
    assert [runs[1][k] for k in HEADLINE] == [runs[2][k] for k in HEADLINE]
    for stage in ("seeds_coarse", "seeds_fine"):
        one = next((tmp_path / "cache-1" / stage).glob("*/seeds"))
        two = next((tmp_path / "cache-2" / stage).glob("*/seeds"))
        assert sorted(p.name for p in one.glob("*.png")) == sorted(p.name for p in two.glob("*.png"))
        assert all((one / p.name).read_bytes() == (two / p.name).read_bytes() for p in one.glob("*.png")), stage
    for stage in ("masks", "cams_cls", "seeds_coarse", "cams_seg", "seeds_fine"):
        folder = next((tmp_path / "cache-2" / stage).glob("*/items"))
        lines = [json.loads(x)["id"] for f in folder.glob("rank*.jsonl") for x in f.read_text().splitlines()]
        assert len(lines) == len(set(lines)) == len(read_manifest(folder.parent)), (stage, lines)  # once each
        assert len(list(folder.glob("rank*.jsonl"))) == 2  # both ranks did some
    assert runs[2]["stages"]["masks"]["computed"] == runs[1]["stages"]["masks"]["computed"] == 2


_DIE = r"""
import dataclasses, os, sys, time
from pathlib import Path
from fma_wsss import pipeline as pl
from fma_wsss.cache import read_manifest
from fma_wsss.config import load_config

cache, rank = Path(sys.argv[1]), int(os.environ["RANK"])
cfg = load_config("smoke", {"data.fake_n_train": 6, "segmenter.enabled": False})
done, orig = [], pl.STAGES["masks"].run_item

def item(pipe, out, id):
    files = orig(pipe, out, id)
    done.append(id)
    if rank == 1 and len(done) == 2:  # rank 1 dies in its second image, once rank 0 has recorded its three
        log = out / "items" / "rank0.jsonl"
        while not log.exists() or len(log.read_text().splitlines()) < 3:
            time.sleep(0.2)
        os._exit(3)  # before the engine records this image
    return files

stages = dict(pl.STAGES)
stages["masks"] = dataclasses.replace(stages["masks"], run_item=item)
pl.Pipeline(cfg, stages=stages, cache=cache, progress=False).run(until="masks")
"""


def test_a_killed_rank_loses_only_its_unfinished_images(tmp_path):
    "Rank 1 dies in the masks stage; the rerun computes only the one image it had not recorded."
    from fma_wsss.config import load_config
    from fma_wsss.pipeline import Pipeline

    script = tmp_path / "die.py"
    script.write_text(_DIE)
    env = _env(tmp_path, "kill")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node=2", "--standalone", str(script),
           env["FMA_WSSS_CACHE"]]  # fmt: skip
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    assert p.returncode != 0  # the launch failed, as it should
    folder = next((Path(env["FMA_WSSS_CACHE"]) / "masks").glob("*/items")).parent
    assert not (folder / "DONE.json").exists() and len(read_manifest(folder)) == 4  # 3 of rank 0, 1 of rank 1
    cfg = load_config("smoke", {"data.fake_n_train": 6, "segmenter.enabled": False})
    res = Pipeline(cfg, cache=env["FMA_WSSS_CACHE"], progress=False).run(until="masks")
    assert (
        res["masks"].computed == 2 and (folder / "DONE.json").is_file()
    )  # rank 1's unfinished item, and the one it died in


def test_every_experiment_notebook_names_its_last_stage():
    "Workers of a torchrun launch run the stages the notebook runs: its open_run(until=...) is found."
    assert notebook_until("00_pipeline") is None and notebook_until("03_coarse_seeds") == "seeds_coarse"
    assert {notebook_until(n) for n in EXPERIMENTS if n not in ("00_pipeline", "07_evaluate", "99_summary")} >= {
        "masks", "prompts_cls", "prompts_seg", "seeds_fine", "segmenter"}  # fmt: skip


def test_shards_of_a_job_array_make_the_masks_without_a_process_group(tmp_path):
    "Two --shard tasks make every image's masks once; the run that follows computes none and marks the stage done."
    env = _env(tmp_path, "shard")
    for i in range(2):
        r = _fma("run", "smoke", "--until", "masks", "--shard", f"{i}/2", "-p", "data.fake_n_train", "5", env=env)
        assert r.returncode == 0 and "masks" in r.stdout, r.stderr[-3000:]
    folder = next((Path(env["FMA_WSSS_CACHE"]) / "masks").glob("*/items")).parent
    assert len(read_manifest(folder)) == 5 and not (folder / "DONE.json").exists()
    from fma_wsss.config import load_config
    from fma_wsss.pipeline import Pipeline

    res = Pipeline(load_config("smoke", {"data.fake_n_train": 5}), cache=env["FMA_WSSS_CACHE"], progress=False).run(
        until="masks"
    )
    assert res["masks"].computed == 0 and (folder / "DONE.json").is_file()

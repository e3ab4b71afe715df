"""The experiment notebooks through papermill on the smoke profile, sweeps (resume, failure recording),
and `fma-wsss run smoke` end to end.

One cache folder (FMA_WSSS_CACHE in a temporary folder) is shared by the whole module: the first run
computes every stage and later notebooks reuse them, so the suite stays within a few minutes on a CPU."""

import json
from pathlib import Path

import pytest
from conftest import fma

ROOT = Path(__file__).resolve().parents[1]
EXPERIMENTS = ROOT / "nbs" / "experiments"
STAGE_NBS = [
    "01_sam_masks",
    "02_cls_prompts",
    "03_coarse_seeds",
    "04_seg_prompts",
    "05_fine_seeds",
    "06_segmenter",
    "07_evaluate",
]

pytestmark = pytest.mark.slow


def test_notebooks_are_clean_and_parametrised():
    "Committed without outputs; a `parameters` cell of annotated literals with comments, nothing else."
    import ast

    for nb in sorted(EXPERIMENTS.glob("*.ipynb")):
        cells = json.loads(nb.read_text())["cells"]
        assert all(
            not c.get("outputs") and c.get("execution_count") is None for c in cells if c["cell_type"] == "code"
        ), nb
        params = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
        assert len(params) == 1, nb
        src = "".join(params[0]["source"]) if isinstance(params[0]["source"], list) else params[0]["source"]
        for line in src.splitlines():
            assert " # " in line or "  # " in line, f"{nb.name}: parameter without a comment: {line}"
        for node in ast.parse(src).body:
            assert isinstance(node, ast.AnnAssign), f"{nb.name}: only annotated assignments in the parameters cell"
            ast.literal_eval(node.value)  # literals only: no imports, no I/O, no derived values
    assert (EXPERIMENTS / ".notest").is_file()


@pytest.fixture(scope="module")
def smoke_run(module_env):
    "`fma-wsss run smoke --out DIR` once per module (it also fills the shared cache)."
    out = module_env / "run-smoke"
    r = fma("run", "smoke", "--out", str(out), "--no-progress")
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-6000:]
    return out


def test_run_smoke_end_to_end(smoke_run):
    "`fma-wsss run smoke --out DIR`: executed notebook, HTML, config.json, metrics.json (seed mIoU, timings), figures."
    out = smoke_run
    for f in ("00_pipeline.ipynb", "00_pipeline.html", "config.json", "metrics.json"):
        assert (out / f).is_file(), f
    m = json.loads((out / "metrics.json").read_text())
    assert m["meaningless"] is True and 0.0 <= m["seed_miou"] <= 1.0 and 0.0 <= m["coarse_seed_miou"] <= 1.0
    stages = ["masks", "prompts_cls", "cams_cls", "seeds_coarse", "prompts_seg", "cams_seg", "seeds_fine", "segmenter"]
    assert list(m["stages"]) == stages and all(m["stages"][s]["seconds"] > 0 for s in stages)
    assert 0.0 <= m["final_miou"] <= 1.0
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["config"]["profile"] == "smoke" and cfg["provenance"]["untrained"] is True
    assert cfg["resolved"]["clip"] == {"arch": "tiny", "weights": "random"}
    figs = sorted(p.name for p in (out / "figures").glob("*.png"))
    assert (
        any(f.startswith("masks_") for f in figs)
        and "seeds_fine_overlays.png" in figs
        and "curves_prompts_seg.png" in figs
    )
    html = (out / "00_pipeline.html").read_text()
    assert "numbers are meaningless" in html and html.count("<img") >= len(figs)


@pytest.mark.parametrize("name", STAGE_NBS)
def test_stage_notebook(module_env, smoke_run, name):
    "Each stage notebook runs on the smoke profile, reusing the stages the full run cached."
    from fma_wsss.cli import run_notebook

    out = module_env / "stage" / name
    run_notebook(name, out, {"profile": "smoke", "out_dir": str(out)}, progress=False)
    m = json.loads((out / "metrics.json").read_text())
    assert m["stages"] and all(s["reused"] for s in m["stages"].values()), m["stages"]  # cached by the full run
    assert (out / f"{name}.html").is_file() and (out / "config.json").is_file()


def test_rerender_report(module_env, smoke_run):
    "`fma-wsss report DIR` re-renders a run folder's HTML; with --rerun it executes it again (figures rewritten)."
    from fma_wsss.cli import main

    d = module_env / "stage" / "01_sam_masks"
    if not d.is_dir():
        pytest.skip("needs test_stage_notebook[01_sam_masks]'s run folder")
    (d / "01_sam_masks.html").unlink()
    assert main(["report", str(d)]) == 0 and (d / "01_sam_masks.html").is_file()
    fig = next((d / "figures").glob("masks_*.png"))
    fig.unlink()
    assert main(["report", str(d), "--rerun"]) == 0 and fig.is_file()
    resolved = json.loads((d / "config.json").read_text())["resolved"]
    assert resolved["masks"] == {"source": "superpixel", "method": "slic"}  # slic asked for: no fall-back taken


def test_sweep_resume_and_summary(module_env):
    "A finished point is skipped by the next invocation; the new point runs; the summary ends the sweep."
    from fma_wsss.cli import run_sweep

    f, out = module_env / "bg.yaml", module_env / "sweep-bg"
    f.write_text("profile: smoke\nnotebook: 05_fine_seeds\ngrid: {seeds.bg_power_fine: [0.5]}\n")
    assert run_sweep(f, out, progress=False, summary=False) == {"bg_power_fine=0.5": "done"}
    first = (out / "bg_power_fine=0.5" / "DONE.json").stat().st_mtime_ns
    f.write_text("profile: smoke\nnotebook: 05_fine_seeds\ngrid: {seeds.bg_power_fine: [0.5, 0.9]}\n")
    assert run_sweep(f, out, progress=False) == {"bg_power_fine=0.5": "skipped", "bg_power_fine=0.9": "done"}
    assert (out / "bg_power_fine=0.5" / "DONE.json").stat().st_mtime_ns == first
    m5, m9 = (json.loads((out / p / "metrics.json").read_text()) for p in ("bg_power_fine=0.5", "bg_power_fine=0.9"))
    assert m5["stages"]["seeds_fine"]["bg_power"] == 0.5 and m9["stages"]["seeds_fine"]["bg_power"] == 0.9
    assert m5["stages"]["seeds_fine"]["key"] != m9["stages"]["seeds_fine"]["key"]
    assert m5["stages"]["cams_seg"]["key"] == m9["stages"]["cams_seg"]["key"]  # upstream stages shared
    summary = json.loads((out / "summary" / "summary.json").read_text())
    assert summary["n_runs"] == 2 and "seeds.bg_power_fine" in summary["settings"]
    assert (out / "summary" / "99_summary.html").is_file()
    assert [line.split()[-1] for line in (out / "sweep.log").read_text().splitlines()] == ["done", "skipped", "done"]


def test_sweep_records_a_failed_point_and_carries_on(module_env):
    "A point that fails at run time gets FAILED.json (error + traceback) and the next point still runs."
    from fma_wsss.cli import run_sweep

    f, out = module_env / "ds.yaml", module_env / "sweep-ds"
    f.write_text(
        f"profile: smoke\nnotebook: 01_sam_masks\nfixed: {{data.root: {module_env / 'no-such-voc'}}}\n"
        "grid: {data.dataset: [voc, fake_voc]}\n"
    )
    st = run_sweep(f, out, progress=False, summary=False)
    assert st == {"dataset=voc": "failed", "dataset=fake_voc": "done"}
    failed = json.loads((out / "dataset=voc" / "FAILED.json").read_text())
    assert "no-such-voc" in failed["error"] and "Traceback" in failed["traceback"]
    assert not (out / "dataset=voc" / "DONE.json").exists() and (out / "dataset=fake_voc" / "DONE.json").is_file()

"""The module notebooks' own tests (nbdev_test), the export in step with nbs/, and notebook hygiene."""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
MODULE_NBS = sorted(p for p in (ROOT / "nbs").glob("*.ipynb"))
ALL_NBS = sorted((ROOT / "nbs").rglob("*.ipynb"))


def _run(*cmd, **kw):
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, **kw)


@pytest.mark.parametrize("nb", MODULE_NBS, ids=lambda p: p.name)
def test_module_notebook(nb):
    "Each module notebook runs top to bottom; its asserts are the module's tests (slow cells included)."
    flags = "slow gpu" if torch.cuda.is_available() else "slow"
    r = _run(
        str(BIN / "nbdev_test"),
        "--path",
        str(nb),
        "--flags",
        flags,
        "--do_print",
        env={**os.environ, "HF_HUB_OFFLINE": "1"},
        timeout=1800,
    )
    assert r.returncode == 0, f"{nb.name} failed:\n{r.stdout[-6000:]}\n{r.stderr[-6000:]}"


def _assert_leaves_unchanged(tool: str, folder: str, tmp: Path):
    """`tool` run in a copy of the project (settings.ini, nbs/, fma_wsss/) changes nothing in `folder`: the copy,
    so that other tests (pytest-xdist workers) never read a file while the tool rewrites it."""
    for name in ("settings.ini", "nbs", "fma_wsss"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, tmp / name)
    r = subprocess.run([str(BIN / tool)], cwd=tmp, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    changed = [
        str(f.relative_to(tmp))
        for f in sorted((tmp / folder).rglob("*"))
        if f.is_file() and "__pycache__" not in f.parts and "/.ipynb_checkpoints" not in str(f)
        and (not (ROOT / f.relative_to(tmp)).is_file() or (ROOT / f.relative_to(tmp)).read_bytes() != f.read_bytes())
    ]  # fmt: skip
    assert not changed, f"{tool} changed {changed[:10]}: run `make export` and commit"


def test_export_in_step(tmp_path):
    "nbdev_export leaves fma_wsss/ as it is: the package was exported from the committed notebooks."
    _assert_leaves_unchanged("nbdev_export", "fma_wsss", tmp_path)


def test_notebooks_clean(tmp_path):
    "nbdev_clean leaves nbs/ as it is (no outputs, execution counts or stray metadata committed)."
    _assert_leaves_unchanged("nbdev_clean", "nbs", tmp_path)


@pytest.mark.parametrize("nb", ALL_NBS, ids=lambda p: str(p.relative_to(ROOT / "nbs")))
def test_kernelspec_python3(nb):
    ks = json.loads(nb.read_text())["metadata"].get("kernelspec", {})
    assert ks.get("name") == "python3", f"{nb}: kernelspec {ks}"


def test_parameters_tag_survives_clean():
    "Experiment notebooks keep papermill's `parameters` tag (settings.ini allowed_cell_metadata_keys)."
    exp = sorted((ROOT / "nbs" / "experiments").glob("*.ipynb"))
    if not exp:
        pytest.skip("no experiment notebooks yet")
    for nb in exp:
        cells = json.loads(nb.read_text())["cells"]
        assert any("parameters" in c.get("metadata", {}).get("tags", []) for c in cells), nb.name


def test_papermill_sees_every_parameter():
    "papermill's inspector parses each parameter line (an '=' in a comment or a `X | None` annotation hides it)."
    import ast

    import nbformat
    from papermill.translators import PythonTranslator

    exp = sorted((ROOT / "nbs" / "experiments").glob("*.ipynb"))
    if not exp:
        pytest.skip("no experiment notebooks yet")
    for nb in exp:
        cell = next(c for c in nbformat.read(nb, 4).cells if "parameters" in c.metadata.get("tags", []))
        names = [n.target.id for n in ast.parse(cell.source).body]
        seen = [p.name for p in PythonTranslator.inspect(cell)]
        assert seen == names, f"{nb.name}: papermill sees {seen}, the cell defines {names}"

"""The shape of the code base (issue 9): one settings layer, one implementation per METHOD step, no copied
sections, one meaning per class name, and ruff's lint and format rules."""

import dataclasses
import importlib
import pkgutil
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fma_wsss
from fma_wsss.config import RunConfig, setting_names

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _modules():
    return [importlib.import_module(f"fma_wsss.{m.name}") for m in pkgutil.iter_modules(fma_wsss.__path__)
            if not m.name.startswith("_")]  # fmt: skip


def _settings_classes() -> dict[str, type]:
    "Every `*Settings` dataclass defined in the package, by name."
    out = {}
    for mod in _modules():
        for name, obj in vars(mod).items():
            if name.endswith("Settings") and dataclasses.is_dataclass(obj) and obj.__module__ == mod.__name__:
                out[name] = obj
    return out


def test_every_settings_field_is_a_setting():
    "Each field of each module's settings dataclass is reachable by name (profiles, -p, sweeps)."
    sections = {f.name: f.default_factory().__class__ for f in dataclasses.fields(RunConfig) if f.name != "profile"}
    names = set(setting_names())
    classes = _settings_classes()
    assert {"DataSettings", "ClipSettings", "PromptSettings", "TrainSettings", "CamSettings", "MaskSettings",
            "SeedSettings", "SegmenterSettings", "RunSettings"} <= set(classes)  # fmt: skip
    missing = []
    for cname, cls in classes.items():
        homes = [s for s, t in sections.items() if issubclass(t, cls)]
        assert homes, f"{cname} is the type of no section of RunConfig"
        missing += [f"{s}.{f.name}" for s in homes for f in dataclasses.fields(cls) if f"{s}.{f.name}" not in names]
    assert not missing, missing


def test_no_two_classes_share_a_name():
    seen: dict[str, str] = {}
    clash = []
    for mod in _modules():
        for name, obj in vars(mod).items():
            if isinstance(obj, type) and obj.__module__ == mod.__name__:
                if name in seen and seen[name] != mod.__name__:
                    clash.append((name, seen[name], mod.__name__))
                seen[name] = mod.__name__
    assert not clash, clash


def _code(module: str) -> str:
    "The package module's source without comments and docstrings' prose lines."
    return (ROOT / "fma_wsss" / f"{module}.py").read_text()


def test_one_grad_cam():
    "Gradients w.r.t. the CLIP activation are taken in one place (fma_wsss.cam.grad_cam): training uses it."
    users = [p.stem for p in (ROOT / "fma_wsss").glob("*.py") if "autograd.grad(" in p.read_text()]
    assert users == ["cam"], users
    assert "grad_cam(" in _code("train")


def test_one_cam_reader():
    "CAM files are read by fma_wsss.infer.load_cams only; seeding and figures go through it."
    readers = [p.stem for p in (ROOT / "fma_wsss").glob("*.py") if re.search(r"np\.load\(", p.read_text())]
    assert readers == ["infer"], readers


@pytest.mark.skipif(shutil.which("duplicates") is None, reason="the `duplicates` tool is not on PATH")
def test_no_copied_notebook_sections(tmp_path):
    "The notebooks (module and experiment), as text, share no run of 10 or more lines."
    for nb in sorted((ROOT / "nbs").rglob("*.ipynb")):
        name = str(nb.relative_to(ROOT / "nbs")).replace("/", "_").removesuffix(".ipynb")
        to_py = [sys.executable, str(ROOT / "scripts" / "nbpy.py"), "to-py", str(nb), str(tmp_path / f"{name}.py")]
        subprocess.run(to_py, check=True)
    r = subprocess.run(["duplicates", "--repo", str(tmp_path), "--min-lines", "10", "--most", "20", "--seconds", "120"],
                       capture_output=True, text=True, cwd=tmp_path)  # fmt: skip
    assert r.stdout.startswith("no duplicates"), r.stdout


RUFF_PATHS = ["nbs", "tests", "scripts", "benchmarks"]


def test_ruff_lint():
    r = subprocess.run([str(BIN / "ruff"), "check", *RUFF_PATHS], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:]


def test_ruff_format():
    r = subprocess.run([str(BIN / "ruff"), "format", "--check", *RUFF_PATHS], cwd=ROOT, capture_output=True, text=True)
    assert r.returncode == 0, r.stdout[-4000:]

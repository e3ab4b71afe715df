"""Installed outside the checkout: the built wheel goes into a fresh venv and `fma-wsss run smoke` works from an
empty folder (profiles, experiment notebooks and the demo set are package data; data/ and reports/ are made
under the current folder).

The fresh venv reuses the project venv's packages through a .pth file (no downloads; `--no-deps`), so only
fma_wsss itself comes from the wheel; the test checks that the fma_wsss imported is the installed one. A
.pth file brings modules but not data files, so JUPYTER_PATH points at the project venv's nbconvert HTML
templates (and nothing else: the kernel must be the new venv's python), which a normal install of the
dependencies puts in the venv itself."""

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _env(**extra) -> dict:
    "This environment without anything pointing at the checkout or the project's folders."
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("FMA_WSSS_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    return {**env, "HF_HUB_OFFLINE": "1", "FMA_WSSS_OFFLINE": "1", **extra}


@pytest.mark.slow
def test_wheel_installs_and_runs_smoke_from_an_empty_folder(tmp_path):
    wheels, venv, work = tmp_path / "wheels", tmp_path / "venv", tmp_path / "empty"
    jupyter = tmp_path / "jupyter"  # nbconvert's templates only: the kernel must be the new venv's own python3
    jupyter.mkdir()
    (jupyter / "nbconvert").symlink_to(Path(sysconfig.get_paths()["data"]) / "share" / "jupyter" / "nbconvert")
    env = _env(JUPYTER_PATH=str(jupyter))
    run = lambda *cmd, **kw: subprocess.run([str(c) for c in cmd], capture_output=True, text=True, env=env, **kw)  # noqa: E731

    r = run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", wheels, ROOT)
    assert r.returncode == 0, r.stderr
    (wheel,) = wheels.glob("fma_wsss-*.whl")
    r = run(sys.executable, "-m", "venv", "--without-pip", venv)
    assert r.returncode == 0, r.stderr
    py = venv / "bin" / "python"
    site = Path(run(py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])").stdout.strip())
    (site / "project_venv.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # the project's packages
    r = run(py, "-m", "pip", "install", "--no-deps", "--ignore-installed", "-q", wheel)
    assert r.returncode == 0, r.stderr
    work.mkdir()
    r = run(py, "-c", "import fma_wsss, fma_wsss.cli; print(fma_wsss.__file__); print(fma_wsss.cli.experiments_dir())",
            cwd=work)  # fmt: skip
    lib, exps = r.stdout.split()
    assert Path(lib).is_relative_to(venv) and Path(exps) == Path(lib).parent / "experiments", r.stdout + r.stderr
    assert (Path(lib).parent / "demo" / "JPEGImages" / "skimage_chelsea.jpg").is_file()
    assert (Path(lib).parent / "profiles" / "zero-shot.yaml").is_file()

    r = run(py, "-m", "fma_wsss", "--version", cwd=work)  # the console script itself runs below
    assert r.returncode == 0 and r.stdout.startswith("fma-wsss "), r.stderr
    r = run(venv / "bin" / "fma-wsss", "run", "smoke", "--no-progress", cwd=work, timeout=600)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    (run_dir,) = (work / "reports").iterdir()  # reports/ and data/ under the current folder
    assert (run_dir / "00_pipeline.html").is_file() and (run_dir / "metrics.json").is_file()
    assert (
        work / "data" / "cache"
    ).is_dir() and f"run folder: {run_dir}" in r.stdout  # the kernel ran the wheel's code

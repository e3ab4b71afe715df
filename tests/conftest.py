"""Shared pytest set-up: offline hub look-ups, the project root, and markers."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # hub look-ups fail at once instead of retrying
os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "0")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


def fma(*args, env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    "`fma-wsss ARGS` in a subprocess from the project root, with `env` (default: this process's environment)."
    exe = Path(sys.executable).parent / "fma-wsss"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "fma_wsss"]
    env = os.environ.copy() if env is None else env
    return subprocess.run(cmd + list(args), cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def module_env(tmp_path_factory, request):
    """Cache and reports in a temporary folder of the test module, set in os.environ while its tests run (the
    papermill kernels and `fma` inherit it) and restored after."""
    base = tmp_path_factory.mktemp(request.module.__name__.removeprefix("test_"))
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("FMA_WSSS_CACHE", str(base / "cache"))
        mp.setenv("FMA_WSSS_REPORTS", str(base / "reports"))
        mp.setenv("HF_HUB_OFFLINE", "1")
        mp.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])))
        yield base


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes more than a few seconds")
    config.addinivalue_line("markers", "gpu: needs a CUDA device")


# The files that take minutes (end-to-end runs through papermill), started first: `make test`'s pytest-xdist
# workers take whole files in this order, so the many short notebook tests fill the end instead of one long
# file running alone on one worker.
LONG_FILES = ["test_reports", "test_distributed", "test_beyond", "test_experiments", "test_cache", "test_install",
              "test_structure", "test_own_data"]  # fmt: skip


def pytest_collection_modifyitems(config, items):
    import torch

    rank = {name: i for i, name in enumerate(LONG_FILES)}
    items.sort(key=lambda it: rank.get(it.path.stem, len(LONG_FILES)))  # stable: a file keeps its own order
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA device; none here")
    for it in items:
        if "gpu" in it.keywords:
            it.add_marker(skip)

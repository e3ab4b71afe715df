"""Shared pytest set-up: offline hub look-ups, the project root, and markers."""

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # hub look-ups fail at once instead of retrying
os.environ.setdefault("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD", "0")

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def root() -> Path:
    return ROOT


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

"""Execute module notebooks in place and keep their outputs (the figures and tables they show).

    .venv/bin/python scripts/run_nb.py nbs/09_masks.ipynb nbs/10_seeding.ipynb
    .venv/bin/nbdev_clean            # then strip execution counts and metadata, keeping the outputs

Cells flagged `#| gpu` are skipped when there is no CUDA device (as nbdev_test skips them); `#| slow`
cells run. A failing cell stops with the notebook unchanged on disk.
"""

import os
import sys
from pathlib import Path

import torch
from execnb.nbio import read_nb, write_nb
from execnb.shell import CaptureShell


def _skip(cell) -> bool:
    if cell.cell_type != "code":
        return True
    flags = {ln.strip()[3:].strip() for ln in cell.source.splitlines() if ln.strip().startswith("#|")}
    return ("gpu" in flags and not torch.cuda.is_available()) or "eval: false" in flags


def run(path: Path):
    nb = read_nb(path)
    shell = CaptureShell(path)
    old = Path.cwd()
    os.chdir(path.parent)
    try:
        shell.run_all(nb, exc_stop=True, preproc=_skip)
    finally:
        os.chdir(old)
    write_nb(nb, path)


if __name__ == "__main__":
    for p in sys.argv[1:]:
        print(f"running {p}")
        run(Path(p).resolve())

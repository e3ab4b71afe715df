# The two commands of README.md. Both set up .venv first (idempotent: seconds when nothing changed).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export PYTHONUNBUFFERED := 1
TEST_WORKERS ?= 2  # pytest-xdist workers of `make test`; a test file stays on one worker (its module fixtures run once)

.PHONY: setup run test export nb-outputs bench gpu-check
setup:
	bash scripts/setup.sh

## run: set up, then run the main job (the pipeline on the embedded demo set) into reports/
run: setup
	$(VENV)/bin/fma-wsss run demo

## test: set up, then run the whole test suite (nbdev notebook tests, hygiene, smoke runs, end to end)
test: setup
	$(PY) -m pytest -ra -n $(TEST_WORKERS) --dist loadfile tests

export:
	$(VENV)/bin/nbdev_export && $(VENV)/bin/nbdev_clean

## nb-outputs: re-execute the module notebooks whose outputs are kept (a CAM, masks by level, a seed next to
## ground truth: the last section of each), after editing them
NB_WITH_OUTPUTS := 06_cam 09_masks 10_seeding
nb-outputs: setup
	cd nbs && for nb in $(NB_WITH_OUTPUTS); do ../$(VENV)/bin/jupyter nbconvert --to notebook --execute --inplace \
	  --ExecutePreprocessor.timeout=1800 $$nb.ipynb || exit 1; done
	$(VENV)/bin/nbdev_clean

## bench: every benchmark in turn, then one summary: per stage, seconds per image next to the previous run's
## (benchmarks/results/<name>.json, read before it is overwritten) and the 1-min load average (CPU figures)
bench: setup
	for b in cam sam sam2 precision seeding metrics train segmenter pipeline distributed; do $(PY) benchmarks/bench_$$b.py || exit 1; done
	$(PY) benchmarks/_summary.py

## gpu-check: on a machine with CUDA, what only a GPU can measure (GPU tests, CAM/SAM/training/stage-2 speed, a
## pipeline run on cuda) in one prepared run; refuses without CUDA. Results: benchmarks/results/gpu.{json,md}
gpu-check: setup
	$(PY) benchmarks/gpu_check.py

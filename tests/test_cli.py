"""`fma-wsss` from the outside: --help for every sub-command, and the error paths (one line, exit code 2).

Two tests run the real console script in a subprocess; the others call the same `main()` in-process
(a fresh Python costs seconds of imports each on this machine)."""

import contextlib
import io
import os
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUBCOMMANDS = ["run", "sweep", "report", "weights", "data"]


def fma_process(*args, env=None, timeout=300):
    "Run the console script (or the same entry point through python when it is not installed)."
    exe = shutil.which("fma-wsss", path=str(Path(sys.executable).parent))
    cmd = [exe] if exe else [sys.executable, "-c", "import sys; from fma_wsss.cli import main; sys.exit(main())"]
    return subprocess.run(
        cmd + list(args),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), **(env or {})},
    )


def fma(*args, env=None):
    "`main(args)` in this process, with stdout/stderr captured and `env` set around the call."
    from fma_wsss.cli import main

    out, err, old = io.StringIO(), io.StringIO(), {k: os.environ.get(k) for k in env or {}}
    os.environ.update(env or {})
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                rc = main(list(args))
            except SystemExit as e:
                rc = e.code
    finally:
        for k, v in old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return SimpleNamespace(returncode=rc, stdout=out.getvalue(), stderr=err.getvalue())


def test_console_script_help_and_error():
    "The installed entry point: --help exits 0; a bad profile is one line on stderr and exit code 2."
    r = fma_process("--help")
    assert r.returncode == 0 and all(c in r.stdout for c in SUBCOMMANDS), r.stderr
    r = fma_process("run", "paper-vco")
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "unknown profile 'paper-vco'" in r.stderr, r.stderr


@pytest.mark.parametrize("cmd", SUBCOMMANDS)
def test_subcommand_help(cmd):
    r = fma(cmd, "--help")
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"usage: fma-wsss {cmd}") and "-h, --help" in r.stdout


def _one_line_error(r):
    assert r.returncode == 2, (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr, r.stderr
    lines = [line for line in r.stderr.splitlines() if line.startswith("fma-wsss: error:")]
    assert len(lines) == 1, r.stderr
    return lines[0]


def test_unknown_profile():
    msg = _one_line_error(fma("run", "paper-vco", "--out", "/tmp/never-made"))
    assert "unknown profile 'paper-vco'" in msg and "did you mean 'paper-voc'" in msg and "smoke" in msg
    assert not Path("/tmp/never-made").exists()  # validation happens before anything is created


def test_bad_parameter_name_and_type():
    r = fma("run", "smoke", "-p", "seeds.bg_powr_fine", "0.5", "-p", "prompts_cls.iterations", "many")
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert "unknown setting 'seeds.bg_powr_fine' (did you mean 'seeds.bg_power_fine'" in r.stderr
    assert "prompts_cls.iterations: expected int, got 'many'" in r.stderr


def test_ambiguous_and_bad_choice():
    r = fma("run", "smoke", "-p", "iterations", "3", "-p", "masks.generator", "sam3")
    assert r.returncode == 2 and "ambiguous" in r.stderr and "'prompts_cls.iterations'" in r.stderr
    assert "masks.generator: expected 'sam' | 'sam2' | 'slic' | 'felzenszwalb', got 'sam3'" in r.stderr


def test_missing_dataset_root(tmp_path):
    msg = _one_line_error(fma("data", "check", str(tmp_path / "nope")))
    assert f"dataset root {tmp_path / 'nope'} does not exist" in msg


def test_data_check_names_what_is_missing(tmp_path):
    from fma_wsss.data import make_fake_voc

    make_fake_voc(tmp_path, n_train=2, n_val=1)
    r = fma("data", "check", str(tmp_path))
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stdout + r.stderr
    (tmp_path / "VOCdevkit/VOC2012/JPEGImages/2012_000001.jpg").unlink()
    r = fma("data", "check", str(tmp_path), "--dataset", "voc")
    assert (
        r.returncode == 2 and "voc/train_aug: 1 of 2 images missing, e.g." in r.stdout and "2012_000001.jpg" in r.stdout
    )
    r = fma("data", "check", str(tmp_path), "--dataset", "coco")
    assert r.returncode == 2 and "coco/train: no split file" in r.stdout


def test_sweep_file_errors(tmp_path):
    f = tmp_path / "s.yaml"
    msg = _one_line_error(fma("sweep", str(f)))
    assert "does not exist" in msg
    f.write_text("profile: smoke\ngrid: {seeds.bg_power_fine: [0.5, loud]}\n")
    r = fma("sweep", str(f))
    assert r.returncode == 2 and "seeds.bg_power_fine: expected float, got 'loud'" in r.stderr
    assert not (tmp_path / "s").exists()


def test_report_on_a_folder_without_notebooks(tmp_path):
    msg = _one_line_error(fma("report", str(tmp_path)))
    assert "no executed notebook" in msg


def test_weights_list_and_unknown():
    r = fma("weights", "list", env={"FMA_WSSS_WEIGHTS": "/nonexistent-weights"})
    assert r.returncode == 0 and "clip_vit_b16_openai" in r.stdout and "missing" in r.stdout
    msg = _one_line_error(fma("weights", "verify", "sam_vit_q"))
    assert "unknown weights 'sam_vit_q'" in msg

"""The demo report a researcher opens first: `fma-wsss run demo` end to end (papermill, a fresh cache), then
the report is checked as a reader meets it: the summary and headline table before any figure, no log or
mmengine config inline (they are files of the run folder, the log folded), every image an embedded JPEG,
the page under 1.5 MB; the terminal shows the run's log and no kernel noise; headless Chromium draws the
page (when Debian's chromium is installed; CI installs it). Also: `fma-wsss runs`, and an unknown papermill
parameter stopping a notebook. See reports/README.md ("Checking that a report renders")."""

import functools
import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import fma
from PIL import Image

from fma_wsss import runs

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
MAX_BYTES = 1_500_000  # the demo report (16 figures, 4 images): 1.3 MB measured
CONFIG_TEXT = ("train_dataloader", "data_preprocessor", "optim_wrapper", "System environment")  # mmengine's dumps

pytestmark = pytest.mark.slow


def _env(base: Path) -> dict:
    return {
        **os.environ,
        "FMA_WSSS_CACHE": str(base / "cache"),
        "FMA_WSSS_REPORTS": str(base / "reports"),
        "HF_HUB_OFFLINE": "1",
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }


_fma = functools.partial(fma, timeout=1800)  # the demo run: a few minutes


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> dict:
    """`fma-wsss run demo` once (a fresh cache: every stage computed, mmengine's output included), with 8 stage-2
    iterations instead of 40: the same report, a minute or two sooner."""
    base = tmp_path_factory.mktemp("demo")
    env = _env(base)
    r = _fma("run", "demo", "-p", "segmenter.iterations", "8", env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-6000:]
    run_dir = Path(r.stdout.strip().splitlines()[-1].removeprefix("run folder: "))
    return {"dir": run_dir, "html": run_dir / "00_pipeline.html", "stderr": r.stderr, "env": env, "base": base}


def test_report_reads_top_down(demo):
    "Title, summary, headline table, then the figures; the log folded at the end; the untrained banner once."
    html = demo["html"].read_text()
    first_img = html.index("<img")
    assert html.index("The whole pipeline") < html.index('id="fma-wsss-summary"') < html.index('id="fma-wsss-headline"')
    assert html.index('id="fma-wsss-headline"') < html.index('id="fma-wsss-stages"') < first_img
    assert html.index("<details><summary>Log:") > html.rindex("<img")  # the log comes last, folded
    assert html.count(f'id="{runs.BANNER_ID}"') == 1
    headline = html[html.index('id="fma-wsss-headline"') : html.index("</table>", html.index('id="fma-wsss-headline"'))]
    assert all(k in headline for k in ("coarse_seed_miou", "seed_miou", "final_miou"))
    assert not re.search(r"\d\.\d{4,}", headline), "unrounded numbers in the headline table"
    assert 'class="highlight hl-ipython3"' not in html  # no code cells in the report


def test_no_logs_or_config_inline(demo):
    "The mmseg config and mmengine's dumps are in run.log / segmenter_config.py, never in the page."
    html = demo["html"].read_text()
    config = (demo["dir"] / "segmenter_config.py").read_text()
    assert "train_dataloader" in config and "data_preprocessor" in config  # what must not be in the page
    log = (demo["dir"] / "run.log").read_text()
    assert "System environment" in log and "computing segmenter" in log and "Iter(train)" in log
    for s in CONFIG_TEXT:
        assert s not in html, f"{s!r} is in the report"
    assert "\r" not in html and "it/s]" not in html.split("<details>")[0]  # progress bars only in the folded log
    assert 'href="run.log"' in html and 'href="segmenter_config.py"' in html


def test_report_is_small_and_images_are_jpeg(demo):
    "Under 1.5 MB; every image embedded as a JPEG that decodes; the figures folder keeps PNGs."
    size = demo["html"].stat().st_size
    assert size < MAX_BYTES, f"the demo report is {size / 1e6:.2f} MB"
    html = demo["html"].read_text()
    srcs = re.findall(r"<img[^>]*?\ssrc=\"data:image/([a-z]+);", html)
    imgs = runs.html_images(html)
    assert len(imgs) >= 12 and set(srcs) == {"jpeg"}, srcs
    for b in imgs:
        im = Image.open(io.BytesIO(b))
        im.load()
        assert im.format == "JPEG" and min(im.size) > 100 and np.asarray(im.convert("L")).std() > 5
    pngs = list((demo["dir"] / "figures").glob("*.png"))
    assert len(pngs) == len(imgs) and all(Image.open(p).format == "PNG" for p in pngs)


def test_terminal_shows_the_log_and_no_kernel_noise(demo):
    "The CLI follows run.log on stderr (stage lines, bars); no TCP warning, no KeyboardInterrupt."
    err = demo["stderr"]
    assert "computing masks" in err and "segmenter" in err, err[-2000:]
    assert "without encryption" not in err and "KeyboardInterrupt" not in err, err[-2000:]


def test_runs_command(demo):
    "`fma-wsss runs DIR` prints the run with its profile and headline numbers and writes runs.csv and runs.html."
    reports = demo["base"] / "reports"
    r = _fma("runs", str(reports), env=demo["env"], timeout=300)
    assert r.returncode == 0, r.stderr
    assert demo["dir"].name in r.stdout and "demo" in r.stdout and "ok (untrained)" in r.stdout
    row = next(x for x in (reports / "runs.csv").read_text().splitlines()[1:] if demo["dir"].name in x)
    m = json.loads((demo["dir"] / "metrics.json").read_text())
    assert f"{100 * m['seed_miou']:.1f}" in row
    assert "<table" in (reports / "runs.html").read_text()


def test_failed_run_is_recorded_without_kernel_noise(tmp_path):
    "A run that fails in a stage: one error line, FAILED.json in its folder, no KeyboardInterrupt on stderr."
    env = _env(tmp_path)
    out = tmp_path / "failing"
    r = _fma("run", "smoke", "--notebook", "01_sam_masks", "--out", str(out), "-p", "data.dataset", "voc",
             "-p", "data.root", str(tmp_path / "no-such-voc"), env=env, timeout=600)  # fmt: skip
    assert r.returncode == 2 and "no-such-voc" in r.stderr, r.stderr[-3000:]
    assert "KeyboardInterrupt" not in r.stderr and "without encryption" not in r.stderr, r.stderr[-3000:]
    failed = json.loads((out / "FAILED.json").read_text())
    assert "no-such-voc" in failed["error"] and "Traceback" in Path(failed["traceback"]).read_text()
    assert (out / "01_sam_masks.html").is_file()


def test_unknown_papermill_parameter_stops_the_notebook(tmp_path):
    "`papermill 05_fine_seeds.ipynb out.ipynb -p bg_powr_fine 0.5`: an error naming it and the valid ones."
    papermill = Path(sys.executable).parent / "papermill"
    nb = ROOT / "nbs" / "experiments" / "05_fine_seeds.ipynb"
    cmd = [str(papermill), str(nb), str(tmp_path / "out.ipynb"), "-p", "bg_powr_fine", "0.5", "--cwd", str(nb.parent)]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=_env(tmp_path))
    assert r.returncode != 0, r.stderr[-3000:]
    assert "ParameterError" in r.stderr and "bg_powr_fine (did you mean bg_power_fine" in r.stderr, r.stderr[-3000:]
    assert "profile, overrides, out_dir, bg_power_coarse, bg_power_fine" in r.stderr
    assert not (tmp_path / "reports").exists()  # stopped before it made a run folder


@pytest.mark.skipif(not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium; CI installs it)")
def test_report_screenshot_headless_chromium(demo, tmp_path):
    "Headless Chromium draws the top of the report: not blank, the red banner near the top, tables and a figure."
    shot = tmp_path / "shot.png"
    cmd = [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={tmp_path / 'profile'}",
        f"--screenshot={shot}",
        "--window-size=1200,2400",
        demo["html"].resolve().as_uri(),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert shot.is_file(), f"chromium wrote no screenshot (rc {r.returncode}):\n{r.stderr[-3000:]}"
    px = np.asarray(Image.open(shot).convert("RGB")).astype(np.float64)
    assert px.shape[:2] == (2400, 1200) and px.var() > 100, "the screenshot is blank"
    red = (np.abs(px - (204, 0, 0)).max(-1) < 30).mean(1) > 0.5  # rows mostly banner red
    assert red[:400].sum() >= 20, f"the untrained banner is not near the top ({red[:400].sum()} red rows)"
    # the first figures (masks over photos: colourful) are drawn below the tables
    colourful = ((px.max(-1) - px.min(-1) > 60) & ~(np.abs(px - (204, 0, 0)).max(-1) < 30)).mean()
    assert colourful > 0.01, f"only {colourful:.2%} of the page is in colour: the figures are not drawn"
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)

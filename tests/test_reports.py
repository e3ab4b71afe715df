"""The demo report renders: a tiny notebook that makes figures with fma_wsss.figures is executed in a real
kernel, rendered to HTML with render_html, every <img> is checked to decode, and (when Debian's chromium is
installed) a headless screenshot of the page is checked to show the figures and the untrained banner.
See reports/README.md ("Checking that a report renders")."""

import io
import os
import shutil
import subprocess
from pathlib import Path

import nbformat
import numpy as np
import pytest
from PIL import Image

from fma_wsss import figures, runs

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")

CELLS = [
    ("markdown", "# Demo report\nA tiny run made by tests/test_reports.py."),
    ("code", "from fma_wsss import runs\nruns.show_banner(True)"),
    (
        "code",
        "import numpy as np\n"
        "img = np.zeros((48, 64, 3), np.uint8); img[10:30, 10:40] = (200, 30, 30)\n"
        "cam = np.zeros((1, 3, 4), np.float32); cam[0, 1, 1] = 1.0\n"
        "from fma_wsss import figures\nfigures.show(figures.cam_panel(img, cam, ['aeroplane'], image_id='demo', banner=True))",
    ),
    (
        "code",
        "fig = figures.iou_bars([0.9, 0.4, np.nan], ['background', 'aeroplane', 'bicycle'], what='the demo', banner=True)\n"
        "figures.save_figure(fig, '.', 'iou')\nfigures.show(fig)",
    ),
    ("markdown", "The saved figure, as a markdown image:\n\n![iou](figures/iou.png)"),
]


def _make_run(run_dir: Path) -> Path:
    "Write, execute (real python3 kernel, cwd = run folder) and save the demo notebook; return its path."
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook(
        metadata={"kernelspec": {"name": "python3", "display_name": "python3", "language": "python"}}
    )
    nb.cells = [
        nbformat.v4.new_markdown_cell(s) if kind == "markdown" else nbformat.v4.new_code_cell(s) for kind, s in CELLS
    ]
    env_path = os.environ.get("PYTHONPATH", "")
    os.environ["PYTHONPATH"] = (
        f"{ROOT}{os.pathsep}{env_path}" if env_path else str(ROOT)
    )  # the kernel imports fma_wsss from here
    try:
        NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(run_dir)}}).execute()
    finally:
        if env_path:
            os.environ["PYTHONPATH"] = env_path
        else:
            del os.environ["PYTHONPATH"]
    p = run_dir / "demo.ipynb"
    nbformat.write(nb, str(p))
    runs.write_json(run_dir / "metrics.json", {"miou": 0.65, "meaningless": True})
    return p


@pytest.fixture(scope="module")
def demo_html(tmp_path_factory) -> Path:
    run = runs.new_run_dir("demo", tmp_path_factory.mktemp("reports"))
    return runs.render_html(_make_run(run))


@pytest.mark.slow
def test_html_images_decode(demo_html):
    "Every <img> of the HTML is an embedded image that decodes: two notebook outputs and one markdown image."
    html = demo_html.read_text()
    imgs = runs.html_images(html)
    assert len(imgs) == 3, f"expected 3 images, found {len(imgs)}"
    for b in imgs:
        im = Image.open(io.BytesIO(b))
        im.load()
        assert min(im.size) > 100 and np.asarray(im.convert("L")).std() > 5  # a real figure, not a blank tile
    assert html.count(f'id="{runs.BANNER_ID}"') == 1 and figures.BANNER in html


@pytest.mark.slow
@pytest.mark.skipif(
    not CHROMIUM.exists(), reason="no /usr/bin/chromium (apt-get install chromium) to screenshot the report"
)
def test_html_screenshot_headless_chromium(demo_html, tmp_path):
    "Headless chromium draws the page: the screenshot is not blank and the red banner is at the top."
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
        "--window-size=1200,2000",
        demo_html.resolve().as_uri(),
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert shot.is_file(), f"chromium wrote no screenshot (rc {r.returncode}):\n{r.stderr[-3000:]}"
    px = np.asarray(Image.open(shot).convert("RGB")).astype(np.float64)
    assert px.shape[:2] == (2000, 1200)
    assert px.var() > 100, "the screenshot is blank"
    # figures are the page's colour (heat maps, palette bars); text, code and broken-image icons are
    # nearly grey. Measured: 3.5% colourful pixels with the figures, 0.2% with their images broken.
    banner_red = np.abs(px - (204, 0, 0)).max(-1) < 30
    colourful = ((px.max(-1) - px.min(-1) > 60) & ~banner_red).mean()
    assert colourful > 0.01, f"only {colourful:.2%} of the page is in colour: the figures are not drawn"
    top = px[:400]  # the banner (#c00 block, shown by the notebook's first code cell) near the top of the page
    red_rows = ((np.abs(top - (204, 0, 0)).max(-1) < 30).mean(1) > 0.5).sum()
    assert red_rows >= 20, f"the untrained banner is not visible near the top ({red_rows} red rows)"
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)

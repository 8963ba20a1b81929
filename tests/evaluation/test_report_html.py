"""report.html: one self-contained page, checked in a real headless Chromium."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from router_svc.evaluation.replay_bench import BenchOptions, BenchRun, ReplayBench

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


@pytest.fixture(scope="module")
def tiny_report(tmp_path_factory: pytest.TempPathFactory) -> BenchRun:
    out = tmp_path_factory.mktemp("report")
    options = BenchOptions(bootstrap=50, k=2, vectors="hashing", ablation=False)
    return ReplayBench(options).run(FIXTURES / "replay_tiny.jsonl", out)


def test_the_page_is_self_contained(tiny_report: BenchRun) -> None:
    folder, results = tiny_report.folder, tiny_report.results
    page = (folder / "report.html").read_text(encoding="utf-8")
    assert page.count("data:image/png;base64,") == len(results["plots"])
    assert not re.search(r"""(src|href)=["'](?!data:)""", page), "a link outside the page"
    for name in results["strategies"]:
        assert f'data-v="{name}"' in page


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is None:
        pytest.fail("chromium is not installed: `make test` installs it (apt-get)")
    return found


def _browser(*arguments: str) -> subprocess.CompletedProcess[str]:
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars"]
    return subprocess.run(
        [_chromium(), *flags, *arguments], capture_output=True, text=True, timeout=120, check=True
    )


@pytest.mark.slow
def test_chromium_renders_table_and_plots(tiny_report: BenchRun, tmp_path: Path) -> None:
    folder, results = tiny_report.folder, tiny_report.results
    page = (folder / "report.html").read_text(encoding="utf-8")
    probed = tmp_path / "probed.html"
    probed.write_text(page.replace("</body>", _SIZES + "</body>"), encoding="utf-8")
    dom = _browser("--dump-dom", probed.as_uri()).stdout
    table = re.search(r'<table class="sortable" id="strategies">.*?</table>', dom, re.S)
    assert table is not None
    assert len(re.findall(r"<tr[ >]", table.group(0))) == len(results["strategies"]) + 1
    assert len(re.findall(r"<img ", dom)) == len(results["plots"])
    sizes = re.search(r'data-sizes="([^"]*)"', dom)
    assert sizes is not None, "the page's images were not measured"
    drawn = [tuple(map(int, size.split("x"))) for size in sizes.group(1).split(",")]
    assert drawn == [_png_size(folder / plot) for plot in results["plots"]]  # every plot decoded
    shot = tmp_path / "report.png"
    _browser(
        f"--screenshot={shot}",
        "--window-size=1280,2400",
        (folder / "report.html").resolve().as_uri(),
    )
    _assert_non_trivial(shot)


_SIZES = (
    '<script>addEventListener("load", () => document.body.setAttribute("data-sizes", '
    '[...document.images].map(i => i.naturalWidth + "x" + i.naturalHeight).join(",")))</script>'
)
"""Writes the decoded size of every image of the page into the DOM (0x0: it did not decode)."""


def _png_size(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as image:
        return image.size


def _assert_non_trivial(path: Path) -> None:
    """A real render: many distinct colours, not a blank or single-colour page."""
    from PIL import Image

    pixels = np.asarray(Image.open(path).convert("RGB"))
    assert pixels.shape[:2] == (2400, 1280)
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 50
    assert (pixels < 128).any(axis=2).mean() > 0.005, "almost no dark (text) pixels"


@pytest.mark.slow
def test_a_header_click_sorts_the_table(tiny_report: BenchRun, tmp_path: Path) -> None:
    """The page's own script, run by Chromium: one click on accuracy sorts high to low."""
    page = (tiny_report.folder / "report.html").read_text(encoding="utf-8")
    click = '<script>document.querySelectorAll("#strategies th")[2].click()</script>'
    clicked = tmp_path / "clicked.html"
    clicked.write_text(page.replace("</body>", click + "</body>"), encoding="utf-8")
    dom = _browser("--dump-dom", clicked.as_uri()).stdout
    rows = re.findall(r"<tr[^>]*>(.*?)</tr>", dom.split("<tbody>", 1)[1], re.S)
    shown = [float(re.findall(r'data-v="([^"]*)"', row)[2]) for row in rows]
    expected = sorted(s["accuracy"] for s in tiny_report.results["strategies"].values())
    assert shown == pytest.approx(expected[::-1], abs=1e-6)

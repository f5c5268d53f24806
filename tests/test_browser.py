"""The rendered book, as a reader's browser shows it: chapters in the sidebar, figures, typeset maths.

Runs headless Chromium on the HTML that `make book` wrote (``make test`` builds it first) and keeps
screenshots under ``_build/screenshots/``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import nbformat
import pytest
from bs4 import BeautifulSoup

ROOT = Path(__file__).resolve().parents[1]
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHAPTERS = [
    "01_next_word_prediction", "02_tokenization", "03_embeddings", "04_positions",
    "05_attention", "06_transformer", "07_sampling", "08_training",
]
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--virtual-time-budget=15000", "--window-size=1280,900",
]

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if path := shutil.which(name):
            return path
    if os.environ.get("CI"):
        pytest.fail("headless Chromium is missing on CI (.ci/run installs the Debian package 'chromium')")
    pytest.skip("headless Chromium is not installed (apt-get install chromium)")


def _page(name: str) -> Path:
    page = HTML / "book" / f"{name}.html"
    if not page.is_file():
        pytest.fail(f"{page} is missing: build the book first (make book)")
    return page


def _run(*args: str) -> str:
    with tempfile.TemporaryDirectory() as profile:
        result = subprocess.run(
            [_chromium(), *FLAGS, f"--user-data-dir={profile}", *args],
            capture_output=True, text=True, timeout=120,
        )
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stdout


def rendered(name: str) -> BeautifulSoup:
    """The page's DOM after its scripts (MathJax included) have run, and a screenshot of it."""
    page = _page(name)
    SHOTS.mkdir(parents=True, exist_ok=True)
    _run(f"--screenshot={SHOTS / (name + '.png')}", page.as_uri())
    return BeautifulSoup(_run("--dump-dom", page.as_uri()), "html.parser")


def chapter_title(name: str) -> str:
    nb = nbformat.read(ROOT / "book" / f"{name}.ipynb", as_version=4)
    first = next(c.source for c in nb.cells if c.cell_type == "markdown")
    return first.splitlines()[0].lstrip("# ").strip()


def assert_maths_typeset(dom: BeautifulSoup, page: str) -> None:
    """MathJax turned every formula into mjx-container elements and no TeX source is left in the text."""
    formulas = dom.select("span.math, div.math")
    assert formulas, f"{page}: no formula on the page"
    assert dom.find("mjx-container"), f"{page}: MathJax did not typeset anything (is it served locally?)"
    for formula in formulas:
        assert formula.find("mjx-container"), f"{page}: raw TeX left on the page: {formula.get_text()[:80]!r}"
    text = dom.select_one("main, article, body").get_text()
    assert "$$" not in text, f"{page}: a $$ formula was not parsed"


# Figures each chapter draws at the least (matplotlib PNGs in the built page).
MIN_FIGURES = {
    "01_next_word_prediction": 2, "02_tokenization": 1, "03_embeddings": 1, "04_positions": 1,
    "05_attention": 3, "06_transformer": 1, "07_sampling": 2, "08_training": 2,
}


def figures(dom: BeautifulSoup) -> list:
    """The images of a page's main content: PNG/SVG files or inline data."""
    article = dom.select_one("main") or dom
    return [img for img in article.find_all("img")
            if img.get("src", "").endswith((".png", ".svg")) or img.get("src", "").startswith("data:image")]


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_chapter_page_shows_its_figures(name: str):
    """A chapter whose plots vanish (e.g. a non-inline matplotlib backend in the kernel) fails here."""
    dom = BeautifulSoup(_page(name).read_text(encoding="utf-8"), "html.parser")
    images = figures(dom)
    assert len(images) >= MIN_FIGURES[name], f"{name}: {len(images)} figures, expected {MIN_FIGURES[name]}"
    for img in images:
        src = img["src"]
        if not src.startswith("data:"):
            assert (_page(name).parent / src).resolve().is_file(), f"{name}: broken image {src}"


def test_intro_page_lists_every_chapter_in_the_sidebar():
    dom = rendered("intro")
    sidebar = dom.select_one("nav.bd-links, .bd-sidebar-primary")
    assert sidebar is not None, "no sidebar on the intro page"
    links = [a.get_text(" ", strip=True) for a in sidebar.find_all("a")]
    targets = [a.get("href", "") for a in sidebar.find_all("a")]
    for name in CHAPTERS:
        assert any(name in href for href in targets), f"sidebar has no link to {name}"
        assert any(chapter_title(name) in link for link in links), f"sidebar lacks '{chapter_title(name)}'"
    assert (SHOTS / "intro.png").stat().st_size > 10_000, "the screenshot is blank"
    assert_maths_typeset(dom, "intro")


@pytest.mark.parametrize("name", ["05_attention", "08_training"])
def test_chapter_pages_show_their_figures_and_typeset_maths(name: str):
    dom = rendered(name)
    assert len(figures(dom)) >= MIN_FIGURES[name], f"{name}: figures missing in the browser"
    assert chapter_title(name) in dom.title.get_text(), f"{name}: page title is {dom.title.get_text()!r}"
    assert_maths_typeset(dom, name)
    assert not dom.select(".output.traceback, .output.error"), f"{name}: a cell error is rendered"

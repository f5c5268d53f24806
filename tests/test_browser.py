"""The rendered book, as a reader's browser shows it: chapters in the sidebar, figures, typeset maths,
and on every page at 1280x900 nothing that scrolls sideways, figures described and readable, no build
machinery, a bibliography that resolves, and each chapter's questions and exercise.

Runs headless Chromium (the command line, and Playwright driving the same browser) on the HTML that
`make book` wrote (``make test`` builds it first) and keeps screenshots under ``_build/screenshots/``.
``python tests/test_browser.py [_build/html]`` prints the page audit's counts for a built book.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from xml.etree import ElementTree

import nbformat
import pytest
import yaml
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


# ----------------------------------------------------------------------------- every page, in Playwright

WIDTH, HEIGHT = 1280, 900
MIN_FONT_PX = 9  # the smallest text of a figure, as displayed
EXERCISES = {
    "01_next_word_prediction": "01_next_word/", "02_tokenization": "02_tokenization/",
    "03_embeddings": "03_embeddings/", "04_positions": "04_positions/", "05_attention": "05_attention/",
    "06_transformer": "06_transformer/", "07_sampling": "07_sampling/", "08_training": "08_training/",
}

# What the page audit reads from the live page (layout needs a browser: widths after fonts and CSS).
AUDIT_JS = """() => {
  const article = document.querySelector('article') || document.body;
  const boxes = [...article.querySelectorAll('pre, div.highlight, .cell_output, .output, table')];
  const scrolling = boxes.filter(e => e.scrollWidth > e.clientWidth + 1)
                         .map(e => e.tagName + ': ' + e.textContent.trim().slice(0, 80));
  const code = [...article.querySelectorAll('.cell_input pre, div.highlight pre')]
                   .filter(e => e.offsetParent !== null).map(e => e.textContent);
  const images = [...article.querySelectorAll('img')].map(img => ({
      src: img.getAttribute('src') || '', alt: img.getAttribute('alt') || '',
      width: img.getBoundingClientRect().width}));
  const cites = [...article.querySelectorAll('a[href*="references.html#"]')].map(a => a.getAttribute('href'));
  const links = [...article.querySelectorAll('a[href]')].map(a => a.getAttribute('href'));
  return {scrolling, code, images, cites, links,
          pageScroll: document.documentElement.scrollWidth > window.innerWidth + 1,
          dropdowns: article.querySelectorAll('details.sd-dropdown, .sd-dropdown').length,
          text: article.innerText};
}"""


def pages() -> list[str]:
    """Every page of the book, from the table of contents (without the .html suffix, under book/)."""
    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for part in toc["parts"] for c in part["chapters"]]
    return [f.removeprefix("book/") for f in files]


def alt_problem(alt: str, src: str) -> str | None:
    """Why an image's alt text does not describe it (None when it does)."""
    text = alt.strip()
    if not text:
        return "no alt text"
    if re.search(r"\.(png|svg|jpe?g|gif)$", text, re.I) or "/" in text or text == Path(src).name:
        return f"alt text is a file name: {text!r}"
    if len(text) < 15:
        return f"alt text too short to describe a figure: {text!r}"
    return None


def svg_min_font_px(svg_file: Path, displayed_width: float) -> float | None:
    """The smallest font size of a matplotlib SVG's text, in CSS pixels at the width it is displayed."""
    root = ElementTree.parse(svg_file).getroot()
    view = root.get("viewBox")
    if not view or displayed_width <= 0:
        return None
    scale = displayed_width / float(view.split()[2])
    sizes = []
    for el in root.iter():
        if not el.tag.endswith("text"):
            continue
        style = (el.get("style") or "") + ";" + (el.get("font-size") or "")
        m = re.search(r"font(?:-size)?:\s*([\d.]+)px", style) or re.search(r"^;([\d.]+)", style)
        if m:
            sizes.append(float(m.group(1)) * scale)
    return min(sizes) if sizes else None


def audit_page(page, html: Path, name: str) -> dict:
    """The reader-facing problems of one built page, counted."""
    file = html / "book" / f"{name}.html"
    page.goto(file.as_uri())
    page.wait_for_load_state("load")
    data = page.evaluate(AUDIT_JS)
    problems = {"scrolling": list(data["scrolling"]) + (["the whole page"] if data["pageScroll"] else []),
                "glue": [m.group(0) for c in data["code"] for m in re.finditer(r"\bglue(_text|_number)?\([^,)]*", c)],
                "alt": [], "small_text": [], "cites": data["cites"], "links": data["links"],
                "dropdowns": data["dropdowns"], "text": data["text"], "images": len(data["images"])}
    for img in data["images"]:
        if why := alt_problem(img["alt"], img["src"]):
            problems["alt"].append(f"{img['src']}: {why}")
        if img["src"].endswith(".svg"):
            smallest = svg_min_font_px((file.parent / img["src"]).resolve(), img["width"])
            if smallest is not None and smallest < MIN_FONT_PX:
                problems["small_text"].append(f"{img['src']}: {smallest:.1f} px")
    return problems


@pytest.fixture(scope="module")
def browser_page():
    playwright = pytest.importorskip("playwright.sync_api")
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        yield page
        browser.close()


@pytest.fixture(scope="module")
def audits(browser_page) -> dict[str, dict]:
    for name in pages():
        _page(name)  # fails with a clear message when the book is not built
    return {name: audit_page(browser_page, HTML, name) for name in pages()}


# What a reader must never meet on a page, by the audit's name for it.
PROBLEMS = {
    "scrolling": "code blocks or outputs wider than their box at 1280 px (they scroll sideways)",
    "alt": "images without an alt text that describes them",
    "small_text": f"figures whose text is under {MIN_FONT_PX} px as displayed",
    "glue": "visible glue calls (build machinery)",
}


@pytest.mark.parametrize("problem", PROBLEMS)
@pytest.mark.parametrize("name", pages())
def test_pages_show_the_reader_no_machinery_and_nothing_unreadable(audits, name: str, problem: str):
    assert not audits[name][problem], f"{name}: {PROBLEMS[problem]}: {audits[name][problem][:5]}"


@pytest.mark.parametrize("name", pages())
def test_citations_resolve_to_bibliography_entries(audits, name: str):
    references = BeautifulSoup((HTML / "book" / "references.html").read_text(encoding="utf-8"), "html.parser")
    assert len(references.select("dl.citation > dt, div.citation, .citation")) >= 10, "bibliography is empty"
    for href in audits[name]["cites"]:
        anchor = href.split("#", 1)[1]
        assert references.find(id=anchor), f"{name}: citation {href} has no entry in the bibliography"
    assert "??" not in audits[name]["text"], f"{name}: an unresolved reference (??)"


def test_the_chapters_cite_their_sources(audits):
    cited = [name for name in CHAPTERS + ["09_closing"] if audits[name]["cites"]]
    assert len(cited) >= 7, f"only {cited} cite the bibliography"


@pytest.mark.parametrize("name", CHAPTERS)
def test_every_chapter_has_questions_and_its_exercise(audits, name: str):
    audit = audits[name]
    assert 3 <= audit["dropdowns"] <= 5, f"{name}: {audit['dropdowns']} questions with answers to reveal"
    assert any(f"exercises/{EXERCISES[name]}" in href and href.endswith(".ipynb") for href in audit["links"]), (
        f"{name}: no link to its exercise notebook"
    )
    assert f"python -m gpt2ref.course.selfcheck exercises/{EXERCISES[name]}" in audit["text"], name


def test_two_chapters_are_photographed_at_1280(browser_page):
    SHOTS.mkdir(parents=True, exist_ok=True)
    for name in ["03_embeddings", "08_training"]:
        browser_page.goto(_page(name).as_uri())
        path = SHOTS / f"{name}-1280.png"
        browser_page.screenshot(path=str(path), full_page=False)
        assert path.stat().st_size > 20_000, f"{path} is blank"


def count(html: Path) -> dict[str, int]:
    """The audit's totals over a built book: code blocks/outputs that scroll, visible glue calls, images
    without a describing alt text, figures with text under 9 px, images in all."""
    from playwright.sync_api import sync_playwright

    totals = dict.fromkeys(["scrolling", "glue", "alt", "small_text", "images"], 0)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": WIDTH, "height": HEIGHT})
        for html_page in sorted((html / "book").glob("*.html")):
            if html_page.stem in {"genindex", "search"}:
                continue
            audit = audit_page(page, html, html_page.stem)
            for key in totals:
                totals[key] += audit[key] if key == "images" else len(audit[key])
        browser.close()
    return totals


if __name__ == "__main__":
    print(count(Path(sys.argv[1]).resolve() if len(sys.argv) > 1 else HTML))

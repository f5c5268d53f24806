"""The book's interactive figures in a real browser: Playwright drives the system Chromium, moves every slider
and checks what the page shows against gpt2ref's own computation.

Most checks run on a small standalone page built here from the widgets' JS/CSS (book/widgets/) and documents
exported by gpt2ref.course.widgets for a small random GPT: fast, no book build. The last tests open the built
book (``_build/html``, written by ``make book``): the widgets come alive on their chapters, and every page
still loads with JavaScript disabled and shows its static figures. Screenshots go to _build/screenshots/.
"""

from __future__ import annotations

import html
import math
import shutil
from pathlib import Path

import pytest
import torch
from widget_helpers import tiny_model

from gpt2ref.bpe import encode_chunk_fast
from gpt2ref.course import widgets
from gpt2ref.gpt2_tokenizer import GPT2Tokenizer

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "book" / "widgets"
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
PROMPT = "ROMEO:\nWhat shall I "
SENTENCE = "To be, or not to be"
BPE_TEXT = "The tokenizer splits unhappiness, doesn't it?"
WIDGET_CHAPTERS = {"02_tokenization": "bpe", "05_attention": "attention", "07_sampling": "sampling"}
# The two settings of each widget that the screenshots of the built book show (slider label -> value).
BOOK_SETTINGS = {
    "sampling": [("cool-t0.5-k50-p0.9", {"temperature": "0.5", "top-k": "50", "top-p": "0.9"}),
                 ("hot-t1.5-kmax-p1", {"temperature": "1.5", "top-k": "max", "top-p": "1"})],
    "attention": [("opening-head", {}), ("last-layer-head0", {"layer": "max", "head": "0"})],
    "bpe": [("halfway", {"merges applied": "20"}), ("final", {"merges applied": "max"})],
}

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]
sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is not installed (pip install playwright)")


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


@pytest.fixture(scope="module")
def tiny():
    return tiny_model(n_layer=3, n_head=4)


@pytest.fixture(scope="module")
def docs(tiny):
    model, tok = tiny
    return {
        "sampling": widgets.sampling_data(model, tok, PROMPT, n_top=30, n_bars=16, model_name="a random test GPT"),
        "attention": widgets.attention_data(model, tok, SENTENCE, model_name="a random test GPT", layer=1, head=2),
        "bpe": widgets.bpe_steps_data(GPT2Tokenizer.load(), BPE_TEXT, tokenizer_name="GPT-2"),
    }


@pytest.fixture(scope="module")
def page_file(docs, tmp_path_factory):
    """A standalone page: the book's widget JS/CSS, each widget's HTML, and its static figure under it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    folder = tmp_path_factory.mktemp("widgets")
    figures = {"sampling": widgets.sampling_figure, "attention": widgets.attention_figure, "bpe": widgets.bpe_figure}
    body = []
    for kind, data in docs.items():
        fig = figures[kind](data)
        fig.savefig(folder / f"{kind}.png", dpi=60)
        plt.close(fig)
        body.append(f'<section id="{kind}"><h2>{kind}</h2><div class="cell_output">'
                    f'{widgets.widget_html(data, title=kind + " widget")}'
                    f'<img src="{kind}.png" alt="static {html.escape(kind)} figure"></div></section>')
    css, js = (ASSETS / "gpt2ref-widgets.css").read_text(), (ASSETS / "gpt2ref-widgets.js").read_text()
    page = folder / "widgets.html"
    page.write_text(f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>widgets</title>'
                    f'<meta name="viewport" content="width=device-width, initial-scale=1">'
                    f"<style>body{{font-family:sans-serif;margin:8px;max-width:760px}}{css}</style></head>"
                    f"<body>{''.join(body)}<script>{js}</script></body></html>", encoding="utf-8")
    return page


@pytest.fixture
def page(browser, page_file):
    context = browser.new_context(viewport={"width": 900, "height": 1200})
    pg = context.new_page()
    errors = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    pg.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    pg.goto(page_file.as_uri())
    yield pg
    context.close()
    assert not errors, f"errors in the page: {errors}"


def shot(locator, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    locator.screenshot(path=str(SHOTS / f"{name}.png"))


# --- sampling dials ----------------------------------------------------------------------------------------

def full_logits(tiny):
    model, tok = tiny
    with torch.no_grad():
        return model(torch.tensor([tok.encode(PROMPT)]), last_only=True)[0][0, -1]


def read_bars(widget):
    return widget.locator(".gw-bar-row").evaluate_all(
        "rows => rows.map(r => [Number(r.dataset.prob), Number(r.dataset.before), r.dataset.kept === 'true',"
        " r.querySelector('.gw-bar-value').textContent])")


def check_sampling(widget, data, logits, t, k, p):
    """The bars, the cut tokens and the entropy on the page equal gpt2ref.sampling's on the whole vocabulary."""
    expected = widgets.sampling_reference(data, t, k, p, full_logits=logits)
    before = torch.softmax(logits.double() / t, dim=-1)[data["ids"]]
    bars = read_bars(widget)
    assert len(bars) == data["n_bars"]
    for i, (prob, prob_before, kept, text) in enumerate(bars):
        assert abs(prob - expected[i].item()) < 1e-6, (t, k, p, i)
        assert abs(prob_before - before[i].item()) < 1e-6, (t, k, p, i)
        assert kept == (expected[i].item() > 0)
        assert text.startswith("cut (top-") if not kept else text.endswith("%")
    full = widgets.sampling_reference(data, t, k, p)
    entropy = sum(-q * math.log2(q) for q in full.tolist() if q > 0)
    assert abs(float(widget.get_attribute("data-entropy")) - entropy) < 1e-6
    assert int(widget.get_attribute("data-kept")) == int((full > 0).sum())
    assert f"{entropy:.2f} bits" in widget.locator(".gw-summary").text_content()


def test_sampling_dials_follow_every_slider(page, docs, tiny):
    data, logits = docs["sampling"], full_logits(tiny)
    widget = page.locator('.gw-widget[data-gw-kind="sampling"]')
    temperature, top_k, top_p = (widget.get_by_label(name, exact=True) for name in ("temperature", "top-k", "top-p"))
    d = data["defaults"]
    check_sampling(widget, data, logits, d["temperature"], d["top_k"], d["top_p"])
    shot(widget, "widget-sampling-1-defaults")
    for t, k, p in [(0.3, 30, 1.0), (1.75, 30, 0.8), (2.0, 4, 1.0), (0.1, 1, 0.05), (1.25, 17, 0.63)]:
        temperature.fill(str(t))
        top_k.fill(str(k))
        top_p.fill(str(p))
        check_sampling(widget, data, logits, t, k, p)
    shot(widget, "widget-sampling-2-hot-topk17-topp063")


def test_sampling_dials_work_from_the_keyboard(page, docs, tiny):
    data, logits = docs["sampling"], full_logits(tiny)
    widget = page.locator('.gw-widget[data-gw-kind="sampling"]')
    temperature = widget.get_by_label("temperature", exact=True)
    temperature.focus()
    for _ in range(4):
        page.keyboard.press("ArrowRight")  # 1.00 -> 1.20 in steps of 0.05
    assert temperature.input_value() == "1.2"
    page.keyboard.press("Tab")  # on to top-k
    page.keyboard.press("End")
    page.keyboard.press("Tab")  # on to top-p
    for _ in range(10):
        page.keyboard.press("ArrowLeft")
    check_sampling(widget, data, logits, 1.2, len(data["ids"]), 0.8)
    assert widget.get_by_label("top-p", exact=True).input_value() == "0.8"


# --- attention explorer ----------------------------------------------------------------------------------

def test_attention_explorer_shows_each_heads_weights(page, docs, tiny):
    model, tok = tiny
    data = docs["attention"]
    maps = widgets.attention_maps(model, tok.encode(SENTENCE))
    T = maps.size(-1)
    widget = page.locator('.gw-widget[data-gw-kind="attention"]')
    layer, head = widget.get_by_label("layer", exact=True), widget.get_by_label("head", exact=True)
    tokens = widget.locator(".gw-tok")
    assert tokens.count() == T
    assert tokens.all_text_contents() == data["labels"]
    for l, h, q in [(1, 2, T - 1), (0, 0, 3), (2, 3, 7), (2, 1, 0)]:
        layer.fill(str(l))
        head.fill(str(h))
        tokens.nth(q).hover()
        assert widget.get_attribute("data-query") == str(q)
        shown = tokens.evaluate_all("bs => bs.map(b => Number(b.dataset.weight))")
        assert torch.allclose(torch.tensor(shown, dtype=torch.float64), maps[l, h, q].double(), atol=1e-5)
        cells = widget.locator(".gw-cell").evaluate_all("cs => cs.map(c => Number(c.dataset.weight))")
        assert torch.allclose(torch.tensor(cells, dtype=torch.float64).view(T, T), maps[l, h].double(), atol=1e-5)
        assert widget.locator(".gw-cell.gw-row-selected").count() == T
        future = tokens.evaluate_all("bs => bs.map(b => b.classList.contains('gw-future'))")
        assert future == [j > q for j in range(T)]
        if (l, h) == (0, 0):
            shot(widget, "widget-attention-2-layer0-head0")
    layer.fill("1")
    head.fill("2")
    tokens.nth(T - 1).hover()
    shot(widget, "widget-attention-1-defaults")


def test_attention_tokens_take_keyboard_focus(page, docs):
    widget = page.locator('.gw-widget[data-gw-kind="attention"]')
    widget.get_by_label("head", exact=True).focus()
    page.keyboard.press("Tab")  # the first token
    assert widget.get_attribute("data-query") == "0"
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert widget.get_attribute("data-query") == "2"
    pressed = widget.locator('.gw-tok[aria-pressed="true"]')
    assert pressed.count() == 1 and pressed.get_attribute("data-index") == "2"
    assert "weight" in (widget.locator(".gw-tok").nth(1).get_attribute("aria-label") or "")


# --- BPE stepper -----------------------------------------------------------------------------------------

def test_bpe_stepper_shows_the_text_after_the_first_n_merges(page, docs):
    tok = GPT2Tokenizer.load()
    data = docs["bpe"]
    widget = page.locator('.gw-widget[data-gw-kind="bpe"]')
    step = widget.get_by_label("merges applied", exact=True)
    chunks = [[tok.byte_to_id[b] for b in chunk.encode("utf-8")] for chunk in tok.split(BPE_TEXT)]
    n = len(data["steps"])
    assert widget.get_attribute("data-step") == str(n)  # opens at the end
    for s in range(n + 1):
        step.fill(str(s))
        last = data["steps"][s - 1][2] if s else 255
        prefix = {pair: i for pair, i in tok.merges.items() if i <= last}  # the first merges of vocab.bpe
        expected = [i for c in chunks for i in encode_chunk_fast(c, prefix)]
        assert widget.get_attribute("data-tokens") == ",".join(map(str, expected)), f"step {s}"
        fresh = widget.locator(".gw-new").evaluate_all("ts => ts.map(t => Number(t.dataset.id))")
        assert fresh == ([last] * expected.count(last) if s else [])
        if s == n // 2:
            shot(widget, "widget-bpe-1-halfway")
    assert expected == tok.encode(BPE_TEXT)
    assert widget.get_attribute("data-matches-encode") == "true"
    assert "tokenizer's own encoding" in widget.locator(".gw-summary").text_content()
    shot(widget, "widget-bpe-2-final")
    step.focus()
    page.keyboard.press("Home")
    assert widget.get_attribute("data-step") == "0"
    assert widget.locator(".gw-bpe-tok").count() == len(BPE_TEXT.encode("utf-8"))


# --- the page as a whole ---------------------------------------------------------------------------------

def test_widgets_fit_a_phone_screen(browser, page_file):
    context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1)
    pg = context.new_page()
    pg.goto(page_file.as_uri())
    assert pg.locator(".gw-widget.gw-js").count() == 3
    overflow = pg.evaluate("document.documentElement.scrollWidth")
    assert overflow <= 390, f"the page scrolls sideways on a 390 px screen ({overflow} px wide)"
    for kind in ("sampling", "attention", "bpe"):
        widget = pg.locator(f'.gw-widget[data-gw-kind="{kind}"]')
        assert widget.bounding_box()["width"] <= 390
        shot(widget, f"widget-{kind}-phone")
    context.close()


def test_static_figures_are_for_print_and_readers_without_javascript(browser, page_file):
    with_js = browser.new_context()
    pg = with_js.new_page()
    pg.goto(page_file.as_uri())
    assert pg.locator("img").evaluate_all("is => is.map(i => getComputedStyle(i).display)") == ["none"] * 3
    assert not pg.locator(".gw-nojs").first.is_visible()
    pg.emulate_media(media="print")
    assert all(pg.locator("img").nth(i).is_visible() for i in range(3))
    assert not pg.locator(".gw-widget").first.is_visible()
    with_js.close()

    no_js = browser.new_context(java_script_enabled=False)
    pg = no_js.new_page()
    pg.goto(page_file.as_uri())
    for i in range(3):
        img = pg.locator("img").nth(i)
        assert img.is_visible() and img.get_attribute("alt")
        assert pg.locator(".gw-nojs").nth(i).is_visible()
    no_js.close()


def test_sliders_and_tokens_are_labelled_for_screen_readers(page):
    unlabelled = page.evaluate("""() => [...document.querySelectorAll('.gw-widget input')]
        .filter(i => !(i.labels && i.labels.length)).map(i => i.outerHTML)""")
    assert unlabelled == []
    for widget in page.locator(".gw-widget").all():
        assert widget.get_attribute("role") == "group" and widget.get_attribute("aria-label")
        assert widget.locator("[aria-live]").count() == 1


# --- the built book --------------------------------------------------------------------------------------

def book_pages() -> list[Path]:
    if not (HTML / "book").is_dir():
        pytest.skip("the book is not built (make book writes _build/html); the standalone-page tests cover the widgets")
    return sorted((HTML / "book").glob("*.html"))


def test_widgets_come_alive_in_the_built_book(browser):
    pages = {p.stem: p for p in book_pages()}
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    for chapter, kind in WIDGET_CHAPTERS.items():
        if chapter not in pages:
            pytest.fail(f"{chapter}.html is missing from {HTML / 'book'}")
        pg = context.new_page()
        errors = []
        # Only this project's script counts: the theme's own scripts log errors of their own offline.
        pg.on("pageerror", lambda exc, errors=errors: errors.append(exc.stack or str(exc))
              if "gpt2ref-widgets" in (exc.stack or "") else None)
        pg.goto(pages[chapter].as_uri())
        widget = pg.locator(f'.gw-widget[data-gw-kind="{kind}"]')
        assert widget.count() == 1, f"{chapter}: no {kind} widget"
        assert widget.get_attribute("data-gw-ready") == "true", f"{chapter}: the {kind} widget did not start"
        assert not errors, errors
        figure = widget.locator("xpath=ancestor::div[contains(@class,'cell_output')]//img")
        assert figure.count() >= 1 and not figure.first.is_visible(), "the static figure is for print only"
        for name, settings in BOOK_SETTINGS[kind]:
            for label, value in settings.items():
                slider = widget.get_by_label(label, exact=True)
                slider.fill(slider.get_attribute(value) if value in ("min", "max") else value)
            if kind == "attention":
                widget.locator(".gw-tok").last.focus()
            shot(widget, f"book-{chapter}-{kind}-{name}")
        overflow = pg.evaluate("document.querySelector('article').scrollWidth - document.querySelector('article').clientWidth")
        assert overflow <= 1, f"{chapter} scrolls sideways at 1280 px"
        pg.close()
    context.close()


def test_every_book_page_shows_its_figures_without_javascript(browser):
    pages = book_pages() + sorted(HTML.glob("*.html"))
    context = browser.new_context(java_script_enabled=False)
    pg = context.new_page()
    for path in pages:
        if path.name in ("index.html", "search.html", "genindex.html"):
            continue  # a redirect and the pages that only work with JavaScript
        response = pg.goto(path.as_uri())
        assert response is None or response.ok, path
        assert pg.locator("article").count() == 1, f"{path.name} has no article without JavaScript"
        images = pg.locator("article img")
        for i in range(images.count()):
            img = images.nth(i)
            assert img.is_visible(), f"{path.name}: image {i} is hidden without JavaScript"
            loaded = img.evaluate("i => i.complete && i.naturalWidth > 0")
            assert loaded, f"{path.name}: image {img.get_attribute('src')} did not load"
        if path.stem in WIDGET_CHAPTERS:
            assert pg.locator(".gw-nojs").first.is_visible(), f"{path.name}: the no-JavaScript note is missing"
            figure = pg.locator(".gw-widget").first.locator("xpath=ancestor::div[contains(@class,'cell_output')]//img")
            assert figure.count() >= 1 and figure.first.is_visible()
    context.close()

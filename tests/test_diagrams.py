"""The book's explanatory diagrams (book/diagrams): each one is valid SVG sized for the book's column, its
text is readable and does not collide, its alt text says what it shows, its numbers come from gpt2ref, and
every chapter that explains a mechanism shows its diagram."""

from __future__ import annotations

import base64
import html
import json
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "book"))  # the chapters import the drawing code from their own folder

import diagrams  # noqa: E402
from diagrams.data import bpe_steps, gpt2_tokenizer  # noqa: E402
from diagrams.examples import EXAMPLES  # noqa: E402
from diagrams.svg import MIN_SIZE, Canvas, text_width  # noqa: E402

from gpt2ref.model import GPT, GPTConfig  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}"
COLUMN_PX = 700  # the width of the book's text column at a 1280 px window
READABLE_PX = 11  # the smallest text size a reader should meet, as displayed

# Which chapter shows which diagram (by the function that draws it).
CHAPTERS = {
    "autoregressive_loop": "01_next_word_prediction",
    "bpe_merges": "02_tokenization",
    "embedding_lookup": "03_embeddings",
    "token_plus_position": "04_positions",
    "query_key_value": "05_attention",
    "causal_mask": "05_attention",
    "attention_heads": "05_attention",
    "transformer_block": "06_transformer",
    "gpt2_model": "06_transformer",
    "kv_cache": "07_sampling",
    "training_loop": "08_training",
}


@pytest.fixture(scope="module")
def drawn() -> dict[str, diagrams.Diagram]:
    return {name: make() for name, make in EXAMPLES.items()}


def _texts(svg: str) -> list[dict]:
    """Every <text> of an SVG with its bounding box, measured in the font it asks for."""
    out = []
    for el in ET.fromstring(svg).iter(f"{SVG}text"):
        size = float(el.get("font-size"))
        mono = "Mono" in el.get("font-family", "")
        bold = el.get("font-weight") == "bold"
        width = text_width(el.text or "", size, mono, bold)
        x, baseline = float(el.get("x")), float(el.get("y"))
        left = {"start": x, "middle": x - width / 2, "end": x - width}[el.get("text-anchor", "start")]
        out.append({"text": el.text, "size": size, "box": (left, baseline - 0.76 * size, left + width,
                                                          baseline + 0.24 * size)})
    return out


def test_at_least_eleven_diagrams_each_with_its_own_name(drawn):
    assert len(drawn) >= 11
    for name, diagram in drawn.items():
        assert diagram.name == name
        assert name.replace("-", "_") in diagrams.__all__, f"{name} is not exported by the diagrams package"


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_valid_svg_sized_for_the_column(drawn, name):
    diagram = drawn[name]
    root = ET.fromstring(diagram.svg)  # raises on malformed XML
    assert root.tag == f"{SVG}svg"
    width, height = float(root.get("width")), float(root.get("height"))
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
    assert (width, height) == (diagram.width, diagram.height)
    assert 400 <= width <= COLUMN_PX, "drawn for the column: no wider, and not a thumbnail"
    assert 150 <= height <= 700, "a diagram should fit on a screen without scrolling"
    assert root.find(f"{SVG}title").text == diagram.alt  # screen readers opening the SVG alone


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_text_is_readable_inside_the_picture_and_never_overlaps(drawn, name):
    diagram = drawn[name]
    scale = min(1.0, COLUMN_PX / diagram.width)
    texts = _texts(diagram.svg)
    assert texts, "a diagram explains with words as well as shapes"
    for t in texts:
        assert t["size"] * scale >= READABLE_PX, f"{t['text']!r} is displayed at {t['size'] * scale:.1f} px"
        left, top, right, bottom = t["box"]
        assert left >= 0 and top >= 0 and right <= diagram.width and bottom <= diagram.height, (
            f"{t['text']!r} sticks out of the picture: {t['box']}")
    for i, a in enumerate(texts):
        for b in texts[i + 1:]:
            (l1, t1, r1, b1), (l2, t2, r2, b2) = a["box"], b["box"]
            overlap = min(r1, r2) - max(l1, l2) > 0.5 and min(b1, b2) - max(t1, t2) > 0.5
            assert not overlap, f"{a['text']!r} and {b['text']!r} overlap"


@pytest.mark.parametrize("name", list(EXAMPLES))
def test_alt_text_says_what_it_shows_and_the_caption_is_one_sentence(drawn, name):
    diagram = drawn[name]
    assert diagram.alt.startswith("Diagram: ")
    assert len(diagram.alt) >= 150, "the alt text describes the mechanism, not just names it"
    assert not re.search(r"\.(svg|png|jpe?g)\b|/", diagram.alt), "the alt text is not a file name"
    assert diagram.caption.endswith(".") and len(diagram.caption) >= 60
    assert not re.search(r"[.!?] [A-Z]", diagram.caption), "the caption is a single sentence"


def test_figure_html_carries_the_alt_text_class_and_id(drawn):
    for name, diagram in drawn.items():
        page = diagram._repr_html_()
        assert f'<figure class="gpt2-diagram" id="diagram-{name}"' in page
        assert f'alt="{html.escape(diagram.alt)}"' in page
        assert "<figcaption" in page and html.escape(diagram.caption) in page
        uri = re.search(r'src="data:image/svg\+xml;base64,([^"]+)"', page).group(1)
        assert base64.b64decode(uri).decode() == diagram.svg
        assert 'style="max-width:100%;height:auto"' in page  # never wider than a narrow column


def test_bpe_diagram_shows_gpt2s_real_merges(drawn):
    tok = gpt2_tokenizer()
    steps = bpe_steps(" unhappiness", tok)
    assert [s.pieces for s in steps][-1] == [" unh", "appiness"]
    assert steps[0].pieces == list(" unhappiness")
    for before, after in zip(steps, steps[1:], strict=False):
        assert "".join(after.pieces) == " unhappiness" and len(after.pieces) == len(before.pieces) - 1
    ranks = [s.rank for s in steps[1:]]
    assert ranks == sorted(ranks)  # on this word the merges happen to apply in the order they were learned
    assert steps[-1].new_id == tok.encode(" unhappiness")[-1] and ranks[-1] == steps[-1].new_id - 255
    svg = drawn["bpe-merges"].svg
    for i in tok.encode(" unhappiness"):
        assert f">{i}<" in svg


def test_numbers_follow_the_configuration_they_are_drawn_from():
    medium = GPTConfig.from_preset("gpt2-medium")
    with torch.device("meta"):
        n_params = GPT(medium).num_parameters()
    svg = diagrams.gpt2_model(medium, "The cat sat").svg
    assert f"{n_params:,}" in svg and "1,024 × 1,024" not in svg and "50,257 × 1024" in svg
    assert "block 24" in svg and f"{medium.n_layer} blocks" in svg
    assert "16 heads × 64" in diagrams.attention_heads(medium).svg
    assert "[464, 3797, 3332]" in diagrams.gpt2_model(GPTConfig(), "The cat sat").alt
    assert "[15496, 995, 0]" in diagrams.embedding_lookup("Hello world!", GPTConfig()).alt


def test_attention_diagrams_compute_what_they_show():
    scores = torch.tensor([[0.5, 9.0], [1.0, 1.0]])
    d = diagrams.causal_mask(["a", "b"], scores)
    texts = [t["text"] for t in _texts(d.svg)]
    assert texts.count("−∞") == 1 and "1.00" in texts and texts.count("0.50") == 2  # 9.0 is masked away
    keys = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    d = diagrams.query_key_value(["x", "y"], keys, torch.tensor([0.0, 0.0]), torch.tensor([[2.0], [4.0]]),
                                 ["f", "g"], ["v"])
    assert "3.00" in [t["text"] for t in _texts(d.svg)]  # equal scores: the mean of the two values


def test_bad_input_is_refused_with_a_message():
    with pytest.raises(ValueError, match="minimum"):
        Canvas(100, 100).text(0, 0, "tiny", size=MIN_SIZE - 1)
    with pytest.raises(ValueError, match="alt text"):
        diagrams.Diagram("x", "<svg/>", "x.svg", "A caption.", 10, 10)
    with pytest.raises(ValueError, match="slug"):
        diagrams.Diagram("Not a slug", "<svg/>", "Diagram: " + "words " * 10, "A caption.", 10, 10)


@pytest.mark.parametrize("function", list(CHAPTERS))
def test_each_chapter_shows_its_diagram_from_a_removed_input_cell(function):
    nb = json.loads((ROOT / "book" / f"{CHAPTERS[function]}.ipynb").read_text(encoding="utf-8"))
    cells = [c for c in nb["cells"] if c["cell_type"] == "code" and f"diagrams.{function}(" in "".join(c["source"])]
    assert len(cells) == 1, f"chapter {CHAPTERS[function]} should draw diagrams.{function} in one cell"
    cell = cells[0]
    assert "remove-input" in cell["metadata"].get("tags", []), "readers see the figure, not the drawing call"
    assert cell["outputs"] == [] and cell["execution_count"] is None, "notebooks are stored without outputs"


def test_arrows_may_repeat_a_point():
    c = Canvas(100, 100)
    c.arrow([(0, 10), (50, 10), (50, 10), (50, 60)])  # e.g. a turn that happens to have zero length
    assert "NaN" not in c.render("Diagram: an arrow") and "<path" in c.render("Diagram: an arrow")

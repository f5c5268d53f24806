"""The book's page machinery: one look for figures and one format for numbers quoted in the prose.

The chapters import it from removed cells (their kernels run in ``book/``), so the reader sees only
the code that teaches.
"""

from __future__ import annotations

import html

import matplotlib.pyplot as plt
from matplotlib_inline.backend_inline import set_matplotlib_formats
from myst_nb import glue

# Figures are SVG (sharp on any screen) with real text, so the book's browser test can read font sizes.
FIGURE_STYLE = {
    "svg.fonttype": "none",
    "font.size": 11,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "xtick.labelsize": 10,
    "ytick.labelsize": 10,
    "legend.fontsize": 10,
    "figure.titlesize": 12,
}


def setup_figures() -> None:
    """Inline SVG figures in the book's common style."""
    set_matplotlib_formats("svg")
    plt.rcParams.update(FIGURE_STYLE)


class _Plain(str):
    """A string shown as it is: without the quotes that repr() would add."""

    def __repr__(self) -> str:
        return str(self)


def glue_text(name: str, text: str) -> None:
    """Make a computed string available to the prose as {glue:text}`name`, without showing it here."""
    glue(name, _Plain(text), display=False)


def glue_number(name: str, value: float, digits: int | None = None, *, percent: bool = False,
                unit: str = "") -> None:
    """Glue a number in the book's one format: 1,234,567 / 2.48 / 31% (thousands separated)."""
    if percent:
        text = f"{value:.{digits or 0}%}"
    elif digits is None and float(value).is_integer():
        text = f"{int(value):,}"
    elif digits is None:
        text = f"{value:,.2f}"
    else:
        text = f"{value:,.{digits}f}"
    glue_text(name, text + unit)


def show_char(ch: str) -> str:
    """How a character is drawn on a plot: the newline and the space are made visible."""
    return {"\n": "⏎", " ": "␣"}.get(ch, ch)


TOKEN_COLOURS = ["#fde2a7", "#b9e4c9", "#c6d8f5", "#f5c6d8", "#e0d2f5"]


def token_boxes(pieces: list[str], ids: list[int]) -> str:
    """HTML for a token sequence: one coloured box per token (its id on hover), newlines shown as ⏎."""
    spans = []
    for k, (piece, i) in enumerate(zip(pieces, ids, strict=True)):
        shown = html.escape(piece).replace("\n", "⏎<br>")
        spans.append(f'<span title="id {i}" style="background:{TOKEN_COLOURS[k % len(TOKEN_COLOURS)]};'
                     f'border-radius:3px;padding:1px 0">{shown}</span>')
    return ('<div style="font-family:monospace;white-space:pre-wrap;line-height:1.7;color:#222;'
            'border:1px solid #ccc;padding:6px;margin-bottom:10px">' + "".join(spans) + "</div>")

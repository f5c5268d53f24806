"""The drawing primitives every diagram shares: one palette, one font, boxes, arrows, cells and labels.

A :class:`Canvas` collects SVG elements in pixel coordinates and renders them as one standalone SVG
document. Text is measured with the font the SVG asks for first (DejaVu Sans, which matplotlib ships),
so layouts can size boxes to their labels; other sans-serif fonts are narrower, so the boxes stay wide
enough when a browser substitutes one.
"""

from __future__ import annotations

import functools
import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

from matplotlib.font_manager import FontProperties
from matplotlib.textpath import text_to_path

FONT = "'DejaVu Sans', Verdana, Geneva, sans-serif"
MONO = "'DejaVu Sans Mono', Menlo, Consolas, monospace"
SIZE = 14  # body text, in px at the diagram's natural width
SMALL = 12  # annotations: the smallest text any diagram uses
MIN_SIZE = SMALL

INK = "#1f2937"  # text and outlines
MUTED = "#4b5563"  # secondary text (7:1 contrast on white)
LINE = "#374151"  # arrows
HIGHLIGHT = "#c2410c"  # the one thing a diagram points at


@dataclass(frozen=True)
class Role:
    """A colour pair for one kind of thing: a light fill for the shape and a dark stroke for its edge."""

    fill: str
    stroke: str


# One colour per kind of object, the same in every diagram.
TOKEN = Role("#fde7b0", "#a16207")  # token ids and token text
EMBED = Role("#d3e3fa", "#1d4ed8")  # token embeddings (wte) and the residual stream
POSITION = Role("#cdeed9", "#15803d")  # position embeddings (wpe)
QUERY = Role("#f9d4e4", "#be185d")
KEY = Role("#fde0c5", "#c2410c")
VALUE = Role("#d3eff2", "#0e7490")
LAYER = Role("#e6defa", "#6d28d9")  # learned layers: attention, MLP, blocks, the model
NORM = Role("#e8ecf2", "#475569")  # LayerNorm
OUTPUT = Role("#fcd9d9", "#b91c1c")  # scores, probabilities, the loss
NEUTRAL = Role("#f3f4f6", "#6b7280")
MASKED = Role("#d1d5db", "#9ca3af")  # positions attention may not see
HEADS = (EMBED, POSITION, QUERY, KEY, VALUE, LAYER)  # colours that cycle over attention heads


def shown(token: str) -> str:
    """A token's text as the book prints it: a space as ␣, a newline as ⏎."""
    return token.replace(" ", "␣").replace("\n", "⏎")


@functools.lru_cache(maxsize=4096)
def text_width(text: str, size: float = SIZE, mono: bool = False, bold: bool = False) -> float:
    """Width in px of ``text`` set in the diagrams' font at ``size`` px."""
    if not text:
        return 0.0
    prop = FontProperties(family="DejaVu Sans Mono" if mono else "DejaVu Sans", size=size,
                          weight="bold" if bold else "normal")
    width, _, _ = text_to_path.get_text_width_height_descent(text, prop, ismath=False)
    return float(width)


def mix(colour: str, other: str, t: float) -> str:
    """The colour ``t`` of the way from ``colour`` to ``other`` (hex strings), for shading cells."""
    a = [int(colour[i : i + 2], 16) for i in (1, 3, 5)]
    b = [int(other[i : i + 2], 16) for i in (1, 3, 5)]
    t = min(max(t, 0.0), 1.0)
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(a, b, strict=True))


def shade(role: Role, value: float) -> str:
    """A cell colour for a number in [-1, 1]: white for -1, the role's stroke colour for 1."""
    t = (value + 1) / 2
    return mix("#ffffff", role.fill, 2 * t) if t < 0.5 else mix(role.fill, role.stroke, (t - 0.5) * 1.2)


def _fmt(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".") if not float(v).is_integer() else str(int(v))


def _attrs(**kwargs: object) -> str:
    out = []
    for key, value in kwargs.items():
        if value is None:
            continue
        if isinstance(value, float):
            value = _fmt(value)
        out.append(f'{key.rstrip("_").replace("_", "-")}="{html.escape(str(value), quote=True)}"')
    return " ".join(out)


class Canvas:
    """An SVG drawing of a fixed size in px; each method adds one element and returns nothing useful."""

    def __init__(self, width: float, height: float) -> None:
        self.width = width
        self.height = height
        self._items: list[str] = []
        self._markers: dict[str, str] = {}

    # --- text ---------------------------------------------------------------------------------------

    def text(self, x: float, y: float, s: str, size: float = SIZE, anchor: str = "middle", bold: bool = False,
             mono: bool = False, color: str = INK, italic: bool = False) -> float:
        """Write ``s`` with its vertical centre at ``y``; ``anchor`` is start, middle or end. Returns its width."""
        if size < MIN_SIZE:
            raise ValueError(f"text of {size} px is below the diagrams' minimum of {MIN_SIZE} px: {s!r}")
        baseline = y + 0.36 * size  # DejaVu's capitals and x-height centre about 0.36 em above the baseline
        attrs = _attrs(x=float(x), y=float(baseline), font_size=float(size), text_anchor=anchor,
                       font_family=MONO if mono else FONT, font_weight="bold" if bold else None,
                       font_style="italic" if italic else None, fill=color)
        self._items.append(f'<text {attrs} xml:space="preserve">{html.escape(s, quote=False)}</text>')
        return text_width(s, size, mono, bold)

    def lines(self, x: float, y: float, rows: Sequence[str], size: float = SIZE, gap: float = 1.3,
              **kwargs: object) -> None:
        """Several lines of text, centred as a block on ``y``."""
        top = y - (len(rows) - 1) * size * gap / 2
        for i, row in enumerate(rows):
            self.text(x, top + i * size * gap, row, size=size, **kwargs)

    # --- shapes -------------------------------------------------------------------------------------

    def rect(self, x: float, y: float, w: float, h: float, fill: str, stroke: str | None = None,
             radius: float = 0, width: float = 1.2, dashed: bool = False) -> None:
        """A rectangle with its top-left corner at (x, y)."""
        attrs = _attrs(x=float(x), y=float(y), width=float(w), height=float(h), rx=float(radius) or None,
                       fill=fill, stroke=stroke, stroke_width=float(width) if stroke else None,
                       stroke_dasharray="5 4" if dashed else None)
        self._items.append(f"<rect {attrs}/>")

    def box(self, x: float, y: float, w: float, h: float, role: Role, label: str | Sequence[str] = "",
            size: float = SIZE, mono: bool = False, bold: bool = False, dashed: bool = False,
            radius: float = 6, width: float = 1.4) -> None:
        """A rounded box in a role's colours with one or more centred lines of text."""
        self.rect(x, y, w, h, role.fill, role.stroke, radius=radius, width=width, dashed=dashed)
        rows = [label] if isinstance(label, str) else list(label)
        if any(rows):
            self.lines(x + w / 2, y + h / 2, rows, size=size, mono=mono, bold=bold)

    def fit_box(self, cx: float, y: float, h: float, role: Role, label: str, size: float = SIZE,
                mono: bool = False, pad: float = 8, min_w: float = 0) -> tuple[float, float]:
        """A box centred on ``cx`` just wide enough for ``label``; returns its (left, width)."""
        w = max(min_w, text_width(label, size, mono) + 2 * pad)
        self.box(cx - w / 2, y, w, h, role, label, size=size, mono=mono)
        return cx - w / 2, w

    def circle(self, cx: float, cy: float, r: float, fill: str, stroke: str, label: str = "",
               size: float = SIZE) -> None:
        """A circle, e.g. the ⊕ of a residual addition."""
        attrs = _attrs(cx=float(cx), cy=float(cy), r=float(r), fill=fill, stroke=stroke, stroke_width=1.4)
        self._items.append(f"<circle {attrs}/>")
        if label:
            self.text(cx, cy, label, size=size, bold=True)

    # --- lines and arrows ---------------------------------------------------------------------------

    def _marker(self, color: str) -> str:
        if color not in self._markers:
            mid = f"arrow-{len(self._markers)}"
            self._markers[color] = (
                f'<marker id="{mid}" viewBox="0 0 10 10" refX="9" refY="5" markerUnits="userSpaceOnUse" '
                f'markerWidth="11" markerHeight="11" orient="auto-start-reverse">'
                f'<path d="M0,0 L10,5 L0,10 z" fill="{color}"/></marker>'
            )
        return self._markers[color].split('"')[1]

    def path(self, d: str, color: str = LINE, width: float = 1.6, head: bool = True, tail: bool = False,
             dashed: bool = False, fill: str = "none") -> None:
        """An SVG path (``d`` in path syntax), with an arrowhead at its end unless ``head`` is False."""
        marker = self._marker(color) if head or tail else None
        attrs = _attrs(d=d, fill=fill, stroke=color, stroke_width=float(width),
                       stroke_dasharray="6 4" if dashed else None, stroke_linejoin="round",
                       marker_end=f"url(#{marker})" if head else None,
                       marker_start=f"url(#{marker})" if tail else None)
        self._items.append(f"<path {attrs}/>")

    def arrow(self, points: Sequence[tuple[float, float]], color: str = LINE, width: float = 1.6,
              head: bool = True, dashed: bool = False, radius: float = 10) -> None:
        """A polyline arrow through ``points`` with rounded corners, pointing at the last point."""
        pts: list[tuple[float, float]] = []
        for x, y in points:  # a repeated point would make a zero-length segment
            if not pts or math.dist(pts[-1], (x, y)) > 1e-6:
                pts.append((float(x), float(y)))
        d = f"M{_fmt(pts[0][0])},{_fmt(pts[0][1])}"
        for i in range(1, len(pts) - 1):
            (x0, y0), (x1, y1), (x2, y2) = pts[i - 1], pts[i], pts[i + 1]
            l1, l2 = math.dist((x0, y0), (x1, y1)), math.dist((x1, y1), (x2, y2))
            r = min(radius, l1 / 2, l2 / 2)
            a = (x1 - (x1 - x0) * r / l1, y1 - (y1 - y0) * r / l1)
            b = (x1 + (x2 - x1) * r / l2, y1 + (y2 - y1) * r / l2)
            d += f" L{_fmt(a[0])},{_fmt(a[1])} Q{_fmt(x1)},{_fmt(y1)} {_fmt(b[0])},{_fmt(b[1])}"
        d += f" L{_fmt(pts[-1][0])},{_fmt(pts[-1][1])}"
        self.path(d, color=color, width=width, head=head, dashed=dashed)

    def line(self, x1: float, y1: float, x2: float, y2: float, color: str = LINE, width: float = 1.2,
             dashed: bool = False) -> None:
        """A plain line, without arrowheads."""
        self.arrow([(x1, y1), (x2, y2)], color=color, width=width, head=False, dashed=dashed)

    def dimension(self, x1: float, y1: float, x2: float, y2: float, label: str, side: float = 1,
                  size: float = SMALL, color: str = MUTED) -> None:
        """A size marker |<- label ->| along a horizontal or vertical edge, its label on ``side`` (+1/-1)."""
        self.line(x1, y1, x2, y2, color=color, width=1)
        if y1 == y2:
            for x in (x1, x2):
                self.line(x, y1 - 4, x, y1 + 4, color=color, width=1)
            self.text((x1 + x2) / 2, y1 + side * (size * 0.5 + 5), label, size=size, color=color)
        else:
            for y in (y1, y2):
                self.line(x1 - 4, y, x1 + 4, y, color=color, width=1)
            anchor = "start" if side > 0 else "end"
            self.text(x1 + side * 8, (y1 + y2) / 2, label, size=size, color=color, anchor=anchor)

    # --- cells --------------------------------------------------------------------------------------

    def cells(self, x: float, y: float, values: Sequence[Sequence[float | None]], cw: float, ch: float,
              role: Role, labels: Sequence[Sequence[str]] | None = None, size: float = SMALL,
              mono: bool = True, fills: Sequence[Sequence[str | None]] | None = None) -> None:
        """A grid of cells shaded by ``values`` in [-1, 1] (None: a blank cell), with optional text in each."""
        for i, row in enumerate(values):
            for j, v in enumerate(row):
                fill = fills[i][j] if fills is not None and fills[i][j] else ("#ffffff" if v is None
                                                                               else shade(role, v))
                self.rect(x + j * cw, y + i * ch, cw, ch, fill, role.stroke, width=0.8)
                if labels is not None and labels[i][j]:
                    dark = v is not None and v > 0.45 and (fills is None or not fills[i][j])
                    self.text(x + (j + 0.5) * cw, y + (i + 0.5) * ch, labels[i][j], size=size, mono=mono,
                              color="#ffffff" if dark else INK)
        self.rect(x, y, cw * max(len(r) for r in values), ch * len(values), "none", role.stroke, width=1.4)

    def vector(self, x: float, y: float, values: Sequence[float], cell: float, role: Role,
               vertical: bool = False) -> None:
        """One vector as a strip of shaded cells, horizontal or vertical."""
        rows = [[v] for v in values] if vertical else [list(values)]
        self.cells(x, y, rows, cell, cell, role)

    # --- output -------------------------------------------------------------------------------------

    def render(self, title: str) -> str:
        """The whole drawing as a standalone SVG document, with ``title`` for screen readers."""
        w, h = _fmt(self.width), _fmt(self.height)
        defs = "".join(self._markers.values())
        return (
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
            f'role="img" class="gpt2-diagram-svg">'
            f"<title>{html.escape(title, quote=False)}</title>"
            f"<defs>{defs}</defs>"
            f'<rect width="{w}" height="{h}" fill="#ffffff"/>' + "".join(self._items) + "</svg>"
        )


def values(seed: int, n: int) -> list[float]:
    """``n`` fixed numbers in [-1, 1] that shade an illustrative vector (the same for the same seed)."""
    out, state = [], (seed * 2654435761 + 12345) % 2**32
    for _ in range(n):
        state = (state * 1103515245 + 12345) % 2**31
        out.append(round(2 * state / 2**31 - 1, 3))
    return out


TOKEN_H = 30  # height of a token box


def token_box_width(token: str, size: float = SIZE) -> float:
    """The width of the box that shows one token in monospace."""
    return max(26.0, text_width(shown(token), size, mono=True) + 12)


def token_row(c: Canvas, right: float, cy: float, tokens: Sequence[str], left: float,
              highlight_last: bool = False, role: Role = TOKEN, gap: float = 3) -> list[tuple[float, float]]:
    """Token boxes ending at ``right``, as many of the last tokens as fit after ``left`` (an … marks the rest).

    Returns the (left, width) of each box drawn, in reading order.
    """
    placed: list[tuple[float, float]] = []
    x = right
    for k, tok in enumerate(reversed(tokens)):
        w = token_box_width(tok)
        if x - w < left + (18 if k < len(tokens) - 1 else 0):
            c.text(x - 10, cy, "…", color=MUTED)
            break
        x -= w
        placed.append((x, w))
        x -= gap
    placed.reverse()
    for k, ((bx, w), tok) in enumerate(zip(placed, tokens[len(tokens) - len(placed):], strict=True)):
        c.box(bx, cy - TOKEN_H / 2, w, TOKEN_H, role, shown(tok), mono=True, radius=4)
        if highlight_last and k == len(placed) - 1:
            outline(c, bx, cy - TOKEN_H / 2, w, TOKEN_H)
    return placed


def outline(c: Canvas, x: float, y: float, w: float, h: float, color: str = HIGHLIGHT) -> None:
    """A thick outline just around a box: the one thing the reader should look at."""
    c.rect(x - 2, y - 2, w + 4, h + 4, "none", color, radius=5, width=2.2)

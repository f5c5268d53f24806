"""A drawn diagram with its words: the SVG, the alt text a screen reader reads, and the caption.

In a notebook the last expression of a cell shows a :class:`Diagram` as an HTML ``<figure>``: the SVG as
an ``<img>`` (inline data, so the page needs no extra file) with the alt text, and the caption under
it. Every diagram's figure has the class ``gpt2-diagram`` and the id ``diagram-<name>``, and its alt
text starts with "Diagram:", so tests can find and count them on the built pages.
"""

from __future__ import annotations

import base64
import html
import re
from dataclasses import dataclass
from pathlib import Path

from .svg import Canvas

ALT_PREFIX = "Diagram: "
FIGURE_CLASS = "gpt2-diagram"


@dataclass(frozen=True)
class Diagram:
    """One explanatory diagram: ``name`` (a stable slug), ``svg`` (a standalone document), ``alt``, ``caption``."""

    name: str
    svg: str
    alt: str
    caption: str
    width: float
    height: float

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", self.name):
            raise ValueError(f"a diagram's name is a lower-case slug, got {self.name!r}")
        if not self.alt.startswith(ALT_PREFIX) or len(self.alt) < len(ALT_PREFIX) + 20:
            raise ValueError(f"the alt text of {self.name!r} must start with {ALT_PREFIX!r} and say what it shows")
        if not self.caption.strip():
            raise ValueError(f"diagram {self.name!r} needs a caption")

    @property
    def data_uri(self) -> str:
        """The SVG as a ``data:`` URI, for an ``<img src=...>``."""
        return "data:image/svg+xml;base64," + base64.b64encode(self.svg.encode("utf-8")).decode("ascii")

    def html(self) -> str:
        """The ``<figure>`` the book shows: the image at its natural width (never wider than the column)."""
        img = (f'<img src="{self.data_uri}" alt="{html.escape(self.alt)}" width="{self.width:g}" '
               f'height="{self.height:g}" style="max-width:100%;height:auto" class="{FIGURE_CLASS}-img">')
        caption = f'<figcaption style="margin-top:0.4em">{html.escape(self.caption)}</figcaption>'
        return (f'<figure class="{FIGURE_CLASS}" id="diagram-{self.name}" '
                f'style="margin:0.5em auto 1.2em;text-align:center">{img}{caption}</figure>')

    @classmethod
    def from_canvas(cls, canvas: Canvas, name: str, alt: str, caption: str) -> Diagram:
        """The diagram drawn on ``canvas``; ``alt`` is given without the "Diagram: " prefix."""
        alt = ALT_PREFIX + alt
        return cls(name, canvas.render(title=alt), alt, caption, canvas.width, canvas.height)

    def _repr_html_(self) -> str:
        return self.html()

    def __repr__(self) -> str:
        return f"{self.alt} ({self.width:g} x {self.height:g} px)"

    def save(self, folder: str | Path) -> Path:
        """Write the SVG to ``folder/<name>.svg`` and return its path."""
        path = Path(folder) / f"{self.name}.svg"
        path.write_text(self.svg, encoding="utf-8")
        return path

"""Diagram of byte-pair encoding: GPT-2's merges applied to one word, step by step (chapter 2)."""

from __future__ import annotations

from gpt2ref.gpt2_tokenizer import GPT2Tokenizer

from .data import bpe_steps, gpt2_tokenizer
from .figure import Diagram
from .svg import MUTED, NEUTRAL, SIZE, SMALL, TOKEN, Canvas, outline, shown, text_width

BOX_H, ROW_H, GAP = 28.0, 40.0, 4.0


def _widths(pieces: list[str]) -> list[float]:
    return [max(22.0, text_width(shown(p), SIZE, mono=True) + 10) for p in pieces]


def bpe_merges(chunk: str, tokenizer: GPT2Tokenizer | None = None) -> Diagram:
    """Each row is the chunk after one more merge, the earliest-learned applicable merge first."""
    tok = tokenizer or gpt2_tokenizer()
    steps = bpe_steps(chunk, tok)
    W, left, top = 680.0, 176.0, 40.0
    H = top + len(steps) * ROW_H + 46
    c = Canvas(W, H)
    c.text(left - 14, 16, "step", size=13, anchor="end", color=MUTED, bold=True)
    c.text(left, 16, "tokens", size=13, anchor="start", color=MUTED, bold=True)
    c.text(W - 12, 16, "merge applied", size=13, anchor="end", color=MUTED, bold=True)

    prev: list[tuple[float, float]] = []
    for r, step in enumerate(steps):
        y = top + r * ROW_H
        xs, x = [], left
        for w in _widths(step.pieces):
            xs.append((x, w))
            x += w + GAP
        for k, ((bx, w), piece) in enumerate(zip(xs, step.pieces, strict=True)):
            merged = k == step.at
            c.box(bx, y, w, BOX_H, TOKEN if merged or r == 0 else NEUTRAL, shown(piece), mono=True, radius=4)
            if merged:
                outline(c, bx, y, w, BOX_H)
                for px, pw in prev[k : k + 2]:  # the two tokens it was made of, one row up
                    c.line(px + pw / 2, y - ROW_H + BOX_H + 1, bx + w / 2, y - 3, color=TOKEN.stroke, width=1.4)
        if step.at is None:
            c.text(left - 14, y + BOX_H / 2, "bytes", size=13, anchor="end")
            c.text(W - 12, y + BOX_H / 2, f"{len(step.pieces)} single bytes", size=SMALL, anchor="end",
                   color=MUTED)
        else:
            a, b = steps[r - 1].pieces[step.at], steps[r - 1].pieces[step.at + 1]
            c.text(left - 14, y + BOX_H / 2, f"merge {r}", size=13, anchor="end")
            c.text(W - 12, y + BOX_H / 2, f"{shown(a)} + {shown(b)}   (rank {step.rank:,})", size=SMALL,
                   anchor="end", color=MUTED, mono=True)
        prev = xs

    final = steps[-1]
    ids = tok.encode_ordinary(chunk)
    y = top + len(steps) * ROW_H + 8
    c.text(left - 14, y, "token ids", size=13, anchor="end")
    for (bx, w), i in zip(prev, ids, strict=True):
        c.text(bx + w / 2, y, str(i), size=13, mono=True, bold=True)
    c.text(12, y + 26, "rank: the merge's line in GPT-2's vocab.bpe (learned earliest = applied first)",
           size=SMALL, anchor="start", color=MUTED)

    merges = "; ".join(f"{shown(steps[r - 1].pieces[s.at])} + {shown(steps[r - 1].pieces[s.at + 1])}"
                       for r, s in enumerate(steps) if s.at is not None)
    alt = (f"GPT-2's byte-pair encoding of {chunk!r}, one row per step. It starts as {len(steps[0].pieces)} "
           f"single bytes; each step joins the adjacent pair whose merge GPT-2 learned earliest ({merges}), "
           f"until no learned merge applies. It ends as the tokens "
           f"{', '.join(repr(p) for p in final.pieces)} with ids {ids}. Spaces are shown as ␣.")
    caption = (f"GPT-2's tokenizer turns {chunk.strip()!r} (with its leading space) into tokens by applying "
               f"its learned merges one at a time, the earliest-learned first.")
    return Diagram.from_canvas(c, "bpe-merges", alt, caption)

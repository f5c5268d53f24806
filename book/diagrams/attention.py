"""Diagrams of attention (chapter 5): one query against the keys, the causal mask, and the heads."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from gpt2ref.attention import causal_mask as gpt2ref_causal_mask
from gpt2ref.model import GPTConfig

from .figure import Diagram
from .svg import (
    EMBED,
    HEADS,
    HIGHLIGHT,
    KEY,
    LAYER,
    MASKED,
    MUTED,
    OUTPUT,
    QUERY,
    SMALL,
    VALUE,
    Canvas,
    shade,
)


def _num(v: float) -> str:
    return f"{v:.2f}".rstrip("0").rstrip(".") if v % 1 else f"{v:.0f}"


def query_key_value(words: Sequence[str], keys: torch.Tensor, query: torch.Tensor, values: torch.Tensor,
                    key_features: Sequence[str], value_features: Sequence[str]) -> Diagram:
    """The last word's query against every key: dot products, softmax, and the weighted sum of the values."""
    T, d, dv = len(words), keys.shape[1], values.shape[1]
    scores = keys @ query
    weights = F.softmax(scores, dim=0)
    out = weights @ values
    W, cw, row_h = 680.0, 46.0, 28.0
    word_x, key_x, score_x, bar_x, val_x = 92.0, 104.0, 276.0, 346.0, 536.0
    q_y, head_y, top = 56.0, 104.0, 124.0
    H = top + T * row_h + 84
    c = Canvas(W, H)
    bar_max = 118.0

    for j, name in enumerate(key_features):
        c.text(key_x + (j + 0.5) * cw, 22, name, size=SMALL, color=MUTED)
    c.text(word_x, q_y, f"query of {words[-1]!r}", size=13, anchor="end", bold=True)
    c.cells(key_x, q_y - row_h / 2, [[float(v) / 2 for v in query]], cw, row_h, QUERY,
            labels=[[_num(float(v)) for v in query]])
    c.text(key_x + d * cw / 2, head_y, "keys", size=13, bold=True)
    c.text(score_x + 25, head_y, "q · k", size=13, bold=True)
    c.text(bar_x + 74, head_y, "softmax weight", size=13, bold=True)
    c.text(val_x + dv * cw / 2, head_y - 16, "values", size=13, bold=True)
    for j, name in enumerate(value_features):
        c.text(val_x + (j + 0.5) * cw, head_y + 2, name, size=SMALL, color=MUTED)
    c.arrow([(key_x + d * cw + 8, q_y), (score_x + 25, q_y), (score_x + 25, head_y - 14)], color=QUERY.stroke)

    best = int(weights.argmax())
    score_scale = float(scores.abs().max()) or 1.0
    for i, word in enumerate(words):
        y = top + i * row_h
        c.text(word_x, y + row_h / 2, word, size=13, anchor="end", bold=i == best)
        c.cells(key_x, y, [[float(v) for v in keys[i]]], cw, row_h, KEY,
                labels=[[_num(float(v)) for v in keys[i]]])
        c.cells(score_x, y, [[float(scores[i]) / score_scale]], 50, row_h, OUTPUT,
                labels=[[_num(round(float(scores[i]), 2))]])
        w = float(weights[i])
        c.rect(bar_x, y + 6, max(2.0, bar_max * w / float(weights.max())), row_h - 12,
               HIGHLIGHT if i == best else OUTPUT.fill, OUTPUT.stroke, width=0.8)
        c.text(bar_x + bar_max + 10, y + row_h / 2, f"{w:.2f}", size=SMALL, anchor="start", mono=True)
        c.cells(val_x, y, [[float(v) for v in values[i]]], cw, row_h, VALUE,
                labels=[[_num(float(v)) for v in values[i]]])
        c.text(val_x - 14, y + row_h / 2, "×", size=13, color=MUTED)

    y = top + T * row_h + 20
    c.text(val_x - 14, y + row_h / 2, f"output for {words[-1]!r} = Σ weight × value", size=13, anchor="end",
           bold=True)
    c.cells(val_x, y, [[float(v) for v in out]], cw, row_h, EMBED, labels=[[f"{float(v):.2f}" for v in out]])
    c.line(val_x, y - 8, val_x + dv * cw, y - 8, width=1.4)
    c.text(12, H - 14, f"The weights are positive and sum to 1; {words[best]!r} gets the most ({weights[best]:.2f}).",
           size=SMALL, anchor="start", color=MUTED)

    alt = (f"one query against all keys. The query of {words[-1]!r} is compared by a dot product with the key "
           f"of each of the {T} words ({', '.join(words)}), giving the scores "
           f"{', '.join(_num(round(float(s), 2)) for s in scores)}. A softmax turns them into weights that sum "
           f"to 1 ({words[best]!r} gets the largest, {weights[best]:.2f}), and the output for {words[-1]!r} is "
           f"the weighted sum of the values: {', '.join(f'{n} {float(v):.2f}' for n, v in zip(value_features, out, strict=True))}.")
    caption = (f"Attention for one token: the query of {words[-1]!r} is scored against every key, the softmax of "
               "the scores weights the values, and their weighted sum is the token's output.")
    return Diagram.from_canvas(c, "query-key-value", alt, caption)


def causal_mask(words: Sequence[str], scores: torch.Tensor) -> Diagram:
    """Scores with the future set to -inf, and the softmax weights that come out: zero above the diagonal."""
    T = len(words)
    mask = gpt2ref_causal_mask(T)
    masked = scores.masked_fill(~mask, float("-inf"))
    weights = F.softmax(masked, dim=-1)
    W, cw, ch = 680.0, 46.0, 30.0
    g1, g2, top = 76.0, 392.0, 72.0
    H = top + T * ch + 58
    c = Canvas(W, H)
    c.text(g1 + T * cw / 2, 16, "scores, future set to −∞", size=13, bold=True)
    c.text(g2 + T * cw / 2, 16, "attention weights", size=13, bold=True)
    for gx in (g1, g2):
        for j, w in enumerate(words):
            c.text(gx + (j + 0.5) * cw, top - 14, w, size=SMALL, color=MUTED)
        c.text(gx + T * cw / 2, 40, "key (looked at) →", size=SMALL, color=MUTED)
    for i, w in enumerate(words):
        c.text(g1 - 8, top + (i + 0.5) * ch, w, size=13, anchor="end")
    c.text(8, top - 14, "query ↓", size=SMALL, anchor="start", color=MUTED)

    limit = float(scores[mask].abs().max())
    score_vals = [[float(scores[i, j]) / limit if mask[i, j] else None for j in range(T)] for i in range(T)]
    score_fill = [[None if mask[i, j] else MASKED.fill for j in range(T)] for i in range(T)]
    score_text = [[f"{float(scores[i, j]):.1f}" if mask[i, j] else "−∞" for j in range(T)] for i in range(T)]
    c.cells(g1, top, score_vals, cw, ch, QUERY, labels=score_text, fills=score_fill)
    weight_vals = [[2 * float(weights[i, j]) - 1 for j in range(T)] for i in range(T)]
    weight_text = [[f"{float(weights[i, j]):.2f}" if mask[i, j] else "0" for j in range(T)] for i in range(T)]
    c.cells(g2, top, weight_vals, cw, ch, OUTPUT, labels=weight_text, fills=score_fill)
    for i in range(T):
        c.text(g2 + T * cw + 8, top + (i + 0.5) * ch, f"Σ = {float(weights[i].sum()):.0f}", size=SMALL,
               anchor="start", color=MUTED)

    mid = top + T * ch / 2
    c.arrow([(g1 + T * cw + 10, mid), (g2 - 10, mid)], width=2)
    c.text((g1 + T * cw + g2) / 2, mid - 18, "softmax", size=13, bold=True)
    c.text((g1 + T * cw + g2) / 2, mid + 18, "each row", size=SMALL, color=MUTED)
    c.text(12, H - 16, "Row i may look at keys 0 … i only: exp(−∞) = 0, so the future gets no weight and each row still "
           "sums to 1.", size=SMALL, anchor="start", color=MUTED)

    alt = (f"the causal mask on {T} tokens ({', '.join(words)}). On the left, a {T} by {T} grid of attention "
           f"scores, one row per query token and one column per key token, with every cell above the diagonal "
           f"(a key later than the query) set to minus infinity. A softmax along each row gives the grid on "
           f"the right: the weights above the diagonal are exactly 0, and each row sums to 1; the first token "
           f"can only attend to itself, so its row is a single 1.")
    caption = ("The causal mask sets every score for a later token to −∞ before the softmax, so each token "
               "attends only to itself and the tokens before it.")
    return Diagram.from_canvas(c, "causal-mask", alt, caption)


def _head_matrix(c: Canvas, x: float, y: float, n_head: int, rows: int, block: float, cell_h: float) -> None:
    """A (T, C) matrix drawn as n_head coloured column blocks side by side, one per head."""
    for h in range(n_head):
        role = HEADS[h % len(HEADS)]
        c.rect(x + h * block, y, block, rows * cell_h, shade(role, 0.1), role.stroke, width=0.8)
    for r in range(1, rows):
        c.line(x, y + r * cell_h, x + n_head * block, y + r * cell_h, color="#9ca3af", width=0.6)
    c.rect(x, y, n_head * block, rows * cell_h, "none", "#374151", width=1.4)


def _head_stack(c: Canvas, x: float, y: float, n_head: int, w: float, h: float, step: float) -> None:
    """n_head cards, one per head, fanned out from back (top right) to front (bottom left)."""
    for k in reversed(range(n_head)):
        role = HEADS[k % len(HEADS)]
        c.rect(x + k * step, y - k * step * 0.7, w, h, shade(role, 0.1), role.stroke, width=1)


def attention_heads(config: GPTConfig, T: int = 4) -> Diagram:
    """(B, T, C) -> view and transpose -> (B, nh, T, hs) -> attention per head -> back to (B, T, C) -> c_proj."""
    C, nh, hs = config.n_embd, config.n_head, config.head_size
    W, H = 680.0, 372.0
    c = Canvas(W, H)
    block, cell_h = 12.0, 16.0
    mat_w = nh * block
    y1, y2 = 92.0, 268.0

    c.text(20 + mat_w / 2, 18, "x: (B, T, C)", size=13, bold=True, mono=True)
    c.dimension(20, 44, 20 + mat_w, 44, f"C = {C} = {nh} heads × {hs}", side=-1)
    c.dimension(20 + mat_w + 8, y1, 20 + mat_w + 8, y1 + T * cell_h, "T", side=1)
    _head_matrix(c, 20, y1, nh, T, block, cell_h)

    card_w, card_h, step = 40.0, T * cell_h, 6.0
    s1 = 292.0
    c.arrow([(20 + mat_w + 32, y1 + card_h / 2), (s1 - 10, y1 + card_h / 2)], width=2)
    c.text((20 + mat_w + 32 + s1) / 2 - 14, y1 - 22, "view(B, T, nh, hs)", size=SMALL, mono=True)
    c.text((20 + mat_w + 32 + s1) / 2 - 14, y1 - 6, ".transpose(1, 2)", size=SMALL, mono=True)
    _head_stack(c, s1, y1, nh, card_w, card_h, step)
    stack_w = card_w + (nh - 1) * step
    c.text(s1 + stack_w / 2, y1 + card_h + 24, "q, k, v: (B, nh, T, hs)", size=SMALL, mono=True)
    c.text(s1 + stack_w / 2, y1 + card_h + 42, f"= (B, {nh}, T, {hs})", size=SMALL, mono=True, color=MUTED)

    s2 = 520.0
    c.arrow([(s1 + stack_w + 8, y1 + card_h / 2), (s2 - 10, y1 + card_h / 2)], width=2)
    c.text((s1 + stack_w + s2) / 2, y1 - 22, "attention", size=13, bold=True)
    c.text((s1 + stack_w + s2) / 2, y1 - 6, "in every head", size=SMALL, color=MUTED)
    _head_stack(c, s2, y1, nh, card_w, card_h, step)
    c.text(s2 + stack_w / 2, y1 + card_h + 24, "y: (B, nh, T, hs)", size=SMALL, mono=True)

    # Back: heads side by side again, then c_proj mixes them.
    turn = y1 + card_h + 82
    c.arrow([(s2 + stack_w / 2, y1 + card_h + 38), (s2 + stack_w / 2, turn), (20 + mat_w / 2, turn),
             (20 + mat_w / 2, y2 - 8)], width=2)
    c.text((20 + mat_w / 2 + s2 + stack_w / 2) / 2, turn - 12, "y.transpose(1, 2).contiguous().view(B, T, C)",
           size=SMALL, mono=True)
    _head_matrix(c, 20, y2, nh, T, block, cell_h)
    c.text(20 + mat_w / 2, y2 + card_h + 22, "heads side by side: (B, T, C)", size=SMALL, color=MUTED)
    c.arrow([(20 + mat_w + 10, y2 + card_h / 2), (300 - 8, y2 + card_h / 2)], width=2)
    c.box(300, y2 + card_h / 2 - 24, 140, 48, LAYER, ["c_proj", f"{C} → {C}"], size=13)
    c.arrow([(448, y2 + card_h / 2), (W - 20 - mat_w - 10, y2 + card_h / 2)], width=2)
    c.cells(W - 20 - mat_w, y2, [[0.1] * nh for _ in range(T)], block, cell_h, EMBED)
    c.text(W - 20 - mat_w / 2, y2 + card_h + 22, "output: (B, T, C)", size=SMALL, mono=True)

    alt = (f"splitting attention into heads and merging them back. The input x of shape (B, T, C), with C = {C}, "
           f"is cut along C into {nh} slices of {hs}, one colour per head; view(B, T, nh, hs) and "
           f"transpose(1, 2) stack them as (B, {nh}, T, {hs}). Attention runs in every head at once. The "
           f"outputs are transposed back and viewed as (B, T, C), the heads side by side again, and c_proj "
           f"({C} to {C}) mixes them into the layer's output, also (B, T, C).")
    caption = (f"Multi-head attention cuts each {C}-wide vector into {nh} heads of {hs}, runs attention in all "
               "heads at once as a (B, nh, T, hs) tensor, then puts the heads side by side again for c_proj.")
    return Diagram.from_canvas(c, "attention-heads", alt, caption)

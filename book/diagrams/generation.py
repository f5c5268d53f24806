"""Diagrams of generation: the auto-regressive loop (chapter 1) and the KV cache (chapter 7)."""

from __future__ import annotations

from collections.abc import Sequence

from gpt2ref.gpt2_tokenizer import GPT2Tokenizer
from gpt2ref.model import GPTConfig

from .data import LoopStep, token_pieces
from .figure import Diagram
from .svg import (
    EMBED,
    HIGHLIGHT,
    KEY,
    LAYER,
    MUTED,
    OUTPUT,
    QUERY,
    SMALL,
    TOKEN,
    TOKEN_H,
    VALUE,
    Canvas,
    outline,
    shown,
    token_box_width,
    token_row,
    values,
)

def autoregressive_loop(steps: Sequence[LoopStep], model_name: str = "model") -> Diagram:
    """Predict, sample, append, repeat: ``steps`` turns of the loop, one row each, around one model."""
    W, top, row_h = 680.0, 52.0, 100.0
    H = top + len(steps) * row_h + 16
    c = Canvas(W, H)
    ctx_left, ctx_right = 12.0, 214.0
    model_x, model_w = 246.0, 86.0
    bars_x, bar_max = 364.0, 120.0
    chosen_cx = 632.0

    c.text((ctx_left + ctx_right) / 2, 18, "tokens so far", size=13, color=MUTED, bold=True)
    c.text(model_x + model_w / 2, 18, "1. predict", size=13, color=MUTED, bold=True)
    c.text(bars_x + 90, 18, "next-token probabilities", size=13, color=MUTED, bold=True)
    c.text(chosen_cx, 18, "2. sample", size=13, color=MUTED, bold=True)

    for i, step in enumerate(steps):
        cy = top + 30 + i * row_h
        token_row(c, ctx_right, cy, step.context, ctx_left, highlight_last=i > 0)
        c.box(model_x, cy - 24, model_w, 48, LAYER, model_name.split("\n"), bold=True)
        c.arrow([(ctx_right + 4, cy), (model_x - 2, cy)])
        c.arrow([(model_x + model_w + 2, cy), (bars_x - 6, cy)])

        rows = list(step.candidates)
        if step.chosen not in [t for t, _ in rows]:
            rows.append((step.chosen, step.chosen_p))
        line_h = 21.0
        y0 = cy - (len(rows) - 1) * line_h / 2
        for k, (tok, p) in enumerate(rows):
            y = y0 + k * line_h
            picked = tok == step.chosen
            c.text(bars_x + 14, y, shown(tok), size=13, mono=True, bold=picked)
            length = max(2.0, bar_max * p / max(q for _, q in rows))
            c.rect(bars_x + 32, y - 7, length, 14, HIGHLIGHT if picked else OUTPUT.fill,
                   OUTPUT.stroke if not picked else None, width=0.8)
            c.text(bars_x + 38 + length, y, f"{p:.0%}", size=SMALL, anchor="start", color=MUTED)
            if picked:
                end = bars_x + 32 + bar_max + 40
                c.arrow([(end, y), (chosen_cx - 22, y), (chosen_cx - 22, cy), (chosen_cx - 20, cy)],
                        color=HIGHLIGHT, radius=6)
        w = token_box_width(step.chosen)
        c.box(chosen_cx - w / 2, cy - TOKEN_H / 2, w, TOKEN_H, TOKEN, shown(step.chosen), mono=True, radius=4)
        outline(c, chosen_cx - w / 2, cy - TOKEN_H / 2, w, TOKEN_H)

        y_mid = cy + row_h / 2 + 4
        if i + 1 < len(steps):
            nxt = top + 30 + (i + 1) * row_h
            new_w = token_box_width(step.chosen)
            new_cx = ctx_right - new_w / 2
            c.arrow([(chosen_cx, cy + TOKEN_H / 2 + 2), (chosen_cx, y_mid), (new_cx, y_mid),
                     (new_cx, nxt - TOKEN_H / 2 - 4)], color=HIGHLIGHT)
            c.text(model_x + model_w / 2, y_mid - 12, "3. append", size=13, color=HIGHLIGHT, bold=True)
    c.text(W / 2, H - 14, "4. repeat: the longer sequence goes back into the same model", size=13,
           color=MUTED, bold=True)

    first, last = steps[0], steps[-1]
    tail = "".join(first.context[-6:])
    drawn = ", ".join(repr(s.chosen) for s in steps)
    alt = (f"the auto-regressive loop, {len(steps)} turns of the {model_name.replace(chr(10), ' ')}. Each turn the "
           f"model reads the tokens so far (the first turn's end with {tail!r}), gives a probability to every "
           f"possible next token (the first turn's favourite is {first.candidates[0][0]!r} at "
           f"{first.candidates[0][1]:.0%}), one token is sampled and appended, and the longer sequence goes "
           f"back in. The sampled tokens are {drawn}; the last turn ends with {''.join(last.context[-6:])!r}.")
    caption = ("Generation is a loop around one model: predict a distribution over the next token, sample "
               "one, append it, and feed the longer sequence back in.")
    return Diagram.from_canvas(c, "autoregressive-loop", alt, caption)


def kv_cache(config: GPTConfig, text: str, tokenizer: GPT2Tokenizer | None = None) -> Diagram:
    """One generation step with a KV cache: only ``text``'s last token is computed; its k and v are appended."""
    tokens = [piece for piece, _ in token_pieces(text, tokenizer)]
    W, H = 680.0, 372.0
    c = Canvas(W, H)
    cached, new = list(tokens[:-1]), tokens[-1]
    hs = config.n_embd // config.n_head
    cell, row_h, n_cells = 17.0, 24.0, 6

    # The tokens: the old ones were processed at earlier steps, the newest one now.
    c.text(20, 16, "tokens so far", size=13, anchor="start", color=MUTED, bold=True)
    placed = token_row(c, 232, 48, [*cached, new], 16, highlight_last=True)
    new_x, new_w = placed[-1]
    c.text(new_x + new_w / 2, 78, "new", size=SMALL, color=HIGHLIGHT, bold=True)

    # c_attn runs on the new token only.
    c.box(20, 96, 212, 46, LAYER, ["c_attn: q, k, v of the", "new token only"], size=13)
    c.arrow([(new_x + new_w / 2, 86), (new_x + new_w / 2, 94)])

    # The two caches: one row per token so far, the new row appended at the bottom.
    k_x, v_x, top = 318.0, 530.0, 36.0
    rows = len(tokens)
    for x, role, name in ((k_x, KEY, "K cache"), (v_x, VALUE, "V cache")):
        c.text(x + n_cells * cell / 2, 16, name, size=13, bold=True)
        fills = [[None] * n_cells for _ in range(rows)]
        vals = [values(31 * r + (7 if role is KEY else 13), n_cells) for r in range(rows)]
        c.cells(x, top, vals, cell, row_h, role, fills=fills)
        c.rect(x - 2, top + (rows - 1) * row_h - 2, n_cells * cell + 4, row_h + 4, "none", HIGHLIGHT,
               width=2.2)
    for r, tok in enumerate(tokens):
        c.text((k_x + n_cells * cell + v_x) / 2, top + (r + 0.5) * row_h, shown(tok), size=13, mono=True,
               bold=r == rows - 1)
    c.dimension(k_x, top + rows * row_h + 12, k_x + n_cells * cell, top + rows * row_h + 12, f"hs = {hs}")
    c.dimension(v_x, top + rows * row_h + 12, v_x + n_cells * cell, top + rows * row_h + 12, f"hs = {hs}")
    new_row_y = top + (rows - 0.5) * row_h
    c.arrow([(232, 119), (270, 119), (270, new_row_y), (k_x - 4, new_row_y)], color=HIGHLIGHT)
    c.text(252, new_row_y - 12, "k", size=13, bold=True, color=HIGHLIGHT)
    low = top + rows * row_h + 40
    c.arrow([(200, 144), (200, low), (v_x - 24, low), (v_x - 24, new_row_y), (v_x - 4, new_row_y)],
            color=HIGHLIGHT)
    c.text(v_x - 14, low - 14, "v", size=13, bold=True, color=HIGHLIGHT)
    c.text(v_x - 30, low + 14, "append to the caches", size=SMALL, anchor="end", color=HIGHLIGHT)

    # Attention of the new token over every cached key and value.
    y, cw = 262.0, cell + 4
    c.text(76, y - 36, "attention of the new token over all cached keys and values", size=13, anchor="start",
           color=MUTED, bold=True)
    c.text(30, y, "q", size=13, bold=True)
    c.vector(40, y - cell / 2, values(5, n_cells), cell, QUERY)
    c.arrow([(60, 144), (60, y - cell / 2 - 4)])
    x = 40 + n_cells * cell
    for label, width, draw in (
        ("q·Kᵀ/√hs", 86, lambda x0: c.cells(x0, y - cell / 2, [values(77, rows)], cw, cell, OUTPUT)),
        ("softmax", 70, lambda x0: c.cells(x0, y - cell / 2, [[abs(v) for v in values(78, rows)]], cw, cell,
                                          OUTPUT)),
        ("weights @ V", 100, lambda x0: c.vector(x0, y - cell / 2, values(9, n_cells), cell, EMBED)),
    ):
        c.arrow([(x + 6, y), (x + width - 6, y)])
        c.text(x + width / 2, y - 17, label, size=SMALL, color=MUTED)
        draw(x + width)
        x += width + (rows * cw if label != "weights @ V" else n_cells * cell)
    c.text(40 + n_cells * cell + 86 + rows * cw / 2, y + 22, "scores", size=SMALL, color=MUTED)
    c.text(40 + n_cells * cell + 156 + rows * cw * 1.5, y + 22, "weights", size=SMALL, color=MUTED)
    c.text(x - n_cells * cell / 2, y + 22, "output", size=SMALL, color=MUTED)

    n_numbers = 2 * config.n_layer * config.block_size * config.n_embd
    c.text(20, H - 50, f"Each of the {config.n_layer} layers keeps its own K and V: (B, nh, T, hs) = "
           f"(B, {config.n_head}, T, {hs}) each.", size=SMALL, anchor="start", color=MUTED)
    c.text(20, H - 28, f"A full context of {config.block_size:,} tokens: 2 × {config.n_layer} × "
           f"{config.block_size:,} × {config.n_embd} = {n_numbers:,} numbers per sequence.",
           size=SMALL, anchor="start", color=MUTED)

    alt = (f"the KV cache during one generation step. The tokens {', '.join(repr(t) for t in cached)} were "
           f"processed at earlier steps and their keys and values are stored in a K cache and a V cache, one "
           f"row per token. Only the new token {new!r} goes through c_attn; its key and value are appended as "
           f"a new row of each cache, and its query is compared with all {len(tokens)} cached keys to give "
           f"scores, softmax weights, and a weighted sum of the cached values. Each of the {config.n_layer} "
           f"layers keeps its own cache of shape (B, {config.n_head}, T, {hs}).")
    caption = ("With a KV cache, each step computes the query, key and value of the new token only, appends "
               "the key and value to the stored ones, and attends over all of them.")
    return Diagram.from_canvas(c, "kv-cache", alt, caption)

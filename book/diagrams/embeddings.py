"""Diagrams of the input vectors: the embedding table as a lookup (chapter 3), token plus position (chapter 4)."""

from __future__ import annotations

from gpt2ref.gpt2_tokenizer import GPT2Tokenizer
from gpt2ref.model import GPTConfig

from .data import gpt2_tokenizer, token_pieces
from .figure import Diagram
from .svg import EMBED, HIGHLIGHT, MUTED, POSITION, SMALL, TOKEN, Canvas, mix, outline, shade, shown, text_width, values

SERIES = (HIGHLIGHT, "#1d4ed8", "#15803d", "#7c3aed", "#be185d", "#0e7490")  # one colour per token shown


def embedding_lookup(text: str, config: GPTConfig, tokenizer: GPT2Tokenizer | None = None) -> Diagram:
    """Token ids pick rows of the (V, C) table; the rows, in text order, are the (T, C) vectors."""
    tok = tokenizer or gpt2_tokenizer()
    pieces = token_pieces(text, tok)
    V, C = config.vocab_size, config.n_embd
    wanted = sorted({0, 1, V - 1, *(i for _, i in pieces)})
    W, cell, row_h, gap_h, n_cells = 680.0, 16.0, 22.0, 18.0, 10
    table_x, top = 176.0, 86.0

    # Rows of the table to draw, with a gap (⋮) wherever ids are skipped.
    layout: list[tuple[int | None, float]] = []
    y = top
    for k, i in enumerate(wanted):
        if k and i != wanted[k - 1] + 1:
            layout.append((None, y))
            y += gap_h
        layout.append((i, y))
        y += row_h
    table_bottom = y
    H = table_bottom + 40
    c = Canvas(W, H)
    ids_text = ", ".join(str(i) for _, i in pieces)
    c.text(12, 18, f"{text!r} → token ids [{ids_text}]", size=14, anchor="start", mono=True)
    c.text(table_x + n_cells * cell / 2, 42, f"table wte: {V:,} rows × {C}", size=13, bold=True)
    c.dimension(table_x, 74, table_x + n_cells * cell, 74, f"each row: {C} numbers", side=-1)

    row_y = {}
    for i, y in layout:
        if i is None:
            c.text(table_x + n_cells * cell / 2, y + gap_h / 2, "⋮", size=14, color=MUTED)
            continue
        row_y[i] = y
        chosen = [k for k, (_, j) in enumerate(pieces) if j == i]
        vals = values(i, n_cells)
        faded = None if chosen else [[mix(shade(EMBED, v), "#ffffff", 0.55) for v in vals]]
        c.cells(table_x, y, [vals], cell, row_h, EMBED, fills=faded)
        c.text(table_x - 8, y + row_h / 2, str(i), size=13, anchor="end", mono=True, bold=bool(chosen))
        c.text(table_x - 62, y + row_h / 2, shown(tok.decode([i])), size=SMALL, anchor="end", mono=True,
               color=MUTED)
        if chosen:
            outline(c, table_x, y, n_cells * cell, row_h, SERIES[chosen[0]])

    # The looked-up rows, in the order of the text: the (T, C) input of the model.
    out_x = W - 12 - n_cells * cell
    out_top = (top + table_bottom) / 2 - len(pieces) * (row_h + 6) / 2
    c.text(out_x + n_cells * cell / 2, 42, f"vectors: (T, C) = ({len(pieces)}, {C})", size=13, bold=True)
    for k, (piece, i) in enumerate(pieces):
        y = out_top + k * (row_h + 6)
        c.cells(out_x, y, [values(i, n_cells)], cell, row_h, EMBED)
        outline(c, out_x, y, n_cells * cell, row_h, SERIES[k])
        c.text(out_x - 8, y + row_h / 2, shown(piece), size=13, anchor="end", mono=True)
        label_w = text_width(shown(piece), 13, mono=True)
        sx, sy = table_x + n_cells * cell + 4, row_y[i] + row_h / 2
        ex, ey = out_x - 16 - label_w, y + row_h / 2
        mid = (sx + ex) / 2
        c.path(f"M{sx:.1f},{sy:.1f} C{mid:.1f},{sy:.1f} {mid:.1f},{ey:.1f} {ex:.1f},{ey:.1f}", color=SERIES[k],
               width=1.8)
    c.text(12, H - 16, "Embedding a token = reading one row of the table; the same id always gives the same row.",
           size=SMALL, anchor="start", color=MUTED)

    alt = (f"the embedding table as a lookup. The text {text!r} becomes the token ids [{ids_text}]. The "
           f"table wte has {V:,} rows, one per token id, of {C} numbers each; each id selects its row "
           f"(rows {', '.join(str(i) for _, i in pieces)}), and the selected rows, in the order of the text, "
           f"form a ({len(pieces)}, {C}) matrix of vectors.")
    caption = (f"An embedding is a table lookup: each token id picks one row of GPT-2's {V:,} × {C} table, and "
               f"the rows, in text order, are the vectors the model works with.")
    return Diagram.from_canvas(c, "embedding-lookup", alt, caption)


def token_plus_position(text: str, config: GPTConfig, tokenizer: GPT2Tokenizer | None = None) -> Diagram:
    """Each position's input is its token's row of wte plus its position's row of wpe."""
    pieces = token_pieces(text, tokenizer)
    T, V, P, C = len(pieces), config.vocab_size, config.block_size, config.n_embd
    W, left, n_cells, cell = 680.0, 188.0, 5, 14.0
    col = (W - left - 8) / T
    rows = {"t": 22.0, "token": 54.0, "id": 84.0, "wte": 112.0, "plus": 136.0, "wpe": 160.0, "eq": 184.0,
            "x": 208.0}
    H = rows["x"] + 56
    c = Canvas(W, H)
    for key, label in (("t", "position t"), ("token", "token"), ("id", "token id"),
                       ("wte", "token vector wte[id]"), ("wpe", "position vector wpe[t]"),
                       ("x", "input x = sum")):
        c.text(left - 12, rows[key], label, size=13, anchor="end", bold=key == "x")
    for t, (piece, i) in enumerate(pieces):
        cx = left + (t + 0.5) * col
        c.text(cx, rows["t"], str(t), size=13, mono=True, color=MUTED)
        c.fit_box(cx, rows["token"] - 14, 28, TOKEN, shown(piece), size=13, mono=True, min_w=30)
        c.text(cx, rows["id"], str(i), size=13, mono=True)
        a, b = values(i, n_cells), values(1000 + t, n_cells)
        x0 = cx - n_cells * cell / 2
        c.vector(x0, rows["wte"] - cell / 2, a, cell, EMBED)
        c.text(cx, rows["plus"], "+", size=14, bold=True)
        c.vector(x0, rows["wpe"] - cell / 2, b, cell, POSITION)
        c.text(cx, rows["eq"], "=", size=14, bold=True)
        c.cells(x0, rows["x"] - cell / 2, [a], cell, cell, EMBED,
                fills=[[mix(shade(EMBED, u), shade(POSITION, v), 0.5) for u, v in zip(a, b, strict=True)]])
    c.text(12, H - 30, f"wte: {V:,} rows, one per token id.   wpe: {P:,} rows, one per position.",
           size=SMALL, anchor="start", color=MUTED)
    c.text(12, H - 12, f"Every vector has {C} numbers ({n_cells} drawn); the same token at another position "
           f"gets another sum.", size=SMALL, anchor="start", color=MUTED)

    alt = (f"token plus position vectors for {text!r}. Each of its {T} tokens "
           f"({', '.join(f'{p!r} (id {i}) at position {t}' for t, (p, i) in enumerate(pieces))}) looks up its "
           f"token vector, a row of wte ({V:,} rows), and its position vector, row t of wpe ({P:,} rows); "
           f"the two {C}-number vectors are added to give the model's input vector for that position.")
    caption = ("The model's input at each position is the sum of two looked-up vectors: the token's row of wte "
               "and the position's row of wpe.")
    return Diagram.from_canvas(c, "token-plus-position", alt, caption)


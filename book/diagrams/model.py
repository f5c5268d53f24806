"""Diagrams of the model (chapter 6): one pre-LayerNorm transformer block, and the whole GPT-2."""

from __future__ import annotations

from gpt2ref.gpt2_tokenizer import GPT2Tokenizer
from gpt2ref.model import GPTConfig

from .data import parameter_count, token_pieces
from .figure import Diagram
from .svg import EMBED, HIGHLIGHT, INK, LAYER, MUTED, NORM, OUTPUT, POSITION, SMALL, Canvas, token_box_width, token_row


def _residual_branch(c: Canvas, stream_x: float, y_fork: float, box_x: float, box_w: float,
                     norm: str, layer: list[str], layer_h: float) -> float:
    """One sub-layer beside the residual stream: fork, LayerNorm, the layer, and ⊕ back. Returns the ⊕'s y."""
    norm_y = y_fork + 10
    c.arrow([(stream_x, y_fork), (box_x + box_w / 2, y_fork), (box_x + box_w / 2, norm_y + 4)])
    c.box(box_x, norm_y + 6, box_w, 34, NORM, norm, size=13)
    layer_y = norm_y + 6 + 34 + 20
    c.arrow([(box_x + box_w / 2, norm_y + 40), (box_x + box_w / 2, layer_y - 2)])
    c.box(box_x, layer_y, box_w, layer_h, LAYER, layer, size=13)
    plus_y = layer_y + layer_h + 26
    c.arrow([(box_x + box_w / 2, layer_y + layer_h), (box_x + box_w / 2, plus_y), (stream_x + 13, plus_y)])
    c.circle(stream_x, plus_y, 11, "#ffffff", INK, "+", size=16)
    return plus_y


def transformer_block(config: GPTConfig) -> Diagram:
    """x -> x + attn(ln_1(x)) -> x + mlp(ln_2(x)): two sub-layers, each adding to the residual stream."""
    C, nh = config.n_embd, config.n_head
    W, H = 680.0, 480.0
    c = Canvas(W, H)
    stream_x, box_x, box_w, code_x = 96.0, 186.0, 216.0, 428.0
    c.text(stream_x, 18, "x: (B, T, C)", size=13, mono=True, bold=True)
    c.text(stream_x, 36, f"C = {C}", size=SMALL, color=MUTED)

    plus1 = _residual_branch(c, stream_x, 78, box_x, box_w, "ln_1: LayerNorm",
                             ["causal self-attention", f"{nh} heads, masked"], 48)
    plus2 = _residual_branch(c, stream_x, plus1 + 40, box_x, box_w, "ln_2: LayerNorm",
                             ["MLP", f"{C} → {4 * C:,} → GELU → {C}"], 48)
    c.arrow([(stream_x, 46), (stream_x, plus1 - 13)], color=EMBED.stroke, width=3)
    c.arrow([(stream_x, plus1 + 11), (stream_x, plus2 - 13)], color=EMBED.stroke, width=3)
    c.arrow([(stream_x, plus2 + 11), (stream_x, H - 40)], color=EMBED.stroke, width=3)
    c.text(stream_x, H - 24, "out: (B, T, C)", size=13, mono=True, bold=True)
    for y in ((78 + plus1) / 2, (plus1 + 40 + plus2) / 2):
        c.text(stream_x - 14, y, "residual", size=SMALL, anchor="end", color=EMBED.stroke)
        c.text(stream_x - 14, y + 16, "stream", size=SMALL, anchor="end", color=EMBED.stroke)

    c.text(code_x, plus1 - 16, "attention reads a normalised copy", size=SMALL, anchor="start", color=MUTED)
    c.text(code_x, plus1, "x = x + self.attn(self.ln_1(x))", size=SMALL, anchor="start", mono=True)
    c.text(code_x, plus2 - 16, "the MLP works on each token alone", size=SMALL, anchor="start", color=MUTED)
    c.text(code_x, plus2, "x = x + self.mlp(self.ln_2(x))", size=SMALL, anchor="start", mono=True)
    c.text(code_x, 78 - 8, "pre-norm: LayerNorm before", size=SMALL, anchor="start", color=MUTED)
    c.text(code_x, 78 + 8, "each sub-layer, never on x itself", size=SMALL, anchor="start", color=MUTED)

    alt = (f"one pre-LayerNorm transformer block of GPT-2. The residual stream x, of shape (B, T, C) with "
           f"C = {C}, runs straight down the left. A first branch forks off it, goes through LayerNorm ln_1 "
           f"and masked causal self-attention with {nh} heads, and is added back to the stream; a second "
           f"branch goes through LayerNorm ln_2 and the MLP ({C} to {4 * C:,}, GELU, back to {C}) and is "
           f"added back too. The output has the same shape as the input.")
    caption = ("A GPT-2 block: each of its two sub-layers reads a LayerNorm'd copy of the residual stream and "
               "adds its result back, so the stream itself passes straight through.")
    return Diagram.from_canvas(c, "transformer-block", alt, caption)


def gpt2_model(config: GPTConfig, text: str, tokenizer: GPT2Tokenizer | None = None) -> Diagram:
    """Token ids -> wte + wpe -> n_layer blocks -> ln_f -> lm_head (tied to wte) -> one score per token."""
    pieces = token_pieces(text, tokenizer)
    T, V, P, C, L = len(pieces), config.vocab_size, config.block_size, config.n_embd, config.n_layer
    n_params = parameter_count(config)
    W, H = 680.0, 584.0
    c = Canvas(W, H)
    cx, bw = 300.0, 300.0
    bx = cx - bw / 2
    shape_x = bx + bw + 16

    # Tokens in.
    width = sum(token_box_width(p) + 3 for p, _ in pieces) - 3
    for (x, w), (_, i) in zip(token_row(c, cx + width / 2, 26, [p for p, _ in pieces], 0), pieces, strict=True):
        c.text(x + w / 2, 52, str(i), size=SMALL, mono=True)
    c.text(shape_x, 30, f"ids: (B, T) = (1, {T})", size=SMALL, anchor="start", mono=True, color=MUTED)

    # Embeddings: two tables, added.
    c.arrow([(cx - 70, 60), (cx - 70, 78)])
    c.box(bx - 30, 80, 180, 44, EMBED, ["wte: token table", f"{V:,} × {C}"], size=13)
    c.box(bx + 166, 80, 164, 44, POSITION, ["wpe: positions", f"{P:,} × {C}"], size=13)
    c.circle(cx, 146, 11, "#ffffff", INK, "+", size=16)
    c.arrow([(bx + 60, 124), (bx + 60, 146), (cx - 13, 146)])
    c.arrow([(bx + 248, 124), (bx + 248, 146), (cx + 13, 146)])
    c.arrow([(cx, 157), (cx, 178)], color=EMBED.stroke, width=3)
    c.text(cx + 14, 168, f"(1, {T}, {C})", size=SMALL, anchor="start", mono=True, color=MUTED)

    # The blocks: the first two, a gap, the last.
    top, bh, gap = 180.0, 34.0, 18.0
    y = top
    for k, label in enumerate(["block 1", "block 2", f"block {L}"]):
        if k == 2:  # the blocks in between, drawn as a dashed stretch of the stream
            y += 26
            c.text(cx + 14, y - (gap + 26) / 2, f"blocks 3 to {L - 1}", size=SMALL, anchor="start", color=MUTED)
        if k:
            c.arrow([(cx, y - gap - (26 if k == 2 else 0)), (cx, y - 1)], color=EMBED.stroke, width=3,
                    dashed=k == 2)
        c.box(bx, y, bw, bh, LAYER, f"{label}: attention + MLP", size=13)
        y += bh + gap
    blocks_bottom = y - gap
    c.dimension(bx + bw + 14, top, bx + bw + 14, blocks_bottom, f"{L} blocks", side=1)
    c.text(bx + bw + 22, (top + blocks_bottom) / 2 + 20, f"each (1, {T}, {C})", size=SMALL, anchor="start",
           mono=True, color=MUTED)
    c.text(bx + bw + 22, (top + blocks_bottom) / 2 + 38, "in and out", size=SMALL, anchor="start", color=MUTED)

    # Final LayerNorm, the head, the scores.
    y = blocks_bottom + gap
    c.arrow([(cx, blocks_bottom), (cx, y - 1)], color=EMBED.stroke, width=3)
    c.box(bx, y, bw, 34, NORM, "ln_f: final LayerNorm", size=13)
    y += 34 + 16
    c.arrow([(cx, y - 16), (cx, y)])
    c.box(bx, y, bw, 44, LAYER, ["lm_head: linear, no bias", f"{C} → {V:,}"], size=13)
    head_y = y
    y += 44 + 18
    c.arrow([(cx, y - 18), (cx, y)])
    c.box(bx, y, bw, 34, OUTPUT, f"{V:,} scores per position", size=13)
    c.text(shape_x, y + 17, f"logits: (1, {T}, {V:,})", size=SMALL, anchor="start", mono=True, color=MUTED)
    y += 34 + 16
    c.arrow([(cx, y - 16), (cx, y)])
    c.text(cx, y + 10, "softmax of the last row → probabilities of the next token", size=13)

    # Weight tying: lm_head uses wte's matrix.
    tie_x = bx - 48
    c.arrow([(bx - 30, 102), (tie_x, 102), (tie_x, head_y + 22), (bx - 4, head_y + 22)], color=HIGHLIGHT,
            dashed=True, width=1.8)
    c.text(tie_x - 8, (102 + head_y) / 2 - 10, "same", size=SMALL, anchor="end", color=HIGHLIGHT, bold=True)
    c.text(tie_x - 8, (102 + head_y) / 2 + 6, "matrix", size=SMALL, anchor="end", color=HIGHLIGHT, bold=True)
    c.text(tie_x - 8, (102 + head_y) / 2 + 22, "(tied)", size=SMALL, anchor="end", color=HIGHLIGHT)
    c.text(W - 12, H - 12, f"{n_params:,} parameters in all", size=SMALL, anchor="end", color=MUTED)

    alt = (f"the whole GPT-2 small. The text {text!r} becomes the token ids {[i for _, i in pieces]}. Each id "
           f"selects a row of the token table wte ({V:,} × {C}) and each position a row of the position table "
           f"wpe ({P:,} × {C}); the two are added, giving a (1, {T}, {C}) tensor. It passes through {L} "
           f"transformer blocks, each keeping the shape, then the final LayerNorm ln_f, then lm_head, a linear "
           f"map from {C} to {V:,} that uses the same matrix as wte (weight tying). The result is {V:,} scores "
           f"for every position; the softmax of the last one gives the next token's probabilities. "
           f"{n_params:,} parameters in all.")
    caption = (f"GPT-2 small end to end: token and position embeddings, {L} blocks, a final LayerNorm, and an "
               f"output head that reuses the token table to score all {V:,} tokens.")
    return Diagram.from_canvas(c, "gpt2-model", alt, caption)

"""Diagram of the training loop (chapter 8): batch, forward, loss, backward, clip, optimizer step, repeat."""

from __future__ import annotations

from gpt2ref.presets import TrainConfig

from .figure import Diagram
from .svg import EMBED, HIGHLIGHT, LAYER, MUTED, NEUTRAL, OUTPUT, SMALL, TOKEN, Canvas, Role


def training_loop(cfg: TrainConfig, vocab_size: int) -> Diagram:
    """The loop of ``gpt2ref.train``: six stations around a ring, with the shapes of ``cfg``'s batches."""
    B, T, V = cfg.batch_size, cfg.block_size, vocab_size
    W, H = 680.0, 330.0
    c = Canvas(W, H)
    bw, bh = 176.0, 64.0
    cols = (20.0, (W - bw) / 2, W - 20 - bw)
    top, bottom = 40.0, 210.0
    stations: list[tuple[float, float, Role, list[str], str]] = [
        (cols[0], top, TOKEN, ["1. batch: get_batch", f"x, y: ({B}, {T}) ids"], "random windows; y = x shifted"),
        (cols[1], top, LAYER, ["2. forward: model(x)", f"logits ({B}, {T}, {V})"], "a score per token, per position"),
        (cols[2], top, OUTPUT, ["3. loss", "cross-entropy(logits, y)"], "one number: the mean over B·T"),
        (cols[2], bottom, OUTPUT, ["4. loss.backward()", "a gradient per weight"], "backpropagation"),
        (cols[1], bottom, NEUTRAL, ["5. clip the gradient", f"to norm {cfg.grad_clip:g}"],
         "guards against a bad batch"),
        (cols[0], bottom, EMBED, ["6. AdamW step", "lr = lr_at(step)"], "weights move; grads reset"),
    ]
    for x, y, role, label, note in stations:
        c.box(x, y, bw, bh, role, label, size=13)
        c.text(x + bw / 2, y + bh + 16 if y == bottom else y - 12, note, size=SMALL, color=MUTED)
    mid_top, mid_bottom = top + bh / 2, bottom + bh / 2
    c.arrow([(cols[0] + bw + 4, mid_top), (cols[1] - 4, mid_top)], width=2)
    c.arrow([(cols[1] + bw + 4, mid_top), (cols[2] - 4, mid_top)], width=2)
    c.arrow([(cols[2] + bw / 2, top + bh + 4), (cols[2] + bw / 2, bottom - 4)], width=2)
    c.arrow([(cols[2] - 4, mid_bottom), (cols[1] + bw + 4, mid_bottom)], width=2)
    c.arrow([(cols[1] - 4, mid_bottom), (cols[0] + bw + 4, mid_bottom)], width=2)
    c.arrow([(cols[0] + bw / 2, bottom - 4), (cols[0] + bw / 2, top + bh + 4)], color=HIGHLIGHT, width=2.4)
    c.text(cols[0] + bw / 2 + 10, (top + bh + bottom) / 2, f"repeat, {cfg.max_iters:,} steps", size=13,
           anchor="start", color=HIGHLIGHT, bold=True)
    c.text(W / 2, H - 14, f"every {cfg.eval_interval} steps: estimate the train and validation loss, save a checkpoint",
           size=SMALL, color=MUTED)

    alt = (f"the training loop as a ring of six steps, repeated {cfg.max_iters:,} times: 1, get_batch draws x "
           f"and y of shape ({B}, {T}) from the token stream, y being x shifted by one; 2, the forward pass "
           f"gives logits of shape ({B}, {T}, {V}); 3, the cross-entropy of the logits against y is the loss; "
           f"4, loss.backward() computes a gradient for every weight; 5, the gradient is clipped to norm "
           f"{cfg.grad_clip:g}; 6, AdamW updates the weights with the scheduled learning rate, and the loop "
           f"starts again with a new batch. Every {cfg.eval_interval} steps the losses are estimated and a "
           f"checkpoint is saved.")
    caption = ("One training step: draw a batch, run the model forward, measure the loss, backpropagate, clip "
               "the gradient and let AdamW update the weights; then repeat with a new batch.")
    return Diagram.from_canvas(c, "training-loop", alt, caption)

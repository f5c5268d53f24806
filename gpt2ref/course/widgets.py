"""Data for the book's three interactive figures, computed once at build time and reshaped in the browser.

The book is static: the model runs while the book is built, these functions turn what it computed into
small JSON documents, and the widget code (``book/widgets/gpt2ref-widgets.js``, the project's own) draws
them and reacts to the reader's sliders. No kernel, no download at reading time.

- :func:`sampling_data` (chapter 7): the next-token logits after a prompt, for the sampling dials.
- :func:`attention_data` (chapter 5): every head's attention weights on a sentence, for the explorer.
- :func:`bpe_steps_data` (chapter 2): the merges a BPE tokenizer applies to a sentence, in order.

:func:`widget_html` wraps a document in the HTML a notebook cell displays; the ``*_figure`` functions draw
the static figure printed under each widget, for print and for readers without JavaScript.

A *tokenizer* here is anything with ``encode(text) -> list[int]`` and either ``token_strings(ids)`` (the
text each id stands for, like ``gpt2ref.course_model.BookModel``) or ``decode(ids)``.
"""

from __future__ import annotations

import base64
import html
import json
import math
from collections.abc import Sequence
from typing import Any

import torch

from gpt2ref.bpe import merge_pair, render_token
from gpt2ref.model import GPT

FORMAT_VERSION = 1
# The temperatures the sampling widget's slider can take: 0.10, 0.15, ..., 2.00.
TEMPERATURE_MIN, TEMPERATURE_MAX, TEMPERATURE_STEP = 0.1, 2.0, 0.05
WEIGHT_SCALE = 65535  # attention weights travel as round(w * 65535) in 16 bits: error <= 7.7e-6
KINDS = ("sampling", "attention", "bpe")


def temperature_grid() -> list[float]:
    """Every value the temperature slider can take, rounded to two decimals (0.1 to 2.0 by 0.05)."""
    n = round((TEMPERATURE_MAX - TEMPERATURE_MIN) / TEMPERATURE_STEP)
    return [round(TEMPERATURE_MIN + i * TEMPERATURE_STEP, 2) for i in range(n + 1)]


def visible(text: str) -> str:
    """A token's text with its whitespace made visible: ␣ for a space, ⏎ for a newline, ⇥ for a tab."""
    return text.replace(" ", "␣").replace("\n", "⏎").replace("\t", "⇥")


def token_labels(tokenizer: Any, ids: Sequence[int]) -> list[str]:
    """What each id stands for, as the reader should see it (whitespace made visible)."""
    if hasattr(tokenizer, "token_strings"):
        texts = tokenizer.token_strings(list(ids))
    else:
        texts = [tokenizer.decode([i]) for i in ids]
    return [visible(t) for t in texts]


def _encode(model: GPT, tokenizer: Any, text: str, max_tokens: int | None = None) -> list[int]:
    """The ids of ``text``, checked to be non-empty and to fit the model's context (and ``max_tokens``)."""
    ids = list(tokenizer.encode(text))
    limit = model.config.block_size if max_tokens is None else min(max_tokens, model.config.block_size)
    if not ids:
        raise ValueError("The text encodes to no tokens: give the widget a non-empty text.")
    if len(ids) > limit:
        raise ValueError(f"The text is {len(ids)} tokens long; this widget takes at most {limit}. Shorten it.")
    return ids


# ---------------------------------------------------------------------------------------------------------
# Sampling dials (chapter 7)
# ---------------------------------------------------------------------------------------------------------

def sampling_data(model: GPT, tokenizer: Any, prompt: str, *, n_top: int = 200, n_bars: int = 16,
                  model_name: str = "") -> dict:
    """The next-token logits after ``prompt`` for the sampling dials.

    What the widget's probabilities are relative to: the **full vocabulary**. The widget holds the
    ``n_top`` most likely tokens (ordered as ``top_k_filter`` ranks them: by logit, ties to the lower id)
    and its top-k slider runs from 1 to ``n_top``, so top-k always cuts the rest of the vocabulary away
    exactly as ``gpt2ref.sampling.top_k_filter`` does; temperature, top-p and the final softmax then only
    ever see the kept tokens, which the widget has. Its numbers therefore equal
    ``softmax(top_p_filter(top_k_filter(apply_temperature(logits, t), k), p))`` over all the model's logits.
    For the probabilities *before* the cut (drawn as outlines), ``tail_logsumexp[i]`` is
    ``logsumexp(z / t)`` over the tokens outside the top ``n_top`` at the i-th temperature of
    :func:`temperature_grid` (null when the widget holds the whole vocabulary).
    """
    if n_top < 1 or n_bars < 1:
        raise ValueError(f"n_top and n_bars must be >= 1, got {n_top} and {n_bars}")
    ids = _encode(model, tokenizer, prompt)
    was_training = model.training
    model.eval()  # no dropout: the logits generation would see
    try:
        with torch.no_grad():
            logits, _ = model(torch.tensor([ids]), last_only=True)  # (1, 1, V)
    finally:
        model.train(was_training)
    logits = logits[0, -1].float().cpu()  # (V,) float32, exactly as sampling receives them
    V = logits.numel()
    n_top = min(n_top, V)
    order = torch.sort(logits, descending=True, stable=True).indices  # top_k_filter's ranking
    top, rest = order[:n_top], order[n_top:]
    rest_logits = logits[rest].double()
    tail = [float(torch.logsumexp(rest_logits / t, dim=0)) if rest.numel() else None for t in temperature_grid()]
    top_ids = [int(i) for i in top]
    return {
        "kind": "sampling", "version": FORMAT_VERSION, "model": model_name,
        "prompt": prompt, "prompt_label": visible(prompt), "vocab_size": V,
        "ids": top_ids, "labels": token_labels(tokenizer, top_ids),
        "logits": [float(logits[i]) for i in top_ids],  # float32 values, exact in JSON's doubles
        "temperatures": {"min": TEMPERATURE_MIN, "max": TEMPERATURE_MAX, "step": TEMPERATURE_STEP},
        "tail_logsumexp": tail,
        "n_bars": min(n_bars, n_top),
        "defaults": {"temperature": 1.0, "top_k": min(50, n_top), "top_p": 0.9},
    }


def sampling_reference(data: dict, temperature: float, top_k: int, top_p: float,
                       full_logits: torch.Tensor | None = None) -> torch.Tensor:
    """The widget's arithmetic done by ``gpt2ref.sampling`` in float64: probabilities of ``data["ids"]``.

    With ``full_logits`` (V,) it runs on the whole vocabulary (what the widget claims to equal);
    without, on the exported top tokens only. Tokens cut by top-k or top-p get probability 0.
    (``top_p_filter`` decides what to keep from float32 masses, the browser from float64 ones: they could
    only disagree on a token whose mass ranked above it is within about 1e-7 of ``top_p``.)
    """
    from gpt2ref.sampling import apply_temperature, top_k_filter, top_p_filter

    ids = torch.tensor(data["ids"])
    x = torch.tensor(data["logits"], dtype=torch.float64) if full_logits is None else full_logits.double()
    x = apply_temperature(x[None], temperature)
    x = top_p_filter(top_k_filter(x, top_k), top_p)
    probs = torch.softmax(x, dim=-1)[0]
    return probs if full_logits is None else probs[ids]


# ---------------------------------------------------------------------------------------------------------
# Attention explorer (chapter 5)
# ---------------------------------------------------------------------------------------------------------

def attention_maps(model: GPT, ids: Sequence[int]) -> torch.Tensor:
    """Every head's attention weights on one sequence: (n_layer, n_head, T, T), rows summing to 1 (eval mode)."""
    was_training = model.training
    model.eval()
    try:
        maps = model.attention_maps(torch.tensor([list(ids)], device=model.lm_head.weight.device))
    finally:
        model.train(was_training)
    return maps[:, 0].float().cpu()  # (n_layer, nh, T, T)


def pack_weights(maps: torch.Tensor) -> str:
    """The lower triangles (j <= i) of (L, nh, T, T) weights as little-endian uint16 round(w * 65535), base64."""
    T = maps.size(-1)
    rows, cols = torch.tril_indices(T, T)
    tri = maps[..., rows, cols].reshape(-1)  # layer, head, then row-major over the triangle
    q = torch.round(tri.double().clamp(0, 1) * WEIGHT_SCALE).to(torch.int32).numpy().astype("<u2")
    return base64.b64encode(q.tobytes()).decode("ascii")


def unpack_weights(data: dict) -> torch.Tensor:
    """Inverse of :func:`pack_weights` for an :func:`attention_data` document: (L, nh, T, T), zeros above."""
    import numpy as np

    L, nh, T = data["n_layer"], data["n_head"], len(data["labels"])
    q = np.frombuffer(base64.b64decode(data["weights"]), dtype="<u2").astype("float64") / WEIGHT_SCALE
    out = torch.zeros(L, nh, T, T, dtype=torch.float64)
    rows, cols = torch.tril_indices(T, T)
    out[..., rows, cols] = torch.from_numpy(q.copy()).view(L, nh, -1)
    return out


def attention_data(model: GPT, tokenizer: Any, text: str, *, max_tokens: int = 32, model_name: str = "",
                   layer: int = 0, head: int = 0) -> dict:
    """Every head's attention weights on ``text`` for the attention explorer (opens at ``layer``, ``head``).

    The weights of all heads of all layers travel packed (:func:`pack_weights`); ``max_tokens`` keeps the
    document small (GPT-2, 144 heads of 12 tokens: about 15 KB).
    """
    ids = _encode(model, tokenizer, text, max_tokens)
    maps = attention_maps(model, ids)
    L, nh = maps.shape[:2]
    if not (0 <= layer < L and 0 <= head < nh):
        raise ValueError(f"layer {layer}, head {head} does not exist: the model has {L} layers of {nh} heads")
    return {
        "kind": "attention", "version": FORMAT_VERSION, "model": model_name, "text": text,
        "ids": ids, "labels": token_labels(tokenizer, ids), "n_layer": L, "n_head": nh,
        "scale": WEIGHT_SCALE, "weights": pack_weights(maps),
        "defaults": {"layer": layer, "head": head},
    }


# ---------------------------------------------------------------------------------------------------------
# BPE stepper (chapter 2)
# ---------------------------------------------------------------------------------------------------------

def bpe_steps(tokenizer: Any, text: str) -> tuple[list[list[int]], list[tuple[int, int, int]]]:
    """The byte tokens of each chunk of ``text``, and the merges that apply to it in the order BPE applies them.

    ``tokenizer`` is a ``gpt2ref.bpe.Tokenizer`` or a ``gpt2ref.gpt2_tokenizer.GPT2Tokenizer``: both number
    merged tokens in the order they were learned (256, 257, ...), and encoding repeatedly applies the
    earliest-learned merge that occurs. Chunks never merge with each other, so doing this over all chunks
    at once, one merge at a time (every occurrence in every chunk), ends at the tokenizer's own encoding.
    """
    byte_to_id = getattr(tokenizer, "byte_to_id", list(range(256)))
    chunks = [[byte_to_id[b] for b in chunk.encode("utf-8")] for chunk in tokenizer.split(text)]
    start = [list(c) for c in chunks]
    steps: list[tuple[int, int, int]] = []
    while True:
        candidates = [tokenizer.merges[p] for c in chunks for p in zip(c, c[1:], strict=False)
                      if p in tokenizer.merges]
        if not candidates:
            return start, steps
        new_id = min(candidates)  # the earliest-learned merge that occurs anywhere
        pair = next(p for c in chunks for p in zip(c, c[1:], strict=False) if tokenizer.merges.get(p) == new_id)
        chunks = [merge_pair(c, pair, new_id) for c in chunks]
        steps.append((pair[0], pair[1], new_id))


def bpe_steps_data(tokenizer: Any, text: str, *, tokenizer_name: str = "") -> dict:
    """The BPE stepper's document: the chunks' byte tokens, the merges applied, and every token's text."""
    if not text:
        raise ValueError("The BPE stepper needs a non-empty text.")
    chunks, steps = bpe_steps(tokenizer, text)
    used = {i for c in chunks for i in c} | {i for step in steps for i in step}
    final = tokenizer.encode(text)
    return {
        "kind": "bpe", "version": FORMAT_VERSION, "tokenizer": tokenizer_name, "text": text,
        "chunks": chunks, "steps": [list(s) for s in steps], "n_merges": len(tokenizer.merges),
        "tokens": {str(i): visible(render_token(tokenizer.vocab[i])) for i in sorted(used)},
        "final": final,
    }


# ---------------------------------------------------------------------------------------------------------
# Into the page
# ---------------------------------------------------------------------------------------------------------

def widget_html(data: dict, *, title: str) -> str:
    """The HTML a notebook cell displays: an empty widget box holding its data, filled in by the book's JS.

    Without JavaScript the box only says so; the static figure under it carries the content.
    """
    if data.get("kind") not in KINDS:
        raise ValueError(f"Unknown widget kind {data.get('kind')!r}; expected one of {KINDS}")
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    payload = payload.replace("</", "<\\/")  # the JSON must not close its <script> element
    return (
        f'<div class="gw-widget" data-gw-kind="{data["kind"]}" role="group" aria-label="{html.escape(title)}">'
        f'<script type="application/json" class="gw-data">{payload}</script>'
        f'<p class="gw-nojs">{html.escape(title)}: the interactive version needs JavaScript; '
        f"the figure below shows the same data.</p></div>"
    )


def display_widget(data: dict, *, title: str) -> None:
    """Show a widget in a notebook cell's output (the book's JavaScript brings it to life)."""
    from IPython.display import HTML, display

    display(HTML(widget_html(data, title=title)))


def _entropy_bits(probs: Sequence[float]) -> float:
    return sum(-p * math.log2(p) for p in probs if p > 0)


def sampling_before_cut(data: dict, temperature: float) -> torch.Tensor:
    """Full-vocabulary probabilities of the widget's tokens at ``temperature`` before any cut (float64).

    ``temperature`` must be one of :func:`temperature_grid`'s values (the tail's log-sum-exp is known there).
    """
    grid = temperature_grid()
    index = round((temperature - TEMPERATURE_MIN) / TEMPERATURE_STEP)
    if not 0 <= index < len(grid) or abs(grid[index] - temperature) > 1e-9:
        raise ValueError(f"temperature {temperature} is not one of the slider's values {grid[0]}, {grid[1]}, ..., {grid[-1]}")
    z = torch.tensor(data["logits"], dtype=torch.float64) / temperature
    lse = torch.logsumexp(z, dim=0)
    tail = data["tail_logsumexp"][index]
    if tail is not None:
        lse = torch.logaddexp(lse, torch.tensor(tail, dtype=torch.float64))
    return torch.exp(z - lse)


def sampling_figure(data: dict, settings: Sequence[tuple[float, int, float]] = ((1.0, 200, 1.0), (0.7, 50, 0.9))):
    """Static figure for the sampling dials: the top bars at a few (temperature, top-k, top-p) settings.

    Filled bars are the probabilities after the cut (grey: cut), dashed outlines the probabilities before it.
    """
    import matplotlib.pyplot as plt

    n = data["n_bars"]
    fig, axes = plt.subplots(len(settings), 1, figsize=(7.5, 2.6 * len(settings)), layout="constrained",
                             sharex=True)
    axes = [axes] if len(settings) == 1 else list(axes)
    for ax, (t, k, p) in zip(axes, settings, strict=True):
        k = min(k, len(data["ids"]))
        probs = sampling_reference(data, t, k, p).tolist()
        before = sampling_before_cut(data, t).tolist()
        kept = [q > 0 for q in probs[:n]]
        ax.bar(range(n), probs[:n], color="tab:blue", label="after the cut (renormalised)")
        ax.bar(range(n), before[:n], fill=False, edgecolor="black", linestyle="--", linewidth=0.8,
               label="before the cut")
        for x, keep in enumerate(kept):
            if not keep:
                ax.text(x, before[x], "cut", ha="center", va="bottom", fontsize=7, color="#a33")
        ax.set_ylim(0, max(1e-3, *probs[:n], *before[:n]) * 1.18)
        ax.set_ylabel("probability")
        ax.set_title(f"temperature {t:g}, top-k {k}, top-p {p:g}: {sum(q > 0 for q in probs)} tokens kept, "
                     f"entropy {_entropy_bits(probs):.2f} bits", fontsize=10)
    axes[0].legend(fontsize=8, loc="upper right")
    labels = data["labels"][:n]
    axes[-1].set_xticks(range(n), labels, rotation=0 if max(map(len, labels)) <= 2 else 60, fontsize=8)
    axes[-1].set_xlabel(f"the {n} most likely next tokens after {data['prompt_label']!r}")
    return fig


def attention_figure(data: dict, layer: int | None = None, head: int | None = None):
    """Static figure for the attention explorer: one head's weights as a heatmap."""
    import matplotlib.pyplot as plt

    layer = data["defaults"]["layer"] if layer is None else layer
    head = data["defaults"]["head"] if head is None else head
    weights = unpack_weights(data)[layer, head].numpy()
    T = weights.shape[0]
    side = min(7.0, 2.5 + 0.22 * T)
    fig, ax = plt.subplots(figsize=(side + 1, side), layout="constrained")
    image = ax.imshow(weights, cmap="viridis", vmin=0, vmax=1)
    ax.set_xticks(range(T), data["labels"], rotation=90, fontsize=8)
    ax.set_yticks(range(T), data["labels"], fontsize=8)
    ax.set_xlabel("key: the token looked at")
    ax.set_ylabel("query: the token looking")
    ax.set_title(f"Attention weights, layer {layer}, head {head}", fontsize=10)
    fig.colorbar(image, ax=ax, shrink=0.7, label="weight")
    return fig


def bpe_tokens_at(data: dict, step: int) -> list[list[int]]:
    """The tokens of each chunk after the first ``step`` merges of the document (the widget's replay)."""
    chunks = [list(c) for c in data["chunks"]]
    for a, b, new_id in data["steps"][:step]:
        chunks = [merge_pair(c, (a, b), new_id) for c in chunks]
    return chunks


def bpe_figure(data: dict, steps: Sequence[int] | None = None, width_in: float = 7.5):
    """Static figure for the BPE stepper: the text as token boxes after a few numbers of merges.

    Laid out in points with a monospace font (DejaVu Sans Mono advances 0.602 em per character), so boxes
    never overlap and long lines wrap; the tokens the step's merge just made are outlined in red.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    n = len(data["steps"])
    steps = sorted({0, n // 3, (2 * n) // 3, n}) if steps is None else list(steps)
    size, pad, gap, chunk_gap, line = 9.0, 2.0, 1.5, 6.0, 17.0  # points
    char = 0.602 * size
    width = width_in * 72 - 12
    colours = ["#fde2a7", "#b9e4c9", "#c6d8f5", "#f5c6d8"]
    titles, boxes = [], []  # (y, text) and (x, y, w, label, colour, fresh)
    y = 0.0
    for step in steps:
        y -= line
        chunks = bpe_tokens_at(data, step)
        newest = data["steps"][step - 1][2] if step else None
        count = sum(len(c) for c in chunks)
        titles.append((y, f"after {step} of the {n} merges that apply: {count} tokens"))
        y -= line
        x, k = 0.0, 0
        for chunk in chunks:
            for i in chunk:
                label = data["tokens"][str(i)]
                w = len(label) * char + 2 * pad
                if x + w > width and x > 0:
                    x, y = 0.0, y - line
                boxes.append((x, y, w, label, colours[k % len(colours)], i == newest))
                x, k = x + w + gap, k + 1
            x += chunk_gap
        y -= 0.4 * line
    height = -y + 6
    fig = plt.figure(figsize=(width_in, height / 72))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(-6, width + 6)  # one data unit = one point, both ways
    ax.set_ylim(-height + 6, 6)
    ax.set_axis_off()
    for ty, text in titles:
        ax.text(0, ty, text, fontsize=size, va="center")
    for bx, by, w, label, colour, fresh in boxes:
        ax.add_patch(Rectangle((bx, by - 0.75 * size), w, 1.5 * size, facecolor=colour,
                               edgecolor="#d62728" if fresh else "gray", linewidth=1.5 if fresh else 0.5))
        ax.text(bx + pad, by, label, family="DejaVu Sans Mono", fontsize=size, va="center",
                fontweight="bold" if fresh else "normal")
    return fig

"""Turning next-token logits into text: temperature, top-k, top-p and the generation loop (chapter 7).

The model only ever scores the next token. Generation is a loop around it: score, pick one token,
append it, repeat. How the token is picked decides the character of the text:

- greedy takes the single most likely token (deterministic, often repetitive);
- temperature divides the logits before the softmax (< 1 sharpens, > 1 flattens the distribution);
- top-k keeps only the k most likely tokens, top-p (nucleus) the fewest whose probability mass reaches p.

These choices travel together as :class:`SamplingOptions`; :func:`generate`, :func:`stream` and
:func:`sample_text` all run the one loop, :func:`generate_tokens`. With the KV cache
(``use_cache=True``, :mod:`gpt2ref.kv_cache`) each step feeds only the newest token and reuses the keys
and values of the earlier ones, which gives the same tokens as recomputing everything, much faster.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from gpt2ref.kv_cache import KVCache
from gpt2ref.model import GPT


def check_temperature(temperature: float) -> None:
    """ValueError unless ``temperature`` is a finite number > 0 (greedy decoding is its own option)."""
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) \
            or not (temperature > 0 and math.isfinite(temperature)):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}; "
                         "for always the top token use greedy=True")


def check_top_k(k: int) -> None:
    """ValueError unless ``k`` is an integer >= 1."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"top_k must be a positive integer, got {k!r}")


def check_top_p(p: float) -> None:
    """ValueError unless ``p`` is a number in (0, 1]."""
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 < p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {p!r}")


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Divide the logits by ``temperature`` (> 0): below 1 sharpens the softmax, above 1 flattens it."""
    check_temperature(temperature)
    return logits / temperature


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep exactly the ``k`` largest logits of each row and set the rest to -inf.

    Ties at the boundary go to the lower token id, so the kept set never depends on the hardware.
    """
    check_top_k(k)
    if k >= logits.size(-1):
        return logits
    order = torch.sort(logits, dim=-1, descending=True, stable=True).indices  # stable: equal values keep id order
    keep = torch.zeros_like(logits, dtype=torch.bool).scatter_(-1, order[..., :k], True)
    return logits.masked_fill(~keep, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter: keep the smallest set of most likely tokens whose probability mass is >= ``p``.

    The most likely token always stays; the rest are set to -inf. ``p = 1`` keeps everything.
    """
    check_top_p(p)
    if p == 1.0:
        return logits
    sorted_logits, order = torch.sort(logits, dim=-1, descending=True, stable=True)
    probs = torch.softmax(sorted_logits.float(), dim=-1)
    mass_before = torch.cumsum(probs, dim=-1) - probs  # probability of the tokens ranked above each one
    keep_sorted = mass_before < p  # keep a token while the mass so far has not yet reached p
    keep = torch.zeros_like(keep_sorted).scatter_(-1, order, keep_sorted)
    return logits.masked_fill(~keep, float("-inf"))


def sample_next_token(
    logits: torch.Tensor,
    *,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    greedy: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Pick one token per row from logits (B, V): argmax if ``greedy``, else sample after the filters. Returns (B, 1)."""
    if greedy:
        return torch.argmax(logits, dim=-1, keepdim=True)  # ties: the lowest token id
    logits = apply_temperature(logits, temperature)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    probs = torch.softmax(logits.float(), dim=-1)  # (B, V)
    return torch.multinomial(probs, num_samples=1, generator=generator)  # (B, 1)


@dataclass(frozen=True)
class SamplingOptions:
    """How the generation loop picks each token; checked when made, so bad settings fail before any model work."""

    temperature: float = 1.0  # ignored when greedy
    top_k: int | None = None  # keep only the k likeliest tokens
    top_p: float | None = None  # keep only the likeliest tokens holding probability mass p
    greedy: bool = False  # always the likeliest token (argmax)
    generator: torch.Generator | None = None  # a seeded generator makes sampling reproducible
    stop_token: int | None = None  # a row ends once it produces this token (kept in the output)
    use_cache: bool = True  # the KV cache of chapter 7: same tokens, much less work

    def __post_init__(self) -> None:
        if not self.greedy:
            check_temperature(self.temperature)
        if self.top_k is not None:
            check_top_k(self.top_k)
        if self.top_p is not None:
            check_top_p(self.top_p)


def next_token_logits(model: GPT, seq: torch.Tensor, cache: KVCache | None) -> torch.Tensor:
    """Logits (B, V) for the token after ``seq`` (B, L), using and filling ``cache`` while the sequence fits.

    With a cache, only the tokens not yet cached are fed (the whole prompt first, then one at a time).
    Once ``seq`` is longer than block_size, the window slides: every position shifts, the cached keys
    and values no longer match, so the step recomputes the last block_size tokens without the cache,
    exactly as generation without a cache does.
    """
    block_size = model.config.block_size
    if cache is not None and seq.size(1) <= block_size:
        logits, _ = model(seq[:, cache.pos :], kv_cache=cache, last_only=True)  # (B, 1, V)
    else:
        logits, _ = model(seq[:, -block_size:], last_only=True)  # crop to the context window: (B, 1, V)
    return logits[:, -1, :]  # (B, V)


def generate_tokens(model: GPT, idx: torch.Tensor, max_new_tokens: int, **options: Any) -> Iterator[torch.Tensor]:
    """The generation loop: an iterator over each new token (B, 1) as soon as it is chosen.

    ``options`` are the fields of :class:`SamplingOptions` (``temperature``, ``top_k``, ``top_p``,
    ``greedy``, ``generator``, ``stop_token``, ``use_cache``); bad ones raise here, before any model work.
    The model runs in eval mode (no dropout) without gradients; its training/eval mode is restored afterwards.
    """
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")
    if idx.dim() != 2 or idx.size(1) == 0:
        raise ValueError(f"idx must be a (B, T) tensor of token ids with T >= 1, got shape {tuple(idx.shape)}")
    return _generation_loop(model, idx, max_new_tokens, SamplingOptions(**options))


def _generation_loop(model: GPT, idx: torch.Tensor, max_new_tokens: int, opts: SamplingOptions
                     ) -> Iterator[torch.Tensor]:
    """The loop of :func:`generate_tokens`, with its arguments checked: score, pick, append, repeat."""
    was_training = model.training
    model.eval()  # no dropout while generating
    try:
        cache = model.new_kv_cache(idx.size(1) + max_new_tokens) if opts.use_cache else None
        seq = idx
        finished = torch.zeros(idx.size(0), dtype=torch.bool, device=idx.device)
        for _ in range(max_new_tokens):
            with torch.inference_mode():  # like no_grad, and without autograd's bookkeeping on every tensor
                logits = next_token_logits(model, seq, cache)  # (B, V)
                next_id = sample_next_token(logits, temperature=opts.temperature, top_k=opts.top_k,
                                            top_p=opts.top_p, greedy=opts.greedy, generator=opts.generator)  # (B, 1)
            next_id = next_id.clone()  # an ordinary tensor for the caller (inference tensors refuse in-place ops)
            if opts.stop_token is not None:
                next_id = next_id.masked_fill(finished[:, None], opts.stop_token)  # finished rows repeat it
                finished |= next_id[:, 0] == opts.stop_token
            seq = torch.cat([seq, next_id], dim=1)  # (B, L + 1)
            yield next_id
            if opts.stop_token is not None and bool(finished.all()):
                break
    finally:
        model.train(was_training)


def generate(model: GPT, idx: torch.Tensor, max_new_tokens: int, **options: Any) -> torch.Tensor:
    """Continue the token ids ``idx`` (B, T) by up to ``max_new_tokens`` tokens; returns (B, T + new).

    ``options`` are those of :class:`SamplingOptions`. Stops early once every row has produced
    ``stop_token`` (kept in the output; rows that finished first are padded with it). Pass a seeded
    ``generator`` for reproducible sampling.
    """
    return torch.cat([idx, *generate_tokens(model, idx, max_new_tokens, **options)], dim=1)


def stream(model: GPT, idx: torch.Tensor, max_new_tokens: int, **options: Any) -> Iterator[int]:
    """Like :func:`generate` for one sequence (T,) or (1, T), yielding each new token id as soon as it exists.

    For live printing: ``for t in stream(model, ids, 50): print(enc.decode([t]), end="", flush=True)``.
    """
    if idx.dim() == 1:
        idx = idx[None, :]
    if idx.dim() != 2 or idx.size(0) != 1:
        raise ValueError(f"stream continues a single sequence, (T,) or (1, T); got shape {tuple(idx.shape)}. Use generate for batches")
    return (int(next_id.item()) for next_id in generate_tokens(model, idx, max_new_tokens, **options))


class TextCodec(Protocol):
    """Anything that turns text into token ids and back (a tokenizer)."""

    encode: Callable[[str], list[int]]
    decode: Callable[[list[int]], str]


def sample_text(model: GPT, tok: TextCodec, prompt: str, max_new_tokens: int, device: torch.device | str | None = None,
                seed: int = 0, temperature: float = 0.8, top_k: int | None = 200, top_p: float | None = None) -> str:
    """Continue ``prompt`` by ``max_new_tokens`` sampled tokens and return the decoded text (prompt included).

    The defaults are nanoGPT's for sampling a trained model; ``device`` defaults to the model's.
    """
    ids = tok.encode(prompt)
    if not ids:
        raise ValueError("the prompt encodes to no tokens; give at least one character")
    device = next(model.parameters()).device if device is None else torch.device(device)
    idx = torch.tensor([ids], dtype=torch.long, device=device)  # (1, T)
    generator = torch.Generator(device=device).manual_seed(seed)
    out = generate(model, idx, max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p,
                   generator=generator)  # (1, T + new)
    return tok.decode(out[0].tolist())

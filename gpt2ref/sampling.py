"""Turning next-token logits into text: temperature, top-k, top-p and the generation loop (chapter 7).

The model only ever scores the next token. Generation is a loop around it: score, pick one token,
append it, repeat. How the token is picked decides the character of the text:

- greedy takes the single most likely token (deterministic, often repetitive);
- temperature divides the logits before the softmax (< 1 sharpens, > 1 flattens the distribution);
- top-k keeps only the k most likely tokens, top-p (nucleus) the fewest whose probability mass reaches p.

With the KV cache (``use_cache=True``) each step feeds only the newest token and reuses the keys and
values of the earlier ones, which gives the same tokens as recomputing everything, much faster.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch

from gpt2ref.attention import KVCache
from gpt2ref.model import GPT


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Divide the logits by ``temperature`` (> 0): below 1 sharpens the softmax, above 1 flattens it."""
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}; for always the top token use greedy=True")
    return logits / temperature


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep exactly the ``k`` largest logits of each row and set the rest to -inf.

    Ties at the boundary go to the lower token id, so the kept set never depends on the hardware.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"top_k must be a positive integer, got {k!r}")
    if k >= logits.size(-1):
        return logits
    order = torch.sort(logits, dim=-1, descending=True, stable=True).indices  # stable: equal values keep id order
    keep = torch.zeros_like(logits, dtype=torch.bool).scatter_(-1, order[..., :k], True)
    return logits.masked_fill(~keep, float("-inf"))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Nucleus filter: keep the smallest set of most likely tokens whose probability mass is >= ``p``.

    The most likely token always stays; the rest are set to -inf. ``p = 1`` keeps everything.
    """
    if not 0.0 < p <= 1.0:
        raise ValueError(f"top_p must be in (0, 1], got {p}")
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


def _check_arguments(
    max_new_tokens: int, temperature: float, top_k: int | None, top_p: float | None, greedy: bool
) -> None:
    """Raise ValueError for settings that cannot produce text (checked before any model work)."""
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")
    if not greedy and not (isinstance(temperature, (int, float)) and temperature > 0 and math.isfinite(temperature)):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}; for argmax decoding pass greedy=True")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ValueError(f"top_k must be None or an integer >= 1, got {top_k!r}")
    if top_p is not None and not (isinstance(top_p, (int, float)) and 0.0 < top_p <= 1.0):
        raise ValueError(f"top_p must be None or in (0, 1], got {top_p!r}")


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


def generate_tokens(
    model: GPT,
    idx: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    greedy: bool = False,
    generator: torch.Generator | None = None,
    stop_token: int | None = None,
    use_cache: bool = True,
) -> Iterator[torch.Tensor]:
    """The generation loop: yield each new token (B, 1) as soon as it is chosen.

    Arguments as for :func:`generate`. The model runs in eval mode (no dropout) without gradients;
    its training/eval mode is restored afterwards.
    """
    _check_arguments(max_new_tokens, temperature, top_k, top_p, greedy)
    if idx.dim() != 2 or idx.size(1) == 0:
        raise ValueError(f"idx must be a (B, T) tensor of token ids with T >= 1, got shape {tuple(idx.shape)}")
    was_training = model.training
    model.eval()  # no dropout while generating
    try:
        cache = model.new_kv_cache() if use_cache else None
        seq = idx
        finished = torch.zeros(idx.size(0), dtype=torch.bool, device=idx.device)
        for _ in range(max_new_tokens):
            with torch.no_grad():
                logits = next_token_logits(model, seq, cache)  # (B, V)
                next_id = sample_next_token(
                    logits, temperature=temperature, top_k=top_k, top_p=top_p, greedy=greedy, generator=generator
                )  # (B, 1)
            if stop_token is not None:
                next_id = next_id.masked_fill(finished[:, None], stop_token)  # finished rows repeat the stop token
                finished |= next_id[:, 0] == stop_token
            seq = torch.cat([seq, next_id], dim=1)  # (B, L + 1)
            yield next_id
            if stop_token is not None and bool(finished.all()):
                break
    finally:
        model.train(was_training)


def generate(
    model: GPT,
    idx: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    greedy: bool = False,
    generator: torch.Generator | None = None,
    stop_token: int | None = None,
    use_cache: bool = True,
) -> torch.Tensor:
    """Continue the token ids ``idx`` (B, T) by up to ``max_new_tokens`` tokens; returns (B, T + new).

    Stops early once every row has produced ``stop_token`` (kept in the output; rows that finished
    first are padded with it). Pass a seeded ``generator`` for reproducible sampling.
    """
    new_tokens = list(
        generate_tokens(model, idx, max_new_tokens, temperature, top_k, top_p, greedy, generator, stop_token, use_cache)
    )
    return torch.cat([idx, *new_tokens], dim=1)


def stream(
    model: GPT,
    idx: torch.Tensor,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    greedy: bool = False,
    generator: torch.Generator | None = None,
    stop_token: int | None = None,
    use_cache: bool = True,
) -> Iterator[int]:
    """Like :func:`generate` for one sequence (T,) or (1, T), yielding each new token id as soon as it exists.

    For live printing: ``for t in stream(model, ids, 50): print(enc.decode([t]), end="", flush=True)``.
    """
    if idx.dim() == 1:
        idx = idx[None, :]
    if idx.dim() != 2 or idx.size(0) != 1:
        raise ValueError(f"stream continues a single sequence, (T,) or (1, T); got shape {tuple(idx.shape)}. Use generate for batches")
    _check_arguments(max_new_tokens, temperature, top_k, top_p, greedy)  # fail now, not at the first next()
    steps = generate_tokens(model, idx, max_new_tokens, temperature, top_k, top_p, greedy, generator, stop_token, use_cache)
    return (int(next_id.item()) for next_id in steps)

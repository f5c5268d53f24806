"""Next-word prediction with the simplest language model there is: counting which token follows which.

A bigram model predicts the next token from the previous one only. Training is counting: how often
token ``b`` came right after token ``a`` in a text. Normalising each row of that count table gives a
probability distribution over the next token, which is exactly what GPT-2 outputs too (it just
looks at far more context). The chapter-1 baseline, and the place where the course defines its two
measures of a language model: cross-entropy (mean negative log-likelihood, in nats) and perplexity.

Generation is a loop around a model that predicts the next token: predict a distribution, sample a
token, append it, repeat. :func:`generate_loop` is that loop for any model given as a function from the
sequence so far to a distribution; chapter 7's :func:`gpt2ref.sampling.generate_tokens` is the same loop
for GPT, with temperature, top-k, top-p and a KV cache.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch

# A list of token ids or a 1-D integer tensor of them.
IdsLike = Sequence[int] | torch.Tensor


def _as_ids(ids: IdsLike, vocab_size: int, *, min_len: int = 1, what: str = "ids") -> torch.Tensor:
    """``ids`` as a 1-D LongTensor, checked to hold at least ``min_len`` ids, all in ``[0, vocab_size)``."""
    if isinstance(ids, torch.Tensor):
        if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
            raise ValueError(f"{what} must be integer token ids, got a tensor of dtype {ids.dtype}.")
        if ids.dim() != 1:
            raise ValueError(f"{what} must be a 1-D sequence of token ids, got a tensor of shape "
                             f"{tuple(ids.shape)}; flatten it or pass one sequence at a time.")
        t = ids.to(dtype=torch.long, device="cpu")
    else:
        ids = list(ids)
        try:
            t = torch.tensor(ids) if ids else torch.zeros(0, dtype=torch.long)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise ValueError(f"{what} must be a flat sequence of integer token ids ({exc}).") from None
        if t.dtype in (torch.bool, torch.uint8) or t.is_floating_point() or t.is_complex() or t.dim() != 1:
            bad = next((i for i in ids if isinstance(i, bool) or not isinstance(i, int)), ids[0])
            raise ValueError(f"{what} must be integer token ids, got {bad!r} ({type(bad).__name__}).")
        t = t.long()
    if t.numel() < min_len:
        need = "at least one token id" if min_len == 1 else f"at least {min_len} token ids (one (previous, next) pair)"
        raise ValueError(f"{what} is too short: got {t.numel()} token id(s), need {need}.")
    if t.numel() and (int(t.min()) < 0 or int(t.max()) >= vocab_size):
        bad = int(t.min()) if int(t.min()) < 0 else int(t.max())
        raise ValueError(f"{what} holds token id {bad}, outside the vocabulary 0..{vocab_size - 1}; "
                         "encode the text with the same tokenizer whose vocab_size you passed.")
    return t


# A bigram table has V * V entries: fine for characters (65 * 65), 10 GB for GPT-2's 50,257 tokens.
MAX_VOCAB_SIZE = 8192


def _check_vocab_size(vocab_size: int) -> None:
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int) or vocab_size < 1:
        raise ValueError(f"vocab_size must be a positive integer, got {vocab_size!r}.")
    if vocab_size > MAX_VOCAB_SIZE:
        raise ValueError(f"a bigram table over {vocab_size:,} tokens would hold {vocab_size**2:,} numbers "
                         f"(more than {MAX_VOCAB_SIZE:,}^2); use a small vocabulary such as a CharTokenizer's.")


def count_bigrams_loop(ids: IdsLike, vocab_size: int) -> torch.Tensor:
    """The bigram counts the plain way, one pair at a time: ``counts[a, b]`` = times ``b`` followed ``a``.

    Reads like the definition; :func:`count_bigrams` computes the same table in one vectorised call.
    """
    _check_vocab_size(vocab_size)
    ids = _as_ids(ids, vocab_size).tolist()
    counts = [[0] * vocab_size for _ in range(vocab_size)]
    for prev, nxt in zip(ids, ids[1:], strict=False):  # every adjacent pair (ids[i], ids[i + 1])
        counts[prev][nxt] += 1
    return torch.tensor(counts, dtype=torch.long)  # (V, V)


def count_bigrams(ids: IdsLike, vocab_size: int) -> torch.Tensor:
    """A (V, V) LongTensor whose entry ``[a, b]`` counts how often token ``b`` directly follows ``a``.

    Each pair (a, b) is turned into the single number ``a * V + b`` and counted with ``bincount``;
    equal to :func:`count_bigrams_loop`, but fast enough for a million tokens.
    """
    _check_vocab_size(vocab_size)
    ids = _as_ids(ids, vocab_size)
    pair_index = ids[:-1] * vocab_size + ids[1:]  # (N - 1,) one number per adjacent pair
    counts = torch.bincount(pair_index, minlength=vocab_size * vocab_size)  # (V * V,)
    return counts.view(vocab_size, vocab_size)  # (V, V): row = previous token, column = next token


def bigram_probs(counts: torch.Tensor, smoothing: float = 1.0) -> torch.Tensor:
    """Counts (V, V) to probabilities (V, V) float32 with add-k smoothing: each row sums to 1.

    ``P(b | a) = (counts[a, b] + k) / (sum_b' counts[a, b'] + k V)`` with ``k = smoothing``. With ``k = 0``
    a row without any count (a token never followed by anything) has nothing to normalise: it is uniform.
    """
    if counts.dim() != 2 or counts.size(0) != counts.size(1):
        raise ValueError(f"counts must be a square (V, V) table, got shape {tuple(counts.shape)}.")
    _check_vocab_size(counts.size(0))
    if counts.is_floating_point() and not bool(torch.isfinite(counts).all()):
        raise ValueError("counts must be finite.")
    if bool((counts < 0).any()):
        raise ValueError("counts cannot be negative.")
    smoothing = float(smoothing)
    if math.isnan(smoothing) or smoothing < 0:
        raise ValueError(f"smoothing (add-k) must be >= 0, got {smoothing}; use 0 for no smoothing.")
    table = counts.to(torch.float64) + smoothing  # (V, V) smoothed counts
    row_sums = table.sum(dim=1, keepdim=True)  # (V, 1)
    uniform = torch.full_like(table, 1.0 / table.size(1))
    probs = torch.where(row_sums > 0, table / row_sums.clamp_min(1e-300), uniform)  # rows sum to 1
    return probs.to(torch.float32)


def cross_entropy(probs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean negative log-likelihood (nats) of ``targets`` (N,) under the distributions ``probs`` (N, V).

    Row ``i`` of ``probs`` is the model's distribution for position ``i``; the loss is the average of
    ``-log probs[i, targets[i]]``. A probability of 0 for a target that happens gives ``inf``.
    Equal to ``torch.nn.functional.cross_entropy(probs.log(), targets)``.
    """
    if probs.dim() != 2:
        raise ValueError(f"probs must have shape (N, V), got {tuple(probs.shape)}.")
    targets = _as_ids(targets, probs.size(1), what="targets")
    if targets.numel() != probs.size(0):
        raise ValueError(f"probs has {probs.size(0)} rows but there are {targets.numel()} targets; "
                         "give one distribution per target.")
    p_target = probs[torch.arange(targets.numel()), targets.to(probs.device)]  # (N,) probability of what came
    return -torch.log(p_target).mean()


def perplexity(loss: float | torch.Tensor) -> float:
    """``exp(loss)`` for a cross-entropy in nats: the number of equally likely choices it amounts to.

    A model that spreads its probability evenly over V tokens has perplexity exactly V.
    """
    loss = float(loss)
    if math.isnan(loss) or loss < 0:
        raise ValueError(f"a cross-entropy loss is a number >= 0, got {loss}.")
    return math.exp(loss)


def generate_loop(
    next_distribution_fn: Callable[[list[int]], torch.Tensor],
    start_ids: IdsLike,
    n: int,
    generator: torch.Generator | None = None,
) -> list[int]:
    """Generate ``n`` tokens after ``start_ids``: predict a distribution, sample from it, append, repeat.

    ``next_distribution_fn(ids)`` gets the whole sequence so far (a list of ints) and returns a 1-D
    tensor of (possibly unnormalised, non-negative) probabilities over the vocabulary. Returns
    ``start_ids`` followed by the ``n`` new ids. Pass a seeded ``torch.Generator`` to get the same
    text every run.
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n (the number of tokens to generate) must be an integer >= 0, got {n!r}.")
    ids = _as_ids(start_ids, vocab_size=2**63 - 1, what="start_ids").tolist()
    for _ in range(n):
        probs = next_distribution_fn(list(ids))  # 1. predict: a distribution over the next token
        if probs.dim() != 1:
            raise ValueError(f"next_distribution_fn must return a 1-D tensor of probabilities, "
                             f"got shape {tuple(probs.shape)}.")
        next_id = int(torch.multinomial(probs.float(), 1, generator=generator))  # 2. sample one token
        ids.append(next_id)  # 3. append it; 4. repeat with the longer sequence
    return ids


class BigramModel:
    """A counting bigram language model: a table of next-token probabilities, one row per previous token.

    Built from bigram counts by :func:`bigram_probs` with add-k smoothing (``smoothing``): every pair is
    treated as seen ``k`` extra times, so a pair that never occurred in training still gets a small
    non-zero probability.
    """

    def __init__(self, counts: torch.Tensor, smoothing: float = 1.0) -> None:
        self.probs: torch.Tensor = bigram_probs(counts, smoothing)  # (V, V): row a = distribution after a
        self.counts: torch.Tensor = counts
        self.smoothing: float = float(smoothing)

    @classmethod
    def from_ids(cls, ids: IdsLike, vocab_size: int, smoothing: float = 1.0) -> BigramModel:
        """Train on a token sequence: count its bigrams, then smooth and normalise."""
        return cls(count_bigrams(ids, vocab_size), smoothing=smoothing)

    @classmethod
    def uniform(cls, vocab_size: int) -> BigramModel:
        """The model that knows nothing: every next token equally likely (perplexity = vocab_size)."""
        _check_vocab_size(vocab_size)
        return cls(torch.zeros(vocab_size, vocab_size, dtype=torch.long), smoothing=1.0)

    @property
    def vocab_size(self) -> int:
        """The number of tokens V the model predicts over."""
        return self.probs.size(0)

    def next_token_distribution(self, prev_id: int) -> torch.Tensor:
        """The model's prediction after token ``prev_id``: a (V,) tensor of probabilities summing to 1."""
        prev = _as_ids([prev_id], self.vocab_size, what="prev_id")
        return self.probs[int(prev)]

    def nll(self, ids: IdsLike) -> float:
        """Mean negative log-likelihood (nats per token) of each token of ``ids`` given the one before it.

        This is the cross-entropy between the text and the model's predictions (see :func:`cross_entropy`).
        """
        ids = _as_ids(ids, self.vocab_size, min_len=2)
        p = self.probs[ids[:-1], ids[1:]]  # (N - 1,) probability the model gave to what actually came next
        return float(-torch.log(p.double()).mean())

    def generate(self, start_id: int, n: int, generator: torch.Generator | None = None) -> list[int]:
        """``start_id`` followed by ``n`` sampled tokens, each drawn from the row of the previous one."""
        start = _as_ids([start_id], self.vocab_size, what="start_id").tolist()
        return generate_loop(lambda ids: self.probs[ids[-1]], start, n, generator)

    def __repr__(self) -> str:
        return f"BigramModel(vocab_size={self.vocab_size}, smoothing={self.smoothing:g})"

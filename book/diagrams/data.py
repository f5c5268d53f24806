"""The real numbers the diagrams show, computed by running gpt2ref (never typed in).

Token ids and BPE merges come from the from-scratch GPT-2 tokenizer, sizes from ``GPTConfig``,
parameter counts from a model built on PyTorch's ``meta`` device, and the steps of the generation loop
from ``gpt2ref.bigram.generate_loop`` itself.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from gpt2ref.bigram import generate_loop
from gpt2ref.bpe import merge_pair
from gpt2ref.gpt2_tokenizer import GPT2Tokenizer
from gpt2ref.model import GPT, GPTConfig

from .svg import shown


@functools.lru_cache(maxsize=1)
def gpt2_tokenizer() -> GPT2Tokenizer:
    """GPT-2's tokenizer, built once from its verified local files."""
    return GPT2Tokenizer.load()


def token_pieces(text: str, tokenizer: GPT2Tokenizer | None = None) -> list[tuple[str, int]]:
    """``text`` as GPT-2 tokens: (the token's text, its id) for each."""
    tok = tokenizer or gpt2_tokenizer()
    return [(tok.decode([i]), i) for i in tok.encode(text)]


@dataclass(frozen=True)
class MergeStep:
    """One step of BPE encoding: the tokens after it, and which merge made the token at ``at`` (None: start)."""

    pieces: list[str]
    at: int | None = None
    rank: int | None = None  # the merge's line in vocab.bpe, counting from 1
    new_id: int | None = None


def bpe_steps(chunk: str, tokenizer: GPT2Tokenizer | None = None) -> list[MergeStep]:
    """How GPT-2 encodes one chunk: start from its bytes, then apply the earliest-learned merge, until none is left.

    GPT-2 numbers a merged token 256 + its rank, so the pair whose merged id is smallest is the one
    learned first. The last step's tokens are checked against the tokenizer's own ``encode``.
    """
    tok = tokenizer or gpt2_tokenizer()
    ids = [tok.byte_to_id[b] for b in chunk.encode("utf-8")]
    steps = [MergeStep([tok.decode([i]) for i in ids])]
    while len(ids) > 1:
        candidates = [(tok.merges[pair], k) for k, pair in enumerate(zip(ids, ids[1:], strict=False)) if pair in tok.merges]
        if not candidates:
            break
        new_id, k = min(candidates)
        ids = merge_pair(ids, (ids[k], ids[k + 1]), new_id)
        at = ids.index(new_id)  # the first place the pair was merged (it may be merged in several places)
        steps.append(MergeStep([tok.decode([i]) for i in ids], at=at, rank=new_id - 256 + 1, new_id=new_id))
    if ids != tok.encode_ordinary(chunk):
        raise AssertionError(f"step-by-step merging of {chunk!r} disagrees with the tokenizer's encode")
    return steps


@dataclass(frozen=True)
class LoopStep:
    """One turn of the generation loop: the tokens so far, the model's top candidates, the token drawn."""

    context: list[str]
    candidates: list[tuple[str, float]]  # (token, probability), most likely first
    chosen: str
    chosen_p: float


def loop_steps(next_distribution: Callable[[list[int]], torch.Tensor], prompt: Sequence[int],
               decode: Callable[[int], str], n_steps: int = 3, seed: int = 0, top: int = 3) -> list[LoopStep]:
    """Run ``gpt2ref.bigram.generate_loop`` for ``n_steps`` tokens and record what each turn saw and drew."""
    ids = generate_loop(next_distribution, list(prompt), n_steps, generator=torch.Generator().manual_seed(seed))
    steps = []
    for t in range(len(prompt), len(ids)):
        probs = next_distribution(ids[:t]).float()
        probs = probs / probs.sum()
        best = probs.topk(top)
        steps.append(LoopStep(
            context=[decode(i) for i in ids[:t]],
            candidates=[(decode(int(i)), float(p)) for p, i in zip(best.values, best.indices, strict=True)],
            chosen=decode(ids[t]),
            chosen_p=float(probs[ids[t]]),
        ))
    return steps


def parameter_count(config: GPTConfig) -> int:
    """The number of parameters of a GPT with ``config``, counted on the meta device (no memory used)."""
    with torch.device("meta"):
        return GPT(config).num_parameters()

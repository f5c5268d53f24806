"""Token and position embeddings: how GPT-2 turns token ids into vectors (chapters 3 and 4).

A token embedding is a lookup table with one learned row per vocabulary entry; a position embedding
is a second table with one learned row per position in the context window. GPT-2 adds the two, so
the same token at two different positions enters the transformer as two different vectors.

The full model keeps the two tables under Hugging Face's names (``transformer.wte`` and
``transformer.wpe``) and calls :func:`embed`; :class:`Embeddings` wraps the same function as a
stand-alone module for the chapters that study embeddings on their own.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def positions(T: int, offset: int = 0, device: torch.device | str | None = None) -> torch.Tensor:
    """The position ids ``offset, offset + 1, ..., offset + T - 1`` as a LongTensor of shape (T,).

    ``offset`` is the number of tokens already processed: 0 for a whole sequence, the cache length when
    a KV cache feeds one new token at a time.
    """
    if T < 0 or offset < 0:
        raise ValueError(f"positions needs T >= 0 and offset >= 0, got T={T}, offset={offset}")
    return torch.arange(offset, offset + T, dtype=torch.long, device=device)


def one_hot_embedding(ids: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """Embed ``ids`` the slow way: one-hot rows (…, V) times the table (V, C).

    Equal to ``weight[ids]`` (an embedding lookup); it exists to show that a lookup *is* a matrix
    product with a one-hot vector, which the table's gradient also follows.
    """
    vocab_size = weight.size(0)
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        raise ValueError(f"token ids must lie in [0, {vocab_size}), got min {int(ids.min())}, max {int(ids.max())}")
    one_hot = F.one_hot(ids, num_classes=vocab_size).to(weight.dtype)  # (..., V)
    return one_hot @ weight  # (..., V) @ (V, C) -> (..., C)


def embed(idx: torch.Tensor, wte: nn.Embedding, wpe: nn.Embedding, pos_offset: int = 0) -> torch.Tensor:
    """GPT-2's input vectors: token embedding plus position embedding, shape (B, T, C).

    ``pos_offset`` shifts the positions when earlier tokens were already processed (KV cache).
    """
    B, T = idx.size()
    if pos_offset + T > wpe.num_embeddings:
        raise ValueError(
            f"positions {pos_offset}..{pos_offset + T - 1} do not fit the {wpe.num_embeddings} learned positions; "
            "crop the sequence to the context window first"
        )
    tok_emb = wte(idx)  # (B, T, C)
    pos_emb = wpe(positions(T, pos_offset, idx.device))  # (T, C), broadcast over the batch
    return tok_emb + pos_emb  # (B, T, C)


class Embeddings(nn.Module):
    """Token table ``wte`` (V, C) and position table ``wpe`` (block_size, C), summed by :func:`embed`."""

    def __init__(self, vocab_size: int, block_size: int, n_embd: int) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab_size, n_embd)
        self.wpe = nn.Embedding(block_size, n_embd)

    def forward(self, idx: torch.Tensor, pos_offset: int = 0) -> torch.Tensor:
        """Embed ``idx`` of shape (B, T) into (B, T, C)."""
        return embed(idx, self.wte, self.wpe, pos_offset)

"""The KV cache: keep the keys and values of tokens already seen, so each new token costs one position (chapter 7).

Generating token t+1 needs attention from the new position to all t earlier ones. Without a cache the
model recomputes the keys and values of every earlier token at every step, although they never change
(a token's key depends only on the tokens before it). The cache stores them: each step feeds the model
only the newest token, writes its key and value at the next free position, and attends over all of
them. The result is the same numbers for a fraction of the work.

:class:`CausalSelfAttention <gpt2ref.attention.CausalSelfAttention>` calls :meth:`KVCache.update` in
every layer; :meth:`GPT.forward <gpt2ref.model.GPT.forward>` starts the new tokens' positions at
``pos`` and calls :meth:`KVCache.advance` once all layers have written.
"""

from __future__ import annotations

import torch


class KVCache:
    """Keys and values of the tokens processed so far, for every layer, preallocated to ``max_len`` positions.

    ``pos`` is how many positions are filled. A forward pass with T new tokens writes them at
    ``pos .. pos + T - 1`` in every layer (:meth:`update`), then the model calls :meth:`advance` once.
    The tensors are allocated on the first update, with the batch size, device and dtype of the keys;
    positions past ``pos`` hold whatever the memory held (they are never read).
    """

    def __init__(self, n_layer: int, max_len: int) -> None:
        if n_layer < 1 or max_len < 1:
            raise ValueError(f"KVCache needs n_layer >= 1 and max_len >= 1, got {n_layer} and {max_len}")
        self.n_layer = n_layer
        self.max_len = max_len
        self.pos = 0
        self.k: list[torch.Tensor | None] = [None] * n_layer  # each (B, nh, max_len, hs) once allocated
        self.v: list[torch.Tensor | None] = [None] * n_layer

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store the new keys/values (B, nh, T, hs) of ``layer`` and return all of them so far (B, nh, pos + T, hs)."""
        B, nh, T, hs = k.shape
        end = self.pos + T
        if end > self.max_len:
            raise ValueError(
                f"the KV cache holds {self.max_len} positions and {self.pos} are used: no room for {T} more; "
                "start a new cache on a cropped sequence"
            )
        if self.k[layer] is None:
            self.k[layer] = k.new_empty(B, nh, self.max_len, hs)  # not zeroed: only filled positions are read
            self.v[layer] = v.new_empty(B, nh, self.max_len, hs)
        cache_k, cache_v = self.k[layer], self.v[layer]
        if cache_k.shape[0] != B:
            raise ValueError(f"the KV cache was filled with batch size {cache_k.shape[0]}, got {B}")
        cache_k[:, :, self.pos : end] = k  # written in place: no copy of the earlier positions
        cache_v[:, :, self.pos : end] = v
        return cache_k[:, :, :end], cache_v[:, :, :end]

    def advance(self, T: int) -> None:
        """Mark T more positions as filled (called once per forward pass, after every layer has updated)."""
        if self.pos + T > self.max_len:
            raise ValueError(f"cannot advance the KV cache past {self.max_len} positions")
        self.pos += T

    def reset(self) -> None:
        """Forget every cached position (the memory is kept for reuse)."""
        self.pos = 0

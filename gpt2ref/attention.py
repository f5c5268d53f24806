"""Causal multi-head self-attention, GPT-2's way of letting each token look at the tokens before it (chapter 5).

Three pieces, each readable on its own:

- :func:`causal_mask` says which positions may look at which (no peeking at the future);
- :func:`scaled_dot_product_attention` is the explicit formula ``softmax(q k^T / sqrt(hs)) v`` that also
  returns the attention weights (for heatmaps);
- :class:`CausalSelfAttention` is GPT-2's layer: one ``c_attn`` projection to queries, keys and values,
  ``n_head`` heads in parallel, and ``c_proj`` back to the residual stream. It runs PyTorch's fused
  ``F.scaled_dot_product_attention`` by default and the explicit function when asked (``use_sdpa=False``)
  or when the weights are requested; both give the same numbers.

:class:`KVCache` keeps the keys and values of tokens already seen, so that generating one more token
computes attention for one new position instead of the whole sequence again.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:  # only for type hints: model.py imports this module
    from gpt2ref.model import GPTConfig


def causal_mask(T: int, device: torch.device | str | None = None, T_k: int | None = None) -> torch.Tensor:
    """Boolean mask of shape (T, T_k), True where a query may attend to a key (T_k defaults to T).

    With a KV cache the T queries are the *last* T of T_k positions, so query i sits at absolute
    position ``T_k - T + i`` and may see keys ``0 .. T_k - T + i``: the lower triangle shifted right.
    """
    T_k = T if T_k is None else T_k
    if T_k < T:
        raise ValueError(f"there are fewer keys ({T_k}) than queries ({T}); the queries must be the last T_k positions")
    ones = torch.ones(T, T_k, dtype=torch.bool, device=device)
    return torch.tril(ones, diagonal=T_k - T)  # (T, T_k)


def scaled_dot_product_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    mask: torch.Tensor | None = None,
    dropout_p: float = 0.0,
    training: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention written out: returns ``(out, weights)``, out (B, nh, T, hs) and weights (B, nh, T, T_k).

    ``mask`` is boolean, True = may attend, broadcastable to (B, nh, T, T_k). Dropout on the weights
    applies only when ``training`` is True (as in GPT-2's ``attn_dropout``).
    """
    hs = q.size(-1)
    scores = q @ k.transpose(-2, -1) / math.sqrt(hs)  # (B, nh, T, hs) @ (B, nh, hs, T_k) -> (B, nh, T, T_k)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))  # forbidden positions get zero weight
    weights = F.softmax(scores, dim=-1)  # (B, nh, T, T_k), each row sums to 1
    weights = F.dropout(weights, p=dropout_p, training=training)
    out = weights @ v  # (B, nh, T, T_k) @ (B, nh, T_k, hs) -> (B, nh, T, hs)
    return out, weights


class KVCache:
    """Keys and values of the tokens processed so far, for every layer, preallocated to ``max_len`` positions.

    ``pos`` is how many positions are filled. A forward pass with T new tokens writes them at
    ``pos .. pos + T - 1`` in every layer (:meth:`update`), then the model calls :meth:`advance` once.
    The tensors are allocated on the first update, with the batch size, device and dtype of the keys.
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
            self.k[layer] = k.new_zeros(B, nh, self.max_len, hs)
            self.v[layer] = v.new_zeros(B, nh, self.max_len, hs)
        cache_k, cache_v = self.k[layer], self.v[layer]
        if cache_k.shape[0] != B:
            raise ValueError(f"the KV cache was filled with batch size {cache_k.shape[0]}, got {B}")
        cache_k[:, :, self.pos : end] = k
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


class CausalSelfAttention(nn.Module):
    """GPT-2's masked multi-head self-attention: ``c_attn`` (C -> 3C), ``n_head`` heads, ``c_proj`` (C -> C)."""

    def __init__(self, config: GPTConfig, layer_idx: int = 0) -> None:
        super().__init__()
        if config.n_embd % config.n_head != 0:
            raise ValueError(f"n_embd ({config.n_embd}) must be divisible by n_head ({config.n_head})")
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.use_sdpa = config.use_sdpa
        self.layer_idx = layer_idx  # which slot of a KVCache this layer uses
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # q, k, v for all heads
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)  # mixes the heads' outputs
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(
        self, x: torch.Tensor, kv_cache: KVCache | None = None, return_weights: bool = False
    ) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """Attend over ``x`` (B, T, C) -> (B, T, C); with ``return_weights`` also the weights (B, nh, T, T_k)."""
        B, T, C = x.size()
        nh, hs = self.n_head, C // self.n_head
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)  # each (B, T, C)
        q = q.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        k = k.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        v = v.view(B, T, nh, hs).transpose(1, 2)  # (B, nh, T, hs)
        if kv_cache is not None:
            k, v = kv_cache.update(self.layer_idx, k, v)  # (B, nh, T_k, hs), T_k = cached + T
        T_k = k.size(2)
        dropout_p = self.attn_dropout.p if self.training else 0.0

        weights = None
        if self.use_sdpa and not return_weights:
            # fused kernel; is_causal aligns the triangle top-left, right only when queries == keys
            if T_k == T:
                y = F.scaled_dot_product_attention(q, k, v, dropout_p=dropout_p, is_causal=True)
            else:
                mask = causal_mask(T, x.device, T_k)
                y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p)
        else:
            mask = causal_mask(T, x.device, T_k)
            y, weights = scaled_dot_product_attention(q, k, v, mask, dropout_p, self.training)
        # y: (B, nh, T, hs)

        y = y.transpose(1, 2).contiguous().view(B, T, C)  # heads side by side again: (B, T, C)
        y = self.resid_dropout(self.c_proj(y))  # (B, T, C)
        if return_weights:
            return y, weights
        return y

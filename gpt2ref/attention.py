"""Causal multi-head self-attention, GPT-2's way of letting each token look at the tokens before it (chapter 5).

Three pieces, each readable on its own:

- :func:`causal_mask` says which positions may look at which (no peeking at the future);
- :func:`scaled_dot_product_attention` is the explicit formula ``softmax(q k^T / sqrt(hs)) v`` that also
  returns the attention weights (for heatmaps);
- :class:`CausalSelfAttention` is GPT-2's layer: one ``c_attn`` projection to queries, keys and values,
  ``n_head`` heads in parallel, and ``c_proj`` back to the residual stream. It runs PyTorch's fused
  ``F.scaled_dot_product_attention`` by default and the explicit function when asked (``use_sdpa=False``)
  or when the weights are requested; both give the same numbers.

The layer's optional ``kv_cache`` argument belongs to chapter 7 (:mod:`gpt2ref.kv_cache`): during
generation it hands the layer the keys and values of earlier tokens, so only the new ones are computed.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import torch
import torch.nn.functional as F
from torch import nn

if TYPE_CHECKING:  # only for type hints
    from gpt2ref.kv_cache import KVCache
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


class CausalSelfAttention(nn.Module):
    """GPT-2's masked multi-head self-attention: ``c_attn`` (C -> 3C), ``n_head`` heads, ``c_proj`` (C -> C)."""

    def __init__(self, config: GPTConfig, layer_idx: int = 0) -> None:
        super().__init__()
        self.n_head = config.n_head  # GPTConfig has checked that n_head divides n_embd
        self.n_embd = config.n_embd
        self.use_sdpa = config.use_sdpa
        self.layer_idx = layer_idx  # which layer of a KV cache this is (chapter 7)
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
        if kv_cache is not None:  # chapter 7: add the keys and values of the earlier tokens
            k, v = kv_cache.update(self.layer_idx, k, v)  # (B, nh, T_k, hs), T_k = cached + T
        T_k = k.size(2)  # T without a cache
        dropout_p = self.attn_dropout.p if self.training else 0.0

        weights = None
        if self.use_sdpa and not return_weights:
            # The fused kernel. is_causal draws the triangle from the top-left corner, which is right when
            # there are as many queries as keys; a single query (a cached step) may see every key.
            mask = None if T == T_k or T == 1 else causal_mask(T, x.device, T_k)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout_p,
                                               is_causal=mask is None and T > 1)
        else:
            mask = causal_mask(T, x.device, T_k)
            y, weights = scaled_dot_product_attention(q, k, v, mask, dropout_p, self.training)
        # y: (B, nh, T, hs)

        y = y.transpose(1, 2).contiguous().view(B, T, C)  # heads side by side again: (B, T, C)
        y = self.resid_dropout(self.c_proj(y))  # (B, T, C)
        if return_weights:
            return y, weights
        return y

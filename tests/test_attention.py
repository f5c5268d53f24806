"""Causal self-attention (gpt2ref.attention)."""

import math

import pytest
import torch
import torch.nn.functional as F

from gpt2ref.attention import CausalSelfAttention, causal_mask, scaled_dot_product_attention
from gpt2ref.model import GPTConfig


def small_config(**overrides):
    return GPTConfig(**{"block_size": 32, "vocab_size": 50, "n_layer": 1, "n_head": 4, "n_embd": 32, **overrides})


def layer_pair(dtype=torch.float32, **overrides):
    """A fused and an explicit attention layer with the same weights."""
    torch.manual_seed(0)
    fused = CausalSelfAttention(small_config(use_sdpa=True, **overrides)).to(dtype).eval()
    explicit = CausalSelfAttention(small_config(use_sdpa=False, **overrides)).to(dtype).eval()
    explicit.load_state_dict(fused.state_dict())
    return fused, explicit


def test_the_causal_mask_lets_each_position_see_itself_and_the_past():
    assert causal_mask(3).tolist() == [[True, False, False], [True, True, False], [True, True, True]]
    assert causal_mask(4).dtype == torch.bool


def test_with_cached_keys_the_mask_shifts_to_the_last_queries():
    # 2 new queries at absolute positions 3 and 4, 5 keys: query 3 sees keys 0..3, query 4 sees all
    assert causal_mask(2, T_k=5).tolist() == [[True, True, True, True, False], [True, True, True, True, True]]
    assert causal_mask(1, T_k=4).all()  # one new token sees everything cached
    with pytest.raises(ValueError, match="fewer keys"):
        causal_mask(3, T_k=2)


def test_attention_weights_are_a_distribution_over_the_past_only():
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 1, 2, 5, 8).unbind(0)  # (B=1, nh=2, T=5, hs=8) each
    out, weights = scaled_dot_product_attention(q, k, v, causal_mask(5))
    assert out.shape == (1, 2, 5, 8) and weights.shape == (1, 2, 5, 5)
    assert torch.allclose(weights.sum(-1), torch.ones(1, 2, 5))
    assert (weights.masked_select(~causal_mask(5)) == 0).all()
    assert torch.allclose(weights[..., 0, 0], torch.ones(1, 2))  # the first token can only look at itself


def test_the_explicit_formula_matches_softmax_of_scaled_scores():
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 1, 1, 2, 4, dtype=torch.float64).unbind(0)
    _, weights = scaled_dot_product_attention(q, k, v)  # no mask
    scores = (q[0, 0] @ k[0, 0].T) / math.sqrt(4)
    expected = torch.exp(scores) / torch.exp(scores).sum(-1, keepdim=True)
    assert torch.allclose(weights[0, 0], expected)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
def test_the_explicit_function_agrees_with_pytorchs_fused_kernel(dtype, tol):
    torch.manual_seed(0)
    q, k, v = torch.randn(3, 2, 4, 9, 16, dtype=dtype).unbind(0)
    ours, _ = scaled_dot_product_attention(q, k, v, causal_mask(9))
    fused = F.scaled_dot_product_attention(q, k, v, is_causal=True)
    assert (ours - fused).abs().max() < tol


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-12), (torch.float32, 1e-6)])
def test_the_fused_and_explicit_layers_give_the_same_output(dtype, tol):
    fused, explicit = layer_pair(dtype)
    x = torch.randn(2, 11, 32, dtype=dtype)
    assert (fused(x) - explicit(x)).abs().max() < tol


def test_asking_for_weights_returns_one_heatmap_per_head_from_either_layer():
    fused, explicit = layer_pair()
    x = torch.randn(2, 7, 32)
    y1, w1 = fused(x, return_weights=True)  # falls back to the explicit path to have weights
    y2, w2 = explicit(x, return_weights=True)
    assert w1.shape == w2.shape == (2, 4, 7, 7)
    assert torch.allclose(w1, w2) and torch.allclose(y1, y2)
    assert torch.allclose(y1, fused(x), atol=1e-6)


def test_the_layer_has_gpt2s_parameter_layout():
    layer = CausalSelfAttention(small_config())
    shapes = {k: tuple(v.shape) for k, v in layer.state_dict().items()}
    assert shapes == {
        "c_attn.weight": (96, 32),
        "c_attn.bias": (96,),
        "c_proj.weight": (32, 32),
        "c_proj.bias": (32,),
    }
    assert layer.n_head == 4


@pytest.mark.parametrize("use_sdpa", [True, False])
def test_a_position_never_depends_on_later_tokens(use_sdpa):
    torch.manual_seed(0)
    layer = CausalSelfAttention(small_config(use_sdpa=use_sdpa)).eval()
    x = torch.randn(1, 8, 32)
    changed = x.clone()
    changed[:, 5:] = torch.randn(1, 3, 32)  # rewrite the future
    assert torch.allclose(layer(x)[:, :5], layer(changed)[:, :5], atol=1e-6)
    assert not torch.allclose(layer(x)[:, 5:], layer(changed)[:, 5:])


def test_attention_dropout_acts_only_in_training_mode():
    torch.manual_seed(0)
    layer = CausalSelfAttention(small_config(dropout=0.5, use_sdpa=False))
    x = torch.randn(1, 6, 32)
    layer.train()
    assert not torch.allclose(layer(x), layer(x))
    layer.eval()
    assert torch.equal(layer(x), layer(x))


def test_a_width_that_heads_cannot_split_is_rejected():
    with pytest.raises(ValueError, match="divisible"):
        small_config(n_embd=30, n_head=4)

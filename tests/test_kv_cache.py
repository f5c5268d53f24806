"""The KV cache (gpt2ref.kv_cache): cached attention gives the numbers of the full pass."""

import pytest
import torch

from gpt2ref.attention import CausalSelfAttention
from gpt2ref.kv_cache import KVCache
from gpt2ref.model import GPTConfig


def small_config(**overrides):
    return GPTConfig(**{"block_size": 32, "vocab_size": 50, "n_layer": 1, "n_head": 4, "n_embd": 32, **overrides})


@pytest.fixture(params=[True, False], ids=["fused", "explicit"])
def layer(request):
    torch.manual_seed(0)
    return CausalSelfAttention(small_config(use_sdpa=request.param)).eval()


def cached_pass(layer, x, chunks):
    """Feed ``x`` (B, T, C) through ``layer`` in pieces of the given lengths, with one cache; the outputs joined."""
    cache = KVCache(n_layer=1, max_len=32)
    outputs, start = [], 0
    for length in chunks:
        outputs.append(layer(x[:, start : start + length], kv_cache=cache))
        cache.advance(length)
        start += length
    assert cache.pos == x.size(1)
    return torch.cat(outputs, dim=1)


@pytest.mark.parametrize("chunks", [
    [1] * 9,  # one token at a time, as generation feeds them
    [4, 5],  # a prompt chunk after cached tokens: the mask shifts to the last queries
    [8, 1],  # one query against many cached keys: it may see them all, no mask needed
])
def test_attention_with_a_cache_equals_the_full_pass(layer, chunks):
    x = torch.randn(2, 9, 32)
    assert torch.allclose(cached_pass(layer, x, chunks), layer(x), atol=1e-6)


def test_the_cache_refuses_more_positions_than_it_holds():
    cache = KVCache(n_layer=1, max_len=4)
    k = torch.zeros(1, 2, 3, 8)
    cache.update(0, k, k)
    cache.advance(3)
    with pytest.raises(ValueError, match="no room for 2 more"):
        cache.update(0, k[:, :, :2], k[:, :, :2])
    with pytest.raises(ValueError, match="cannot advance"):
        cache.advance(2)


def test_the_cache_refuses_a_different_batch_size():
    cache = KVCache(n_layer=1, max_len=4)
    cache.update(0, torch.zeros(2, 2, 1, 8), torch.zeros(2, 2, 1, 8))
    with pytest.raises(ValueError, match="batch size 2"):
        cache.update(0, torch.zeros(3, 2, 1, 8), torch.zeros(3, 2, 1, 8))


def test_reset_empties_the_cache_for_a_new_sequence():
    torch.manual_seed(0)
    layer = CausalSelfAttention(small_config()).eval()
    cache = KVCache(n_layer=1, max_len=32)
    a, b = torch.randn(2, 1, 5, 32).unbind(0)
    layer(a, kv_cache=cache)
    cache.advance(5)
    cache.reset()
    assert cache.pos == 0
    assert torch.allclose(layer(b, kv_cache=cache), layer(b), atol=1e-6)


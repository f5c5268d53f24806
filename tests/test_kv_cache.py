"""The KV cache (gpt2ref.kv_cache): cached attention gives the numbers of the full pass."""

import pytest
import torch

from gpt2ref.attention import CausalSelfAttention
from gpt2ref.kv_cache import KVCache
from gpt2ref.model import GPTConfig


def small_config(**overrides):
    return GPTConfig(**{"block_size": 32, "vocab_size": 50, "n_layer": 1, "n_head": 4, "n_embd": 32, **overrides})


@pytest.mark.parametrize("use_sdpa", [True, False])
def test_feeding_one_token_at_a_time_with_a_cache_equals_the_full_pass(use_sdpa):
    torch.manual_seed(0)
    layer = CausalSelfAttention(small_config(use_sdpa=use_sdpa)).eval()
    x = torch.randn(2, 9, 32)
    cache = KVCache(n_layer=1, max_len=32)
    steps = []
    for t in range(9):
        steps.append(layer(x[:, t : t + 1], kv_cache=cache))
        cache.advance(1)
    assert cache.pos == 9
    assert torch.allclose(torch.cat(steps, dim=1), layer(x), atol=1e-6)


@pytest.mark.parametrize("use_sdpa", [True, False])
def test_a_prompt_chunk_after_cached_tokens_uses_the_shifted_mask(use_sdpa):
    torch.manual_seed(0)
    layer = CausalSelfAttention(small_config(use_sdpa=use_sdpa)).eval()
    x = torch.randn(1, 10, 32)
    cache = KVCache(n_layer=1, max_len=32)
    first = layer(x[:, :4], kv_cache=cache)  # prefill 4 positions
    cache.advance(4)
    second = layer(x[:, 4:], kv_cache=cache)  # 6 more queries against 10 keys
    assert torch.allclose(torch.cat([first, second], dim=1), layer(x), atol=1e-6)


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


@pytest.mark.parametrize("use_sdpa", [True, False])
def test_one_query_against_many_cached_keys_needs_no_mask(use_sdpa):
    torch.manual_seed(0)
    layer = CausalSelfAttention(small_config(use_sdpa=use_sdpa)).eval()
    x = torch.randn(1, 7, 32)
    cache = KVCache(n_layer=1, max_len=32)
    layer(x[:, :6], kv_cache=cache)
    cache.advance(6)
    last = layer(x[:, 6:], kv_cache=cache)  # the newest token sees all 7 positions
    assert torch.allclose(last, layer(x)[:, 6:], atol=1e-6)

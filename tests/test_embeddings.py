"""Token and position embeddings (gpt2ref.embeddings)."""

import pytest
import torch
from torch import nn

from gpt2ref.embeddings import Embeddings, embed, one_hot_embedding, positions


def test_positions_count_up_from_the_offset():
    assert positions(4).tolist() == [0, 1, 2, 3]
    assert positions(3, offset=5).tolist() == [5, 6, 7]
    assert positions(0).tolist() == []
    assert positions(2).dtype == torch.long


def test_negative_lengths_or_offsets_are_rejected():
    with pytest.raises(ValueError, match="T >= 0"):
        positions(-1)
    with pytest.raises(ValueError, match="offset"):
        positions(2, offset=-3)


def test_a_lookup_equals_a_one_hot_vector_times_the_table():
    torch.manual_seed(0)
    weight = torch.randn(10, 4)
    ids = torch.tensor([[3, 0, 9], [3, 3, 1]])
    assert torch.allclose(one_hot_embedding(ids, weight), weight[ids], atol=0, rtol=0)
    assert torch.equal(one_hot_embedding(ids, weight), nn.functional.embedding(ids, weight))


def test_the_one_hot_product_gives_the_same_gradient_as_the_lookup():
    torch.manual_seed(0)
    w1 = torch.randn(10, 4, requires_grad=True)
    w2 = w1.detach().clone().requires_grad_(True)
    ids = torch.tensor([2, 2, 7])  # token 2 twice: its row collects two gradients
    one_hot_embedding(ids, w1).pow(2).sum().backward()
    w2[ids].pow(2).sum().backward()
    assert torch.allclose(w1.grad, w2.grad)
    assert w1.grad[5].abs().sum() == 0  # rows of tokens not in the input get no gradient


def test_one_hot_embedding_rejects_ids_outside_the_vocabulary():
    with pytest.raises(ValueError, match=r"\[0, 10\)"):
        one_hot_embedding(torch.tensor([1, 10]), torch.randn(10, 4))


def test_embed_adds_the_token_row_and_the_position_row():
    torch.manual_seed(0)
    wte, wpe = nn.Embedding(20, 8), nn.Embedding(6, 8)
    idx = torch.tensor([[4, 7, 4]])
    x = embed(idx, wte, wpe)
    assert x.shape == (1, 3, 8)
    for t, tok in enumerate([4, 7, 4]):
        assert torch.allclose(x[0, t], wte.weight[tok] + wpe.weight[t])


def test_the_same_token_at_two_positions_enters_as_two_different_vectors():
    torch.manual_seed(0)
    x = embed(torch.tensor([[4, 4]]), nn.Embedding(20, 8), nn.Embedding(6, 8))
    assert not torch.allclose(x[0, 0], x[0, 1])


def test_an_offset_embeds_later_positions():
    torch.manual_seed(0)
    wte, wpe = nn.Embedding(20, 8), nn.Embedding(6, 8)
    full = embed(torch.tensor([[1, 2, 3, 4]]), wte, wpe)
    tail = embed(torch.tensor([[3, 4]]), wte, wpe, pos_offset=2)
    assert torch.allclose(full[:, 2:], tail)


def test_positions_beyond_the_learned_table_are_a_clear_error():
    wte, wpe = nn.Embedding(20, 8), nn.Embedding(6, 8)
    with pytest.raises(ValueError, match="6 learned positions"):
        embed(torch.zeros(1, 7, dtype=torch.long), wte, wpe)
    with pytest.raises(ValueError, match="crop"):
        embed(torch.zeros(1, 2, dtype=torch.long), wte, wpe, pos_offset=5)


def test_the_embeddings_module_keeps_gpt2s_table_names():
    emb = Embeddings(vocab_size=50, block_size=16, n_embd=8)
    assert set(emb.state_dict()) == {"wte.weight", "wpe.weight"}
    idx = torch.randint(0, 50, (2, 5))
    assert torch.equal(emb(idx), embed(idx, emb.wte, emb.wpe))
    assert emb(idx).shape == (2, 5, 8)

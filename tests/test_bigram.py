"""The counting bigram model of chapter 1: what counting, smoothing, the losses and generation must do."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gpt2ref.bigram import (
    BigramModel,
    bigram_probs,
    count_bigrams,
    count_bigrams_loop,
    cross_entropy,
    generate_loop,
    perplexity,
)
from gpt2ref.char_tokenizer import CharTokenizer

TEXT = "to be or not to be, that is the question"


@pytest.fixture
def tok() -> CharTokenizer:
    return CharTokenizer.from_text(TEXT)


@pytest.fixture
def ids(tok: CharTokenizer) -> list[int]:
    return tok.encode(TEXT)


# --- counting -------------------------------------------------------------------------------------------

def test_counts_have_one_entry_per_adjacent_pair(tok, ids):
    counts = count_bigrams(ids, tok.vocab_size)
    assert counts.shape == (tok.vocab_size, tok.vocab_size)
    assert counts.dtype == torch.long
    assert int(counts.sum()) == len(ids) - 1


def test_counts_row_is_previous_token_and_column_is_next_token(tok, ids):
    counts = count_bigrams(ids, tok.vocab_size)
    t, o, b = tok.encode("tob")
    assert int(counts[t, o]) == TEXT.count("to")  # "to" twice, "not" ends in "t" but is followed by " "
    assert int(counts[o, t]) == TEXT.count("ot")
    assert int(counts[b, t]) == 0


def test_vectorised_counting_equals_the_plain_loop(tok, ids):
    assert torch.equal(count_bigrams(ids, tok.vocab_size), count_bigrams_loop(ids, tok.vocab_size))
    g = torch.Generator().manual_seed(0)
    random_ids = torch.randint(0, 17, (5000,), generator=g)
    assert torch.equal(count_bigrams(random_ids, 17), count_bigrams_loop(random_ids, 17))


def test_a_single_token_has_no_pairs_to_count():
    assert int(count_bigrams([3], 5).sum()) == 0


@pytest.mark.parametrize("bad", [[], [0, 5], [-1, 0]])
def test_counting_rejects_empty_input_and_ids_outside_the_vocabulary(bad):
    with pytest.raises(ValueError, match="too short|outside the vocabulary"):
        count_bigrams(bad, 5)


def test_a_vocabulary_too_big_for_a_v_by_v_table_is_refused_before_allocating_it():
    with pytest.raises(ValueError, match="use a small vocabulary"):
        count_bigrams([0, 1], 50257)
    with pytest.raises(ValueError, match="use a small vocabulary"):
        BigramModel.uniform(50257)


def test_counting_rejects_float_and_2d_inputs():
    with pytest.raises(ValueError, match="integer token ids"):
        count_bigrams(torch.tensor([0.0, 1.0]), 5)
    with pytest.raises(ValueError, match="integer token ids"):
        count_bigrams([0, 1.5], 5)
    with pytest.raises(ValueError, match="1-D"):
        count_bigrams(torch.zeros(2, 3, dtype=torch.long), 5)
    with pytest.raises(ValueError, match="vocab_size"):
        count_bigrams([0, 1], 0)


# --- probabilities and smoothing --------------------------------------------------------------------------

@pytest.mark.parametrize("k", [0.0, 0.1, 1.0, 5.0])
def test_every_row_of_probs_is_a_distribution(tok, ids, k):
    model = BigramModel.from_ids(ids, tok.vocab_size, smoothing=k)
    assert model.probs.shape == (tok.vocab_size, tok.vocab_size)
    assert bool((model.probs >= 0).all())
    torch.testing.assert_close(model.probs.sum(dim=1), torch.ones(tok.vocab_size))


def test_without_smoothing_probabilities_are_relative_frequencies(tok, ids):
    model = BigramModel.from_ids(ids, tok.vocab_size, smoothing=0.0)
    counts = count_bigrams(ids, tok.vocab_size).double()
    t = tok.encode("t")[0]
    torch.testing.assert_close(model.probs[t].double(), counts[t] / counts[t].sum(), rtol=1e-6, atol=1e-7)


def test_add_k_smoothing_follows_its_formula(tok, ids):
    k, V = 0.5, tok.vocab_size
    model = BigramModel.from_ids(ids, V, smoothing=k)
    counts = count_bigrams(ids, V).double()
    expected = (counts + k) / (counts.sum(dim=1, keepdim=True) + k * V)
    torch.testing.assert_close(model.probs.double(), expected, rtol=1e-6, atol=1e-7)


def test_bigram_probs_normalises_rows_after_adding_k_to_every_count():
    counts = torch.tensor([[0, 2], [0, 0]])
    torch.testing.assert_close(bigram_probs(counts, 1.0), torch.tensor([[0.25, 0.75], [0.5, 0.5]]))
    torch.testing.assert_close(bigram_probs(counts, 0.0), torch.tensor([[0.0, 1.0], [0.5, 0.5]]))
    assert bigram_probs(counts).dtype == torch.float32


def test_the_model_is_the_table_of_bigram_probs(tok, ids):
    counts = count_bigrams(ids, tok.vocab_size)
    model = BigramModel(counts, smoothing=0.3)
    assert torch.equal(model.probs, bigram_probs(counts, 0.3))
    assert model.smoothing == 0.3 and torch.equal(model.counts, counts)


def test_smoothing_makes_unseen_pairs_possible(tok, ids):
    b, t = tok.encode("bt")
    assert float(BigramModel.from_ids(ids, tok.vocab_size, smoothing=0.0).probs[b, t]) == 0.0
    assert float(BigramModel.from_ids(ids, tok.vocab_size, smoothing=1.0).probs[b, t]) > 0.0


def test_a_row_never_seen_without_smoothing_predicts_uniformly():
    model = BigramModel.from_ids([0, 1, 0, 1], vocab_size=4, smoothing=0.0)  # tokens 2 and 3 never occur
    torch.testing.assert_close(model.probs[3], torch.full((4,), 0.25))


def test_negative_or_nan_smoothing_is_rejected():
    with pytest.raises(ValueError, match="smoothing"):
        BigramModel.from_ids([0, 1], 2, smoothing=-1.0)
    with pytest.raises(ValueError, match="smoothing"):
        BigramModel(torch.zeros(2, 2, dtype=torch.long), smoothing=float("nan"))


def test_counts_must_be_a_square_table_of_non_negative_numbers():
    with pytest.raises(ValueError, match="square"):
        BigramModel(torch.zeros(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="negative"):
        BigramModel(torch.tensor([[1, -1], [0, 0]]))


def test_next_token_distribution_is_the_row_of_the_previous_token(tok, ids):
    model = BigramModel.from_ids(ids, tok.vocab_size)
    t = tok.encode("t")[0]
    assert torch.equal(model.next_token_distribution(t), model.probs[t])
    with pytest.raises(ValueError, match="outside the vocabulary"):
        model.next_token_distribution(tok.vocab_size)


# --- cross-entropy and perplexity --------------------------------------------------------------------------

def test_cross_entropy_equals_torch_cross_entropy_on_log_probabilities():
    g = torch.Generator().manual_seed(1)
    probs = torch.softmax(torch.randn(50, 11, generator=g), dim=1)
    targets = torch.randint(0, 11, (50,), generator=g)
    torch.testing.assert_close(cross_entropy(probs, targets), F.cross_entropy(probs.log(), targets))


def test_model_loss_is_cross_entropy_of_its_rows_against_the_next_tokens(tok, ids):
    model = BigramModel.from_ids(ids, tok.vocab_size)
    t = torch.tensor(ids)
    expected = F.cross_entropy(model.probs[t[:-1]].log(), t[1:])
    assert model.nll(ids) == pytest.approx(float(expected), rel=1e-5)


def test_a_certain_correct_prediction_costs_nothing_and_an_impossible_one_costs_infinity():
    assert float(cross_entropy(torch.tensor([[0.0, 1.0]]), torch.tensor([1]))) == 0.0
    assert math.isinf(float(cross_entropy(torch.tensor([[0.0, 1.0]]), torch.tensor([0]))))


def test_cross_entropy_checks_shapes_and_targets():
    with pytest.raises(ValueError, match=r"\(N, V\)"):
        cross_entropy(torch.ones(3), torch.tensor([0]))
    with pytest.raises(ValueError, match="rows"):
        cross_entropy(torch.full((2, 3), 1 / 3), torch.tensor([0, 1, 2]))
    with pytest.raises(ValueError, match="outside the vocabulary"):
        cross_entropy(torch.full((1, 3), 1 / 3), torch.tensor([3]))


@pytest.mark.parametrize("V", [2, 65, 1000])
def test_the_uniform_model_has_perplexity_equal_to_the_vocabulary_size(V):
    g = torch.Generator().manual_seed(V)
    text_ids = torch.randint(0, V, (1000,), generator=g)
    model = BigramModel.uniform(V)
    assert model.nll(text_ids) == pytest.approx(math.log(V), rel=1e-6)
    assert perplexity(model.nll(text_ids)) == pytest.approx(V, rel=1e-5)


def test_perplexity_is_exp_of_the_loss():
    assert perplexity(0.0) == 1.0
    assert perplexity(torch.tensor(math.log(65.0))) == pytest.approx(65.0)
    assert perplexity(float("inf")) == math.inf
    with pytest.raises(ValueError, match=">= 0"):
        perplexity(-0.1)


def test_a_trained_bigram_model_beats_the_uniform_model_on_held_out_text():
    text = ("the cat sat on the mat. the dog sat on the log. " * 40)
    tok = CharTokenizer.from_text(text)
    ids = tok.encode(text)
    train, held_out = ids[: len(ids) * 9 // 10], ids[len(ids) * 9 // 10:]
    model = BigramModel.from_ids(train, tok.vocab_size)
    assert perplexity(model.nll(held_out)) < perplexity(BigramModel.uniform(tok.vocab_size).nll(held_out)) / 2


def test_losses_need_at_least_one_pair_of_tokens(tok):
    model = BigramModel.uniform(tok.vocab_size)
    with pytest.raises(ValueError, match="too short"):
        model.nll([0])
    with pytest.raises(ValueError, match="too short"):
        model.nll([])


# --- generation ---------------------------------------------------------------------------------------------

def test_generation_with_the_same_seed_reproduces_the_same_tokens(tok, ids):
    model = BigramModel.from_ids(ids, tok.vocab_size)
    a = model.generate(ids[0], 100, generator=torch.Generator().manual_seed(42))
    b = model.generate(ids[0], 100, generator=torch.Generator().manual_seed(42))
    c = model.generate(ids[0], 100, generator=torch.Generator().manual_seed(43))
    assert a == b
    assert a != c
    assert len(a) == 101 and a[0] == ids[0]
    assert all(0 <= i < tok.vocab_size for i in a)


def test_generation_only_makes_pairs_seen_in_training_when_unsmoothed(tok, ids):
    model = BigramModel.from_ids(ids, tok.vocab_size, smoothing=0.0)
    out = model.generate(ids[0], 300, generator=torch.Generator().manual_seed(0))
    counts = count_bigrams(ids, tok.vocab_size)
    assert all(int(counts[a, b]) > 0 for a, b in zip(out, out[1:], strict=False))


def test_generated_tokens_follow_the_model_distribution():
    probs = torch.tensor([[0.0, 0.8, 0.2], [0.0, 0.8, 0.2], [0.0, 0.8, 0.2]])
    model = BigramModel(probs, smoothing=0.0)  # float "counts" are allowed: each row holds the weights
    out = model.generate(0, 5_000, generator=torch.Generator().manual_seed(0))
    share_of_1 = sum(1 for i in out[1:] if i == 1) / 5_000
    assert share_of_1 == pytest.approx(0.8, abs=0.03)
    assert 0 not in out[1:]


def test_generate_loop_predicts_samples_appends_and_repeats():
    seen_contexts: list[list[int]] = []

    def always_next(context: list[int]) -> torch.Tensor:
        seen_contexts.append(list(context))
        probs = torch.zeros(10)
        probs[(context[-1] + 1) % 10] = 1.0  # a deterministic "model": the next digit
        return probs

    out = generate_loop(always_next, [7], 5)
    assert out == [7, 8, 9, 0, 1, 2]
    assert seen_contexts == [[7], [7, 8], [7, 8, 9], [7, 8, 9, 0], [7, 8, 9, 0, 1]]  # the whole sequence so far


def test_generate_loop_hands_each_call_its_own_copy_of_the_sequence():
    kept: list[list[int]] = []

    def keep(context: list[int]) -> torch.Tensor:
        kept.append(context)  # no copy taken here: the loop must not change it afterwards
        return torch.tensor([0.0, 1.0])

    generate_loop(keep, [0], 3)
    assert kept == [[0], [0, 1], [0, 1, 1]]


def test_generate_loop_rejects_bad_arguments():
    uniform = lambda ctx: torch.ones(3)
    with pytest.raises(ValueError, match="too short"):
        generate_loop(uniform, [], 3)
    with pytest.raises(ValueError, match=">= 0"):
        generate_loop(uniform, [0], -1)
    with pytest.raises(ValueError, match="1-D"):
        generate_loop(lambda ctx: torch.ones(1, 3), [0], 1)
    assert generate_loop(uniform, [2], 0) == [2]


def test_generate_rejects_a_start_token_outside_the_vocabulary():
    with pytest.raises(ValueError, match="outside the vocabulary"):
        BigramModel.uniform(3).generate(3, 5)

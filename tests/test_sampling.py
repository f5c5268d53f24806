"""Choosing the next token and the generation loop (gpt2ref.sampling)."""

import math

import pytest
import torch

from gpt2ref.char_tokenizer import CharTokenizer
from gpt2ref.model import GPT, GPTConfig
from gpt2ref.sampling import (
    SamplingOptions,
    apply_temperature,
    generate,
    generate_tokens,
    sample_next_token,
    sample_text,
    stream,
    top_k_filter,
    top_p_filter,
)

VOCAB = 61


@pytest.fixture(scope="module")
def model():
    """A tiny random model with confident, varied predictions (large init) and a short window."""
    torch.manual_seed(0)
    m = GPT(GPTConfig.from_preset("tiny", vocab_size=VOCAB, block_size=24)).eval()
    with torch.no_grad():
        for p in m.parameters():
            if p.dim() >= 2:
                p.normal_(0.0, 0.25)
    return m


def prompt(B=2, T=5, seed=1):
    return torch.randint(0, VOCAB, (B, T), generator=torch.Generator().manual_seed(seed))


# --- the filters -----------------------------------------------------------------------------------


def test_temperature_divides_the_logits():
    logits = torch.tensor([[2.0, -1.0, 0.5]])
    assert torch.allclose(apply_temperature(logits, 0.5), logits * 2)
    probs_hot = torch.softmax(apply_temperature(logits, 2.0), -1)
    probs_cold = torch.softmax(apply_temperature(logits, 0.25), -1)
    assert probs_cold.max() > torch.softmax(logits, -1).max() > probs_hot.max()


@pytest.mark.parametrize("t", [0, -1.0])
def test_a_temperature_that_is_not_positive_is_rejected(t):
    with pytest.raises(ValueError, match="greedy=True"):
        apply_temperature(torch.zeros(1, 3), t)


def test_top_k_keeps_exactly_the_k_largest():
    logits = torch.tensor([[0.1, 3.0, -2.0, 2.5, 1.0], [5.0, 4.0, 3.0, 2.0, 1.0]])
    kept = top_k_filter(logits, 2).isfinite()
    assert kept.tolist() == [[False, True, False, True, False], [True, True, False, False, False]]
    assert torch.equal(top_k_filter(logits, 2)[kept], logits[kept])  # kept values are unchanged


def test_top_k_breaks_ties_towards_the_lower_token_id():
    logits = torch.tensor([[1.0, 2.0, 2.0, 2.0, 0.0]])
    assert top_k_filter(logits, 2).isfinite().tolist() == [[False, True, True, False, False]]
    assert top_k_filter(logits, 10).isfinite().all()  # k beyond the vocabulary keeps everything


@pytest.mark.parametrize("k", [0, -3, 1.5])
def test_top_k_below_one_is_rejected(k):
    with pytest.raises(ValueError, match="top_k"):
        top_k_filter(torch.zeros(1, 4), k)


def test_top_p_keeps_the_smallest_set_that_reaches_p():
    probs = torch.tensor([[0.05, 0.5, 0.1, 0.3, 0.05]])  # sorted: 0.5, 0.3, 0.1, 0.05, 0.05
    logits = probs.log()
    assert top_p_filter(logits, 0.5).isfinite().tolist() == [[False, True, False, False, False]]
    assert top_p_filter(logits, 0.6).isfinite().tolist() == [[False, True, False, True, False]]
    assert top_p_filter(logits, 0.85).isfinite().tolist() == [[False, True, True, True, False]]
    assert top_p_filter(logits, 1.0).isfinite().all()


def test_top_p_always_keeps_the_most_likely_token():
    logits = torch.tensor([[0.0, 0.1, 0.2, 0.3]])  # nearly flat: the top token has ~27% of the mass
    assert top_p_filter(logits, 0.01).isfinite().tolist() == [[False, False, False, True]]


@pytest.mark.parametrize("p", [0.0, -0.1, 1.01])
def test_top_p_outside_zero_to_one_is_rejected(p):
    with pytest.raises(ValueError, match=r"top_p must be in \(0, 1\]"):
        top_p_filter(torch.zeros(1, 4), p)


def test_greedy_takes_the_argmax_and_ignores_the_temperature():
    logits = torch.tensor([[0.0, 3.0, 1.0], [2.0, 2.0, -1.0]])
    assert sample_next_token(logits, greedy=True, temperature=0.0).tolist() == [[1], [0]]


def test_sampling_with_top_k_never_leaves_the_top_k():
    torch.manual_seed(0)
    logits = torch.randn(1, 50).repeat(4000, 1)
    allowed = set(torch.topk(logits[0], 5).indices.tolist())
    draws = sample_next_token(logits, top_k=5, generator=torch.Generator().manual_seed(0))
    assert set(draws.flatten().tolist()) == allowed  # all five show up in 4000 draws, nothing else does


def test_sampling_follows_the_probabilities():
    probs = torch.tensor([0.6, 0.3, 0.1])
    draws = sample_next_token(probs.log().repeat(20000, 1), generator=torch.Generator().manual_seed(0))
    freq = torch.bincount(draws.flatten(), minlength=3) / 20000
    assert torch.allclose(freq, probs, atol=0.015)


def test_a_tiny_temperature_samples_like_greedy():
    torch.manual_seed(0)
    logits = torch.randn(200, 30)
    cold = sample_next_token(logits, temperature=1e-4, generator=torch.Generator().manual_seed(0))
    assert torch.equal(cold, sample_next_token(logits, greedy=True))


# --- generation ------------------------------------------------------------------------------------


def test_generate_appends_max_new_tokens_to_the_prompt(model):
    idx = prompt()
    out = generate(model, idx, 7, generator=torch.Generator().manual_seed(0))
    assert out.shape == (2, 12) and out.dtype == torch.long
    assert torch.equal(out[:, :5], idx)
    assert torch.equal(generate(model, idx, 0), idx)


def test_greedy_generation_is_identical_with_and_without_the_cache(model):
    idx = prompt()
    with_cache = generate(model, idx, 15, greedy=True, use_cache=True)
    without = generate(model, idx, 15, greedy=True, use_cache=False)
    assert torch.equal(with_cache, without)
    assert len(set(with_cache[0, 5:].tolist())) > 3  # the continuation is not one repeated token


@pytest.mark.parametrize("settings", [{}, {"top_k": 5}, {"top_p": 0.8, "temperature": 0.7}])
def test_seeded_sampling_is_identical_with_and_without_the_cache(model, settings):
    idx = prompt()
    a = generate(model, idx, 15, generator=torch.Generator().manual_seed(3), use_cache=True, **settings)
    b = generate(model, idx, 15, generator=torch.Generator().manual_seed(3), use_cache=False, **settings)
    assert torch.equal(a, b)


def test_the_same_seed_reproduces_the_same_text_and_another_seed_does_not(model):
    idx = prompt()
    a = generate(model, idx, 20, generator=torch.Generator().manual_seed(7))
    b = generate(model, idx, 20, generator=torch.Generator().manual_seed(7))
    c = generate(model, idx, 20, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b) and not torch.equal(a, c)


def test_generation_continues_past_the_context_window_with_and_without_the_cache(model):
    idx = prompt(B=1, T=20)  # block_size is 24: the window starts sliding after 4 new tokens
    with_cache = generate(model, idx, 12, greedy=True, use_cache=True)
    without = generate(model, idx, 12, greedy=True, use_cache=False)
    assert with_cache.shape == (1, 32) and torch.equal(with_cache, without)
    # each token past the window is the model's choice given exactly the last block_size tokens
    for t in range(24, 32):
        logits, _ = model(with_cache[:, t - 24 : t])
        assert with_cache[0, t] == logits[0, -1].argmax()


def test_a_prompt_longer_than_the_window_is_cropped(model):
    idx = prompt(B=1, T=30)
    out = generate(model, idx, 3, greedy=True)
    assert torch.equal(out[:, :30], idx)
    assert torch.equal(out[:, 30:], generate(model, idx[:, -24:], 3, greedy=True)[:, 24:])


def test_generation_stops_after_the_stop_token(model):
    idx = prompt(B=1)
    free = generate(model, idx, 10, greedy=True)
    stop = int(free[0, 8])  # the fourth generated token
    first = (free[0, 5:] == stop).nonzero()[0].item() + 5  # it may also appear earlier
    stopped = generate(model, idx, 10, greedy=True, stop_token=stop)
    assert torch.equal(stopped, free[:, : first + 1])


def test_rows_that_stop_early_are_padded_until_every_row_has_stopped(model):
    idx = prompt(B=2)
    free = generate(model, idx, 10, greedy=True)
    stop = int(free[0, 6])
    out = generate(model, idx, 10, greedy=True, stop_token=stop)
    firsts = []
    for row in range(2):
        hits = (free[row, 5:] == stop).nonzero()
        firsts.append(hits[0].item() + 5 if len(hits) else None)
    assert out.size(1) == (15 if None in firsts else max(firsts) + 1)
    for row, first in enumerate(firsts):
        if first is None:
            assert torch.equal(out[row], free[row, : out.size(1)])
        else:
            assert torch.equal(out[row, : first + 1], free[row, : first + 1])
            assert (out[row, first:] == stop).all()


def test_stream_yields_the_same_tokens_as_generate(model):
    idx = prompt(B=1)
    expected = generate(model, idx, 8, greedy=True)[0, 5:].tolist()
    tokens = stream(model, idx[0], 8, greedy=True)
    assert next(tokens) == expected[0]  # available before the rest is computed
    assert [expected[0], *tokens] == expected
    assert all(isinstance(t, int) for t in stream(model, idx, 3, greedy=True))


def test_stream_is_for_one_sequence(model):
    with pytest.raises(ValueError, match="single sequence"):
        stream(model, prompt(B=2), 3)


def test_generation_restores_training_mode(model):
    model.train()
    try:
        generate(model, prompt(), 2, greedy=True)
        assert model.training
    finally:
        model.eval()


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"temperature": 0.0}, "greedy=True"),
        ({"temperature": -1.0}, "temperature"),
        ({"temperature": math.inf}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_k": 0}, "top_k"),
        ({"max_new_tokens": -1}, "max_new_tokens"),
    ],
)
def test_bad_arguments_are_rejected_before_any_work(model, kwargs, message):
    args = {"max_new_tokens": 3, **kwargs}
    with pytest.raises(ValueError, match=message):
        generate(model, prompt(), **args)
    with pytest.raises(ValueError, match=message):
        stream(model, prompt(B=1), **args)


def test_an_empty_or_unbatched_prompt_is_rejected_by_generate(model):
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        generate(model, torch.zeros(1, 0, dtype=torch.long), 3)
    with pytest.raises(ValueError, match=r"\(B, T\)"):
        generate(model, torch.zeros(4, dtype=torch.long), 3)


def test_sampling_options_are_checked_when_made():
    assert SamplingOptions(temperature=0.0, greedy=True).greedy  # greedy ignores the temperature
    with pytest.raises(ValueError, match="greedy=True"):
        SamplingOptions(temperature=0.0)
    with pytest.raises(ValueError, match="top_k"):
        SamplingOptions(top_k=True)


def test_an_unknown_sampling_option_is_refused_by_every_entry_point(model):
    for entry in (generate, generate_tokens, stream):
        with pytest.raises(TypeError, match="top_n"):
            entry(model, prompt(B=1), 3, top_n=5)


def test_the_cache_holds_only_the_positions_generation_needs(model, monkeypatch):
    sizes = []
    new_kv_cache = type(model).new_kv_cache
    monkeypatch.setattr(type(model), "new_kv_cache", lambda self, n=None: sizes.append(n) or new_kv_cache(self, n))
    generate(model, prompt(T=5), 4, greedy=True)
    assert sizes == [9]
    assert model.new_kv_cache(1000).max_len == model.config.block_size  # never more than the context window


def test_sample_text_continues_the_prompt_reproducibly(model):
    tok = CharTokenizer.from_text("".join(chr(ord("0") + i) for i in range(VOCAB)))
    text = sample_text(model, tok, "123", 10, seed=5)
    assert text.startswith("123") and len(text) == 13
    assert text == sample_text(model, tok, "123", 10, seed=5)
    with pytest.raises(ValueError, match="no tokens"):
        sample_text(model, tok, "", 10)

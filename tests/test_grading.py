"""The checks the assignment tests call say what was expected and what came, and tell the learner's own code
from a call into the reference."""

from __future__ import annotations

import functools

import pytest
import torch

import gpt2ref.bigram as bigram
from gpt2ref.course.grading import (
    ReferenceUsedError,
    check_close,
    check_equal,
    check_not_reference,
    check_raises,
    check_shape,
    fresh_module,
    reference_disabled,
    using_reference,
)


def _message(call) -> str:
    with pytest.raises(AssertionError) as info:
        call()
    return str(info.value)


def test_check_close_passes_within_the_tolerance():
    check_close("x", torch.tensor([1.0, 2.0]), torch.tensor([1.0, 2.0 + 1e-7]))
    check_close("x", 0.5, 0.5 + 1e-9)
    check_close("inf", torch.tensor([float("inf")]), torch.tensor([float("inf")]))


def test_check_close_names_the_largest_difference_and_where_it_is():
    got = torch.zeros(2, 3)
    expected = torch.zeros(2, 3)
    expected[1, 2] = 0.5
    expected[0, 1] = 0.1
    message = _message(lambda: check_close("probs", got, expected, hint="normalise the rows"))
    assert message.startswith("probs: values differ: max abs difference 0.5 at index (1, 2)")
    assert "got 0, expected 0.5" in message and "2 of 6 elements are off" in message
    assert message.endswith("Hint: normalise the rows")


def test_check_close_reports_shape_then_dtype_before_values():
    assert "expected shape (3, 3), got shape (3,)" in _message(lambda: check_close("c", torch.zeros(3), torch.zeros(3, 3)))
    message = _message(lambda: check_close("c", torch.zeros(2), torch.zeros(2, dtype=torch.long)))
    assert "expected dtype torch.int64, got dtype torch.float32" in message
    check_close("c", torch.zeros(2), torch.zeros(2, dtype=torch.long), check_dtype=False)


def test_check_close_reports_nan_and_non_tensors():
    assert "got NaN at index (1,)" in _message(lambda: check_close("x", torch.tensor([0.0, float("nan")]), torch.zeros(2)))
    assert "expected a tensor, got NoneType" in _message(lambda: check_close("x", None, torch.zeros(2)))
    assert "expected a number close to 4.0, got str" in _message(lambda: check_close("p", "4", 4.0))


def test_check_equal_points_at_the_first_difference():
    message = _message(lambda: check_equal("ids", [1, 2, 3], [1, 5, 3]))
    assert "first difference at position 1: expected 5, got 2" in message
    message = _message(lambda: check_equal("counts", {(1, 2): 1}, {(1, 2): 2, (2, 3): 1}))
    assert "missing keys: [(2, 3)]" in message and "(1, 2): expected 2, got 1" in message
    assert "expected a list, got a tuple" in _message(lambda: check_equal("ids", (1,), [1]))


def test_check_equal_takes_any_dict_for_a_dict_but_not_a_dict_for_a_list():
    from collections import Counter, defaultdict

    check_equal("counts", Counter({(1, 2): 2}), {(1, 2): 2})  # a Counter is a dict
    check_equal("counts", defaultdict(int, {(1, 2): 2}), {(1, 2): 2})
    assert "expected a dict, got a list" in _message(lambda: check_equal("counts", [((1, 2), 2)], {(1, 2): 2}))
    assert "expected 2" in _message(lambda: check_equal("counts", Counter({(1, 2): 3}), {(1, 2): 2}))


def test_check_raises_and_check_shape():
    check_raises("bad", lambda: int("x"), ValueError)
    assert "expected ValueError to be raised, but it returned 3" in _message(lambda: check_raises("f", lambda: 3))
    assert "expected ValueError, got KeyError" in _message(lambda: check_raises("f", lambda: {}[1]))
    assert "expected shape (2, 2), got shape (4,)" in _message(lambda: check_shape("w", torch.zeros(4), (2, 2)))


def _own_perplexity(loss):
    return float(torch.tensor(loss).exp())


def test_check_not_reference_accepts_the_learners_own_function():
    check_not_reference(_own_perplexity, "gpt2ref.bigram", lambda: _own_perplexity(1.0))


def test_check_not_reference_rejects_an_import_from_gpt2ref():
    with pytest.raises(ReferenceUsedError, match="comes from gpt2ref.bigram"):
        check_not_reference(bigram.perplexity, "gpt2ref.bigram")
    with pytest.raises(ReferenceUsedError):
        check_not_reference(functools.partial(bigram.perplexity), "gpt2ref.bigram")


def test_check_not_reference_rejects_a_wrapper_around_the_reference():
    def wrapper(loss):
        return bigram.perplexity(loss)

    with pytest.raises(ReferenceUsedError, match="called gpt2ref.bigram.perplexity"):
        check_not_reference(wrapper, "gpt2ref.bigram", lambda: wrapper(1.0))
    assert bigram.perplexity(0.0) == 1.0, "the reference is restored afterwards"


def test_check_not_reference_rejects_a_wrapper_around_a_renamed_import():
    namespace = {"p": bigram.perplexity}
    exec("def wrapper(loss):\n    return p(loss)\n", namespace)  # like a notebook: from gpt2ref.bigram import perplexity as p
    wrapper = namespace["wrapper"]
    wrapper.__module__ = "__main__"
    with pytest.raises(ReferenceUsedError):
        check_not_reference(wrapper, "gpt2ref.bigram", lambda: wrapper(1.0))
    assert namespace["p"] is bigram.perplexity


def test_check_not_reference_rejects_a_subclass_of_the_reference():
    from gpt2ref.char_tokenizer import CharTokenizer

    class Mine(CharTokenizer):
        pass

    with pytest.raises(ReferenceUsedError, match="subclasses gpt2ref.char_tokenizer.CharTokenizer"):
        check_not_reference(Mine, "gpt2ref.char_tokenizer")


def test_fresh_module_is_immune_to_patches_of_the_imported_one():
    original = bigram.perplexity
    try:
        bigram.perplexity = lambda loss: 42.0
        assert fresh_module("gpt2ref.bigram").perplexity(0.0) == 1.0
    finally:
        bigram.perplexity = original


def test_using_reference_swaps_the_names_in_and_back_out():
    namespace = {"perplexity": _own_perplexity}
    with using_reference(namespace, "gpt2ref.bigram", ["perplexity", "cross_entropy"]):
        assert namespace["perplexity"] is bigram.perplexity and namespace["cross_entropy"] is bigram.cross_entropy
    assert namespace == {"perplexity": _own_perplexity}


def test_reference_disabled_restores_everything_even_after_an_error():
    original = bigram.count_bigrams
    with pytest.raises(ReferenceUsedError), reference_disabled("gpt2ref.bigram"):
        bigram.count_bigrams([0, 1], 2)
    assert bigram.count_bigrams is original

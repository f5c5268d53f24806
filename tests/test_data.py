"""gpt2ref.data: Shakespeare as token ids, split 90/10, cached on disk, served as shifted (x, y) batches."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from gpt2ref import data as data_mod
from gpt2ref.char_tokenizer import CharTokenizer
from gpt2ref.data import (
    StepBatches,
    batch_at,
    get_batch,
    load_token_data,
    random_offsets,
    token_file_path,
    tokenizer_from_meta,
    write_atomically,
)


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shakespeare_file: Path) -> Path:
    """Each test gets an empty cache folder and reads the local tiny-shakespeare."""
    monkeypatch.setenv("GPT2REF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GPT2REF_SHAKESPEARE", str(shakespeare_file))
    return tmp_path / "cache"


def test_char_data_is_the_whole_text_split_90_10_in_order(shakespeare_text: str) -> None:
    d = load_token_data("char")
    assert d.vocab_size == 65
    assert len(d.train) + len(d.val) == len(shakespeare_text)
    assert len(d.train) == int(0.9 * len(shakespeare_text))
    assert d.tokenizer.decode(d.train[:200].tolist()) == shakespeare_text[:200]
    assert d.tokenizer.decode(d.val[-200:].tolist()) == shakespeare_text[-200:]
    assert d.train.dtype == np.uint16


@pytest.mark.slow
def test_gpt2_data_holds_the_ids_tiktoken_gives(shakespeare_text: str) -> None:
    from gpt2ref.gpt2_files import get_gpt2_encoding

    d = load_token_data("gpt2")
    ids = get_gpt2_encoding().encode_ordinary(shakespeare_text)
    assert d.vocab_size == 50257
    assert len(d.train) + len(d.val) == len(ids) == 338025  # as nanoGPT: 301,966 + 36,059 tokens
    assert d.train[:1000].tolist() == ids[:1000]
    assert d.val[-1000:].tolist() == ids[-1000:]


def test_token_files_live_in_the_cache_keyed_by_tokenizer_and_text(private_cache: Path) -> None:
    a, b = token_file_path("char", "some text"), token_file_path("gpt2", "some text")
    c = token_file_path("char", "other text")
    assert len({a, b, c}) == 3
    assert a.parent == private_cache / "tokens"


def test_a_second_load_reads_the_token_file_instead_of_tokenizing(monkeypatch: pytest.MonkeyPatch,
                                                                   private_cache: Path) -> None:
    first = load_token_data("char")
    files = list((private_cache / "tokens").iterdir())
    assert [f.suffix for f in files] == [".uint16"]  # one finished file, no temporary left over

    def refuse(self: CharTokenizer, text: str) -> list[int]:
        raise AssertionError("re-tokenized although the token file exists")

    monkeypatch.setattr(CharTokenizer, "encode", refuse)
    second = load_token_data("char")
    assert np.array_equal(first.train, second.train) and np.array_equal(first.val, second.val)


def test_a_failed_write_leaves_neither_a_partial_file_nor_a_temporary(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "tokens" / "x.uint16"
    write_atomically(target, b"old contents")

    def crash(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, b"new contents that never land")
    assert target.read_bytes() == b"old contents"
    assert sorted(p.name for p in target.parent.iterdir()) == ["x.uint16"]


def test_y_is_x_shifted_by_one_token() -> None:
    tokens = np.arange(1000, dtype=np.uint16)
    x, y = get_batch(tokens, batch_size=5, block_size=16, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (5, 16)
    assert x.dtype == y.dtype == torch.int64
    assert torch.equal(x[:, 1:], y[:, :-1])
    assert torch.equal(y, x + 1)  # on 0, 1, 2, ... the next token is always id + 1


def test_a_batch_row_is_the_window_starting_at_its_offset() -> None:
    tokens = np.random.default_rng(0).integers(0, 65, 500).astype(np.uint16)
    x, y = batch_at(tokens, torch.tensor([0, 7, 483]), block_size=16)
    assert x[1].tolist() == tokens[7:23].tolist()
    assert y[1].tolist() == tokens[8:24].tolist()
    assert y[2].tolist() == tokens[484:500].tolist()  # the last possible window


def test_offsets_cover_every_window_and_never_run_past_the_end() -> None:
    offsets = random_offsets(40, 5000, block_size=8, generator=torch.Generator().manual_seed(0))
    assert offsets.min() == 0 and offsets.max() == 40 - 8 - 1


def test_a_split_shorter_than_a_window_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="too short for block_size"):
        random_offsets(8, 1, block_size=8, generator=torch.Generator())


def test_the_same_seed_gives_the_same_batches_and_another_seed_others() -> None:
    tokens = np.arange(10_000, dtype=np.uint16)

    def batch(seed: int) -> torch.Tensor:
        return get_batch(tokens, 4, 8, torch.Generator().manual_seed(seed))[0]

    assert torch.equal(batch(1), batch(1))
    assert not torch.equal(batch(1), batch(2))


def test_ranks_split_one_global_batch_exactly_as_one_process_would_accumulate_it() -> None:
    tokens = np.arange(10_000, dtype=np.uint16)
    single = StepBatches(tokens, batch_size=3, block_size=8, accum=4, seed=5)
    ranks = [StepBatches(tokens, batch_size=3, block_size=8, accum=2, seed=5, rank=r, world_size=2) for r in range(2)]
    for _ in range(3):  # steps
        together = [x for x, _ in single.next_step()]
        split = [x for r in ranks for x, _ in r.next_step()]
        assert len(together) == len(split) == 4
        assert all(torch.equal(a, b) for a, b in zip(together, split, strict=True))
    assert not torch.equal(split[0], split[2])  # rank 0 and rank 1 train on different windows


def test_the_batch_stream_continues_from_a_saved_state() -> None:
    tokens = np.arange(10_000, dtype=np.uint16)
    a = StepBatches(tokens, 2, 8, 1, seed=0)
    a.next_step()
    state = a.state()
    expected = a.next_step()[0][0]
    b = StepBatches(tokens, 2, 8, 1, seed=123)
    b.set_state(state)
    assert torch.equal(b.next_step()[0][0], expected)


def test_a_tokenizer_is_rebuilt_from_its_checkpoint_description() -> None:
    d = load_token_data("char")
    tok = tokenizer_from_meta(d.tokenizer.meta)
    assert tok.encode("ROMEO: hello") == d.tokenizer.encode("ROMEO: hello")
    with pytest.raises(ValueError, match="unknown tokenizer"):
        tokenizer_from_meta({"name": "sentencepiece"})
    with pytest.raises(ValueError, match="unknown tokenizer"):
        data_mod.make_tokenizer("bytes", "text")

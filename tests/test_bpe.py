"""Byte-level BPE: each step, the two trainers (which must agree merge for merge), encode/decode, save/load."""

from __future__ import annotations

import random

import pytest

from gpt2ref.bpe import (
    GPT2_SPLIT_PATTERN,
    BPETokenizer,
    MergeRecord,
    Tokenizer,
    encode_chunk_fast,
    encode_chunk_teaching,
    get_pair_counts,
    merge_pair,
    most_frequent_pair,
    train_fast,
    train_teaching,
)


def random_text(rng: random.Random, length: int) -> str:
    """Random text mixing ASCII, accents, CJK, emoji (with ZWJ) and whitespace, from a seeded generator."""
    alphabet = list("abcde  \n\t'.,!?0123") + ["é", "ñ", "日", "本", "😀", "👍🏽", "\u200d", "🇫🇷", "\U0010ffff"]
    return "".join(rng.choice(alphabet) for _ in range(length))


# --- the single steps ------------------------------------------------------------------------------------

def test_pair_counts_count_every_neighbouring_pair():
    assert get_pair_counts([1, 2, 3, 1, 2]) == {(1, 2): 2, (2, 3): 1, (3, 1): 1}
    assert get_pair_counts([7]) == {} and get_pair_counts([]) == {}


def test_pair_counts_overlap_in_runs_of_one_token():
    assert get_pair_counts([97] * 3) == {(97, 97): 2}


def test_pair_counts_can_accumulate_weighted_chunks():
    counts = get_pair_counts([1, 2], weight=3)
    get_pair_counts([1, 2, 1], counts, weight=2)
    assert counts == {(1, 2): 5, (2, 1): 2}


def test_merge_replaces_every_occurrence_left_to_right():
    assert merge_pair([1, 2, 3, 1, 2], (1, 2), 256) == [256, 3, 256]
    assert merge_pair([1, 3, 2], (1, 2), 256) == [1, 3, 2]
    assert merge_pair([], (1, 2), 256) == []


def test_merge_never_lets_occurrences_overlap():
    assert merge_pair([97, 97, 97], (97, 97), 256) == [256, 97]
    assert merge_pair([97, 97, 97, 97], (97, 97), 256) == [256, 256]


def test_the_most_frequent_pair_wins_and_ties_go_to_the_smallest_pair():
    assert most_frequent_pair({(5, 1): 2, (2, 9): 4, (1, 1): 3}) == (2, 9)
    assert most_frequent_pair({(5, 1): 3, (2, 9): 3, (2, 3): 3, (1, 1): 2}) == (2, 3)
    with pytest.raises(ValueError, match="fewer than two tokens"):
        most_frequent_pair({})


# --- training ------------------------------------------------------------------------------------------

TRICKY_TEXTS = [
    "",
    "a",
    "ab",
    "aaaaaa",
    "aaaaaaa",
    "abababab",
    "aaabaaabaaab",
    "the cat sat on the mat; the cat sat on the hat",
    "naïve café, naïve café, 日本語日本語日本語",
    "😀😀😀 👨‍👩‍👧‍👦👨‍👩‍👧‍👦 🇫🇷🇫🇷",
    "   \n\n\n\t\t\t   \n\n\n",
]


@pytest.mark.parametrize("pattern", [None, "gpt2"])
@pytest.mark.parametrize("text", TRICKY_TEXTS)
def test_fast_and_teaching_training_learn_identical_merges(text, pattern):
    teaching = BPETokenizer(pattern=pattern)
    fast = BPETokenizer(pattern=pattern)
    assert teaching.train(text, 300, method="teaching") == fast.train(text, 300, method="fast")
    assert teaching.merges == fast.merges and teaching.vocab == fast.vocab


@pytest.mark.parametrize("seed", range(6))
def test_fast_and_teaching_training_agree_on_random_text(seed):
    rng = random.Random(seed)
    text = random_text(rng, rng.randint(50, 400))
    pattern = [None, "gpt2"][seed % 2]
    assert (BPETokenizer(pattern=pattern).train(text, 320, method="teaching")
            == BPETokenizer(pattern=pattern).train(text, 320, method="fast"))


@pytest.mark.parametrize("pattern", [None, "gpt2"])
def test_fast_and_teaching_training_agree_on_a_slice_of_shakespeare(shakespeare_text, pattern):
    text = shakespeare_text[:20_000]
    teaching = BPETokenizer(pattern=pattern).train(text, 400, method="teaching")
    assert len(teaching) == 144
    assert BPETokenizer(pattern=pattern).train(text, 400, method="fast") == teaching


@pytest.mark.slow
def test_fast_and_teaching_training_agree_on_a_long_slice_of_shakespeare(shakespeare_text):
    text = shakespeare_text[:100_000]
    assert (BPETokenizer().train(text, 512, method="teaching")
            == BPETokenizer().train(text, 512, method="fast"))


def test_the_trainers_work_on_weighted_chunks_directly():
    # "ab" three times and "ba" once, as two distinct chunks with counts.
    chunks, weights = [[97, 98], [98, 97]], [3, 1]
    expected = [MergeRecord((97, 98), 256, 3)]
    assert train_teaching(chunks, weights, 5) == expected == train_fast(chunks, weights, 5)


def test_each_merge_record_holds_the_pair_its_new_id_and_its_count():
    tok = BPETokenizer()
    history = tok.train("abcabcabd", 258)
    assert history[0] == MergeRecord(pair=(97, 98), new_id=256, count=3)
    # Now (256, 99) "ab"+"c" and (99, 256) "c"+"ab" both occur twice: the smaller pair wins the tie.
    assert history[1] == MergeRecord(pair=(99, 256), new_id=257, count=2)
    assert tok.history == history
    assert tok.vocab[257] == b"cab"
    assert tok.encode("abcabcabd") == [256, 257, 257, 100]


def test_a_merge_of_the_gpt2_pattern_never_crosses_a_chunk():
    text = "dog. dog. dog. dog."
    plain = BPETokenizer()
    plain.train(text, 270)
    assert any(b"." in token and len(token) > 1 and not token.startswith(b".") for token in plain.vocab.values())
    split = BPETokenizer(pattern="gpt2")
    split.train(text, 270)
    assert split.pattern == GPT2_SPLIT_PATTERN
    assert all(b"." not in token or set(token) <= set(b" .") for token in split.vocab.values())
    assert split.stopped_early


def test_training_stops_early_and_says_so_when_no_pair_occurs_twice(capsys):
    tok = BPETokenizer()
    history = tok.train("abcdef", 300)
    assert history == [] and tok.vocab_size == 256 and tok.stopped_early
    assert "stopped after 0 of 44 merges" in capsys.readouterr().out


def test_training_to_exactly_256_tokens_learns_nothing_and_is_not_early():
    tok = BPETokenizer()
    assert tok.train("aaaa", 256) == [] and not tok.stopped_early


@pytest.mark.parametrize("bad", [255, 0, -1, 300.0, "512", True, None])
def test_a_vocab_size_below_256_or_not_an_int_is_a_value_error(bad):
    with pytest.raises(ValueError, match="vocab_size"):
        BPETokenizer().train("hello hello", bad)


def test_an_unknown_training_method_is_a_value_error():
    with pytest.raises(ValueError, match='"fast" or "teaching"'):
        BPETokenizer().train("hello hello", 300, method="quick")


def test_verbose_training_prints_each_merge(capsys):
    BPETokenizer().train("hello hello hello", 258, verbose=True)
    out = capsys.readouterr().out
    assert "merge 1/2" in out and "merge 2/2" in out


# --- encoding and decoding ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained(shakespeare_text) -> dict[str | None, BPETokenizer]:
    tokenizers = {}
    for pattern in (None, "gpt2"):
        tok = BPETokenizer(pattern=pattern)
        tok.train(shakespeare_text[:50_000], 400)
        tokenizers[pattern] = tok
    return tokenizers


@pytest.mark.parametrize("pattern", [None, "gpt2"])
def test_encoding_then_decoding_gives_back_any_string(trained, pattern):
    tok = trained[pattern]
    rng = random.Random(1234)
    samples = ["", "hello world", "To be, or not to be", "😀 👨‍👩‍👧‍👦 🇫🇷", "\x00\x7f\u00ad", "日本語のテキスト"]
    samples += [random_text(rng, rng.randint(0, 80)) for _ in range(100)]
    for text in samples:
        assert tok.decode(tok.encode(text)) == text


@pytest.mark.parametrize("pattern", [None, "gpt2"])
def test_a_trained_tokenizer_compresses_the_text_it_was_trained_on(trained, shakespeare_text, pattern):
    text = shakespeare_text[:50_000]
    ids = trained[pattern].encode(text)
    assert len(ids) < 0.6 * len(text.encode("utf-8"))
    assert max(ids) >= 256


def test_the_fast_chunk_encoder_agrees_with_the_simple_loop(trained):
    merges = trained[None].merges
    rng = random.Random(7)
    for _ in range(200):
        ids = list(random_text(rng, rng.randint(0, 60)).encode("utf-8"))
        assert encode_chunk_fast(ids, merges) == encode_chunk_teaching(ids, merges)
    ids = list(b"aaaaaaaaa the the the")
    assert encode_chunk_fast(ids, merges) == encode_chunk_teaching(ids, merges)


def test_encoding_applies_merges_in_the_order_they_were_learned():
    # 256 = "ab", 257 = "bc": in "abc" the earlier merge wins, even though "bc" is also present.
    tok = Tokenizer({(97, 98): 256, (98, 99): 257})
    assert tok.encode("abc") == [256, 99]
    assert tok.encode("bcab") == [257, 256]


def test_invalid_utf8_decodes_to_replacement_characters():
    tok = Tokenizer()
    assert tok.decode([0xE2]) == "\ufffd"
    assert tok.decode([0xE2, 0x82]) == "\ufffd"
    assert tok.decode([104, 0xFF, 105]) == "h\ufffdi"
    assert tok.decode_bytes([0xE2, 0x82, 0xAC]) == "€".encode()


def test_an_unknown_id_is_a_value_error():
    with pytest.raises(ValueError, match="Token id 256 is not in this tokenizer's vocabulary"):
        Tokenizer().decode([256])


def test_encode_needs_a_string():
    with pytest.raises(TypeError, match="takes a str"):
        Tokenizer().encode(b"bytes")


# --- saving and loading ------------------------------------------------------------------------------

@pytest.mark.parametrize("pattern", [None, "gpt2"])
def test_save_and_load_give_back_the_same_tokenizer(tmp_path, trained, pattern):
    tok = trained[pattern]
    path = tmp_path / "tok.bpe"
    tok.save(path)
    again = Tokenizer.load(path)
    assert again.merges == tok.merges and again.pattern == tok.pattern and again.vocab == tok.vocab
    assert again.encode("First Citizen: 😀") == tok.encode("First Citizen: 😀")


def test_the_saved_file_is_readable_text(tmp_path):
    tok = BPETokenizer()
    tok.train("the the the # # #", 258)
    path = tmp_path / "tok.bpe"
    tok.save(path)
    lines = path.read_text(encoding="utf-8").splitlines()
    assert lines[0] == "gpt2ref-bpe v1" and lines[1] == "pattern None" and lines[2] == "merges 2"
    assert lines[3] == "32 35 -> 256  # ' ' + '#'"  # a '#' inside the comment is harmless
    assert lines[4] == "104 101 -> 257  # 'h' + 'e'"
    assert Tokenizer.load(path).merges == tok.merges


def test_loading_a_file_that_is_not_a_tokenizer_is_a_value_error(tmp_path):
    path = tmp_path / "other.txt"
    path.write_text("hello\n")
    with pytest.raises(ValueError, match="not a tokenizer file"):
        Tokenizer.load(path)
    path.write_text("gpt2ref-bpe v1\npattern None\nmerges 1\n1 2 3\n")
    with pytest.raises(ValueError, match="line 4"):
        Tokenizer.load(path)


def test_inconsistent_merges_are_refused():
    with pytest.raises(ValueError, match="without gaps"):
        Tokenizer({(97, 98): 257})
    with pytest.raises(ValueError, match="does not exist yet"):
        Tokenizer({(97, 300): 256})

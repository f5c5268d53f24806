"""The character tokenizer: one id per distinct character, in sorted order."""

from __future__ import annotations

import pytest

from gpt2ref.char_tokenizer import CharTokenizer


def test_the_vocabulary_is_the_sorted_distinct_characters_of_the_text():
    tok = CharTokenizer.from_text("hello world")
    assert tok.chars == [" ", "d", "e", "h", "l", "o", "r", "w"]
    assert tok.vocab_size == 8


def test_each_character_is_encoded_as_its_position_in_the_vocabulary():
    tok = CharTokenizer.from_text("hello world")
    assert tok.encode("hello") == [3, 2, 4, 4, 5]
    assert tok.encode("") == []


def test_decode_inverts_encode():
    text = "First Citizen:\nBefore we proceed any further, hear me speak.\n"
    tok = CharTokenizer.from_text(text)
    assert tok.decode(tok.encode(text)) == text


def test_non_ascii_characters_are_single_tokens():
    tok = CharTokenizer.from_text("naïve 😀 日本")
    assert len(tok.encode("😀")) == 1
    assert tok.decode(tok.encode("日本 naïve")) == "日本 naïve"


def test_an_unknown_character_is_a_value_error_that_names_it():
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(ValueError, match=r"'z' \(U\+007A\) at position 2"):
        tok.encode("abz")


def test_an_unknown_id_is_a_value_error():
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(ValueError, match="Token id 3 is outside 0..2"):
        tok.decode([0, 3])


def test_an_empty_text_gives_no_vocabulary():
    with pytest.raises(ValueError, match="empty"):
        CharTokenizer.from_text("")


def test_an_alphabet_must_hold_distinct_single_characters():
    with pytest.raises(ValueError, match="repeated"):
        CharTokenizer("aba")
    with pytest.raises(ValueError, match="single characters"):
        CharTokenizer(["ab", "c"])


def test_save_and_load_give_the_same_tokenizer(tmp_path):
    tok = CharTokenizer.from_text("To be, or not to be: 😀\n")
    path = tmp_path / "chars.json"
    tok.save(path)
    again = CharTokenizer.load(path)
    assert again == tok
    assert again.encode("to be") == tok.encode("to be")


def test_loading_a_file_of_another_kind_is_a_value_error(tmp_path):
    path = tmp_path / "other.json"
    path.write_text('{"merges": []}')
    with pytest.raises(ValueError, match="not a file written by CharTokenizer.save"):
        CharTokenizer.load(path)


def test_shakespeare_has_65_distinct_characters(shakespeare_text):
    text = shakespeare_text
    tok = CharTokenizer.from_text(text)
    assert tok.vocab_size == 65
    assert tok.decode(tok.encode(text[:1000])) == text[:1000]

"""GPT-2's tokenizer written from scratch gives exactly tiktoken's ``gpt2`` ids, offline."""

from __future__ import annotations

import random
import unicodedata

import pytest
import regex

from gpt2ref.bpe import GPT2_SPLIT_PATTERN, GPT2_SPLIT_PATTERN_ORIGINAL
from gpt2ref.gpt2_files import build_gpt2_encoding, find_gpt2_files
from gpt2ref.gpt2_tokenizer import (
    GPT2Tokenizer,
    bytes_to_unicode,
    read_vocab_bpe,
)


@pytest.fixture(scope="module")
def tok() -> GPT2Tokenizer:
    return GPT2Tokenizer.load()


@pytest.fixture(scope="module")
def enc():
    """The reference: tiktoken's gpt2 encoding, built from the same verified local files (no network)."""
    return build_gpt2_encoding(find_gpt2_files())


# --- the byte table and the split pattern ---------------------------------------------------------------

def test_the_byte_table_gives_each_byte_its_own_printable_character():
    table = bytes_to_unicode()
    assert sorted(table) == list(range(256))
    assert len(set(table.values())) == 256
    assert all(c.isprintable() and not c.isspace() for c in table.values())


def test_visible_bytes_stand_for_themselves_and_the_others_are_shifted_past_255():
    table = bytes_to_unicode()
    assert table[ord("A")] == "A" and table[ord("~")] == "~" and table[0xE9] == "é"
    assert table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ" and table[0] == "\u0100"
    assert sum(ord(c) >= 256 for c in table.values()) == 68


def test_the_byte_table_is_the_one_gpt2s_files_are_written_with(tok):
    assert all(c in tok.encoder for c in bytes_to_unicode().values())
    assert sorted(tok.byte_to_id) == list(range(256))


def test_the_split_pattern_cuts_words_with_their_leading_space_and_contractions():
    split = regex.compile(GPT2_SPLIT_PATTERN).findall
    assert split("Hello world's  end\n\n") == ["Hello", " world", "'s", " ", " end", "\n\n"]
    assert split("I'M here'S") == ["I", "'", "M", " here", "'", "S"]  # contractions are lower case only
    assert split("x = 12345;") == ["x", " =", " 12345", ";"]


SPLIT_SAMPLES = [
    "Hello world!", "a  b", "x   \n\n  y", "trailing   ", "  leading", "\t\tindent\n", "line\r\nbreak",
    "it's we'll they've I'm you'd she'd", "IT'S WE'LL", "'''", "12,345.67 and 2024-11-22",
    "def f(x):\n    return x**2  # square\n", "naïve café 日本語のテキスト", "👨‍👩‍👧‍👦 🇫🇷 👍🏽", " ", "\n", "",
]


def test_the_faster_pattern_splits_every_text_like_the_original_gpt2_pattern(shakespeare_text):
    fast, original = regex.compile(GPT2_SPLIT_PATTERN), regex.compile(GPT2_SPLIT_PATTERN_ORIGINAL)
    rng = random.Random(3)
    samples = SPLIT_SAMPLES + [random_unicode(rng, rng.randint(0, 40)) for _ in range(300)]
    samples.append(shakespeare_text[:100_000])
    for text in samples:
        assert fast.findall(text) == original.findall(text), text


# --- equality with tiktoken -----------------------------------------------------------------------------

def test_hello_world_and_the_cat_sat_have_the_ids_from_the_explainer(tok):
    assert tok.encode("Hello world!") == [15496, 995, 0]
    assert tok.encode("The cat sat") == [464, 3797, 3332]
    assert tok.token_strings([15496, 995, 0]) == ["Hello", "Ġworld", "!"]


def test_the_vocabulary_has_50257_tokens_and_endoftext_is_the_last(tok):
    assert tok.vocab_size == 50257
    assert tok.eot_token == 50256
    assert len(tok.merges) == 50_000


CASES = {
    "prose": "The quick brown fox jumps over the lazy dog. It was the best of times, it was the worst of times.",
    "contractions": "it's don't they're we've I'm we'll he'd",
    "upper-case contractions": "IT'S DON'T THEY'RE WE'VE I'M WE'LL HE'D She'S",
    "numbers": "1 12 123 1234 12345 3.14159 1,000,000 0x1F 2024-11-22 10:45pm",
    "runs of spaces": "a  b   c    d     e",
    "trailing whitespace": "end with spaces   ",
    "newlines and tabs": "one\ntwo\n\nthree\n\n\n\tfour\t\tfive \n \n  six\r\nseven\n",
    "only whitespace": " \n\t \n",
    "code": 'def add(a, b):\n    """Sum."""\n    return a + b  # done\n\nif __name__ == "__main__":\n    print(add(1, 2))\n',
    "accents": "naïve café, résumé, Ångström, Zürich, São Paulo, façade, jalapeño",
    "CJK": "日本語のテキストと中文文本，还有한국어 텍스트。",
    "emoji": "I love 🍕 and 🐍! 😀😃😄",
    "emoji with ZWJ and modifiers": "family 👨‍👩‍👧‍👦, thumbs 👍🏽, flag 🇫🇷, heart ❤️",
    "combining marks and rare scripts": "e\u0301 a\u0308 Ελληνικά русский עברית العربية हिन्दी",
    "control characters": "\x00\x01\x7f\u00ad\u200b\ufeff",
    "long word": "Pneumonoultramicroscopicsilicovolcanoconiosis antidisestablishmentarianism",
    "punctuation runs": "!!! ??? ... --- *** ((( ))) ''' \"\"\"",
    "empty": "",
}


@pytest.mark.parametrize("name", CASES)
def test_encoding_equals_tiktoken(tok, enc, name):
    text = CASES[name]
    assert tok.encode(text) == enc.encode(text)
    assert tok.encode_ordinary(text) == enc.encode_ordinary(text)
    assert tok.decode(tok.encode(text)) == text


def assigned(c: str) -> bool:
    """True for characters Python's Unicode database knows (surrogates and unassigned code points excluded).

    Code points assigned in newer Unicode versions than tiktoken's tables are letters to the ``regex``
    module but not to tiktoken, so GPT-2's split can differ for them; see gpt2ref.gpt2_tokenizer.
    """
    return unicodedata.category(c) not in ("Cs", "Cn")


def random_unicode(rng: random.Random, length: int) -> str:
    """A random string drawing on ASCII, whitespace, Latin-1, CJK, emoji and the rest of Unicode."""
    pools = [(0x20, 0x7E), (0x09, 0x0D), (0xA0, 0x2FF), (0x3000, 0x9FFF), (0x1F300, 0x1FAFF), (0x0, 0x10FFFF)]
    chars: list[str] = []
    while len(chars) < length:
        lo, hi = rng.choice(pools)
        c = chr(rng.randint(lo, hi))
        if not assigned(c):
            continue
        chars.append(c)
        if rng.random() < 0.15:
            chars.append(rng.choice([" ", "  ", "'s", "\n", "\u200d"]))
    return "".join(chars)


def test_random_unicode_strings_encode_exactly_as_tiktoken(tok, enc):
    rng = random.Random(2024)
    for _ in range(1500):
        text = random_unicode(rng, rng.randint(0, 30))
        assert tok.encode_ordinary(text) == enc.encode_ordinary(text), repr(text)
        assert tok.decode(tok.encode_ordinary(text)) == text


def test_a_slice_of_shakespeare_encodes_exactly_as_tiktoken(tok, enc, shakespeare_text):
    text = shakespeare_text[:50_000]
    assert tok.encode(text) == enc.encode(text)


@pytest.mark.slow
def test_every_assigned_code_point_encodes_exactly_as_tiktoken(tok, enc):
    # Each character once alone, once before a contraction (which shows whether it counts as a letter).
    chars = [chr(cp) for cp in range(0x110000) if assigned(chr(cp))]
    for start in range(0, len(chars), 8192):
        text = "".join(f"{c}'s\n{c}" for c in chars[start:start + 8192])
        assert tok.encode_ordinary(text) == enc.encode_ordinary(text), f"block starting at {ord(chars[start]):#x}"


@pytest.mark.slow
def test_the_whole_of_tiny_shakespeare_encodes_exactly_as_tiktoken(tok, enc, shakespeare_text):
    ids = tok.encode(shakespeare_text)
    assert ids == enc.encode(shakespeare_text)
    assert len(ids) == 338_025
    assert tok.decode(ids) == shakespeare_text


# --- the special token ----------------------------------------------------------------------------------

def test_endoftext_in_the_text_is_refused_unless_allowed_like_tiktoken(tok, enc):
    text = "The end.<|endoftext|>A new start"
    with pytest.raises(ValueError, match="allowed_special"):
        tok.encode(text)
    with pytest.raises(ValueError):
        enc.encode(text)


@pytest.mark.parametrize("allowed", [{"<|endoftext|>"}, "all"])
def test_an_allowed_endoftext_becomes_id_50256(tok, enc, allowed):
    text = "The end.<|endoftext|>A new start <|endoftext|>"
    ids = tok.encode(text, allowed_special=allowed)
    assert ids == enc.encode(text, allowed_special=allowed)
    assert ids.count(50256) == 2
    assert tok.encode("<|endoftext|>", allowed_special=allowed) == [50256]
    assert tok.decode(ids) == text


def test_endoftext_can_be_encoded_as_ordinary_text(tok, enc):
    text = "a <|endoftext|> b"
    ordinary = tok.encode(text, disallowed_special=())
    assert ordinary == enc.encode(text, disallowed_special=()) == tok.encode_ordinary(text)
    assert 50256 not in ordinary


def test_an_unknown_special_token_name_is_a_value_error(tok):
    with pytest.raises(ValueError, match="not special tokens"):
        tok.encode("hi", allowed_special={"<|startoftext|>"})
    with pytest.raises(ValueError, match='"all" or a set'):
        tok.encode("hi", allowed_special="<|endoftext|>")


# --- decoding ------------------------------------------------------------------------------------------

def test_a_lone_byte_of_a_multibyte_character_decodes_to_a_replacement_character(tok):
    euro = "€".encode()  # three bytes: E2 82 AC
    lone = tok.byte_to_id[euro[0]]
    assert tok.decode_bytes([lone]) == b"\xe2"
    assert tok.decode([lone]) == "\ufffd"
    assert tok.decode([tok.byte_to_id[b] for b in euro]) == "€"
    assert tok.decode([tok.byte_to_id[0xFF], tok.encode("ok")[0]]) == "\ufffdok"


def test_decoding_the_tokens_of_an_emoji_one_by_one_never_raises(tok, enc):
    ids = tok.encode("👨‍👩‍👧‍👦")
    pieces = [tok.decode([i]) for i in ids]
    assert "\ufffd" in "".join(pieces)
    assert pieces == [enc.decode([i]) for i in ids]


def test_the_special_token_decodes_to_its_text(tok):
    assert tok.decode([50256]) == "<|endoftext|>"
    assert tok.token_strings([50256, 220]) == ["<|endoftext|>", "Ġ"]


def test_an_unknown_id_is_a_value_error(tok):
    with pytest.raises(ValueError, match="50257 is not in GPT-2's vocabulary"):
        tok.decode([464, 50257])


# --- construction and the cache ---------------------------------------------------------------------------

def test_repeated_words_are_served_from_the_cache(tok):
    tok.encode_ordinary(" cachecheck")
    before = tok._encode_chunk.cache_info().hits
    tok.encode_ordinary(" cachecheck cachecheck")
    assert tok._encode_chunk.cache_info().hits == before + 2


def _tiny_encoder() -> dict[str, int]:
    return {c: i for i, c in enumerate(bytes_to_unicode().values())}


def test_a_tiny_tokenizer_can_be_built_from_256_bytes_and_one_merge():
    encoder = _tiny_encoder() | {"ab": 256, "<|endoftext|>": 257}
    tiny = GPT2Tokenizer(encoder, [("a", "b")], special_tokens={"<|endoftext|>": 257})
    assert tiny.encode("abc ab") == [256, encoder["c"], encoder["Ġ"], 256]
    assert tiny.vocab_size == 258


def test_files_whose_merges_and_ids_disagree_are_refused():
    encoder = _tiny_encoder() | {"ab": 300}
    with pytest.raises(ValueError, match="do not belong together"):
        GPT2Tokenizer(encoder, [("a", "b")])
    with pytest.raises(ValueError, match="missing from the encoder"):
        GPT2Tokenizer(_tiny_encoder(), [("a", "b")])


def test_reading_vocab_bpe_gives_50000_merges_in_rank_order():
    merges = read_vocab_bpe(find_gpt2_files().vocab_bpe)
    assert len(merges) == 50_000
    assert merges[0] == ("Ġ", "t")


def test_a_malformed_vocab_bpe_line_is_reported_with_its_number(tmp_path):
    path = tmp_path / "vocab.bpe"
    path.write_text("#version: 0.2\nĠ t\nbroken\n", encoding="utf-8")
    with pytest.raises(ValueError, match="line 3"):
        read_vocab_bpe(path)

"""GPT-2's tokenizer, written from scratch: byte-level BPE with OpenAI's published merges.

It is the BPE of ``gpt2ref.bpe`` with three differences, all of which this module makes visible:

1. The text is first split into chunks by a regex (:data:`gpt2ref.bpe.GPT2_SPLIT_PATTERN`, the pattern
   ``bpe`` calls "gpt2"): words with the space before them, runs of digits, runs of punctuation,
   whitespace, and English contractions ('s, 't, ...). Merges never cross a chunk, so "dog." is
   "dog" + "." whatever the merges say.
2. The merges are not trained here; they are read from GPT-2's ``vocab.bpe`` (50,000 merges) and the ids
   from ``encoder.json``. GPT-2 stores byte-level tokens as *printable strings*: each byte is mapped to a
   visible character by :func:`bytes_to_unicode` (so a space is written "Ġ", a newline "Ċ").
3. One special token, ``<|endoftext|>`` (id 50256), separates documents. Like tiktoken, ``encode``
   refuses text that contains it unless told what to do (``allowed_special`` / ``disallowed_special``).

The result is checked token for token against tiktoken's ``gpt2`` encoding in the tests.

One known difference, which comes from the regex engines and not from BPE: what counts as a letter
(``\\p{L}``) or a digit (``\\p{N}``) depends on the Unicode version of the engine's tables. The ``regex``
module (2026.11) knows letters that tiktoken's Rust tables do not (17,480 code points that were still
unassigned in Unicode 14, e.g. U+0558), so a text containing those may be split, and then encoded,
differently. Every code point assigned in Python 3.11's Unicode database (Unicode 14) encodes identically.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Set
from pathlib import Path
from typing import Literal

import regex

from gpt2ref.bpe import GPT2_SPLIT_PATTERN, ByteLevelBPE
from gpt2ref.gpt2_files import ENDOFTEXT, EOT_TOKEN, find_gpt2_files

AllowedSpecial = Literal["all"] | Set[str]


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's table from each of the 256 byte values to a printable character.

    The 188 bytes that already print as a visible Latin-1 character keep it; the other 68 (control codes,
    space, DEL, no-break space, soft hyphen) are given the characters U+0100, U+0101, ... in byte order.
    """
    visible = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in visible}
    hidden = [b for b in range(256) if b not in table]
    for offset, b in enumerate(hidden):
        table[b] = chr(256 + offset)
    return dict(sorted(table.items()))


def read_vocab_bpe(path: str | os.PathLike) -> list[tuple[str, str]]:
    """The merges of a ``vocab.bpe`` file, in rank order, as pairs of printable token strings."""
    lines = Path(path).read_text(encoding="utf-8").split("\n")
    merges = []
    for lineno, line in enumerate(lines, start=1):
        if not line or (lineno == 1 and line.startswith("#version")):
            continue
        parts = line.split(" ")
        if len(parts) != 2:
            raise ValueError(f"{path}, line {lineno}: expected two tokens separated by a space, got {line!r}.")
        merges.append((parts[0], parts[1]))
    return merges


class GPT2Tokenizer(ByteLevelBPE):
    """GPT-2's byte-level BPE tokenizer: ``encode``, ``encode_ordinary``, ``decode``, built from its files.

    Splitting, encoding a chunk and decoding are :class:`gpt2ref.bpe.ByteLevelBPE`'s; this class reads
    GPT-2's files into merges and ids, and adds the special token.
    """

    vocabulary_name = "GPT-2's vocabulary"

    def __init__(self, encoder: dict[str, int], bpe_merges: list[tuple[str, str]],
                 special_tokens: dict[str, int] | None = None, pattern: str = GPT2_SPLIT_PATTERN,
                 cache_size: int = 1 << 16):
        super().__init__(pattern, cache_size)
        special_tokens = {ENDOFTEXT: EOT_TOKEN} if special_tokens is None else dict(special_tokens)
        self.byte_encoder = bytes_to_unicode()
        self.byte_decoder = {c: b for b, c in self.byte_encoder.items()}
        self.encoder = dict(encoder)  # printable token string -> id
        self.special_tokens = special_tokens

        # Every id's bytes: undo the printable-character mapping of each token string.
        self.vocab = {}
        for token, i in self.encoder.items():
            if token in special_tokens:
                continue
            try:
                self.vocab[i] = bytes(self.byte_decoder[c] for c in token)
            except KeyError:
                raise ValueError(f"Token {token!r} (id {i}) in encoder.json contains a character that "
                                 f"is not in GPT-2's byte table.") from None
        for token, i in special_tokens.items():
            self.vocab[i] = token.encode("utf-8")
        self.special_ids = {i: token for token, i in special_tokens.items()}

        # The 256 base tokens, and the merges as (left id, right id) -> merged id.
        self.byte_to_id = [self.encoder[self.byte_encoder[b]] for b in range(256)]
        self.merges = {}
        for rank, (left, right) in enumerate(bpe_merges):
            try:
                pair, new_id = (self.encoder[left], self.encoder[right]), self.encoder[left + right]
            except KeyError as exc:
                raise ValueError(f"Merge {rank} ({left!r} {right!r}) uses a token missing from the "
                                 f"encoder: {exc.args[0]!r}.") from None
            # GPT-2 numbers merged tokens in merge order (id = 256 + rank), so an id doubles as a priority.
            if new_id != 256 + rank:
                raise ValueError(f"Merge {rank} ({left!r} {right!r}) gives id {new_id}, expected {256 + rank}: "
                                 f"vocab.bpe and encoder.json do not belong together.")
            self.merges[pair] = new_id

    @classmethod
    def from_files(cls, vocab_bpe: str | os.PathLike, encoder_json: str | os.PathLike) -> GPT2Tokenizer:
        """Build the tokenizer from a ``vocab.bpe`` and an ``encoder.json``."""
        encoder = json.loads(Path(encoder_json).read_text(encoding="utf-8"))
        return cls(encoder, read_vocab_bpe(vocab_bpe))

    @classmethod
    def load(cls) -> GPT2Tokenizer:
        """GPT-2's tokenizer from the verified local files (see ``gpt2ref.gpt2_files``)."""
        files = find_gpt2_files()
        return cls.from_files(files.vocab_bpe, files.encoder_json)

    @property
    def eot_token(self) -> int:
        """The id of ``<|endoftext|>``."""
        return self.special_tokens[ENDOFTEXT]

    # --- encoding -------------------------------------------------------------------------------------

    def encode(self, text: str, *, allowed_special: AllowedSpecial = frozenset(),
               disallowed_special: AllowedSpecial = "all") -> list[int]:
        """Token ids of ``text``, with tiktoken's rules for special tokens.

        Special-token text in ``allowed_special`` becomes its special id; text of a token in
        ``disallowed_special`` (by default every special token not allowed) raises ValueError.
        """
        if not isinstance(text, str):
            raise TypeError(f"encode() takes a str, got {type(text).__name__}.")
        allowed = self._special_set(allowed_special, "allowed_special")
        disallowed = (set(self.special_tokens) - allowed if disallowed_special == "all"
                      else self._special_set(disallowed_special, "disallowed_special"))
        if disallowed:
            found = regex.search("|".join(regex.escape(t) for t in sorted(disallowed)), text)
            if found:
                raise ValueError(
                    f"The text contains the special token {found.group()!r} (at character {found.start()}). "
                    f"To encode it as the special token pass allowed_special={{{found.group()!r}}} (or "
                    f'"all"); to encode it as ordinary text pass disallowed_special=() or use encode_ordinary().')
        if not allowed:
            return self.encode_ordinary(text)
        ids: list[int] = []
        specials = regex.compile("(" + "|".join(regex.escape(t) for t in sorted(allowed, key=len, reverse=True)) + ")")
        for k, piece in enumerate(specials.split(text)):
            if k % 2:  # odd pieces are the separators: the special tokens themselves
                ids.append(self.special_tokens[piece])
            elif piece:
                ids.extend(self.encode_ordinary(piece))
        return ids

    def _special_set(self, spec: AllowedSpecial, name: str) -> set[str]:
        if spec == "all":
            return set(self.special_tokens)
        if isinstance(spec, str):
            raise ValueError(f'{name} must be "all" or a set of special-token strings, got the string {spec!r}.')
        tokens = set(spec)
        unknown = tokens - set(self.special_tokens)
        if unknown:
            raise ValueError(f"{name} names {sorted(unknown)}, which are not special tokens of this "
                             f"tokenizer (it has {sorted(self.special_tokens)}).")
        return tokens

    # --- decoding -------------------------------------------------------------------------------------

    def token_strings(self, ids: Iterable[int]) -> list[str]:
        """Each id as GPT-2 writes it in ``encoder.json`` (e.g. "Ġworld" for " world")."""
        ids = list(ids)
        self.decode_bytes(ids)  # validates the ids
        return [self.special_ids[i] if i in self.special_ids
                else "".join(self.byte_encoder[b] for b in self.vocab[i]) for i in ids]

    def __repr__(self) -> str:
        return f"GPT2Tokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)})"

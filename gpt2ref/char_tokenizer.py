"""The simplest tokenizer: one token per character, the vocabulary being the characters seen in a text.

This is where the course starts (and what nanoGPT's Shakespeare example uses): easy to read, but every
character costs a token, so sequences are long. Byte-pair encoding (``gpt2ref.bpe``) fixes that.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path


class CharTokenizer:
    """Maps each character of a fixed alphabet to an id (its position in the sorted alphabet) and back."""

    def __init__(self, chars: Iterable[str]):
        chars = list(chars)
        for c in chars:
            if not isinstance(c, str) or len(c) != 1:
                raise ValueError(f"A CharTokenizer alphabet holds single characters, got {c!r}.")
        if len(set(chars)) != len(chars):
            raise ValueError("The alphabet of a CharTokenizer has a repeated character.")
        self.chars: list[str] = chars
        self.stoi: dict[str, int] = {c: i for i, c in enumerate(chars)}
        self.itos: dict[int, str] = dict(enumerate(chars))

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """A tokenizer whose vocabulary is the sorted set of distinct characters in ``text``."""
        if not text:
            raise ValueError("Cannot build a character vocabulary from an empty text.")
        return cls(sorted(set(text)))

    @property
    def vocab_size(self) -> int:
        """How many distinct tokens there are (the number of characters in the alphabet)."""
        return len(self.chars)

    def encode(self, text: str) -> list[int]:
        """The id of each character of ``text``; ValueError naming the first character not in the alphabet."""
        try:
            return [self.stoi[c] for c in text]
        except KeyError as exc:
            c = exc.args[0]
            raise ValueError(f"Character {c!r} (U+{ord(c):04X}) at position {text.index(c)} is not in this "
                             f"tokenizer's vocabulary of {self.vocab_size} characters.") from None

    def decode(self, ids: Iterable[int]) -> str:
        """The text made of the characters with these ids; ValueError for an id outside the vocabulary."""
        try:
            return "".join(self.itos[i] for i in ids)
        except KeyError as exc:
            raise ValueError(f"Token id {exc.args[0]!r} is outside 0..{self.vocab_size - 1}.") from None

    def save(self, path: str | os.PathLike) -> None:
        """Write the alphabet to a JSON file (readable: one string holding the characters in id order)."""
        Path(path).write_text(json.dumps({"type": "CharTokenizer", "chars": "".join(self.chars)},
                                         ensure_ascii=False) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike) -> CharTokenizer:
        """Read a tokenizer written by :meth:`save`."""
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if not isinstance(data, dict) or data.get("type") != "CharTokenizer" or not isinstance(data.get("chars"), str):
            raise ValueError(f"{path} is not a file written by CharTokenizer.save().")
        return cls(data["chars"])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharTokenizer) and self.chars == other.chars

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"

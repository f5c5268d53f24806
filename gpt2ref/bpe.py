"""Byte-level byte-pair encoding (BPE), trained from scratch.

A text is first turned into its UTF-8 bytes, so every text can be encoded with the 256 base tokens 0..255.
Training then repeats one step: count every pair of neighbouring tokens, take the most frequent pair, and
give it a new token id (256, 257, ...), replacing each occurrence of the pair by that id. The list of
merges, in order, *is* the tokenizer.

Each step is a short function below (:func:`get_pair_counts`, :func:`most_frequent_pair`,
:func:`merge_pair`). Two trainers use them:

- ``train_teaching``: the loop as the book shows it; it recounts every pair after every merge, so its
  cost is (number of merges) x (length of the text).
- ``train_fast``: the same merges, but it only updates the counts of the pairs that touch a merge site
  (a doubly linked list over the tokens, an index from each pair to its positions, and a heap of counts
  with lazy deletion). Tiny-shakespeare at vocab 1024 takes seconds instead of minutes.

Tie-breaking rule (both trainers, so their merges are identical): the most frequent pair wins; among
pairs with the same count, the smallest pair in lexicographic order of the ids, ``(a, b) < (c, d)``.

Optionally the text is first split into chunks with a regex (GPT-2's pattern by default when
``pattern="gpt2"``), like GPT-2 does: merges then never cross a chunk boundary, so a word and the space
before it can merge but a word and the punctuation after it cannot.
"""

from __future__ import annotations

import functools
import heapq
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import regex

Pair = tuple[int, int]

# GPT-2's split pattern, in the form tiktoken uses for "gpt2"/"r50k_base". The original release wrote it
#   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
# which splits every text the same way (the tests check that); the possessive ``++`` forms are faster.
# Read it alternative by alternative:
#   '(?:[sdmt]|ll|ve|re)    a contraction: 's 'd 'm 't 'll 've 're (lower case only, as in GPT-2)
#   ' ?\p{L}++              letters, with at most one space in front
#   ' ?\p{N}++              digits, with at most one space in front
#   ' ?[^\s\p{L}\p{N}]++    other symbols (punctuation, emoji), with at most one space in front
#   \s++$                   whitespace at the very end of the text
#   \s+(?!\S)               whitespace, except the last space before a word (that one joins the word)
#   \s                      any single whitespace character left over
GPT2_SPLIT_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
GPT2_SPLIT_PATTERN_ORIGINAL = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
NAMED_PATTERNS = {"gpt2": GPT2_SPLIT_PATTERN}

FORMAT_HEADER = "gpt2ref-bpe v1"


# ---------------------------------------------------------------------------------------------------------
# The steps of BPE, one function each.
# ---------------------------------------------------------------------------------------------------------

def get_pair_counts(ids: Sequence[int], counts: dict[Pair, int] | None = None, weight: int = 1
                    ) -> dict[Pair, int]:
    """Count each pair of neighbouring ids (overlapping: "aaa" has the pair (a, a) twice).

    Pass ``counts`` to add to an existing table, and ``weight`` to count a chunk that occurs several times.
    """
    counts = {} if counts is None else counts
    for pair in pairwise(ids):
        counts[pair] = counts.get(pair, 0) + weight
    return counts


def most_frequent_pair(counts: dict[Pair, int]) -> Pair:
    """The pair with the highest count; ties go to the lexicographically smallest pair."""
    if not counts:
        raise ValueError("No pairs to choose from: the text has fewer than two tokens.")
    return min(counts, key=lambda pair: (-counts[pair], pair))


def merge_pair(ids: Sequence[int], pair: Pair, new_id: int) -> list[int]:
    """Replace each occurrence of ``pair`` in ``ids`` by ``new_id``, scanning left to right.

    Occurrences cannot overlap: with pair (a, a), "a a a" becomes "aa a".
    """
    out: list[int] = []
    i, n = 0, len(ids)
    while i < n:
        if i + 1 < n and ids[i] == pair[0] and ids[i + 1] == pair[1]:
            out.append(new_id)
            i += 2
        else:
            out.append(ids[i])
            i += 1
    return out


def build_vocab(merges: dict[Pair, int]) -> dict[int, bytes]:
    """The bytes each token stands for: the 256 single bytes, then each merge's two parts joined."""
    vocab = {i: bytes([i]) for i in range(256)}
    for (a, b), new_id in sorted(merges.items(), key=lambda item: item[1]):
        vocab[new_id] = vocab[a] + vocab[b]
    return vocab


def render_token(token: bytes) -> str:
    """A printable form of a token's bytes: its text where it is valid UTF-8, escapes for the rest."""
    text = token.decode("utf-8", errors="backslashreplace")
    return "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text)


@dataclass(frozen=True)
class MergeRecord:
    """One training step: which pair was merged, the id it became, and how often it occurred then."""

    pair: Pair
    new_id: int
    count: int


# ---------------------------------------------------------------------------------------------------------
# Encoding one chunk with a list of merges.
# ---------------------------------------------------------------------------------------------------------

def encode_chunk_teaching(ids: list[int], merges: dict[Pair, int]) -> list[int]:
    """Apply merges the simple way: while some neighbouring pair has a merge, merge the earliest-learned one."""
    while len(ids) >= 2:
        counts = get_pair_counts(ids)
        pair = min(counts, key=lambda p: merges.get(p, float("inf")))
        if pair not in merges:
            break  # no pair left that training ever merged
        ids = merge_pair(ids, pair, merges[pair])
    return ids


def encode_chunk_fast(ids: list[int], merges: dict[Pair, int]) -> list[int]:
    """Same result as :func:`encode_chunk_teaching` in O(n log n): a heap of (merge rank, position).

    A merge only creates pairs that contain the new id, and those were learned later, so merges are
    applied in the order they were learned, each left to right, exactly as the simple loop does.
    """
    n = len(ids)
    if n < 2:
        return list(ids)
    tok = list(ids)
    nxt = list(range(1, n + 1))
    nxt[-1] = -1
    prv = list(range(-1, n - 1))
    heap = [(merges[(tok[i], tok[i + 1])], i) for i in range(n - 1) if (tok[i], tok[i + 1]) in merges]
    heapq.heapify(heap)
    while heap:
        rank, i = heapq.heappop(heap)
        j = nxt[i]
        # Stale entry: position i was merged away, or its pair has changed since it was pushed.
        if tok[i] < 0 or j < 0 or merges.get((tok[i], tok[j])) != rank:
            continue
        tok[i], tok[j] = rank, -1
        k = nxt[j]
        nxt[i] = k
        if k >= 0:
            prv[k] = i
            if (new := merges.get((rank, tok[k]))) is not None:
                heapq.heappush(heap, (new, i))
        p = prv[i]
        if p >= 0 and (new := merges.get((tok[p], rank))) is not None:
            heapq.heappush(heap, (new, p))
    out, i = [], 0
    while i >= 0:
        out.append(tok[i])
        i = nxt[i]
    return out


# ---------------------------------------------------------------------------------------------------------
# The tokenizers.
# ---------------------------------------------------------------------------------------------------------

class ByteLevelBPE:
    """The core of every byte-level BPE tokenizer here: split the text into chunks, turn each chunk into
    byte tokens, apply the merges; decode by joining the bytes of each id.

    ``merges`` maps a pair of ids to the id it becomes; ``vocab`` maps every id to the bytes it stands for;
    ``byte_to_id[b]`` is the token of byte ``b`` (``b`` itself here; GPT-2 numbers its byte tokens
    differently). ``pattern``, if set, is the regex that splits the text into chunks before merging
    (``"gpt2"`` names GPT-2's); merges never cross from one chunk into the next.
    """

    vocabulary_name = "this tokenizer's vocabulary"  # for error messages

    def __init__(self, pattern: str | None = None, cache_size: int = 1 << 16) -> None:
        self.pattern = NAMED_PATTERNS.get(pattern, pattern) if pattern is not None else None
        self._compiled = regex.compile(self.pattern) if self.pattern is not None else None
        self.byte_to_id: list[int] = list(range(256))
        self.merges: dict[Pair, int] = {}
        self.vocab: dict[int, bytes] = build_vocab({})
        self._encode_chunk = functools.lru_cache(maxsize=cache_size)(self._encode_chunk_uncached)

    @property
    def vocab_size(self) -> int:
        """Number of token ids (for a trained tokenizer: 256 bytes plus one per merge)."""
        return len(self.vocab)

    def split(self, text: str) -> list[str]:
        """The chunks that are encoded separately: the pattern's matches, or the whole text if no pattern."""
        if self._compiled is None:
            return [text] if text else []
        return self._compiled.findall(text)

    def _encode_chunk_uncached(self, chunk: str) -> tuple[int, ...]:
        ids = [self.byte_to_id[b] for b in chunk.encode("utf-8")]
        return tuple(encode_chunk_fast(ids, self.merges))

    def encode_ordinary(self, text: str) -> list[int]:
        """Token ids of ``text``: its UTF-8 bytes, with the merges applied inside each chunk."""
        if not isinstance(text, str):
            raise TypeError(f"encode() takes a str, got {type(text).__name__}.")
        # Chunks repeat (words), so their ids are cached; without a pattern the one chunk is the whole text.
        encode_chunk = self._encode_chunk if self._compiled is not None else self._encode_chunk_uncached
        ids: list[int] = []
        for chunk in self.split(text):
            ids.extend(encode_chunk(chunk))
        return ids

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The bytes the ids stand for; ValueError for an unknown id."""
        try:
            return b"".join(self.vocab[i] for i in ids)
        except KeyError as exc:
            raise ValueError(f"Token id {exc.args[0]!r} is not in {self.vocabulary_name} "
                             f"(0..{self.vocab_size - 1}).") from None

    def decode(self, ids: Iterable[int], errors: str = "replace") -> str:
        """The text the ids stand for; bytes that are not valid UTF-8 become U+FFFD by default."""
        return self.decode_bytes(ids).decode("utf-8", errors=errors)


class Tokenizer(ByteLevelBPE):
    """A byte-level BPE tokenizer defined by its merges; ``encode``/``decode``/``save``/``load``.

    New ids count up from 256 in training order, so the 256 byte tokens are the ids 0..255.
    """

    def __init__(self, merges: dict[Pair, int] | None = None, pattern: str | None = None):
        super().__init__(pattern)
        if merges:
            self.set_merges(merges)

    def set_merges(self, merges: dict[Pair, int]) -> None:
        """Install a list of merges after checking it is consistent (new ids 256, 257, ... from known ids)."""
        for expected, ((a, b), new_id) in enumerate(sorted(merges.items(), key=lambda item: item[1]), start=256):
            if new_id != expected:
                raise ValueError(f"Merge ids must be 256, 257, ... without gaps; got {new_id} where "
                                 f"{expected} was expected.")
            if not (0 <= a < new_id and 0 <= b < new_id):
                raise ValueError(f"Merge {(a, b)} -> {new_id} uses an id that does not exist yet.")
        self.merges = dict(merges)
        self.vocab = build_vocab(self.merges)
        self._encode_chunk.cache_clear()

    def encode(self, text: str) -> list[int]:
        """Token ids of ``text`` (this tokenizer has no special tokens)."""
        return self.encode_ordinary(text)

    def save(self, path: str | os.PathLike) -> None:
        """Write the tokenizer as readable text: a header, the pattern, then one merge per line."""
        lines = [FORMAT_HEADER, f"pattern {self.pattern!r}" if self.pattern is not None else "pattern None",
                 f"merges {len(self.merges)}"]
        for (a, b), new_id in sorted(self.merges.items(), key=lambda item: item[1]):
            shown = " + ".join(repr(render_token(self.vocab[t])) for t in (a, b))
            lines.append(f"{a} {b} -> {new_id}  # {shown}")
        Path(path).write_text("\n".join(lines) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike) -> Tokenizer:
        """Read a tokenizer written by :meth:`save`."""
        import ast

        lines = Path(path).read_text(encoding="utf-8").splitlines()
        if len(lines) < 3 or lines[0] != FORMAT_HEADER or not lines[1].startswith("pattern ") \
                or not lines[2].startswith("merges "):
            raise ValueError(f"{path} is not a tokenizer file written by Tokenizer.save() "
                             f"(it must start with {FORMAT_HEADER!r}).")
        pattern = ast.literal_eval(lines[1][len("pattern "):])
        n = int(lines[2][len("merges "):])
        merges: dict[Pair, int] = {}
        for lineno, line in enumerate(lines[3:], start=4):
            fields = line.split("#", 1)[0].split()
            if len(fields) != 4 or fields[2] != "->":
                raise ValueError(f"{path}, line {lineno}: expected 'A B -> NEW', got {line!r}.")
            merges[(int(fields[0]), int(fields[1]))] = int(fields[3])
        if len(merges) != n:
            raise ValueError(f"{path} announces {n} merges but holds {len(merges)}.")
        tok = cls(pattern=pattern)
        tok.set_merges(merges)
        return tok

    def __repr__(self) -> str:
        return f"{type(self).__name__}(vocab_size={self.vocab_size}, pattern={'set' if self.pattern else None})"


def _check_vocab_size(vocab_size: int) -> None:
    if isinstance(vocab_size, bool) or not isinstance(vocab_size, int):
        raise ValueError(f"vocab_size must be an int, got {vocab_size!r} ({type(vocab_size).__name__}).")
    if vocab_size < 256:
        raise ValueError(f"vocab_size must be at least 256 (the byte tokens), got {vocab_size}.")


class BPETokenizer(Tokenizer):
    """A Tokenizer that learns its merges from a text with :meth:`train`."""

    def __init__(self, merges: dict[Pair, int] | None = None, pattern: str | None = None):
        super().__init__(merges, pattern)
        self.history: list[MergeRecord] = []
        self.stopped_early: bool = False

    def chunk_counts(self, text: str) -> tuple[list[list[int]], list[int]]:
        """The distinct chunks of ``text`` as byte ids, with how often each occurs (first-seen order)."""
        counts = Counter(self.split(text))
        return [list(c.encode("utf-8")) for c in counts], list(counts.values())

    def train(self, text: str, vocab_size: int, *, method: str = "fast", verbose: bool = False
              ) -> list[MergeRecord]:
        """Learn ``vocab_size - 256`` merges from ``text`` (fewer if no pair occurs twice any more).

        ``method`` is "fast" (incremental counts) or "teaching" (recount everything each step); both give
        the same merges. Returns the per-merge records, also kept in ``self.history``.
        """
        _check_vocab_size(vocab_size)
        if method not in ("fast", "teaching"):
            raise ValueError(f'method must be "fast" or "teaching", got {method!r}.')
        if not isinstance(text, str):
            raise TypeError(f"train() takes a str, got {type(text).__name__}.")
        chunks, weights = self.chunk_counts(text)
        trainer = train_fast if method == "fast" else train_teaching
        history = trainer(chunks, weights, vocab_size - 256)
        self.set_merges({r.pair: r.new_id for r in history})
        self.history = history
        self.stopped_early = len(history) < vocab_size - 256
        if verbose:
            for r in history:
                print(f"merge {r.new_id - 255}/{vocab_size - 256}: {r.pair} -> {r.new_id} "
                      f"({render_token(self.vocab[r.new_id])!r}) had {r.count} occurrences")
        if self.stopped_early:
            print(f"BPE training stopped after {len(history)} of {vocab_size - 256} merges: no pair of "
                  f"tokens occurs twice any more (vocab_size is {self.vocab_size}).")
        return history


# ---------------------------------------------------------------------------------------------------------
# The two trainers. Both take the distinct chunks (as lists of ids) and how often each occurs.
# ---------------------------------------------------------------------------------------------------------

def train_teaching(chunks: list[list[int]], weights: list[int], num_merges: int) -> list[MergeRecord]:
    """The textbook loop: count all pairs, merge the most frequent, repeat ``num_merges`` times."""
    chunks = [list(c) for c in chunks]
    history: list[MergeRecord] = []
    for step in range(num_merges):
        counts: dict[Pair, int] = {}
        for ids, w in zip(chunks, weights, strict=True):
            get_pair_counts(ids, counts, w)
        if not counts or max(counts.values()) < 2:
            break  # nothing left worth a new token
        pair = most_frequent_pair(counts)
        new_id = 256 + step
        chunks = [merge_pair(ids, pair, new_id) for ids in chunks]
        history.append(MergeRecord(pair, new_id, counts[pair]))
    return history


def train_fast(chunks: list[list[int]], weights: list[int], num_merges: int) -> list[MergeRecord]:
    """The same merges as :func:`train_teaching`, updating only the counts that a merge changes.

    All chunks live in one flat array with ``prv``/``nxt`` links (-1 at chunk ends, so no pair crosses a
    chunk); ``where[pair]`` lists the positions where the pair may start (stale entries are checked and
    skipped); the heap holds ``(-count, pair)`` and entries whose count is out of date are skipped.
    """
    tok: list[int] = []
    wgt: list[int] = []
    for ids, w in zip(chunks, weights, strict=True):
        tok.extend(ids)
        wgt.extend([w] * len(ids))
    n = len(tok)
    prv = list(range(-1, n - 1))
    nxt = list(range(1, n + 1))
    start = 0
    for ids in chunks:  # cut the links at chunk boundaries
        if ids:
            prv[start] = -1
            nxt[start + len(ids) - 1] = -1
            start += len(ids)

    counts: dict[Pair, int] = {}
    where: dict[Pair, list[int]] = {}
    for i in range(n):
        if nxt[i] >= 0:
            pair = (tok[i], tok[nxt[i]])
            counts[pair] = counts.get(pair, 0) + wgt[i]
            where.setdefault(pair, []).append(i)
    heap = [(-c, pair) for pair, c in counts.items()]
    heapq.heapify(heap)

    def change(pair: Pair, delta: int, touched: set[Pair]) -> None:
        c = counts.get(pair, 0) + delta
        if c:
            counts[pair] = c
        else:
            del counts[pair]
        touched.add(pair)

    history: list[MergeRecord] = []
    for step in range(num_merges):
        # Pop until the top of the heap is up to date: it is then the most frequent, smallest pair.
        while heap and counts.get(heap[0][1], 0) != -heap[0][0]:
            heapq.heappop(heap)
        if not heap or -heap[0][0] < 2:
            break
        neg, pair = heapq.heappop(heap)
        a, b = pair
        new_id = 256 + step
        history.append(MergeRecord(pair, new_id, -neg))
        touched: set[Pair] = set()
        for i in sorted(set(where.pop(pair))):  # left to right, like merge_pair
            j = nxt[i]
            if tok[i] != a or j < 0 or tok[j] != b:
                continue  # stale: this occurrence was destroyed by an earlier merge in this pass
            w = wgt[i]
            change(pair, -w, touched)
            p, k = prv[i], nxt[j]
            if p >= 0:
                change((tok[p], a), -w, touched)
                change((tok[p], new_id), w, touched)
                where.setdefault((tok[p], new_id), []).append(p)
            if k >= 0:
                change((b, tok[k]), -w, touched)
                change((new_id, tok[k]), w, touched)
                where.setdefault((new_id, tok[k]), []).append(i)
                prv[k] = i
            tok[i], tok[j] = new_id, -1
            nxt[i] = k
        for t in touched:
            if t in counts:
                heapq.heappush(heap, (-counts[t], t))
    return history

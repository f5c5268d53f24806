"""Shakespeare as a stream of token ids, split 90/10 into train and validation, served in random batches.

Tokenizing happens once: the ids go to a uint16 file under ``cache_dir()/tokens/``, named after the
tokenizer and the text's sha256, and later runs map that file into memory instead of re-tokenizing.
A batch is ``batch_size`` windows of ``block_size + 1`` tokens cut at random offsets; the input ``x``
is each window without its last token and the target ``y`` the same window shifted left by one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gpt2ref.cache import atomic_write, cache_dir

TOKENIZERS = ("char", "gpt2")
TRAIN_FRACTION = 0.9


@dataclass
class TokenizerInfo:
    """What a trained model needs to turn text into ids and back; ``meta`` is a plain dict for checkpoints."""

    name: str  # "char" or "gpt2"
    vocab_size: int
    encode: Callable[[str], list[int]]
    decode: Callable[[list[int]], str]
    meta: dict


def char_tokenizer_info(chars: str) -> TokenizerInfo:
    """The character tokenizer over the alphabet ``chars`` (in id order)."""
    from gpt2ref.char_tokenizer import CharTokenizer

    tok = CharTokenizer(chars)
    return TokenizerInfo("char", tok.vocab_size, tok.encode, tok.decode, {"name": "char", "chars": chars})


def gpt2_tokenizer_info() -> TokenizerInfo:
    """GPT-2's byte-level BPE (tiktoken), 50,257 tokens."""
    from gpt2ref.gpt2_files import get_gpt2_encoding

    enc = get_gpt2_encoding()
    return TokenizerInfo("gpt2", enc.n_vocab, enc.encode_ordinary, enc.decode, {"name": "gpt2"})


def tokenizer_from_meta(meta: dict) -> TokenizerInfo:
    """Rebuild the tokenizer described by ``TokenizerInfo.meta`` (as stored in a checkpoint)."""
    if meta.get("name") == "char" and isinstance(meta.get("chars"), str):
        return char_tokenizer_info(meta["chars"])
    if meta.get("name") == "gpt2":
        return gpt2_tokenizer_info()
    raise ValueError(f"unknown tokenizer description {meta!r}; expected name 'char' (with chars) or 'gpt2'")


def make_tokenizer(name: str, text: str) -> TokenizerInfo:
    """The tokenizer called ``name`` ("char": alphabet of ``text``; "gpt2": GPT-2's BPE)."""
    if name == "char":
        return char_tokenizer_info("".join(sorted(set(text))))
    if name == "gpt2":
        return gpt2_tokenizer_info()
    raise ValueError(f"unknown tokenizer {name!r}; choose one of {', '.join(TOKENIZERS)}")


def token_file_path(tokenizer: str, text: str) -> Path:
    """Where the token ids of ``text`` under ``tokenizer`` are cached: keyed by tokenizer and text sha256."""
    sha = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return cache_dir() / "tokens" / f"{tokenizer}-{sha[:16]}.uint16"


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file + fsync + rename: readers never see half a file."""
    with atomic_write(path) as f:
        f.write(data)


def tokenize_to_file(text: str, tok: TokenizerInfo) -> np.memmap:
    """Token ids of ``text`` as a read-only uint16 memmap, tokenizing only if the cache file is missing."""
    path = token_file_path(tok.name, text)
    if not path.is_file():
        if tok.vocab_size > 2**16:
            raise ValueError(f"vocabulary of {tok.vocab_size} does not fit in uint16 token files")
        ids = np.asarray(tok.encode(text), dtype=np.uint16)  # (N,)
        write_atomically(path, ids.tobytes())
    return np.memmap(path, dtype=np.uint16, mode="r")


@dataclass
class TokenData:
    """The tokenized corpus: ``train`` and ``val`` are 1-D uint16 arrays of ids (views of one memmap)."""

    train: np.ndarray  # (N_train,)
    val: np.ndarray  # (N_val,)
    tokenizer: TokenizerInfo
    text_sha256: str

    @property
    def vocab_size(self) -> int:
        """Number of distinct token ids the model must predict."""
        return self.tokenizer.vocab_size


def split_train_val(ids: np.ndarray, train_fraction: float = TRAIN_FRACTION) -> tuple[np.ndarray, np.ndarray]:
    """The first ``train_fraction`` of the ids for training, the rest (the end of the text) for validation."""
    n = int(train_fraction * len(ids))
    return ids[:n], ids[n:]


def load_token_data(tokenizer: str = "char", text: str | None = None) -> TokenData:
    """Tokenized tiny-shakespeare (or ``text``) split 90/10, cached on disk across runs."""
    if text is None:
        from gpt2ref.shakespeare import load_shakespeare

        text = load_shakespeare()
    tok = make_tokenizer(tokenizer, text)
    ids = tokenize_to_file(text, tok)
    train, val = split_train_val(ids)
    return TokenData(train, val, tok, hashlib.sha256(text.encode("utf-8")).hexdigest())


def random_offsets(n_tokens: int, n: int, block_size: int, generator: torch.Generator) -> torch.Tensor:
    """``n`` random window starts in a stream of ``n_tokens`` ids, each leaving room for block_size + 1 ids."""
    if n_tokens < block_size + 1:
        raise ValueError(f"a split of {n_tokens} tokens is too short for block_size {block_size}")
    return torch.randint(n_tokens - block_size, (n,), generator=generator)  # (n,)


def batch_at(data: np.ndarray, offsets: torch.Tensor, block_size: int,
             device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """Inputs and next-token targets, both (B, T) int64, for the windows starting at ``offsets`` (B,)."""
    index = offsets.numpy()[:, None] + np.arange(block_size + 1)  # (B, T+1)
    windows = torch.from_numpy(data[index].astype(np.int64))  # (B, T+1)
    x, y = windows[:, :-1], windows[:, 1:]  # (B, T) each: y[b, t] is the token after x[b, t]
    device = torch.device(device)
    if device.type == "cuda":  # page-locked memory lets the copy run asynchronously with the GPU's work
        return x.pin_memory().to(device, non_blocking=True), y.pin_memory().to(device, non_blocking=True)
    return x.contiguous().to(device), y.contiguous().to(device)


def get_batch(data: np.ndarray, batch_size: int, block_size: int, generator: torch.Generator,
              device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """A random batch: ``x`` (B, T) token ids and ``y`` (B, T) the ids one position later."""
    offsets = random_offsets(len(data), batch_size, block_size, generator)  # (B,)
    return batch_at(data, offsets, block_size, device)


class StepBatches:
    """Draws each optimizer step's global batch with one generator; every rank takes its own micro-batches.

    A step uses ``world_size * accum`` micro-batches of ``batch_size`` windows. All ranks draw the same
    offsets and rank r keeps micro-batches ``r*accum .. r*accum + accum - 1``, so one process with
    ``world_size * accum`` accumulation steps sees exactly the same windows as the whole group.
    """

    def __init__(self, data: np.ndarray, batch_size: int, block_size: int, accum: int, seed: int,
                 rank: int = 0, world_size: int = 1, device: torch.device | str = "cpu") -> None:
        self.data, self.batch_size, self.block_size, self.accum = data, batch_size, block_size, accum
        self.rank, self.world_size, self.device = rank, world_size, torch.device(device)
        self.generator = torch.Generator().manual_seed(seed)

    def next_step(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """This rank's ``accum`` micro-batches (x, y), each (B, T), for the next optimizer step."""
        n_micro = self.world_size * self.accum
        offsets = random_offsets(len(self.data), n_micro * self.batch_size, self.block_size, self.generator)
        offsets = offsets.view(n_micro, self.batch_size)  # (world * accum, B)
        mine = offsets[self.rank * self.accum:(self.rank + 1) * self.accum]  # (accum, B)
        return [batch_at(self.data, o, self.block_size, self.device) for o in mine]

    def state(self) -> torch.Tensor:
        """The generator's state: where in the random stream of batches we are (for checkpoints)."""
        return self.generator.get_state()

    def set_state(self, state: torch.Tensor) -> None:
        """Continue the stream of batches from a saved :meth:`state`."""
        self.generator.set_state(state)


def eval_offsets(n_tokens: int, n_batches: int, batch_size: int, block_size: int, seed: int) -> torch.Tensor:
    """Window starts (n_batches, B) drawn with a fixed seed: the same batches at every evaluation."""
    generator = torch.Generator().manual_seed(seed)
    return random_offsets(n_tokens, n_batches * batch_size, block_size, generator).view(n_batches, batch_size)

"""Plumbing: find, fetch and verify tiny-shakespeare, the text the course trains on.

The file is looked for, in order: an explicit path, the ``GPT2REF_SHAKESPEARE`` environment variable,
the user cache folder, and last the public URL. Whatever is read is checked against a known sha256, so a
truncated download or the wrong file never reaches a model.
"""

from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request
from pathlib import Path

from gpt2ref.cache import CACHE_ENV, atomic_write, cache_dir, file_hexdigest

SHAKESPEARE_URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
SHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
SHAKESPEARE_BYTES = 1_115_394
SHAKESPEARE_ENV = "GPT2REF_SHAKESPEARE"
FILENAME = "tinyshakespeare.txt"


class DataFileError(RuntimeError):
    """A data file is missing, cannot be fetched, or is not the file it should be."""


def sha256_of(path: Path) -> str:
    """The hex sha256 of a file, read in chunks."""
    return file_hexdigest(path, hashlib.sha256())


def verify(path: Path, expected_sha256: str = SHAKESPEARE_SHA256) -> Path:
    """Return ``path`` if its sha256 is the expected one; raise DataFileError otherwise."""
    got = sha256_of(path)
    if got != expected_sha256:
        raise DataFileError(
            f"{path} is not the tiny-shakespeare file the course expects "
            f"(sha256 {got}, expected {expected_sha256}, size {path.stat().st_size} bytes, "
            f"expected {SHAKESPEARE_BYTES}). Delete it and run again, or point "
            f"{SHAKESPEARE_ENV} at a good copy."
        )
    return path


def _download(url: str, dest: Path, timeout: float) -> None:
    """Download ``url`` to ``dest``; a failed or wrong download leaves nothing behind."""
    with atomic_write(dest) as out, urllib.request.urlopen(url, timeout=timeout) as response:
        while chunk := response.read(1 << 16):
            out.write(chunk)
        out.flush()
        verify(Path(out.name))  # checked before it is published under its real name


def shakespeare_path(path: str | os.PathLike | None = None, *, download: bool = True,
                     timeout: float = 30.0) -> Path:
    """Locate a verified copy of tiny-shakespeare, downloading it into the cache if allowed."""
    if path is not None:
        p = Path(path).expanduser()
        if not p.is_file():
            raise DataFileError(f"No tiny-shakespeare file at {p}.")
        return verify(p)
    env = os.environ.get(SHAKESPEARE_ENV)
    if env:
        p = Path(env).expanduser()
        if not p.is_file():
            raise DataFileError(f"{SHAKESPEARE_ENV}={env} names no file. Fix or unset it.")
        return verify(p)
    cached = cache_dir() / FILENAME
    if cached.is_file():
        return verify(cached)
    if not download:
        raise DataFileError(f"tiny-shakespeare is not in the cache ({cached}) and downloading is off.")
    try:
        _download(SHAKESPEARE_URL, cached, timeout)
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        raise DataFileError(
            f"Could not download tiny-shakespeare ({exc}).\n"
            f"To work offline, get the file (1,115,394 bytes, sha256 {SHAKESPEARE_SHA256}) from\n"
            f"  {SHAKESPEARE_URL}\n"
            f"and either copy it to {cached}, or set {SHAKESPEARE_ENV}=/path/to/tinyshakespeare.txt\n"
            f"(the cache folder can be moved with {CACHE_ENV})."
        ) from exc
    return cached


def load_shakespeare(path: str | os.PathLike | None = None) -> str:
    """The whole of tiny-shakespeare as one string (about 1.1 million characters)."""
    return shakespeare_path(path).read_text(encoding="utf-8")

"""Plumbing: where gpt2ref keeps downloaded and derived files, and how it writes them so none is half-written."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

CACHE_ENV = "GPT2REF_CACHE"


def file_hexdigest(path: str | os.PathLike, digest: Any) -> str:
    """Feed a file to ``digest`` (a hashlib object, possibly already primed) in 1 MiB chunks; its hex digest."""
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def cache_dir() -> Path:
    """The user cache folder: ``$GPT2REF_CACHE`` if set, else ``~/.cache/gpt2ref``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache")
    return Path(base) / "gpt2ref"


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike) -> Iterator[BinaryIO]:
    """Write ``path`` through a temporary file beside it, fsynced and renamed over it on success.

    Readers see the old file or the new one, never a mix; if the block raises (or the process dies),
    the target is untouched and the temporary file is removed. The yielded file's ``name`` is the
    temporary path, so the block can check what it wrote before it is published.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        with open(tmp, "wb") as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    try:  # make the rename itself durable
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except OSError:
        pass  # some platforms (Windows) cannot fsync a folder

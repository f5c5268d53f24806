"""Where gpt2ref keeps downloaded and derived files (data, token files, checkpoints by default)."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "GPT2REF_CACHE"


def cache_dir() -> Path:
    """The user cache folder: ``$GPT2REF_CACHE`` if set, else ``~/.cache/gpt2ref``."""
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or (Path.home() / ".cache")
    return Path(base) / "gpt2ref"

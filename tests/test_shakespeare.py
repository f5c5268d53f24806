"""tiny-shakespeare is found offline, verified by sha256, downloaded safely, and missing it is explained."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import pytest

from gpt2ref import shakespeare
from gpt2ref.shakespeare import (
    SHAKESPEARE_BYTES,
    SHAKESPEARE_SHA256,
    DataFileError,
    load_shakespeare,
    sha256_of,
    shakespeare_path,
)


@pytest.fixture
def empty_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No env var, an empty cache folder: the state of a learner's first run."""
    monkeypatch.delenv("GPT2REF_SHAKESPEARE", raising=False)
    cache = tmp_path / "cache"
    monkeypatch.setenv("GPT2REF_CACHE", str(cache))
    return cache


@pytest.fixture
def local_server(tmp_path: Path):
    """An HTTP server on 127.0.0.1 serving the files of a folder; yields (folder, base URL)."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_the_local_copy_is_the_classic_file(shakespeare_file: Path):
    assert shakespeare_file.stat().st_size == SHAKESPEARE_BYTES
    assert sha256_of(shakespeare_file) == SHAKESPEARE_SHA256


def test_an_explicit_path_is_used_and_verified(shakespeare_file: Path, empty_cache: Path):
    assert shakespeare_path(shakespeare_file) == shakespeare_file
    text = load_shakespeare(shakespeare_file)
    assert text.startswith("First Citizen:") and len(text) == 1_115_394  # the file is pure ASCII


def test_the_environment_variable_comes_before_the_cache(shakespeare_file, empty_cache, monkeypatch):
    monkeypatch.setenv("GPT2REF_SHAKESPEARE", str(shakespeare_file))
    assert shakespeare_path() == shakespeare_file


def test_a_cached_copy_is_found_without_the_network(shakespeare_file, empty_cache, no_network):
    empty_cache.mkdir(parents=True)
    (empty_cache / "tinyshakespeare.txt").write_bytes(shakespeare_file.read_bytes())
    assert shakespeare_path() == empty_cache / "tinyshakespeare.txt"


def test_offline_and_uncached_fails_saying_what_to_do(empty_cache: Path, no_network):
    with pytest.raises(DataFileError) as info:
        shakespeare_path()
    message = str(info.value)
    assert SHAKESPEARE_SHA256 in message
    assert "GPT2REF_SHAKESPEARE" in message
    assert str(empty_cache / "tinyshakespeare.txt") in message
    assert not (empty_cache / "tinyshakespeare.txt").exists()


def test_a_wrong_file_is_rejected_by_its_hash(tmp_path: Path, empty_cache: Path):
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("To be, or not to be\n")
    with pytest.raises(DataFileError, match="sha256"):
        shakespeare_path(wrong)


def test_a_truncated_cache_file_is_rejected(shakespeare_file, empty_cache):
    empty_cache.mkdir(parents=True)
    (empty_cache / "tinyshakespeare.txt").write_bytes(shakespeare_file.read_bytes()[:1000])
    with pytest.raises(DataFileError, match="Delete it"):
        shakespeare_path()


def test_a_missing_explicit_path_or_env_file_is_named(tmp_path, empty_cache, monkeypatch):
    with pytest.raises(DataFileError, match="nowhere.txt"):
        shakespeare_path(tmp_path / "nowhere.txt")
    monkeypatch.setenv("GPT2REF_SHAKESPEARE", str(tmp_path / "gone.txt"))
    with pytest.raises(DataFileError, match="GPT2REF_SHAKESPEARE"):
        shakespeare_path()


def test_the_download_fills_the_cache_with_a_verified_copy(shakespeare_file, empty_cache, local_server,
                                                           monkeypatch):
    served, url = local_server
    (served / "input.txt").write_bytes(shakespeare_file.read_bytes())
    monkeypatch.setattr(shakespeare, "SHAKESPEARE_URL", f"{url}/input.txt")
    path = shakespeare_path()
    assert path == empty_cache / "tinyshakespeare.txt"
    assert sha256_of(path) == SHAKESPEARE_SHA256
    assert [p.name for p in empty_cache.iterdir()] == ["tinyshakespeare.txt"]


def test_a_corrupt_download_leaves_nothing_behind(empty_cache, local_server, monkeypatch):
    served, url = local_server
    (served / "input.txt").write_text("not Shakespeare\n")
    monkeypatch.setattr(shakespeare, "SHAKESPEARE_URL", f"{url}/input.txt")
    with pytest.raises(DataFileError, match="sha256"):
        shakespeare_path()
    assert not empty_cache.exists() or list(empty_cache.iterdir()) == []


def test_downloading_can_be_switched_off(empty_cache):
    with pytest.raises(DataFileError, match="downloading is off"):
        shakespeare_path(download=False)

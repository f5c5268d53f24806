"""Downloading GPT-2 (gpt2ref.weights.download_gpt2 / load_gpt2): checked, never half-trusted, never hanging.

No network: a small HTTP server on 127.0.0.1 stands in for the Hugging Face hub (``HF_ENDPOINT`` points
at it). It answers the two requests huggingface_hub makes per file: HEAD (the file's commit, ETag and
size, which the hub publishes) and GET (the bytes). Each test decides what the server sends, so a
truncated or corrupted transfer can be staged and the cache inspected afterwards.
"""

import contextlib
import hashlib
import http.server
import socket
import threading
import time
import warnings
from pathlib import Path

import huggingface_hub
import pytest
import torch

import gpt2ref.weights as weights
from gpt2ref.weights import WeightsError, cached_gpt2_folder, download_gpt2, load_gpt2

transformers = pytest.importorskip("transformers")
pytest.importorskip("huggingface_hub")

REPO = "test-owner/tiny-gpt2"
COMMIT = "1" * 40


def git_blob_sha1(data: bytes) -> str:
    """The id the hub reports as the ETag of a file kept in git (not LFS)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


class FakeHub(http.server.ThreadingHTTPServer):
    """The hub's file endpoints for one repository; ``files`` maps a name to (bytes sent, published ETag, size)."""

    def __init__(self) -> None:
        self.files: dict[str, tuple[bytes, str, int]] = {}
        self.requests: list[str] = []
        super().__init__(("127.0.0.1", 0), FakeHubHandler)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def publish(self, name: str, data: bytes, lfs: bool) -> None:
        """Serve ``data`` truthfully: the ETag is its sha256 (LFS) or git blob id, the size its length."""
        etag = hashlib.sha256(data).hexdigest() if lfs else git_blob_sha1(data)
        self.files[name] = (data, etag, len(data))


class FakeHubHandler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args: object) -> None:  # keep the test output clean
        pass

    def _file(self) -> tuple[bytes, str, int] | None:
        self.server.requests.append(f"{self.command} {self.path}")
        prefix = f"/{REPO}/resolve/"
        if not self.path.startswith(prefix):
            return None
        name = self.path[len(prefix):].split("/", 1)[-1]
        return self.server.files.get(name)

    def _headers(self, found: tuple[bytes, str, int], length: int) -> None:
        data, etag, size = found
        self.send_response(200)
        self.send_header("X-Repo-Commit", COMMIT)
        self.send_header("ETag", f'"{etag}"')
        self.send_header("X-Linked-Size", str(size))
        self.send_header("Content-Length", str(length))
        self.end_headers()

    def do_HEAD(self) -> None:
        found = self._file()
        if found is None:
            self.send_error(404)
            return
        self._headers(found, found[2])

    def do_GET(self) -> None:
        found = self._file()
        if found is None:
            self.send_error(404)
            return
        self._headers(found, len(found[0]))
        self.wfile.write(found[0])


@pytest.fixture(scope="module")
def tiny_files(tmp_path_factory) -> dict[str, bytes]:
    """config.json and model.safetensors of a small random GPT-2, as bytes."""
    folder = tmp_path_factory.mktemp("tiny-gpt2")
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=50257, n_positions=64, n_embd=32, n_layer=2, n_head=2)
    transformers.GPT2LMHeadModel(config).save_pretrained(folder)
    return {name: (folder / name).read_bytes() for name in ("config.json", "model.safetensors")}


def hub_online(monkeypatch) -> None:
    """Downloads allowed, even where the run itself is offline (CI sets HF_HUB_OFFLINE=1, which
    huggingface_hub reads once, at import)."""
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)


@pytest.fixture
def hub(monkeypatch, tiny_files, tmp_path):
    """A running fake hub serving the tiny GPT-2 correctly; HF_ENDPOINT points at it, no other GPT-2 is found."""
    server = FakeHub()
    server.publish("config.json", tiny_files["config.json"], lfs=False)
    server.publish("model.safetensors", tiny_files["model.safetensors"], lfs=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", server.endpoint)
    hub_online(monkeypatch)
    monkeypatch.delenv("GPT2REF_HF_GPT2", raising=False)
    yield server
    server.shutdown()
    server.server_close()


def cache_files(cache: Path) -> list[str]:
    """Every file (and link) in a hub cache folder, relative names, except huggingface_hub's lock files."""
    return sorted(str(p.relative_to(cache)) for p in cache.rglob("*")
                  if (p.is_file() or p.is_symlink()) and ".locks" not in p.parts)


def test_a_download_is_checked_cached_and_then_found_offline(hub, tmp_path, monkeypatch, tiny_files):
    model = load_gpt2(REPO, download=True, cache_dir=tmp_path)
    assert model.config.n_layer == 2 and model.config.n_embd == 32 and not model.training
    folder = cached_gpt2_folder(REPO, tmp_path)
    assert folder is not None
    assert (folder / "model.safetensors").read_bytes() == tiny_files["model.safetensors"]

    hub.requests.clear()
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    again = load_gpt2(REPO, download=True, cache_dir=tmp_path)  # from the cache: no request at all
    assert hub.requests == []
    assert torch.equal(again.lm_head.weight, model.lm_head.weight)


def test_a_corrupted_weights_file_is_refused_and_removed(hub, tmp_path, tiny_files):
    good = tiny_files["model.safetensors"]
    bad = good[:-100] + bytes(100)  # same size, different bytes: only the hash can tell
    hub.files["model.safetensors"] = (bad, hashlib.sha256(good).hexdigest(), len(good))
    with pytest.raises(WeightsError, match=r"model.safetensors is damaged \(sha256 .* was expected\).*removed"):
        download_gpt2(REPO, cache_dir=tmp_path)
    assert cached_gpt2_folder(REPO, tmp_path) is None
    assert not [f for f in cache_files(tmp_path) if "blobs" in f and "model" not in f and len(Path(f).name) == 64]
    assert load_gpt2(REPO, cache_dir=tmp_path, required=False) is None

    hub.publish("model.safetensors", good, lfs=True)  # the next run downloads it again, and it is fine
    assert load_gpt2(REPO, download=True, cache_dir=tmp_path).config.n_embd == 32


def test_a_corrupted_config_is_caught_by_its_git_hash(hub, tmp_path, tiny_files):
    good = tiny_files["config.json"]
    hub.files["config.json"] = (good.replace(b'"n_layer": 2', b'"n_layer": 3'), git_blob_sha1(good), len(good))
    with pytest.raises(WeightsError, match="config.json is damaged"):
        download_gpt2(REPO, cache_dir=tmp_path)
    assert cached_gpt2_folder(REPO, tmp_path) is None


def test_a_truncated_download_leaves_nothing_behind(hub, tmp_path, tiny_files):
    good = tiny_files["model.safetensors"]
    hub.files["model.safetensors"] = (good[: len(good) // 2], hashlib.sha256(good).hexdigest(), len(good))
    with pytest.raises(WeightsError, match="failed.*Nothing partial was kept"):
        download_gpt2(REPO, cache_dir=tmp_path)
    assert cached_gpt2_folder(REPO, tmp_path) is None
    left = cache_files(tmp_path)
    assert not [f for f in left if f.endswith(".incomplete") or f.endswith("model.safetensors")], left


def test_a_pinned_hash_is_checked_on_top_of_the_hubs(hub, tmp_path, monkeypatch):
    # what stands in for openai-community/gpt2, whose model.safetensors sha256 is pinned in weights.PINNED
    monkeypatch.setitem(weights.PINNED, REPO, ("main", {"model.safetensors": (1, "0" * 64)}))
    with pytest.raises(WeightsError, match="size .* where 1 was expected.*sha256"):
        download_gpt2(REPO, cache_dir=tmp_path)
    assert cached_gpt2_folder(REPO, tmp_path) is None


def test_offline_means_no_request_and_a_clear_message(hub, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(WeightsError, match="HF_HUB_OFFLINE is set"):
        download_gpt2(REPO, cache_dir=tmp_path)
    assert hub.requests == []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # offline by request: None, quietly
        assert load_gpt2(REPO, download=True, required=False, cache_dir=tmp_path) is None


def test_an_unreachable_hub_is_given_up_on_within_seconds(tmp_path, monkeypatch):
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    hub_online(monkeypatch)
    monkeypatch.delenv("GPT2REF_HF_GPT2", raising=False)
    start = time.perf_counter()
    with pytest.raises(WeightsError, match="not reachable"):
        load_gpt2(REPO, download=True, cache_dir=tmp_path)
    assert time.perf_counter() - start < weights.NETWORK_TIMEOUT + 2
    with pytest.warns(UserWarning, match="not reachable.*Using no GPT-2"):
        assert load_gpt2(REPO, download=True, required=False, cache_dir=tmp_path) is None


def test_the_released_gpt2_is_pinned_to_its_published_hash():
    revision, files = weights.PINNED["openai-community/gpt2"]
    assert len(revision) == 40 and set(files) == {"model.safetensors"}
    size, sha = files["model.safetensors"]
    assert size == 548_105_171 and len(sha) == 64
    with contextlib.suppress(ImportError):
        assert weights.hub_repo("gpt2") == "openai-community/gpt2"

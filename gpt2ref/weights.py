"""Moving weights between gpt2ref's GPT and Hugging Face's GPT-2 (part of chapter 6).

gpt2ref uses the same parameter names as Hugging Face's ``GPT2LMHeadModel``, so converting is mostly
copying. Three differences are handled here:

- GPT-2 was written with "Conv1D" layers that store their matrix as (in, out); ``nn.Linear`` stores
  (out, in). The four such weights per block (``attn.c_attn``, ``attn.c_proj``, ``mlp.c_fc``,
  ``mlp.c_proj``) are transposed on the way in and out.
- Hugging Face files may carry the causal mask as buffers (``attn.bias``, ``attn.masked_bias``); they
  are not weights and are dropped. Files saved from the bare ``GPT2Model`` lack the ``transformer.``
  prefix and the tied ``lm_head.weight``; both are restored.
- Checkpoints of compiled (``_orig_mod.``) or DistributedDataParallel (``module.``) models have prefixes
  on every key; they are stripped.

Anything else that does not fit raises :class:`WeightsError`, naming the keys and shapes at fault.
``transformers`` is optional: it is imported only by the functions that need it.

:func:`load_gpt2` is the one way to get OpenAI's released GPT-2: a folder, ``$GPT2REF_HF_GPT2``, the
Hugging Face cache, then (only when asked, ``download=True``) the hub, each download checked against
the sizes and hashes the hub publishes before it is used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import threading
import urllib.parse
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from gpt2ref.cache import file_hexdigest
from gpt2ref.model import GPT, PRESETS, GPTConfig

CONV1D_WEIGHTS = (".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.c_fc.weight", ".mlp.c_proj.weight")
MASK_BUFFERS = (".attn.bias", ".attn.masked_bias")  # the causal mask, stored as buffers by older transformers
WRAPPER_PREFIXES = ("_orig_mod.", "module.")  # torch.compile and DistributedDataParallel
GPT2_FAMILY = {name: cfg for name, cfg in PRESETS.items() if name.startswith("gpt2")}  # the released sizes
GPT2_HEADS = {cfg.n_embd: cfg.n_head for cfg in GPT2_FAMILY.values()}  # n_embd -> n_head across the family
HUB_NAMES = tuple(GPT2_FAMILY)
HUB_OWNER = "openai-community"
HUB_FILES = ("config.json", "model.safetensors")  # what a GPT-2 needs from the hub, in download order
# GPT-2 small as published on the hub: the revision downloaded, and model.safetensors' (size, sha256)
# at that revision, checked on top of what the hub reports.
PINNED = {
    "openai-community/gpt2": ("607a30d783dfa663caf39e06633721c8d4cfcd7e", {
        "model.safetensors": (548_105_171, "248dfc3911869ec493c76e65bf2fcf7f615828b0254c12b473182f0f81d3a707"),
    }),
}
PRETRAINED_ENV = "GPT2REF_HF_GPT2"
NETWORK_TIMEOUT = 3.0  # seconds to open a connection to the hub before deciding it is unreachable
HUB_TIMEOUT = 10.0  # seconds huggingface_hub waits for the hub's answer about a file


class WeightsError(ValueError):
    """Weights that do not fit the model: missing or unexpected keys, wrong shapes, unsupported settings."""


def _need_transformers() -> Any:
    """Import ``transformers`` or say how to install it."""
    try:
        import transformers
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "this needs the Hugging Face `transformers` package: pip install 'gpt2ref[hf]' (or transformers safetensors)"
        ) from err
    return transformers


def config_from_hf(hf_config: Mapping[str, Any] | Any, **overrides: Any) -> GPTConfig:
    """A GPTConfig from a Hugging Face GPT-2 config (a ``GPT2Config`` or the dict of a ``config.json``).

    Dropout defaults to 0.0 (inference); settings gpt2ref does not implement raise WeightsError.
    """
    cfg = dict(hf_config) if isinstance(hf_config, Mapping) else hf_config.to_dict()
    if cfg.get("model_type", "gpt2") != "gpt2":
        raise WeightsError(f"expected a GPT-2 config (model_type 'gpt2'), got model_type {cfg.get('model_type')!r}")
    unsupported = []
    if cfg.get("activation_function", "gelu_new") not in ("gelu_new", "gelu_pytorch_tanh"):
        unsupported.append(f"activation_function={cfg['activation_function']!r} (gpt2ref uses tanh-approximated GELU)")
    if cfg.get("n_inner") not in (None, 4 * cfg["n_embd"]):
        unsupported.append(f"n_inner={cfg['n_inner']} (gpt2ref's MLP is 4 * n_embd wide)")
    if not cfg.get("scale_attn_weights", True) or cfg.get("scale_attn_by_inverse_layer_idx", False):
        unsupported.append("attention scaling other than 1/sqrt(head_size)")
    if cfg.get("add_cross_attention", False):
        unsupported.append("add_cross_attention=True")
    if unsupported:
        raise WeightsError("this GPT-2 config uses settings gpt2ref does not implement: " + "; ".join(unsupported))
    values = dict(
        block_size=cfg["n_positions"],
        vocab_size=cfg["vocab_size"],
        n_layer=cfg["n_layer"],
        n_head=cfg["n_head"],
        n_embd=cfg["n_embd"],
        dropout=0.0,
        bias=True,
        layer_norm_eps=cfg.get("layer_norm_epsilon", 1e-5),
    )
    values.update(overrides)
    return GPTConfig(**values)


def hf_config_dict(config: GPTConfig) -> dict[str, Any]:
    """The keyword arguments of a Hugging Face ``GPT2Config`` equal to ``config``."""
    if not config.bias:
        raise WeightsError("Hugging Face's GPT-2 always has biases; a bias=False model cannot be exported")
    return dict(
        vocab_size=config.vocab_size,
        n_positions=config.block_size,
        n_embd=config.n_embd,
        n_layer=config.n_layer,
        n_head=config.n_head,
        layer_norm_epsilon=config.layer_norm_eps,
        activation_function="gelu_new",
        resid_pdrop=config.dropout,
        embd_pdrop=config.dropout,
        attn_pdrop=config.dropout,
        tie_word_embeddings=True,
    )


def strip_wrapper_prefixes(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Remove ``_orig_mod.`` (torch.compile) and ``module.`` (DDP) from the front of every key."""
    out = {}
    for key, value in state_dict.items():
        stripped = True
        while stripped:
            stripped = False
            for prefix in WRAPPER_PREFIXES:
                if key.startswith(prefix):
                    key, stripped = key[len(prefix) :], True
        out[key] = value
    return out


def _is_conv1d_weight(key: str) -> bool:
    """Whether ``key`` names one of the four per-block matrices GPT-2 stores transposed."""
    return key.startswith("transformer.h.") and key.endswith(CONV1D_WEIGHTS)


def from_hf_state_dict(hf_state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Convert a Hugging Face GPT-2 state dict to gpt2ref's layout (new tensors; the input is not modified)."""
    sd = strip_wrapper_prefixes(hf_state_dict)
    if not any(k.startswith("transformer.") for k in sd):  # saved from GPT2Model: no "transformer." prefix
        sd = {(k if k.startswith("lm_head.") else "transformer." + k): v for k, v in sd.items()}
    out: dict[str, torch.Tensor] = {}
    for key, value in sd.items():
        if key.endswith(MASK_BUFFERS):
            continue  # a stored causal mask, not a weight
        value = value.detach()
        out[key] = value.t().contiguous() if _is_conv1d_weight(key) else value.clone()
    wte = out.get("transformer.wte.weight")
    if "lm_head.weight" not in out and wte is not None:
        out["lm_head.weight"] = wte  # tied: the file stores the table once
    elif wte is not None and not torch.equal(out["lm_head.weight"], wte):
        raise WeightsError("lm_head.weight differs from transformer.wte.weight: gpt2ref's GPT ties the two")
    return out


def to_hf_state_dict(model_or_state_dict: GPT | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """gpt2ref weights in Hugging Face's ``GPT2LMHeadModel`` layout (Conv1D matrices transposed back)."""
    if isinstance(model_or_state_dict, GPT):
        sd = model_or_state_dict.state_dict()
    else:
        sd = strip_wrapper_prefixes(model_or_state_dict)
    out = {}
    for key, value in sd.items():
        value = value.detach()
        out[key] = value.t().contiguous() if _is_conv1d_weight(key) else value.clone()
    return out


def _check_state_dict(expected: Mapping[str, torch.Tensor], got: Mapping[str, torch.Tensor], source: str) -> None:
    """Raise WeightsError naming every missing key, unexpected key and shape mismatch."""
    missing = [k for k in expected if k not in got]
    unexpected = [k for k in got if k not in expected]
    mismatched = [
        (k, tuple(expected[k].shape), tuple(got[k].shape))
        for k in expected
        if k in got and tuple(expected[k].shape) != tuple(got[k].shape)
    ]
    if not (missing or unexpected or mismatched):
        return

    def listing(items: list[str], limit: int = 10) -> str:
        more = f", ... ({len(items) - limit} more)" if len(items) > limit else ""
        return ", ".join(items[:limit]) + more

    lines = [f"the weights from {source} do not fit the model:"]
    if missing:
        lines.append(f"  missing keys ({len(missing)}): {listing(missing)}")
    if unexpected:
        lines.append(f"  unexpected keys ({len(unexpected)}): {listing(unexpected)}")
    for key, want, have in mismatched[:10]:
        lines.append(f"  shape mismatch for {key}: expected {want}, got {have}")
    if len(mismatched) > 10:
        lines.append(f"  ... and {len(mismatched) - 10} more shape mismatches")
    lines.append("  (check that the config matches the weights: n_layer, n_embd, vocab_size, block_size)")
    raise WeightsError("\n".join(lines))


def load_gpt_state_dict(model: GPT, state_dict: Mapping[str, torch.Tensor], source: str = "the state dict") -> GPT:
    """Copy a gpt2ref-layout state dict into ``model`` after checking every key and shape; returns the model."""
    sd = strip_wrapper_prefixes(state_dict)
    if "lm_head.weight" not in sd and "transformer.wte.weight" in sd:
        sd["lm_head.weight"] = sd["transformer.wte.weight"]
    _check_state_dict(model.state_dict(), sd, source)
    model.load_state_dict(sd, strict=True)
    return model


def _config_from_shapes(sd: Mapping[str, torch.Tensor]) -> GPTConfig:
    """Guess a GPTConfig from gpt2ref-layout weights; n_head comes from the GPT-2 family's sizes."""
    try:
        vocab_size, n_embd = sd["transformer.wte.weight"].shape
        block_size = sd["transformer.wpe.weight"].shape[0]
    except KeyError as err:
        raise WeightsError(f"cannot infer the model size: the weights have no {err.args[0]}") from err
    layers = {int(k.split(".")[2]) for k in sd if k.startswith("transformer.h.")}
    if n_embd not in GPT2_HEADS:
        raise WeightsError(f"cannot infer n_head for width {n_embd}; pass config=GPTConfig(...) explicitly")
    return GPTConfig(
        block_size=block_size, vocab_size=vocab_size, n_layer=len(layers), n_head=GPT2_HEADS[n_embd], n_embd=n_embd
    )


def from_hf_state_dict_to_model(
    hf_state_dict: Mapping[str, torch.Tensor], config: GPTConfig | None = None, source: str = "the state dict"
) -> GPT:
    """Build a GPT from Hugging Face GPT-2 weights (config inferred from the shapes if not given)."""
    sd = from_hf_state_dict(hf_state_dict)
    config = _config_from_shapes(sd) if config is None else config
    model = GPT(config)
    return load_gpt_state_dict(model, sd, source)


def from_hf_model(hf_model: Any) -> GPT:
    """A gpt2ref GPT with the weights and config of a Hugging Face ``GPT2LMHeadModel``."""
    config = config_from_hf(hf_model.config)
    model = from_hf_state_dict_to_model(hf_model.state_dict(), config, source=type(hf_model).__name__)
    return model.to(next(hf_model.parameters()).device)


def _read_folder_weights(folder: Path) -> dict[str, torch.Tensor]:
    """The tensors of a Hugging Face model folder: model.safetensors (single or sharded) or pytorch_model.bin."""
    single, index = folder / "model.safetensors", folder / "model.safetensors.index.json"
    if single.exists() or index.exists():
        try:
            from safetensors.torch import load_file
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("reading model.safetensors needs the `safetensors` package: pip install safetensors") from err
        if single.exists():
            return load_file(str(single))
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        tensors: dict[str, torch.Tensor] = {}
        for shard in shards:
            tensors.update(load_file(str(folder / shard)))
        return tensors
    if (folder / "pytorch_model.bin").exists():
        return torch.load(folder / "pytorch_model.bin", map_location="cpu", weights_only=True)
    raise WeightsError(f"{folder} holds no model.safetensors or pytorch_model.bin")


def load_hf_folder(path: str | os.PathLike[str]) -> GPT:
    """Load a GPT-2 saved with Hugging Face's ``save_pretrained`` (config.json + weights), fully offline."""
    folder = Path(path).expanduser()
    config_file = folder / "config.json"
    if not config_file.exists():
        raise WeightsError(f"{folder} is not a Hugging Face model folder: it has no config.json")
    config = config_from_hf(json.loads(config_file.read_text()))
    return from_hf_state_dict_to_model(_read_folder_weights(folder), config, source=str(folder))


# ----------------------------------------------------------------------------- getting OpenAI's GPT-2


def hub_repo(name: str) -> str:
    """The hub repository of a GPT-2 name: "gpt2" -> "openai-community/gpt2"; "owner/repo" stays as it is."""
    return name if "/" in name else f"{HUB_OWNER}/{name}"


def hub_is_offline() -> bool:
    """True when ``HF_HUB_OFFLINE`` asks the Hugging Face libraries not to use the network."""
    return os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in ("1", "ON", "YES", "TRUE")


def hub_endpoint() -> str:
    """The hub's address: ``$HF_ENDPOINT`` (read now, not when huggingface_hub was imported) or the default."""
    return os.environ.get("HF_ENDPOINT", "").rstrip("/") or "https://huggingface.co"


def hub_reachable(endpoint: str, timeout: float = NETWORK_TIMEOUT) -> bool:
    """Whether a TCP connection to the hub opens within ``timeout`` seconds, name lookup included.

    The probe runs in a daemon thread, because a DNS lookup ignores socket timeouts and can hang on
    a machine without network; no request is sent.
    """
    url = urllib.parse.urlsplit(endpoint)
    port = url.port or (443 if url.scheme == "https" else 80)
    opened, done = threading.Event(), threading.Event()

    def probe() -> None:
        try:
            with socket.create_connection((url.hostname or "", port), timeout=timeout):
                opened.set()
        except OSError:
            pass
        finally:
            done.set()

    threading.Thread(target=probe, daemon=True).start()
    done.wait(timeout)
    return opened.is_set()


def _check_family_shape(config: GPTConfig, name: str, source: str) -> None:
    """WeightsError unless ``config`` has the shape of GPT-2 ``name`` (when ``name`` is one of the family)."""
    expected = GPT2_FAMILY.get(name.rsplit("/", 1)[-1])
    if expected is None:
        return
    got = (config.n_layer, config.n_head, config.n_embd, config.vocab_size, config.block_size)
    want = (expected.n_layer, expected.n_head, expected.n_embd, expected.vocab_size, expected.block_size)
    if got != want:
        raise WeightsError(f"the GPT-2 found in {source} ({got[0]} layers, {got[1]} heads, {got[2]} wide, "
                           f"{got[3]} tokens, {got[4]} positions) is not {name!r} ({want[0]} layers, "
                           f"{want[1]} heads, {want[2]} wide, {want[3]} tokens, {want[4]} positions)")


def cached_gpt2_folder(name: str = "gpt2", cache_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The Hugging Face cache's snapshot folder holding GPT-2 ``name``'s config.json and weights, or None."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    repos = [hub_repo(name)] + ([name] if "/" not in name else [])  # older downloads used the bare name
    revisions = [PINNED[hub_repo(name)][0], "main"] if hub_repo(name) in PINNED else ["main"]
    for repo in repos:
        for revision in revisions:
            found = [try_to_load_from_cache(repo, f, cache_dir=cache_dir, revision=revision) for f in HUB_FILES]
            if all(isinstance(f, str) for f in found):
                return Path(found[0]).parent
    return None


def _file_digest(path: Path, kind: str) -> str:
    """sha256 of a file, or its git blob sha1 (what the hub reports for files not stored in LFS)."""
    digest = hashlib.sha256() if kind == "sha256" else hashlib.sha1()
    if kind == "git":
        digest.update(f"blob {path.stat().st_size}\0".encode())
    return file_hexdigest(path, digest)


def _forget_download(path: Path) -> None:
    """Remove a downloaded file from the hub cache: its snapshot link and the blob behind it."""
    blob = path.resolve()
    for p in {path, blob}:
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def _forget_partial_downloads(cache: str | os.PathLike[str] | None, repo: str) -> None:
    """Remove the half-written ``*.incomplete`` files a failed download of ``repo`` left in the hub cache."""
    from huggingface_hub import constants
    from huggingface_hub.file_download import repo_folder_name

    blobs = Path(cache or constants.HF_HUB_CACHE) / repo_folder_name(repo_id=repo, repo_type="model") / "blobs"
    for partial in blobs.glob("*.incomplete"):
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()


def _verify_download(path: Path, filename: str, size: int | None, etag: str, pinned: tuple[int, str] | None) -> None:
    """Check a downloaded file against the size and hash the hub published (and the pinned ones); remove it if bad."""
    checks = []
    if size is not None:
        checks.append(("size", size, path.stat().st_size))
    etag = etag.strip('"').lower()
    kind = "sha256" if len(etag) == 64 else "git" if len(etag) == 40 else None
    if kind is not None:
        checks.append((kind, etag, _file_digest(path, kind)))
    if pinned is not None:
        checks += [("size", pinned[0], path.stat().st_size), ("sha256", pinned[1], _file_digest(path, "sha256"))]
    bad = [f"{what} {got} where {want} was expected" for what, want, got in checks if want != got]
    if bad:
        _forget_download(path)
        raise WeightsError(f"the downloaded {filename} is damaged ({'; '.join(bad)}); it was removed from the "
                           "Hugging Face cache. Run again to download it again, or download it yourself and "
                           f"point ${PRETRAINED_ENV} at the folder.")


def download_gpt2(name: str = "gpt2", *, cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """Download GPT-2 ``name``'s config.json and model.safetensors from the hub into the Hugging Face cache.

    huggingface_hub shows a progress bar. Each file is checked against the size and hash the hub
    publishes for it (and, for GPT-2 small, the sha256 pinned here); a file that fails is removed, as
    are partial downloads, so a later run never trusts a bad file. Returns the snapshot folder.
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_download, hf_hub_url

    repo, endpoint = hub_repo(name), hub_endpoint()
    if hub_is_offline():
        raise WeightsError(f"cannot download {repo}: HF_HUB_OFFLINE is set. Unset it to download, or point "
                           f"${PRETRAINED_ENV} at a folder holding config.json and model.safetensors.")
    if not hub_reachable(endpoint):
        raise WeightsError(f"cannot download {repo}: {endpoint} is not reachable from this machine. Download "
                           f"it where the network is (huggingface-cli download {repo}) and copy the Hugging "
                           f"Face cache here, or point ${PRETRAINED_ENV} at a folder holding config.json and "
                           "model.safetensors.")
    revision, pinned_files = PINNED.get(repo, ("main", {}))
    folder = None
    try:
        for filename in HUB_FILES:
            url = hf_hub_url(repo, filename, revision=revision, endpoint=endpoint)
            meta = get_hf_file_metadata(url, timeout=HUB_TIMEOUT, endpoint=endpoint)
            path = Path(hf_hub_download(repo, filename, revision=revision, cache_dir=cache_dir, endpoint=endpoint,
                                        etag_timeout=HUB_TIMEOUT))
            _verify_download(path, filename, meta.size, meta.etag or "", pinned_files.get(filename))
            folder = path.parent
    except WeightsError:
        raise
    except Exception as err:  # HTTP errors, a connection cut mid-file, a size check of huggingface_hub
        _forget_partial_downloads(cache_dir, repo)
        first_line = (str(err).splitlines() or [""])[0]
        raise WeightsError(f"downloading {repo} from {endpoint} failed ({type(err).__name__}: {first_line}). "
                           "Nothing partial was kept; run again to retry.") from err
    finally:
        with contextlib.suppress(ImportError):
            _forget_partial_downloads(cache_dir, repo)
    assert folder is not None
    _check_family_shape(config_from_hf(json.loads((folder / "config.json").read_text())), name, str(folder))
    return folder


def load_gpt2(
    name_or_path: str | os.PathLike[str] | None = None,
    *,
    download: bool = False,
    required: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
) -> GPT | None:
    """OpenAI's GPT-2 as a gpt2ref GPT (eval mode, CPU): the one way the course gets the released weights.

    Looks, in order, at ``name_or_path`` if it is a folder, the folder in ``$GPT2REF_HF_GPT2``, the
    Hugging Face cache (``cache_dir``, default the standard one), and then, only with
    ``download=True``, the hub (:func:`download_gpt2`; skipped at once when ``HF_HUB_OFFLINE=1`` or the
    hub is unreachable). ``name_or_path`` names the model ("gpt2", "gpt2-medium", ..., default "gpt2");
    what is found must have that model's shape. When nothing is found: WeightsError saying what to do,
    or None if ``required`` is False. A folder that exists but is broken is always an error.
    """
    if name_or_path is not None and Path(name_or_path).expanduser().is_dir():
        return load_hf_folder(name_or_path).eval()
    name = "gpt2" if name_or_path is None else str(name_or_path)
    if "/" not in name and name not in GPT2_FAMILY:
        raise WeightsError(f"unknown GPT-2 {name!r}: give a folder, a hub repository (owner/name) or one of "
                           f"{', '.join(GPT2_FAMILY)}")
    env = os.environ.get(PRETRAINED_ENV)
    if env:
        if not Path(env).expanduser().is_dir():
            raise WeightsError(f"${PRETRAINED_ENV} points to {env!r}, which is not a folder")
        folder, source = Path(env).expanduser(), f"${PRETRAINED_ENV} ({env})"
    else:
        folder, source = cached_gpt2_folder(name, cache_dir), "the Hugging Face cache"
    if folder is None and download:
        try:
            folder, source = download_gpt2(name, cache_dir=cache_dir), f"the hub ({hub_endpoint()})"
        except WeightsError as err:
            if required:
                raise
            if not hub_is_offline():  # offline was asked for: nothing to report
                warnings.warn(f"{err} Using no GPT-2.", stacklevel=2)
    if folder is None:
        if not required:
            return None
        raise WeightsError(
            f"GPT-2 {name!r} is not on this machine{'' if download else ' (and download=False)'}. Download it "
            f"(load_gpt2({name!r}, download=True), or huggingface-cli download {hub_repo(name)}), or point "
            f"${PRETRAINED_ENV} at a Hugging Face folder holding config.json and model.safetensors.")
    model = load_hf_folder(folder)
    _check_family_shape(model.config, name, source)
    return model.eval()


def to_hf_model(model: GPT) -> Any:
    """A Hugging Face ``GPT2LMHeadModel`` with ``model``'s weights (needs ``transformers``)."""
    transformers = _need_transformers()
    hf_config = transformers.GPT2Config(**hf_config_dict(model.config))
    hf_model = transformers.GPT2LMHeadModel(hf_config)
    hf_sd = to_hf_state_dict(model)
    _check_state_dict(hf_model.state_dict(), hf_sd, "the exported gpt2ref model")
    hf_model.load_state_dict(hf_sd, strict=True)
    return hf_model.to(next(model.parameters()).device).eval()

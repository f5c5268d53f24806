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
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from gpt2ref.model import GPT, GPTConfig

CONV1D_WEIGHTS = (".attn.c_attn.weight", ".attn.c_proj.weight", ".mlp.c_fc.weight", ".mlp.c_proj.weight")
MASK_BUFFERS = (".attn.bias", ".attn.masked_bias")  # the causal mask, stored as buffers by older transformers
WRAPPER_PREFIXES = ("_orig_mod.", "module.")  # torch.compile and DistributedDataParallel
GPT2_HEADS = {768: 12, 1024: 16, 1280: 20, 1600: 25}  # n_embd -> n_head in the released GPT-2 family
HUB_NAMES = ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl")
PRETRAINED_ENV = "GPT2REF_HF_GPT2"


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


def _hub_folder(name: str, local_files_only: bool, cache_dir: str | os.PathLike[str] | None = None) -> Path | None:
    """The local folder of hub model ``name`` (downloaded only if ``local_files_only`` is False), or None."""
    try:
        from huggingface_hub import snapshot_download
    except ImportError:
        return None
    candidates = [name] if "/" in name else [name, f"openai-community/{name}"]
    for repo in candidates:
        try:
            folder = snapshot_download(
                repo,
                local_files_only=local_files_only,
                cache_dir=cache_dir,
                allow_patterns=["config.json", "model.safetensors", "model.safetensors.index.json", "model-*.safetensors"],
            )
        except Exception:  # not cached, offline, unknown name: try the next candidate
            continue
        if (Path(folder) / "config.json").exists():
            return Path(folder)
    return None


def from_pretrained(
    source: str | os.PathLike[str] | Mapping[str, torch.Tensor] | Any,
    *,
    config: GPTConfig | None = None,
    local_files_only: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
) -> GPT:
    """Load GPT-2 weights from a ``GPT2LMHeadModel``, a HF state dict, a saved folder or a hub name.

    Hub names ("gpt2", "openai-community/gpt2-medium", ...) are looked up in the Hugging Face cache
    (``cache_dir``, default the standard one); pass ``local_files_only=False`` to allow a download.
    """
    if hasattr(source, "state_dict") and hasattr(source, "config"):
        return from_hf_model(source)
    if isinstance(source, Mapping):
        return from_hf_state_dict_to_model(source, config)
    path = Path(source).expanduser()
    if path.is_dir():
        return load_hf_folder(path)
    folder = _hub_folder(str(source), local_files_only, cache_dir)
    if folder is None:
        where = "in the local Hugging Face cache" if local_files_only else "on the Hugging Face hub"
        hint = " (pass local_files_only=False to download it)" if local_files_only else ""
        raise WeightsError(f"{str(source)!r} is neither a folder nor a model found {where}{hint}")
    return load_hf_folder(folder)


def load_pretrained_gpt2(
    name_or_path: str | os.PathLike[str] | None = None,
    *,
    allow_download: bool = False,
    cache_dir: str | os.PathLike[str] | None = None,
) -> GPT | None:
    """OpenAI's GPT-2 if it is available locally, else None (never waits on the network unless allowed).

    Looks at ``name_or_path`` (a folder or hub name, default "gpt2"), then the folder in
    ``$GPT2REF_HF_GPT2``, then the Hugging Face cache (``cache_dir``, default the standard one).
    A folder that exists but is broken raises WeightsError.
    """
    env = os.environ.get(PRETRAINED_ENV)
    if name_or_path is not None and Path(name_or_path).expanduser().is_dir():
        return load_hf_folder(name_or_path)
    if env:
        if not Path(env).expanduser().is_dir():
            raise WeightsError(f"${PRETRAINED_ENV} points to {env!r}, which is not a folder")
        return load_hf_folder(env)
    name = "gpt2" if name_or_path is None else str(name_or_path)
    folder = _hub_folder(name, local_files_only=True, cache_dir=cache_dir)
    if folder is None and allow_download:
        folder = _hub_folder(name, local_files_only=False, cache_dir=cache_dir)
    return None if folder is None else load_hf_folder(folder)


def to_hf_model(model: GPT) -> Any:
    """A Hugging Face ``GPT2LMHeadModel`` with ``model``'s weights (needs ``transformers``)."""
    transformers = _need_transformers()
    hf_config = transformers.GPT2Config(**hf_config_dict(model.config))
    hf_model = transformers.GPT2LMHeadModel(hf_config)
    hf_sd = to_hf_state_dict(model)
    _check_state_dict(hf_model.state_dict(), hf_sd, "the exported gpt2ref model")
    hf_model.load_state_dict(hf_sd, strict=True)
    return hf_model.to(next(model.parameters()).device).eval()

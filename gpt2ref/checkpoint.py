"""Checkpoints that resume a run exactly: weights, optimizer, loss scaler, step, RNG states and data position.

A checkpoint is a plain dict of tensors, numbers, strings and lists, so it loads with
``torch.load(weights_only=True)`` (no arbitrary pickles). It is written to a temporary file, fsynced and
renamed over the old one, so a crash or a kill mid-save leaves the previous checkpoint intact.
"""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from gpt2ref.cache import atomic_write

if TYPE_CHECKING:
    from gpt2ref.model import GPT

FORMAT = "gpt2ref-checkpoint"
VERSION = 1
CHECKPOINT_NAME = "ckpt.pt"

# TrainConfig fields that may change between a run and its resumption: they do not affect the weights.
RESUMABLE_CHANGES = frozenset({
    "out_dir", "resume", "device", "compile", "progress", "log_interval", "eval_interval", "eval_iters",
    "checkpoint_interval", "sample_tokens", "sample_prompt", "max_iters",
})


class CheckpointError(RuntimeError):
    """A checkpoint is missing, unreadable, not a gpt2ref checkpoint, or from an incompatible run."""


def rng_state() -> dict[str, Any]:
    """The global random states training consumes: torch (CPU and every CUDA device) and Python's."""
    state: dict[str, Any] = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what :func:`rng_state` captured."""
    torch.set_rng_state(state["torch"])
    random.setstate(_as_python_random_state(state["python"]))
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_python_random_state(state: Any) -> tuple:
    """random.setstate wants nested tuples; a round trip through a checkpoint may give lists."""
    version, internal, gauss = state
    return (version, tuple(internal), gauss)


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` to a temporary file in the same folder, fsync, then rename over ``path``."""
    with atomic_write(path) as f:
        torch.save(obj, f)
    return Path(path)


def make_checkpoint(*, model: torch.nn.Module, optimizer: torch.optim.Optimizer,
                    scaler: torch.amp.GradScaler | None, step: int, model_config: dict, train_config: dict,
                    rng: list[dict[str, Any]], batch_state: torch.Tensor, data: dict,
                    history: list[dict]) -> dict[str, Any]:
    """Assemble the checkpoint dict. ``model`` must be the plain module (not compiled, not DDP-wrapped)."""
    state = model.state_dict()
    bad = [k for k in state if k.startswith(("_orig_mod.", "module."))]
    if bad:
        raise ValueError(f"pass the unwrapped model, not a compiled or DDP one (key {bad[0]!r})")
    return {
        "format": FORMAT,
        "version": VERSION,
        "step": step,
        "model": state,
        "model_config": model_config,
        "train_config": train_config,
        "optimizer": optimizer.state_dict(),
        "scaler": scaler.state_dict() if scaler is not None and scaler.is_enabled() else None,
        "rng": rng,  # one dict per process (rank)
        "batch_generator": batch_state,
        "data": data,
        "history": history,
        "torch_version": str(torch.__version__),  # a plain str: TorchVersion is not weights_only-loadable
    }


def save_checkpoint(path: str | os.PathLike, **parts: Any) -> Path:
    """Build a checkpoint with :func:`make_checkpoint` and write it atomically to ``path``."""
    return atomic_save(make_checkpoint(**parts), path)


def load_checkpoint(path: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read and sanity-check a checkpoint; CheckpointError (saying what is wrong) if it is not a good one."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        ckpt = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # truncated zip, random bytes, a pickle with disallowed classes, ...
        raise CheckpointError(f"{path} is not a readable checkpoint (truncated or corrupt?): "
                              f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from exc
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise CheckpointError(f"{path} is a PyTorch file but not a gpt2ref training checkpoint")
    if ckpt.get("version") != VERSION:
        raise CheckpointError(f"{path} has checkpoint format version {ckpt.get('version')}, "
                              f"this gpt2ref reads version {VERSION}")
    missing = [k for k in ("step", "model", "model_config", "train_config", "optimizer", "rng",
                           "batch_generator", "data", "history") if k not in ckpt]
    if missing:
        raise CheckpointError(f"{path} lacks {', '.join(missing)}: not a complete gpt2ref checkpoint")
    return ckpt


def checkpoint_file(path: str | os.PathLike) -> Path:
    """The checkpoint file named by ``path``: the path itself, or ``ckpt.pt`` inside it if it is a run's folder."""
    path = Path(path)
    return path / CHECKPOINT_NAME if path.is_dir() else path


def model_from_checkpoint(ckpt: dict[str, Any]) -> GPT:
    """The GPT a checkpoint holds, its configuration and weights, on the CPU in training mode."""
    from gpt2ref.model import GPT, GPTConfig

    model = GPT(GPTConfig(**ckpt["model_config"]))
    model.load_state_dict(ckpt["model"])
    return model


def config_differences(saved: dict, current: dict, ignore: frozenset[str] = frozenset()) -> list[str]:
    """Human-readable ``name: saved -> current`` for every field that differs (outside ``ignore``)."""
    names = sorted((set(saved) | set(current)) - ignore)
    return [f"{n}: {saved.get(n, '<absent>')!r} in the checkpoint, {current.get(n, '<absent>')!r} now"
            for n in names if saved.get(n) != current.get(n)]


def _with_effective_decay(train_config: dict) -> dict:
    """``lr_decay_iters`` None means "decay over max_iters": compare the step the decay really ends at."""
    config = dict(train_config)
    if config.get("lr_decay_iters") is None:
        config["lr_decay_iters"] = config.get("max_iters")
    return config


def check_resumable(ckpt: dict, model_config: dict, train_config: dict, data: dict, path: Path | str) -> None:
    """CheckpointError unless ``ckpt`` comes from the same model, training config and data as this run."""
    problems = config_differences(ckpt["model_config"], model_config)
    problems += config_differences(_with_effective_decay(ckpt["train_config"]), _with_effective_decay(train_config),
                                   ignore=RESUMABLE_CHANGES)
    problems += config_differences(ckpt["data"], data)
    if any(p.startswith("lr_decay_iters:") for p in problems):
        problems.append("(without --lr-decay-iters the learning rate decays over max_iters; to run longer, "
                        f"keep the schedule with --lr-decay-iters {_with_effective_decay(ckpt['train_config'])['lr_decay_iters']})")
    if problems:
        raise CheckpointError(
            f"the checkpoint {path} comes from a different run, so resuming would not continue it:\n  "
            + "\n  ".join(problems)
            + "\nUse the original settings, or a new --out-dir to start afresh."
        )

"""Training GPT on Shakespeare: one loop for a laptop CPU, one GPU, or many GPUs with DDP (chapter 8).

The pieces, each a short function: :func:`lr_at` (warmup, then cosine decay), :func:`train_step`
(gradient accumulation, mixed precision, clipping, one AdamW update), :func:`estimate_loss` (mean loss
over fixed batches) and :func:`train`, which adds the plumbing: devices, checkpoints and exact resume,
Ctrl-C, DistributedDataParallel under ``torchrun``, a progress bar, a CSV log, a loss plot and a sample.
"""

from __future__ import annotations

import contextlib
import csv
import ctypes
import math
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel as DDP

from gpt2ref.checkpoint import (
    CHECKPOINT_NAME,
    check_resumable,
    load_checkpoint,
    model_from_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from gpt2ref.data import StepBatches, TokenData, TokenizerInfo, batch_at, eval_offsets, load_token_data
from gpt2ref.device import (
    DeviceError,
    autocast_context,
    device_peak_flops,
    enable_tf32,
    make_grad_scaler,
    pick_device,
    resolve_dtype,
    synchronize,
)
from gpt2ref.model import GPT
from gpt2ref.presets import TrainConfig
from gpt2ref.sampling import sample_text

LOG_COLUMNS = ("step", "train_loss", "val_loss", "eval_train_loss", "lr", "grad_norm", "tokens_per_sec", "mfu",
               "elapsed_s")


class PretrainedWeightsError(RuntimeError):
    """Pretrained GPT-2 weights were asked for but are not available on this machine."""


# ----------------------------------------------------------------------------- the pieces


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate for optimizer step ``step``: linear warmup, then cosine decay to ``min_lr``."""
    if not cfg.decay_lr:
        return cfg.learning_rate
    if step < cfg.warmup_iters:  # 1) ramp up linearly from lr/(warmup+1) to lr
        return cfg.learning_rate * (step + 1) / (cfg.warmup_iters + 1)
    if step >= cfg.decay_iters:  # 3) after the decay: stay at the floor
        return cfg.min_lr
    progress = (step - cfg.warmup_iters) / (cfg.decay_iters - cfg.warmup_iters)  # 2) 0 -> 1
    coeff = 0.5 * (1.0 + math.cos(math.pi * progress))  # 1 -> 0 along half a cosine
    return cfg.min_lr + coeff * (cfg.learning_rate - cfg.min_lr)


def grad_sync(model: torch.nn.Module, sync: bool) -> contextlib.AbstractContextManager:
    """Under DDP, skip the gradient all-reduce (``no_sync``) unless ``sync``; elsewhere a no-op."""
    if isinstance(model, DDP) and not sync:
        return model.no_sync()
    return contextlib.nullcontext()


def train_step(model: torch.nn.Module, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler,
               micro_batches: list[tuple[torch.Tensor, torch.Tensor]], autocast: contextlib.AbstractContextManager,
               grad_clip: float = 1.0) -> tuple[torch.Tensor, torch.Tensor | None]:
    """One optimizer step over several micro-batches; returns (mean loss, gradient norm before clipping).

    Gradients add up over the micro-batches, each loss divided by their number, so the update equals
    the one a single batch of all of them would give. The returned tensors are not synced to the CPU.
    """
    accum = len(micro_batches)
    total = torch.zeros((), device=micro_batches[0][0].device)
    for i, (x, y) in enumerate(micro_batches):  # x, y: (B, T)
        with grad_sync(model, sync=i == accum - 1):  # DDP: all-reduce once, on the last micro-batch
            with autocast:
                _, loss = model(x, y)  # loss: mean cross-entropy over B*T positions
            loss = loss / accum
            scaler.scale(loss).backward()  # fp16: scale up so small gradients do not flush to zero
        total += loss.detach()
    grad_norm = None
    if grad_clip > 0:
        scaler.unscale_(optimizer)  # clip the true gradients, not the scaled ones
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    scaler.step(optimizer)  # skipped if fp16 gradients overflowed
    scaler.update()
    optimizer.zero_grad(set_to_none=True)
    return total, grad_norm


@torch.no_grad()
def estimate_loss(model: torch.nn.Module, data: TokenData, cfg: TrainConfig, device: torch.device,
                  autocast: contextlib.AbstractContextManager | None = None, rank: int = 0,
                  world_size: int = 1) -> dict[str, float]:
    """Mean loss on ``cfg.eval_iters`` fixed batches of each split; ranks share the batches under DDP."""
    autocast = autocast or contextlib.nullcontext()
    was_training = model.training
    model.eval()  # no dropout
    out = {}
    for split, tokens in (("train", data.train), ("val", data.val)):
        offsets = eval_offsets(len(tokens), cfg.eval_iters, cfg.batch_size, cfg.block_size, cfg.seed + 1)
        total = torch.zeros((), device=device)
        for k in range(rank, cfg.eval_iters, world_size):
            x, y = batch_at(tokens, offsets[k], cfg.block_size, device)  # (B, T) each
            with autocast:
                _, loss = model(x, y)
            total += loss.float()
        if world_size > 1:
            dist.all_reduce(total)  # sum over ranks
        out[split] = total.item() / cfg.eval_iters
    model.train(was_training)
    return out


# ----------------------------------------------------------------------------- the model to train


def pretrained_model(name: str, block_size: int, dropout: float) -> GPT:
    """OpenAI's GPT-2 ``name`` (found or downloaded by gpt2ref.weights), its context cropped to ``block_size``."""
    from gpt2ref.weights import WeightsError, load_gpt2

    try:
        model = load_gpt2(name, download=True)
    except WeightsError as err:
        raise PretrainedWeightsError(f"{err} Or train the same architecture from random weights with --init scratch.") from err
    got = model.config
    if block_size > got.block_size:
        raise ValueError(f"block_size {block_size} exceeds {name}'s {got.block_size} learned positions")
    cropped = GPT(replace(got, block_size=block_size, dropout=dropout))
    state = model.state_dict()
    state["transformer.wpe.weight"] = state["transformer.wpe.weight"][:block_size]  # keep the first positions
    cropped.load_state_dict(state)
    return cropped


def build_model(cfg: TrainConfig, vocab_size: int, ckpt: dict | None = None) -> GPT:
    """The model a run starts from: the checkpoint's when resuming, else OpenAI's GPT-2 (``cfg.init``) or new weights."""
    if ckpt is not None:
        model = model_from_checkpoint(ckpt)
    elif cfg.init == "scratch":
        model = GPT(cfg.model_config(vocab_size))
    else:
        model = pretrained_model(cfg.init, cfg.block_size, cfg.dropout)
    if model.config.vocab_size < vocab_size:
        raise ValueError(f"the model predicts {model.config.vocab_size} tokens, the data uses {vocab_size}")
    return model


# ----------------------------------------------------------------------------- processes and signals


@dataclass
class DistInfo:
    """Where this process sits in a torchrun job (rank 0 of 1 when run directly)."""

    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_master(self) -> bool:
        """Rank 0 logs, plots and writes checkpoints."""
        return self.rank == 0

    @classmethod
    def from_env(cls) -> DistInfo:
        """Read RANK, LOCAL_RANK and WORLD_SIZE as set by torchrun."""
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)),
                   int(os.environ.get("WORLD_SIZE", 1)))


def keep_freed_memory() -> bool:
    """On glibc, keep freed memory in the heap for reuse instead of returning it to the OS; True if set.

    A CPU training step frees and reallocates the same activations every time. With glibc's defaults many
    of those buffers are fresh ``mmap`` pages, each 4 KB page a page fault to zero-fill: about 1,000 a step
    and 3-4% of the small char model's step time. The process then holds its peak memory until it exits.
    """
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt  # absent from other C libraries (musl)
    except (OSError, AttributeError):
        return False
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    return bool(mallopt(m_mmap_threshold, 32 << 20)) and bool(mallopt(m_trim_threshold, 1 << 30))  # 32 MiB: glibc's cap


def setup_device(info: DistInfo, preference: str) -> torch.device:
    """Pick the device; under torchrun also join the process group (NCCL on CUDA, gloo on the CPU)."""
    device = pick_device(preference)
    if info.world_size == 1:
        return device
    if device.type == "cuda":
        device = torch.device("cuda", info.local_rank)  # one GPU per process
        torch.cuda.set_device(device)
        backend = "nccl"
    elif device.type == "cpu":
        backend = "gloo"
    else:
        raise DeviceError(f"multi-process training is not supported on {device.type}; use cuda or cpu")
    if not dist.is_initialized():
        dist.init_process_group(backend=backend)
    return device


class StopRequest:
    """Turns Ctrl-C (SIGINT) or SIGTERM into "save a checkpoint after this step and stop"; twice aborts."""

    def __init__(self) -> None:
        self.signal_name: str | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signal_name is not None:  # second signal: stop at once
            raise KeyboardInterrupt
        self.signal_name = signal.Signals(signum).name

    def __enter__(self) -> StopRequest:
        if threading.current_thread() is threading.main_thread():  # signal handlers live in the main thread
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


def _any_rank(flag: bool, device: torch.device, world_size: int) -> bool:
    """True if ``flag`` is true on any rank (every rank must call this at the same step)."""
    if world_size == 1:
        return flag
    t = torch.tensor([float(flag)], device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return bool(t.item())


def _rng_states(world_size: int) -> list[dict[str, Any]]:
    """Every rank's RNG states, gathered (each rank draws its own dropout masks)."""
    state = rng_state()
    if world_size == 1:
        return [state]
    states: list[Any] = [None] * world_size
    dist.all_gather_object(states, state)
    return states


# ----------------------------------------------------------------------------- logs and results


@dataclass
class TrainResult:
    """What a run produced: final losses, the logged history (one dict per row of the CSV) and file paths."""

    config: TrainConfig
    step: int
    history: list[dict[str, float | None]]
    interrupted: bool = False
    stop_signal: str | None = None
    out_dir: Path | None = None
    checkpoint_path: Path | None = None
    log_path: Path | None = None
    plot_path: Path | None = None
    sample: str | None = None
    model: GPT | None = field(default=None, repr=False)
    tokenizer: TokenizerInfo | None = field(default=None, repr=False)

    def curve(self, key: str) -> tuple[list[int], list[float]]:
        """Steps and values of one logged quantity ("train_loss", "val_loss", "lr", ...), skipping gaps."""
        rows = [r for r in self.history if r.get(key) is not None]
        return [int(r["step"]) for r in rows], [float(r[key]) for r in rows]

    @property
    def final_val_loss(self) -> float | None:
        """The last validation loss measured."""
        return (self.curve("val_loss")[1] or [None])[-1]

    @property
    def final_train_loss(self) -> float | None:
        """The last training loss measured on the fixed evaluation batches."""
        return (self.curve("eval_train_loss")[1] or [None])[-1]


class CsvLog:
    """The history as a CSV file, one row per logged step; rewritten from the checkpoint on resume."""

    def __init__(self, path: Path, history: list[dict]) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "w", newline="", encoding="utf-8")  # noqa: SIM115 (closed in close())
        self._writer = csv.DictWriter(self._file, fieldnames=LOG_COLUMNS, extrasaction="ignore")
        self._writer.writeheader()
        for row in history:
            self.write(row)

    def write(self, row: dict) -> None:
        """Append one row (missing values stay empty) and flush, so the file can be followed live."""
        self._writer.writerow({k: ("" if row.get(k) is None else row[k]) for k in LOG_COLUMNS})
        self._file.flush()

    def close(self) -> None:
        """Close the file."""
        self._file.close()


def read_log(path: str | os.PathLike) -> list[dict[str, float | None]]:
    """Read a CSV log written by :func:`train` back into a history (floats, None for empty cells)."""
    with open(path, newline="", encoding="utf-8") as f:
        return [{k: (float(v) if v != "" else None) for k, v in row.items()} for row in csv.DictReader(f)]


def plot_history(history: list[dict], path: str | os.PathLike | None = None, title: str = "") -> Any:
    """Loss curves (per-step train loss, evaluated train and val loss) as a matplotlib Figure, saved if ``path``."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4), layout="constrained")  # no pyplot: no global backend is touched
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for key, style, label in (("train_loss", dict(alpha=0.4, lw=1), "train (batch)"),
                              ("eval_train_loss", dict(marker="o", ms=3), "train (eval)"),
                              ("val_loss", dict(marker="o", ms=3), "validation")):
        rows = [r for r in history if r.get(key) is not None]
        if rows:
            ax.plot([r["step"] for r in rows], [r[key] for r in rows], label=label, **style)
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy loss (nats)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


# ----------------------------------------------------------------------------- the loop


def restore(ckpt: dict, optimizer: torch.optim.Optimizer, scaler: torch.amp.GradScaler, batches: StepBatches,
            rank: int = 0) -> tuple[int, list[dict]]:
    """Put a run back where ``ckpt`` left it (optimizer, scaler, RNGs, batch stream); returns (step, history).

    The weights come with the model itself (:func:`build_model`).
    """
    optimizer.load_state_dict(ckpt["optimizer"])
    if ckpt["scaler"] is not None:
        scaler.load_state_dict(ckpt["scaler"])
    batches.set_state(ckpt["batch_generator"])
    set_rng_state(ckpt["rng"][rank])  # this rank's dropout stream
    return ckpt["step"], list(ckpt["history"])


def train(cfg: TrainConfig, on_step: Callable[[int, dict], None] | None = None) -> TrainResult:
    """Train (or resume) a run described by ``cfg``; Ctrl-C saves a checkpoint and returns early.

    ``on_step(step, row)`` is called on every rank after each optimizer step (``row`` is the logged
    row, empty on steps that log nothing).
    """
    info = DistInfo.from_env()
    device = setup_device(info, cfg.device)
    if device.type == "cpu":
        keep_freed_memory()
    try:
        return _train(cfg, info, device, on_step)
    finally:
        if info.world_size > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _train(cfg: TrainConfig, info: DistInfo, device: torch.device,
           on_step: Callable[[int, dict], None] | None) -> TrainResult:
    """The body of :func:`train`, once the device (and the process group) are set up."""
    from tqdm.auto import tqdm

    dtype = resolve_dtype(device, cfg.dtype)
    enable_tf32(device)
    autocast = autocast_context(device, dtype)
    out_dir = Path(cfg.out_dir)
    ckpt_path = out_dir / CHECKPOINT_NAME
    ckpt = load_checkpoint(ckpt_path) if cfg.resume else None
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank
    data = load_token_data(cfg.tokenizer)
    data_info = {"tokenizer": data.tokenizer.meta, "text_sha256": data.text_sha256, "world_size": info.world_size}
    if ckpt is not None:
        # from scratch the model follows from cfg; a pretrained model's shape is covered by cfg.init
        expected = asdict(cfg.model_config(data.vocab_size)) if cfg.init == "scratch" else ckpt["model_config"]
        check_resumable(ckpt, expected, cfg.to_dict(), data_info, ckpt_path)
    raw_model = build_model(cfg, data.vocab_size, ckpt)
    raw_model.to(device)
    optimizer = raw_model.configure_optimizer(cfg.weight_decay, cfg.learning_rate, (cfg.beta1, cfg.beta2),
                                              device.type)
    scaler = make_grad_scaler(device, dtype)
    batches = StepBatches(data.train, cfg.batch_size, cfg.block_size, cfg.gradient_accumulation_steps, cfg.seed,
                          info.rank, info.world_size, device)
    torch.manual_seed(cfg.seed + info.rank)  # then a different dropout stream per rank
    step, history = 0, []
    if ckpt is not None:
        step, history = restore(ckpt, optimizer, scaler, batches, info.rank)
        del ckpt

    model: torch.nn.Module = torch.compile(raw_model) if cfg.compile else raw_model
    eval_model = model  # evaluation needs no gradient sync: bypass DDP
    if info.world_size > 1:
        model = DDP(model, device_ids=[device.index] if device.type == "cuda" else None)

    tokens_per_step = info.world_size * cfg.gradient_accumulation_steps * cfg.batch_size * cfg.block_size
    peak = device_peak_flops(device)
    master = info.is_master
    log = CsvLog(out_dir / "log.csv", history) if master else None
    bar = tqdm(total=cfg.max_iters, initial=step, disable=not (master and cfg.progress), dynamic_ncols=True)

    def say(msg: str) -> None:
        if master and cfg.progress:
            bar.write(msg)

    def save(at_step: int) -> None:
        rng = _rng_states(info.world_size)  # collective: every rank takes part
        if master:
            save_checkpoint(ckpt_path, model=raw_model, optimizer=optimizer, scaler=scaler, step=at_step,
                            model_config=asdict(raw_model.config), train_config=cfg.to_dict(), rng=rng,
                            batch_state=batches.state(), data=data_info, history=history)

    def evaluate(row: dict) -> None:
        losses = estimate_loss(eval_model, data, cfg, device, autocast, info.rank, info.world_size)
        row.update(eval_train_loss=losses["train"], val_loss=losses["val"])
        say(f"step {row['step']}: train loss {losses['train']:.4f}, val loss {losses['val']:.4f}")

    def record(row: dict) -> None:
        if master:
            history.append(row)
            log.write(row)

    say(f"{'resuming at step ' + str(step) if step else 'training'}: {raw_model.num_parameters():,} parameters "
        f"on {device} ({str(dtype).removeprefix('torch.')}{', compiled' if cfg.compile else ''}), "
        f"{info.world_size} process(es), {tokens_per_step:,} tokens per step")
    stopped = None
    start = time.perf_counter()
    try:
        with StopRequest() as stop:
            if step == 0:
                row = {"step": 0}
                evaluate(row)
                record(row)
            t_last, tokens_since = time.perf_counter(), 0
            while step < cfg.max_iters:
                lr = lr_at(step, cfg)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                loss, grad_norm = train_step(model, optimizer, scaler, batches.next_step(), autocast, cfg.grad_clip)
                step += 1
                tokens_since += tokens_per_step
                row: dict = {}
                if step % cfg.log_interval == 0 or step == cfg.max_iters:
                    if info.world_size > 1:
                        dist.all_reduce(loss)
                        loss /= info.world_size
                    synchronize(device)
                    now = time.perf_counter()
                    tok_s = tokens_since / max(now - t_last, 1e-9)
                    mfu = raw_model.estimate_mfu(tok_s / info.world_size, peak, cfg.block_size) if peak else None
                    row = {"step": step, "train_loss": loss.item(), "lr": lr,
                           "grad_norm": None if grad_norm is None else grad_norm.item(),
                           "tokens_per_sec": tok_s, "mfu": mfu, "elapsed_s": now - start}
                    postfix = {"loss": f"{row['train_loss']:.4f}", "lr": f"{lr:.2e}", "tok/s": f"{tok_s:,.0f}"}
                    if device.type == "cuda":  # MFU against the GPU's peak bf16 FLOP/s, if we know the GPU
                        postfix["mfu"] = "unknown" if mfu is None else f"{100 * mfu:.1f}%"
                    bar.set_postfix(postfix)
                    t_last, tokens_since = now, 0
                if step % cfg.eval_interval == 0 or step == cfg.max_iters:
                    row.setdefault("step", step)
                    evaluate(row)
                    t_last = time.perf_counter()  # evaluation time is not training throughput
                if row:
                    record(row)
                bar.update(1)
                if on_step is not None:
                    on_step(step, row)
                stop_now = _any_rank(stop.signal_name is not None, device, info.world_size)
                if step % cfg.checkpoint_interval == 0 or step == cfg.max_iters or stop_now:
                    save(step)
                if stop_now and step < cfg.max_iters:
                    stopped = stop.signal_name or "SIGINT"
                    say(f"{stopped}: stopped after step {step}; checkpoint saved to {ckpt_path}. "
                        f"Continue with --resume (same --out-dir).")
                    break
    finally:
        bar.close()
        if log is not None:
            log.close()

    result = TrainResult(cfg, step, history, interrupted=stopped is not None, stop_signal=stopped,
                         out_dir=out_dir, checkpoint_path=ckpt_path, log_path=out_dir / "log.csv",
                         model=raw_model, tokenizer=data.tokenizer)
    if master:
        result.plot_path = out_dir / "loss.png"
        plot_history(history, result.plot_path, title=f"{raw_model.num_parameters():,}-parameter GPT, {cfg.tokenizer} tokens")
        if cfg.sample_tokens and stopped is None:
            result.sample = sample_text(raw_model, data.tokenizer, cfg.sample_prompt, cfg.sample_tokens, device,
                                        seed=cfg.seed)
            (out_dir / "sample.txt").write_text(result.sample, encoding="utf-8")
    return result

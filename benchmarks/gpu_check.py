"""The GPU run in one command: train, climb the speed ladder, run the CUDA-only tests, write one summary.

On a CUDA GPU (about 6-8 minutes on an H100/H200-class GPU):

(a) trains the ``shakespeare-char`` preset (nanoGPT's 10.7M-parameter char model, 5,000 iterations)
    in bf16 with ``torch.compile`` and reports ms/iteration, tokens/s, MFU and the final validation
    loss beside the 1.4697 that nanoGPT's README reports on an A100;
(b) measures ms/step on the GPT-2-small shape (12 layers, 768 wide, batch 16 x 1024) for each rung
    of build-nanogpt's ladder, each rung keeping the ones before it: fp32, TF32 matmuls, bf16 autocast,
    ``torch.compile``, fused AdamW, vocabulary padded from 50,257 to 50,304 (a multiple of 128);
(c) runs the tests marked ``cuda`` (autocast, fused AdamW, compile on the GPU).

Without CUDA, or with ``--toy``, it runs the same three steps at toy size on the CPU, in about a
minute, and says so in its output and in the summary: a check that the script works, not a measurement.

    scripts/gpu_check.sh                      # or: make gpu-check
    scripts/gpu_check.sh --toy --out /tmp/gc  # the CPU rehearsal that CI runs

The summary goes to ``OUT/gpu_check.json`` (every figure) and ``OUT/gpu_check.txt`` (the same as tables).
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import math
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from gpt2ref.device import device_peak_flops, pick_device  # noqa: E402
from gpt2ref.model import GPT, GPTConfig  # noqa: E402
from gpt2ref.presets import get_preset  # noqa: E402

NANOGPT_A100_VAL_LOSS = 1.4697  # nanoGPT README: shakespeare-char, ~3 minutes on one A100
TOY_VOCAB = 1000  # the toy ladder's vocabulary (padded: 1,024)
RUNGS = ("fp32", "+ TF32 matmuls", "+ bf16 autocast", "+ torch.compile", "+ fused AdamW", "+ padded vocab")
TIME_BUDGET_S = 480  # the whole check should fit in 8 minutes on an H100/H200


# ----------------------------------------------------------------------------- (a) the char model


def train_char_model(device: torch.device, toy: bool, compile_model: bool, out_dir: Path) -> dict[str, Any]:
    """Train the shakespeare-char preset in bf16 (toy size on the CPU); throughput, MFU and final losses."""
    from gpt2ref.train import train

    overrides: dict[str, Any] = dict(device=str(device), dtype="bfloat16", compile=compile_model, out_dir=str(out_dir),
                                     progress=False, sample_tokens=0)
    if toy:
        overrides.update(n_layer=2, n_head=2, n_embd=64, block_size=64, batch_size=8, max_iters=20, lr_decay_iters=20,
                         warmup_iters=2, eval_interval=10, eval_iters=2, checkpoint_interval=20)
    cfg = get_preset("shakespeare-char", **overrides)
    t0 = time.perf_counter()
    result = train(cfg)
    wall = time.perf_counter() - t0
    rows = [r for r in result.history if r.get("tokens_per_sec") is not None]
    tok_s = statistics.median(r["tokens_per_sec"] for r in rows)
    mfus = [r["mfu"] for r in rows if r.get("mfu") is not None]
    tokens_per_iter = cfg.batch_size * cfg.block_size * cfg.gradient_accumulation_steps
    val = result.final_val_loss
    return {
        "preset": "shakespeare-char" + (" (toy size)" if toy else ""),
        "parameters": result.model.num_parameters(),
        "iterations": result.step,
        "dtype": "bfloat16",
        "compiled": compile_model,
        "ms_per_iter": 1000 * tokens_per_iter / tok_s,
        "tokens_per_s": tok_s,
        "mfu": statistics.median(mfus) if mfus else None,
        "wall_s": wall,
        "final_train_loss": result.final_train_loss,
        "final_val_loss": val,
        "nanogpt_a100_val_loss": NANOGPT_A100_VAL_LOSS,
        "val_loss_minus_nanogpt": None if toy else val - NANOGPT_A100_VAL_LOSS,
    }


# ----------------------------------------------------------------------------- (b) the ladder


def padded(vocab_size: int, multiple: int = 128) -> int:
    """The vocabulary rounded up to a multiple of 128 (50,257 -> 50,304), so the head's matmul tiles evenly."""
    return -(-vocab_size // multiple) * multiple


def ladder_config(toy: bool) -> tuple[GPTConfig, int, int]:
    """(model config, batch size, sequence length): GPT-2 small at 16 x 1024, or a toy (vocabulary 1,000)."""
    if toy:  # GPT-2's 50,257-row head alone would cost seconds a step in bf16 on a CPU
        return GPTConfig(block_size=64, vocab_size=TOY_VOCAB, n_layer=2, n_head=2, n_embd=64, dropout=0.0), 4, 64
    return GPTConfig(dropout=0.0), 16, 1024  # GPT-2 small: 12 layers, 12 heads, 768 wide, vocabulary 50,257


@contextlib.contextmanager
def tf32_matmuls(enabled: bool):
    """Let fp32 matmuls use TF32 tensor cores (CUDA only) for the duration of the block."""
    old = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = enabled
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_rung(device: torch.device, config: GPTConfig, batch: int, seq: int, n_tokens: int, *, tf32: bool, bf16: bool,
              compiled: bool, fused: bool, warmup: int, steps: int, model: torch.nn.Module | None = None
              ) -> tuple[dict[str, Any], torch.nn.Module]:
    """Median ms per training step (forward, backward, clip, AdamW) of one rung; returns the (compiled) model too."""
    torch.manual_seed(0)
    if model is None:
        raw = GPT(config).to(device)
        model = torch.compile(raw) if compiled else raw
    optimizer = torch.optim.AdamW(model.parameters(), lr=6e-4, betas=(0.9, 0.95), weight_decay=0.1, fused=fused)
    data = torch.randint(0, n_tokens, (batch, seq + 1), generator=torch.Generator().manual_seed(0)).to(device)
    x, y = data[:, :-1], data[:, 1:]  # real token ids stay below n_tokens (50,257) when the table is padded
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
    losses, times = [], []
    with tf32_matmuls(tf32):
        for i in range(warmup + steps):
            _sync(device)
            t0 = time.perf_counter()
            with autocast:
                _, loss = model(x, y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            optimizer.zero_grad(set_to_none=True)
            _sync(device)
            if i >= warmup:
                times.append(time.perf_counter() - t0)
            losses.append(loss.item())
    ms = 1000 * statistics.median(times)
    tok_s = batch * seq / (ms / 1000)
    peak = device_peak_flops(device)
    raw_model = getattr(model, "_orig_mod", model)
    return {
        "ms_per_step": ms,
        "tokens_per_s": tok_s,
        "mfu": raw_model.estimate_mfu(tok_s, peak, seq) if peak else None,
        "first_loss": losses[0],
        "last_loss": losses[-1],
    }, model


def run_ladder(device: torch.device, toy: bool, compile_ok: bool, warmup: int, steps: int) -> dict[str, Any]:
    """Every rung of the ladder, each on top of the ones before; a rung that fails records its error."""
    config, batch, seq = ladder_config(toy)
    on_cuda = device.type == "cuda"
    gc.collect()  # the trained model of step (a) is garbage by now: give its memory back first
    if on_cuda:
        torch.cuda.empty_cache()
    rungs = []
    model = None  # the compiled model is reused by the fused-AdamW rung (same graph, new optimizer)
    for i, name in enumerate(RUNGS):
        settings = dict(tf32=i >= 1 and on_cuda, bf16=i >= 2, compiled=i >= 3, fused=i >= 4)
        vocab = padded(config.vocab_size) if i >= 5 else config.vocab_size
        row: dict[str, Any] = {"rung": name, **settings, "vocab_size": vocab}
        if i == 1 and not on_cuda:
            row["note"] = "TF32 is a CUDA tensor-core format: no change on the CPU"
        if settings["compiled"] and not compile_ok:
            row.update(skipped="torch.compile skipped at toy size (its cold start on a CPU is longer than the "
                               "whole toy check; pass --toy-compile to include it)")
            settings["compiled"] = row["compiled"] = False
        reuse = model if name == "+ fused AdamW" and settings["compiled"] else None
        if reuse is not None:
            row["note"] = "continues the compiled model of the rung above (no second compile), so its first loss is lower"
        try:
            timing, model = time_rung(device, replace(config, vocab_size=vocab), batch, seq, config.vocab_size,
                                      warmup=warmup, steps=steps, model=reuse, **settings)
            row.update(timing)
        except torch.cuda.OutOfMemoryError as exc:
            row["error"] = f"out of GPU memory at batch {batch} x {seq}: {str(exc).splitlines()[0]}"
            model = None
        except Exception as exc:  # a rung that breaks must not hide the others
            row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            model = None
        rungs.append(row)
        if name != "+ torch.compile":  # keep the compiled model for the next rung only
            model = None
        gc.collect()
        if on_cuda:
            torch.cuda.empty_cache()
    base = rungs[0].get("ms_per_step")
    for row in rungs:
        if base and row.get("ms_per_step"):
            row["speedup_vs_fp32"] = base / row["ms_per_step"]
    return {"shape": f"{config.n_layer} layers, {config.n_head} heads, {config.n_embd} wide, vocabulary "
                     f"{config.vocab_size:,} (padded: {padded(config.vocab_size):,})" + (" (toy size)" if toy else " (GPT-2 small)"),
            "batch": batch, "seq_len": seq, "warmup_steps": warmup, "timed_steps": steps, "rungs": rungs}


# ----------------------------------------------------------------------------- (c) the CUDA-only tests


def run_cuda_tests(paths: list[str]) -> dict[str, Any]:
    """``pytest -m cuda`` on ``paths``; where there is no GPU those tests skip themselves, and that is said."""
    cmd = [sys.executable, "-m", "pytest", "-m", "cuda", "-q", "-p", "no:cacheprovider", *paths]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    summary = lines[-1].strip("= ") if lines else proc.stderr.strip()[-300:]
    if proc.returncode == 0 and "passed" in summary:
        status = "passed"
    elif proc.returncode == 0:
        status = "skipped (no CUDA GPU)" if not torch.cuda.is_available() else "skipped"
    elif proc.returncode == 5:
        status = "no tests marked cuda were collected"
    else:
        status = "failed"
    return {"command": " ".join(["python", *cmd[1:]]), "status": status, "summary": summary,
            "returncode": proc.returncode, "wall_s": time.perf_counter() - t0,
            "output_tail": None if status.startswith(("passed", "skipped")) else proc.stdout[-4000:]}


# ----------------------------------------------------------------------------- the summary


def _fmt(value: Any, spec: str) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return format(value, spec)


def render_text(summary: dict[str, Any]) -> str:
    """The summary as plain-text tables."""
    out = [f"gpt2ref GPU check: {summary['mode']}", f"device: {summary['device_name']} ({summary['device']}), "
           f"torch {summary['torch']}, peak bf16 FLOP/s for MFU: {_fmt(summary['peak_flops'], '.3g')}", ""]
    if summary["toy"]:
        out += ["TOY SIZE ON THE CPU: this checks that the script runs; its figures are not GPU measurements.", ""]
    t = summary["train"]
    out.append("(a) train " + t.get("preset", "shakespeare-char"))
    if "error" in t:
        out.append(f"    FAILED: {t['error']}")
    else:
        out += [f"    {t['iterations']} iterations, {t['parameters']:,} parameters, {t['dtype']}"
                f"{', torch.compile' if t['compiled'] else ''}, {t['wall_s']:.0f} s in all",
                f"    {_fmt(t['ms_per_iter'], '.1f')} ms/iteration, {_fmt(t['tokens_per_s'], ',.0f')} tokens/s, MFU "
                + ("n/a" if t["mfu"] is None else f"{100 * t['mfu']:.1f}%"),
                f"    final val loss {_fmt(t['final_val_loss'], '.4f')} (nanoGPT on an A100: {NANOGPT_A100_VAL_LOSS}), "
                f"final train loss {_fmt(t['final_train_loss'], '.4f')}"]
    lad = summary["ladder"]
    out += ["", f"(b) ladder: {lad['shape']}, batch {lad['batch']} x {lad['seq_len']}, median of "
                f"{lad['timed_steps']} steps after {lad['warmup_steps']} warm-up steps"]
    out.append(f"    {'rung':24} {'ms/step':>9} {'tokens/s':>10} {'MFU':>6} {'speed-up':>8}  first loss")
    for r in lad["rungs"]:
        if "error" in r or "ms_per_step" not in r:
            out.append(f"    {r['rung']:24} {'FAILED: ' + r['error'] if 'error' in r else 'skipped'}")
            continue
        mfu = "n/a" if r.get("mfu") is None else f"{100 * r['mfu']:.1f}%"
        note = f"  ({r['skipped']})" if "skipped" in r else (f"  ({r['note']})" if "note" in r else "")
        out.append(f"    {r['rung']:24} {r['ms_per_step']:9.1f} {r['tokens_per_s']:10,.0f} {mfu:>6} "
                   f"{_fmt(r.get('speedup_vs_fp32'), '.2f'):>7}x  {r['first_loss']:.4f}{note}")
    c = summary["cuda_tests"]
    out += ["", f"(c) CUDA-only tests: {c['status']}: {c['summary']}", f"    {c['command']}", "",
            f"total {summary['total_s']:.0f} s" + ("" if summary["toy"] else
                                                   f" (budget {TIME_BUDGET_S} s{': OVER' if summary['total_s'] > TIME_BUDGET_S else ''})"),
            f"result: {'OK' if summary['ok'] else 'FAILED'}"]
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the three steps and write the summary; exit status 1 if any step failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "_build" / "gpu_check", help="folder for the summary")
    parser.add_argument("--toy", action="store_true", help="toy size on the CPU even if a GPU is present")
    parser.add_argument("--toy-compile", action="store_true", help="at toy size, include torch.compile (slow on a CPU)")
    parser.add_argument("--ladder-warmup", type=int, default=None, help="warm-up steps per rung (GPU 10, toy 2)")
    parser.add_argument("--ladder-steps", type=int, default=None, help="timed steps per rung (GPU 20, toy 3)")
    parser.add_argument("--tests", nargs="+", default=["tests"], help="where pytest looks for cuda-marked tests")
    args = parser.parse_args(argv)

    t_start = time.perf_counter()
    toy = args.toy or not torch.cuda.is_available()
    device = torch.device("cpu") if toy else pick_device("cuda")
    compile_ok = not toy or args.toy_compile
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU ({platform.processor() or platform.machine()})"
    mode = ("TOY SIZE ON THE CPU (" + ("--toy" if torch.cuda.is_available() else "no CUDA GPU found") + ")"
            if toy else f"full size on {name}")
    print(f"gpt2ref GPU check: {mode}", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    summary: dict[str, Any] = {"mode": mode, "toy": toy, "device": str(device), "device_name": name,
                               "torch": torch.__version__, "peak_flops": device_peak_flops(device)}

    print("(a) training the shakespeare-char preset ...", flush=True)
    try:
        with tempfile.TemporaryDirectory(prefix="gpt2ref-gpu-check-") as tmp:
            summary["train"] = train_char_model(device, toy, compile_ok, Path(tmp))
    except Exception as exc:
        summary["train"] = {"error": f"{type(exc).__name__}: {exc}"}
    print("(b) timing the ladder ...", flush=True)
    warmup = args.ladder_warmup if args.ladder_warmup is not None else (2 if toy else 10)
    steps = args.ladder_steps if args.ladder_steps is not None else (3 if toy else 20)
    summary["ladder"] = run_ladder(device, toy, compile_ok, warmup, steps)
    print("(c) running the CUDA-only tests ...", flush=True)
    summary["cuda_tests"] = run_cuda_tests(args.tests)

    summary["total_s"] = time.perf_counter() - t_start
    summary["ok"] = ("error" not in summary["train"] and not any("error" in r for r in summary["ladder"]["rungs"])
                     and summary["cuda_tests"]["status"] != "failed")
    text = render_text(summary)
    summary["table"] = text
    (args.out / "gpu_check.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")
    (args.out / "gpu_check.txt").write_text(text, encoding="utf-8")
    print("\n" + text + f"summary: {args.out / 'gpu_check.json'} and {args.out / 'gpu_check.txt'}")
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())

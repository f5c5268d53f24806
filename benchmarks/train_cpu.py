"""Train nanoGPT's CPU Shakespeare recipe with gpt2ref (preset ``shakespeare-char-cpu``), optionally beside nanoGPT.

Each run is a fresh process: 4 layers, 4 heads, 128 wide, block 64, batch 12, 2,000 iterations,
evaluation every 250 on 20 batches, lr 1e-3 decayed to 1e-4, no dropout. For every gpt2ref seed it
prints ms/iteration, tokens/s, the wall time from process start to the final checkpoint (evaluations
included) and the final validation loss. With ``--nanogpt PATH`` (a checkout of karpathy/nanoGPT, kept
outside this repository) it also runs nanoGPT's own ``train.py`` on the same recipe (its README's
"I only have a macbook" command), alternating with gpt2ref, and prints the ratio of the median wall
times and both validation losses. Both get the same number of threads (``--threads``). After the timed
runs, every final checkpoint is also evaluated on the whole validation split (every window, no sampling),
the number that the recipe's 20 random evaluation batches estimate to within about +-0.01.

    .venv/bin/python benchmarks/train_cpu.py --nanogpt ../nanoGPT            # the full comparison
    .venv/bin/python benchmarks/train_cpu.py --seeds 1337 --max-iters 200    # a quick look
    .venv/bin/python benchmarks/train_cpu.py --profile --nanogpt ../nanoGPT  # where a step's time goes

On a loaded machine, ``--jobs 2`` runs a gpt2ref run and a nanoGPT run at the same time (each pair
shares whatever the machine has free at that moment) instead of one after the other.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from gpt2ref.presets import get_preset  # noqa: E402
from gpt2ref.train import read_log  # noqa: E402

PRESET = "shakespeare-char-cpu"
TARGET_RATIO = 0.9  # issue 14: at most 0.9x nanoGPT's wall time ...
TARGET_LOSS = 1.89  # ... at a mean final validation loss of at most 1.89 over three seeds


@dataclass
class Run:
    """One training process and what it reported."""

    tool: str  # "gpt2ref" or "nanoGPT"
    seed: int
    to_checkpoint_s: float  # process start -> last write of ckpt.pt
    process_s: float  # process start -> exit
    cpu_s: float  # user + system CPU time of the process
    ms_per_iter: float  # median time of a training iteration (evaluations excluded)
    tokens_per_s: float
    val_loss: float
    iterations: int
    checkpoint: str = ""  # the final checkpoint file
    full_val_loss: float | None = None  # the checkpoint's loss on every window of the validation split
    checkpoint_step: int | None = None  # nanoGPT keeps the checkpoint of its best evaluation, not the last


def full_split_loss(loss_of, tokens, block_size: int, batch_size: int = 64) -> float:
    """Mean loss of ``loss_of(x, y)`` over all non-overlapping windows of ``tokens``: no sampling noise.

    The recipe's 20 random batches (240 windows) estimate the validation loss to about +-0.01; this is
    the number they estimate.
    """
    import numpy as np
    import torch

    data = torch.from_numpy(np.asarray(tokens, dtype=np.int64))
    starts = torch.arange(0, len(data) - block_size - 1, block_size)
    total = 0.0
    with torch.no_grad():
        for i in range(0, len(starts), batch_size):
            windows = data[starts[i:i + batch_size, None] + torch.arange(block_size + 1)]  # (b, T+1)
            total += loss_of(windows[:, :-1].contiguous(), windows[:, 1:].contiguous()).item() * len(windows)
    return total / len(starts)


def nanogpt_gpt(nanogpt: Path, **model_args):
    """A ``GPT`` of nanoGPT's own ``model.py`` (imported from the checkout, run as it is), built quietly."""
    import contextlib
    import io

    sys.path.insert(0, str(nanogpt))
    with contextlib.redirect_stdout(io.StringIO()):  # its constructor prints the parameter count
        import model as nanogpt_model

        return nanogpt_model.GPT(nanogpt_model.GPTConfig(**model_args))


def add_full_val_losses(runs: list[Run], cfg, nanogpt: Path | None) -> None:
    """Evaluate each run's final checkpoint on the whole validation split (after all the timed runs)."""

    import torch

    from gpt2ref.checkpoint import load_checkpoint, model_from_checkpoint
    from gpt2ref.data import load_token_data

    val = load_token_data("char").val
    for run in runs:
        if run.tool == "gpt2ref":
            ckpt = load_checkpoint(run.checkpoint)
            model, run.checkpoint_step = model_from_checkpoint(ckpt).eval(), ckpt["step"]
        else:
            ckpt = torch.load(run.checkpoint, map_location="cpu", weights_only=False)
            model = nanogpt_gpt(nanogpt, **ckpt["model_args"])
            model.load_state_dict({k.removeprefix("_orig_mod."): v for k, v in ckpt["model"].items()})
            model.eval()
            run.checkpoint_step = ckpt["iter_num"]
        run.full_val_loss = full_split_loss(lambda x, y, model=model: model(x, y)[1], val, cfg.block_size)


def nanogpt_command(cfg, out_dir: Path) -> list[str]:
    """nanoGPT's README command for the CPU run, with ``cfg``'s iterations."""
    return [sys.executable, "train.py", "config/train_shakespeare_char.py", "--device=cpu", "--compile=False",
            f"--eval_interval={cfg.eval_interval}", f"--eval_iters={cfg.eval_iters}", "--log_interval=1", f"--block_size={cfg.block_size}",
            f"--batch_size={cfg.batch_size}", f"--n_layer={cfg.n_layer}", f"--n_head={cfg.n_head}",
            f"--n_embd={cfg.n_embd}", f"--max_iters={cfg.max_iters}", f"--lr_decay_iters={cfg.decay_iters}", f"--warmup_iters={cfg.warmup_iters}",
            f"--dropout={cfg.dropout}", f"--out_dir={out_dir}"]


def gpt2ref_command(cfg, out_dir: Path, seed: int) -> list[str]:
    """gpt2ref's CLI on the preset (no progress bar, no final text sample: nanoGPT's train.py has none)."""
    return [sys.executable, "-m", "gpt2ref", "train", "--preset", PRESET, "--device", "cpu",
            "--max-iters", str(cfg.max_iters), "--lr-decay-iters", str(cfg.decay_iters),
            "--eval-interval", str(cfg.eval_interval), "--warmup-iters", str(cfg.warmup_iters), "--seed", str(seed),
            "--out-dir", str(out_dir), "--no-progress", "--sample-tokens", "0"]


def prepare_nanogpt_data(nanogpt: Path) -> None:
    """Make nanoGPT's ``data/shakespeare_char/*.bin`` from the local tiny-shakespeare (its prepare.py downloads)."""
    data = nanogpt / "data" / "shakespeare_char"
    if (data / "train.bin").is_file() and (data / "val.bin").is_file() and (data / "meta.pkl").is_file():
        return
    if not (nanogpt / "train.py").is_file() or not (data / "prepare.py").is_file():
        sys.exit(f"{nanogpt} does not look like a nanoGPT checkout (no train.py, data/shakespeare_char/prepare.py)")
    if not (data / "input.txt").is_file():
        from gpt2ref.shakespeare import load_shakespeare

        (data / "input.txt").write_text(load_shakespeare(), encoding="utf-8")  # prepare.py then skips its download
    print(f"preparing nanoGPT's data in {data}", flush=True)
    subprocess.run([sys.executable, "prepare.py"], cwd=data, check=True, stdout=subprocess.DEVNULL)


def run_process(cmd: list[str], cwd: Path, env: dict[str, str], ckpt: Path) -> tuple[str, float, float, float]:
    """Run ``cmd``; (stdout, seconds to the last checkpoint write, seconds to exit, CPU seconds)."""
    start = time.time()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    end = time.time()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:4])} ... failed with exit status {proc.returncode}:\n{out[-3000:]}")
    to_ckpt = ckpt.stat().st_mtime - start if ckpt.is_file() else end - start
    return out, to_ckpt, end - start, usage.ru_utime + usage.ru_stime


def run_gpt2ref(cfg, seed: int, env: dict[str, str], work: Path) -> Run:
    """One gpt2ref training process."""
    out_dir = work / f"gpt2ref-{seed}"
    shutil.rmtree(out_dir, ignore_errors=True)
    env = {**env, "PYTHONPATH": str(REPO) + os.pathsep + env.get("PYTHONPATH", "")}
    _, to_ckpt, total, cpu = run_process(gpt2ref_command(cfg, out_dir, seed), REPO, env, out_dir / "ckpt.pt")
    history = read_log(out_dir / "log.csv")
    tok_s = statistics.median(r["tokens_per_sec"] for r in history if r.get("tokens_per_sec") is not None)
    tokens_per_iter = cfg.batch_size * cfg.block_size * cfg.gradient_accumulation_steps
    val = [r["val_loss"] for r in history if r.get("val_loss") is not None][-1]
    return Run("gpt2ref", seed, to_ckpt, total, cpu, 1000 * tokens_per_iter / tok_s, tok_s, val, cfg.max_iters,
               str(out_dir / "ckpt.pt"))


def run_nanogpt(cfg, nanogpt: Path, env: dict[str, str], work: Path, index: int) -> Run:
    """One nanoGPT training process (its seed is fixed at 1337 in its train.py)."""
    out_dir = work / f"nanogpt-{index}"
    shutil.rmtree(out_dir, ignore_errors=True)
    out, to_ckpt, total, cpu = run_process(nanogpt_command(cfg, out_dir), nanogpt, env, out_dir / "ckpt.pt")
    evals = re.findall(r"^step (\d+): train loss ([\d.]+), val loss ([\d.]+)", out, flags=re.MULTILINE)
    iter_ms = [float(t) for t in re.findall(r"^iter \d+: loss [\d.]+, time ([\d.]+)ms", out, flags=re.MULTILINE)]
    if not evals or not iter_ms:
        raise RuntimeError(f"could not read nanoGPT's output:\n{out[-3000:]}")
    ms = statistics.median(iter_ms)  # evaluation iterations are the outliers a median ignores
    tokens_per_iter = cfg.batch_size * cfg.block_size
    return Run("nanoGPT", 1337, to_ckpt, total, cpu, ms, 1000 * tokens_per_iter / ms, float(evals[-1][2]),
               int(evals[-1][0]), str(out_dir / "ckpt.pt"))


def print_runs(runs: list[Run]) -> None:
    """One line per run."""
    print(f"{'tool':8} {'seed':>5} {'iters':>5} {'ms/iter':>8} {'tokens/s':>9} {'to ckpt s':>10} {'process s':>10} "
          f"{'CPU s':>7} {'val loss':>9} {'full val':>9}")
    for r in runs:
        print(f"{r.tool:8} {r.seed:5d} {r.iterations:5d} {r.ms_per_iter:8.1f} {r.tokens_per_s:9.0f} "
              f"{r.to_checkpoint_s:10.1f} {r.process_s:10.1f} {r.cpu_s:7.1f} {r.val_loss:9.4f} "
              + ("" if r.full_val_loss is None else f"{r.full_val_loss:9.4f}"))


def summarize(runs: list[Run], full_recipe: bool) -> dict:
    """Medians, the wall-time ratio and the losses, printed and returned."""
    ours = [r for r in runs if r.tool == "gpt2ref"]
    theirs = [r for r in runs if r.tool == "nanoGPT"]
    med = lambda rs, key: statistics.median(getattr(r, key) for r in rs)
    mean_loss = statistics.mean(r.val_loss for r in ours)
    out = {"gpt2ref_median_to_checkpoint_s": med(ours, "to_checkpoint_s"),
           "gpt2ref_median_ms_per_iter": med(ours, "ms_per_iter"), "gpt2ref_median_tokens_per_s": med(ours, "tokens_per_s"),
           "gpt2ref_val_losses": [r.val_loss for r in ours], "gpt2ref_mean_val_loss": mean_loss}
    full = [r.full_val_loss for r in ours if r.full_val_loss is not None]
    if full:
        out["gpt2ref_full_val_losses"] = full
    print(f"\ngpt2ref: median {out['gpt2ref_median_ms_per_iter']:.1f} ms/iteration, "
          f"{out['gpt2ref_median_tokens_per_s']:,.0f} tokens/s, {out['gpt2ref_median_to_checkpoint_s']:.1f} s to the final "
          f"checkpoint; val loss {', '.join(f'{v:.4f}' for v in out['gpt2ref_val_losses'])}, mean {mean_loss:.4f}"
          + (f" (target <= {TARGET_LOSS})" if full_recipe else "")
          + (f"; on the whole validation split {', '.join(f'{v:.4f}' for v in full)}, mean {statistics.mean(full):.4f}"
             if full else ""))
    if theirs:
        for key in ("to_checkpoint_s", "process_s", "cpu_s", "ms_per_iter"):
            out[f"ratio_{key}"] = med(ours, key) / med(theirs, key)
        out.update(nanogpt_median_to_checkpoint_s=med(theirs, "to_checkpoint_s"),
                   nanogpt_median_ms_per_iter=med(theirs, "ms_per_iter"),
                   nanogpt_val_losses=[r.val_loss for r in theirs])
        print(f"nanoGPT: median {out['nanogpt_median_ms_per_iter']:.1f} ms/iteration, "
              f"{out['nanogpt_median_to_checkpoint_s']:.1f} s to the final checkpoint; val loss "
              f"{', '.join(f'{v:.4f}' for v in out['nanogpt_val_losses'])} (its seed is fixed)"
              + "".join(f"; on the whole validation split {r.full_val_loss:.4f} (checkpoint of step {r.checkpoint_step})"
                        for r in theirs[:1] if r.full_val_loss is not None))
        print(f"gpt2ref / nanoGPT, medians: wall time to the final checkpoint {out['ratio_to_checkpoint_s']:.3f}x"
              + (f" (target <= {TARGET_RATIO})" if full_recipe else "")
              + f", whole process {out['ratio_process_s']:.3f}x, CPU time {out['ratio_cpu_s']:.3f}x, "
              f"ms/iteration {out['ratio_ms_per_iter']:.3f}x")
    return out


def profile_steps(cfg, nanogpt: Path | None, steps: int = 30, rounds: int = 5) -> None:
    """Time one training step of each model in this process (alternating), then list each op's share.

    The same batch, the same thread count; nanoGPT's step is its ``train.py`` loop body on the CPU
    (forward, backward, gradient clipping, AdamW, zero_grad), on its own ``model.py`` imported from the checkout.
    """
    import contextlib
    import io

    import torch
    from torch.profiler import profile

    from gpt2ref.model import GPT
    from gpt2ref.train import keep_freed_memory, train_step

    keep_freed_memory()  # as in a training run
    torch.manual_seed(cfg.seed)
    vocab = 65  # the character vocabulary of tiny-shakespeare
    ours = GPT(cfg.model_config(vocab))
    ours_opt = ours.configure_optimizer(cfg.weight_decay, cfg.learning_rate, (cfg.beta1, cfg.beta2), "cpu")
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    x = torch.randint(0, vocab, (cfg.batch_size, cfg.block_size))
    y = torch.randint(0, vocab, (cfg.batch_size, cfg.block_size))
    steps_by_tool = {"gpt2ref": lambda: train_step(ours, ours_opt, scaler, [(x, y)], contextlib.nullcontext(), cfg.grad_clip)}
    if nanogpt is not None:
        theirs = nanogpt_gpt(nanogpt, block_size=cfg.block_size, vocab_size=vocab, n_layer=cfg.n_layer,
                             n_head=cfg.n_head, n_embd=cfg.n_embd, dropout=cfg.dropout, bias=cfg.bias)
        with contextlib.redirect_stdout(io.StringIO()):  # it prints whether AdamW is fused
            their_opt = theirs.configure_optimizers(cfg.weight_decay, cfg.learning_rate, (cfg.beta1, cfg.beta2), "cpu")

        def nanogpt_step() -> None:
            _, loss = theirs(x, y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(theirs.parameters(), cfg.grad_clip)
            their_opt.step()
            their_opt.zero_grad(set_to_none=True)

        steps_by_tool["nanoGPT"] = nanogpt_step
    times: dict[str, list[float]] = {tool: [] for tool in steps_by_tool}
    for _ in range(rounds):  # alternate, so that a busy moment of the machine hits both
        for tool, step in steps_by_tool.items():
            for _ in range(3):
                step()
            start = time.thread_time()  # this thread's CPU time: less sensitive to other processes
            for _ in range(steps):
                step()
            times[tool].append(1000 * (time.thread_time() - start) / steps)
    tables = {}
    for tool, step in steps_by_tool.items():
        with profile() as prof:
            for _ in range(steps):
                step()
        tables[tool] = {e.key: e.self_cpu_time_total / steps / 1000 for e in prof.key_averages()}
    tools = list(steps_by_tool)
    print(f"CPU ms per training step (median of {rounds} rounds of {steps}, alternating): "
          + ", ".join(f"{t} {statistics.median(times[t]):.1f}" for t in tools)
          + (f"; ratio {statistics.median(times['gpt2ref']) / statistics.median(times['nanoGPT']):.3f}x"
             if "nanoGPT" in times else ""))
    print("\nself CPU ms per step under the profiler (it inflates small ops), largest first:")
    print(f"{'op':58} " + " ".join(f"{t:>8}" for t in tools))
    keys = sorted(set().union(*tables.values()), key=lambda k: -max(tab.get(k, 0.0) for tab in tables.values()))
    for key in keys[:30]:
        print(f"{key[:58]:58} " + " ".join(f"{tables[t].get(key, 0.0):8.2f}" for t in tools))
    print(f"{'total':58} " + " ".join(f"{sum(tables[t].values()):8.2f}" for t in tools))


def main() -> None:
    """Parse the options, run the processes (alternating), print the table and the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nanogpt", type=Path, default=None, help="a nanoGPT checkout to run beside gpt2ref")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1337, 1338, 1339], help="gpt2ref seeds (1337 1338 1339)")
    parser.add_argument("--max-iters", type=int, default=None, help="fewer iterations (default: the recipe's 2000)")
    parser.add_argument("--threads", type=int, default=1, help="PyTorch threads for every run (1)")
    parser.add_argument("--jobs", type=int, default=1, help="runs at the same time (1: strictly one after another)")
    parser.add_argument("--work-dir", type=Path, default=None, help="where runs write (default: a temporary folder)")
    parser.add_argument("--json", type=Path, default=None, help="also write the runs and the summary here")
    parser.add_argument("--profile", action="store_true",
                        help="instead of training runs, time and profile single steps in this process")
    args = parser.parse_args()

    overrides = {}
    if args.max_iters is not None:  # a short run still ends with an evaluation
        overrides = {"max_iters": args.max_iters, "lr_decay_iters": args.max_iters,
                     "eval_interval": min(args.max_iters, get_preset(PRESET).eval_interval),
                     "warmup_iters": min(args.max_iters // 10, get_preset(PRESET).warmup_iters)}
    cfg = get_preset(PRESET, **overrides)
    full_recipe = args.max_iters is None
    threads = str(args.threads)
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "PYTHONUNBUFFERED": "1"}
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="gpt2ref-train-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    if args.nanogpt is not None:
        args.nanogpt = args.nanogpt.resolve()
        if REPO in (args.nanogpt, *args.nanogpt.parents):
            sys.exit("keep the nanoGPT checkout outside this repository")
        prepare_nanogpt_data(args.nanogpt)
    if args.profile:
        import torch

        torch.set_num_threads(args.threads)
        profile_steps(cfg, args.nanogpt)
        return

    jobs = []  # alternate: gpt2ref seed 1, nanoGPT, gpt2ref seed 2, nanoGPT, ...
    for i, seed in enumerate(args.seeds):
        jobs.append(lambda seed=seed: run_gpt2ref(cfg, seed, env, work))
        if args.nanogpt is not None:
            jobs.append(lambda i=i: run_nanogpt(cfg, args.nanogpt, env, work, i))
    print(f"{PRESET}: {cfg.n_layer} layers, {cfg.n_head} heads, {cfg.n_embd} wide, block {cfg.block_size}, "
          f"batch {cfg.batch_size}, {cfg.max_iters} iterations, eval every {cfg.eval_interval} on {cfg.eval_iters} "
          f"batches; {threads} thread(s) per run, {args.jobs} run(s) at a time; {len(jobs)} runs in {work}", flush=True)
    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        runs = list(pool.map(lambda job: job(), jobs))
    add_full_val_losses(runs, cfg, args.nanogpt)
    print_runs(runs)
    summary = summarize(runs, full_recipe)
    if args.json is not None:
        args.json.write_text(json.dumps({"runs": [asdict(r) for r in runs], "summary": summary,
                                         "threads": args.threads, "jobs": args.jobs, "max_iters": cfg.max_iters},
                                        indent=2))


if __name__ == "__main__":
    main()

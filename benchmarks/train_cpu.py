"""Train nanoGPT's CPU Shakespeare model (preset ``shakespeare-char-cpu``) and compare with nanoGPT's figure.

Prints the time per optimizer step, the training throughput and the final validation loss beside the
1.88 that nanoGPT's README reports for the same configuration. The full preset takes a few minutes on
two CPU cores; ``--max-iters`` shortens it (the loss is then not comparable).

    GPT2REF_SHAKESPEARE=/path/to/tinyshakespeare.txt .venv/bin/python benchmarks/train_cpu.py
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from gpt2ref.presets import get_preset
from gpt2ref.train import train

NANOGPT_VAL_LOSS = 1.88  # nanoGPT README, "I only have a macbook" run: 4 layers, 128 wide, 2000 iterations


def main() -> None:
    """Run the preset and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--max-iters", type=int, default=None, help="stop early (default: the preset's 2000)")
    parser.add_argument("--out-dir", default=None, help="where to write the checkpoint and log (default: a temp dir)")
    parser.add_argument("--progress", action="store_true", help="show the progress bar")
    args = parser.parse_args()

    out_dir = args.out_dir or tempfile.mkdtemp(prefix="gpt2ref-bench-")
    overrides = {"device": "cpu", "out_dir": out_dir, "progress": args.progress}
    if args.max_iters is not None:
        overrides["max_iters"] = args.max_iters
        overrides["lr_decay_iters"] = args.max_iters
    cfg = get_preset("shakespeare-char-cpu", **overrides)
    tokens_per_step = cfg.batch_size * cfg.gradient_accumulation_steps * cfg.block_size

    t0 = time.perf_counter()
    result = train(cfg)
    wall = time.perf_counter() - t0

    _, tok_s = result.curve("tokens_per_sec")
    median_tok_s = statistics.median(tok_s)
    ms_per_iter = 1000 * tokens_per_step / median_tok_s
    val = result.final_val_loss
    print(f"preset shakespeare-char-cpu: {result.model.num_parameters():,} parameters, {result.step} iterations "
          f"of {tokens_per_step} tokens, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"time per iteration   {ms_per_iter:8.1f} ms   (median over logged intervals, evaluation excluded)")
    print(f"training throughput  {median_tok_s:8.0f} tokens/s")
    print(f"wall time            {wall:8.1f} s   (with evaluations, data loading and the final sample)")
    print(f"final train loss     {result.final_train_loss:8.4f}")
    print(f"final val loss       {val:8.4f}   nanoGPT reports {NANOGPT_VAL_LOSS:.2f}: ratio {val / NANOGPT_VAL_LOSS:.3f}")
    print(f"log: {result.log_path}  plot: {result.plot_path}")
    print("sample:")
    print(result.sample)


if __name__ == "__main__":
    main()

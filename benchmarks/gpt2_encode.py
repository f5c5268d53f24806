"""Benchmark: encoding tiny-shakespeare with our pure-Python GPT2Tokenizer against tiktoken (Rust).

Prints throughput (MB/s of UTF-8 text, tokens/s) and the ratio to tiktoken, for our tokenizer with an
empty per-word cache ("cold", the first text it sees) and with a filled one ("warm"). Checks that every
id is identical. tiktoken runs in one thread here (``encode``), as ours does.

    python benchmarks/gpt2_encode.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from gpt2ref.gpt2_files import get_gpt2_encoding
from gpt2ref.gpt2_tokenizer import GPT2Tokenizer
from gpt2ref.shakespeare import load_shakespeare


def best_of(repeats: int, run: Callable[[], list[int]], before: Callable[[], None] = lambda: None
            ) -> tuple[float, list[int]]:
    """The fastest of ``repeats`` runs (``before`` is called untimed ahead of each), and the last result."""
    best, ids = float("inf"), []
    for _ in range(repeats):
        before()
        start = time.perf_counter()
        ids = run()
        best = min(best, time.perf_counter() - start)
    return best, ids


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    text = load_shakespeare()
    megabytes = len(text.encode("utf-8")) / 1e6
    enc = get_gpt2_encoding()
    tok = GPT2Tokenizer.load()

    t_ref, ref = best_of(args.repeats, lambda: enc.encode(text))
    t_cold, cold = best_of(args.repeats, lambda: tok.encode(text), before=tok._encode_chunk.cache_clear)
    t_warm, warm = best_of(args.repeats, lambda: tok.encode(text))
    assert cold == ref and warm == ref, "GPT2Tokenizer and tiktoken disagree"

    print(f"tiny-shakespeare: {megabytes:.3f} MB, {len(ref):,} tokens (identical ids from both), "
          f"best of {args.repeats}")
    print(f"{'tokenizer':<28} {'seconds':>8} {'MB/s':>7} {'tokens/s':>11} {'vs tiktoken':>12}")
    for name, seconds in [("tiktoken gpt2 (Rust)", t_ref), ("GPT2Tokenizer, cold cache", t_cold),
                          ("GPT2Tokenizer, warm cache", t_warm)]:
        print(f"{name:<28} {seconds:>8.3f} {megabytes / seconds:>7.2f} {len(ref) / seconds:>11,.0f} "
              f"{seconds / t_ref:>11.1f}x")
    print("(the last column is time relative to tiktoken: 2.0x means half its speed)")


if __name__ == "__main__":
    main()

"""Benchmark: BPE training on tiny-shakespeare, the fast (incremental) trainer against the teaching loop.

Both trainers must learn identical merges; the script checks that and prints the time of each and the
speed-up. The teaching loop recounts every pair for every merge, so on the whole 1.1 MB text it needs
minutes: by default both are compared on a prefix (``--chars``, 200,000 characters), and the fast trainer
is also timed alone on the whole text. ``--chars 0`` compares them on the whole text.

    python benchmarks/bpe_train.py [--chars N] [--vocab-sizes 512 1024] [--pattern gpt2]
"""

from __future__ import annotations

import argparse
import time

from gpt2ref.bpe import BPETokenizer
from gpt2ref.shakespeare import load_shakespeare


def timed_train(text: str, vocab_size: int, method: str, pattern: str | None) -> tuple[float, BPETokenizer]:
    """Seconds to train a fresh tokenizer (chunking included), and the tokenizer."""
    tok = BPETokenizer(pattern=pattern)
    start = time.perf_counter()
    tok.train(text, vocab_size, method=method)
    return time.perf_counter() - start, tok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chars", type=int, default=200_000,
                        help="compare both trainers on this many leading characters (0: the whole text)")
    parser.add_argument("--vocab-sizes", type=int, nargs="+", default=[512, 1024])
    parser.add_argument("--pattern", choices=["none", "gpt2"], default="none",
                        help="split the text with GPT-2's regex first (default: no split, like minbpe's basic)")
    args = parser.parse_args()
    pattern = None if args.pattern == "none" else args.pattern

    text = load_shakespeare()
    prefix = text if args.chars <= 0 else text[:args.chars]
    print(f"tiny-shakespeare: {len(text):,} characters; comparing on "
          f"{'the whole text' if prefix is text else f'the first {len(prefix):,} characters'}; "
          f"pattern: {args.pattern}")
    print(f"{'vocab':>6} {'chars':>10} {'merges':>7} {'teaching s':>11} {'fast s':>8} {'speed-up':>9}  merges")
    for vocab_size in args.vocab_sizes:
        t_teach, teach = timed_train(prefix, vocab_size, "teaching", pattern)
        t_fast, fast = timed_train(prefix, vocab_size, "fast", pattern)
        assert fast.history == teach.history, "fast and teaching trainers learned different merges"
        print(f"{vocab_size:>6} {len(prefix):>10,} {len(fast.history):>7} {t_teach:>11.2f} {t_fast:>8.2f} "
              f"{t_teach / t_fast:>8.1f}x  identical")
    if prefix is not text:
        print("fast trainer alone on the whole text:")
        for vocab_size in args.vocab_sizes:
            t_fast, fast = timed_train(text, vocab_size, "fast", pattern)
            ids = fast.encode(text[:100_000])
            print(f"{vocab_size:>6} {len(text):>10,} {len(fast.history):>7} {'':>11} {t_fast:>8.2f}  "
                  f"(compresses the first 100,000 characters to {len(ids):,} tokens, "
                  f"{100_000 / len(ids):.2f} characters per token)")


if __name__ == "__main__":
    main()

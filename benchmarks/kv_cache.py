"""How much the KV cache speeds up generation: tokens/s with and without it, and the ratio.

Without the cache every new token re-runs the model over the whole sequence so far; with it, each
step runs one position and reads the stored keys and values of the others. Both runs decode greedily
from the same random GPT-2-shaped model and must produce the same tokens.

    .venv/bin/python benchmarks/kv_cache.py            # GPT-2 small shape (12 layers, 768 wide), 256 tokens
    .venv/bin/python benchmarks/kv_cache.py --quick    # a small model, for a fast check
    .venv/bin/python benchmarks/kv_cache.py --threads 1  # when other jobs share the CPU
"""

from __future__ import annotations

import argparse
import time

import torch

from gpt2ref.model import GPT, GPTConfig
from gpt2ref.sampling import generate


def time_generation(model: GPT, idx: torch.Tensor, new_tokens: int, use_cache: bool) -> tuple[float, torch.Tensor]:
    """Seconds taken to generate ``new_tokens`` greedily, and the tokens."""
    if idx.device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = generate(model, idx, new_tokens, greedy=True, use_cache=use_cache)
    if idx.device.type == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def main(argv: list[str] | None = None) -> None:
    """Parse the options, run both variants once (after a short warm-up) and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a 4-layer, 256-wide model instead of GPT-2 small")
    parser.add_argument("--new-tokens", type=int, default=256, help="tokens to generate (default 256)")
    parser.add_argument("--prompt-len", type=int, default=16, help="prompt length in tokens (default 16)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or mps (default cpu)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch (default: its choice)")
    args = parser.parse_args(argv)
    if args.threads is not None:
        torch.set_num_threads(args.threads)  # on a busy shared machine, 1 thread avoids oversubscription

    if args.quick:
        config = GPTConfig(n_layer=4, n_head=4, n_embd=256)
    else:
        config = GPTConfig.from_preset("gpt2")
    if args.prompt_len + args.new_tokens > config.block_size:
        parser.error(f"prompt + new tokens must fit the context window of {config.block_size}")

    torch.manual_seed(0)
    model = GPT(config).to(args.device).eval()
    idx = torch.randint(0, config.vocab_size, (1, args.prompt_len), device=args.device)
    generate(model, idx, 4, greedy=True, use_cache=True)  # warm-up: allocator, kernels
    generate(model, idx, 4, greedy=True, use_cache=False)

    print(
        f"model: {config.n_layer} layers, {config.n_head} heads, {config.n_embd} wide, "
        f"{model.num_parameters():,} parameters; device {args.device}, {torch.get_num_threads()} threads"
    )
    print(f"prompt {args.prompt_len} tokens, generating {args.new_tokens} tokens greedily\n")
    t_plain, out_plain = time_generation(model, idx, args.new_tokens, use_cache=False)
    t_cache, out_cache = time_generation(model, idx, args.new_tokens, use_cache=True)
    plain_rate, cache_rate = args.new_tokens / t_plain, args.new_tokens / t_cache
    print(f"{'':18}{'seconds':>10}{'tokens/s':>12}")
    print(f"{'without KV cache':18}{t_plain:10.2f}{plain_rate:12.1f}")
    print(f"{'with KV cache':18}{t_cache:10.2f}{cache_rate:12.1f}")
    print(f"\nspeed-up with the cache: {cache_rate / plain_rate:.2f}x")
    print(f"same tokens: {'yes' if torch.equal(out_plain, out_cache) else 'NO'}")


if __name__ == "__main__":
    main()

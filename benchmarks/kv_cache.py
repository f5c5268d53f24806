"""Generation speed: gpt2ref against Hugging Face's ``generate``, the KV cache's speed-up, and the physical limit.

One run measures, on the same random GPT-2-shaped model (gpt2ref's weights exported to a Hugging Face
``GPT2LMHeadModel`` with :func:`gpt2ref.weights.to_hf_model`), greedy decoding of a batch of one:

- gpt2ref with its KV cache, Hugging Face's ``generate`` (with its cache), alternated, ``--repeats`` times;
- gpt2ref without the cache (every step re-runs the whole sequence), ``--plain-repeats`` times;
- the memory bandwidth of this machine, from a large tensor copy, and from it the bound: a cached step
  must read every weight once (batch one does 2 FLOPs per weight read), so tokens/s can be at most
  bandwidth / bytes read per token.

All runs must produce the same tokens. Medians are reported, so a busy machine skews the ratios less.

    .venv/bin/python benchmarks/kv_cache.py              # GPT-2 small shape (12 layers, 768 wide), 256 tokens
    .venv/bin/python benchmarks/kv_cache.py --quick      # a small model, for a fast check
    .venv/bin/python benchmarks/kv_cache.py --threads 1  # when other jobs share the CPU
    .venv/bin/python benchmarks/kv_cache.py --no-hf      # without transformers (pip install .[hf])
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from gpt2ref.model import GPT, GPTConfig
from gpt2ref.sampling import generate


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so that a timer measures it."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], torch.Tensor], device: torch.device) -> tuple[float, torch.Tensor]:
    """Seconds ``fn`` takes, and what it returns."""
    synchronize(device)
    start = time.perf_counter()
    out = fn()
    synchronize(device)
    return time.perf_counter() - start, out


def copy_bandwidth(device: torch.device, megabytes: int = 256, repeats: int = 7) -> float:
    """Bytes per second moved by copying a large float32 tensor (each byte read once and written once)."""
    src = torch.randn(megabytes * 2**20 // 4, device=device)
    dst = torch.empty_like(src)
    times = [timed(lambda: dst.copy_(src), device)[0] for _ in range(repeats)]
    return 2 * src.numel() * 4 / statistics.median(times)


def bytes_per_token(model: GPT, seq_len: float) -> float:
    """Bytes a cached decoding step reads: every weight of the blocks and the output head once, one row of
    each embedding table, and the cached keys and values of ``seq_len`` positions in every layer."""
    c = model.config
    params = model.num_parameters() - model.transformer.wpe.weight.numel()  # wte counted once, as lm_head
    element = next(model.parameters()).element_size()
    kv = 2 * c.n_layer * seq_len * c.n_embd
    return (params + 2 * c.n_embd + kv) * element


def hf_generate(hf_model, idx: torch.Tensor, new_tokens: int) -> torch.Tensor:
    """Hugging Face's greedy ``generate`` for exactly ``new_tokens`` tokens."""
    return hf_model.generate(idx, attention_mask=torch.ones_like(idx), max_new_tokens=new_tokens,
                             min_new_tokens=new_tokens, do_sample=False, num_beams=1,
                             pad_token_id=hf_model.config.eos_token_id)


def main(argv: list[str] | None = None) -> None:
    """Parse the options, run every variant after a warm-up, alternating, and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="a 4-layer, 256-wide model instead of GPT-2 small")
    parser.add_argument("--new-tokens", type=int, default=256, help="tokens to generate (default 256)")
    parser.add_argument("--prompt-len", type=int, default=16, help="prompt length in tokens (default 16)")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each cached variant (default 5)")
    parser.add_argument("--plain-repeats", type=int, default=1, help="timed runs without the cache (default 1)")
    parser.add_argument("--device", default="cpu", help="cpu, cuda or mps (default cpu)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch (default: its choice)")
    parser.add_argument("--bandwidth", type=float, default=None, metavar="GB/s",
                        help="use this memory bandwidth for the bound instead of measuring it")
    parser.add_argument("--no-hf", action="store_true", help="skip Hugging Face transformers")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.plain_repeats < 0:
        parser.error("--repeats must be >= 1 and --plain-repeats >= 0")
    if args.threads is not None:
        torch.set_num_threads(args.threads)  # on a busy shared machine, fewer threads avoid oversubscription
    device = torch.device(args.device)

    config = GPTConfig(n_layer=4, n_head=4, n_embd=256) if args.quick else GPTConfig.from_preset("gpt2")
    if args.prompt_len + args.new_tokens > config.block_size:
        parser.error(f"prompt + new tokens must fit the context window of {config.block_size}")

    torch.manual_seed(0)
    model = GPT(config).to(device).eval()
    idx = torch.randint(0, config.vocab_size, (1, args.prompt_len), device=device)
    n = args.new_tokens
    runs: dict[str, Callable[[int], torch.Tensor]] = {
        "gpt2ref, KV cache": lambda k: generate(model, idx, k, greedy=True, use_cache=True),
    }
    if not args.no_hf:
        import transformers

        from gpt2ref.weights import to_hf_model

        transformers.logging.set_verbosity_error()
        hf_model = to_hf_model(model)  # the same weights
        runs["transformers generate"] = lambda k: hf_generate(hf_model, idx, k)
    runs["gpt2ref, no cache"] = lambda k: generate(model, idx, k, greedy=True, use_cache=False)
    for fn in runs.values():  # warm-up: allocator, kernels, lazy initialisation
        fn(8)
    bandwidth = args.bandwidth * 1e9 if args.bandwidth else copy_bandwidth(device)

    print(f"model: {config.n_layer} layers, {config.n_head} heads, {config.n_embd} wide, vocab {config.vocab_size}, "
          f"{model.num_parameters():,} parameters (float32); device {device}, {torch.get_num_threads()} threads")
    print(f"prompt {args.prompt_len} tokens, {n} new tokens, greedy, batch 1; "
          f"{args.repeats} alternating repeats, medians", flush=True)

    seconds: dict[str, list[float]] = {name: [] for name in runs}
    outputs: dict[str, torch.Tensor] = {}
    cached = [name for name in runs if name != "gpt2ref, no cache"]
    for r in range(max(args.repeats, args.plain_repeats)):
        order = cached[::-1] if r % 2 else list(cached)  # alternate who goes first
        order = order if r < args.repeats else []
        if r < args.plain_repeats:
            order.append("gpt2ref, no cache")
        for name in order:
            t, outputs[name] = timed(lambda name=name: runs[name](n), device)
            seconds[name].append(t)
            print(f"  run {r + 1}: {name:24}{n / t:8.1f} tokens/s", flush=True)

    print(f"\n{'':24}{'tokens/s':>10}{'min':>8}{'max':>8}   runs")
    rate = {}
    for name, ts in seconds.items():
        if ts:
            rate[name] = n / statistics.median(ts)
            print(f"{name:24}{rate[name]:10.1f}{n / max(ts):8.1f}{n / min(ts):8.1f}   {len(ts)}")
    reference = outputs["gpt2ref, KV cache"]
    same = {name: torch.equal(out, reference) for name, out in outputs.items()}
    print("\nsame tokens as gpt2ref with the cache: "
          + ", ".join(f"{name}: {'yes' if ok else 'NO'}" for name, ok in same.items() if name != "gpt2ref, KV cache"))
    if "transformers generate" in rate:
        paired = [h / o for o, h in zip(seconds["gpt2ref, KV cache"], seconds["transformers generate"], strict=True)]
        print(f"gpt2ref / transformers: {rate['gpt2ref, KV cache'] / rate['transformers generate']:.2f}x "
              f"(median of the paired runs {statistics.median(paired):.2f}x)")
    if "gpt2ref, no cache" in rate:
        print(f"KV-cache speed-up: {rate['gpt2ref, KV cache'] / rate['gpt2ref, no cache']:.2f}x")

    per_token = bytes_per_token(model, args.prompt_len + n / 2)
    bound = bandwidth / per_token
    source = "as given" if args.bandwidth else "measured: copy of a 256 MiB tensor, bytes read + written"
    print(f"\nmemory bandwidth {bandwidth / 1e9:.1f} GB/s ({source})")
    print(f"bytes read per cached token: {per_token / 1e6:.0f} MB (every weight once, plus the KV cache at the "
          f"mean length {args.prompt_len + n / 2:.0f})")
    print(f"bandwidth bound: at most {bound:.1f} tokens/s; "
          + ", ".join(f"{name} reaches {rate[name] / bound:.0%}" for name in cached))


if __name__ == "__main__":
    main()

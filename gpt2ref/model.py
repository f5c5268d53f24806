"""The GPT-2 model: configuration, MLP, transformer block and the full language model (chapter 6).

The layout and parameter names follow OpenAI's GPT-2 as published on Hugging Face
(``transformer.wte``, ``transformer.wpe``, ``transformer.h.{i}``, ``transformer.ln_f``, ``lm_head``),
so the released weights load one to one (see :mod:`gpt2ref.weights`; only GPT-2's Conv1D layers
store their matrices transposed).
"""

from __future__ import annotations

import functools
import inspect
import math
from dataclasses import dataclass, fields, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from gpt2ref.attention import CausalSelfAttention
from gpt2ref.embeddings import embed
from gpt2ref.kv_cache import KVCache


@dataclass
class GPTConfig:
    """Hyper-parameters of a GPT-2 model; the defaults are GPT-2 small (124M parameters)."""

    block_size: int = 1024  # context window: the number of learned positions
    vocab_size: int = 50257  # 50,000 BPE merges + 256 byte tokens + <|endoftext|>
    n_layer: int = 12  # transformer blocks
    n_head: int = 12  # attention heads per block
    n_embd: int = 768  # width of the residual stream (C)
    dropout: float = 0.0  # GPT-2 trained with 0.1; 0.0 for fine-tuning and inference
    bias: bool = True  # biases in Linear layers and LayerNorms, as in GPT-2
    use_sdpa: bool = True  # fused F.scaled_dot_product_attention instead of the explicit formula
    layer_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        for name in ("block_size", "vocab_size", "n_layer", "n_head", "n_embd"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"GPTConfig.{name} must be a positive integer, got {value!r}")
        if self.n_embd % self.n_head != 0:
            raise ValueError(
                f"GPTConfig.n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head}): "
                "each head gets n_embd // n_head dimensions"
            )
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GPTConfig.dropout must be in [0, 1), got {self.dropout}")
        if not self.layer_norm_eps > 0:
            raise ValueError(f"GPTConfig.layer_norm_eps must be positive, got {self.layer_norm_eps}")

    @property
    def head_size(self) -> int:
        """Dimensions per attention head (hs = C / nh)."""
        return self.n_embd // self.n_head

    @classmethod
    def from_preset(cls, name: str, **overrides: Any) -> GPTConfig:
        """A named configuration ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl", "tiny", "mini"), optionally changed."""
        if name not in PRESETS:
            raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise ValueError(f"unknown GPTConfig field(s) {unknown}; known fields: {sorted(known)}")
        return replace(PRESETS[name], **overrides)


PRESETS: dict[str, GPTConfig] = {
    "gpt2": GPTConfig(n_layer=12, n_head=12, n_embd=768),  # 124M
    "gpt2-medium": GPTConfig(n_layer=24, n_head=16, n_embd=1024),  # 350M
    "gpt2-large": GPTConfig(n_layer=36, n_head=20, n_embd=1280),  # 774M
    "gpt2-xl": GPTConfig(n_layer=48, n_head=25, n_embd=1600),  # 1558M
    "tiny": GPTConfig(block_size=64, n_layer=2, n_head=2, n_embd=64),  # for tests: a few million parameters
    "mini": GPTConfig(block_size=256, n_layer=4, n_head=4, n_embd=128),  # trains on a laptop CPU
}


_GELU_C = math.sqrt(2.0 / math.pi)  # GPT-2's GELU: 0.5 x (1 + tanh(c (x + a x^3)))
_GELU_A = 0.044715
_LOG2_E = 1.0 / math.log(2.0)


def _sigmoid_of_2u(x: torch.Tensor) -> torch.Tensor:
    """``sigmoid(2u)`` for GPT-2's GELU, u = c (x + a x^3), as ``1 / (1 + 2^(-2u log2 e))``.

    PyTorch's CPU ``exp2`` is about twice as fast as its ``exp`` or ``sigmoid``; every step but the
    first works in place. 2^(+large) = inf gives exactly 0.
    """
    k = -2 * _GELU_C * _LOG2_E  # -2u log2(e) = k x (1 + a x^2)
    s = torch.addcmul(torch.full((), k, dtype=x.dtype), x, x, value=k * _GELU_A).mul_(x)  # -2u log2(e)
    return s.exp2_().add_(1.0).reciprocal_()


class _SigmoidTanhGELU(torch.autograd.Function):
    """GPT-2's GELU written as ``x * sigmoid(2u)``: the same function, as (1 + tanh u) / 2 = sigmoid(2u)."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor) -> torch.Tensor:
        s = _sigmoid_of_2u(x)
        y = x * s
        ctx.save_for_backward(x, s, y)  # y is kept anyway by the next Linear: no extra memory
        return y

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> torch.Tensor:
        x, s, y = ctx.saved_tensors
        # d/dx [x s] = s + x s (1 - s) d(2u)/dx = s + (y - y s) d, with d = 2c (1 + 3a x^2), as sigmoid' = s (1 - s)
        d = torch.addcmul(torch.full((), 2 * _GELU_C, dtype=x.dtype), x, x, value=6 * _GELU_C * _GELU_A)
        d.clamp_(max=torch.finfo(d.dtype).max)  # x^2 = inf beyond |x| ~ 1e19, where y (1 - s) is 0: keep 0 * d finite
        return torch.addcmul(y, y, s, value=-1).mul_(d).add_(s).mul_(grad)


class TanhGELU(nn.GELU):
    """``nn.GELU(approximate="tanh")``, GPT-2's activation, with a faster path for fp32 on the CPU.

    PyTorch's CPU kernel for the tanh form costs three times the exact GELU's per element (its tanh is
    slow) and was a sixth of a small model's training step; ``x * sigmoid(2u)`` with a hand-written
    backward computes the same function (to float rounding) in a third of the time
    (``benchmarks/train_cpu.py --profile`` shows it). Without gradients, a few elements at a time
    (generating one token) use PyTorch's single kernel, which then costs less than several small ones;
    so do other devices.
    """

    SMALL = 16384  # below this many elements, one kernel call beats the several of the sigmoid form

    def __init__(self) -> None:
        super().__init__(approximate="tanh")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """GELU of each element, any shape."""
        if x.device.type != "cpu" or x.dtype not in (torch.float32, torch.float64):
            return F.gelu(x, approximate="tanh")
        if torch.is_grad_enabled() and x.requires_grad:
            return _SigmoidTanhGELU.apply(x)  # its gradient also stays finite where PyTorch's is nan (|x| > 1e19)
        if x.numel() < self.SMALL:
            return F.gelu(x, approximate="tanh")
        return _sigmoid_of_2u(x).mul_(x)  # no gradient needed: no autograd bookkeeping, one allocation


@functools.cache
def fused_adamw_available(device_type: str) -> bool:
    """Whether this PyTorch has a fused AdamW (one kernel for every parameter) on ``device_type``.

    CUDA has had one since PyTorch 2.0 and the CPU since 2.4; it computes the same update as the
    ``foreach`` loop, about four times faster for a small model on the CPU.
    """
    if device_type not in ("cuda", "cpu") or "fused" not in inspect.signature(torch.optim.AdamW).parameters:
        return False
    if device_type == "cuda":
        return True
    try:  # older PyTorch refuses CPU tensors when the optimizer is built
        torch.optim.AdamW([torch.zeros(1, requires_grad=True)], fused=True)
    except RuntimeError:
        return False
    return True


class MLP(nn.Module):
    """The feed-forward part of a block: widen to 4C, GELU, project back to C."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = TanhGELU()  # GPT-2 used the tanh approximation of GELU
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, T, C) -> (B, T, C), each position on its own."""
        x = self.c_fc(x)  # (B, T, 4C)
        x = self.gelu(x)
        x = self.c_proj(x)  # (B, T, C)
        return self.dropout(x)


class OutputHead(nn.Linear):
    """The output layer, C -> V scores, without a bias: an ``nn.Linear`` that scores a token or two faster on the CPU.

    Generating reads the whole (V, C) matrix for one row of scores: a matrix-vector product bound by
    memory bandwidth. PyTorch's CPU kernel reads the (V, C) layout at about half the speed of the
    transposed (C, V) one, so without gradients a few rows are scored against a contiguous (C, V)
    copy, made once and remade whenever the weights change (it costs the memory of a second table).
    """

    FEW_ROWS = 8  # up to this many rows of input (a batch of last positions) use the transposed copy

    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__(in_features, out_features, bias=False)
        self._transposed: tuple[torch.Tensor, int, int, torch.Tensor] | None = None  # weight, version, address, copy

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., C) -> (..., V)."""
        w = self.weight
        if torch.is_grad_enabled() or x.device.type != "cpu" or x.numel() > self.FEW_ROWS * x.size(-1):
            return F.linear(x, w)
        cached = self._transposed
        if cached is None or cached[0] is not w or cached[1] != w._version or cached[2] != w.data_ptr():
            cached = self._transposed = (w, w._version, w.data_ptr(), w.detach().t().contiguous())  # copy: (C, V)
        return x @ cached[3]


class Block(nn.Module):
    """One transformer block, pre-norm: ``x + attn(ln_1(x))``, then ``x + mlp(ln_2(x))``."""

    def __init__(self, config: GPTConfig, layer_idx: int = 0) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)
        self.attn = CausalSelfAttention(config, layer_idx=layer_idx)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x: torch.Tensor, kv_cache: KVCache | None = None) -> torch.Tensor:
        """(B, T, C) -> (B, T, C): tokens exchange information (attention), then each one thinks (MLP)."""
        x = x + self.attn(self.ln_1(x), kv_cache=kv_cache)
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):
    """GPT-2: embeddings, ``n_layer`` blocks, a final LayerNorm and an output head tied to the token table."""

    def __init__(self, config: GPTConfig) -> None:
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(
            dict(
                wte=nn.Embedding(config.vocab_size, config.n_embd),  # token embedding (V, C)
                wpe=nn.Embedding(config.block_size, config.n_embd),  # position embedding (block_size, C)
                drop=nn.Dropout(config.dropout),
                h=nn.ModuleList([Block(config, layer_idx=i) for i in range(config.n_layer)]),
                ln_f=nn.LayerNorm(config.n_embd, eps=config.layer_norm_eps, bias=config.bias),
            )
        )
        self.lm_head = OutputHead(config.n_embd, config.vocab_size)
        # Weight tying: the output head reuses the token table, so a token's input vector and its
        # output "score direction" are one and the same (saves 38.6M parameters in GPT-2 small).
        self.transformer.wte.weight = self.lm_head.weight
        self.init_weights()

    def init_weights(self) -> None:
        """GPT-2's random initialisation (skipped on the "meta" device, whose tensors hold no values)."""
        if self.lm_head.weight.is_meta:
            return
        self.apply(self._init_weights)
        # GPT-2: scale the layers that write into the residual stream by 1/sqrt(number of such layers)
        for name, param in self.named_parameters():
            if name.endswith("c_proj.weight"):
                nn.init.normal_(param, mean=0.0, std=0.02 / math.sqrt(2 * self.config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        """GPT-2's initialisation: normal(0, 0.02) weights, zero biases (LayerNorms keep ones and zeros)."""
        if isinstance(module, nn.Linear):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def _input_vectors(self, idx: torch.Tensor, start: int = 0) -> torch.Tensor:
        """The embeddings (B, T, C) of ``idx`` (B, T) at positions ``start ..``, after dropout; checks the shape."""
        if idx.dim() != 2:
            raise ValueError(f"idx must have shape (B, T), got {tuple(idx.shape)}; add a batch dimension with idx[None]")
        T = idx.size(1)
        if start + T > self.config.block_size:
            raise ValueError(
                f"cannot process {start + T} positions: the model's context window (block_size) is "
                f"{self.config.block_size}; crop the input to its last {self.config.block_size} tokens "
                "(gpt2ref.sampling.generate does this for you)"
            )
        x = embed(idx, self.transformer.wte, self.transformer.wpe, pos_offset=start)  # (B, T, C)
        return self.transformer.drop(x)

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        kv_cache: KVCache | None = None,
        last_only: bool = False,
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """Next-token logits (B, T, V) for token ids ``idx`` (B, T), and the mean cross-entropy if ``targets`` given.

        Targets equal to -1 are ignored. With ``kv_cache``, ``idx`` holds only the new tokens and the
        cached ones are attended to as well. ``last_only`` computes the logits of the last position
        only, (B, 1, V): all that generation needs, and the output head is the costliest layer.
        """
        if targets is not None and last_only:
            raise ValueError("a loss needs the logits of every position: do not combine targets with last_only")
        start = 0 if kv_cache is None else kv_cache.pos  # positions already in the cache (chapter 7)
        x = self._input_vectors(idx, start)  # token + position embeddings (chapters 3-4), dropout: (B, T, C)
        for block in self.transformer.h:
            x = block(x, kv_cache=kv_cache)  # (B, T, C)
        x = self.transformer.ln_f(x)  # (B, T, C)
        if last_only:
            x = x[:, -1:, :]  # (B, 1, C)
        logits = self.lm_head(x)  # (B, T, V), or (B, 1, V) with last_only
        if kv_cache is not None:
            kv_cache.advance(idx.size(1))

        loss = None
        if targets is not None:
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-1)
        return logits, loss

    def hidden_states(self, idx: torch.Tensor) -> list[torch.Tensor]:
        """The residual stream (B, T, C) at each depth, as Hugging Face's ``output_hidden_states`` gives it.

        ``n_layer + 1`` tensors: the embeddings, the output of blocks 0 .. n_layer - 2, and the output
        of the last block after the final LayerNorm ``ln_f``.
        """
        x = self._input_vectors(idx)  # (B, T, C)
        states = [x]
        for block in self.transformer.h:
            x = block(x)
            states.append(x)
        states[-1] = self.transformer.ln_f(x)
        return states

    @torch.no_grad()
    def attention_maps(self, idx: torch.Tensor) -> torch.Tensor:
        """Every head's attention weights for ``idx`` (B, T): (n_layer, B, nh, T, T), each row summing to 1.

        The blocks run as in :meth:`forward`; each attention layer takes the explicit path
        (``return_weights=True``), the only one that keeps its weights. Call it in eval mode (no dropout).
        """
        x = self._input_vectors(idx)  # (B, T, C)
        maps = []
        for block in self.transformer.h:
            y, weights = block.attn(block.ln_1(x), return_weights=True)  # weights: (B, nh, T, T)
            maps.append(weights)
            x = x + y
            x = x + block.mlp(block.ln_2(x))  # the rest of Block.forward
        return torch.stack(maps)  # (n_layer, B, nh, T, T)

    def new_kv_cache(self, max_len: int | None = None) -> KVCache:
        """An empty KV cache for this model: one slot per layer, ``max_len`` positions (at most block_size)."""
        block_size = self.config.block_size
        return KVCache(self.config.n_layer, block_size if max_len is None else min(max_len, block_size))

    def num_parameters(self, non_embedding: bool = False) -> int:
        """Number of parameters, the tied token table counted once.

        ``non_embedding=True`` leaves out the token and position tables (the count used by scaling laws).
        """
        n = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n -= self.transformer.wte.weight.numel() + self.transformer.wpe.weight.numel()
        return n

    def parameter_table(self) -> list[tuple[str, int]]:
        """Where the parameters live: rows of (component, count) that sum to :meth:`num_parameters`."""
        L = self.config.n_layer
        groups = {"tok": 0, "pos": 0, "attn": 0, "mlp": 0, "ln": 0, "head": 0}
        for name, p in self.named_parameters():  # a shared tensor is listed once
            if name == "transformer.wte.weight":
                groups["tok"] += p.numel()
            elif name == "transformer.wpe.weight":
                groups["pos"] += p.numel()
            elif ".attn." in name:
                groups["attn"] += p.numel()
            elif ".mlp." in name:
                groups["mlp"] += p.numel()
            elif ".ln_" in name:
                groups["ln"] += p.numel()
            elif name.startswith("lm_head."):
                groups["head"] += p.numel()  # only when the head is not tied to wte
            else:
                raise RuntimeError(f"parameter {name} belongs to no component of the table")
        tied = self.lm_head.weight is self.transformer.wte.weight
        rows = [
            ("token embedding wte" + (" (shared with lm_head)" if tied else ""), groups["tok"]),
            ("position embedding wpe", groups["pos"]),
            (f"attention c_attn + c_proj ({L} x {groups['attn'] // L:,})", groups["attn"]),
            (f"MLP c_fc + c_proj ({L} x {groups['mlp'] // L:,})", groups["mlp"]),
            (f"layer norms ln_1 + ln_2 per block, ln_f ({2 * L + 1} x {self.config.n_embd * (1 + self.config.bias):,})", groups["ln"]),
        ]
        if not tied:
            rows.append(("output head lm_head", groups["head"]))
        return rows

    def configure_optimizer(
        self, weight_decay: float, learning_rate: float, betas: tuple[float, float], device_type: str
    ) -> torch.optim.AdamW:
        """AdamW with weight decay on matrices and embeddings (>= 2-D) only, never on biases and LayerNorms."""
        params = [p for p in self.parameters() if p.requires_grad]
        decay = [p for p in params if p.dim() >= 2]
        no_decay = [p for p in params if p.dim() < 2]
        groups = [
            {"params": decay, "weight_decay": weight_decay},
            {"params": no_decay, "weight_decay": 0.0},
        ]
        extra = {"fused": True} if fused_adamw_available(device_type) else {}
        return torch.optim.AdamW(groups, lr=learning_rate, betas=betas, **extra)

    def estimate_flops_per_token(self, seq_len: int | None = None) -> int:
        """Training FLOPs (forward + backward) per token: 6N for the weights plus 12 L C T for attention.

        N counts every weight used in a matrix product (the token table twice over as the output head,
        the position table not at all); T defaults to block_size. The formula is PaLM's (appendix B).
        """
        T = self.config.block_size if seq_len is None else seq_len
        N = self.num_parameters() - self.transformer.wpe.weight.numel()
        return 6 * N + 12 * self.config.n_layer * self.config.n_embd * T

    def estimate_mfu(self, tokens_per_second: float, peak_flops: float, seq_len: int | None = None) -> float:
        """Model FLOPs utilisation: achieved training FLOP/s as a fraction of the hardware's ``peak_flops``."""
        return self.estimate_flops_per_token(seq_len) * tokens_per_second / peak_flops

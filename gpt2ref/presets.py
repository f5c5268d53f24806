"""Training configurations: one dataclass of every knob, and named presets for the course's runs.

``shakespeare-char`` and ``shakespeare-char-cpu`` are nanoGPT's Shakespeare character models (GPU and
laptop sizes), ``course-char`` is the course's own model (see :mod:`gpt2ref.course_model`), ``smoke``
finishes in well under a minute on a CPU, and ``gpt2-shakespeare`` fine-tunes OpenAI's GPT-2 (124M) on
Shakespeare with the GPT-2 tokenizer.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from gpt2ref.model import GPTConfig


@dataclass
class TrainConfig:
    """Everything a training run depends on; any field can be overridden from the command line."""

    # data
    tokenizer: str = "char"  # "char" (65 characters) or "gpt2" (GPT-2's 50,257 BPE tokens)
    # model (ignored, except block_size and dropout, when starting from pretrained GPT-2 weights)
    init: str = "scratch"  # "scratch" (random weights) or a released GPT-2 of gpt2ref.model.PRESETS: "gpt2", ...
    n_layer: int = 6  # transformer blocks
    n_head: int = 6  # attention heads per block
    n_embd: int = 384  # width of the residual stream
    block_size: int = 256  # context length T of the training windows
    dropout: float = 0.0  # dropout probability while training (0.2 for the small char model)
    bias: bool = False  # biases in Linear layers and LayerNorms (GPT-2 has them)
    # batch: batch_size * gradient_accumulation_steps * world_size sequences per optimizer step
    batch_size: int = 64  # micro-batch per process
    gradient_accumulation_steps: int = 1  # micro-batches per optimizer step, per process
    # AdamW and the learning-rate schedule
    learning_rate: float = 1e-3  # peak, reached after warmup
    min_lr: float = 1e-4  # floor at the end of the cosine decay
    weight_decay: float = 0.1  # on matrices and embeddings only
    beta1: float = 0.9  # AdamW's momentum coefficient
    beta2: float = 0.99  # AdamW's second-moment coefficient (0.99 for small batches, 0.95 for GPT-2)
    grad_clip: float = 1.0  # clip the gradient's global norm to this; 0 disables
    decay_lr: bool = True  # warmup + cosine decay; off: constant learning_rate
    warmup_iters: int = 100  # steps of linear warmup
    lr_decay_iters: int | None = None  # step where the decay reaches min_lr (none: max_iters)
    max_iters: int = 5000  # optimizer steps in the whole run
    # evaluation, logging, checkpoints
    eval_interval: int = 250  # estimate train and val loss every this many steps
    eval_iters: int = 200  # batches per loss estimate
    log_interval: int = 10  # log loss, lr and throughput every this many steps
    checkpoint_interval: int = 250  # save ckpt.pt every this many steps (also at the end and on Ctrl-C)
    out_dir: str = "out"  # folder for ckpt.pt, log.csv, loss.png, sample.txt
    resume: bool = False  # continue from out_dir/ckpt.pt
    sample_tokens: int = 300  # length of the text sample printed at the end (0: none)
    sample_prompt: str = "\n"  # prompt of the final sample
    # system
    device: str = "auto"  # "auto", "cpu", "cuda", "cuda:1", "mps"
    dtype: str = "auto"  # "auto" (bf16 on CUDA, fp16 on old CUDA, fp32 elsewhere), "float32", "bfloat16", "float16"
    compile: bool = False  # torch.compile the model
    seed: int = 1337  # seeds the weights, the batches and dropout
    progress: bool = True  # tqdm progress bar

    def __post_init__(self) -> None:
        self.model_config(vocab_size=1)  # the model's shape is checked once, where GPTConfig is built
        positive = ("batch_size", "gradient_accumulation_steps", "max_iters", "eval_interval", "eval_iters",
                    "log_interval", "checkpoint_interval")
        for name in positive:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name} must be a positive integer, got {value!r}")
        if self.tokenizer not in ("char", "gpt2"):
            raise ValueError(f"tokenizer must be 'char' or 'gpt2', got {self.tokenizer!r}")
        if self.init != "scratch" and not self.init.startswith("gpt2"):  # the sizes are checked when loading
            raise ValueError(f"init must be 'scratch' or a released GPT-2 ('gpt2', 'gpt2-medium', ...), got {self.init!r}")
        if self.init != "scratch" and self.tokenizer != "gpt2":
            raise ValueError(f"init={self.init!r} loads GPT-2's weights, which need tokenizer='gpt2'")
        if not 0.0 <= self.min_lr <= self.learning_rate:
            raise ValueError(f"need 0 <= min_lr <= learning_rate, got min_lr={self.min_lr}, "
                             f"learning_rate={self.learning_rate}")
        if self.warmup_iters < 0 or self.grad_clip < 0 or self.weight_decay < 0 or self.sample_tokens < 0:
            raise ValueError("warmup_iters, grad_clip, weight_decay and sample_tokens must not be negative")
        if not (0.0 <= self.beta1 < 1.0 and 0.0 <= self.beta2 < 1.0):
            raise ValueError(f"AdamW betas must be in [0, 1), got ({self.beta1}, {self.beta2})")
        if self.decay_lr and self.warmup_iters >= self.decay_iters:
            raise ValueError(f"warmup_iters ({self.warmup_iters}) must be smaller than lr_decay_iters "
                             f"({self.decay_iters}) when decay_lr is on")
        if self.dtype not in ("auto", "float32", "bfloat16", "float16"):
            raise ValueError(f"dtype must be auto, float32, bfloat16 or float16, got {self.dtype!r}")

    def model_config(self, vocab_size: int) -> GPTConfig:
        """The GPTConfig of a model trained from scratch under this configuration."""
        from gpt2ref.model import GPTConfig  # here, so that reading presets does not import torch

        return GPTConfig(block_size=self.block_size, vocab_size=vocab_size, n_layer=self.n_layer,
                         n_head=self.n_head, n_embd=self.n_embd, dropout=self.dropout, bias=self.bias)

    @property
    def decay_iters(self) -> int:
        """The step at which the cosine decay reaches min_lr."""
        return self.max_iters if self.lr_decay_iters is None else self.lr_decay_iters

    def to_dict(self) -> dict:
        """The configuration as a plain dict (what checkpoints store)."""
        return dataclasses.asdict(self)

    def replace(self, **changes: object) -> TrainConfig:
        """A copy with some fields changed (validated); unknown field names are a ValueError."""
        known = {f.name for f in fields(self)}
        unknown = sorted(set(changes) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig field(s) {', '.join(unknown)}")
        return dataclasses.replace(self, **changes)


PRESETS: dict[str, TrainConfig] = {
    # nanoGPT's "baby GPT" (config/train_shakespeare_char.py): 10.7M parameters, ~1.47 val loss after
    # about 3 minutes on one A100.
    "shakespeare-char": TrainConfig(
        n_layer=6, n_head=6, n_embd=384, block_size=256, dropout=0.2, batch_size=64,
        learning_rate=1e-3, min_lr=1e-4, max_iters=5000, lr_decay_iters=5000, warmup_iters=100, beta2=0.99,
        eval_interval=250, eval_iters=200, log_interval=10, checkpoint_interval=250,
    ),
    # nanoGPT's CPU variant of the same run (README, "I only have a macbook"): 0.8M parameters,
    # ~1.88 val loss after 2000 iterations.
    "shakespeare-char-cpu": TrainConfig(
        n_layer=4, n_head=4, n_embd=128, block_size=64, dropout=0.0, batch_size=12,
        learning_rate=1e-3, min_lr=1e-4, max_iters=2000, lr_decay_iters=2000, warmup_iters=100, beta2=0.99,
        eval_interval=250, eval_iters=20, log_interval=10, checkpoint_interval=250,
    ),
    # A quick end-to-end check of the whole pipeline: well under a minute on a CPU, ~2.5 val loss
    # (words start to appear).
    "smoke": TrainConfig(
        n_layer=2, n_head=4, n_embd=64, block_size=64, dropout=0.0, batch_size=16,
        learning_rate=3e-3, min_lr=3e-4, max_iters=200, warmup_iters=10, beta2=0.99,
        eval_interval=50, eval_iters=10, log_interval=10, checkpoint_interval=100, sample_tokens=200,
    ),
    # The course's own character model (gpt2ref.course_model): nanoGPT's CPU recipe with twice the learning
    # rate and 2,500 steps instead of 2,000, sized to train in well under 5 minutes on 2 CPU cores.
    # Every chapter that needs a trained model and has no GPT-2 uses it.
    "course-char": TrainConfig(
        n_layer=4, n_head=4, n_embd=128, block_size=64, dropout=0.0, batch_size=12,
        learning_rate=2e-3, min_lr=2e-4, max_iters=2500, lr_decay_iters=2500, warmup_iters=100, beta2=0.99,
        eval_interval=250, eval_iters=20, log_interval=50, checkpoint_interval=2000, sample_tokens=0,
    ),
    # Fine-tune OpenAI's GPT-2 small on Shakespeare (after nanoGPT's finetune_shakespeare.py):
    # 32 sequences of 1024 tokens per step, a small constant learning rate, 20 steps (~2 epochs).
    # --init scratch trains the same architecture from random weights instead.
    "gpt2-shakespeare": TrainConfig(
        tokenizer="gpt2", init="gpt2", n_layer=12, n_head=12, n_embd=768, block_size=1024, bias=True,
        dropout=0.0, batch_size=8, gradient_accumulation_steps=4, learning_rate=3e-5, min_lr=3e-5,
        decay_lr=False, warmup_iters=0, beta2=0.95, max_iters=20, eval_interval=5, eval_iters=40,
        log_interval=1, checkpoint_interval=10, sample_prompt="ROMEO:",
    ),
}


def get_preset(name: str, **overrides: object) -> TrainConfig:
    """The preset called ``name`` with ``overrides`` applied; ValueError listing the presets if unknown."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {', '.join(PRESETS)}")
    return PRESETS[name].replace(**overrides)

"""A small random GPT for the widget tests (tests/test_widgets.py, tests/test_widgets_browser.py)."""

from __future__ import annotations

import torch

from gpt2ref.char_tokenizer import CharTokenizer
from gpt2ref.model import GPT, GPTConfig

ALPHABET = "\n !',.:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


def tiny_model(n_layer: int = 2, n_head: int = 2) -> tuple[GPT, CharTokenizer]:
    """A random GPT over a character alphabet, its logits spread out so that the sampling filters cut something."""
    torch.manual_seed(0)
    tok = CharTokenizer(ALPHABET)
    model = GPT(GPTConfig(n_layer=n_layer, n_head=n_head, n_embd=32, block_size=48, vocab_size=tok.vocab_size,
                          dropout=0.0))
    with torch.no_grad():
        model.lm_head.weight.mul_(40)  # tied to wte: sharper logits than a fresh model's near-uniform ones
    return model.eval(), tok

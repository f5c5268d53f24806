"""Every diagram drawn with data computed here from gpt2ref: what the tests check and previews show.

The chapters draw the same diagrams with their own variables (the chapter's bigram model, its toy
attention vectors); the data here are computed the same way, so every diagram can be checked alone.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from gpt2ref.bigram import BigramModel, count_bigrams
from gpt2ref.char_tokenizer import CharTokenizer
from gpt2ref.model import GPTConfig
from gpt2ref.presets import get_preset
from gpt2ref.shakespeare import load_shakespeare

from . import attention, embeddings, generation, model, tokens, training
from .data import loop_steps
from .figure import Diagram

WORDS = ["The", "cat", "sat", "on", "the", "mat", "because", "it"]


def _loop() -> Diagram:
    text = load_shakespeare()
    tok = CharTokenizer.from_text(text)
    ids = torch.tensor(tok.encode(text))
    bigram = BigramModel(count_bigrams(ids[: int(0.9 * len(ids))], tok.vocab_size), smoothing=1.0)
    steps = loop_steps(lambda so_far: bigram.probs[so_far[-1]], tok.encode("ROMEO:\nI love th"),
                       lambda i: tok.decode([i]), n_steps=3, seed=0)
    return generation.autoregressive_loop(steps, "bigram\nmodel")


def _query() -> Diagram:
    g = torch.Generator().manual_seed(0)
    keys = torch.randint(0, 3, (len(WORDS), 3), generator=g).float() / 2
    values = torch.randint(0, 3, (len(WORDS), 2), generator=g).float() / 2
    return attention.query_key_value(WORDS, keys, torch.tensor([2.0, 0.0, 1.0]), values,
                                     ["noun", "verb", "recent"], ["soft", "animal"])


def _mask() -> Diagram:
    return attention.causal_mask(WORDS[:5], torch.randn(5, 5, generator=torch.Generator().manual_seed(0)))


def _train() -> Diagram:
    vocab = CharTokenizer.from_text(load_shakespeare()).vocab_size
    return training.training_loop(get_preset("shakespeare-char-cpu"), vocab)


GPT2 = GPTConfig.from_preset("gpt2")
EXAMPLES: dict[str, Callable[[], Diagram]] = {
    "autoregressive-loop": _loop,
    "bpe-merges": lambda: tokens.bpe_merges(" unhappiness"),
    "embedding-lookup": lambda: embeddings.embedding_lookup("Hello world!", GPT2),
    "token-plus-position": lambda: embeddings.token_plus_position("The dog bit the man.", GPT2),
    "query-key-value": _query,
    "causal-mask": _mask,
    "attention-heads": lambda: attention.attention_heads(GPT2),
    "transformer-block": lambda: model.transformer_block(GPT2),
    "gpt2-model": lambda: model.gpt2_model(GPT2, "The cat sat"),
    "kv-cache": lambda: generation.kv_cache(GPT2, "The cat sat on"),
    "training-loop": _train,
}


def examples() -> list[Diagram]:
    """All the diagrams, in the order of the chapters."""
    return [make() for make in EXAMPLES.values()]

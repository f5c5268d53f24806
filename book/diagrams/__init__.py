"""The book's explanatory diagrams, drawn as SVG from code at build time.

Each function returns a :class:`Diagram` (SVG, alt text, caption) that a chapter shows as a figure;
``svg`` holds the shared style and primitives, ``data`` the numbers taken from gpt2ref.
"""

from .attention import attention_heads, causal_mask, query_key_value
from .embeddings import embedding_lookup, token_plus_position
from .figure import ALT_PREFIX, FIGURE_CLASS, Diagram
from .generation import autoregressive_loop, kv_cache
from .model import gpt2_model, transformer_block
from .tokens import bpe_merges
from .training import training_loop

__all__ = [
    "ALT_PREFIX", "FIGURE_CLASS", "Diagram", "attention_heads", "autoregressive_loop", "bpe_merges",
    "causal_mask", "embedding_lookup", "gpt2_model", "kv_cache", "query_key_value", "token_plus_position",
    "training_loop", "transformer_block",
]

"""gpt2ref: the reference GPT-2 that the gpt2-from-scratch course builds, one module per chapter.

Importing the package is cheap; each piece lives in its own module:

- ``gpt2ref.bigram``: next-word prediction with a counting bigram model (chapter 1)
- ``gpt2ref.char_tokenizer``, ``gpt2ref.bpe``, ``gpt2ref.gpt2_tokenizer``: tokenization (chapter 2)
- ``gpt2ref.embeddings``: token and position embeddings (chapters 3 and 4)
- ``gpt2ref.attention``: causal multi-head self-attention (chapter 5)
- ``gpt2ref.model``: the transformer block and the full model (chapter 6)
- ``gpt2ref.sampling``: generation, temperature, top-k, top-p, the KV cache (chapter 7)
- ``gpt2ref.data``, ``gpt2ref.train``: training on Shakespeare (chapter 8)
"""

__version__ = "0.1.0"

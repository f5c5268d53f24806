"""gpt2ref: the reference GPT-2 that the gpt2-from-scratch course builds, one module per piece a chapter builds.

Importing the package is cheap; each piece lives in its own module.

Lessons (what the chapters build, in chapter order):

- ``gpt2ref.bigram``: next-word prediction with a counting bigram model, cross-entropy, perplexity (chapter 1)
- ``gpt2ref.char_tokenizer``: one token per character (chapter 2)
- ``gpt2ref.bpe``: byte-level BPE, trained from scratch, and the tokenizer core it shares with GPT-2's (chapter 2)
- ``gpt2ref.gpt2_tokenizer``: GPT-2's tokenizer, the same BPE with OpenAI's merges (chapter 2)
- ``gpt2ref.embeddings``: token and position embeddings (chapters 3 and 4)
- ``gpt2ref.attention``: causal multi-head self-attention (chapter 5)
- ``gpt2ref.model``: the configuration, the transformer block and the full model (chapter 6)
- ``gpt2ref.weights``: OpenAI's GPT-2 weights in and out of the model (chapter 6)
- ``gpt2ref.sampling``: the generation loop, temperature, top-k, top-p, text from a model (chapter 7)
- ``gpt2ref.kv_cache``: the KV cache that makes each generated token cost one position (chapter 7)
- ``gpt2ref.data``: Shakespeare as token ids, the train/validation split, batches (chapter 8)
- ``gpt2ref.train``: the training loop, on a CPU, one GPU or many (chapter 8)
- ``gpt2ref.checkpoint``: checkpoints that resume a run exactly, and the model a checkpoint holds (chapter 8)
- ``gpt2ref.presets``: the training configuration and the course's named runs (chapter 8)
- ``gpt2ref.course_model``: the course's stand-in model that the chapters show, trained once and cached

Plumbing (no lesson of its own; each says so in its first line):

- ``gpt2ref.device``: picking CUDA, MPS or the CPU and the precision, at run time
- ``gpt2ref.cache``: where downloaded and derived files live, written atomically
- ``gpt2ref.shakespeare``, ``gpt2ref.gpt2_files``: finding, fetching and verifying the data files
- ``gpt2ref.cli``, ``gpt2ref.__main__``: the ``gpt2ref`` command (train, sample, presets)

Course tooling (not GPT-2): ``gpt2ref.course``, the subpackage for grading checks, the learner's
self-check, the nbgrader runner and the book's widgets.
"""

__version__ = "0.1.0"

"""The book's pages, read from their notebooks: every idea of the two explainers in its chapter, and pages
that show only what teaches (build checks hidden, figures described, each chapter closing the same way).

The explainers are ``shared/seeds/gpt2-explainer.txt`` and ``shared/seeds/illustrated-gpt2-notes.txt``
(outside the repository); their ideas are listed here once, each with the chapter that must cover it and
the words that show it does.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
CHAPTERS = [
    "01_next_word_prediction", "02_tokenization", "03_embeddings", "04_positions",
    "05_attention", "06_transformer", "07_sampling", "08_training",
]
CLOSING = "09_closing"
EXERCISES = {
    "01_next_word_prediction": "01_next_word/next_word.ipynb",
    "02_tokenization": "02_tokenization/tokenization.ipynb",
    "03_embeddings": "03_embeddings/embeddings.ipynb",
    "04_positions": "04_positions/positions.ipynb",
    "05_attention": "05_attention/attention.ipynb",
    "06_transformer": "06_transformer/transformer.ipynb",
    "07_sampling": "07_sampling/sampling.ipynb",
    "08_training": "08_training/training.ipynb",
}

# (idea of an explainer, chapter that covers it, patterns that must all appear in that chapter's text)
IDEAS = [
    ("a language model predicts the next token", "01_next_word_prediction", [r"next", r"probabilit"]),
    ("a distribution, not an answer", "01_next_word_prediction", [r"distribution, not an answer"]),
    ("the 'mat 25%' table is only illustrative", "01_next_word_prediction", [r"mat 25%", r"illustration"]),
    ("the loop: predict, sample, append, repeat", "01_next_word_prediction", [r"predict.*sample.*append.*repeat"]),
    ("auto-regression", "01_next_word_prediction", [r"auto-regressi"]),
    ("characters vs words as tokens", "02_tokenization", [r"\*\*characters\*\*", r"\*\*words\*\*"]),
    ("byte-pair encoding merges frequent pairs", "02_tokenization", [r"byte-pair encoding", r"most frequent pair"]),
    ("50,257 = 256 bytes + 50,000 merges + 1 special", "02_tokenization", [r"50\{,\}257 = 256 \+ 50\{,\}000 \+ 1"]),
    ("the space goes with the next word", "02_tokenization", [r'" world"', r"leading space"]),
    ("unknown words are split into known pieces", "02_tokenization", [r"unhappiness"]),
    ("the embedding matrix is a lookup table", "03_embeddings", [r"lookup table", r"one row per token"]),
    ("768 numbers per token, ~31% of the parameters", "03_embeddings", [r"768", r"ch3_share"]),
    ("similar tokens get similar vectors", "03_embeddings", [r"cat.*dog", r"king - man \+ woman"]),
    ("gradient descent", "03_embeddings", [r"gradient descent", r"learning rate"]),
    ("backpropagation", "03_embeddings", [r"backpropagation", r"chain rule"]),
    ("softmax defined at its first use", "03_embeddings", [r"\\operatorname\{softmax\}\(z\)_i = "]),
    ("word order matters: the dog bit the man", "04_positions", [r"dog bit the man", r"man bit the dog"]),
    ("position embeddings added to token embeddings", "04_positions", [r"wte", r"wpe", r"\+"]),
    ("what does 'it' refer to", "05_attention", [r"because it was", r'"it"']),
    ("recurrent networks pass information step by step", "05_attention", [r"recurrent"]),
    ("query, key and value", "05_attention", [r"\*\*query\*\*", r"\*\*key\*\*", r"\*\*value\*\*"]),
    ("multi-head attention, 12 heads", "05_attention", [r"\*\*heads\*\*", r"ch5_nh"]),
    ("the causal mask: no peeking", "05_attention", [r"causal mask", r"no peeking"]),
    ("'The cat sat' traced through the model", "06_transformer", [r"The cat sat"]),
    ("identical blocks, each with its own weights", "06_transformer", [r"identical blocks, each with its own weights"]),
    ("masked self-attention then a feed-forward network", "06_transformer", [r"MLP", r"feed-forward"]),
    ("the final LayerNorm", "06_transformer", [r"final LayerNorm", r"ln_f"]),
    ("dropout", "06_transformer", [r"\*\*Dropout\*\*", r"model\.eval\(\)"]),
    ("projection to 50,257 scores, tied weights", "06_transformer", [r"weight tying", r"50,257"]),
    ("greedy decoding vs sampling", "07_sampling", [r"\*\*greedy\*\*", r"\*\*samples\*\*"]),
    ("temperature reshapes the distribution", "07_sampling", [r"\*\*Temperature\*\*"]),
    ("sampling from the top candidates", "07_sampling", [r"top-k", r"top-p"]),
    ("the training loop", "08_training", [r"training loop", r"backward"]),
    ("the final model beats the bigram baseline", "08_training", [r"Did we beat the bigram", r"ch8_bigram_val"]),
    ("decoder-only vs the encoder-decoder transformer", CLOSING, [r"decoder-only", r"encoder"]),
    ("GPT-2 vs BERT: left to right vs both sides", CLOSING, [r"BERT", r"left-to-right|left to right",
                                                             r"both sides"]),
    ("WebText, 40 GB", CLOSING, [r"WebText", r"40 GB"]),
    ("scale: one design from 124M to 1.5B parameters", CLOSING, [r"gpt2-xl|gpt2_xl", r"one design"]),
    ("not a database of answers", CLOSING, [r"not looking answers up", r"database"]),
    ("not understanding in a human sense", CLOSING, [r"not understanding"]),
    ("not thinking step by step unless prompted", CLOSING, [r"not thinking step by step"]),
    ("not magic: matrix multiplications", CLOSING, [r"not magic"]),
    ("where to go next", CLOSING, [r"Where to go next", r"nanoGPT"]),
]


def notebook(name: str) -> nbformat.NotebookNode:
    return nbformat.read(BOOK / f"{name}.ipynb", as_version=4)


def prose(name: str) -> str:
    """The text a reader sees in a chapter: its markdown and its visible code."""
    nb = notebook(name)
    return "\n".join(c.source for c in nb.cells if c.cell_type == "markdown" or not hidden(c))


def hidden(cell: nbformat.NotebookNode) -> bool:
    return bool({"remove-cell", "remove-input"} & set(cell.metadata.get("tags", [])))


@pytest.mark.parametrize(("idea", "chapter", "patterns"), IDEAS, ids=[i[0] for i in IDEAS])
def test_every_idea_of_the_explainers_is_in_its_chapter(idea: str, chapter: str, patterns: list[str]):
    text = prose(chapter)
    for pattern in patterns:
        assert re.search(pattern, text, re.I | re.S), f"{chapter} does not cover {idea!r} (no /{pattern}/)"


def test_softmax_is_not_used_before_it_is_defined():
    for chapter in CHAPTERS[:2]:
        assert "softmax" not in prose(chapter).lower(), f"{chapter} uses the softmax before chapter 3 defines it"
    text = prose("03_embeddings")
    first_use = text.lower().index("softmax")
    assert first_use >= text.index("## Watching embeddings learn"), "softmax used before its section"


@pytest.mark.parametrize("name", [*CHAPTERS, CLOSING])
def test_build_checks_and_glue_calls_are_hidden_from_the_reader(name: str):
    """glue() and the helpers' machinery run in removed cells; a visible assert is one the text teaches."""
    for cell in notebook(name).cells:
        if cell.cell_type != "code" or hidden(cell):
            continue
        assert not re.search(r"\bglue(_text|_number)?\(", cell.source), f"{name}: visible glue in\n{cell.source}"
        assert "_Plain" not in cell.source and "from myst_nb" not in cell.source, name
        asserts = [line for line in cell.source.splitlines() if line.lstrip().startswith("assert ")]
        assert len(asserts) <= 3, f"{name}: {len(asserts)} build checks left visible in\n{cell.source}"


@pytest.mark.parametrize("name", [*CHAPTERS, CLOSING])
def test_every_plotting_cell_describes_its_figure(name: str):
    for cell in notebook(name).cells:
        if cell.cell_type == "code" and "plt.show()" in cell.source:
            alt = cell.metadata.get("mystnb", {}).get("image", {}).get("alt", "")
            assert len(alt) > 40, f"{name}: a figure without alt text (mystnb.image.alt):\n{cell.source[:200]}"


@pytest.mark.parametrize("name", CHAPTERS)
def test_each_chapter_ends_with_summary_questions_and_its_exercise(name: str):
    nb = notebook(name)
    tail = "\n".join(c.source for c in nb.cells[-4:] if c.cell_type == "markdown")
    assert "## What we built" in tail, f"{name}: no summary at the end"
    assert 3 <= tail.count(":::{dropdown} Answer") <= 5, f"{name}: needs 3 to 5 questions with answers"
    exercise = f"exercises/{EXERCISES[name]}"
    assert (ROOT / exercise).is_file(), exercise
    assert f"]({'https://'}" in tail and exercise in tail, f"{name}: no link to {exercise}"
    assert f"python -m gpt2ref.course.selfcheck {exercise}" in tail, f"{name}: no self-check command"


def test_the_closing_chapter_asks_its_questions():
    assert 3 <= prose(CLOSING).count(":::{dropdown} Answer") <= 5


@pytest.mark.parametrize("name", [*CHAPTERS, CLOSING])
def test_citations_name_entries_of_the_bibliography(name: str):
    keys = set(re.findall(r"^@\w+\{([^,]+),", (BOOK / "references.bib").read_text(), re.M))
    cited = re.findall(r"\{cite\}`([^`]+)`", prose(name))
    for group in cited:
        for key in group.split(","):
            assert key.strip() in keys, f"{name} cites {key!r}, which references.bib lacks"


def test_the_bibliography_lists_the_works_the_course_relies_on():
    bib = (BOOK / "references.bib").read_text()
    for title in ["Language Models are Unsupervised Multitask Learners", "Attention Is All You Need",
                  "The Illustrated {GPT-2}", "Subword Units", "Layer Normalization", "Gaussian Error Linear",
                  "Decoupled Weight Decay", "Output Embedding", "Neural Text Degeneration", "{nanoGPT}"]:
        assert title in bib, title
    cited = set()
    for name in [*CHAPTERS, CLOSING]:
        for group in re.findall(r"\{cite\}`([^`]+)`", prose(name)):
            cited |= {k.strip() for k in group.split(",")}
    assert cited == set(re.findall(r"^@\w+\{([^,]+),", bib, re.M)), "every entry is cited, every citation listed"

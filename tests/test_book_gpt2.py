"""The chapters' GPT-2 branch runs: every chapter that shows GPT-2 executes with a GPT-2-small-shaped model.

A reader with OpenAI's weights takes a path through the chapters that the offline build never takes.
This test builds a Hugging Face folder with GPT-2 small's exact shapes and random weights (nothing is
committed or downloaded), points ``GPT2REF_HF_GPT2`` at it, and executes those chapters' code cells in
one kernel, so that no cell a reader meets has never run. Random weights carry no meaning: the chapters
assert semantic properties only on the course model, and describe GPT-2's from its numbers.
"""

from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
CHAPTERS = ("02_tokenization", "03_embeddings", "04_positions", "05_attention", "06_transformer", "07_sampling")


@pytest.fixture(scope="module")
def random_gpt2_folder(tmp_path_factory) -> Path:
    transformers = pytest.importorskip("transformers")
    import torch

    folder = tmp_path_factory.mktemp("random-gpt2-small")
    torch.manual_seed(0)
    transformers.GPT2LMHeadModel(transformers.GPT2Config()).save_pretrained(folder)  # 124M, GPT-2 small
    return folder


def chapters_as_one_notebook() -> nbformat.NotebookNode:
    """The code cells of every chapter, in order, as one notebook (one kernel: imports happen once)."""
    merged = nbformat.v4.new_notebook()
    merged.metadata = nbformat.read(ROOT / "book" / f"{CHAPTERS[0]}.ipynb", as_version=4).metadata
    for chapter in CHAPTERS:
        nb = nbformat.read(ROOT / "book" / f"{chapter}.ipynb", as_version=4)
        merged.cells.append(nbformat.v4.new_code_cell(f"print('=== chapter {chapter}')"))
        merged.cells += [c for c in nb.cells if c.cell_type == "code"]
    return merged


def test_the_chapters_gpt2_branch_runs_on_gpt2_small_shapes(random_gpt2_folder, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("GPT2REF_HF_GPT2", str(random_gpt2_folder))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))  # the kernel imports this checkout's gpt2ref
    monkeypatch.setenv("OMP_NUM_THREADS", "2")
    nb = chapters_as_one_notebook()
    NotebookClient(nb, timeout=900, kernel_name="python3", resources={"metadata": {"path": str(ROOT / "book")}}).execute()

    text = "\n".join(out.get("text", "") for cell in nb.cells for out in cell.get("outputs", []))
    for chapter in CHAPTERS:
        assert f"=== chapter {chapter}" in text
    # every chapter that names its model named GPT-2, never the stand-in
    assert text.count("OpenAI's GPT-2 (124M), 124M parameters") >= 5, text[-3000:]
    assert "course's character model" not in text
    assert "largest |difference| between our logits and Hugging Face's" in text

"""The course model (gpt2ref.course_model): trained once, cached safely, and behind one book interface.

Training the real recipe takes minutes, so these tests train a tiny variant of it (a few steps) in a
temporary cache: what they check is the caching, not the quality.
"""

import threading
import time

import pytest
import torch

import gpt2ref.course_model as cm
from gpt2ref.course_model import (
    CourseModelError,
    book_model,
    cache_key,
    course_model_path,
    course_train_config,
    load_course_model,
)
from gpt2ref.model import GPT, GPTConfig
from gpt2ref.presets import get_preset

TINY = dict(n_layer=1, n_head=2, n_embd=16, block_size=16, batch_size=4, max_iters=4, lr_decay_iters=4,
            warmup_iters=1, eval_interval=2, eval_iters=1)


@pytest.fixture
def cache(tmp_path, monkeypatch, shakespeare_file):
    monkeypatch.setenv("GPT2REF_CACHE", str(tmp_path))
    return tmp_path


@pytest.fixture
def training_runs(monkeypatch):
    """Counts the training runs (the real trainer still runs)."""
    runs = []
    real = cm.train_course_model

    def counted(cfg, progress=False):
        runs.append(cfg)
        return real(cfg, progress)

    monkeypatch.setattr(cm, "train_course_model", counted)
    return runs


def test_the_cache_key_names_what_shapes_the_weights_and_nothing_else():
    cfg = course_train_config()
    assert cache_key(cfg) == cache_key(cfg.replace(progress=True, out_dir="elsewhere", device="cpu"))
    assert cache_key(cfg) != cache_key(cfg.replace(max_iters=cfg.max_iters + 1))
    assert cache_key(cfg) != cache_key(cfg.replace(seed=cfg.seed + 1))


def test_the_recipe_is_at_least_nanogpts_cpu_run():
    cfg, nano = course_train_config(), get_preset("shakespeare-char-cpu")
    assert cfg.tokenizer == "char" and cfg.init == "scratch"
    tokens = cfg.max_iters * cfg.batch_size * cfg.block_size
    assert tokens >= nano.max_iters * nano.batch_size * nano.block_size
    assert (cfg.n_layer, cfg.n_embd) >= (nano.n_layer, nano.n_embd)


def test_trained_once_then_read_from_the_cache(cache, training_runs):
    first = load_course_model(**TINY)
    assert len(training_runs) == 1 and first.path == course_model_path(course_train_config(**TINY))
    assert first.path.parent == cache / "models" and not first.model.training
    assert [row["iter"] for row in first.history] == [0, 2, 4]
    assert first.val_loss == first.history[-1]["val_loss"] and first.train_seconds > 0
    assert first.train_config["max_iters"] == 4 and first.tokenizer.vocab_size == first.config.vocab_size == 65

    again = load_course_model(**TINY)
    assert len(training_runs) == 1  # read, not retrained
    assert torch.equal(again.model.lm_head.weight, first.model.lm_head.weight)
    assert again.val_loss == first.val_loss and again.history == first.history
    with pytest.raises(CourseModelError, match="not cached"):
        load_course_model(train=False, **{**TINY, "seed": 7})


@pytest.mark.parametrize("damage", ["flip a byte", "truncate", "empty"])
def test_a_damaged_cache_file_is_trained_again(cache, training_runs, damage):
    path = load_course_model(**TINY).path
    data = bytearray(path.read_bytes())
    if damage == "flip a byte":
        data[len(data) // 2] ^= 0xFF
    elif damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data = bytearray()
    path.write_bytes(bytes(data))
    with pytest.warns(UserWarning, match="training the course model again"):
        model = load_course_model(**TINY)
    assert len(training_runs) == 2 and model.val_loss > 0
    assert load_course_model(**TINY).val_loss == model.val_loss and len(training_runs) == 2


def test_two_builders_at_once_train_it_only_once(cache, monkeypatch):
    runs = []
    real = cm.train_course_model

    def slow(cfg, progress=False):
        runs.append(cfg)
        time.sleep(0.5)  # long enough for the other builder to reach the lock
        return real(cfg, progress)

    monkeypatch.setattr(cm, "train_course_model", slow)
    results = []
    builders = [threading.Thread(target=lambda: results.append(load_course_model(**TINY))) for _ in range(2)]
    for b in builders:
        b.start()
    for b in builders:
        b.join()
    assert len(runs) == 1 and len(results) == 2
    assert torch.equal(results[0].model.lm_head.weight, results[1].model.lm_head.weight)
    assert not list((cache / "models").glob("*.tmp"))


def test_the_book_shows_the_course_model_when_gpt2_is_absent(cache, monkeypatch):
    import gpt2ref.weights

    monkeypatch.setattr(gpt2ref.weights, "load_gpt2", lambda **kwargs: None)
    tiny = load_course_model(**TINY)
    monkeypatch.setattr(cm, "load_course_model", lambda: tiny)
    book = book_model(download=False)
    assert not book.is_gpt2 and book.name == cm.COURSE_NAME and book.model is tiny.model
    ids = book.encode("To be")
    assert book.decode(ids) == "To be" and book.token_strings(ids) == list("To be") and book.vocab_size == 65
    assert "course's character model" in book.description and f"{tiny.val_loss:.2f}" in book.description
    table = book.next_token_table("To b", k=3)
    assert len(table) == 3 and all(0 <= p <= 1 for _, p in table) and table[0][1] >= table[-1][1]


def test_the_book_shows_gpt2_when_it_is_here(monkeypatch):
    import gpt2ref.weights

    gpt2 = GPT(GPTConfig(block_size=32, n_layer=1, n_head=2, n_embd=16)).eval()  # GPT-2's vocabulary
    asked = {}
    monkeypatch.setattr(gpt2ref.weights, "load_gpt2", lambda **kwargs: asked.update(kwargs) or gpt2)
    monkeypatch.setenv("GPT2REF_NO_DOWNLOAD", "1")
    book = book_model()
    assert asked == {"download": False, "required": False}
    assert book.is_gpt2 and book.model is gpt2 and book.vocab_size == 50257
    ids = book.encode("Hello world!")
    assert ids == [15496, 995, 0] and book.token_strings(ids) == ["Hello", " world", "!"]
    assert book.decode(ids) == "Hello world!" and book.description.startswith("OpenAI's GPT-2 (124M)")

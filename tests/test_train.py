"""gpt2ref.train and gpt2ref.presets: the schedule, the step, the loop, its files, and exact resumption."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from gpt2ref.checkpoint import CheckpointError, load_checkpoint
from gpt2ref.model import GPT, GPTConfig
from gpt2ref.presets import PRESETS, TrainConfig, get_preset
from gpt2ref.train import (
    PretrainedWeightsError,
    StopRequest,
    lr_at,
    plot_history,
    pretrained_model,
    read_log,
    train,
    train_step,
)

ROOT = Path(__file__).resolve().parents[1]
DETERMINISTIC = ("step", "train_loss", "val_loss", "eval_train_loss", "lr", "grad_norm")  # not timings


@pytest.fixture(scope="module", autouse=True)
def shared_cache(tmp_path_factory: pytest.TempPathFactory, shakespeare_file: Path) -> Iterator[Path]:
    """One token cache for the module (tokenizing once), and the local tiny-shakespeare."""
    cache = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GPT2REF_CACHE", str(cache))
        mp.setenv("GPT2REF_SHAKESPEARE", str(shakespeare_file))
        yield cache


def tiny(out_dir: Path, **changes: object) -> TrainConfig:
    """A model of a few thousand parameters that trains in a second; dropout on, so RNG state matters."""
    base = dict(n_layer=1, n_head=2, n_embd=16, block_size=16, batch_size=4, dropout=0.1, max_iters=12,
                lr_decay_iters=12, warmup_iters=2, learning_rate=1e-2, min_lr=1e-3, eval_interval=6, eval_iters=2,
                log_interval=1, checkpoint_interval=4, device="cpu", progress=False, sample_tokens=0,
                out_dir=str(out_dir))
    return get_preset("smoke", **{**base, **changes})


def same_rows(a: list[dict], b: list[dict]) -> bool:
    """Histories agree on every loss, learning rate and gradient norm (timings aside)."""
    strip = lambda rows: [{k: r.get(k) for k in DETERMINISTIC} for r in rows]
    return strip(a) == strip(b)


def max_weight_difference(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> float:
    """Largest absolute difference between two state dicts with the same keys."""
    assert a.keys() == b.keys()
    return max((a[k].float() - b[k].float()).abs().max().item() for k in a)


# ----------------------------------------------------------------------------- presets


def test_the_char_presets_are_nanogpts_shakespeare_runs() -> None:
    gpu, cpu = PRESETS["shakespeare-char"], PRESETS["shakespeare-char-cpu"]
    assert (gpu.n_layer, gpu.n_head, gpu.n_embd, gpu.block_size, gpu.batch_size) == (6, 6, 384, 256, 64)
    assert (gpu.dropout, gpu.learning_rate, gpu.min_lr, gpu.max_iters, gpu.warmup_iters, gpu.beta2) == (
        0.2, 1e-3, 1e-4, 5000, 100, 0.99)
    assert (cpu.n_layer, cpu.n_head, cpu.n_embd, cpu.block_size, cpu.batch_size, cpu.max_iters) == (
        4, 4, 128, 64, 12, 2000)
    assert (cpu.dropout, cpu.learning_rate, cpu.min_lr, cpu.warmup_iters, cpu.beta2, cpu.eval_iters) == (
        0.0, 1e-3, 1e-4, 100, 0.99, 20)


def test_the_gpt2_preset_fine_tunes_pretrained_gpt2_with_its_tokenizer() -> None:
    cfg = PRESETS["gpt2-shakespeare"]
    assert (cfg.tokenizer, cfg.init, cfg.n_layer, cfg.n_embd, cfg.bias) == ("gpt2", "gpt2", 12, 768, True)


@pytest.mark.parametrize("changes, message", [
    (dict(n_head=5), "divisible"),
    (dict(max_iters=0), "max_iters must be a positive integer"),
    (dict(tokenizer="words"), "tokenizer"),
    (dict(init="gpt2"), "tokenizer='gpt2'"),
    (dict(min_lr=1.0), "min_lr"),
    (dict(warmup_iters=100, max_iters=50), "warmup_iters"),
    (dict(dtype="float8"), "dtype"),
    (dict(dropout=1.0), "dropout"),
])
def test_bad_settings_are_refused_with_a_reason(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        get_preset("smoke", **changes)


def test_unknown_presets_and_fields_are_refused() -> None:
    with pytest.raises(ValueError, match="choose one of"):
        get_preset("shakespeare-word")
    with pytest.raises(ValueError, match="unknown TrainConfig field"):
        get_preset("smoke", layers=3)


# ----------------------------------------------------------------------------- the pieces


def test_the_learning_rate_warms_up_linearly_then_follows_half_a_cosine() -> None:
    cfg = TrainConfig(learning_rate=1.0, min_lr=0.1, warmup_iters=10, max_iters=110)
    assert lr_at(0, cfg) == pytest.approx(1 / 11)
    assert lr_at(4, cfg) == pytest.approx(5 / 11)
    assert lr_at(10, cfg) == pytest.approx(1.0)  # peak when warmup ends
    assert lr_at(60, cfg) == pytest.approx(0.55)  # half way: the mean of peak and floor
    assert lr_at(35, cfg) == pytest.approx(0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi / 4)))
    assert lr_at(110, cfg) == pytest.approx(0.1) == lr_at(500, cfg)
    lrs = [lr_at(s, cfg) for s in range(10, 111)]
    assert all(a >= b for a, b in zip(lrs, lrs[1:], strict=False))


def test_without_decay_the_learning_rate_is_constant() -> None:
    cfg = TrainConfig(learning_rate=3e-5, min_lr=3e-5, decay_lr=False, warmup_iters=0, max_iters=20)
    assert {lr_at(s, cfg) for s in range(30)} == {3e-5}


def two_models() -> tuple[GPT, GPT]:
    torch.manual_seed(0)
    a = GPT(GPTConfig(block_size=8, vocab_size=13, n_layer=1, n_head=2, n_embd=8))
    b = GPT(a.config)
    b.load_state_dict(a.state_dict())
    return a, b


def test_accumulating_micro_batches_gives_the_update_of_one_big_batch() -> None:
    a, b = two_models()
    x, y = torch.randint(13, (6, 8)), torch.randint(13, (6, 8))
    opt_a, opt_b = (torch.optim.SGD(m.parameters(), lr=0.5) for m in (a, b))  # the update is the gradient
    scaler = torch.amp.GradScaler("cpu", enabled=False)
    for _ in range(3):
        loss_a, _ = train_step(a, opt_a, scaler, [(x[:2], y[:2]), (x[2:4], y[2:4]), (x[4:], y[4:])],
                               torch.autocast("cpu", enabled=False))
        loss_b, _ = train_step(b, opt_b, scaler, [(x, y)], torch.autocast("cpu", enabled=False))
        assert loss_a.item() == pytest.approx(loss_b.item(), abs=1e-6)
    assert max_weight_difference(a.state_dict(), b.state_dict()) < 1e-6


def test_a_step_reports_the_gradient_norm_before_clipping_and_clips_to_the_limit() -> None:
    a, b = two_models()
    x, y = torch.randint(13, (4, 8)), torch.randint(13, (4, 8))
    b(x, y)[1].backward()
    expected = torch.cat([p.grad.flatten() for p in b.parameters()]).norm()
    opt = torch.optim.SGD(a.parameters(), lr=1.0)
    before = {k: v.clone() for k, v in a.state_dict().items()}
    _, norm = train_step(a, opt, torch.amp.GradScaler("cpu", enabled=False), [(x, y)],
                         torch.autocast("cpu", enabled=False), grad_clip=1e-3)
    assert norm.item() == pytest.approx(expected.item(), rel=1e-5)
    moved = torch.cat([(a.state_dict()[k] - before[k]).flatten() for k in before if k != "lm_head.weight"])
    assert moved.norm().item() == pytest.approx(1e-3, rel=1e-3)  # SGD with lr 1: the step is the clipped gradient


# ----------------------------------------------------------------------------- the loop


def test_a_run_learns_and_writes_checkpoint_log_plot_and_sample(tmp_path: Path) -> None:
    cfg = tiny(tmp_path / "run", max_iters=30, lr_decay_iters=None, eval_interval=10, dropout=0.0,
               sample_tokens=40, sample_prompt="ROMEO:")
    result = train(cfg)
    assert not result.interrupted and result.step == 30
    val = result.curve("val_loss")
    assert val[0] == [0, 10, 20, 30]
    assert val[1][0] == pytest.approx(math.log(65), abs=0.1)  # untrained: about uniform over 65 characters
    assert result.final_val_loss < val[1][0] - 0.5
    assert load_checkpoint(result.checkpoint_path)["step"] == 30
    assert same_rows(read_log(result.log_path), result.history)
    assert result.plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert result.sample.startswith("ROMEO:") and len(result.sample) == len("ROMEO:") + 40
    assert (tmp_path / "run" / "sample.txt").read_text() == result.sample
    steps = [r["step"] for r in result.history]
    assert steps == list(range(31))  # step 0 (evaluation only), then one row per logged step


def test_stopping_and_resuming_ends_with_the_weights_and_losses_of_an_uninterrupted_run(tmp_path: Path) -> None:
    reference = train(tiny(tmp_path / "ref"))
    train(tiny(tmp_path / "split", max_iters=6))  # lr_decay_iters fixed at 12: the same schedule
    resumed = train(tiny(tmp_path / "split", resume=True))
    assert resumed.step == 12
    assert same_rows(resumed.history, reference.history)
    assert max_weight_difference(resumed.model.state_dict(), reference.model.state_dict()) <= 1e-6


def test_resuming_with_a_different_batch_size_is_refused(tmp_path: Path) -> None:
    train(tiny(tmp_path / "run", max_iters=2))
    with pytest.raises(CheckpointError, match="batch_size"):
        train(tiny(tmp_path / "run", batch_size=8, resume=True))


def test_resuming_without_a_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        train(tiny(tmp_path / "empty", resume=True))


def test_bf16_autocast_trains_on_the_cpu(tmp_path: Path) -> None:
    result = train(tiny(tmp_path / "bf16", dtype="bfloat16", dropout=0.0))
    val = result.curve("val_loss")[1]
    assert all(math.isfinite(v) for v in val) and val[-1] < val[0]


def test_fp16_trains_with_a_grad_scaler_whose_state_is_checkpointed(tmp_path: Path) -> None:
    result = train(tiny(tmp_path / "fp16", dtype="float16", dropout=0.0))
    val = result.curve("val_loss")[1]
    assert all(math.isfinite(v) for v in val) and val[-1] < val[0]
    scaler = load_checkpoint(result.checkpoint_path)["scaler"]
    assert scaler is not None and scaler["scale"] > 0


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # raised inside torch's compiler stack
def test_a_compiled_model_trains_like_the_eager_one_and_saves_unprefixed_weights(tmp_path: Path) -> None:
    eager = train(tiny(tmp_path / "eager", max_iters=3, dropout=0.0, eval_interval=3))
    compiled = train(tiny(tmp_path / "compiled", max_iters=3, dropout=0.0, eval_interval=3, compile=True))
    state = load_checkpoint(compiled.checkpoint_path)["model"]
    assert not any(k.startswith("_orig_mod.") for k in state)
    assert state.keys() == eager.model.state_dict().keys()
    assert compiled.final_val_loss == pytest.approx(eager.final_val_loss, abs=1e-4)
    assert max_weight_difference(state, eager.model.state_dict()) < 1e-4


# ----------------------------------------------------------------------------- signals (in subprocesses)

KILL_SCRIPT = """
import json, os, signal, sys
from gpt2ref.presets import TrainConfig
from gpt2ref.train import train

cfg = TrainConfig(**json.loads(sys.argv[1]))
at_step, sig = int(sys.argv[2]), getattr(signal, sys.argv[3])

def on_step(step, row):
    if step == at_step:
        os.kill(os.getpid(), sig)

result = train(cfg, on_step=on_step)
print(json.dumps({"interrupted": result.interrupted, "step": result.step, "signal": result.stop_signal}))
"""


def run_and_signal(cfg: TrainConfig, at_step: int, sig: str) -> subprocess.CompletedProcess:
    """Train ``cfg`` in a fresh Python that sends itself ``sig`` after optimizer step ``at_step``."""
    return subprocess.run([sys.executable, "-c", KILL_SCRIPT, json.dumps(cfg.to_dict()), str(at_step), sig],
                          capture_output=True, text=True, timeout=240, cwd=ROOT, env=dict(os.environ))


@pytest.mark.slow
def test_ctrl_c_saves_a_checkpoint_and_resuming_matches_the_uninterrupted_run(tmp_path: Path) -> None:
    reference = train(tiny(tmp_path / "ref"))
    cfg = tiny(tmp_path / "stopped")
    proc = run_and_signal(cfg, at_step=7, sig="SIGINT")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout.splitlines()[-1]) == {"interrupted": True, "step": 7, "signal": "SIGINT"}
    assert load_checkpoint(tmp_path / "stopped" / "ckpt.pt")["step"] == 7  # saved at once, not at step 8
    resumed = train(replace(cfg, resume=True))
    assert same_rows(resumed.history, reference.history)
    assert max_weight_difference(resumed.model.state_dict(), reference.model.state_dict()) <= 1e-6


@pytest.mark.slow
def test_after_a_kill_the_last_periodic_checkpoint_resumes_to_the_uninterrupted_result(tmp_path: Path) -> None:
    reference = train(tiny(tmp_path / "ref"))
    cfg = tiny(tmp_path / "killed")
    proc = run_and_signal(cfg, at_step=7, sig="SIGKILL")
    assert proc.returncode == -9
    files = sorted(p.name for p in (tmp_path / "killed").iterdir())
    assert "ckpt.pt" in files and not [f for f in files if f.endswith(".tmp")]
    assert load_checkpoint(tmp_path / "killed" / "ckpt.pt")["step"] == 4  # checkpoint_interval=4
    resumed = train(replace(cfg, resume=True))
    assert same_rows(resumed.history, reference.history)
    assert same_rows(read_log(resumed.log_path), reference.history)  # rows logged after step 4 were replaced
    assert max_weight_difference(resumed.model.state_dict(), reference.model.state_dict()) <= 1e-6


def test_a_first_ctrl_c_asks_to_stop_a_second_one_aborts_and_handlers_are_restored() -> None:
    before = signal.getsignal(signal.SIGINT)
    with StopRequest() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.signal_name == "SIGINT"
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
    assert signal.getsignal(signal.SIGINT) is before


# ----------------------------------------------------------------------------- pretrained GPT-2


def test_missing_pretrained_weights_say_what_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    import gpt2ref.weights

    def missing(*args: object, **kwargs: object) -> None:
        raise gpt2ref.weights.WeightsError("GPT-2 'gpt2' is not on this machine; point GPT2REF_HF_GPT2 at a folder.")

    monkeypatch.setattr(gpt2ref.weights, "load_gpt2", missing)
    with pytest.raises(PretrainedWeightsError, match="--init scratch") as info:
        pretrained_model("gpt2", block_size=256, dropout=0.0)
    assert "GPT2REF_HF_GPT2" in str(info.value)


def test_pretrained_weights_are_cropped_to_the_training_context(monkeypatch: pytest.MonkeyPatch) -> None:
    import gpt2ref.weights

    small = GPTConfig(block_size=32, vocab_size=50, n_layer=2, n_head=2, n_embd=16)
    torch.manual_seed(0)
    source = GPT(small)
    monkeypatch.setattr(gpt2ref.weights, "load_gpt2", lambda *a, **k: source)
    model = pretrained_model("gpt2", block_size=8, dropout=0.1)
    assert model.config.block_size == 8 and model.config.dropout == 0.1
    assert torch.equal(model.transformer.wpe.weight, source.transformer.wpe.weight[:8])
    assert torch.equal(model.lm_head.weight, source.lm_head.weight)
    with pytest.raises(ValueError, match="exceeds"):
        pretrained_model("gpt2", block_size=64, dropout=0.0)


@pytest.mark.slow
def test_the_gpt2_preset_trains_from_scratch_with_the_bpe_tokenizer(tmp_path: Path) -> None:
    cfg = get_preset("gpt2-shakespeare", init="scratch", n_layer=1, n_head=2, n_embd=16, block_size=32,
                     batch_size=2, gradient_accumulation_steps=2, max_iters=2, eval_interval=2, eval_iters=1,
                     device="cpu", progress=False, sample_tokens=5, out_dir=str(tmp_path / "run"))
    result = train(cfg)
    assert result.model.config.vocab_size == 50257
    assert result.curve("val_loss")[1][0] == pytest.approx(math.log(50257), abs=0.3)
    assert result.sample.startswith("ROMEO:")
    assert load_checkpoint(result.checkpoint_path)["data"]["tokenizer"] == {"name": "gpt2"}


def test_the_loss_plot_is_a_figure_of_the_logged_curves() -> None:
    history = [{"step": 0, "val_loss": 4.2, "eval_train_loss": 4.2}, {"step": 1, "train_loss": 4.0},
               {"step": 2, "train_loss": 3.5, "val_loss": 3.6, "eval_train_loss": 3.4}]
    fig = plot_history(history, title="t")
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert labels == ["train (batch)", "train (eval)", "validation"]

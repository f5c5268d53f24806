"""gpt2ref.checkpoint: complete, atomically written checkpoints, and clear errors for anything else."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
import torch

from gpt2ref import checkpoint as ck
from gpt2ref.checkpoint import (
    CheckpointError,
    check_resumable,
    checkpoint_file,
    load_checkpoint,
    model_from_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from gpt2ref.model import GPT, GPTConfig
from gpt2ref.presets import get_preset

MODEL_CONFIG = dict(block_size=8, vocab_size=11, n_layer=1, n_head=2, n_embd=8)


def trained_parts(seed: int = 0) -> dict:
    """A tiny model and optimizer after one step, and the other parts of a checkpoint."""
    torch.manual_seed(seed)
    model = GPT(GPTConfig(**MODEL_CONFIG))
    optimizer = model.configure_optimizer(0.1, 1e-3, (0.9, 0.99), "cpu")
    _, loss = model(torch.randint(11, (2, 8)), torch.randint(11, (2, 8)))
    loss.backward()
    optimizer.step()
    cfg = get_preset("smoke")
    return dict(model=model, optimizer=optimizer, scaler=None, step=1, model_config=dict(MODEL_CONFIG),
                train_config=cfg.to_dict(), rng=[rng_state()], batch_state=torch.Generator().get_state(),
                data={"tokenizer": {"name": "char", "chars": "abcdefghijk"}, "world_size": 1},
                history=[{"step": 1, "train_loss": loss.item(), "val_loss": None}])


def test_a_checkpoint_round_trips_everything_needed_to_resume(tmp_path: Path) -> None:
    parts = trained_parts()
    path = save_checkpoint(tmp_path / "ckpt.pt", **parts)
    ckpt = load_checkpoint(path)
    for name, tensor in parts["model"].state_dict().items():
        assert torch.equal(ckpt["model"][name], tensor)
    restored = GPT(GPTConfig(**MODEL_CONFIG)).configure_optimizer(0.1, 1e-3, (0.9, 0.99), "cpu")
    restored.load_state_dict(ckpt["optimizer"])
    assert restored.state_dict()["state"][0]["step"] == 1
    assert ckpt["step"] == 1
    assert ckpt["train_config"] == parts["train_config"]
    assert ckpt["history"] == parts["history"]
    assert torch.equal(ckpt["batch_generator"], parts["batch_state"])


def test_the_model_a_checkpoint_holds_computes_what_the_saved_model_did(tmp_path: Path) -> None:
    parts = trained_parts()
    save_checkpoint(tmp_path / "ckpt.pt", **parts)
    model = model_from_checkpoint(load_checkpoint(checkpoint_file(tmp_path)))  # a run's folder names its ckpt.pt
    assert model.config == GPTConfig(**MODEL_CONFIG)
    idx = torch.randint(11, (1, 8))
    assert torch.equal(model.eval()(idx)[0], parts["model"].eval()(idx)[0])


def test_checkpoints_load_with_weights_only(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "ckpt.pt", **trained_parts())
    ckpt = torch.load(path, weights_only=True)  # no arbitrary pickled objects inside
    assert ckpt["format"] == ck.FORMAT


def test_a_crash_while_saving_keeps_the_previous_checkpoint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_checkpoint(tmp_path / "ckpt.pt", **trained_parts())
    real_save = torch.save

    def save_half_then_die(obj: object, f: object) -> None:
        real_save(obj, f)
        f.truncate(100)  # as if killed mid-write
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", save_half_then_die)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, **trained_parts(seed=1))
    assert load_checkpoint(path)["step"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["ckpt.pt"]  # no temporary file left behind


def test_a_missing_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no checkpoint at"):
        load_checkpoint(tmp_path / "nothing.pt")


def test_a_truncated_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "ckpt.pt", **trained_parts())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(path)


def test_random_bytes_are_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "noise.pt"
    path.write_bytes(bytes(random.Random(0).randrange(256) for _ in range(5000)))
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path)


def test_another_pytorch_file_is_not_taken_for_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "weights.pt"
    torch.save(GPT(GPTConfig(**MODEL_CONFIG)).state_dict(), path)
    with pytest.raises(CheckpointError, match="not a gpt2ref training checkpoint"):
        load_checkpoint(path)


def test_a_pickle_of_arbitrary_objects_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"format": ck.FORMAT, "payload": Path("/etc/passwd")}, path)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path)


def test_an_incomplete_checkpoint_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "partial.pt"
    torch.save({"format": ck.FORMAT, "version": ck.VERSION, "step": 3}, path)
    with pytest.raises(CheckpointError, match="lacks"):
        load_checkpoint(path)


def test_a_compiled_or_ddp_wrapped_model_is_not_saved_with_prefixed_keys(tmp_path: Path) -> None:
    class Wrapper(torch.nn.Module):
        def __init__(self, module: torch.nn.Module) -> None:
            super().__init__()
            self.module = module

    parts = trained_parts()
    parts["model"] = Wrapper(parts["model"])
    with pytest.raises(ValueError, match="unwrapped model"):
        save_checkpoint(tmp_path / "ckpt.pt", **parts)


def test_resuming_with_another_model_or_batch_size_is_refused(tmp_path: Path) -> None:
    parts = trained_parts()
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "ckpt.pt", **parts))
    train_cfg, data = parts["train_config"], parts["data"]
    check_resumable(ckpt, dict(MODEL_CONFIG), dict(train_cfg), data, "ckpt.pt")  # the same run: fine
    with pytest.raises(CheckpointError, match="n_embd: 8 in the checkpoint, 16 now"):
        check_resumable(ckpt, {**MODEL_CONFIG, "n_embd": 16}, train_cfg, data, "ckpt.pt")
    with pytest.raises(CheckpointError, match="batch_size"):
        check_resumable(ckpt, dict(MODEL_CONFIG), {**train_cfg, "batch_size": 3}, data, "ckpt.pt")
    with pytest.raises(CheckpointError, match="world_size"):
        check_resumable(ckpt, dict(MODEL_CONFIG), train_cfg, {**data, "world_size": 2}, "ckpt.pt")


def test_settings_that_do_not_change_the_weights_may_change_on_resume(tmp_path: Path) -> None:
    parts = trained_parts()
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "ckpt.pt", **parts))
    changed = {**parts["train_config"], "out_dir": "elsewhere", "device": "cuda", "compile": True,
               "eval_interval": 7, "progress": False, "resume": True}
    check_resumable(ckpt, dict(MODEL_CONFIG), changed, parts["data"], "ckpt.pt")


def test_extending_max_iters_must_keep_the_learning_rate_schedule(tmp_path: Path) -> None:
    parts = trained_parts()  # the smoke preset: max_iters 200, lr_decay_iters None (decay over max_iters)
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "ckpt.pt", **parts))
    longer = {**parts["train_config"], "max_iters": 1000}
    with pytest.raises(CheckpointError, match="--lr-decay-iters 200"):
        check_resumable(ckpt, dict(MODEL_CONFIG), longer, parts["data"], "ckpt.pt")
    check_resumable(ckpt, dict(MODEL_CONFIG), {**longer, "lr_decay_iters": 200}, parts["data"], "ckpt.pt")


def test_restoring_rng_states_replays_the_same_random_numbers() -> None:
    state = rng_state()
    expected = torch.rand(3), random.random()
    torch.rand(5)
    random.random()
    set_rng_state(state)
    assert torch.equal(torch.rand(3), expected[0])
    assert random.random() == expected[1]

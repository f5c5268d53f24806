"""The ``python -m gpt2ref`` command: train, sample, presets; mistakes give one line on stderr, no traceback."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from gpt2ref.presets import PRESETS

ROOT = Path(__file__).resolve().parents[1]
TINY = ["--preset", "smoke", "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16",
        "--batch-size", "4", "--eval-iters", "2", "--device", "cpu", "--no-progress"]


@pytest.fixture
def env(tmp_path: Path, shakespeare_file: Path) -> dict[str, str]:
    """Environment of the subprocesses: a private cache and the local tiny-shakespeare."""
    return dict(os.environ, GPT2REF_CACHE=str(tmp_path / "cache"), GPT2REF_SHAKESPEARE=str(shakespeare_file))


def gpt2ref(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    """Run ``python -m gpt2ref ARGS`` and capture its output."""
    return subprocess.run([sys.executable, "-m", "gpt2ref", *args], capture_output=True, text=True,
                          timeout=300, cwd=ROOT, env=env)


def assert_one_line_error(proc: subprocess.CompletedProcess, expected: str, status: int = 1) -> None:
    """Failed with ``status``, and stderr is a single line containing ``expected``, without a traceback."""
    assert proc.returncode == status, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert expected in lines[0]
    assert "Traceback" not in proc.stderr


def test_presets_lists_every_preset(env: dict[str, str]) -> None:
    proc = gpt2ref(env, "presets")
    assert proc.returncode == 0
    for name in ("shakespeare-char", "shakespeare-char-cpu", "smoke", "gpt2-shakespeare"):
        assert name in proc.stdout


def test_help_describes_the_commands_and_the_training_settings(env: dict[str, str]) -> None:
    top = gpt2ref(env, "--help")
    assert top.returncode == 0 and all(c in top.stdout for c in ("train", "sample", "presets"))
    train_help = gpt2ref(env, "train", "--help").stdout
    assert "--max-iters" in train_help and "--compile" in train_help and "--resume" in train_help
    assert "optimizer steps in the whole run" in train_help  # field comments become the help text


def test_options_override_the_preset_and_absent_ones_leave_it_alone() -> None:
    from gpt2ref.cli import build_parser, train_config

    def config(*args: str):
        return train_config(build_parser().parse_args(["train", "--preset", "shakespeare-char-cpu", *args]))

    assert config() == PRESETS["shakespeare-char-cpu"]
    cfg = config("--max-iters", "500", "--lr-decay-iters", "none", "--compile", "--device", "cpu", "--beta2", "0.95")
    assert (cfg.max_iters, cfg.lr_decay_iters, cfg.compile, cfg.device, cfg.beta2) == (500, None, True, "cpu", 0.95)
    assert config("--no-decay-lr").decay_lr is False


def test_presets_name_shows_every_setting_of_one_preset(env: dict[str, str]) -> None:
    proc = gpt2ref(env, "presets", "shakespeare-char")
    assert proc.returncode == 0
    assert "dropout                      0.2" in proc.stdout and "beta2                        0.99" in proc.stdout


@pytest.mark.parametrize("args, expected, status", [
    (["train", "--preset", "shakespeare-word"], "unknown preset 'shakespeare-word'", 1),
    (["train", "--preset", "smoke", "--max-iters", "many"], "invalid int value: 'many'", 2),
    (["train", "--preset", "smoke", "--n-head", "3"], "must be divisible by n_head", 1),
    (["train", "--preset", "smoke", "--dtype", "float8"], "dtype must be", 1),
    (["train", "--preset", "smoke", "--learning-rate", "-1"], "min_lr", 1),
    (["train"], "--preset", 2),
    (["fly"], "invalid choice: 'fly'", 2),
    (["presets", "huge"], "unknown preset 'huge'", 1),
    ([], "required: COMMAND", 2),
])
def test_mistakes_in_the_command_line_give_one_clear_line(env: dict[str, str], args: list[str], expected: str,
                                                          status: int) -> None:
    assert_one_line_error(gpt2ref(env, *args), expected, status)


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_a_gpu_that_is_not_there_is_one_clear_line(env: dict[str, str], tmp_path: Path) -> None:
    proc = gpt2ref(env, "train", *TINY, "--device", "cuda", "--out-dir", str(tmp_path / "run"))
    assert_one_line_error(proc, "CUDA is not available")


@pytest.mark.slow
def test_fine_tuning_without_pretrained_weights_says_what_to_do(env: dict[str, str], tmp_path: Path) -> None:
    offline = {k: v for k, v in env.items() if k != "GPT2REF_HF_GPT2"}
    offline.update(HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1")  # an empty Hugging Face cache
    proc = gpt2ref(offline, "train", "--preset", "gpt2-shakespeare", "--device", "cpu", "--out-dir", str(tmp_path))
    assert_one_line_error(proc, "--init scratch")


@pytest.mark.slow
def test_sampling_from_a_missing_or_corrupt_checkpoint_is_one_clear_line(env: dict[str, str], tmp_path: Path) -> None:
    assert_one_line_error(gpt2ref(env, "sample", "--checkpoint", str(tmp_path / "nope.pt")), "no checkpoint at")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"PK\x03\x04 definitely not a zip archive")
    assert_one_line_error(gpt2ref(env, "sample", "--checkpoint", str(bad)), "truncated or corrupt")


def run_main(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, env: dict[str, str],
             *args: str) -> tuple[int, str, str]:
    """``gpt2ref ARGS`` in this process (faster than a subprocess): (status, stdout, stderr)."""
    from gpt2ref.cli import main

    for key in ("GPT2REF_CACHE", "GPT2REF_SHAKESPEARE"):
        monkeypatch.setenv(key, env[key])
    capsys.readouterr()
    status = main(list(args))
    out, err = capsys.readouterr()
    return status, out, err


@pytest.mark.slow
def test_train_then_sample_from_the_run_folder(env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    proc = gpt2ref(env, "train", *TINY, "--max-iters", "20", "--out-dir", str(out), "--sample-tokens", "30")
    assert proc.returncode == 0, proc.stderr
    assert "done: 20 steps" in proc.stdout and "--- sample ---" in proc.stdout
    assert {"ckpt.pt", "log.csv", "loss.png", "sample.txt"} <= {p.name for p in out.iterdir()}

    args = ["sample", "--checkpoint", str(out), "--prompt", "ROMEO:", "--max-new-tokens", "40", "--seed", "7"]
    first = gpt2ref(env, *args)
    assert first.returncode == 0, first.stderr
    assert first.stdout.startswith("ROMEO:") and len(first.stdout.rstrip("\n")) == len("ROMEO:") + 40
    assert run_main(capsys, monkeypatch, env, *args) == (0, first.stdout, "")  # the same seed, the same text
    status, two, _ = run_main(capsys, monkeypatch, env, *args, "--num-samples", "2", "--top-p", "0.9",
                              "--top-k", "none")
    assert status == 0 and two.count("ROMEO:") == 2

    status, _, err = run_main(capsys, monkeypatch, env, "sample", "--checkpoint", str(out), "--prompt", "ROMEO€")
    assert status == 1 and "'€'" in err and len(err.strip().splitlines()) == 1
    status, _, err = run_main(capsys, monkeypatch, env, "train", *TINY, "--max-iters", "20", "--out-dir", str(out),
                              "--resume", "--batch-size", "8")
    assert status == 1 and "batch_size: 4 in the checkpoint, 8 now" in err


@pytest.mark.slow
def test_ctrl_c_during_training_saves_a_checkpoint_and_exits_with_130(
        env: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "gpt2ref", "train", *TINY, "--max-iters", "100000", "--log-interval", "1",
           "--eval-interval", "100000", "--checkpoint-interval", "100000", "--out-dir", str(out)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env)
    log = out / "log.csv"
    deadline = time.monotonic() + 180
    while not (log.is_file() and len(log.read_text().splitlines()) >= 4):  # header, step 0, two steps
        assert proc.poll() is None and time.monotonic() < deadline, "training did not start"
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "--resume" in stderr
    from gpt2ref.checkpoint import load_checkpoint

    step = load_checkpoint(out / "ckpt.pt")["step"]
    assert 2 <= step < 100000
    status, stdout, _ = run_main(capsys, monkeypatch, env, "train", *TINY, "--max-iters", str(step + 2),
                                 "--lr-decay-iters", "100000", "--log-interval", "1", "--eval-interval", "100000",
                                 "--checkpoint-interval", "100000", "--out-dir", str(out), "--resume",
                                 "--sample-tokens", "0")
    assert status == 0
    assert f"done: {step + 2} steps" in stdout

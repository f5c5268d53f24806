"""scripts/gpu_check.sh at toy size on the CPU: the rehearsal CI runs of the one-command GPU check."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

from gpu_check import RUNGS, TOY_VOCAB, padded  # noqa: E402


@pytest.fixture(scope="module")
def toy_check(tmp_path_factory: pytest.TempPathFactory, shakespeare_file: Path) -> tuple[subprocess.CompletedProcess, Path]:
    """Run the script once, with CUDA hidden, into a fresh folder; (process, summary folder)."""
    out = tmp_path_factory.mktemp("gpu_check")
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": "", "PYTHON": sys.executable, "OMP_NUM_THREADS": "1",
           "GPT2REF_SHAKESPEARE": str(shakespeare_file), "GPT2REF_CACHE": str(tmp_path_factory.mktemp("cache"))}
    proc = subprocess.run([str(ROOT / "scripts" / "gpu_check.sh"), "--out", str(out), "--tests", "tests/test_cuda.py"],
                          capture_output=True, text=True, timeout=600, cwd=ROOT, env=env)
    return proc, out


@pytest.mark.slow
def test_without_cuda_it_runs_at_toy_size_and_says_so(toy_check: tuple[subprocess.CompletedProcess, Path]) -> None:
    proc, out = toy_check
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    summary = json.loads((out / "gpu_check.json").read_text(encoding="utf-8"))
    assert summary["toy"] is True and summary["device"] == "cpu"
    assert "TOY SIZE ON THE CPU" in summary["mode"] and "TOY SIZE ON THE CPU" in proc.stdout
    assert summary["ok"] is True


@pytest.mark.slow
def test_the_summary_has_the_training_run_the_ladder_and_the_cuda_tests(
        toy_check: tuple[subprocess.CompletedProcess, Path]) -> None:
    _, out = toy_check
    summary = json.loads((out / "gpu_check.json").read_text(encoding="utf-8"))
    train = summary["train"]
    assert train["iterations"] == 20 and train["dtype"] == "bfloat16"
    assert train["ms_per_iter"] > 0 and train["tokens_per_s"] > 0
    assert math.isfinite(train["final_val_loss"]) and train["final_val_loss"] < math.log(65)  # it learned something
    assert train["mfu"] is None  # no peak FLOP/s for a CPU

    rungs = summary["ladder"]["rungs"]
    assert [r["rung"] for r in rungs] == list(RUNGS)
    assert padded(50257) == 50304 and padded(TOY_VOCAB) == 1024
    assert rungs[-1]["vocab_size"] == 1024 and all(r["vocab_size"] == TOY_VOCAB for r in rungs[:-1])
    for r in rungs:
        assert "error" not in r, r
        assert r["ms_per_step"] > 0 and r["tokens_per_s"] > 0, r
        assert math.isfinite(r["first_loss"]) and math.isfinite(r["last_loss"]), r
    for r in rungs:  # fresh random weights start near ln(1,000) = 6.9 (at toy size no rung reuses a model)
        assert abs(r["first_loss"] - math.log(TOY_VOCAB)) < 0.5, r
    assert all("skipped" in r for r in rungs if r["rung"] == "+ torch.compile")  # said, not silently dropped

    tests = summary["cuda_tests"]
    assert tests["status"] == "skipped (no CUDA GPU)" and "skipped" in tests["summary"]

    text = (out / "gpu_check.txt").read_text(encoding="utf-8")
    assert "TOY SIZE ON THE CPU" in text
    for heading in ("(a) train", "(b) ladder", "(c) CUDA-only tests", *RUNGS):
        assert heading in text

"""DistributedDataParallel on the CPU: two torchrun processes (gloo) train exactly like one process.

With 2 ranks of ``accum`` micro-batches each, the global batch is the one a single process sees with
``2 * accum`` micro-batches (the sampler draws it with one generator and each rank takes its half), so
losses, gradient norms and final weights must agree up to float summation order.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from gpt2ref.checkpoint import load_checkpoint
from gpt2ref.presets import get_preset
from gpt2ref.train import read_log, train

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = dict(n_layer=1, n_head=2, n_embd=16, block_size=16, batch_size=3, dropout=0.0, max_iters=6,
                warmup_iters=2, learning_rate=1e-2, min_lr=1e-3, eval_interval=3, eval_iters=4, log_interval=1,
                checkpoint_interval=3, sample_tokens=0, device="cpu", progress=False)
COMPARED = ("train_loss", "val_loss", "eval_train_loss", "lr", "grad_norm")


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cli_flags(settings: dict) -> list[str]:
    """``{"max_iters": 6, "progress": False}`` -> ``["--max-iters", "6", "--no-progress"]``."""
    flags = []
    for name, value in settings.items():
        flag = "--" + name.replace("_", "-")
        if isinstance(value, bool):
            flags.append(flag if value else "--no-" + flag[2:])
        else:
            flags += [flag, str(value)]
    return flags


@pytest.mark.slow
def test_two_gloo_processes_train_like_one_process_with_twice_the_accumulation(
        tmp_path: Path, shakespeare_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    env = dict(os.environ, GPT2REF_CACHE=str(tmp_path / "cache"), GPT2REF_SHAKESPEARE=str(shakespeare_file),
               OMP_NUM_THREADS="1")
    ddp_dir = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=1", "--nproc_per_node=2",
           "--master_addr=127.0.0.1", f"--master_port={free_port()}",
           "-m", "gpt2ref", "train", "--preset", "smoke", "--gradient-accumulation-steps", "2",
           "--out-dir", str(ddp_dir), *cli_flags(SETTINGS)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count("done: 6 steps") == 1  # only rank 0 reports

    monkeypatch.setenv("GPT2REF_CACHE", env["GPT2REF_CACHE"])
    single = train(get_preset("smoke", gradient_accumulation_steps=4, out_dir=str(tmp_path / "single"), **SETTINGS))

    ddp_rows = read_log(ddp_dir / "log.csv")
    assert [r["step"] for r in ddp_rows] == [r["step"] for r in single.history] == list(range(7))
    for a, b in zip(ddp_rows, single.history, strict=True):
        for key in COMPARED:
            assert (a[key] is None) == (b.get(key) is None)
            if a[key] is not None:
                assert a[key] == pytest.approx(b[key], abs=1e-5), (a["step"], key)

    ckpt = load_checkpoint(ddp_dir / "ckpt.pt")
    assert ckpt["data"]["world_size"] == 2 and len(ckpt["rng"]) == 2  # every rank's RNG state is kept
    reference = single.model.state_dict()
    assert ckpt["model"].keys() == reference.keys()  # no "module." prefixes from the DDP wrapper
    assert max((ckpt["model"][k] - reference[k]).abs().max().item() for k in reference) <= 1e-5
    assert not torch.equal(ckpt["rng"][0]["torch"], ckpt["rng"][1]["torch"])  # dropout streams differ per rank

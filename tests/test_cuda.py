"""The GPU paths: bf16 autocast, fused AdamW, torch.compile and a whole training run on CUDA.

Every test here carries the ``cuda`` marker and skips itself where there is no CUDA GPU;
``scripts/gpu_check.sh`` runs them with ``pytest -m cuda``.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from gpt2ref.data import batch_at
from gpt2ref.device import autocast_context, device_peak_flops
from gpt2ref.model import GPT, GPTConfig, TanhGELU
from gpt2ref.presets import get_preset
from gpt2ref.train import train

pytestmark = [pytest.mark.cuda,
              pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

CUDA = torch.device("cuda")


def small_model(seed: int = 0) -> GPT:
    """A 2-layer GPT with GPT-2's layout, on the GPU."""
    torch.manual_seed(seed)
    return GPT(GPTConfig(block_size=64, vocab_size=128, n_layer=2, n_head=4, n_embd=64, dropout=0.0)).to(CUDA)


def batch(vocab: int = 128, B: int = 4, T: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """Random inputs and targets (B, T) on the GPU."""
    g = torch.Generator().manual_seed(1)
    data = torch.randint(0, vocab, (B, T + 1), generator=g).to(CUDA)
    return data[:, :-1], data[:, 1:]


def test_bf16_autocast_gives_nearly_the_fp32_loss_and_finite_fp32_gradients() -> None:
    model = small_model()
    x, y = batch()
    _, loss32 = model(x, y)
    with autocast_context(CUDA, torch.bfloat16):
        logits, loss16 = model(x, y)
    assert logits.dtype == torch.bfloat16  # the matmuls ran in bf16 ...
    assert loss16.item() == pytest.approx(loss32.item(), rel=2e-2)
    loss16.backward()
    for name, p in model.named_parameters():  # ... while the weights and their gradients stay fp32
        assert p.grad is not None and p.grad.dtype == torch.float32, name
        assert torch.isfinite(p.grad).all(), name


def test_the_gpu_optimizer_is_fused_adamw_and_steps_like_the_unfused_one() -> None:
    fused_model, plain_model = small_model(), small_model()
    fused = fused_model.configure_optimizer(0.1, 1e-3, (0.9, 0.95), "cuda")
    assert fused.defaults.get("fused") is True
    plain = torch.optim.AdamW([{"params": g["params"], "weight_decay": g["weight_decay"]} for g in
                               plain_model.configure_optimizer(0.1, 1e-3, (0.9, 0.95), "cpu").param_groups],
                              lr=1e-3, betas=(0.9, 0.95), foreach=True, fused=False)
    assert not plain.defaults.get("fused")
    x, y = batch()
    for _ in range(3):
        _, loss = fused_model(x, y)
        loss.backward()
        for a, b in zip(fused_model.parameters(), plain_model.parameters(), strict=True):
            b.grad = a.grad.clone()  # the same gradients for both: only the optimizers differ
        fused.step()
        plain.step()
        fused.zero_grad(set_to_none=True)
        plain.zero_grad(set_to_none=True)
    for (name, a), b in zip(fused_model.named_parameters(), plain_model.parameters(), strict=True):
        assert torch.allclose(a, b, atol=1e-6), name


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # raised inside torch's compiler stack
def test_a_compiled_model_computes_the_eager_logits_loss_and_gradients() -> None:
    torch.backends.cuda.matmul.allow_tf32 = False  # compare fp32 with fp32
    try:
        eager, compiled_raw = small_model(), small_model()
        compiled = torch.compile(compiled_raw)
        x, y = batch()
        logits_e, loss_e = eager(x, y)
        logits_c, loss_c = compiled(x, y)
        assert torch.allclose(logits_c, logits_e, atol=1e-4)
        loss_e.backward()
        loss_c.backward()
        for (name, a), b in zip(eager.named_parameters(), compiled_raw.parameters(), strict=True):
            assert torch.allclose(a.grad, b.grad, atol=1e-4), name
    finally:
        torch.backends.cuda.matmul.allow_tf32 = True


def test_gpt2s_gelu_on_the_gpu_is_the_cpu_function() -> None:
    x = torch.linspace(-8, 8, 4001)
    assert torch.allclose(TanhGELU()(x.to(CUDA)).cpu(), TanhGELU()(x), atol=1e-6)
    assert torch.allclose(TanhGELU()(x), F.gelu(x, approximate="tanh"), atol=1e-6)


def test_batches_land_on_the_gpu() -> None:
    data = torch.arange(1000).numpy().astype("uint16")
    x, y = batch_at(data, torch.tensor([0, 10, 500]), 8, CUDA)
    torch.cuda.synchronize()
    assert x.device.type == "cuda" and y.device.type == "cuda" and x.shape == (3, 8)
    assert torch.equal(y[:, :-1], x[:, 1:])


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_short_bf16_compiled_run_on_the_gpu_learns_and_reports_mfu_for_a_known_gpu(
        tmp_path: Path, shakespeare_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GPT2REF_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("GPT2REF_SHAKESPEARE", str(shakespeare_file))
    cfg = get_preset("smoke", device="cuda", dtype="bfloat16", compile=True, max_iters=30, lr_decay_iters=30,
                     eval_interval=15, eval_iters=4, log_interval=5, checkpoint_interval=30, sample_tokens=20,
                     progress=False, out_dir=str(tmp_path / "run"))
    result = train(cfg)
    val = result.curve("val_loss")[1]
    assert all(math.isfinite(v) for v in val) and val[-1] < val[0]
    mfu = result.curve("mfu")[1]
    if device_peak_flops(CUDA) is not None:
        assert mfu and all(0 < m < 1 for m in mfu)
    assert result.sample

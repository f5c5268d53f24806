"""gpt2ref.device: the device and precision are chosen at run time, one code path for CPU, CUDA and MPS."""

from __future__ import annotations

import contextlib

import pytest
import torch

from gpt2ref import device as dev
from gpt2ref.device import (
    DeviceError,
    autocast_context,
    autocast_dtype,
    enable_tf32,
    gpu_peak_flops,
    make_grad_scaler,
    pick_device,
    resolve_dtype,
)


@pytest.fixture
def fake_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    """Pretend two CUDA devices with bf16 exist (nothing is run on them)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *a, **k: "NVIDIA T4 (pretend)")


def test_automatic_choice_prefers_cuda_then_mps_then_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(dev, "mps_available", lambda: False)
    assert pick_device() == torch.device("cpu")
    assert pick_device("auto") == torch.device("cpu")
    monkeypatch.setattr(dev, "mps_available", lambda: True)
    assert pick_device() == torch.device("mps")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert pick_device() == torch.device("cuda")


def test_an_explicit_device_overrides_the_automatic_choice(fake_cuda: None) -> None:
    assert pick_device("cpu") == torch.device("cpu")
    assert pick_device("cuda:1") == torch.device("cuda", 1)
    assert pick_device(torch.device("cuda")) == torch.device("cuda")


def test_asking_for_cuda_without_cuda_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="CUDA is not available"):
        pick_device("cuda")


def test_asking_for_mps_without_mps_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dev, "mps_available", lambda: False)
    with pytest.raises(DeviceError, match="MPS"):
        pick_device("mps")


def test_a_cuda_index_beyond_the_devices_present_is_refused(fake_cuda: None) -> None:
    with pytest.raises(DeviceError, match="has 2 CUDA device"):
        pick_device("cuda:2")


@pytest.mark.parametrize("name", ["gpu", "cuda:x", "tpu", "xla"])
def test_unknown_device_names_are_refused(name: str) -> None:
    with pytest.raises(DeviceError):
        pick_device(name)


def test_the_cpu_trains_in_float32_by_default() -> None:
    assert autocast_dtype(torch.device("cpu")) == torch.float32
    assert resolve_dtype(torch.device("cpu"), "auto") == torch.float32


def test_cuda_uses_bf16_where_supported_and_fp16_elsewhere(fake_cuda: None, monkeypatch: pytest.MonkeyPatch) -> None:
    assert autocast_dtype(torch.device("cuda")) == torch.bfloat16
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert autocast_dtype(torch.device("cuda")) == torch.float16
    with pytest.raises(DeviceError, match="no bfloat16"):
        resolve_dtype(torch.device("cuda"), "bfloat16")


def test_an_unknown_dtype_name_is_refused() -> None:
    with pytest.raises(DeviceError, match="unknown dtype"):
        resolve_dtype(torch.device("cpu"), "float8")


def test_fp32_autocast_context_changes_nothing() -> None:
    ctx = autocast_context(torch.device("cpu"), torch.float32)
    assert isinstance(ctx, contextlib.nullcontext)
    a = torch.randn(4, 4)
    with ctx:
        assert (a @ a).dtype == torch.float32


def test_bf16_autocast_on_the_cpu_runs_matmuls_in_bf16_and_keeps_weights_fp32() -> None:
    layer = torch.nn.Linear(8, 8)
    with autocast_context(torch.device("cpu"), torch.bfloat16):
        out = layer(torch.randn(2, 8))
    assert out.dtype == torch.bfloat16
    assert layer.weight.dtype == torch.float32


def test_the_grad_scaler_is_active_for_fp16_only() -> None:
    cpu = torch.device("cpu")
    assert make_grad_scaler(cpu, torch.float16).is_enabled()
    assert not make_grad_scaler(cpu, torch.bfloat16).is_enabled()
    assert not make_grad_scaler(cpu, torch.float32).is_enabled()


@pytest.fixture
def tf32_flags() -> None:
    """Start with TF32 off and put the global flags back afterwards."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def test_tf32_is_switched_on_for_ampere_and_newer_only(fake_cuda: None, tf32_flags: None,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    assert not enable_tf32(torch.device("cpu"))
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (7, 5))  # Turing (T4)
    assert not enable_tf32(torch.device("cuda"))
    assert torch.backends.cuda.matmul.allow_tf32 is False
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda *a: (8, 0))  # Ampere (A100)
    assert enable_tf32(torch.device("cuda"))
    assert torch.backends.cuda.matmul.allow_tf32 is True
    assert torch.backends.cudnn.allow_tf32 is True


@pytest.mark.parametrize("name, flops", [
    ("NVIDIA A100-SXM4-80GB", 312e12),
    ("NVIDIA A100-PCIE-40GB", 312e12),
    ("NVIDIA A10G", 70e12),
    ("NVIDIA A10", 125e12),
    ("NVIDIA H100 80GB HBM3", 989e12),
    ("NVIDIA H100 PCIe", 756e12),
    ("NVIDIA L4", 121e12),
    ("Tesla T4", 65e12),
    ("Tesla V100-SXM2-16GB", 125e12),
    ("NVIDIA GeForce RTX 4090", 165e12),
    ("NVIDIA GeForce RTX 3090", 71e12),
])
def test_known_gpus_have_their_peak_flops(name: str, flops: float) -> None:
    assert gpu_peak_flops(name) == flops


def test_an_unknown_gpu_has_no_peak_so_mfu_is_unknown() -> None:
    assert gpu_peak_flops("Some Future GPU 9000") is None
    assert dev.device_peak_flops(torch.device("cpu")) is None

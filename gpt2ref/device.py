"""Plumbing: choosing where and in which precision to train: CUDA, Apple's MPS or the CPU, picked at run time.

One code path serves every device: :func:`pick_device` chooses the device, :func:`autocast_dtype` the
mixed-precision type it supports best, and :func:`autocast_context` gives a ``with`` block that is
``torch.autocast`` where that applies and does nothing elsewhere.
"""

from __future__ import annotations

import contextlib

import torch

DTYPES: dict[str, torch.dtype] = {
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}


class DeviceError(ValueError):
    """A device or precision was asked for that this machine cannot provide."""


def mps_available() -> bool:
    """True on Apple silicon with a PyTorch built for MPS."""
    return hasattr(torch.backends, "mps") and torch.backends.mps.is_available()


def pick_device(preference: str | torch.device | None = None) -> torch.device:
    """The device to train on: ``preference`` if given ("cpu", "cuda", "cuda:1", "mps"), else cuda > mps > cpu."""
    if preference is None or str(preference) in ("", "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        if mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    try:
        device = torch.device(preference)
    except (RuntimeError, TypeError) as exc:
        raise DeviceError(f"{preference!r} is not a device name; use 'cpu', 'cuda', 'cuda:N', 'mps' or 'auto'") from exc
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {preference!r} was asked for, but CUDA is not available here; "
                              "use --device cpu (or auto)")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise DeviceError(f"device {preference!r} does not exist: this machine has {count} CUDA device(s), "
                              f"cuda:0 .. cuda:{count - 1}")
    elif device.type == "mps":
        if not mps_available():
            raise DeviceError(f"device {preference!r} was asked for, but MPS (Apple silicon) is not available; "
                              "use --device cpu (or auto)")
    elif device.type != "cpu":
        raise DeviceError(f"device type {device.type!r} is not supported; use 'cpu', 'cuda', 'cuda:N' or 'mps'")
    return device


def autocast_dtype(device: torch.device) -> torch.dtype:
    """The best training precision for ``device``: bf16 on CUDA that has it, else fp16 on CUDA, else fp32.

    The CPU and MPS default to fp32 (bf16 autocast works on the CPU but is rarely faster there).
    """
    if device.type == "cuda":
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def resolve_dtype(device: torch.device, name: str = "auto") -> torch.dtype:
    """The dtype named by ``name`` ("auto", "float32", "bfloat16", "float16"), checked against ``device``."""
    if name == "auto":
        return autocast_dtype(device)
    if name not in DTYPES:
        raise DeviceError(f"unknown dtype {name!r}; choose one of auto, {', '.join(DTYPES)}")
    dtype = DTYPES[name]
    if device.type == "cuda" and dtype == torch.bfloat16 and not torch.cuda.is_bf16_supported():
        raise DeviceError(f"this GPU ({torch.cuda.get_device_name(device)}) has no bfloat16; use --dtype float16")
    return dtype


def autocast_context(device: torch.device, dtype: torch.dtype) -> contextlib.AbstractContextManager:
    """``torch.autocast`` to ``dtype`` on ``device``, or a no-op context for fp32."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def needs_grad_scaler(dtype: torch.dtype) -> bool:
    """fp16 gradients underflow without loss scaling; bf16 has fp32's exponent range and does not."""
    return dtype == torch.float16


def make_grad_scaler(device: torch.device, dtype: torch.dtype) -> torch.amp.GradScaler:
    """A GradScaler that is active for fp16 and a pass-through otherwise, so the loop has a single path."""
    return torch.amp.GradScaler(device.type, enabled=needs_grad_scaler(dtype))


def enable_tf32(device: torch.device) -> bool:
    """Let fp32 matmuls and convolutions use TF32 tensor cores on Ampere or newer GPUs; True if enabled."""
    if device.type != "cuda" or torch.cuda.get_device_capability(device)[0] < 8:
        return False
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    return True


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work, so wall-clock timings measure it (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    elif device.type == "mps":
        torch.mps.synchronize()


# Dense (no sparsity) peak tensor-core FLOP/s in bf16, or fp16 where the GPU has no bf16 (T4, V100),
# from NVIDIA's data sheets. More specific names come first: "A100" must match before "A10".
GPU_PEAK_FLOPS: list[tuple[str, float]] = [
    ("H100 PCIe", 756e12),
    ("H100 NVL", 835e12),
    ("H100", 989e12),  # SXM
    ("H200", 989e12),
    ("GH200", 989e12),
    ("A100", 312e12),
    ("A10G", 70e12),  # AWS's A10 variant, lower clocks (commonly quoted figure)
    ("A40", 150e12),
    ("A10", 125e12),
    ("L40S", 362e12),
    ("L40", 181e12),
    ("L4", 121e12),
    ("A6000", 155e12),  # RTX A6000
    ("RTX 4090", 165e12),  # with fp32 accumulation
    ("RTX 3090", 71e12),  # with fp32 accumulation
    ("V100", 125e12),  # fp16 (no bf16)
    ("T4", 65e12),  # fp16 (no bf16)
]


def gpu_peak_flops(name: str) -> float | None:
    """Peak dense bf16 FLOP/s for a GPU named like ``torch.cuda.get_device_name()``; None if unknown."""
    for key, flops in GPU_PEAK_FLOPS:
        if key.lower() in name.lower():
            return flops
    return None


def device_peak_flops(device: torch.device) -> float | None:
    """Peak FLOP/s of ``device`` if it is a GPU we know, else None (MFU is then reported as unknown)."""
    if device.type != "cuda":
        return None
    return gpu_peak_flops(torch.cuda.get_device_name(device))


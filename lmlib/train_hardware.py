"""The hardware side of ``fit``: precision (fp32, bf16, fp16 with a grad scaler), TF32 matmuls,
torch.compile, and forward passes that skip the id check. Part of ``lmlib.train``.

On a GPU, fit keeps the device busy: ids checked once (not in every forward pass), batches gathered on
the device from indices sent ahead in pinned memory, one host-device sync per step (the loss and the
gradient norm read together), TF32 or 16-bit matmuls, fused AdamW, optionally torch.compile. On the
CPU the same loop gives exactly the numbers it always gave in fp32.
"""

from __future__ import annotations

import contextlib
import inspect
import warnings
from typing import Callable

import torch
import torch.nn as nn

from .train_config import PRECISIONS

__all__ = ["resolve_precision"]


def resolve_precision(precision: str, device: torch.device) -> str:
    """The precision ``fit`` trains with on ``device``: "auto" resolved, and checked that the device can."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    native_bf16 = device.type == "cuda" and _native_bf16(device)
    if precision == "auto":
        if device.type != "cuda":
            return "fp32"
        return "bf16" if native_bf16 else "fp16"
    if precision == "bf16" and device.type == "cuda" and not native_bf16:
        raise ValueError(
            f"precision 'bf16' needs a GPU with native bfloat16 (compute capability 8.0 or newer); "
            f"{torch.cuda.get_device_name(device)} has {'.'.join(map(str, torch.cuda.get_device_capability(device)))}: "
            "use 'fp16' (or 'auto', which picks it)"
        )
    if precision in ("bf16", "fp16") and device.type not in ("cuda", "cpu"):
        raise ValueError(f"precision {precision!r} is supported on 'cuda' and 'cpu', not {device.type!r}; use 'fp32'")
    if precision == "fp16" and device.type == "cpu" and not _has_amp_grad_scaler():
        raise ValueError(
            f"precision 'fp16' on the CPU needs torch >= 2.3 (this is {torch.__version__}); use 'bf16' or 'fp32'"
        )
    return precision


def _native_bf16(device: torch.device) -> bool:
    if getattr(torch.version, "hip", None):
        return torch.cuda.is_bf16_supported()
    return torch.cuda.get_device_capability(device) >= (8, 0)


def _has_amp_grad_scaler() -> bool:
    return "device" in inspect.signature(getattr(torch.amp, "GradScaler", lambda: None)).parameters


def _autocast(device: torch.device, precision: str):
    """A context that runs forward passes at ``precision`` (a no-op for fp32)."""
    if precision == "fp32":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def _grad_scaler(device: torch.device, precision: str):
    """fp16 needs its loss scaled so that small gradients do not underflow; None for fp32 and bf16."""
    if precision != "fp16":
        return None
    if _has_amp_grad_scaler():
        return torch.amp.GradScaler(device.type)
    return torch.cuda.amp.GradScaler()  # torch < 2.3


@contextlib.contextmanager
def _tf32_matmuls(device: torch.device):
    """Inside: float32 matmuls on CUDA use TF32 tensor cores (torch's "high" precision); restored after."""
    if device.type != "cuda":
        yield
        return
    before = torch.get_float32_matmul_precision()
    if before == "highest":
        torch.set_float32_matmul_precision("high")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


def _compiled(model: nn.Module) -> Callable:
    """torch.compile(model), or the model itself (with a warning) where torch.compile is unavailable."""
    try:
        return torch.compile(model)
    except Exception as err:  # e.g. a Python that this torch's compiler does not support yet
        warnings.warn(f"torch.compile is unavailable here ({err}); training without it", RuntimeWarning, stacklevel=3)
        return model


def _ids_checked(model: nn.Module):
    """The model's ``ids_checked()`` context (forward passes skip the id-range check), if it has one."""
    checked = getattr(model, "ids_checked", None)
    return checked() if callable(checked) else contextlib.nullcontext()

"""Where code runs and how it repeats: device choice and seeding.

Used by every other module; explained in chapter 1 (the environment report) and chapter 5 (set-up).
"""

from __future__ import annotations

import os
import random

import torch

__all__ = ["resolve_device", "seed_everything"]


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """The device to run on: ``device`` if given, else ``$LMLIB_DEVICE`` if set, else CUDA when available,
    else the CPU."""
    if device is None and os.environ.get("LMLIB_DEVICE"):
        device = os.environ["LMLIB_DEVICE"]
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError, OverflowError) as err:
        raise ValueError(f"device must be 'cpu', 'cuda', 'cuda:N' or a torch.device, got {device!r}") from err
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for, but this machine has no CUDA device; use 'cpu'")
    return resolved


def seed_everything(seed: int) -> None:
    """Seed Python's, NumPy's (if installed) and torch's random generators with ``seed``."""
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**64:
        raise ValueError(f"seed must be an int in [0, 2**64), got {seed!r}")
    random.seed(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover - numpy is a dependency, but seeding must not need it
        pass
    torch.manual_seed(seed)

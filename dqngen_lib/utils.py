"""Small helpers used everywhere: the FAST switch, device choice, seeding (lesson 00)."""
from __future__ import annotations

import os
import random

import numpy as np
import torch

__all__ = ["fast", "get_device", "seed_everything", "describe_device"]


def fast() -> bool:
    """True when the environment variable ``FAST`` is set to a true value.

    The test suite sets ``FAST=1`` so that every lesson trains for seconds instead of minutes.
    With it off (the default), lessons train to the quality their text claims.
    """
    return os.environ.get("FAST", "").strip().lower() in {"1", "true", "yes", "on"}


def get_device(device: str | torch.device | None = "auto") -> torch.device:
    """Resolve ``"auto"`` (CUDA when present, else CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(f"unknown device {device!r}; expected 'auto', 'cpu' or 'cuda[:N]'") from exc
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for, but torch finds no CUDA GPU; use 'cpu' or 'auto'")
    return dev


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (CPU and CUDA) in one place; return a CPU ``torch.Generator``."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    return torch.Generator().manual_seed(seed)


def describe_device(device: torch.device | None = None) -> str:
    """One line naming the device: the GPU's name, or the CPU and its thread count."""
    device = get_device("auto") if device is None else torch.device(device)
    if device.type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(device)})"
    return f"cpu ({torch.get_num_threads()} threads)"

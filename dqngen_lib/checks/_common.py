"""Shared pieces of the exercise checks."""
from __future__ import annotations

import torch

__all__ = ["CheckError", "ok", "call", "expect_close", "expect_equal"]


class CheckError(AssertionError):
    """An exercise check failed; the message says what was expected and what came."""


def ok(message: str) -> None:
    """Report a passed check."""
    print(f"OK: {message}")


def call(fn, *args, what: str = "your function", **kwargs):
    """Call the learner's function; a stub's ``NotImplementedError`` becomes a clear failure."""
    try:
        return fn(*args, **kwargs)
    except NotImplementedError as exc:
        raise CheckError(f"{what} is not implemented yet (it raised NotImplementedError: {exc})") from None


def _fmt(x) -> str:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu()
        if x.numel() <= 8:
            return str([round(float(v), 4) for v in x.flatten()]) if x.dtype.is_floating_point else str(x.flatten().tolist())
        return f"tensor of shape {tuple(x.shape)}"
    return repr(x)


def expect_close(got, expected: torch.Tensor, what: str, atol: float = 1e-5) -> None:
    """Raise ``CheckError`` unless ``got`` is a tensor of ``expected``'s shape and values."""
    if not isinstance(got, torch.Tensor):
        raise CheckError(f"{what}: expected a torch.Tensor, got {type(got).__name__}")
    if tuple(got.shape) != tuple(expected.shape):
        raise CheckError(f"{what}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}")
    if got.device != expected.device:
        raise CheckError(f"{what}: expected a tensor on {expected.device}, got one on {got.device}")
    diff = (got.float() - expected.float()).abs()
    if not torch.isfinite(got.float()).all() or float(diff.max()) > atol:
        i = int(diff.flatten().argmax())
        raise CheckError(f"{what}: expected {_fmt(expected)}, got {_fmt(got)} "
                         f"(first large difference at flat index {i}: expected "
                         f"{float(expected.flatten()[i]):.4f}, got {float(got.flatten()[i]):.4f})")


def expect_equal(got, expected, what: str) -> None:
    """Raise ``CheckError`` unless ``got == expected`` (plain values)."""
    if got != expected:
        raise CheckError(f"{what}: expected {expected!r}, got {got!r}")

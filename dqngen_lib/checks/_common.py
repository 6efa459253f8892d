"""Shared pieces of the exercise checks.

* ``call`` runs the learner's function: a stub's ``NotImplementedError`` and any other exception
  become a ``CheckError`` naming the function, its arguments and the error; an argument changed
  in place (a tensor, a field of a ``Batch``, a network's parameters) is reported by name.
* ``expect_tensor`` checks the kind, shape, dtype and device of a result, ``expect_close`` also
  its values, naming the first differing index, the two values there and how many differ.
* ``cuda_devices`` lists the extra devices a check also runs on (CUDA when there is one).
"""
from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

__all__ = ["CheckError", "ok", "call", "describe", "expect_tensor", "expect_close", "expect_equal",
           "first_difference", "difference", "fmt_index", "fmt_value", "cuda_devices", "same_device"]


class CheckError(AssertionError):
    """An exercise check failed; the message says what was expected and what came."""


def ok(message: str) -> None:
    """Report a passed check."""
    print(f"OK: {message}")


def same_device(got, want) -> bool:
    """Whether ``got`` is the device ``want`` names ("cuda" means the current CUDA device, like "cuda:0")."""
    got, want = torch.device(got), torch.device(want)
    if got.type != want.type:
        return False
    if got.index is None or want.index is None:
        current = torch.cuda.current_device() if got.type == "cuda" and torch.cuda.is_available() else 0
        return (got.index if got.index is not None else current) == (want.index if want.index is not None else current)
    return got.index == want.index


def cuda_devices() -> list[str]:
    """The devices a check runs on besides the CPU: ``["cuda"]`` when a GPU is available."""
    return ["cuda"] if torch.cuda.is_available() else []


# ---------------------------------------------------------------------------------------------
# Describing values in messages
# ---------------------------------------------------------------------------------------------

def fmt_value(v) -> str:
    """One number as a message shows it (4 decimals for floats)."""
    if isinstance(v, torch.Tensor):
        v = v.item()
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, (int, np.integer)):
        return str(int(v))
    v = float(v)
    if math.isnan(v) or math.isinf(v):
        return str(v)
    return f"{v:.4f}"


def fmt_index(idx) -> str:
    """A tensor index as a message shows it: ``3`` for 1-D, ``(1, 2, 0)`` otherwise."""
    idx = tuple(int(i) for i in idx)
    if len(idx) == 1:
        return str(idx[0])
    return "(" + ", ".join(map(str, idx)) + ")"


def _kind(x) -> str:
    t = type(x)
    return t.__name__ if t.__module__ in ("builtins", None) else f"{t.__module__.split('.')[0]}.{t.__name__}"


def describe(x) -> str:
    """A short description of an argument: shape and dtype of a tensor, a scalar's value, ..."""
    if isinstance(x, torch.Tensor):
        dev = "" if x.device.type == "cpu" else f" on {x.device}"
        if x.ndim == 0:
            return f"tensor({fmt_value(x)}){dev}"
        return f"tensor {tuple(x.shape)} {str(x.dtype).replace('torch.', '')}{dev}"
    if isinstance(x, torch.Generator):
        return "a torch.Generator"
    if isinstance(x, nn.Module):
        return f"a {type(x).__name__} network"
    if isinstance(x, tuple) and hasattr(x, "_fields"):
        return f"{type(x).__name__}(" + ", ".join(f"{f}={describe(getattr(x, f))}" for f in x._fields) + ")"
    if isinstance(x, (bool, int, float, np.integer, np.floating)) or x is None:
        return repr(x) if not isinstance(x, float) else f"{x:g}"
    if isinstance(x, (list, tuple)):
        inner = ", ".join(describe(v) for v in x[:4]) + (", ..." if len(x) > 4 else "")
        return f"[{inner}]" if isinstance(x, list) else f"({inner})"
    if isinstance(x, np.ndarray):
        return f"ndarray {x.shape} {x.dtype}"
    return f"a {type(x).__name__}"


# ---------------------------------------------------------------------------------------------
# Calling the learner's code
# ---------------------------------------------------------------------------------------------

def _tensors(name: str, x):
    """``(label, tensor)`` of every tensor an argument holds (a Batch's fields, a network's parameters)."""
    if isinstance(x, torch.Tensor):
        yield f"its argument `{name}`", x
    elif isinstance(x, nn.Module):
        for n, t in list(x.named_parameters()) + list(x.named_buffers()):
            yield f"the parameter `{n}` of `{name}`", t
    elif isinstance(x, tuple) and hasattr(x, "_fields"):
        for f in x._fields:
            yield from _tensors(f"{name}.{f}", getattr(x, f))
    elif isinstance(x, (list, tuple)):
        for i, v in enumerate(x):
            yield from _tensors(f"{name}[{i}]", v)
    elif hasattr(x, "__dataclass_fields__"):
        for f in x.__dataclass_fields__:
            yield from _tensors(f"{name}.{f}", getattr(x, f, None))


def _changed(before: torch.Tensor, after: torch.Tensor) -> str | None:
    """How ``after`` differs from the snapshot ``before`` (None: unchanged)."""
    if before.shape != after.shape:
        return f"its shape went from {tuple(before.shape)} to {tuple(after.shape)}"
    if before.dtype != after.dtype:
        return f"its dtype went from {before.dtype} to {after.dtype}"
    a, b = before.detach().cpu(), after.detach().cpu()
    same = (a == b) | (torch.isnan(a) & torch.isnan(b)) if a.dtype.is_floating_point else a == b
    if bool(same.all()):
        return None
    bad = (~same).nonzero()
    idx = tuple(int(i) for i in bad[0])
    n = len(bad)
    return (f"{n} of {a.numel()} values changed, e.g. at index {fmt_index(idx) if idx else '()'}: "
            f"was {fmt_value(a[idx])}, now {fmt_value(b[idx])}")


def call(fn, *args, what: str = "your function", names=None, mutable=(), **kwargs):
    """Call the learner's ``fn(*args, **kwargs)`` and return its result.

    A stub's ``NotImplementedError`` and any other exception become a ``CheckError`` that names
    ``what``, the arguments (``names`` their names) and the error. An argument the call changed in
    place (a tensor, a field of a ``Batch``, a network's parameters or buffers) is a ``CheckError``
    too, naming the argument -- except the arguments named in ``mutable`` (``True``: all of them),
    which the function is meant to change and the check inspects itself.
    """
    names = list(names or [])
    names += [f"argument {i + 1}" for i in range(len(names), len(args))]
    labelled = list(zip(names, args)) + list(kwargs.items())
    watched = [] if mutable is True else [(n, a) for n, a in labelled if n not in set(mutable)]
    snapshots = [(n, t, t.detach().clone()) for name, a in watched for n, t in _tensors(name, a)]
    try:
        out = fn(*args, **kwargs)
    except CheckError:
        raise
    except NotImplementedError as exc:
        raise CheckError(f"{what} is not implemented yet (it raised NotImplementedError: {exc})") from None
    except Exception as exc:  # the learner's own error, shown with the call that caused it
        shown = ", ".join(f"{n}={describe(a)}" for n, a in labelled)
        msg = str(exc).strip().splitlines()
        msg = msg[0] if msg else ""
        raise CheckError(f"{what} raised {type(exc).__name__}: {msg}\n  (called with {shown})") from exc
    for n, t, before in snapshots:
        how = _changed(before, t)
        if how is not None:
            if n.startswith("the parameter"):
                raise CheckError(f"{what} changed {n} ({how}); expected it to leave the networks unchanged "
                                 f"(no optimiser step, no load_state_dict, no in-place change of a parameter)")
            raise CheckError(f"{what} changed {n} in place ({how}); expected it to leave its inputs "
                             f"untouched and return new tensors (use out-of-place operations such as "
                             f"x = x + y or x.clone(), not x += y, x[...] = ... or methods ending in _)")
    return out


# ---------------------------------------------------------------------------------------------
# Comparing results
# ---------------------------------------------------------------------------------------------

_NO_RETURN = " (did the function forget to return its result?)"
_TYPE_HINTS = {
    "NoneType": _NO_RETURN,
    "tuple": " (return the tensor itself, not a tuple)",
    "list": " (build a tensor with torch operations instead of a Python list)",
    "ndarray": " (stay in torch: no .numpy())",
    "float": " (keep the result a tensor: no .item() or float(...))",
    "int": " (keep the result a tensor: no .item() or int(...))",
}


def expect_tensor(got, what: str, shape=None, dtype=None, device=None, dtype_hint: str = "") -> torch.Tensor:
    """Raise ``CheckError`` unless ``got`` is a tensor of ``shape``, ``dtype`` and ``device`` (None: any)."""
    if not isinstance(got, torch.Tensor):
        name = type(got).__name__
        if hasattr(got, "_fields") or name in ("max", "min", "topk", "sort"):
            hint = " (a named tuple: take its .indices or .values)"
        else:
            hint = _TYPE_HINTS.get(name, "")
        raise CheckError(f"{what}: expected a torch.Tensor, got {_kind(got)}{hint}")
    if shape is not None and tuple(got.shape) != tuple(shape):
        raise CheckError(f"{what}: expected shape {tuple(shape)}, got {tuple(got.shape)}")
    if dtype is not None and got.dtype != dtype:
        raise CheckError(f"{what}: expected dtype {dtype}, got {got.dtype}{dtype_hint}")
    if device is not None and not same_device(got.device, device):
        raise CheckError(f"{what}: expected a tensor on {torch.device(device)} (where the inputs are), "
                         f"got one on {got.device}")
    return got


def first_difference(got: torch.Tensor, expected: torch.Tensor, atol: float = 1e-5, rtol: float = 1e-5):
    """``(index, count)`` of the first value of ``got`` that differs from ``expected`` and how many
    differ, or None when all agree (NaN or inf where a finite value was expected differs)."""
    g = got.detach().to("cpu", torch.float64)
    e = expected.detach().to("cpu", torch.float64)
    close = torch.isclose(g, e, rtol=rtol, atol=atol, equal_nan=True)
    if bool(close.all()):
        return None
    bad = (~close).nonzero()
    return tuple(int(i) for i in bad[0]), len(bad)


def difference(got: torch.Tensor, expected: torch.Tensor, diff=None, where=None) -> str:
    """"values differ at index i: expected X, got Y (n of N values differ)" for the first difference."""
    idx, count = diff if diff is not None else first_difference(got, expected)
    place = where(idx) if where is not None else f"index {fmt_index(idx)}"
    g, e = got.detach().cpu()[idx], expected.detach().cpu()[idx]
    if expected.ndim == 0:
        return f"expected {fmt_value(e)}, got {fmt_value(g)}"
    return (f"values differ at {place}: expected {fmt_value(e)}, got {fmt_value(g)} "
            f"({count} of {expected.numel()} values differ)")


def expect_close(got, expected: torch.Tensor, what: str, atol: float = 1e-5, rtol: float = 1e-5,
                 dtype="same", variants=None, where=None, dtype_hint: str = "") -> torch.Tensor:
    """Raise ``CheckError`` unless ``got`` is a tensor of ``expected``'s shape, device, dtype and values.

    ``dtype="same"`` asks for ``expected``'s dtype, None for any. ``variants`` maps the diagnosis of
    a common mistake to the result it gives: a match names the mistake. ``where(index)`` may
    describe an index in words. Values that differ are named by their first index, with a count.
    """
    want_dtype = expected.dtype if dtype == "same" else dtype
    expect_tensor(got, what, tuple(expected.shape), want_dtype, expected.device, dtype_hint=dtype_hint)
    diff = first_difference(got, expected, atol, rtol)
    if diff is None:
        return got
    differ = difference(got, expected, diff, where)
    for why, wrong in (variants or {}).items():
        if wrong is not None and tuple(wrong.shape) == tuple(got.shape) \
                and first_difference(got, wrong, atol, rtol) is None:
            raise CheckError(f"{what}: {why}\n  ({differ})")
    raise CheckError(f"{what}: {differ}")


def expect_equal(got, expected, what: str) -> None:
    """Raise ``CheckError`` unless ``got == expected`` (plain values)."""
    if got != expected:
        raise CheckError(f"{what}: expected {expected!r}, got {got!r}")

"""Proof that a loop never waits for the device (lesson 08).

``no_host_sync`` is a context manager that fails on any host synchronisation: on a GPU through
``torch.cuda.set_sync_debug_mode("error")``, on any device (the CPU included) by watching every
ATen operator that reads a tensor's value on the host. Lesson 08 runs the trainer's hot loop
inside it; the tests do too.
"""
from __future__ import annotations

import torch

__all__ = ["no_host_sync", "HostSyncError", "SYNC_OPS"]

# ATen operators that copy a device value to the host (and so make the host wait for the device).
SYNC_OPS = frozenset({"aten::_local_scalar_dense", "aten::item", "aten::is_nonzero", "aten::equal",
                       "aten::nonzero", "aten::nonzero_static", "aten::masked_select", "aten::_unique",
                       "aten::_unique2", "aten::unique_dim", "aten::unique_consecutive", "aten::repeat_interleave"})


class HostSyncError(RuntimeError):
    """Raised by ``no_host_sync`` when the code reads a device value on the host."""


class no_host_sync:  # noqa: N801 - used as a context manager, like torch.no_grad
    """Context manager that fails on any host synchronisation (lesson 08).

    On a GPU it switches on ``torch.cuda.set_sync_debug_mode("error")``. On any device (the CPU
    included) it also watches every ATen operator through a ``TorchDispatchMode`` and raises
    ``HostSyncError`` on those that read a tensor's value on the host (``.item()``,
    ``float(t)``, ``bool(t)``, ``if t:``, ``nonzero``, boolean-mask indexing, ...). ``allow`` lists
    tensors that live on the host by design (a CPU optimizer's step counters); ``Trainer`` gives
    its own with ``trainer.host_tensors()``. ``self.ops`` counts the operators seen.
    """

    def __init__(self, allow=()):
        self.allow = {id(t) for t in allow}
        self.ops = 0
        self._mode = None
        self._cuda_prev = None

    def __enter__(self):
        from torch.utils._python_dispatch import TorchDispatchMode

        outer = self

        class _Watch(TorchDispatchMode):
            def __torch_dispatch__(self, func, types, args=(), kwargs=None):
                outer.ops += 1
                name = func._schema.name
                if name in SYNC_OPS and not (args and id(args[0]) in outer.allow):
                    where = args[0].device if args and isinstance(args[0], torch.Tensor) else "?"
                    raise HostSyncError(f"host synchronisation: {name} on a tensor on {where} "
                                        f"(reading a device value on the host inside the loop)")
                return func(*args, **(kwargs or {}))

        if torch.cuda.is_available():
            self._cuda_prev = torch.cuda.get_sync_debug_mode()
            torch.cuda.set_sync_debug_mode("error")
        self._mode = _Watch()
        self._mode.__enter__()
        return self

    def __exit__(self, *exc):
        self._mode.__exit__(*exc)
        if self._cuda_prev is not None:
            torch.cuda.set_sync_debug_mode(self._cuda_prev)
        return False

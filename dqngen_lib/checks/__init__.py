"""Exercise checks: one module per exercise (``ex01`` for exercise 01, ...; ``ex05_loop`` holds exercise 05's
check of a whole training loop, ``ex10`` the checks of the agent to fix).

Every check calls the learner's function on inputs it builds, compares with the library's
reference, and raises ``CheckError`` (an ``AssertionError``) whose message says what was
expected and what came. On success it prints one line starting with ``OK``.
``from dqngen_lib.checks import check_...`` finds the check of any exercise.
"""
from __future__ import annotations

import importlib
import pkgutil

from ._common import CheckError, ok  # noqa: F401

__all__ = ["CheckError", "ok"]
for _m in sorted(m.name for m in pkgutil.iter_modules(__path__) if m.name.startswith("ex")):
    _mod = importlib.import_module(f"{__name__}.{_m}")
    for _name in getattr(_mod, "__all__", []):
        globals()[_name] = getattr(_mod, _name)
        __all__.append(_name)

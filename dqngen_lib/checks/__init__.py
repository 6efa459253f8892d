"""Exercise checks: one module per exercise (``ex01`` for exercise 01, ...).

Every check calls the learner's function on inputs it builds, compares with the library's
reference, and raises ``CheckError`` (an ``AssertionError``) whose message says what was
expected and what came. On success it prints one line starting with ``OK``.
"""
from __future__ import annotations

from ._common import CheckError, ok  # noqa: F401
from .ex01 import *  # noqa: F401,F403

"""dqngen_lib: the helper library of the dqngen course.

Each module holds the piece that one lesson derives (its docstrings name the lesson), in layers
that only import downwards; the README's table "The library" lists them, and
``tests/test_layout.py`` checks every import against that table.
Importing the package registers the gymnasium environment ``dqngen/Canvas-v0``.
"""
__version__ = "0.1.0"

from . import envs as _envs  # noqa: F401  (registers dqngen/Canvas-v0)

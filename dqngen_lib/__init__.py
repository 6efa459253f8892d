"""dqngen_lib: the helper library of the dqngen course.

Each module holds the piece that one lesson derives (its docstrings name the lesson):
``data`` and ``utils`` (lesson 00), ``envs`` (lesson 01), and the modules of later lessons.
Importing the package registers the gymnasium environment ``dqngen/Canvas-v0``.
"""
__version__ = "0.1.0"

from . import envs as _envs  # noqa: F401  (registers dqngen/Canvas-v0)

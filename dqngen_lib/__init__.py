"""dqngen_lib: the helper library of the dqngen course.

Each module holds the piece that one lesson derives (its docstrings name the lesson), in layers
that only import downwards: ``utils`` and ``data`` (lesson 00); ``envs`` (01), ``nets`` (03),
``replay`` (04), ``metrics``, ``hostsync`` and ``budget``; ``rewards`` and ``gan`` (07), ``tabular`` (02),
``exact`` and ``planners``;
``config`` and ``agent`` (05); ``rollout`` and ``checkpoint``; ``train``, ``seed_agent`` and
``generate``; ``viz`` and ``bench``; ``explorer`` (08) and ``cli`` on top.
Importing the package registers the gymnasium environment ``dqngen/Canvas-v0``.
"""
__version__ = "0.1.0"

from . import envs as _envs  # noqa: F401  (registers dqngen/Canvas-v0)

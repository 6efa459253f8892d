"""dqngen_lib: the helper library of the dqngen course.

Each module holds the piece that one lesson derives (its docstrings name the lesson), in layers
that only import downwards; the README's table "The library" lists them, and
``tests/test_layout.py`` checks every import against that table.
Importing the package registers the gymnasium environment ``dqngen/Canvas-v0``.
"""
__version__ = "0.1.0"

import os as _os
import signal as _signal
import sys as _sys

_AS_SCRIPT = bool(_sys.argv) and _os.path.basename(_sys.argv[0]).split(".")[0] in ("dqngen", "dqngen-script")
if _AS_SCRIPT:
    # the `dqngen` command: a Ctrl-C (or SIGTERM) while torch loads says so in one line (cli.main takes over)
    def _interrupted_while_starting(signum, frame):
        print("dqngen: interrupted while starting; nothing was done", file=_sys.stderr)
        raise SystemExit(130)
    _signal.signal(_signal.SIGINT, _interrupted_while_starting)
    _signal.signal(_signal.SIGTERM, _interrupted_while_starting)      # SIGTERM is handled like Ctrl-C

from . import envs as _envs  # noqa: F401,E402  (registers dqngen/Canvas-v0)

"""The ``dqngen`` command line (also ``python -m dqngen_lib``).

Subcommands live next to the code they drive: a module listed in ``COMMAND_MODULES`` that
defines ``add_commands(subparsers)`` registers its own subcommands, each with a ``func``
default taking the parsed ``args`` and returning an exit code.
"""
from __future__ import annotations

import argparse
import importlib
import json
import platform
import sys

from . import __version__

# Modules that add subcommands (in this order); each defines add_commands(subparsers).
COMMAND_MODULES = ("bench", "train", "generate", "viz")


def _info(args) -> int:
    import gymnasium
    import numpy
    import sklearn
    import torch

    from .data import load_digits
    from .utils import describe_device, get_device

    d = load_digits()
    info = {
        "dqngen": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "gymnasium": gymnasium.__version__,
        "numpy": numpy.__version__,
        "scikit-learn": sklearn.__version__,
        "device": str(get_device("auto")),
        "device_detail": describe_device(),
        "cuda_available": torch.cuda.is_available(),
        "data": {"name": d.name, "train": len(d.x_train), "test": len(d.x_test),
                 "size": d.size, "ink_levels": sorted(set(d.x_train.ravel().round(3).tolist()))},
    }
    if args.json:
        print(json.dumps(info, indent=2))
    else:
        for k, v in info.items():
            print(f"{k:>14}: {v}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="dqngen", description="dqngen: deep Q-learning that paints digits.")
    p.add_argument("--version", action="version", version=f"dqngen {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    pi = sub.add_parser("info", help="versions, the device found, the data set sizes")
    pi.add_argument("--json", action="store_true", help="print JSON")
    pi.set_defaults(func=_info)
    for name in COMMAND_MODULES:
        try:
            mod = importlib.import_module(f"{__package__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"{__package__}.{name}":
                continue
            raise
        if hasattr(mod, "add_commands"):
            mod.add_commands(sub)
    return p


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError) as exc:
        print(f"dqngen {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

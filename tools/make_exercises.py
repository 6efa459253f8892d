#!/usr/bin/env python
"""Generate ``exercises/`` from ``solutions/`` (the single source of every exercise).

In each code cell of ``solutions/NN_*.ipynb`` the lines between ``### BEGIN SOLUTION`` and
``### END SOLUTION`` become ``raise NotImplementedError(...)`` at the same indentation. Outputs
are cleared. Cells that hold a solution region, and cells tagged ``check`` (they call the
learner's code), are tagged ``raises-exception`` so that nbval runs the exercise notebooks
top to bottom even before they are solved.

    python tools/make_exercises.py           # rewrite exercises/
    python tools/make_exercises.py --check   # exit 1 if exercises/ differs from what would be written
"""
from __future__ import annotations

import argparse
import copy
import pathlib
import re
import sys

import nbformat

ROOT = pathlib.Path(__file__).resolve().parents[1]
BEGIN = re.compile(r"^(\s*)### BEGIN SOLUTION\s*$")
END = re.compile(r"^\s*### END SOLUTION\s*$")
STUB = 'raise NotImplementedError("exercise: replace this line with your code")'


def strip_solutions(source: str) -> tuple[str, bool]:
    """Replace every solution region in ``source`` with a stub; return (new source, found any)."""
    out, inside, found = [], False, False
    for line in source.split("\n"):
        m = BEGIN.match(line)
        if m and not inside:
            inside, found = True, True
            out.append(f"{m.group(1)}# YOUR CODE HERE")
            out.append(f"{m.group(1)}{STUB}")
            continue
        if inside:
            if END.match(line):
                inside = False
            continue
        out.append(line)
    if inside:
        raise ValueError("a '### BEGIN SOLUTION' has no matching '### END SOLUTION'")
    return "\n".join(out), found


def make_exercise(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    ex = copy.deepcopy(nb)
    for cell in ex.cells:
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        cell.source, found = strip_solutions(cell.source)
        tags = list(cell.metadata.get("tags", []))
        if (found or "check" in tags) and "raises-exception" not in tags:
            tags.append("raises-exception")
        if tags:
            cell.metadata["tags"] = tags
    return ex


def render(nb: nbformat.NotebookNode) -> str:
    return nbformat.writes(nb) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="only compare, write nothing")
    args = ap.parse_args(argv)
    stale = []
    for sol in sorted((ROOT / "solutions").glob("*.ipynb")):
        text = render(make_exercise(nbformat.read(sol, as_version=4)))
        dest = ROOT / "exercises" / sol.name
        if args.check:
            if not dest.exists() or dest.read_text() != text:
                stale.append(dest.relative_to(ROOT))
        else:
            dest.parent.mkdir(exist_ok=True)
            dest.write_text(text)
    if args.check and stale:
        print("exercises differ from solutions; run `make exercises`:", *stale, sep="\n  ")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Generate ``exercises/`` from ``solutions/`` (the single source of every exercise).

Two kinds of region mark what differs between a solution and its exercise, in any code cell of
``solutions/NN_*.ipynb``:

* **Write it** -- the lines between ``### BEGIN SOLUTION`` and ``### END SOLUTION`` become
  ``raise NotImplementedError(...)`` at the marker's indentation::

      def f(x):
          ### BEGIN SOLUTION
          return x + 1
          ### END SOLUTION

* **Fix it** -- ``### BEGIN FIX`` / ``### ELSE`` / ``### END FIX``: the solution runs the fixed
  code (between ``BEGIN FIX`` and ``ELSE``); the exercise ships the *buggy* alternative written
  after ``ELSE`` instead, as comment lines that the generator uncomments: each line there is
  ``#`` followed by one space and the code, at the indentation of ``### BEGIN FIX`` or deeper
  (``#`` alone is an empty line; a comment of the buggy code is written ``# # ...``). The
  alternative may be empty (the bug is a missing line). The markers vanish, so nothing in the
  exercise shows where the bug is::

      ### BEGIN FIX
      done = terminated | truncated
      ### ELSE
      # done = terminated
      ### END FIX

Regions do not nest. Outputs are cleared. Cells that hold a ``SOLUTION`` region, and cells tagged
``check`` (they call the learner's code), are tagged ``raises-exception`` so that nbval runs the
exercise notebooks top to bottom even before they are solved. Cells that hold only ``FIX``
regions are *not* tagged: buggy code runs (it is wrong, not missing), and the test suite makes
sure it does.

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
BEGIN_FIX = re.compile(r"^(\s*)### BEGIN FIX\s*$")
ELSE_FIX = re.compile(r"^\s*### ELSE\s*$")
END_FIX = re.compile(r"^\s*### END FIX\s*$")
STUB = 'raise NotImplementedError("exercise: replace this line with your code")'


def _uncomment(line: str, indent: str, number: int) -> str:
    """The code of one commented line of a FIX region's buggy alternative."""
    if not line.strip():
        return ""
    if not line.startswith(indent):
        raise ValueError(f"line {number}: the buggy alternative of a '### BEGIN FIX' region is less indented than "
                         f"its marker: {line!r}")
    rest = line[len(indent):]
    inner = rest.lstrip(" \t")
    deeper = rest[:len(rest) - len(inner)]
    if inner == "#":
        return ""
    if not inner.startswith("# "):
        raise ValueError(f"line {number}: every line after '### ELSE' must be commented out ('# ' then the code, "
                         f"so that the solution does not run it), got {line!r}")
    return indent + deeper + inner[2:]


def generate(source: str) -> tuple[str, set[str]]:
    """The exercise's version of a cell's ``source`` and the kinds of region it held ("solution", "fix").

    SOLUTION regions become a stub; FIX regions keep their buggy alternative (uncommented).
    A malformed region (unclosed, nested, ``### ELSE`` missing, a buggy line not commented out)
    raises ``ValueError`` naming the line.
    """
    out: list[str] = []
    kinds: set[str] = set()
    state, indent = "code", ""          # code | solution | fix | buggy
    for number, line in enumerate(source.split("\n"), start=1):
        sol, fix = BEGIN.match(line), BEGIN_FIX.match(line)
        if state == "code":
            if sol:
                state, indent = "solution", sol.group(1)
                kinds.add("solution")
                out.append(f"{indent}# YOUR CODE HERE")
                out.append(f"{indent}{STUB}")
            elif fix:
                state, indent = "fix", fix.group(1)
                kinds.add("fix")
            elif ELSE_FIX.match(line) or END_FIX.match(line):
                raise ValueError(f"line {number}: {line.strip()!r} outside a '### BEGIN FIX' region")
            else:
                out.append(line)
        elif state == "solution":
            if fix or sol:
                raise ValueError(f"line {number}: regions do not nest ({line.strip()!r} inside a "
                                 f"'### BEGIN SOLUTION' region)")
            if END.match(line):
                state = "code"
        elif state == "fix":
            if fix or sol:
                raise ValueError(f"line {number}: regions do not nest ({line.strip()!r} inside a "
                                 f"'### BEGIN FIX' region)")
            if END_FIX.match(line):
                raise ValueError(f"line {number}: a '### BEGIN FIX' region needs '### ELSE' and the buggy "
                                 f"alternative before '### END FIX'")
            if ELSE_FIX.match(line):
                state = "buggy"
        else:  # buggy
            if fix or sol or ELSE_FIX.match(line):
                raise ValueError(f"line {number}: {line.strip()!r} inside the buggy alternative of a "
                                 f"'### BEGIN FIX' region")
            if END_FIX.match(line):
                state = "code"
            else:
                out.append(_uncomment(line, indent, number))
    if state == "solution":
        raise ValueError("a '### BEGIN SOLUTION' has no matching '### END SOLUTION'")
    if state in ("fix", "buggy"):
        raise ValueError("a '### BEGIN FIX' has no matching '### END FIX'")
    return "\n".join(out), kinds


def strip_solutions(source: str) -> tuple[str, bool]:
    """Replace every solution region in ``source`` with a stub (and every FIX region with its buggy
    alternative); return (new source, whether a SOLUTION region was found)."""
    out, kinds = generate(source)
    return out, "solution" in kinds


def make_exercise(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    ex = copy.deepcopy(nb)
    for i, cell in enumerate(ex.cells):
        if cell.cell_type != "code":
            continue
        cell.outputs, cell.execution_count = [], None
        try:
            cell.source, kinds = generate(cell.source)
        except ValueError as exc:
            raise ValueError(f"cell {i}: {exc}") from None
        tags = list(cell.metadata.get("tags", []))
        if ("solution" in kinds or "check" in tags) and "raises-exception" not in tags:
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
        try:
            text = render(make_exercise(nbformat.read(sol, as_version=4)))
        except ValueError as exc:
            print(f"{sol.relative_to(ROOT)}: {exc}", file=sys.stderr)
            return 2
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

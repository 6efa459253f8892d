"""Write results/README.md: every result file of results/, the command that made it, when, on what, and the
CPU time its runs took (read from the files themselves, so the index cannot drift from them).

    python tools/results_index.py            # rewrite results/README.md
    python tools/results_index.py --check    # exit 1 if results/README.md is not what this writes
"""
import argparse
import glob
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(ROOT, "results")

HEAD = """# Result files

Each file is written by the command in its row (`make results` makes every missing one; `dqngen
experiment NAME` one of them, resuming where a stopped run left off) and loaded by the lessons and
the README, which never quote a number that is not in one of these files or printed by a cell.
Training time is the sum over the file's runs of each run's training seconds (evaluations off the
clock), on the machine named; one thread of torch unless the row says otherwise. This page is
written by `python tools/results_index.py` (a test checks that it is current).

| file | command | date | runs | training time | machine | what it compares |
|---|---|---|---:|---:|---|---|
"""


def _row(path: str) -> str:
    with open(path) as f:
        d = json.load(f)
    name = os.path.basename(path)
    if not isinstance(d, dict):
        d = {}
    runs = [run for r in d.get("results", []) for run in r.get("runs", [])]
    secs = sum(float(run.get("final", {}).get("seconds") or 0.0) for run in runs)
    if "rows" in d:                                  # a benchmark (dqngen bench train --json): one row per agent
        runs, secs = d["rows"], sum(float(r.get("seconds") or 0.0) for r in d["rows"])
        d.setdefault("notes", f"Training speed and quality side by side, {d.get('mode')} mode: "
                              + ", ".join(str(r.get("agent")) for r in d["rows"]))
    m = d.get("machine") or {}
    machine = f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores"
    if m.get("torch_threads") not in (None, 1):
        machine += f", {m['torch_threads']} threads"
    if m.get("gpu"):
        machine += f", {m['gpu']}"
    what = (d.get("notes") or "").split(". ")[0].replace("|", "/")
    what = what if len(what) <= 240 else what[:what.rfind(" ", 0, 236)] + " …"
    time = f"{secs / 60:.0f} min" if runs else "-"
    return (f"| [`{name}`]({name}) | `{d.get('command', '?')}` | {str(d.get('date', '?'))[:10]} | {len(runs) or '-'} "
            f"| {time} | {machine} | {what} |")


def index() -> str:
    files = sorted(glob.glob(os.path.join(RESULTS, "*.json")))
    return HEAD + "\n".join(_row(f) for f in files) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="exit 1 if results/README.md is not current")
    args = ap.parse_args()
    text, path = index(), os.path.join(RESULTS, "README.md")
    if args.check:
        current = open(path).read() if os.path.exists(path) else ""
        if current != text:
            print(f"{path} is not current: run python tools/results_index.py", file=sys.stderr)
            return 1
        return 0
    with open(path, "w") as f:
        f.write(text)
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The repository itself: install files agree, exercises are generated from solutions."""
import json
import pathlib
import re
import subprocess
import sys
import tomllib

import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import make_exercises  # noqa: E402


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ;]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def test_environment_yml_matches_pyproject():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = {_name(r): r.replace(" ", "") for r in py["dependencies"] + py["optional-dependencies"]["test"]}
    text = (ROOT / "environment.yml").read_text()
    pip_section = text.split("- pip:", 1)[1]          # the pip list is the last block of the file
    pip_lines = re.findall(r"^\s+- (.+)$", pip_section, flags=re.M)
    got = {_name(r): r.replace(" ", "") for r in pip_lines if not r.startswith("-e")}
    assert set(got) == set(wanted), f"environment.yml pip deps {sorted(got)} != pyproject {sorted(wanted)}"
    for name, spec in wanted.items():
        assert got[name] == spec, f"{name}: environment.yml says {got[name]!r}, pyproject says {spec!r}"


def test_every_solution_has_an_exercise_and_a_check_cell():
    sols = sorted((ROOT / "solutions").glob("*.ipynb"))
    assert sols, "no solutions found"
    for sol in sols:
        nb = nbformat.read(sol, as_version=4)
        sources = [c.source for c in nb.cells if c.cell_type == "code"]
        assert any("### BEGIN SOLUTION" in s or "### BEGIN FIX" in s for s in sources), \
            f"{sol.name} has no region to write (### BEGIN SOLUTION) or to fix (### BEGIN FIX)"
        assert any("check" in c.metadata.get("tags", []) for c in nb.cells), f"{sol.name} has no cell tagged 'check'"
        assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), \
            f"{sol.name} keeps outputs; solutions are stored without them"
        assert (ROOT / "exercises" / sol.name).exists(), f"exercises/{sol.name} is missing"


def test_exercises_are_generated_from_solutions():
    proc = subprocess.run([sys.executable, str(ROOT / "tools" / "make_exercises.py"), "--check"],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_exercises_hold_no_solution_code():
    for ex in sorted((ROOT / "exercises").glob("*.ipynb")):
        text = ex.read_text()
        assert "BEGIN SOLUTION" not in text, f"{ex.name} still contains a solution region"
        assert "BEGIN FIX" not in text and "### ELSE" not in text, f"{ex.name} still shows where its bugs are"
        if "BEGIN SOLUTION" in (ROOT / "solutions" / ex.name).read_text():
            assert "NotImplementedError" in text, f"{ex.name} has no stub"


def test_strip_solutions_replaces_region_with_stub():
    src = "def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\n\nprint(f)"
    out, found = make_exercises.strip_solutions(src)
    assert found
    assert "return x + 1" not in out
    assert "    raise NotImplementedError" in out
    assert out.endswith("print(f)")
    with pytest.raises(ValueError, match="END SOLUTION"):
        make_exercises.strip_solutions("### BEGIN SOLUTION\nx = 1")


def test_lessons_are_numbered_and_read_fast():
    lessons = sorted((ROOT / "notebooks").glob("*.ipynb"))
    assert [p.name[:2] for p in lessons] == sorted({p.name[:2] for p in lessons}), "duplicate lesson numbers"
    for p in lessons:
        nb = nbformat.read(p, as_version=4)
        assert nb.cells[0].cell_type == "markdown", f"{p.name} should open with a Markdown introduction"
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        assert "import" in code and "dqngen_lib" in code, f"{p.name} does not use dqngen_lib"


def test_no_test_asserts_a_wall_clock_time():
    """Speed lives in `dqngen bench`; a test that asserts a duration fails on a loaded machine."""
    import re

    clock = re.compile(r"perf_counter\(\)|monotonic\(\)|time\.time\(\)|process_time\(\)")
    bad = []
    for path in sorted(pathlib.Path(__file__).parent.glob("test_*.py")):
        for n, line in enumerate(path.read_text().splitlines(), 1):
            if line.lstrip().startswith("assert") and (clock.search(line) or re.search(r"\bseconds\s*<", line)):
                bad.append(f"{path.name}:{n}: {line.strip()}")
    assert not bad, "wall-clock assertions:\n" + "\n".join(bad)


def test_the_results_index_lists_every_result_file_as_it_is():
    """results/README.md is what tools/results_index.py writes from the files (command, date, runs, CPU time)."""
    root = pathlib.Path(__file__).resolve().parents[1]
    r = subprocess.run([sys.executable, str(root / "tools" / "results_index.py"), "--check"], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    text = (root / "results" / "README.md").read_text()
    for f in sorted((root / "results").glob("*.json")):
        assert f"[`{f.name}`]({f.name})" in text, f.name


def _lesson_cells():
    for p in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(p, as_version=4)
        for i, c in enumerate(nb.cells):
            yield p.name, i, c


def test_no_lesson_cell_is_stored_unexecuted():
    """Every code cell of a lesson is stored as it ran (an execution count, its outputs), unless tagged
    'stored-unexecuted' with a comment saying why."""
    bad = [f"{name} cell {i}" for name, i, c in _lesson_cells() if c.cell_type == "code"
           and c.get("execution_count") is None and "stored-unexecuted" not in c.metadata.get("tags", [])]
    assert not bad, "code cells stored without having run: " + ", ".join(bad)


def test_no_markdown_cell_is_a_wall_of_text():
    """At most 300 words of prose per markdown cell (code blocks not counted): split it where a picture, a table
    or a check carries the point."""
    bad = []
    for name, i, c in _lesson_cells():
        if c.cell_type == "markdown":
            n = len(re.sub(r"```.*?```", " ", c.source, flags=re.S).split())
            if n > 300:
                bad.append(f"{name} cell {i}: {n} words")
    assert not bad, "markdown cells over 300 words:\n" + "\n".join(bad)


_NUM = re.compile(r"(?<![\w.$\\^_{])(\d{1,3}(?:[,\u202f\u2009 ]\d{3})+|\d+\.\d+|\d+)(?!\w)")


def _numbers(text: str) -> set[float]:
    out = set()
    for m in _NUM.finditer(text.replace("_", "")):
        out.add(float(re.sub(r"[,\u202f\u2009 ]", "", m.group(1))))
    return out


def _json_numbers(x, out: set) -> None:
    if isinstance(x, dict):
        for v in x.values():
            _json_numbers(v, out)
    elif isinstance(x, list):
        for v in x:
            _json_numbers(v, out)
    elif isinstance(x, (int, float)) and not isinstance(x, bool) and x == x and abs(x) != float("inf"):
        out.add(float(x))
    elif isinstance(x, str):
        out |= _numbers(x)


def _quoted_as(value: float, quoted: str) -> bool:
    """Whether ``value`` (printed or stored) is what the text wrote as ``quoted`` (its rounding, a percentage of
    it, or, for a round number such as 549 000, its rounding to that many zeros)."""
    q = float(quoted)
    if "." in quoted:
        dec = len(quoted.split(".")[1])
        return round(value, dec) == q or round(100 * value, dec) == q
    zeros = len(quoted) - len(quoted.rstrip("0")) if q else 0
    return any(round(v, -k) == q for v in (value, 100 * value) for k in range(zeros + 1))


def test_every_number_a_lesson_quotes_is_printed_or_stored():
    """A number of three or more significant digits in a lesson's text appears in an output of that lesson, in
    its code, or in a result file it loads (load_result): text cannot drift from its evidence."""
    bad = []
    for p in sorted((ROOT / "notebooks").glob("*.ipynb")):
        nb = nbformat.read(p, as_version=4)
        code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        pool = _numbers(code)
        for c in nb.cells:
            for o in c.get("outputs", []) if c.cell_type == "code" else []:
                pool |= _numbers(o.get("text", ""))
                pool |= set().union(*(_numbers(v) for k, v in o.get("data", {}).items()
                                      if k.startswith("text/") and k != "text/html" and isinstance(v, str)))
        for name in set(re.findall(r"load_result\(\"([\w-]+)\"", code)):
            _json_numbers(json.loads((ROOT / "results" / f"{name}.json").read_text()), pool)
        for i, c in enumerate(nb.cells):
            if c.cell_type != "markdown":
                continue
            prose = re.sub(r"\$\$.*?\$\$|\$[^$]*\$|`[^`]*`|\]\([^)]*\)", " ", c.source, flags=re.S)
            for m in _NUM.finditer(prose):
                quoted = re.sub(r"[,\u202f\u2009 ]", "", m.group(1))
                digits = quoted.replace(".", "").lstrip("0")
                if len(digits.rstrip("0") if "." not in quoted else digits) < 3:
                    continue
                if "." not in quoted and 1900 <= float(quoted) <= 2100:       # years
                    continue
                if not any(_quoted_as(v, quoted) for v in pool):
                    bad.append(f"{p.name} cell {i}: {m.group(1)}")
    assert not bad, "numbers quoted but printed by no cell and stored in no result file:\n" + "\n".join(bad)

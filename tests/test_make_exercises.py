"""The exercise generator (tools/make_exercises.py): SOLUTION regions become stubs, FIX regions ship their bug."""
import ast
import re
import pathlib
import sys

import nbformat
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import make_exercises  # noqa: E402
from make_exercises import generate, make_exercise, strip_solutions  # noqa: E402

FIXED = """\
def done_flags(terminated, truncated):
    # the horizon ends the episode too
    ### BEGIN FIX
    return terminated | truncated
    ### ELSE
    # # only a real end
    # return terminated
    ### END FIX
"""


def test_a_solution_region_becomes_a_stub_at_its_indentation():
    out, kinds = generate("def f(x):\n    ### BEGIN SOLUTION\n    return x + 1\n    ### END SOLUTION\nprint(f)")
    assert kinds == {"solution"}
    assert out == ("def f(x):\n    # YOUR CODE HERE\n    raise NotImplementedError(\"exercise: replace this line "
                   "with your code\")\nprint(f)")
    assert strip_solutions("x = 1") == ("x = 1", False)


def test_a_fix_region_ships_the_buggy_alternative_uncommented_and_no_marker():
    out, kinds = generate(FIXED)
    assert kinds == {"fix"}
    assert out == ("def done_flags(terminated, truncated):\n    # the horizon ends the episode too\n"
                   "    # only a real end\n    return terminated\n")
    assert "FIX" not in out and "ELSE" not in out and "truncated\n" not in out.split(":", 1)[1]
    assert strip_solutions(FIXED) == (out, False)       # no SOLUTION region: nothing to write


def test_solution_and_exercise_of_a_fix_region_both_run_and_differ():
    sol_ns, ex_ns = {}, {}
    exec(FIXED, sol_ns)
    exec(generate(FIXED)[0], ex_ns)
    assert sol_ns["done_flags"](False, True) is True
    assert ex_ns["done_flags"](False, True) is False


def test_a_fix_region_keeps_deeper_indentation_empty_lines_and_may_ship_nothing():
    src = ("for i in range(3):\n    ### BEGIN FIX\n    if i:\n        x = i\n    ### ELSE\n    # if i:\n"
           "    #\n    #     x = -i\n\n    ### END FIX\n    y = 0")
    out, _ = generate(src)
    assert out == "for i in range(3):\n    if i:\n\n        x = -i\n\n    y = 0"
    out, kinds = generate("a = 1\n### BEGIN FIX\nb = 2\n### ELSE\n### END FIX\nc = 3")
    assert (out, kinds) == ("a = 1\nc = 3", {"fix"})                # the bug: a missing line


def test_both_kinds_in_one_cell():
    src = "### BEGIN FIX\nx = 1\n### ELSE\n# x = 2\n### END FIX\n### BEGIN SOLUTION\ny = x\n### END SOLUTION"
    out, kinds = generate(src)
    assert kinds == {"solution", "fix"}
    assert out.startswith("x = 2\n# YOUR CODE HERE\nraise NotImplementedError")


@pytest.mark.parametrize("src, message", [
    ("### BEGIN SOLUTION\nx = 1", "END SOLUTION"),
    ("### BEGIN FIX\nx = 1\n### ELSE\n# x = 2", "END FIX"),
    ("### BEGIN FIX\nx = 1\n### END FIX", r"line 3: .*needs '### ELSE'"),
    ("### BEGIN FIX\nx = 1\n### ELSE\nx = 2\n### END FIX", r"line 4: every line after '### ELSE' must be commented"),
    ("    ### BEGIN FIX\n    x = 1\n    ### ELSE\n# x = 2\n    ### END FIX", "line 4: .*less indented"),
    ("x = 1\n### ELSE\n", "line 2: '### ELSE' outside"),
    ("x = 1\n### END FIX\n", "line 2: '### END FIX' outside"),
    ("### BEGIN FIX\n### BEGIN SOLUTION\n### END SOLUTION\n### ELSE\n### END FIX", "line 2: regions do not nest"),
    ("### BEGIN SOLUTION\n### BEGIN FIX\n", "line 2: regions do not nest"),
    ("### BEGIN FIX\nx = 1\n### ELSE\n# x = 2\n### ELSE\n### END FIX", "line 5: .*inside the buggy alternative"),
])
def test_malformed_regions_are_refused_naming_the_line(src, message):
    with pytest.raises(ValueError, match=message):
        generate(src)


def _nb(*cells):
    nb = nbformat.v4.new_notebook()
    nb.cells = list(cells)
    return nb


def test_make_exercise_tags_stubs_and_checks_but_not_buggy_code():
    sol = nbformat.v4.new_code_cell("def f():\n    ### BEGIN SOLUTION\n    return 1\n    ### END SOLUTION")
    fix = nbformat.v4.new_code_cell(FIXED)
    check = nbformat.v4.new_code_cell("check(f)", metadata={"tags": ["check"]})
    plain = nbformat.v4.new_code_cell("print(1)")
    for c in (sol, fix, check, plain):
        c.outputs = [nbformat.v4.new_output("stream", text="old")]
        c.execution_count = 3
    ex = make_exercise(_nb(nbformat.v4.new_markdown_cell("# T"), sol, fix, check, plain))
    tags = [c.metadata.get("tags", []) for c in ex.cells]
    assert tags == [[], ["raises-exception"], [], ["check", "raises-exception"], []]
    assert all(c.outputs == [] and c.execution_count is None for c in ex.cells[1:])


def test_make_exercise_names_the_cell_of_a_malformed_region():
    bad = nbformat.v4.new_code_cell("### BEGIN FIX\nx = 1\n### END FIX")
    with pytest.raises(ValueError, match="cell 1: line 3"):
        make_exercise(_nb(nbformat.v4.new_code_cell("x = 0"), bad))


def _code(source: str) -> str:
    return "\n".join(line for line in source.split("\n") if not line.lstrip().startswith(("%", "!")))


@pytest.mark.parametrize("path", sorted((ROOT / "solutions").glob("*.ipynb")), ids=lambda p: p.name)
def test_every_generated_cell_is_python_and_every_fix_changes_the_code(path):
    nb = nbformat.read(path, as_version=4)
    ex = make_exercise(nb)
    for i, (s, e) in enumerate(zip(nb.cells, ex.cells)):
        if s.cell_type != "code":
            continue
        ast.parse(_code(e.source), filename=f"{path.name} cell {i}")
        if "### BEGIN FIX" in s.source:
            assert "FIX" not in e.source and "### ELSE" not in e.source
            assert "raises-exception" not in e.metadata.get("tags", []) or "### BEGIN SOLUTION" in s.source
            for region in s.source.split("### BEGIN FIX")[1:]:
                fixed, buggy = region.split("### END FIX")[0].split("### ELSE")
                uncommented = [line.strip()[2:] for line in buggy.split("\n") if line.strip().startswith("# ")]
                assert [l.strip() for l in fixed.split("\n") if l.strip()] != uncommented, \
                    f"{path.name} cell {i}: a FIX region whose buggy alternative is its fix"


def test_main_check_reports_stale_exercises(tmp_path, monkeypatch, capsys):
    (tmp_path / "solutions").mkdir()
    nb = _nb(nbformat.v4.new_code_cell(FIXED))
    nbformat.write(nb, tmp_path / "solutions" / "99_x.ipynb")
    monkeypatch.setattr(make_exercises, "ROOT", tmp_path)
    assert make_exercises.main(["--check"]) == 1
    assert make_exercises.main([]) == 0
    assert make_exercises.main(["--check"]) == 0
    text = (tmp_path / "exercises" / "99_x.ipynb").read_text()
    assert "return terminated\\n" in text and "BEGIN FIX" not in text
    nbformat.write(_nb(nbformat.v4.new_code_cell("### BEGIN FIX\nx = 1")), tmp_path / "solutions" / "98_y.ipynb")
    assert make_exercises.main(["--check"]) == 2
    assert "solutions/98_y.ipynb: cell 0" in capsys.readouterr().err


BUDGET = re.compile(r"\((about \d+ minutes|~\d+ min)\)")


def _sections(nb):
    """(markdown, code cells) of each run of code cells after a Markdown cell."""
    out = []
    for cell in nb.cells:
        if cell.cell_type == "markdown":
            out.append((cell.source, []))
        elif out:
            out[-1][1].append(cell)
    return out


@pytest.mark.parametrize("path", sorted((ROOT / "solutions").glob("*.ipynb")), ids=lambda p: p.name)
def test_every_task_states_a_time_budget_and_ends_with_its_check(path):
    """A section where the learner writes code (a SOLUTION region) states its time budget and its last code
    cell is a check; so does every section whose heading states a budget (a task, e.g. a bug hunt)."""
    nb = nbformat.read(path, as_version=4)
    assert BUDGET.search(nb.cells[0].source), f"{path.name}: the title cell states no overall time budget"
    tasks = 0
    for markdown, code in _sections(nb):
        writes = any("### BEGIN SOLUTION" in c.source for c in code)
        heading = markdown.strip().split("\n", 1)[0]
        budget = BUDGET.search(heading) if heading.startswith("#") and not heading.startswith("# ") else None
        if writes:
            assert BUDGET.search(markdown), \
                f"{path.name}: the task before {code[0].source[:40]!r} states no time budget"
        if writes or budget:
            tasks += 1
            assert code and "check" in code[-1].metadata.get("tags", []), \
                f"{path.name}: the task {heading[:50]!r} does not end with a check cell"
            if writes:
                last = max(i for i, c in enumerate(code) if "### BEGIN SOLUTION" in c.source)
                assert "check" in code[last + 1].metadata.get("tags", []), \
                    f"{path.name}: the cell after the task's code in {heading[:50]!r} is not its check"
    assert tasks, f"{path.name} has no task"

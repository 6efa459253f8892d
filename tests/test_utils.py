"""dqngen_lib.utils: the validators' predicates."""
import math

import numpy as np
import pytest

from dqngen_lib.utils import is_int, is_number


@pytest.mark.parametrize("v, lo, hi, ok", [
    (3, 1, None, True), (np.int64(3), 1, None, True), (0, 1, None, False), (True, 0, None, False),
    (2.0, None, None, False), ("3", None, None, False), (5, None, 4, False), (4, 4, 4, True), (None, None, None, False),
])
def test_is_int(v, lo, hi, ok):
    assert is_int(v, lo, hi) is ok


@pytest.mark.parametrize("v, kw, ok", [
    (0.5, dict(lo=0.0, hi=1.0), True), (1, dict(lo=0.0, hi=1.0), True), (np.float32(0.25), dict(lo=0.0), True),
    (1.5, dict(lo=0.0, hi=1.0), False), (-0.1, dict(lo=0.0), False), (False, {}, False), ("1", {}, False),
    (math.inf, {}, False), (math.nan, {}, False), (0.0, dict(above=0.0), False), (1e-9, dict(above=0.0), True),
])
def test_is_number(v, kw, ok):
    assert is_number(v, **kw) is ok


def test_stale_temporaries_of_dead_processes_are_removed(tmp_path):
    import os
    import subprocess
    import sys

    from dqngen_lib.utils import remove_stale_temporaries

    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True, check=True).stdout.strip()
    (tmp_path / f"checkpoint.pt.tmp{dead}").write_bytes(b"half")
    (tmp_path / f"metrics.json.tmp{os.getpid()}").write_text("{")      # a live writer's: kept
    (tmp_path / "notes.tmp").write_text("mine")                          # not a temporary of ours
    assert remove_stale_temporaries(str(tmp_path)) == [f"checkpoint.pt.tmp{dead}"]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"metrics.json.tmp{os.getpid()}", "notes.tmp"])
    assert remove_stale_temporaries(str(tmp_path / "missing")) == []

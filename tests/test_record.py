"""The explorer's state without widgets (record.EpisodeRecord): the same episodes as the widget's, and no display
library needed."""
import subprocess
import sys

import numpy as np
import pytest
import torch

from dqngen_lib.config import TrainConfig, make_qnet
from dqngen_lib.record import EpisodeRecord


def _agent(mode="pixel", seed=0):
    cfg = TrainConfig.preset("reconstruct", mode, device="cpu", channels=8, layers=1)
    torch.manual_seed(seed)
    return make_qnet(cfg).eval(), cfg


def test_the_record_imports_no_widget_or_plotting_library():
    code = ("import sys, dqngen_lib.record; "
            "print(sorted(m for m in ('ipywidgets', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", f"dqngen_lib.record pulled in {out.strip()}"


@pytest.mark.parametrize("mode", ["pixel", "pen"])
def test_the_widget_records_exactly_what_the_headless_record_does(mode):
    from dqngen_lib.explorer import QExplorer

    qnet, cfg = _agent(mode, seed=1)
    rec = EpisodeRecord(qnet, cfg, digit=3, eps=0.3, seed=5)
    ex = QExplorer(qnet, cfg, digit=3, eps=0.3, seed=5)
    for r in (rec, ex):
        r.step = 4
        r.take_action(0)
        r.play()
    a, b = rec.episode, ex.episode
    assert a["kinds"] == b["kinds"] and a["kinds"][4] == "hand"
    for k in ("canvas", "q", "actions", "rewards", "bellman_targets"):
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
    assert rec.step == ex.step == ex.step_w.value == 5


def test_a_record_steps_and_refuses_like_the_explorer():
    qnet, cfg = _agent()
    rec = EpisodeRecord(qnet, cfg, digit=7)
    assert rec.step == 0 and rec.length == cfg.horizon and rec.done
    rec.step = 3
    tr = rec.transition()
    assert tr["step"] == 3 and tr["bellman_target"] == pytest.approx(tr["reward"] + cfg.gamma * rec._q[4].max())
    with pytest.raises(ValueError, match=r"step must be an integer in \[0, 24\], got 25"):
        rec.step = 25
    with pytest.raises(ValueError, match="eps must be a number in"):
        EpisodeRecord(qnet, cfg, eps=1.5)
    rec.set_digit(500)                                  # a digit not among the choices joins them
    assert rec.choices[-1] == (f"#500: a {int(rec.env.labels[500])}", 500) and rec.digit == 500

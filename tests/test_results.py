"""dqngen_lib.results, replicates and viz.plot_bands: one configuration over several seeds, mean ± sd, result files,
bands."""
import matplotlib

matplotlib.use("agg")
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from dqngen_lib.config import TrainConfig  # noqa: E402
from dqngen_lib.replicates import run_seeds  # noqa: E402
from dqngen_lib.results import SeedRuns, format_runs_table, load_result, save_results, summary  # noqa: E402
from dqngen_lib.viz import plot_bands  # noqa: E402

TINY = dict(channels=8, layers=1, num_envs=16, batch_size=32, buffer_size=2000, learning_starts=64, log_every=64,
            eval_every=64, eval_images=20, eps_decay_steps=500, device="cpu", checkpoint_every=0.0)


def test_summary_is_mean_and_sample_sd():
    assert summary([1.0, 2.0, 3.0]) == (2.0, 1.0)
    assert summary([0.5]) == (0.5, 0.0)
    with pytest.raises(ValueError):
        summary([])


def test_run_seeds_table_bands_and_files(tmp_path):
    cfg = TrainConfig(**TINY)
    a = run_seeds(cfg, seeds=(0, 1, 2), steps=192, label="tiny")
    assert a.seeds == [0, 1, 2] and len(a.runs) == 3
    vals = a.values("test_mse")
    assert len(set(vals.tolist())) == 3                      # different seeds, different agents
    again = run_seeds(cfg, seeds=(1,), steps=192, label="again")
    assert again.values()[0] == vals[1]                      # same seed, same number
    m, sd = a.summary()
    assert m == pytest.approx(vals.mean()) and sd == pytest.approx(vals.std(ddof=1))
    table = format_runs_table({"tiny": a, "again": again}, extra={"greedy planner": 0.0433})
    assert "| tiny | 3 |" in table and f"{m:.4f} ± {sd:.4f}" in table and "| greedy planner | - | 0.0433 |" in table
    fig = plot_bands([a, again], references={"perfect painter": 0.0126})
    assert len(fig.axes[0].lines) == 3 and fig.axes[0].collections
    path = tmp_path / "results" / "tiny.json"
    save_results(str(path), [a, again], name="tiny", command="pytest", extra={"greedy": 0.0433})
    back = load_result(str(path))
    assert set(back["results"]) == {"tiny", "again"} and back["extra"] == {"greedy": 0.0433}
    assert back["machine"]["cores"] >= 1 and back["date"]
    r = back["results"]["tiny"]
    assert isinstance(r, SeedRuns) and r.cfg == cfg and np.array_equal(r.values(), vals)
    with pytest.raises(ValueError, match="distinct"):
        run_seeds(cfg, seeds=(1, 1), steps=64)
    with pytest.raises(FileNotFoundError, match="no result file at"):
        load_result(str(tmp_path / "nope.json"))
    with pytest.raises(FileNotFoundError, match="dqngen experiment no-such-experiment"):
        load_result("no-such-experiment")                  # a name: the command that makes it
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="not a dqngen result file"):
        load_result(str(tmp_path / "bad.json"))

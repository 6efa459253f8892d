"""dqngen_lib.experiments and `dqngen experiment`: named multi-seed experiments into result files."""
import json

import pytest

from dqngen_lib.cli import main
from dqngen_lib.experiments import EXPERIMENTS, run_experiment
from dqngen_lib.seeds import load_results


def test_list_names_every_experiment(capsys):
    assert main(["experiment", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in EXPERIMENTS)


def test_a_quick_run_writes_a_result_file_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "g0.json"
    path = run_experiment("pixel-gamma0", seeds=(0, 1), out=str(out), quick=True, log=lambda m: None)
    data = load_results(path)
    assert set(data["results"]) == {"DQN (γ = 0.5)", "γ = 0 (no bootstrapping)"}
    r = data["results"]["γ = 0 (no bootstrapping)"]
    assert r.cfg.gamma == 0.0 and r.seeds == [0, 1] and len(r.values()) == 2
    assert data["machine"]["cores"] >= 1 and "--quick" in data["command"]
    with pytest.raises(ValueError, match="exists; add --force"):
        run_experiment("pixel-gamma0", out=str(out), quick=True)
    assert main(["experiment", "pixel-gamma0", "--quick", "--seeds", "0", "--out", str(out), "--force"]) == 0
    assert json.loads(capsys.readouterr().out)["out"] == str(out)


def test_probes_and_planner_numbers_are_recorded(tmp_path):
    path = run_experiment("pixel-bootstrap", seeds=(0,), out=str(tmp_path / "b.json"), quick=True, log=lambda m: None)
    run = next(iter(load_results(path)["results"].values())).runs[0]
    assert set(run["probes"]) >= {"env_steps", "replay_q_error", "replay_bias", "greedy_q_error", "greedy_bias"}
    assert len(run["probes"]["env_steps"]) >= 1
    planners = load_results(run_experiment("planners", out=str(tmp_path / "p.json"), quick=True,
                                           log=lambda m: None))["extra"]["planners"]
    assert set(planners) == {"pen", "pixel"} and planners["pen"]["greedy"]["images"] == 20


def test_bad_names_and_seeds(capsys):
    with pytest.raises(ValueError, match="unknown experiment 'nope'"):
        run_experiment("nope")
    with pytest.raises(SystemExit):
        main(["experiment", "pixel-gamma0", "--seeds", "1,1"])
    assert "distinct" in capsys.readouterr().err

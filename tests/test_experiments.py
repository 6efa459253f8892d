"""dqngen_lib.experiments and `dqngen experiment`: named multi-seed experiments into result files."""
import json

import pytest

from dqngen_lib.cli import main
from dqngen_lib.experiments import EXPERIMENTS, run_experiment
from dqngen_lib.results import load_result


def test_list_names_every_experiment(capsys):
    assert main(["experiment", "--list"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in EXPERIMENTS)


def test_a_quick_run_writes_a_result_file_and_refuses_to_overwrite(tmp_path, capsys):
    out = tmp_path / "g0.json"
    path = run_experiment("pixel-gamma0", seeds=(0, 1), out=str(out), quick=True, log=lambda m: None)
    data = load_result(path)
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
    run = next(iter(load_result(path)["results"].values())).runs[0]
    assert set(run["probes"]) >= {"env_steps", "replay_q_error", "replay_bias", "greedy_q_error", "greedy_bias"}
    assert len(run["probes"]["env_steps"]) >= 1
    planners = load_result(run_experiment("planners", out=str(tmp_path / "p.json"), quick=True,
                                           log=lambda m: None))["extra"]["planners"]
    assert set(planners) == {"pen", "pixel"} and planners["pen"]["greedy"]["images"] == 20


def test_bad_names_and_seeds(capsys):
    with pytest.raises(ValueError, match="unknown experiment 'nope'"):
        run_experiment("nope")
    with pytest.raises(SystemExit):
        main(["experiment", "pixel-gamma0", "--seeds", "1,1"])
    assert "distinct" in capsys.readouterr().err


def test_a_stopped_experiment_resumes_from_its_saved_runs(tmp_path, monkeypatch):
    """Each run is saved as it finishes; the same command skips the saved ones and retrains nothing."""
    from dqngen_lib import experiments as X

    calls = []
    real = X._train_one

    def once_then_stop(e, label, cfg, seed, quick, log):
        calls.append((label, seed))
        if len(calls) == 3:
            raise KeyboardInterrupt                       # stopped during the third run
        return real(e, label, cfg, seed, quick, log)

    monkeypatch.setattr(X, "_train_one", once_then_stop)
    out = tmp_path / "g.json"
    with pytest.raises(KeyboardInterrupt):
        run_experiment("pixel-gamma0", seeds=(0, 1), out=str(out), quick=True, log=lambda m: None)
    partial = tmp_path / "g.partial"
    assert not out.exists() and len(list(partial.glob("*-seed0.json"))) == 2
    kept = []
    path = run_experiment("pixel-gamma0", seeds=(0, 1), out=str(out), quick=True, log=kept.append)
    assert calls[3:] == [("DQN (γ = 0.5)", 1), ("γ = 0 (no bootstrapping)", 1)]          # only seed 1 trained
    assert sum("kept from" in m for m in kept) == 2
    assert not partial.exists() and load_result(path)["results"]["DQN (γ = 0.5)"].seeds == [0, 1]


def test_a_saved_run_of_another_config_is_not_reused(tmp_path, monkeypatch):
    from dqngen_lib import experiments as X

    out = tmp_path / "g.json"
    partial = tmp_path / "g.partial"
    partial.mkdir()
    (partial / "dqn-0-5-seed0.json").write_text(json.dumps({"label": "DQN (γ = 0.5)", "seed": 0, "config": {},
                                                            "budget": {}, "quick": True, "metrics": {}}))
    calls = []
    monkeypatch.setattr(X, "_train_one", lambda e, label, cfg, seed, quick, log: calls.append(label) or
                        {"final": {"test_mse": 0.1}})
    run_experiment("pixel-gamma0", seeds=(0,), out=str(out), quick=True, log=lambda m: None)
    assert calls == ["DQN (γ = 0.5)", "γ = 0 (no bootstrapping)"]


def test_gen_vs_gan_puts_a_gan_and_the_painters_beside_their_floors(tmp_path):
    from dqngen_lib.gan import GanConfig

    path = run_experiment("gen-vs-gan", seeds=(0,), out=str(tmp_path / "v.json"), quick=True, log=lambda m: None)
    data = load_result(path)
    gan = data["results"]["GAN (two MLPs)"]
    assert isinstance(gan.cfg, GanConfig) and gan.runs[0]["final"]["updates"] == 200
    assert {"DQN, style reward, pixel", "DQN, adversarial reward (relabelled), pen"} <= set(data["results"])
    for r in data["results"].values():
        assert {"judge_lr", "judge_knn", "within_class_l2", "distinct", "nearest_train_l2", "frechet",
                "seconds"} <= set(r.runs[0]["final"])
    adv = data["results"]["DQN, adversarial reward (relabelled), pixel"].runs[0]
    assert adv["curves"]["disc_loss"] and len(adv["curves"]["disc_real"]) == len(adv["curves"]["env_steps"])
    assert data["machine"]["torch_threads"] == 1
    floors = data["extra"]["floors"]
    assert set(floors) == {"pixel, T = 32, 3 inks", "pen, T = 32, 3 inks, window 2"}
    assert floors["pen, T = 32, 3 inks, window 2"]["painter"] == "beam:16"
    assert data["extra"]["sketches (the style model on its own)"]["num_images"] == 50


def test_the_pixel_floor_is_the_perfect_painter():
    from dqngen_lib.config import TrainConfig, dataset
    from dqngen_lib.experiments import paint_targets
    from dqngen_lib.metrics import perfect_painter_mse

    cfg = TrainConfig.preset("generate", "pixel", device="cpu")
    x = dataset(cfg).x_test[:60]
    painted = paint_targets(x, cfg)
    assert painted.shape == x.shape and set(painted.flatten().tolist()) <= {0.0, 0.5, 1.0}
    assert abs(((painted - x) ** 2).mean() - perfect_painter_mse(x, cfg.horizon)) < 1e-6
    with pytest.raises(ValueError, match="images must have shape"):
        paint_targets(x[:, :4], cfg)

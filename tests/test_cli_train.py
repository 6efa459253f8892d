"""The CLI contract of lessons 05-08: dqngen train | reconstruct | evaluate, checkpoints and --resume."""
import json

import numpy as np
import pytest
import torch

from dqngen_lib.cli import main
from dqngen_lib.checkpoint import load_checkpoint

TINY = ["--channels", "8", "--layers", "1", "--num-envs", "16", "--batch-size", "32", "--buffer-size", "2000",
        "--learning-starts", "64", "--log-every", "64", "--eval-every", "0", "--eps-decay-steps", "500",
        "--device", "cpu", "--no-progress"]


def run(capsys, *argv):
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    code = main(["train", "--task", "reconstruct", "--mode", "pixel", "--steps", "256", "--seed", "0",
                 "--out", str(out), *TINY])
    assert code == 0
    return out


def test_train_writes_checkpoint_metrics_and_curve(trained):
    for name in ("checkpoint.pt", "metrics.json", "learning_curve.png"):
        assert (trained / name).exists(), name
    metrics = json.loads((trained / "metrics.json").read_text())
    assert metrics["final"]["env_steps"] == 256
    assert 0.0 <= metrics["final"]["test_mse"] <= 1.0
    assert len(metrics["curves"]["env_steps"]) == 4
    assert (trained / "learning_curve.png").read_bytes()[:4] == b"\x89PNG"
    ck = load_checkpoint(str(trained))
    assert ck.cfg.seed == 0 and ck.cfg.channels == 8 and ck.optimizer_state is not None
    assert {"torch", "act", "replay"} <= set(ck.rng_state)


def test_reconstruct_writes_images_and_targets(trained, tmp_path, capsys):
    out = tmp_path / "rec.npz"
    code, stdout, _ = run(capsys, "reconstruct", "--checkpoint", str(trained), "--split", "test", "--out", str(out))
    assert code == 0
    with np.load(out) as f:
        images, targets = f["images"], f["targets"]
    assert images.shape == targets.shape == (898, 8, 8)
    assert images.min() >= 0 and images.max() <= 1 and targets.min() >= 0 and targets.max() <= 1
    assert json.loads(stdout)["test_mse"] == pytest.approx(float(np.mean((images - targets) ** 2)), rel=1e-5)


def test_evaluate_prints_json(trained, capsys):
    code, stdout, _ = run(capsys, "evaluate", "--checkpoint", str(trained))
    assert code == 0
    m = json.loads(stdout)
    assert m["images"] == 898 and m["env_steps"] == 256
    assert m["blank_mse"] == pytest.approx(0.2338, abs=5e-4)          # a blank canvas on the 898 test digits
    assert 0.0 <= m["test_mse"] and m["test_mse"] != m["blank_mse"]    # the agent painted something
    metrics = json.loads((trained / "metrics.json").read_text())
    assert m["test_mse"] == pytest.approx(metrics["final"]["test_mse"], rel=1e-6)


def test_corrupt_and_missing_checkpoints(tmp_path, capsys):
    code, _, err = run(capsys, "evaluate", "--checkpoint", str(tmp_path / "missing"))
    assert code == 2 and "no checkpoint" in err
    (tmp_path / "checkpoint.pt").write_bytes(b"\x00" * 100)
    code, _, err = run(capsys, "reconstruct", "--checkpoint", str(tmp_path), "--out", str(tmp_path / "x.npz"))
    assert code == 2 and "not a readable dqngen checkpoint" in err
    assert "Traceback" not in err


def test_mismatched_checkpoint(trained, tmp_path, capsys):
    state = torch.load(trained / "checkpoint.pt", weights_only=True)
    state["cfg"]["channels"] = 16                # the weights are for 8 channels
    bad = tmp_path / "mismatch"
    bad.mkdir()
    torch.save(state, bad / "checkpoint.pt")
    code, _, err = run(capsys, "evaluate", "--checkpoint", str(bad))
    assert code == 2 and "do not match" in err


def test_interrupted_run_resumes_to_the_same_weights(tmp_path, capsys, monkeypatch):
    import dqngen_lib.checkpoint as checkpoint_module
    from dqngen_lib import cli, train as train_module

    whole, part = tmp_path / "whole", tmp_path / "part"
    assert main(["train", "--steps", "320", "--seed", "3", "--out", str(whole), *TINY]) == 0
    assert main(["train", "--steps", "160", "--seed", "3", "--out", str(part), *TINY]) == 0
    loads = []

    def counted(*args, **kw):
        loads.append(args[0])
        return checkpoint_module.load_checkpoint(*args, **kw)

    monkeypatch.setattr(cli, "load_checkpoint", counted)
    monkeypatch.setattr(train_module, "load_checkpoint", counted)
    assert main(["train", "--steps", "320", "--resume", str(part), "--no-progress"]) == 0
    assert loads == [str(part)]                      # the command loads the checkpoint once and hands it over
    monkeypatch.undo()
    capsys.readouterr()
    a, b = load_checkpoint(str(whole)), load_checkpoint(str(part))
    assert b.extra["env_steps"] == 320
    for (name, p), q in zip(a.qnet.state_dict().items(), b.qnet.state_dict().values()):
        assert torch.equal(p, q), name
    # a resume with a different hyper-parameter is refused
    code, _, err = run(capsys, "train", "--steps", "480", "--resume", str(part), "--lr", "0.1", "--no-progress")
    assert code == 2 and "lr" in err


def test_train_needs_a_budget_and_valid_options(tmp_path, capsys):
    code, _, err = run(capsys, "train", "--out", str(tmp_path), "--no-progress")
    assert code == 2 and "budget" in err
    code, _, err = run(capsys, "train", "--steps", "10", "--out", str(tmp_path), "--gamma", "2", "--no-progress")
    assert code == 2 and "TrainConfig.gamma" in err

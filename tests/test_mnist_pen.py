"""28x28 generation in pen mode from a learner-supplied MNIST file (lesson 09), on a small made-up file."""
import json

import numpy as np
import pytest
import torch

from dqngen_lib import generate as G
from dqngen_lib.cli import main
from dqngen_lib.checkpoint import load_checkpoint
from dqngen_lib.config import TrainConfig, make_env


@pytest.fixture(scope="module")
def mnist_file(tmp_path_factory):
    """40 training and 20 test "digits": random strokes on 28x28, values 0-255, every class present."""
    rng = np.random.default_rng(0)

    def fake(n):
        x = np.zeros((n, 28, 28), dtype=np.uint8)
        for img in x:
            for _ in range(3):
                r, c = rng.integers(4, 24, size=2)
                img[r - 2:r + 2, c - 6:c + 6] = rng.integers(128, 256)
        return x, (np.arange(n) % 10).astype(np.uint8)

    xtr, ytr = fake(40)
    xte, yte = fake(20)
    path = tmp_path_factory.mktemp("mnist") / "mnist.npz"
    np.savez(path, x_train=xtr, y_train=ytr, x_test=xte, y_test=yte)
    return str(path)


def test_pen_env_on_28x28(mnist_file):
    cfg = TrainConfig(task="generate", mode="pen", size=28, data_path=mnist_file, device="cpu", latent_dim=4)
    env = make_env(cfg, 3, "train", "cpu", seed=0)
    assert env.obs_shape == (1 + 10 + 4 + 1 + 1, 28, 28)
    assert env.channel_names[-2:] == ["pen", "time"]
    obs = env.reset(seed=0, label=[0, 5, 9])
    assert obs.shape == (3, 17, 28, 28)
    s = env.potential.model.sketch(env.label, env.latent)
    assert s.shape == (3, 28, 28) and float(s.min()) >= 0 and float(s.max()) <= 1
    _, r, term, trunc, _ = env.step(torch.tensor([env.num_actions - 1, 0, 30]))   # stop, pen-up move, paint
    assert bool(term[0]) and r.shape == (3,)
    with pytest.raises(ValueError, match="size"):
        make_env(TrainConfig(task="generate", mode="pen", data_path=mnist_file, device="cpu"), 2)


def test_pen_mode_mnist_cli_run(mnist_file, tmp_path, capsys):
    out = tmp_path / "mnist-gen"
    rc = main(["train", "--task", "generate", "--mode", "pen", "--size", "28", "--data", mnist_file,
               "--steps", "64", "--num-envs", "8", "--learning-starts", "16", "--batch-size", "16",
               "--horizon", "5", "--channels", "8", "--latent-dim", "4", "--out", str(out), "--no-progress"])
    assert rc == 0
    ck = load_checkpoint(out)
    assert ck.cfg.data_path == mnist_file and ck.cfg.size == 28 and ck.cfg.mode == "pen"
    capsys.readouterr()
    assert main(["sample", "--checkpoint", str(out), "--per-class", "2", "--seed", "0",
                 "--out", str(tmp_path / "s.npz")]) == 0
    s = np.load(tmp_path / "s.npz")
    assert s["images"].shape == (20, 28, 28) and s["labels"].tolist() == [k for k in range(10) for _ in range(2)]
    assert 0.0 <= s["images"].min() and s["images"].max() <= 1.0
    capsys.readouterr()
    ev = G.evaluate_generation(str(out), per_class=2)
    assert ev["num_images"] == 20 and "frechet" in ev and "targets_met" not in ev
    assert json.dumps(ev, default=float)

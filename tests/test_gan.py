"""The GAN baseline of lesson 09: shapes, seeds, bad options, the checkpoint round trip, the command line."""
import json

import numpy as np
import pytest
import torch

from dqngen_lib.checkpoint import GanCheckpoint, load_checkpoint, save_gan
from dqngen_lib.cli import main
from dqngen_lib.gan import Gan, GanConfig, train_gan
from dqngen_lib.generate import evaluate_generation, sample_checkpoint
from dqngen_lib.results import SeedRuns


def _weights(m):
    return torch.cat([p.detach().flatten() for p in m.parameters()])


def test_shapes_and_samples_rounded_to_the_inks():
    cfg = GanConfig(device="cpu", latent_dim=5, hidden=32)
    gan = Gan(cfg)
    z, lab = torch.randn(7, 5), torch.arange(7)
    x = gan.generate(z, lab).detach()
    assert x.shape == (7, 8, 8) and float(x.min()) > 0 and float(x.max()) < 1
    assert gan.discriminate(x, lab).shape == (7,)
    s = gan.sample(np.array([3, 3, 9]), seed=4)
    assert s["images"].shape == (3, 8, 8) and s["images"].dtype == np.float32
    assert s["labels"].tolist() == [3, 3, 9] and s["latent"].shape == (3, 5)
    assert set(np.unique(s["images"])) <= {0.0, 0.5, 1.0}           # the painters' three inks
    s4 = Gan(cfg.replace(ink_levels=4)).sample(np.arange(10), seed=0)["images"]
    assert set(np.round(np.unique(s4) * 3, 6)) <= {0.0, 1.0, 2.0, 3.0}


def test_same_seed_same_gan_other_seed_other_gan():
    cfg = GanConfig(device="cpu", hidden=32, log_every=10)
    a, b = train_gan(cfg, steps=30), train_gan(cfg, steps=30)
    c = train_gan(cfg.replace(seed=1), steps=30)
    assert a.metrics["final"]["updates"] == 30 and len(a.metrics["curves"]["d_loss"]) == 3
    assert torch.equal(_weights(a.gan), _weights(b.gan))
    assert not torch.equal(_weights(a.gan), _weights(c.gan))
    labels = np.repeat(np.arange(10), 3)
    sa, sb = a.gan.sample(labels, seed=2), b.gan.sample(labels, seed=2)
    assert np.array_equal(sa["images"], sb["images"])
    assert not np.array_equal(sa["latent"], a.gan.sample(labels, seed=3)["latent"])


def test_the_gan_learns_from_the_training_digits_only(monkeypatch):
    """Every real digit the discriminator sees comes from the training half."""
    from dqngen_lib import data

    seen = []
    real_split = data.Digits.split

    def spy(self, split):
        seen.append(split)
        return real_split(self, split)

    monkeypatch.setattr(data.Digits, "split", spy)
    train_gan(GanConfig(device="cpu", hidden=16), steps=2)
    assert seen == ["train"]


@pytest.mark.parametrize("kw, match", [({"latent_dim": 0}, "latent_dim = 0"), ({"hidden": 2.5}, "hidden = 2.5"),
                                       ({"lr": 0}, "lr = 0"), ({"lr": float("nan")}, "lr = nan"),
                                       ({"ink_levels": 1}, "ink_levels = 1"), ({"seed": -1}, "seed = -1"),
                                       ({"size": 28}, "size = 28"), ({"batch_size": True}, "batch_size = True"),
                                       # the checks shared with TrainConfig (utils.check_shared_fields)
                                       ({"seed": 2**32}, "seed = 4294967296 is invalid; expected an integer in"),
                                       ({"device": "bogus"}, "device = 'bogus' is invalid: unknown device"),
                                       ({"device": "mps"}, "'mps' is not supported")])
def test_bad_options_are_refused(kw, match):
    with pytest.raises(ValueError, match=match):
        GanConfig(**kw)


@pytest.mark.parametrize("budget, match", [({}, "give a budget"), ({"steps": 0}, "steps must be"),
                                           ({"seconds": -1.0}, "seconds must be"), ({"steps": 5, "clock": "moon"},
                                                                                   "unknown clock 'moon'")])
def test_bad_budgets_are_refused(budget, match):
    with pytest.raises(ValueError, match=match):
        train_gan(GanConfig(device="cpu"), **budget)


def test_bad_sample_labels_are_refused():
    gan = Gan(GanConfig(device="cpu", hidden=8))
    for bad in ([], [10], [[1, 2]], [-1], [0.5]):
        with pytest.raises(ValueError, match="labels must be"):
            gan.sample(np.array(bad))


def test_checkpoint_round_trip_and_kind_guard(tmp_path):
    cfg = GanConfig(device="cpu", hidden=32, seed=3)
    res = train_gan(cfg, steps=20)
    save_gan(str(tmp_path), cfg, res.gan, res.optimizers, extra={"metrics": res.metrics, "updates": 20})
    ck = load_checkpoint(str(tmp_path), device="cpu")
    assert isinstance(ck, GanCheckpoint) and ck.cfg == cfg and ck.metrics["final"]["updates"] == 20
    assert torch.equal(_weights(ck.gan), _weights(res.gan)) and len(ck.optimizer_state) == 2
    labels = np.repeat(np.arange(10), 2)
    assert np.array_equal(ck.gan.sample(labels, seed=1)["images"], res.gan.sample(labels, seed=1)["images"])
    from_ck = sample_checkpoint(ck, per_class=2, seed=1)["images"]
    assert np.array_equal(from_ck, res.gan.sample(labels, seed=1)["images"])
    with pytest.raises(ValueError, match="this needs a DQN agent"):
        load_checkpoint(str(tmp_path), kind="dqn")
    # the same metrics as the painters'
    m = evaluate_generation(ck, per_class=3)
    assert {"judge_lr", "judge_knn", "within_class_l2", "distinct", "nearest_train_l2", "frechet", "real"} <= set(m)
    # a result file's row of a GAN reads back as a GAN config
    row = SeedRuns("GAN", cfg, [3], [res.metrics]).to_dict()
    assert SeedRuns.from_dict(json.loads(json.dumps(row))).cfg == cfg


def test_command_line_trains_evaluates_and_samples_a_gan(tmp_path, capsys):
    out = tmp_path / "gan"
    assert main(["gan", "--steps", "20", "--hidden", "16", "--out", str(out), "--device", "cpu"]) == 0
    assert json.loads(capsys.readouterr().out)["updates"] == 20
    assert (out / "metrics.json").exists()
    assert main(["gan", "--steps", "20", "--out", str(out)]) == 2                 # never overwritten silently
    assert "already holds a run" in capsys.readouterr().err
    assert main(["evaluate", "--checkpoint", str(out)]) == 0
    m = json.loads(capsys.readouterr().out)
    assert m["model"] == "gan" and m["updates"] == 20 and 0 <= m["judge_lr"] <= 1
    assert main(["sample", "--checkpoint", str(out), "--per-class", "2", "--out", str(tmp_path / "s.npz")]) == 0
    assert json.loads(capsys.readouterr().out)["images"] == 20
    with np.load(tmp_path / "s.npz") as f:
        assert f["images"].shape == (20, 8, 8) and f["labels"].tolist() == np.repeat(np.arange(10), 2).tolist()
    for argv, msg in ((["gan", "--out", str(tmp_path / "x")], "give a budget"),
                      (["gan", "--steps", "5", "--lr", "-1", "--out", str(tmp_path / "x")], "GanConfig.lr = -1.0"),
                      (["reconstruct", "--checkpoint", str(out), "--out", str(tmp_path / "r.npz")], "needs a DQN"),
                      (["sample", "--checkpoint", str(out), "--temperature", "1", "--out", str(tmp_path / "t.npz")],
                       "temperature 1.0")):
        assert main(argv) == 2
        assert msg in capsys.readouterr().err

"""dqngen_lib.rewards and generate: the rewards of the generate task, sampling, evaluation, the CLI (lesson 09)."""
import json

import numpy as np
import pytest
import torch

from dqngen_lib import generate as G
from dqngen_lib import rewards as R
from dqngen_lib.cli import main
from dqngen_lib.config import TrainConfig, make_env, make_qnet
from dqngen_lib.data import load_digits
from dqngen_lib.viz import episode_animation


@pytest.fixture(scope="module")
def cfg():
    return TrainConfig.preset("generate", "pixel", device="cpu", horizon=6, num_envs=8)


@pytest.fixture(scope="module")
def model(cfg):
    return R.style_model(cfg.data_path, cfg.ink_levels, cfg.latent_dim)


def test_env_of_the_generate_task(cfg):
    env = make_env(cfg, 4, "train", "cpu", seed=0)
    assert env.latent_dim == cfg.latent_dim == 8
    assert env.obs_shape == (1 + 10 + 8 + 1, 8, 8)
    assert isinstance(env.potential, R.StylePotential)
    env2 = make_env(cfg.replace(task_options={"reward": "classifier"}), 4, "train", "cpu", seed=0)
    assert isinstance(env2.potential, R.ClassifierPotential)
    env0 = make_env(cfg.replace(latent_dim=0), 4, "train", "cpu", seed=0)     # 0 means no latent: the class mean
    assert env0.latent_dim == 0 and env0.potential.model.latent_dim == 0
    env3 = make_env(cfg.replace(latent_dim=3), 4, "train", "cpu", seed=0)
    assert env3.latent_dim == 3 and env3.potential.model.latent_dim == 3


@pytest.mark.parametrize("opts, match", [({"rewrd": "style"}, "unknown generate task option"),
                                         ({"reward": "gan"}, "unknown reward 'gan'"),
                                         ({"alpha": -1}, "alpha must be a number >= 0"),
                                         ({"beta": "x"}, "beta must be a number >= 0")])
def test_bad_task_options_are_refused(cfg, opts, match):
    with pytest.raises(ValueError, match=match):
        cfg.replace(task_options=opts)


def test_sketches_follow_the_class_statistics(model):
    d = load_digits(None)   # the reward is built from the grey training digits
    x = d.x_train.reshape(len(d.x_train), -1).astype(np.float64)
    for c in (0, 7):
        a = x[d.y_train == c]
        np.testing.assert_allclose(model.means[c].numpy(), a.mean(0), atol=1e-5)
        v = model.comps[c].double().numpy()
        gram = v @ v.T
        np.testing.assert_allclose(gram - np.diag(np.diag(gram)), 0, atol=1e-5)      # orthogonal
        sigma = np.sqrt(np.diag(gram))
        proj = (a - a.mean(0)) @ (v / sigma[:, None]).T                                 # scores along them
        np.testing.assert_allclose(proj.std(0, ddof=1), sigma, rtol=1e-4)              # scaled by the std dev
        assert np.all(np.diff(sigma) <= 1e-9)                                          # largest first
    # z = 0 is the class mean (rounded to the inks); different latents give different sketches
    labels = torch.tensor([3, 3, 3])
    z = torch.tensor([[0.0] * 8, [1.0] + [0.0] * 7, [-1.0] * 8])
    s = model.sketch(labels, z)
    assert s.shape == (3, 8, 8) and float(s.min()) >= 0 and float(s.max()) <= 1
    assert model.ink_levels == 3 and set(np.unique(s.numpy()).tolist()) <= {0.0, 0.5, 1.0}   # paintable
    np.testing.assert_allclose(s[0].flatten().numpy(), torch.round(model.means[3] * 2).numpy() / 2, atol=1e-6)
    assert float((s[1] - s[0]).abs().sum()) > 1.0 and float((s[2] - s[1]).abs().sum()) > 1.0


def test_classifier_potential_is_the_log_probability(model):
    from sklearn.linear_model import LogisticRegression

    d = load_digits(None)   # the reward is built from the grey training digits
    clf = LogisticRegression(max_iter=2000).fit(d.x_train.reshape(len(d.x_train), -1).astype(np.float64), d.y_train)
    x = torch.as_tensor(d.x_test[:20])
    y = torch.as_tensor(d.y_test[:20])
    got = R.ClassifierPotential(model)(x, y, torch.zeros(20, 0))
    want = clf.predict_log_proba(d.x_test[:20].reshape(20, -1))[np.arange(20), d.y_test[:20]]
    np.testing.assert_allclose(got.numpy(), want, atol=1e-3)


def test_style_potential_is_best_at_its_own_sketch(model):
    pot = R.StylePotential(model, alpha=1.0, beta=0.0)
    labels = torch.tensor([2, 2])
    z = torch.tensor([[0.9, -0.5, 0.3, 0.0, 0.2, -0.8, 0.1, 0.4], [-0.9, 0.6, -0.2, 0.5, -0.1, 0.7, 0.0, -0.4]])
    s = model.sketch(labels, z)
    blank = torch.zeros_like(s)
    np.testing.assert_allclose(pot(blank, labels, z).numpy(), [-1.0, -1.0], atol=1e-6)
    np.testing.assert_allclose(pot(s, labels, z).numpy(), [0.0, 0.0], atol=1e-6)
    swapped = pot(s.flip(0), labels, z)                     # each latent's potential of the other sketch
    assert bool((swapped < -0.05).all())
    both = R.StylePotential(model, alpha=1.0, beta=0.5)(s, labels, z)
    np.testing.assert_allclose(both.numpy(), 0.5 * model.log_prob(s, labels).numpy(), atol=1e-6)


def test_episode_rewards_telescope(cfg):
    env = make_env(cfg.replace(horizon=10), 5, "train", "cpu", seed=3)
    env.reset(seed=3)
    phi0 = env.potential(env.canvas, env.label, env.latent)
    total = torch.zeros(5)
    gen = torch.Generator().manual_seed(0)
    for _ in range(10):
        _, r, *_ = env.step(torch.randint(env.num_actions, (5,), generator=gen))
        total += r
    phi = env.potential(env.canvas, env.label, env.latent)
    np.testing.assert_allclose(total.numpy(), (phi - phi0).numpy(), atol=1e-5)


def _untrained(cfg):
    torch.manual_seed(0)
    return make_qnet(cfg)


def test_sample_is_reproducible_and_class_ordered(cfg):
    q = _untrained(cfg)
    a = G.sample(q, cfg, per_class=3, seed=5)
    b = G.sample(q, cfg, per_class=3, seed=5)
    c = G.sample(q, cfg, per_class=3, seed=6)
    assert a["images"].shape == (30, 8, 8) and a["images"].dtype == np.float32
    assert a["labels"].tolist() == [k for k in range(10) for _ in range(3)]
    assert a["latent"].shape == (30, 8)
    assert np.array_equal(a["images"], b["images"]) and np.array_equal(a["latent"], b["latent"])
    assert not np.array_equal(a["latent"], c["latent"])
    assert set(np.unique(a["images"]).tolist()) <= {0.0, 0.5, 1.0}
    # batches give the same labels layout
    d = G.sample(q, cfg, per_class=3, seed=5, batch=7)
    assert d["labels"].tolist() == a["labels"].tolist()
    with pytest.raises(ValueError, match="per_class"):
        G.sample(q, cfg, per_class=0)
    with pytest.raises(ValueError, match="task 'generate'"):
        G.sample(q, cfg.replace(task="reconstruct", cond_maps=0, latent_dim=0))


def test_boltzmann_sampling(cfg):
    q = _untrained(cfg)
    greedy = G.sample(q, cfg, per_class=2, seed=1)
    hot = G.sample(q, cfg, per_class=2, seed=1, temperature=1.0)
    hot2 = G.sample(q, cfg, per_class=2, seed=1, temperature=1.0)
    assert np.array_equal(hot["images"], hot2["images"])
    assert not np.array_equal(hot["images"], greedy["images"])
    for bad in (-1.0, float("inf"), float("nan")):
        with pytest.raises(ValueError, match="temperature must be a finite number >= 0"):
            G.sample(q, cfg, per_class=2, temperature=bad)


def test_paint_records_frames_and_animation_saves(cfg, tmp_path):
    import matplotlib

    matplotlib.use("agg")
    q = _untrained(cfg)
    env = make_env(cfg, 3, "train", "cpu", seed=0)
    ep = G.paint(q, env, torch.tensor([1, 2, 3]), seed=0, record=True)
    assert ep["canvas"].shape == (cfg.horizon + 1, 3, 8, 8)
    assert np.array_equal(ep["canvas"][-1], ep["images"]) and not ep["canvas"][0].any()
    path = tmp_path / "paint.gif"
    anim = episode_animation(G.paint_episode(q, cfg, labels=[0, 1], seed=0), path=str(path))
    assert path.exists() and path.stat().st_size > 0
    assert len(list(anim.new_frame_seq())) == cfg.horizon + 1
    with pytest.raises(ValueError, match="labels"):
        G.paint_episode(q, cfg, labels=[10])


def test_cli_train_sample_evaluate(tmp_path, capsys):
    out = tmp_path / "gen"
    rc = main(["train", "--task", "generate", "--steps", "256", "--seed", "1", "--out", str(out), "--no-progress",
               "--num-envs", "16", "--learning-starts", "64", "--batch-size", "32", "--horizon", "6",
               "--channels", "8", "--latent-dim", "4"])
    assert rc == 0
    capsys.readouterr()
    files = []
    for name in ("a.npz", "b.npz"):
        assert main(["sample", "--checkpoint", str(out), "--per-class", "4", "--seed", "0",
                     "--out", str(tmp_path / name)]) == 0
        files.append(np.load(tmp_path / name))
    printed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert printed["images"] == 40
    a, b = files
    assert a["images"].shape == (40, 8, 8) and a["labels"].shape == (40,)
    assert 0.0 <= a["images"].min() and a["images"].max() <= 1.0
    assert np.array_equal(a["images"], b["images"]) and np.array_equal(a["labels"], b["labels"])
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()      # the same file
    assert a["images"].dtype == np.float32 and a["labels"].tolist() == [k for k in range(10) for _ in range(4)]
    assert main(["sample", "--checkpoint", str(out), "--per-class", "4", "--seed", "1",
                 "--out", str(tmp_path / "c.npz")]) == 0
    assert not np.array_equal(np.load(tmp_path / "c.npz")["latent"], a["latent"])     # another seed, other latents
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(out)]) == 0
    ev = json.loads(capsys.readouterr().out)
    for k in ("judge_lr", "judge_knn", "within_class_l2", "distinct", "nearest_train_l2", "frechet", "real",
              "targets_met"):
        assert k in ev
    assert ev["num_images"] == 1000 and 0.9 < ev["real"]["judge_knn"] <= 1.0


@pytest.mark.parametrize("mode, reward", [("pixel", "classifier"), ("pixel", "adversarial"), ("pen", "style"),
                                          ("pen", "adversarial")])
def test_cli_sample_and_evaluate_work_for_every_reward_and_mode(tmp_path, capsys, mode, reward):
    out = tmp_path / "run"
    extra = ["--latent-dim", "0"] if reward == "classifier" else []
    assert main(["train", "--task", "generate", "--mode", mode, "--task-option", f"reward={reward}", "--steps", "192",
                 "--out", str(out), "--no-progress", "--num-envs", "16", "--learning-starts", "64", "--batch-size",
                 "32", "--horizon", "6"] + extra) == 0
    assert main(["sample", "--checkpoint", str(out), "--per-class", "2", "--out", str(tmp_path / "s.npz")]) == 0
    s = np.load(tmp_path / "s.npz")
    assert s["images"].shape == (20, 8, 8) and s["labels"].tolist() == [k for k in range(10) for _ in range(2)]
    capsys.readouterr()
    assert main(["evaluate", "--checkpoint", str(out)]) == 0
    ev = json.loads(capsys.readouterr().out)
    assert ev["reward"] == reward and ev["mode"] == mode and 0.0 <= ev["judge_knn"] <= 1.0 and ev["num_images"] == 1000


def test_cli_sample_errors(tmp_path, capsys):
    assert main(["sample", "--checkpoint", str(tmp_path / "nope"), "--out", str(tmp_path / "x.npz")]) == 2
    assert "no checkpoint" in capsys.readouterr().err
    assert main(["sample", "--checkpoint", str(tmp_path), "--out", str(tmp_path / "x.txt")]) == 2
    assert ".npz" in capsys.readouterr().err


# -- the adversarial potential and the conditioning maps (lesson 09) --------------------------------

def _adv_cfg(**kw):
    kw.setdefault("task_options", {"reward": "adversarial"})
    return TrainConfig.preset("generate", "pixel", device="cpu", num_envs=16, batch_size=32, learning_starts=64,
                              horizon=6, log_every=64, eval_every=0, checkpoint_every=0.0, **kw)


def test_adversarial_potential_learns_and_keeps_gradients_out_of_the_reward():
    """The first version (relabel off): finished canvases go into a ring that D learns from."""
    env = make_env(_adv_cfg(task_options={"reward": "adversarial", "relabel": False}), 8, "train", "cpu", seed=0)
    pot = env.potential
    assert isinstance(pot, R.AdversarialPotential)
    obs = env.reset(seed=0)
    phi = pot(env.canvas, env.label, env.latent)
    assert phi.shape == (8,) and not phi.requires_grad and bool((phi <= 0).all())
    # finished canvases only go into the memory
    done = torch.tensor([True, False] * 4)
    before = pot.ring_filled.sum()
    pot.observe(torch.ones(8, 8, 8) * 0.5, env.label, env.latent, done)
    assert float(pot.ring_filled.sum() - before) == 4
    # the discriminator learns to tell real digits from a fixed fake (all-grey canvases)
    losses = []
    for _ in range(60):
        pot.observe(torch.full((8, 8, 8), 0.5), env.label, env.latent, torch.ones(8, dtype=torch.bool))
        losses.append(float(pot.last_loss))
    assert pot.updates >= 10 and np.mean(losses[-5:]) < np.mean(losses[:5])
    real = torch.round(torch.as_tensor(load_digits(None).x_train[:8]) * 2) / 2
    fake = torch.full((8, 8, 8), 0.5)
    labels = torch.as_tensor(load_digits(None).y_train[:8])
    assert float(pot(real, labels, None).mean()) > float(pot(fake, labels, None).mean())
    # the agent's loss never reaches the discriminator
    q = make_qnet(_adv_cfg(task_options={"reward": "adversarial", "relabel": False}))
    pot.disc.zero_grad(set_to_none=True)                   # (its own training step left its gradients)
    out = q(obs).sum() + pot(env.canvas, env.label, env.latent).sum()
    out.backward()
    assert all(p.grad is None for p in pot.disc.parameters())


def test_relabelled_rewards_follow_the_discriminator_as_it_is_when_sampled():
    from dqngen_lib.train import Trainer

    tr = Trainer(_adv_cfg())
    assert tr.env.relabels and tr.env.potential.relabel and len(tr.env.potential.ring) == 0
    tr.run_steps(8)                                  # 128 transitions stored, updates started
    batch = tr.buffer.sample(64, torch.Generator().manual_seed(0))
    pot = tr.env.potential
    r1 = tr.env.relabel(batch.obs, batch.next_obs)
    assert r1.shape == (64,) and not r1.requires_grad
    # recomputed from the canvases, labels and D now: r = phi(s') - phi(s)
    labels = batch.obs[:, 1:11, 0, 0].argmax(1)
    with torch.no_grad():
        pot.calls = 1                                # (the next call does not train D)
        expect = pot(batch.next_obs[:, 0], labels, None) - pot(batch.obs[:, 0], labels, None)
        r_now = tr.env.relabel(batch.obs, batch.next_obs)
    assert torch.allclose(r_now, expect)
    # a changed discriminator changes the rewards of the same transitions; the stored ones stay as they were
    stored = batch.rewards.clone()
    with torch.no_grad():
        for p in pot.disc.parameters():
            p.add_(0.1 * torch.randn_like(p))
        pot.calls = 1
        r2 = tr.env.relabel(batch.obs, batch.next_obs)
    assert not torch.allclose(r2, r_now) and torch.equal(batch.rewards, stored)
    # unchanged canvases (a pen-up move, or stop) are worth 0 under any discriminator
    pot.calls = 1
    assert torch.equal(tr.env.relabel(batch.obs, batch.obs), torch.zeros(64))


def test_relabelled_discriminator_learns_from_replayed_canvases_and_the_trainer_uses_it():
    from dqngen_lib.train import Trainer

    tr = Trainer(_adv_cfg())
    pot = tr.env.potential
    calls = []
    orig = pot.relabel_rewards
    pot.relabel_rewards = lambda *a: calls.append(1) or orig(*a)
    tr.run_steps(16)
    assert tr.updates > 0 and len(calls) == tr.updates          # every update relabels its batch
    assert pot.updates == tr.updates // pot.every                # D learns every `every` updates
    # the agent's loss never reaches D, and D's curve is kept with the learning curves
    pot.disc.zero_grad(set_to_none=True)
    batch = tr.buffer.sample(32, torch.Generator().manual_seed(1))
    r = tr.env.relabel(batch.obs, batch.next_obs)
    tr.qnet(batch.obs).gather(1, batch.actions[:, None]).sum().add(r.sum()).backward()
    assert all(p.grad is None for p in pot.disc.parameters())
    tr.log_point()
    cur = tr.metrics["curves"]
    assert {"disc_loss", "disc_real", "disc_fake"} <= set(cur) and cur["disc_loss"][-1] > 0
    # D separates real digits from a fixed fake it is trained on
    fake = torch.full((32, 8, 8), 0.5)
    lab = torch.arange(32) % 10
    for _ in range(40):
        pot.relabel_rewards(fake, fake, lab)
    real = torch.round(torch.as_tensor(load_digits(None).x_train[:32]) * 2) / 2
    real_lab = torch.as_tensor(load_digits(None).y_train[:32])
    assert float(pot(real, real_lab, None).mean()) > float(pot(fake, lab, None).mean())


def test_relabel_needs_a_learning_potential():
    env = make_env(TrainConfig.preset("generate", "pixel", device="cpu"), 4, "train", "cpu", seed=0)
    assert not env.relabels
    obs = env.reset(seed=0)
    with pytest.raises(ValueError, match="only a learning potential"):
        env.relabel(obs, obs)


def test_adversarial_run_resumes_exactly(tmp_path):
    from dqngen_lib.train import train

    full = train(_adv_cfg(), steps=384, final_eval=False)
    half = tmp_path / "adv"
    train(_adv_cfg(), steps=192, out=str(half), final_eval=False)
    resumed = train(_adv_cfg(), steps=384, out=str(half), resume=str(half), final_eval=False)
    w = lambda n: torch.cat([p.detach().flatten() for p in n.parameters()])  # noqa: E731
    assert torch.equal(w(full.qnet), w(resumed.qnet))


@pytest.mark.parametrize("opts, match", [({"reward": "adversarial", "disc_lr": 0}, "disc_lr must be a positive"),
                                         ({"reward": "adversarial", "disc_every": 0}, "disc_every must be a positive"),
                                         ({"reward": "adversarial", "relabel": "yes"}, "relabel must be true or"),
                                         ({"reward": "gan"}, "unknown reward 'gan'")])
def test_adversarial_options_are_checked(opts, match):
    with pytest.raises(ValueError, match=match):
        TrainConfig.preset("generate", "pixel", task_options=opts)


@pytest.mark.parametrize("mode,decoder", [("pixel", "mlp"), ("pen", "mlp"), ("pixel", "bilinear"), ("pen", "bilinear")])
def test_conditioning_maps_decode_class_and_latent(mode, decoder):
    cfg = TrainConfig.preset("generate", mode, qnet="pen" if mode == "pen" else "conv", cond_maps=4, device="cpu",
                             cond_decoder=decoder)
    net = make_qnet(cfg)
    env = make_env(cfg, 4, "train", "cpu", seed=0)
    obs = env.reset(seed=0, label=[1, 1, 2, 2])
    assert net(obs).shape == (4, env.num_actions) and net.cond_maps is not None
    maps = net.cond_maps(obs)[:, obs.shape[1]:]
    assert maps.shape == (4, 4, 8, 8) and not torch.allclose(maps[0], maps[1])     # another latent, another picture
    with pytest.raises(ValueError, match="cond_maps"):
        TrainConfig(cond_maps=4)


def test_bilinear_maps_are_linear_in_the_latent_for_each_class():
    """The bilinear decoder holds the sketches' form: maps(c, z) = A_c + sum_i z_i B_ci."""
    from dqngen_lib.nets import CondMaps

    torch.manual_seed(0)
    k, d = 3, 2
    dec = CondMaps((0, k + d), 2, 4, decoder="bilinear", classes=k)

    def obs(c, z):
        v = torch.zeros(1, k + d, 4, 4)
        v[0, c] = 1.0
        v[0, k:] = torch.as_tensor(z, dtype=torch.float32)[:, None, None]
        return v

    m = {z: dec(obs(1, z))[:, k + d:] for z in ((0.0, 0.0), (1.0, 0.0), (0.0, 1.0), (0.5, -0.25))}
    lin = m[(0.0, 0.0)] + 0.5 * (m[(1.0, 0.0)] - m[(0.0, 0.0)]) - 0.25 * (m[(0.0, 1.0)] - m[(0.0, 0.0)])
    torch.testing.assert_close(m[(0.5, -0.25)], lin)
    assert not torch.allclose(dec(obs(0, (0.0, 0.0)))[:, k + d:], m[(0.0, 0.0)])   # another class, other maps
    with pytest.raises(ValueError, match="decoder 'conv'"):
        CondMaps((0, 5), 2, 4, decoder="conv")
    with pytest.raises(ValueError, match="classes"):
        CondMaps((0, 5), 2, 4, decoder="bilinear", classes=6)
    with pytest.raises(ValueError, match="cond_decoder"):
        TrainConfig.preset("generate", "pixel", cond_decoder="linear")

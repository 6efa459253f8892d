"""dqngen_lib.rollout: the one episode player, reconstruction and its evaluation."""
import numpy as np
import pytest
import torch
from torch import nn

from dqngen_lib.config import TrainConfig, make_env
from dqngen_lib.nets import build_qnet
from dqngen_lib.rollout import (QPolicy, ScriptedPolicy, boltzmann, epsilon_greedy_policy, evaluate_reconstruction, greedy,
                                play, reconstruct, reference_mse)


class OracleQ(nn.Module):
    """Q(s, a) = the immediate reconstruction reward of painting a pixel (pixel mode, 3 inks)."""

    def __init__(self):
        super().__init__()
        self.dummy = nn.Parameter(torch.zeros(()))
        self.ink = torch.tensor([0.5, 1.0])

    def forward(self, x):
        canvas, target = x[:, 0].flatten(1), x[:, 1].flatten(1)
        gain = (canvas - target)[:, None] ** 2 - (self.ink[None, :, None] - target[:, None]) ** 2
        return gain.flatten(1) + 0 * self.dummy


def test_rollout_records_a_consistent_episode():
    cfg = TrainConfig(channels=8, layers=1)
    env = make_env(cfg, 3, split="test", device="cpu", seed=0)
    torch.manual_seed(0)
    qnet = build_qnet("conv", env.obs_shape, env.num_actions, channels=8, layers=1)
    ep = play(env, epsilon_greedy_policy(qnet, 0.3, torch.Generator().manual_seed(4)), index=[0, 5, 7], seed=3,
              record=True)
    t = cfg.horizon
    assert ep["canvas"].shape == (t + 1, 3, 8, 8)
    assert ep["obs"].shape == (t + 1, 3, *env.obs_shape)
    assert ep["q"].shape == (t, 3, env.num_actions)
    assert ep["actions"].shape == ep["rewards"].shape == (t, 3)
    assert np.array_equal(ep["canvas"][-1], ep["final"])
    assert not ep["canvas"][0].any()
    # the rewards telescope to the fraction of error removed
    tgt = ep["target"]
    frac = 1 - ((ep["final"] - tgt) ** 2).sum((1, 2)) / (tgt ** 2).sum((1, 2))
    np.testing.assert_allclose(ep["rewards"].sum(0), frac, atol=1e-5)
    np.testing.assert_allclose(ep["return"], frac, atol=1e-5)
    # same seed, same episode
    again = play(env, epsilon_greedy_policy(qnet, 0.3, torch.Generator().manual_seed(4)), index=[0, 5, 7], seed=3,
                 record=True)
    assert np.array_equal(again["actions"], ep["actions"])


def test_rollout_pen_mode_freezes_stopped_canvases():
    cfg = TrainConfig.preset("reconstruct", "pen")
    env = make_env(cfg, 2, split="test", device="cpu", seed=0)
    stop = env.num_actions - 1
    paint = 2 * 25 + 13  # ink 1, move (+0, +1)... any pen-down move

    class StopFirst(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = nn.Parameter(torch.zeros(()))

        def forward(self, x):
            q = torch.zeros(len(x), stop + 1)
            q[0, stop] = 1.0                 # canvas 0 stops at once
            q[1, paint] = 1.0                # canvas 1 paints until the horizon
            return q + 0 * self.w

    ep = play(env, StopFirst(), index=[0, 1], seed=0, record=True)
    assert ep["length"].tolist() == [1, cfg.horizon]
    assert not ep["final"][0].any()
    assert ep["active"][:, 0].sum() == 1
    assert ep["pen"].shape == (cfg.horizon + 1, 2, 2)


def test_oracle_reaches_the_reference_optimum():
    cfg = TrainConfig()
    ref = reference_mse(cfg)
    ev = evaluate_reconstruction(OracleQ(), cfg, split="test")
    assert ev["images"] == 898
    assert ev["test_mse"] == pytest.approx(ref["optimal_mse"], rel=1e-4)
    assert ev["blank_mse"] == pytest.approx(ref["blank_mse"], rel=1e-6)
    # the course's reference numbers (design notes): blank 0.2338, perfect 3-ink painter in 24 strokes 0.0126
    assert ref["blank_mse"] == pytest.approx(0.2338, abs=5e-4)
    assert ref["optimal_mse"] == pytest.approx(0.0126, abs=5e-4)


def _tiny_qnet(env):
    torch.manual_seed(0)
    return build_qnet("conv", env.obs_shape, env.num_actions, channels=8, layers=1)


def test_policies_and_their_randomness():
    env = make_env(TrainConfig(), 64, split="test", device="cpu", seed=0)
    qnet = _tiny_qnet(env)
    obs = env.reset(seed=0)
    q = qnet(obs)
    a, q2 = greedy(qnet)(obs, env)
    assert torch.equal(a, q.argmax(1)) and torch.equal(q, q2)
    e1, _ = epsilon_greedy_policy(qnet, 0.5, torch.Generator().manual_seed(1))(obs, env)
    e2, _ = epsilon_greedy_policy(qnet, 0.5, torch.Generator().manual_seed(1))(obs, env)
    e3, _ = epsilon_greedy_policy(qnet, 0.5, torch.Generator().manual_seed(2))(obs, env)
    assert torch.equal(e1, e2) and not torch.equal(e1, e3) and (e1 != a).any()
    b1, _ = boltzmann(qnet, 1.0, torch.Generator().manual_seed(1))(obs, env)
    assert not torch.equal(b1, a) and torch.equal(boltzmann(qnet, 0.0)(obs, env)[0], a)
    with pytest.raises(ValueError, match="policy kind"):
        QPolicy(qnet, "softmax")
    with pytest.raises(ValueError, match="eps"):
        epsilon_greedy_policy(qnet, 1.5)


def test_scripted_policy_then_hands_over_and_steps_limit():
    env = make_env(TrainConfig(), 2, split="test", device="cpu", seed=0)
    qnet = _tiny_qnet(env)
    ep = play(env, ScriptedPolicy([5, 70], qnet=qnet, then=greedy(qnet)), index=[0, 1], record=True)
    assert ep["actions"][:2, 0].tolist() == [5, 70] and ep["actions"].shape == (24, 2)
    assert ep["q"].shape == (24, 2, env.num_actions)
    short = play(env, ScriptedPolicy([5, 70]), index=[0, 1], record=True, steps=2)
    assert short["actions"].shape == (2, 2) and "q" not in short
    assert np.array_equal(short["canvas"][-1], ep["canvas"][2])
    with pytest.raises(ValueError, match="only 2 actions"):
        play(env, ScriptedPolicy([5, 70]), index=[0, 1])


def test_play_continues_from_the_current_state():
    env = make_env(TrainConfig(), 2, split="test", device="cpu", seed=0)
    qnet = _tiny_qnet(env)
    full = play(env, qnet, index=[3, 4], seed=0, record=True)
    play(env, qnet, index=[3, 4], seed=0, steps=10)
    rest = play(env, qnet, reset=False, record=True)
    assert rest["actions"].shape[0] == 14
    assert np.array_equal(rest["final"], full["final"])


def test_reconstruct_takes_a_planner_like_policy():
    cfg = TrainConfig()
    images, targets, returns = reconstruct(lambda obs, env: torch.zeros(env.num_envs, dtype=torch.int64), cfg,
                                           max_images=5)
    assert images.shape == targets.shape == (5, 8, 8) and images[:, 0, 0].tolist() == [0.5] * 5
    with pytest.raises(ValueError, match="max_images"):
        reconstruct(lambda obs, env: None, cfg, max_images=0)

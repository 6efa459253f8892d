"""dqngen_lib.agent: acting, the (Double) DQN target and loss, rollouts, evaluation, the seed agent."""
import numpy as np
import pytest
import torch
from torch import nn

from dqngen_lib.agent import (SeedAgent, dqn_loss, dqn_targets, epsilon_greedy, evaluate_reconstruction,
                              greedy_actions, linear_schedule, reference_mse, rollout)
from dqngen_lib.nets import make_qnet
from dqngen_lib.replay import Batch
from dqngen_lib.train import TrainConfig, make_env


class FixedQ(nn.Module):
    """Q-values that are a fixed table per observation index (obs[:, 0, 0, 0] holds the index)."""

    def __init__(self, table):
        super().__init__()
        self.table = nn.Parameter(torch.as_tensor(table, dtype=torch.float32))

    def forward(self, x):
        return self.table[x[:, 0, 0, 0].long()]


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


def obs_of(indices):
    x = torch.zeros(len(indices), 1, 2, 2)
    x[:, 0, 0, 0] = torch.as_tensor(indices, dtype=torch.float32)
    return x


def test_greedy_actions_is_argmax():
    q = FixedQ([[0.0, 2.0, 1.0], [3.0, -1.0, 0.0]])
    assert greedy_actions(q, obs_of([0, 1, 0])).tolist() == [1, 0, 1]


def test_epsilon_greedy_extremes_and_reproducibility():
    q = FixedQ([[0.0, 5.0, 1.0, 0.0]])
    obs = obs_of([0] * 400)
    assert epsilon_greedy(q, obs, 0.0, torch.Generator().manual_seed(0)).eq(1).all()
    a = epsilon_greedy(q, obs, 1.0, torch.Generator().manual_seed(0))
    counts = torch.bincount(a, minlength=4)
    assert (counts > 60).all(), counts           # uniform over 4 actions: about 100 each
    b = epsilon_greedy(q, obs, 1.0, torch.Generator().manual_seed(0))
    assert torch.equal(a, b)
    half = epsilon_greedy(q, obs, 0.5, torch.Generator().manual_seed(1))
    frac_greedy = float((half == 1).float().mean())
    assert 0.55 < frac_greedy < 0.75                # 0.5 + 0.5 / 4 = 0.625
    with pytest.raises(ValueError, match="eps"):
        epsilon_greedy(q, obs, 1.5)


def test_linear_schedule():
    assert linear_schedule(1.0, 0.1, 100, 0) == 1.0
    assert linear_schedule(1.0, 0.1, 100, 50) == pytest.approx(0.55)
    assert linear_schedule(1.0, 0.1, 100, 500) == pytest.approx(0.1)


def test_dqn_targets_by_hand():
    online = FixedQ([[1.0, 0.0], [0.0, 1.0]])
    target = FixedQ([[2.0, 10.0], [4.0, 3.0]])
    r = torch.tensor([1.0, 1.0, 1.0])
    nxt = obs_of([0, 1, 1])
    term = torch.tensor([0.0, 0.0, 1.0])
    plain = dqn_targets(target, r, nxt, term, 0.5)
    assert plain.tolist() == pytest.approx([1 + 0.5 * 10, 1 + 0.5 * 4, 1.0])
    double = dqn_targets(target, r, nxt, term, 0.5, online_net=online)
    # online picks action 0 in state 0 and action 1 in state 1; target evaluates them
    assert double.tolist() == pytest.approx([1 + 0.5 * 2, 1 + 0.5 * 3, 1.0])
    assert not double.requires_grad


def test_dqn_loss_gradients_only_into_online_net():
    torch.manual_seed(0)
    online = make_qnet("conv", (3, 8, 8), 128, channels=8, layers=1)
    target = make_qnet("conv", (3, 8, 8), 128, channels=8, layers=1)
    b = Batch(torch.rand(16, 3, 8, 8), torch.randint(128, (16,)), torch.randn(16), torch.rand(16, 3, 8, 8),
              (torch.arange(16) % 2).float())
    loss = dqn_loss(online, b, target, 0.9)
    loss.backward()
    assert all(p.grad is None for p in target.parameters())
    assert all(p.grad is not None for p in online.parameters())
    # Huber and MSE agree for small errors and differ for large ones
    big = b._replace(rewards=b.rewards * 100)
    with torch.no_grad():
        assert float(dqn_loss(online, big, target, 0.9, loss="mse")) > float(dqn_loss(online, big, target, 0.9))
    with pytest.raises(ValueError, match="loss"):
        dqn_loss(online, b, target, 0.9, loss="l1")
    # no target network: bootstraps from the online network, target still detached
    online.zero_grad()
    dqn_loss(online, b, None, 0.9).backward()
    assert all(p.grad is not None for p in online.parameters())


def test_rollout_records_a_consistent_episode():
    cfg = TrainConfig(channels=8, layers=1)
    env = make_env(cfg, 3, split="test", device="cpu", seed=0)
    torch.manual_seed(0)
    qnet = make_qnet("conv", env.obs_shape, env.num_actions, channels=8, layers=1)
    ep = rollout(qnet, env, eps=0.3, index=[0, 5, 7], seed=3)
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
    again = rollout(qnet, env, eps=0.3, index=[0, 5, 7], seed=3)
    assert np.array_equal(again["actions"], ep["actions"])


def test_rollout_pen_mode_freezes_stopped_canvases():
    cfg = TrainConfig(mode="pen")
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

    ep = rollout(StopFirst(), env, index=[0, 1], seed=0)
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


def test_seed_agent_target_sync_quirk():
    env = make_env(TrainConfig(), 1, seed=0)
    agent = SeedAgent(env.obs_shape, env.num_actions, hidden=16, memory_size=40, batch_size=8, target_update=20)
    obs = env.reset()[0].numpy()
    for _ in range(100):
        a = agent.act(obs)
        nxt, r, term, trunc, _ = env.step(torch.tensor([a]))
        agent.remember(obs, a, float(r[0]), nxt[0].numpy(), float(term[0] or trunc[0]))
        agent.replay()
        obs = env.reset_done(term | trunc)[0].numpy() if bool(term[0] or trunc[0]) else nxt[0].numpy()
    # 8..39 transitions: syncs at 20 (and 40 once full); then the deque stays at 40 and it syncs every update
    assert agent.updates == 93
    assert agent.syncs == 1 + (100 - 39)

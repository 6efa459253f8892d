"""dqngen_lib.agent: ε-greedy actions of a Q-network, the schedule, the (Double) DQN target and loss."""
import pytest
import torch
from torch import nn

from dqngen_lib.agent import dqn_loss, dqn_targets, epsilon_greedy, greedy_actions, linear_schedule
from dqngen_lib.nets import make_qnet
from dqngen_lib.replay import Batch


class FixedQ(nn.Module):
    """Q-values that are a fixed table per observation index (obs[:, 0, 0, 0] holds the index)."""

    def __init__(self, table):
        super().__init__()
        self.table = nn.Parameter(torch.as_tensor(table, dtype=torch.float32))

    def forward(self, x):
        return self.table[x[:, 0, 0, 0].long()]


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

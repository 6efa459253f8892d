"""Checks of exercise 05 (lesson 05): the Double DQN target and the TD loss.

``check_double_dqn_targets(fn)`` with ``fn(qnet, target_net, rewards, next_obs, terminated, gamma) -> (B,)``;
``check_dqn_loss(fn)`` with ``fn(qnet, target_net, batch, gamma) -> scalar`` (Huber loss, Double DQN).
Both build two small Q-networks that disagree about the best next action, so that each common
mistake gives a different number, and name the mistake they recognise.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..agent import dqn_loss, dqn_targets
from ..replay import Batch
from ._common import CheckError, call, expect_close, ok

__all__ = ["check_double_dqn_targets", "check_dqn_loss"]

GAMMA = 0.9


class _TableQ(nn.Module):
    """A tiny Q-network: a linear map of the flattened observation (observations (B, 1, 2, 2))."""

    def __init__(self, seed: int, num_actions: int = 3):
        super().__init__()
        g = torch.Generator().manual_seed(seed)
        self.lin = nn.Linear(4, num_actions)
        with torch.no_grad():
            self.lin.weight.copy_(torch.randn(num_actions, 4, generator=g))
            self.lin.bias.copy_(torch.randn(num_actions, generator=g))

    def forward(self, x):
        return self.lin(x.flatten(1))


def _case(seed: int = 5, b: int = 32):
    """Two networks that disagree on argmax for many next states; a batch with some terminals."""
    online, target = _TableQ(seed), _TableQ(seed + 100)
    g = torch.Generator().manual_seed(seed)
    obs = torch.rand(b, 1, 2, 2, generator=g)
    next_obs = torch.rand(b, 1, 2, 2, generator=g)
    actions = torch.randint(3, (b,), generator=g)
    rewards = torch.randn(b, generator=g)
    terminated = (torch.arange(b) % 3 == 0).float()
    return online, target, Batch(obs, actions, rewards, next_obs, terminated)


def _variants(online, target, batch, gamma):
    """Targets of the usual mistakes, to name the one the learner made."""
    with torch.no_grad():
        qo, qt = online(batch.next_obs), target(batch.next_obs)
        keep = 1.0 - batch.terminated
        r = batch.rewards
        a_online, a_target = qo.argmax(1, keepdim=True), qt.argmax(1, keepdim=True)
        return {
            "the (1 - terminated) factor is missing: terminal transitions must not bootstrap":
                r + gamma * qt.gather(1, a_online).squeeze(1),
            "this is plain DQN (max over the target network); Double DQN lets the online network choose "
            "a* = argmax_a Q_online(s', a) and the target network evaluate Q_target(s', a*)":
                r + gamma * keep * qt.max(1).values,
            "the networks are swapped: the target network chose a* and the online network evaluated it; "
            "the online network must choose (argmax) and the target network evaluate":
                r + gamma * keep * qo.gather(1, a_target).squeeze(1),
            "you bootstrapped from the online network alone (max of Q_online); the target network must "
            "evaluate the next action":
                r + gamma * keep * qo.max(1).values,
            "gamma is missing from the bootstrap term": r + keep * qt.gather(1, a_online).squeeze(1),
        }


def _diagnose(got, online, target, batch, gamma) -> str | None:
    for why, wrong in _variants(online, target, batch, gamma).items():
        if isinstance(got, torch.Tensor) and got.shape == wrong.shape and torch.allclose(got.detach().float(), wrong, atol=1e-5):
            return why
    return None


def check_double_dqn_targets(fn) -> None:
    """``fn(qnet, target_net, rewards, next_obs, terminated, gamma)`` -> Double DQN targets (B,), no gradient."""
    online, target, batch = _case()
    expected = dqn_targets(target, batch.rewards, batch.next_obs, batch.terminated, GAMMA, online_net=online)
    got = call(fn, online, target, batch.rewards, batch.next_obs, batch.terminated, GAMMA,
               what="double_dqn_targets")
    if not isinstance(got, torch.Tensor):
        raise CheckError(f"double_dqn_targets: expected a torch.Tensor of shape ({len(batch.rewards)},), "
                         f"got {type(got).__name__}")
    why = _diagnose(got, online, target, batch, GAMMA)
    if why is not None:
        raise CheckError(f"double_dqn_targets: {why}")
    expect_close(got.detach(), expected, f"targets of {len(batch.rewards)} transitions (every third terminal)")
    if got.requires_grad:
        raise CheckError("double_dqn_targets: the targets carry a gradient (requires_grad=True); expected "
                         "them computed under torch.no_grad() (or detached), so that the loss never "
                         "pushes the target towards Q(s, a)")
    ok("Double DQN targets: online network chooses, target network evaluates, terminals do not bootstrap")


def check_dqn_loss(fn) -> None:
    """``fn(qnet, target_net, batch, gamma)`` -> the mean Huber TD loss of Double DQN (a scalar)."""
    online, target, batch = _case(seed=7)
    expected = dqn_loss(online, batch, target, GAMMA, double=True, loss="huber")
    expected.backward()
    exp_grads = [p.grad.clone() for p in online.parameters()]
    online.zero_grad(set_to_none=True)
    got = call(fn, online, target, batch, GAMMA, what="dqn_loss")
    if not isinstance(got, torch.Tensor) or got.shape != ():
        shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
        raise CheckError(f"dqn_loss: expected a scalar tensor (the mean over the batch), got {shape}")
    if not got.requires_grad:
        raise CheckError("dqn_loss: the loss carries no gradient; expected it to depend on Q(s, a) of the "
                         "online network (compute Q(s, a) outside torch.no_grad())")
    q = online(batch.obs).gather(1, batch.actions[:, None]).squeeze(1).detach()
    for why, y in _variants(online, target, batch, GAMMA).items():
        if abs(float(got.detach()) - float(F.smooth_l1_loss(q, y))) < 1e-6:
            raise CheckError(f"dqn_loss: {why}")
    y = dqn_targets(target, batch.rewards, batch.next_obs, batch.terminated, GAMMA, online_net=online)
    if abs(float(got.detach()) - float(F.mse_loss(q, y))) < 1e-6:
        raise CheckError(f"dqn_loss: got the mean squared error {float(got.detach()):.4f}; expected the Huber loss "
                         f"(F.smooth_l1_loss) {float(expected.detach()):.4f}, which keeps large TD errors from exploding")
    q_wrong = online(batch.obs).max(1).values.detach()
    if abs(float(got.detach()) - float(F.smooth_l1_loss(q_wrong, y))) < 1e-6:
        raise CheckError("dqn_loss: you used max_a Q(s, a); expected Q(s, a) of the action actually taken "
                         "(gather with batch.actions)")
    expect_close(got.detach(), expected.detach(), "Huber loss of a batch of 32 transitions")
    got.backward()
    leaked = [n for n, p in target.named_parameters() if p.grad is not None and float(p.grad.abs().sum()) > 0]
    if leaked:
        raise CheckError(f"dqn_loss: gradients flowed into the target network (parameters {leaked} got a "
                         f"gradient); expected the target y to be computed without gradient (torch.no_grad())")
    for (n, p), g in zip(online.named_parameters(), exp_grads):
        if p.grad is None:
            raise CheckError(f"dqn_loss: the online network's {n} got no gradient; expected the loss to be "
                             f"differentiable in Q(s, a)")
        if not torch.allclose(p.grad, g, atol=1e-5):
            raise CheckError(f"dqn_loss: the gradient of the online network's {n} differs from the reference "
                             f"(max difference {float((p.grad - g).abs().max()):.4f}); expected gradient to flow "
                             f"only through Q(s, a), not through the target y (compute y under torch.no_grad())")
    ok("the Double DQN Huber loss matches the library, with gradient only through Q(s, a)")

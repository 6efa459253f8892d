"""Checks of exercise 05 (lesson 05): targets, the TD loss and the training loop.

``check_n_step_targets(fn)`` with ``fn(qnet, target_net, rewards, dones, next_obs, gamma) -> (B,)``
(n-step Double DQN targets, rewards and dones of shape (B, n));
``check_double_dqn_targets(fn)`` with ``fn(qnet, target_net, rewards, next_obs, terminated, gamma) -> (B,)``;
``check_dqn_loss(fn)`` with ``fn(qnet, target_net, batch, gamma) -> scalar`` (Huber loss, Double DQN).
They build two small Q-networks that disagree about the best next action, so that each common
mistake gives a different number, and name the mistake they recognise.
``check_dqn_loop(fn)`` (in ``ex05_loop``) runs a whole training loop under observation.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

from ..agent import dqn_loss, dqn_targets
from ..replay import Batch
from ._common import CheckError, call, expect_close, expect_tensor, fmt_value, ok

__all__ = ["check_n_step_targets", "check_double_dqn_targets", "check_dqn_loss"]

GAMMA = 0.9
# (seed, batch size, number of actions, gamma): several gammas (0 and 1 too), sizes and action counts.
_TARGET_CASES = ((5, 32, 3, 0.9), (6, 5, 4, 0.5), (8, 16, 3, 0.0), (9, 12, 4, 1.0))
_LOSS_CASES = ((7, 32, 3, 0.9), (10, 6, 4, 0.5), (11, 20, 3, 1.0), (12, 8, 4, 0.0))
_TARGET_ARGS = ("qnet", "target_net", "rewards", "next_obs", "terminated", "gamma")
_LOSS_ARGS = ("qnet", "target_net", "batch", "gamma")


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


def _case(seed: int = 5, b: int = 32, num_actions: int = 3):
    """Two networks that disagree on argmax for many next states; a batch with some terminals."""
    online, target = _TableQ(seed, num_actions), _TableQ(seed + 100, num_actions)
    g = torch.Generator().manual_seed(seed)
    obs = torch.rand(b, 1, 2, 2, generator=g)
    next_obs = torch.rand(b, 1, 2, 2, generator=g)
    actions = torch.randint(num_actions, (b,), generator=g)
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
        v = qt.gather(1, a_online).squeeze(1)
        out = {
            "the (1 - terminated) factor is missing: terminal transitions must not bootstrap":
                r + gamma * v,
            "this is plain DQN (max over the target network); Double DQN lets the online network choose "
            "a* = argmax_a Q_online(s', a) and the target network evaluate Q_target(s', a*)":
                r + gamma * keep * qt.max(1).values,
            "the networks are swapped: the target network chose a* and the online network evaluated it; "
            "the online network must choose (argmax) and the target network evaluate":
                r + gamma * keep * qo.gather(1, a_target).squeeze(1),
            "you bootstrapped from the online network alone (max of Q_online); the target network must "
            "evaluate the next action":
                r + gamma * keep * qo.max(1).values,
            "the terminal flag is inverted: only terminal transitions bootstrap; expected the factor "
            "(1 - terminated)": r + gamma * batch.terminated * v,
            "the reward is multiplied by (1 - terminated) too; a terminal transition still earns its reward "
            "(y = r there), only the bootstrap term is cut": (r + gamma * v) * keep,
        }
        if gamma != 1.0:
            out["gamma is missing from the bootstrap term"] = r + keep * v
        if gamma != GAMMA:
            out[f"the targets are those of gamma = {GAMMA}; expected the gamma argument to be used (here "
                f"gamma = {gamma:g})"] = r + GAMMA * keep * v
        return out


def _shape_hint(got, b: int) -> str:
    if isinstance(got, torch.Tensor) and tuple(got.shape) in ((b, 1), (b, b)):
        return (" (a (B, 1) column, or (B, B) from adding a (B,) vector to a (B, 1) column: squeeze(1) the "
                "gathered values)")
    return ""


def check_double_dqn_targets(fn) -> None:
    """``fn(qnet, target_net, rewards, next_obs, terminated, gamma)`` -> Double DQN targets (B,), no gradient."""
    for seed, b, num_actions, gamma in _TARGET_CASES:
        online, target, batch = _case(seed, b, num_actions)
        expected = dqn_targets(target, batch.rewards, batch.next_obs, batch.terminated, gamma, online_net=online)
        got = call(fn, online, target, batch.rewards.clone(), batch.next_obs.clone(), batch.terminated.clone(), gamma,
                   what="double_dqn_targets", names=_TARGET_ARGS)
        what = (f"double_dqn_targets of {b} transitions (every third terminal), {num_actions} actions, "
                f"gamma = {gamma:g}")
        expect_tensor(got, what)
        if tuple(got.shape) != (b,):
            raise CheckError(f"{what}: expected shape ({b},), got {tuple(got.shape)}{_shape_hint(got, b)}")
        expect_close(got.detach(), expected, what, variants=_variants(online, target, batch, gamma),
                     dtype_hint=" (the rewards are float32: keep their dtype)")
        if got.requires_grad:
            raise CheckError(f"{what}: the targets carry a gradient (requires_grad=True); expected "
                             "them computed under torch.no_grad() (or detached), so that the loss never "
                             "pushes the target towards Q(s, a)")
    ok("Double DQN targets: online network chooses, target network evaluates, terminals do not bootstrap")


def _loss_variants(online, target, batch, gamma):
    """Losses of the usual mistakes, to name the one the learner made."""
    with torch.no_grad():
        q_all = online(batch.obs)
        q = q_all.gather(1, batch.actions[:, None]).squeeze(1)
        y = dqn_targets(target, batch.rewards, batch.next_obs, batch.terminated, gamma, online_net=online)
        out = {why: F.smooth_l1_loss(q, yv) for why, yv in _variants(online, target, batch, gamma).items()}
        out.update({
            "got the mean squared error; expected the Huber loss (F.smooth_l1_loss), which keeps large TD "
            "errors from exploding": F.mse_loss(q, y),
            "the loss is summed over the batch; expected its mean (the default reduction of F.smooth_l1_loss)":
                F.smooth_l1_loss(q, y, reduction="sum"),
            "you used max_a Q(s, a); expected Q(s, a) of the action actually taken (gather with batch.actions)":
                F.smooth_l1_loss(q_all.max(1).values, y),
            "Q(s, a) was taken at the next observations; expected online(batch.obs) gathered at batch.actions":
                F.smooth_l1_loss(online(batch.next_obs).gather(1, batch.actions[:, None]).squeeze(1), y),
            "Q(s, a) is a (B, 1) column and the targets a (B,) vector: the loss compared every Q with every "
            "target (B x B pairs); squeeze(1) the gathered values":
                F.smooth_l1_loss(q[:, None].expand(-1, len(y)), y[None, :].expand(len(y), -1)),
        })
        return out


def check_dqn_loss(fn) -> None:
    """``fn(qnet, target_net, batch, gamma)`` -> the mean Huber TD loss of Double DQN (a scalar)."""
    for seed, b, num_actions, gamma in _LOSS_CASES:
        online, target, batch = _case(seed, b, num_actions)
        what = f"dqn_loss of a batch of {b} transitions, {num_actions} actions, gamma = {gamma:g}"
        expected = dqn_loss(online, target, batch, gamma, double=True, loss="huber")
        expected.backward()
        exp_grads = [p.grad.clone() for p in online.parameters()]
        online.zero_grad(set_to_none=True)
        got = call(fn, online, target, Batch(*(t.clone() for t in batch)), gamma, what="dqn_loss", names=_LOSS_ARGS)
        if isinstance(got, (float, int)):
            raise CheckError(f"{what}: expected a scalar tensor (the mean over the batch), got a Python "
                             f"{type(got).__name__}; keep the tensor (no .item()) so that gradients can flow")
        if not isinstance(got, torch.Tensor) or got.shape != ():
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            hint = " (did the function forget to return its result?)" if got is None else ""
            raise CheckError(f"{what}: expected a scalar tensor (the mean over the batch), got {shape}{hint}")
        called = [n for n, p in list(online.named_parameters()) + list(target.named_parameters())
                  if p.grad is not None]
        if called:
            raise CheckError(f"{what}: the parameters already had gradients after the call ({called}); expected "
                             "dqn_loss to return the loss without calling backward() (the training step does)")
        if not got.requires_grad:
            raise CheckError(f"{what}: the loss carries no gradient; expected it to depend on Q(s, a) of the "
                             "online network (compute Q(s, a) outside torch.no_grad())")
        value = float(got.detach())
        if abs(value - float(expected.detach())) > 1e-5:
            for why, wrong in _loss_variants(online, target, batch, gamma).items():
                if abs(value - float(wrong)) < 1e-6:
                    raise CheckError(f"{what}: {why}\n  (expected the loss {fmt_value(expected)}, got "
                                     f"{fmt_value(value)})")
        expect_close(got.detach(), expected.detach(), what, dtype_hint=" (the batch is float32: keep its dtype)")
        try:
            got.backward()
        except Exception as exc:
            raise CheckError(f"{what}: calling backward() on the loss raised {type(exc).__name__}: {exc}") from exc
        leaked = [n for n, p in target.named_parameters() if p.grad is not None and float(p.grad.abs().sum()) > 0]
        if leaked:
            raise CheckError(f"{what}: gradients flowed into the target network (parameters {leaked} got a "
                             f"gradient); expected the target y to be computed without gradient (torch.no_grad())")
        for (n, p), g in zip(online.named_parameters(), exp_grads):
            if p.grad is None:
                raise CheckError(f"{what}: the online network's {n} got no gradient; expected the loss to be "
                                 f"differentiable in Q(s, a)")
            if not torch.allclose(p.grad, g, atol=1e-5):
                raise CheckError(f"{what}: the gradient of the online network's {n} differs from the reference "
                                 f"(max difference {float((p.grad - g).abs().max()):.4f}); expected gradient to "
                                 f"flow only through Q(s, a), not through the target y (compute y under "
                                 f"torch.no_grad())")
    ok("the Double DQN Huber loss matches the library, with gradient only through Q(s, a)")


# ---------------------------------------------------------------------------------------------
# n-step targets
# ---------------------------------------------------------------------------------------------

_N_STEP_ARGS = ("qnet", "target_net", "rewards", "dones", "next_obs", "gamma")
# (seed, batch size, n, number of actions, gamma): n = 1 to 4, every kind of gamma.
_N_STEP_CASES = ((21, 24, 3, 3, 0.8), (22, 12, 2, 4, 0.5), (23, 16, 4, 3, 1.0), (24, 10, 1, 4, 0.9),
                 (25, 20, 3, 4, 0.0))


def _n_step_case(seed: int, b: int, n: int, num_actions: int):
    """Networks that disagree, rewards (B, n), and dones where each row ends at a step of its own (or never);
    after the end, rewards and dones belong to the next episode (random)."""
    online, target = _TableQ(seed, num_actions), _TableQ(seed + 100, num_actions)
    g = torch.Generator().manual_seed(seed)
    rewards = torch.randn(b, n, generator=g)
    ends = torch.arange(b) % (n + 1)                       # n: the episode goes on past the n steps
    dones = (torch.rand(b, n, generator=g) < 0.3).float()  # garbage after the end (the next episode)
    steps = torch.arange(n)[None, :]
    dones = torch.where(steps < ends[:, None], torch.zeros_like(dones), dones)
    dones = torch.where(steps == ends[:, None], torch.ones_like(dones), dones)
    next_obs = torch.rand(b, 1, 2, 2, generator=g)
    return online, target, rewards, dones, next_obs


def _n_step(online, target, rewards, dones, next_obs, gamma, *, mask="cumulative", mask_rewards=True,
            boot_power=None, discount=True, first_power=0, chooser="online", evaluator="target", boot_mask=True):
    """The n-step target with each piece switchable, for the reference and for naming mistakes."""
    b, n = rewards.shape
    ones = torch.ones(b, 1)
    if mask == "cumulative":       # alive[:, k] = prod_{i<k} (1 - d_i)
        alive = torch.cumprod(torch.cat([ones, 1.0 - dones], dim=1), dim=1)
    elif mask == "inclusive":      # the reward of the step that ends the episode dropped too
        alive = torch.cumprod(torch.cat([1.0 - dones, ones], dim=1), dim=1)
        alive = torch.cat([alive[:, :n], alive[:, n - 1:n]], dim=1)
    else:                          # "last": only the last flag
        alive = torch.cat([torch.ones(b, n), 1.0 - dones[:, -1:]], dim=1)
    powers = torch.arange(n, dtype=torch.float32) + first_power
    disc = gamma ** powers if discount else torch.ones(n)
    ret = (disc * (alive[:, :n] if mask_rewards else 1.0) * rewards).sum(dim=1)
    with torch.no_grad():
        nets = {"online": online, "target": target}
        q_eval = nets[evaluator](next_obs)
        if chooser == "max":
            v = q_eval.max(dim=1).values
        else:
            v = q_eval.gather(1, nets[chooser](next_obs).argmax(dim=1, keepdim=True)).squeeze(1)
    power = n if boot_power is None else boot_power
    return ret + gamma ** power * (alive[:, n] if boot_mask else 1.0) * v


def _n_step_variants(online, target, rewards, dones, next_obs, gamma):
    b, n = rewards.shape
    args = (online, target, rewards, dones, next_obs, gamma)
    out = {
        "the rewards after the end of an episode are counted; they belong to the next episode (the canvas was "
        "reset): a reward counts only while no earlier step of the row has ended the episode":
            _n_step(*args, mask_rewards=False),
        "an episode that ended within the n steps still bootstraps: the bootstrap term needs the product of "
        "(1 - d_k) over all n steps": _n_step(*args, boot_mask=False),
        "only the last step's flag cuts the bootstrap (and nothing cuts the rewards); an episode that ended at "
        "an earlier step must not bootstrap either, and its later rewards are the next episode's":
            _n_step(*args, mask="last"),
        "the reward of the step that ends the episode is dropped; the flag d_k ends what comes *after* step k, "
        "its own reward r_k still counts": _n_step(*args, mask="inclusive"),
        "the bootstrap term is discounted by gamma^(n-1); after n rewards the next value is n steps away: gamma^n":
            _n_step(*args, boot_power=n - 1) if n > 1 else None,
        "the bootstrap term is discounted by gamma^(n+1); after n rewards the next value is n steps away: gamma^n":
            _n_step(*args, boot_power=n + 1),
        "the rewards are not discounted: reward k of the row is worth gamma^k r_k":
            _n_step(*args, discount=False) if n > 1 else None,
        "the first reward is discounted too (gamma^(k+1) r_k); reward k is worth gamma^k r_k, the first one r_0":
            _n_step(*args, first_power=1),
        "only the first reward counts (a one-step target); the n rewards of the row all count, discounted":
            _n_step(online, target, rewards[:, :1], dones[:, :1], next_obs, gamma) if n > 1 else None,
        "this is plain DQN (max over the target network); Double DQN lets the online network choose "
        "a* = argmax_a Q_online(s_n, a) and the target network evaluate Q_target(s_n, a*)":
            _n_step(*args, chooser="max", evaluator="target"),
        "the networks are swapped: the target network chose a* and the online network evaluated it":
            _n_step(*args, chooser="target", evaluator="online"),
        "you bootstrapped from the online network alone (max of Q_online); the target network must evaluate":
            _n_step(*args, chooser="max", evaluator="online"),
    }
    if gamma != 0.9:
        out[f"the targets are those of gamma = 0.9; expected the gamma argument to be used (here gamma = "
            f"{gamma:g})"] = _n_step(online, target, rewards, dones, next_obs, 0.9)
    if gamma not in (0.0, 1.0):
        out["gamma is missing from the bootstrap term"] = _n_step(*args, boot_power=0)
    return out


def check_n_step_targets(fn) -> None:
    """``fn(qnet, target_net, rewards, dones, next_obs, gamma)`` -> the n-step Double DQN targets (B,), no gradient.

    ``y = sum_k gamma^k r_k prod_{i<k} (1 - d_i) + gamma^n prod_{i<n} (1 - d_i) Q_target(s_n, a*)``,
    ``a* = argmax_a Q_online(s_n, a)``,
    with ``rewards`` and ``dones`` of shape (B, n) and ``next_obs`` the observation n steps later.
    """
    for seed, b, n, num_actions, gamma in _N_STEP_CASES:
        online, target, rewards, dones, next_obs = _n_step_case(seed, b, n, num_actions)
        expected = _n_step(online, target, rewards, dones, next_obs, gamma)
        got = call(fn, online, target, rewards.clone(), dones.clone(), next_obs.clone(), gamma,
                   what="n_step_targets", names=_N_STEP_ARGS)
        what = (f"n_step_targets of {b} rows of n = {n} steps (episodes ending at every step, or not at all), "
                f"{num_actions} actions, gamma = {gamma:g}")
        if n == 1:
            what += "; with n = 1 this is the one-step Double DQN target"
        expect_tensor(got, what)
        if tuple(got.shape) != (b,):
            raise CheckError(f"{what}: expected shape ({b},), got {tuple(got.shape)}{_shape_hint(got, b)}")
        ends = (torch.arange(b) % (n + 1)).tolist()

        def where(idx, ends=ends, n=n):
            e = ends[idx[0]]
            return (f"row {idx[0]} (the episode ends at step {e} of 0..{n - 1})" if e < n else
                    f"row {idx[0]} (the episode goes on past the {n} steps)")

        expect_close(got.detach(), expected, what, where=where,
                     variants=_n_step_variants(online, target, rewards, dones, next_obs, gamma),
                     dtype_hint=" (the rewards are float32: keep their dtype)")
        if got.requires_grad:
            raise CheckError(f"{what}: the targets carry a gradient (requires_grad=True); expected them computed "
                             "under torch.no_grad() (or detached), so that the loss never pushes the target")
    ok("n-step Double DQN targets: discounted rewards up to the end of the episode, bootstrap only from a state "
       "n steps later that the episode reached")

"""The DQN agent's learning rules (lesson 05): the exploration schedule, the (Double) DQN target,
the TD loss, one gradient update and the target network's update.

One DQN update, read top to bottom (exercise 05 writes the same algorithm as a 20-line loop)::

    batch = buffer.sample(batch_size, generator)                 # replay (lesson 04)
    loss = dqn_update(qnet, target_net, optimizer, batch, gamma)  # TD loss, backward, Adam step
    sync_target(qnet, target_net, tau)                            # Polyak average (tau = 1: a copy)

Everything here works on batches of canvases and on any device; nothing synchronises with the
host, so the trainer of lessons 05-08 calls it inside its hot loop. Acting is lesson 03's
``nets.greedy_actions`` and ``nets.epsilon_greedy`` on the network's Q-values; playing whole
episodes lives in ``rollout``; the seed article's agent in ``article_agent``.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


__all__ = ["linear_schedule", "dqn_targets", "dqn_loss", "dqn_update",
           "sync_target"]


# ---------------------------------------------------------------------------------------------
# Exploration
# ---------------------------------------------------------------------------------------------

def linear_schedule(start: float, end: float, duration: int, t: int) -> float:
    """Linear decay from ``start`` to ``end`` over ``duration`` steps, then constant (lesson 05)."""
    if duration <= 0:
        return end
    frac = min(max(t / duration, 0.0), 1.0)
    return start + frac * (end - start)


# ---------------------------------------------------------------------------------------------
# Learning: the DQN target and loss
# ---------------------------------------------------------------------------------------------

@torch.no_grad()
def dqn_targets(target_net: nn.Module, rewards: torch.Tensor, next_obs: torch.Tensor, terminated: torch.Tensor,
                gamma: float, online_net: nn.Module | None = None) -> torch.Tensor:
    """The bootstrapped DQN target ``y = r + γ (1 − terminated) Q_target(s', a*)`` (lesson 05).

    Plain DQN (``online_net=None``): ``a* = argmax_a Q_target(s', a)``, so the target network both
    chooses and evaluates the next action. Double DQN (``online_net`` given): the online network
    chooses ``a* = argmax_a Q_online(s', a)`` and the target network evaluates it, which removes
    most of the max-operator's over-estimation. The result carries no gradient.
    """
    q_next = target_net(next_obs)
    if online_net is None:
        v_next = q_next.max(dim=1).values
    else:
        a_star = online_net(next_obs).argmax(dim=1, keepdim=True)
        v_next = q_next.gather(1, a_star).squeeze(1)
    return rewards + gamma * (1.0 - terminated.float()) * v_next


def dqn_loss(qnet: nn.Module, target_net: nn.Module | None, batch, gamma: float, double: bool = True,
             loss: str = "huber") -> torch.Tensor:
    """Mean TD loss of a replay ``Batch`` (lesson 05): Huber (or MSE) between ``Q(s, a)`` and the target.

    ``target_net=None`` bootstraps from ``qnet`` itself (the "no target network" ablation; the
    target is still detached). ``double`` selects Double DQN's ``a*`` with ``qnet``.
    """
    if loss not in ("huber", "mse"):
        raise ValueError(f"unknown loss {loss!r}; expected 'huber' or 'mse'")
    q = qnet(batch.obs).gather(1, batch.actions.long()[:, None]).squeeze(1)
    tnet = qnet if target_net is None else target_net
    y = dqn_targets(tnet, batch.rewards, batch.next_obs, batch.terminated, gamma,
                    online_net=qnet if double else None)
    assert q.shape == y.shape == batch.rewards.shape, (q.shape, y.shape, batch.rewards.shape)
    if loss == "huber":
        return F.smooth_l1_loss(q, y)
    return F.mse_loss(q, y)


def dqn_update(qnet: nn.Module, target_net: nn.Module | None, optimizer: torch.optim.Optimizer, batch,
               gamma: float, double: bool = True, loss: str = "huber", max_grad_norm: float = 0.0,
               lr: float | None = None) -> torch.Tensor:
    """One gradient step of DQN on a replay ``Batch`` (lesson 05); returns the loss (detached, on the device).

    The TD loss of ``dqn_loss``, its gradient, the gradient norm clipped to ``max_grad_norm`` (0: not
    clipped), and one step of ``optimizer``, whose learning rate is first set to ``lr`` when given
    (a schedule). The target network is not touched: ``sync_target`` follows the update.
    Nothing synchronises with the host.
    """
    if lr is not None:
        for group in optimizer.param_groups:
            group["lr"] = lr
    value = dqn_loss(qnet, target_net, batch, gamma, double=double, loss=loss)
    optimizer.zero_grad(set_to_none=True)
    value.backward()
    if max_grad_norm > 0:
        nn.utils.clip_grad_norm_(qnet.parameters(), max_grad_norm)
    optimizer.step()
    return value.detach()


@torch.no_grad()
def sync_target(qnet: nn.Module, target_net: nn.Module, tau: float = 1.0) -> None:
    """Move the target network towards the online one (lesson 05): ``θ' ← (1 − τ) θ' + τ θ``.

    ``tau = 1`` copies the weights (the hard update of DQN, every ``target_period`` updates); a small
    ``tau`` after every update is Polyak averaging (the soft update).
    """
    if not 0.0 < tau <= 1.0:
        raise ValueError(f"tau must lie in (0, 1], got {tau!r}")
    for t, o in zip(target_net.parameters(), qnet.parameters(), strict=True):
        if tau == 1.0:
            t.copy_(o)
        else:
            t.lerp_(o, tau)

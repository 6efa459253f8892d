"""Checks of exercise 10 (lesson 10): fix a broken agent.

The exercise ships a DQN agent (a class ``Agent(cfg)`` with a Q-network ``agent.qnet`` of class
``PixelQNet``, ``epsilon()``, ``collect()``, ``targets(batch)``, ``update()`` and ``train(steps)``)
with three planted bugs. One check per bug; each builds a fresh agent from the learner's class on a
small config of its own, exercises the one behaviour its bug breaks, passes only when that behaviour
is right whatever the state of the other two, and says what is still wrong *as a symptom*, never
which line to change:

* ``check_exploration_schedule(Agent)``: ε follows the config's schedule over environment steps;
* ``check_action_order(Agent)``: the Q-network's outputs are in the environment's action order, and
  the map cell of a pixel is computed at that pixel;
* ``check_episode_ends(Agent)``: the targets of the last transition of an episode are its reward,
  the others ``r + gamma Q_target(s', argmax Q_online(s'))``.
"""
from __future__ import annotations

import torch

from ..agent import linear_schedule
from ..config import TrainConfig
from ..replay import Batch
from ._common import CheckError, call, fmt_value, ok

__all__ = ["check_exploration_schedule", "check_action_order", "check_episode_ends", "FIX_CONFIG"]

#: The small configuration every check builds its agent with (4 strokes, 16 canvases, tiny network).
FIX_CONFIG = dict(horizon=4, num_envs=16, batch_size=32, buffer_size=4096, learning_starts=256,
                  eps_decay_steps=1024, eps_start=1.0, eps_end=0.05, channels=8, device="cpu", seed=0)


def _config(**changes) -> TrainConfig:
    return TrainConfig(**{**FIX_CONFIG, **changes})


def _agent(Agent, cfg, what: str):
    agent = call(Agent, cfg, what=f"Agent(cfg) ({what})", names=("cfg",))
    for name in ("env", "qnet"):
        if not hasattr(agent, name):
            raise CheckError(f"Agent(cfg) has no attribute {name!r}; the checks use the agent's {name} as shipped")
    return agent


def _method(agent, name: str):
    fn = getattr(agent, name, None)
    if not callable(fn):
        raise CheckError(f"the agent has no method {name}(); the checks call it as shipped in the exercise")
    return fn


# ---------------------------------------------------------------------------------------------
# Bug hunt 1: exploration
# ---------------------------------------------------------------------------------------------

def check_exploration_schedule(Agent) -> None:
    """ε after ``k`` batched steps (``k * num_envs`` environment steps, updates once past learning_starts)
    must be the config's linear schedule at ``k * num_envs``, within one batched step."""
    cfg = _config()
    agent = _agent(Agent, cfg, "4 strokes, 16 canvases")
    collect, update, epsilon = _method(agent, "collect"), _method(agent, "update"), _method(agent, "epsilon")
    n_envs, updates = cfg.num_envs, 0
    schedule = (f"its config asks for ε from cfg.eps_start = {cfg.eps_start:g} to cfg.eps_end = {cfg.eps_end:g} over "
                f"cfg.eps_decay_steps = {cfg.eps_decay_steps:,} environment steps (transitions)")
    for k in range(1, 97):
        call(collect, what="agent.collect()")
        if k * n_envs >= cfg.learning_starts:
            call(update, what="agent.update()")
            updates += 1
        if k in (1, 24, 48, 64, 96):
            eps = call(epsilon, what="agent.epsilon()")
            if isinstance(eps, torch.Tensor) and eps.numel() == 1:
                eps = float(eps)
            if not isinstance(eps, (int, float)):
                raise CheckError(f"agent.epsilon() returned {type(eps).__name__}; expected a number")
            n = k * n_envs
            want = linear_schedule(cfg.eps_start, cfg.eps_end, cfg.eps_decay_steps, n)
            near = [linear_schedule(cfg.eps_start, cfg.eps_end, cfg.eps_decay_steps, m)
                    for m in (n - n_envs, n + n_envs)]
            if not (min(near) - 1e-9 <= eps <= max(near) + 1e-9 or abs(eps - want) < 1e-9):
                more = "more" if eps > want else "less"
                raise CheckError(f"after {n:,} environment steps ({k} batched step{'s' * (k > 1)} of {n_envs} "
                                 f"canvases, {updates} update{'s' * (updates != 1)}) the agent explores with ε = "
                                 f"{fmt_value(float(eps))}, but {schedule}, "
                                 f"which is at ε = {fmt_value(want)} there: the agent explores {more} than its "
                                 f"config asks")
    ok(f"ε follows the config's schedule: {cfg.eps_start:g} -> {cfg.eps_end:g} over {cfg.eps_decay_steps:,} "
       f"environment steps")


# ---------------------------------------------------------------------------------------------
# Bug hunt 2: which Q-value belongs to which action
# ---------------------------------------------------------------------------------------------

def _pixel(index: int, size: int):
    return divmod(index, size)


def check_action_order(Agent) -> None:
    """``agent.qnet(obs)[:, a]`` must be the map cell ``agent.qnet.qmap(obs)[:, k, row, col]`` of the stroke the
    environment numbers ``a`` (``env.codec``), and that cell must be computed at that pixel."""
    cfg = _config()
    agent = _agent(Agent, cfg, "8x8 canvas, 3 inks: 128 actions")
    env, net = agent.env, agent.qnet
    qmap_fn = getattr(net, "qmap", None)
    if not callable(qmap_fn):
        raise CheckError("agent.qnet has no method qmap(obs); the check compares the network's Q-values with its map")
    g = torch.Generator().manual_seed(3)
    obs = env.reset(seed=3)
    for _ in range(2):                                      # a few painted pixels
        obs, *_ = env.step(torch.randint(env.num_actions, (env.num_envs,), generator=g))
    with torch.no_grad():
        q = call(net, obs, what="agent.qnet(obs)", names=("obs",))
        qmap = call(qmap_fn, obs, what="agent.qnet.qmap(obs)", names=("obs",))
    size, levels = env.size, env.num_actions // (env.size * env.size)
    if not isinstance(q, torch.Tensor) or tuple(q.shape) != (env.num_envs, env.num_actions):
        shape = tuple(q.shape) if isinstance(q, torch.Tensor) else type(q).__name__
        raise CheckError(f"agent.qnet(obs) gave {shape}; expected one Q-value per action, ({env.num_envs}, "
                         f"{env.num_actions})")
    if not isinstance(qmap, torch.Tensor) or tuple(qmap.shape) != (env.num_envs, levels, size, size):
        shape = tuple(qmap.shape) if isinstance(qmap, torch.Tensor) else type(qmap).__name__
        raise CheckError(f"agent.qnet.qmap(obs) gave {shape}; expected the map of one Q-value per ink level and "
                         f"pixel, ({env.num_envs}, {levels}, {size}, {size})")
    codec = env.codec
    cells = qmap[0].reshape(-1)
    in_env_order = torch.stack([qmap[(0, codec.decode(a)["ink"] - 1, *_pixel(a % (size * size), size))]
                                for a in range(env.num_actions)])
    bad = [a for a in range(env.num_actions) if abs(float(q[0, a]) - float(in_env_order[a])) > 1e-6]
    if bad:
        a = bad[0]
        k, cell = divmod(int((cells - q[0, a]).abs().argmin()), size * size)
        r, c = _pixel(cell, size)
        raise CheckError(f"the network's Q-value for action {a}, which the environment carries out as "
                         f"'{codec.describe(a)}', is the value its map holds for painting ({r}, {c}) with ink "
                         f"{codec.ink[k + 1]:g}; {len(bad)} of {env.num_actions} actions get the value of another "
                         f"stroke, so the stroke the agent rates best is not the stroke it paints")
    # The map cell of a pixel must be computed there: changing the target at one pixel changes the Q-values
    # of that pixel's neighbourhood most (the convolutions see a few pixels around; the global feature all).
    for r0, c0 in ((0, size - 1), (size - 1, 0), (1, size - 2)):
        bumped = obs.clone()
        bumped[:, 1, r0, c0] += 1.0
        with torch.no_grad():
            change = (net(bumped) - q).abs().view(env.num_envs, levels, size, size).sum(dim=(0, 1))
        r, c = _pixel(int(change.argmax()), size)
        if max(abs(r - r0), abs(c - c0)) > 2:
            raise CheckError(f"changing the target at pixel ({r0}, {c0}) moves the Q-values of strokes at ({r}, {c}) "
                             f"most, far from ({r0}, {c0}): the map's cells are not computed at the pixels whose "
                             f"strokes they rate")
    ok("the network's Q-values are in the environment's action order, each computed at its own pixel")


# ---------------------------------------------------------------------------------------------
# Bug hunt 3: the end of an episode
# ---------------------------------------------------------------------------------------------

def check_episode_ends(Agent) -> None:
    """After one whole episode of ``collect()`` on every canvas, ``agent.targets(batch)`` of every stored
    transition must be ``r`` at the last step and ``r + gamma Q_target(s', argmax_a Q_online(s', a))`` before."""
    cfg = _config()
    agent = _agent(Agent, cfg, "4 strokes, 16 canvases")
    collect, targets = _method(agent, "collect"), _method(agent, "targets")
    for _ in range(cfg.horizon):
        call(collect, what="agent.collect()")
    buf = getattr(agent, "buffer", None)
    if buf is None or not all(hasattr(buf, f) for f in ("obs", "actions", "rewards", "next_obs", "terminated")):
        raise CheckError("the agent has no replay buffer `agent.buffer` with the fields of a ReplayBuffer")
    n = len(buf)
    if n != cfg.horizon * cfg.num_envs:
        raise CheckError(f"after {cfg.horizon} calls of collect() on {cfg.num_envs} canvases the buffer holds {n} "
                         f"transitions; expected {cfg.horizon * cfg.num_envs}")
    batch = Batch(buf.obs[:n].float(), buf.actions[:n], buf.rewards[:n], buf.next_obs[:n].float(), buf.terminated[:n])
    # Freshly built, the target network is a copy of the online one, and a plain max over it would give the
    # Double DQN target; nudged apart, the two networks pick different next actions and the targets tell them apart.
    target_net = getattr(agent, "target_net", None)
    if target_net is not None:
        g = torch.Generator().manual_seed(0)
        with torch.no_grad():
            for p in target_net.parameters():
                p.add_(0.1 * torch.randn(p.shape, generator=g).to(p.device))
    y = call(targets, batch, what="agent.targets(batch)", names=("batch",))
    if not isinstance(y, torch.Tensor) or tuple(y.shape) != (n,):
        shape = tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__
        raise CheckError(f"agent.targets(batch) gave {shape}; expected one target per transition, ({n},)")
    y = y.detach().float()
    end = torch.round(batch.next_obs[:, -1, 0, 0] * cfg.horizon) >= cfg.horizon
    with torch.no_grad():
        a_star = agent.qnet(batch.next_obs).argmax(dim=1, keepdim=True)
        v_next = agent.target_net(batch.next_obs).gather(1, a_star).squeeze(1)
    want = batch.rewards + cfg.gamma * (~end).float() * v_next
    gap = y - batch.rewards
    if not torch.allclose(y[end], batch.rewards[end], atol=1e-6):
        m = int(end.sum())
        raise CheckError(f"for the {m} transitions that end an episode (the last stroke, t = T - 1 -> T = "
                         f"{cfg.horizon}), the agent's targets are not their rewards: y - r = "
                         f"{float(gap[end].mean()):+.4f} on average, though nothing follows the last stroke; the "
                         f"values of the last steps are pulled towards what comes *after* the episode")
    if not torch.allclose(y[~end], want[~end], atol=1e-5):
        i = int(((y - want).abs() > 1e-5).nonzero()[0, 0])
        raise CheckError(f"for transitions in the middle of an episode the targets are not r + gamma Q_target(s', "
                         f"argmax_a Q_online(s', a)): e.g. transition {i} (t = "
                         f"{int(torch.round(batch.obs[i, -1, 0, 0] * cfg.horizon))}), expected "
                         f"{fmt_value(want[i])}, got {fmt_value(y[i])}")
    ok(f"the last transition of each episode has the target r; the {int((~end).sum())} others bootstrap with gamma = "
       f"{cfg.gamma:g}")

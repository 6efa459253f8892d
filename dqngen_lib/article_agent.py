"""The seed article's agent, kept as it was written, and the course's fixes to it as named changes (lesson 05).

The course grew from an article, "DQN在图像生成中的应用实战" ("DQN for image generation in
practice"). Its agent, as written: a ``DQN`` of ``Linear(state_dim, 128)``, ``Linear(128, 128)``,
``Linear(128, action_dim)`` with ReLUs; ``DQNAgent(state_dim, action_dim, gamma=0.99, lr=1e-3)``
with Adam and a ``deque(maxlen=10000)`` replay memory; ``select_action`` a plain argmax (no
exploration at all); ``update(batch_size)`` samples with ``random.sample``, regresses ``Q(s, a)``
with MSE on ``r + gamma * max_a' Q_target(s', a') * (1 - done)``, and copies the target network
when ``len(replay_buffer) % 100 == 0``. The article stops before its training loop, so the loop
here is ours: one ``update`` per environment step once the memory holds a batch (64).

``ArticleAgent`` is that agent. The course's fixes are separate, named options, off by default, so
lesson 05 can switch them on one at a time (``ARTICLE_FIXES``):

* ``explore``: ε-greedy actions, ε decayed from 1 to 0.05 over the first 5,000 updates (the
  seed never explores, so it only ever sees the consequences of its own argmax);
* ``target_period``: copy the target network every ``target_period`` updates (the seed's rule
  syncs every 100 transitions while the deque fills, then -- its length stuck at 10,000, a multiple
  of 100 -- after *every* update: no target network at all).

``run_article_agent`` trains it on the gymnasium ``dqngen/Canvas-v0`` for a budget with the course's
budget driver.
"""
from __future__ import annotations

import copy
import random

import gymnasium as gym
import numpy as np
import torch
from torch.nn import functional as F

from .budget import Clock, Event, run_budget
from .config import TrainConfig, dataset
from .nets import MLPQNet
from .replay import DequeReplay
from .rollout import evaluate_reconstruction

__all__ = ["ArticleAgent", "run_article_agent", "ARTICLE_FIXES", "ARTICLE_HIDDEN"]

ARTICLE_HIDDEN = 128
ARTICLE_FIXES = {
    "explore": "ε-greedy exploration, ε from 1 to 0.05 over 5,000 updates (the seed's select_action is a plain argmax)",
    "target_period": "copy the target network every 1,000 updates (the seed copies whenever len(memory) % 100 == 0: "
                     "after every update once the memory is full)",
}


class ArticleAgent:
    """The seed article's ``DQNAgent``, as written, with the course's fixes as opt-in options (lesson 05).

    Defaults are the article's: MLP 128-128, ``gamma=0.99``, ``lr=1e-3``, Adam, a ``deque`` of 10,000
    transitions sampled with ``random.sample``, MSE loss, greedy actions, and the target network
    synced when ``len(memory) % target_update == 0`` (``target_update=100``). ``syncs`` counts the
    syncs. Fixes: ``explore=True`` (ε-greedy, ε decayed linearly from ``eps_start`` to ``eps_end``
    over ``eps_decay_updates`` updates) and ``target_period=N`` (sync every N updates instead).
    """

    def __init__(self, obs_shape, num_actions: int, hidden: int = ARTICLE_HIDDEN, lr: float = 1e-3,
                 gamma: float = 0.99,
                 memory_size: int = 10_000, batch_size: int = 64, target_update: int = 100, seed: int = 0,
                 explore: bool = False, eps_start: float = 1.0, eps_end: float = 0.05, eps_decay_updates: int = 5_000,
                 target_period: int | None = None):
        if target_period is not None and (isinstance(target_period, bool) or not isinstance(target_period, int)
                                          or target_period < 1):
            raise ValueError(f"target_period must be None (the seed's rule) or a positive integer, got {target_period!r}")
        torch.manual_seed(seed)
        self.rng = random.Random(seed)
        self.qnet = MLPQNet(obs_shape, num_actions, hidden=hidden)
        self.target_net = copy.deepcopy(self.qnet)
        self.optimizer = torch.optim.Adam(self.qnet.parameters(), lr=lr)
        self.memory = DequeReplay(memory_size, seed=seed)
        self.num_actions, self.gamma, self.batch_size = num_actions, gamma, batch_size
        self.target_update, self.target_period = target_update, target_period
        self.explore, self.eps_start, self.eps_end, self.eps_decay_updates = explore, eps_start, eps_end, eps_decay_updates
        self.syncs = 0
        self.updates = 0

    @property
    def eps(self) -> float:
        """The exploration rate now: 0 for the seed (no exploration), decaying with ``explore=True``."""
        if not self.explore:
            return 0.0
        frac = min(self.updates / max(self.eps_decay_updates, 1), 1.0)
        return self.eps_start + frac * (self.eps_end - self.eps_start)

    def act(self, obs: np.ndarray) -> int:
        """The seed's ``select_action``: argmax of Q (with ``explore=True``: ε-greedy)."""
        if self.explore and self.rng.random() < self.eps:
            return self.rng.randrange(self.num_actions)
        with torch.no_grad():
            return int(self.qnet(torch.as_tensor(obs)[None]).argmax(dim=1).item())

    def remember(self, obs, action, reward, next_obs, terminated) -> None:
        self.memory.add(obs, action, reward, next_obs, terminated)

    def replay(self) -> float | None:
        """The seed's ``update``: one step on a random minibatch; returns the loss (a Python float)."""
        if len(self.memory) < self.batch_size:
            return None
        b = self.memory.sample(self.batch_size)
        q = self.qnet(b.obs).gather(1, b.actions[:, None]).squeeze(1)
        with torch.no_grad():
            y = b.rewards + self.gamma * (1.0 - b.terminated) * self.target_net(b.next_obs).max(dim=1).values
        loss = F.mse_loss(q, y)
        self.optimizer.zero_grad()
        loss.backward()
        self.optimizer.step()
        self.updates += 1
        sync = (self.updates % self.target_period == 0) if self.target_period else \
            (len(self.memory) % self.target_update == 0)
        if sync:
            self.target_net.load_state_dict(self.qnet.state_dict())
            self.syncs += 1
        return loss.item()


def run_article_agent(cfg: TrainConfig, seconds: float | None = None, steps: int | None = None,
                      eval_every: float | None = None, fixes=(), agent_kwargs: dict | None = None,
                      max_eval_images: int | None = None) -> dict:
    """Train ``ArticleAgent`` on the gymnasium ``dqngen/Canvas-v0`` (one canvas) for a budget (lesson 05).

    The agent is the seed's (its own network and hyper-parameters); ``cfg`` gives the task only
    (mode, size, horizon, ink levels, data) and the seed. ``fixes``: names from ``ARTICLE_FIXES`` to
    switch on; ``agent_kwargs`` overrides ``ArticleAgent``'s arguments. One update per environment
    step. Returns a dict with the agent, ``env_steps``, ``updates``, ``seconds``, ``syncs``,
    ``curve`` (seconds, env_steps, test_mse) when ``eval_every`` (seconds of training between
    evaluations, which pause the clock) is given, and the final ``test_mse`` on the test digits.
    """
    if cfg.task != "reconstruct":
        raise ValueError("the seed agent baseline is for the reconstruct task")
    unknown = sorted(set(fixes) - set(ARTICLE_FIXES))
    if unknown:
        raise ValueError(f"unknown fix(es) {unknown}; expected names from {sorted(ARTICLE_FIXES)}")
    images, labels = dataset(cfg).split("train")
    env = gym.make("dqngen/Canvas-v0", mode=cfg.mode, task="reconstruct", size=cfg.size, horizon=cfg.horizon,
                   ink_levels=cfg.ink_levels, pen_window=cfg.pen_window, images=images, labels=labels)
    kw = dict(seed=cfg.seed, explore="explore" in fixes, target_period=1_000 if "target_period" in fixes else None)
    kw.update(agent_kwargs or {})
    agent = ArticleAgent(env.observation_space.shape, env.action_space.n, **kw)
    state = {"obs": env.reset(seed=cfg.seed)[0], "n": 0}
    curve = {"seconds": [], "env_steps": [], "test_mse": []}
    clock = Clock()

    def advance(k: int) -> None:
        for _ in range(k):
            obs = state["obs"]
            a = agent.act(obs)
            nxt, r, term, trunc, _ = env.step(a)
            # time is in the observation, so the horizon is a true end of the episode (as in our trainer)
            agent.remember(obs, a, r, nxt, float(term or trunc))
            agent.replay()
            state["obs"] = env.reset()[0] if term or trunc else nxt
            state["n"] += 1

    def evaluate() -> None:
        curve["seconds"].append(clock.elapsed())
        curve["env_steps"].append(state["n"])
        curve["test_mse"].append(evaluate_reconstruction(agent.qnet, cfg, max_images=max_eval_images)["test_mse"])

    events = [] if eval_every is None else [Event(evaluate, seconds=eval_every, pause=True)]
    done = run_budget(advance, lambda: state["n"], seconds=seconds, steps=steps, events=events, clock=clock)
    ev = evaluate_reconstruction(agent.qnet, cfg)
    return {"agent": agent, "env_steps": state["n"], "updates": agent.updates, "seconds": done["seconds"],
            "syncs": agent.syncs, "curve": curve, "test_mse": ev["test_mse"], "mean_return": ev["mean_return"]}

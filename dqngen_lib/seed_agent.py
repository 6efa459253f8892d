"""The seed article's agent, kept as it was written, as a baseline (lesson 05).

``SeedAgent`` is the article's ``DQNAgent`` made to run on the course's environment: one
environment, a ``deque`` replay sampled with ``random.sample``, the MLP Q-network, MSE loss, and
the target network synced when ``len(memory) % target_update == 0``. ``run_seed_agent`` trains it
on the gymnasium ``dqngen/Canvas-v0`` for a budget with the course's budget driver.
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

__all__ = ["SeedAgent", "run_seed_agent"]


class SeedAgent:
    """The seed project's agent, kept as it was written, for comparison (lesson 05).

    One environment, a ``deque`` replay sampled with ``random.sample``, the MLP Q-network, MSE
    loss, ε decayed multiplicatively after every update, and the target network synced when
    ``len(memory) % target_update == 0``. That last rule is the seed's quirk: while the memory
    fills up it syncs every ``target_update`` transitions, but once the deque is full its length
    never changes, so the target is then synced after *every* update (when ``memory_size`` is a
    multiple of ``target_update``, as in the seed) or never again. ``syncs`` counts them.
    """

    def __init__(self, obs_shape, num_actions: int, hidden: int = 256, lr: float = 1e-3, gamma: float = 0.9,
                 eps_start: float = 1.0, eps_end: float = 0.05, eps_decay: float = 0.9995,
                 memory_size: int = 10_000, batch_size: int = 64, target_update: int = 1000, seed: int = 0):
        torch.manual_seed(seed)
        self.rng = random.Random(seed)
        self.qnet = MLPQNet(obs_shape, num_actions, hidden=hidden)
        self.target_net = copy.deepcopy(self.qnet)
        self.optimizer = torch.optim.Adam(self.qnet.parameters(), lr=lr)
        self.memory = DequeReplay(memory_size, seed=seed)
        self.num_actions, self.gamma, self.batch_size = num_actions, gamma, batch_size
        self.eps, self.eps_end, self.eps_decay = eps_start, eps_end, eps_decay
        self.target_update = target_update
        self.syncs = 0
        self.updates = 0

    def act(self, obs: np.ndarray) -> int:
        """ε-greedy on one observation (a NumPy array), as the seed does it."""
        if self.rng.random() < self.eps:
            return self.rng.randrange(self.num_actions)
        with torch.no_grad():
            return int(self.qnet(torch.as_tensor(obs)[None]).argmax(dim=1).item())

    def remember(self, obs, action, reward, next_obs, terminated) -> None:
        self.memory.add(obs, action, reward, next_obs, terminated)

    def replay(self) -> float | None:
        """One update from a random minibatch; returns the loss (a Python float, as the seed logs it)."""
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
        if len(self.memory) % self.target_update == 0:
            self.target_net.load_state_dict(self.qnet.state_dict())
            self.syncs += 1
        self.eps = max(self.eps_end, self.eps * self.eps_decay)
        return loss.item()


def run_seed_agent(cfg: TrainConfig, seconds: float | None = None, steps: int | None = None,
                   eval_every: float | None = None, agent_kwargs: dict | None = None,
                   max_eval_images: int | None = None) -> dict:
    """Train ``SeedAgent`` on the gymnasium ``dqngen/Canvas-v0`` (one canvas) for a budget (lesson 05).

    ``cfg`` is a ``TrainConfig`` (mode, size, horizon, ink levels, seed, data). One update per
    environment step, as in the seed. Returns a dict with the agent, ``env_steps``, ``updates``,
    ``seconds``, ``syncs``, ``curve`` (seconds, env_steps, test_mse) when ``eval_every`` (seconds of
    training between evaluations, which pause the clock) is given, and the final ``test_mse`` on
    the test digits.
    """
    if cfg.task != "reconstruct":
        raise ValueError("the seed agent baseline is for the reconstruct task")
    images, labels = dataset(cfg).split("train")
    env = gym.make("dqngen/Canvas-v0", mode=cfg.mode, task="reconstruct", size=cfg.size, horizon=cfg.horizon,
                   ink_levels=cfg.ink_levels, pen_window=cfg.pen_window, images=images, labels=labels)
    kw = dict(hidden=cfg.hidden, lr=cfg.lr, gamma=cfg.gamma, seed=cfg.seed)
    kw.update(agent_kwargs or {})
    agent = SeedAgent(env.observation_space.shape, env.action_space.n, **kw)
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

"""An episode you can step through and edit (lesson 10): the state behind the Q-value explorer, headless.

``EpisodeRecord`` holds one episode of a trained agent on one held-out digit (or one class, for a
generation agent): the observations ``s_0 .. s_T``, the Q-values ``Q(s_t, .)`` the network gives in
each, the actions taken (greedy or random under ε, or given by hand) and the rewards. Every episode
is played by the course's episode player (``rollout.play``); an edit (an action of yours at step t)
replays the episode from the start as a script. ``explorer.QExplorer`` puts widgets on top of it;
the record itself needs no display, so scripts and tests use it directly.
"""
from __future__ import annotations

import os

import numpy as np
import torch

from .checkpoint import load_checkpoint
from .config import make_env
from .rollout import ScriptedPolicy, epsilon_greedy_policy, play
from .utils import is_int, is_number

__all__ = ["EpisodeRecord", "as_agent"]

_CFG_FIELDS = ("task", "mode", "size", "ink_levels", "pen_window", "horizon", "gamma")


def as_agent(name, ck):
    """``(qnet, cfg)`` of ``ck``: a ``Checkpoint``, a ``TrainResult``, a ``(qnet, cfg)`` pair or a checkpoint
    path; ``name`` names it in errors."""
    if isinstance(ck, (str, os.PathLike)):
        ck = load_checkpoint(ck, kind="dqn")
    if isinstance(ck, tuple) and len(ck) == 2:
        qnet, cfg = ck
    elif hasattr(ck, "qnet") and hasattr(ck, "cfg"):
        qnet, cfg = ck.qnet, ck.cfg
    else:
        raise ValueError(f"agent {name!r}: expected a Checkpoint, a TrainResult, a (qnet, cfg) pair or a "
                         f"checkpoint path, got {type(ck).__name__}")
    if qnet is None or cfg is None:
        raise ValueError(f"agent {name!r}: both the Q-network and its config (cfg) are needed")
    for field in _CFG_FIELDS:
        if not hasattr(cfg, field):
            raise ValueError(f"agent {name!r}: cfg has no {field!r}; expected a TrainConfig")
    return qnet, cfg


class EpisodeRecord:
    """One episode of an agent that you can step through and edit (lesson 10).

    ``EpisodeRecord(qnet, cfg)`` records episodes of one Q-network with the ``TrainConfig`` it was trained
    with; ``EpisodeRecord(checkpoints={"pretrained": load_pretrained(), "mine": result})`` holds several
    (each a ``Checkpoint``, a ``TrainResult``, a ``(qnet, cfg)`` pair or a checkpoint path) and
    ``set_checkpoint(name)`` switches between them. ``digits``: the held-out digits offered in
    ``choices`` (indices into the ``split`` digits; default two of each class); for a generation agent
    the choices are the classes. ``eps`` is ε for the agent's play; ``seed`` seeds the episode (target
    draw, latent code, ε). ``env_factory(cfg)`` may build the one-canvas ``VecCanvasEnv`` (default
    ``config.make_env(cfg, 1, split, device, seed)``): every step goes through the environment.

    State at the step shown: ``.step`` (settable), ``.canvas``, ``.q``, ``.action`` (taken at this step,
    ``None`` if none yet), ``.greedy_action``, ``.reward``, ``.returns`` (the return so far,
    ``r_0 + ... + r_{t-1}``), ``.bellman_target`` (``r_t + gamma (1 - terminal) max_a Q(s_{t+1}, a)``
    with the same network, ``None`` before an action is taken) and ``.td_error``; ``.episode`` holds the
    whole record. Edits: ``.restart()``, ``.play()`` (the agent plays on from this step with ε),
    ``.greedy_step()``, ``.take_action(a)`` (your action at this step; what came after it is
    discarded) and ``.set_digit(i)``.
    """

    def __init__(self, qnet=None, cfg=None, *, checkpoints=None, digits=None, split: str = "test", digit=None,
                 eps: float = 0.0, seed: int = 0, env_factory=None):
        if split not in ("train", "test"):
            raise ValueError(f"split must be 'train' or 'test', got {split!r}")
        if not is_number(eps, 0.0, 1.0):
            raise ValueError(f"eps must be a number in [0, 1], got {eps!r}")
        self.split, self.seed, self.eps = split, int(seed), float(eps)
        self.env_factory = env_factory
        agents = {}
        if qnet is not None or cfg is not None:
            agents["agent"] = as_agent("agent", (qnet, cfg))
        for name, ck in (checkpoints or {}).items():
            agents[str(name)] = as_agent(name, ck)
        if not agents:
            raise ValueError("nothing to explore: give qnet and cfg, or checkpoints={name: checkpoint}")
        self.agents = agents
        self._digits_arg = None if digits is None else [int(i) for i in digits]
        self._step = 0
        self._actions: list[int] = []
        self.agent_name = None
        self._start(digit)

    def _start(self, digit) -> None:
        """The first episode, of the first agent (a view builds itself first, then calls this)."""
        self.set_checkpoint(next(iter(self.agents)), digit=digit)

    # -- hooks for a view (the explorer's widgets); nothing to do headless ------------------------
    def _agent_changed(self) -> None:
        """Called when ``set_checkpoint`` has built the new agent's environment and ``choices``."""

    def _show(self, t: int) -> None:
        """Called after every change of the record or of the step shown; ``t`` is the step to show."""
        self._step = min(int(t), len(self._actions))

    # -- agents and environments ------------------------------------------------------------------
    def _make_env(self, cfg):
        if self.env_factory is not None:
            env = self.env_factory(cfg)
        else:
            env = make_env(cfg, 1, split=self.split, device=self.device, seed=self.seed)
        if env.num_envs != 1:
            raise ValueError(f"the explorer needs an environment of one canvas, got num_envs={env.num_envs}")
        return env

    def set_checkpoint(self, name: str, digit=None) -> None:
        """Explore the agent ``name`` (one of ``.agents``): builds its environment and plays an episode."""
        if name not in self.agents:
            raise ValueError(f"unknown agent {name!r}; expected one of {sorted(self.agents)}")
        prev_task, prev_digit = getattr(self, "task", None), getattr(self, "digit", None)
        self.qnet, self.cfg = self.agents[name]
        p = next(self.qnet.parameters(), None)
        self.device = p.device if p is not None else torch.device("cpu")
        self.env = self._make_env(self.cfg)
        probe = self.env.observation()
        try:
            with torch.no_grad():
                n_q = self.qnet(probe).shape[1]
        except (ValueError, RuntimeError) as exc:
            raise ValueError(f"agent {name!r} does not fit the environment of its config "
                             f"(observations {tuple(probe.shape[1:])}): {exc}") from None
        if n_q != self.env.num_actions:
            raise ValueError(f"agent {name!r} gives {n_q} Q-values, its environment has {self.env.num_actions} actions")
        self.agent_name = name
        self.mode, self.task, self.size = self.env.mode, self.env.task, self.env.size
        self.gamma = float(self.cfg.gamma)
        self.ink = self.env.ink.cpu().numpy()
        if self.task == "reconstruct":
            labels = self.env.labels.cpu().numpy()
            if self._digits_arg is not None:
                idx = self._digits_arg
            else:
                idx = sorted(int(i) for c in np.unique(labels) for i in np.flatnonzero(labels == c)[:2])
            bad = [i for i in idx if not 0 <= i < len(labels)]
            if bad:
                raise ValueError(f"digits must be indices in [0, {len(labels)}) of the {self.split} digits, got {bad}")
            self.choices = [(f"#{i}: a {labels[i]}", i) for i in idx]
        else:
            self.choices = [(f"class {c}", c) for c in range(self.env.num_classes)]
        if digit is None and prev_task == self.task and prev_digit in [v for _, v in self.choices]:
            digit = prev_digit
        self._agent_changed()
        self.set_digit(self.choices[0][1] if digit is None else digit)

    # -- choosing what to paint ----------------------------------------------------------------
    def set_digit(self, i: int) -> None:
        """Paint the held-out digit ``i`` (index into the ``split`` digits), or class ``i`` for generation.

        Starts a new episode that the agent plays with the current ε; the view goes to step 0.
        """
        if not is_int(i):
            raise ValueError(f"expected an integer digit index (or class), got {i!r}")
        i = int(i)
        if self.task == "reconstruct":
            n = len(self.env.images)
            if not 0 <= i < n:
                raise ValueError(f"digit index {i} is out of range; the {self.split} split has {n} digits (0..{n - 1})")
            if i not in [v for _, v in self.choices]:
                self.choices = self.choices + [(f"#{i}: a {int(self.env.labels[i])}", i)]
        elif not 0 <= i < self.env.num_classes:
            raise ValueError(f"class {i} is out of range; expected 0..{self.env.num_classes - 1}")
        self.digit = i
        self.restart()

    def set_class(self, c: int) -> None:
        """Generation agents: paint class ``c`` (the same as ``set_digit``)."""
        self.set_digit(c)

    # -- the record: every episode is played by rollout.play ---------------------------------------
    def _play(self, actions: list[int], kinds: list[str], then_eps: float | None = None) -> None:
        """(Re)play the episode: the scripted ``actions`` from the start, then (when ``then_eps`` is given)
        the agent ε-greedy to the end; the whole record is replaced by what ``rollout.play`` returns."""
        then = None if then_eps is None else epsilon_greedy_policy(self.qnet, float(then_eps), self.gen)
        policy = ScriptedPolicy(actions, qnet=self.qnet, then=then)
        where = {"index": [self.digit]} if self.task == "reconstruct" else {"label": [self.digit]}
        ep = play(self.env, policy, seed=self.seed, record=True, steps=None if then is not None else len(actions),
                  **where)
        with torch.no_grad():
            q_last = self.qnet(torch.as_tensor(ep["obs"][-1], device=self.device))[0].cpu().numpy()
        n = int(ep["length"][0])
        acts = [int(a) for a in ep["actions"][:n, 0]] if n else []
        q = [np.asarray(v[0], dtype=np.float64) for v in ep["q"][:n]] if n else []
        self._q = q + [q_last.astype(np.float64)]
        self._canvas = [c[0] for c in ep["canvas"][:n + 1]]
        self._pen = ([tuple(int(v) for v in p[0]) for p in ep["pen"][:n + 1]] if self.mode == "pen"
                     else [None] * (n + 1))
        self._actions = acts
        self._rewards = [float(r) for r in ep["rewards"][:n, 0]] if n else []
        self._kinds = list(kinds[:len(actions)]) + ["greedy" if a == int(self._q[t].argmax()) else "random"
                                                    for t, a in enumerate(acts) if t >= len(actions)]
        self._terminal = bool(n) and (int(self.env.t[0]) >= self.env.horizon or acts[-1] == self.env.codec.stop)

    def restart(self) -> None:
        """A new episode on the chosen digit: the agent plays it to the end with ε; show step 0."""
        self.gen = torch.Generator(device=self.device).manual_seed(self.seed)
        self._actions, self._kinds = [], []
        self._play([], [], then_eps=self.eps)
        self._show(0)

    def play(self, eps: float | None = None) -> None:
        """From the step shown, let the agent play on to the end (ε of ``.eps`` unless given).

        The actions recorded after this step are replaced; the view stays at this step.
        """
        eps = self.eps if eps is None else eps
        if not is_number(eps, 0.0, 1.0):
            raise ValueError(f"eps must be a number in [0, 1], got {eps!r}")
        t = self.step
        self._play(self._actions[:t], self._kinds[:t], then_eps=eps)
        self._show(t)

    def play_greedy(self) -> None:
        """From the step shown, the greedy agent (ε = 0) plays on to the end."""
        self.play(eps=0.0)

    def take_action(self, a: int, kind: str = "hand") -> dict:
        """Take action ``a`` at the step shown (replacing what came after) and show the next step.

        Returns the transition: ``action``, ``q`` (its Q-value), ``greedy_action``, ``greedy_q``,
        ``reward``, ``bellman_target`` and ``td_error``.
        """
        a = self.env.codec.check(a)
        t = self.step
        if t == len(self._actions) and self._terminal:
            raise ValueError(f"the episode is over (step {t}); move the step slider back or start a new episode")
        self._play(self._actions[:t] + [a], self._kinds[:t] + [kind])
        out = self.transition(t)
        self._show(t + 1)
        return out

    def greedy_step(self) -> dict:
        """Take the agent's greedy action at the step shown (see ``take_action``)."""
        if self._terminal and self.step >= len(self._actions):
            raise ValueError("the episode is over; move the step slider back or start a new episode")
        return self.take_action(int(self._q[self.step].argmax()), kind="greedy")

    # -- state at the step shown -----------------------------------------------------------------
    @property
    def step(self) -> int:
        """The step shown (0 .. the episode's length)."""
        return self._step

    @step.setter
    def step(self, t: int) -> None:
        if not is_int(t) or not 0 <= int(t) <= len(self._actions):
            raise ValueError(f"step must be an integer in [0, {len(self._actions)}], got {t!r}")
        self._show(int(t))

    @property
    def length(self) -> int:
        """Actions recorded in the episode."""
        return len(self._actions)

    @property
    def done(self) -> bool:
        """Whether the recorded episode has ended (horizon reached, or stop in pen mode)."""
        return self._terminal

    @property
    def canvas(self) -> np.ndarray:
        return self._canvas[self.step]

    @property
    def pen(self):
        return self._pen[self.step]

    @property
    def target(self) -> np.ndarray | None:
        return self.env.target[0].cpu().numpy() if self.task == "reconstruct" else None

    @property
    def q(self) -> np.ndarray:
        """``Q(s_t, a)`` for every action ``a`` at the step shown."""
        return self._q[self.step]

    @property
    def action(self) -> int | None:
        t = self.step
        return self._actions[t] if t < len(self._actions) else None

    @property
    def greedy_action(self) -> int:
        return int(self.q.argmax())

    @property
    def reward(self) -> float | None:
        t = self.step
        return self._rewards[t] if t < len(self._rewards) else None

    @property
    def returns(self) -> float:
        """The return so far: the rewards of the steps before the one shown, ``r_0 + ... + r_{t-1}``."""
        return float(sum(self._rewards[:self.step]))

    def _bellman(self, t: int) -> float | None:
        if t >= len(self._actions):
            return None
        terminal = self._terminal and t + 1 == len(self._actions)
        return self._rewards[t] + (0.0 if terminal else self.gamma * float(self._q[t + 1].max()))

    @property
    def bellman_target(self) -> float | None:
        """``y_t = r_t + gamma (1 - terminal) max_a Q(s_{t+1}, a)`` of the transition from the step shown."""
        return self._bellman(self.step)

    @property
    def td_error(self) -> float | None:
        """``y_t - Q(s_t, a_t)``: how far the network is from its own Bellman target here."""
        y = self.bellman_target
        return None if y is None else y - float(self.q[self.action])

    def transition(self, t: int | None = None) -> dict:
        """The recorded transition from step ``t`` (default: the one shown) as a dict."""
        t = self.step if t is None else int(t)
        if not 0 <= t < len(self._actions):
            raise ValueError(f"no transition recorded from step {t}; the episode has {len(self._actions)} actions")
        q, a = self._q[t], self._actions[t]
        y = self._bellman(t)
        return {"step": t, "action": a, "kind": self._kinds[t], "q": float(q[a]), "greedy_action": int(q.argmax()),
                "greedy_q": float(q.max()), "reward": self._rewards[t], "bellman_target": y,
                "td_error": y - float(q[a])}

    @property
    def episode(self) -> dict:
        """The whole record: ``canvas`` (T+1, H, W), ``q`` (T+1, A), ``actions``, ``rewards`` (T,), ``kinds``,
        ``bellman_targets`` (T,), ``pen`` (pen mode), ``target``, ``label``, ``return``, ``length``, ``done``."""
        ep = {"canvas": np.stack(self._canvas), "q": np.stack(self._q),
              "actions": np.array(self._actions, dtype=np.int64), "rewards": np.array(self._rewards),
              "kinds": list(self._kinds), "bellman_targets": np.array([self._bellman(t) for t in range(self.length)]),
              "target": self.target, "label": int(self.env.label[0]), "return": float(sum(self._rewards)),
              "length": self.length, "done": self._terminal, "mode": self.mode, "task": self.task}
        if self.mode == "pen":
            ep["pen"] = np.array(self._pen, dtype=np.int64)
        return ep

    def describe(self, a: int) -> str:
        """Action ``a`` in words."""
        return self.env.codec.describe(a)

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.task}, {self.mode} mode, "
                f"{'digit' if self.task == 'reconstruct' else 'class'} {self.digit}, step {self.step} of {self.length})")

"""The episode player (lessons 05, 09 and 10): the one loop that plays episodes on a ``VecCanvasEnv``.

``play(env, policy)`` plays one episode on every canvas of the env and returns what happened.
A policy maps ``(obs, env)`` to actions; ``QPolicy`` picks them from a Q-network's Q-values
(greedy, ε-greedy or Boltzmann) and also reports the Q-values it saw, and any callable works (a
planner of ``dqngen_lib.planners``, a scripted list of actions, your own). Canvases that finish
early (pen ``stop``) keep their picture while the others play on: the env's ``step(active=...)``
leaves them untouched, the one way finished canvases are frozen.

Everything that plays whole episodes goes through ``play``: training evaluations,
``reconstruct`` and ``evaluate_reconstruction`` here, ``generate.paint`` and ``sample``, the seed
agent's evaluation and the explorer of lesson 10.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from . import nets
from .config import TrainConfig, dataset, make_env
from .envs import VecCanvasEnv
from .metrics import perfect_painter_mse
from .utils import is_int, is_number

__all__ = ["QPolicy", "ScriptedPolicy", "greedy", "epsilon_greedy_policy", "boltzmann", "play", "reconstruct", "evaluate_reconstruction",
           "reference_mse", "as_policy"]


class QPolicy:
    """Actions from a Q-network: ``"greedy"`` (argmax), ``"epsilon"`` (ε-greedy) or ``"boltzmann"``.

    Called with ``(obs, env)``, it returns ``(actions, q)``: the actions (N,) and the Q-values (N, A)
    they were chosen from. Random draws come from ``generator`` (on the observations' device), so
    an episode is reproducible; ε-greedy draws as ``nets.epsilon_greedy`` does, Boltzmann as
    ``nets.boltzmann_actions``.
    """

    KINDS = ("greedy", "epsilon", "boltzmann")

    def __init__(self, qnet: nn.Module, kind: str = "greedy", eps: float = 0.0, temperature: float = 0.0,
                 generator: torch.Generator | None = None):
        if kind not in self.KINDS:
            raise ValueError(f"unknown policy kind {kind!r}; expected one of {', '.join(map(repr, self.KINDS))}")
        if not is_number(eps, 0.0, 1.0):
            raise ValueError(f"eps must be a number in [0, 1], got {eps!r}")
        if not is_number(temperature, 0.0):
            raise ValueError(f"temperature must be a finite number >= 0, got {temperature!r}")
        self.qnet, self.kind, self.eps, self.temperature, self.generator = qnet, kind, eps, temperature, generator

    def __call__(self, obs: torch.Tensor, env=None) -> tuple[torch.Tensor, torch.Tensor]:
        q = self.qnet(obs)
        if self.kind == "epsilon" and self.eps > 0:
            return nets.epsilon_greedy(q, self.eps, self.generator), q
        if self.kind == "boltzmann" and self.temperature > 0:
            return nets.boltzmann_actions(q, self.temperature, self.generator), q
        return nets.greedy_actions(q), q

    def __repr__(self) -> str:
        what = {"greedy": "", "epsilon": f", eps={self.eps:g}", "boltzmann": f", temperature={self.temperature:g}"}
        return f"QPolicy({type(self.qnet).__name__}, {self.kind}{what[self.kind]})"


class ScriptedPolicy:
    """Plays given actions in order, one per step, then hands over to ``then`` (lesson 10's explorer).

    ``actions``: a list of actions, each an int (the same for every canvas) or one per canvas.
    With ``qnet``, the Q-values of each state are reported too (as ``QPolicy`` does).
    """

    def __init__(self, actions, qnet: nn.Module | None = None, then=None):
        self.actions, self.qnet, self.then, self.calls = list(actions), qnet, then, 0

    def __call__(self, obs: torch.Tensor, env=None):
        i, self.calls = self.calls, self.calls + 1
        if i >= len(self.actions):
            if self.then is None:
                raise ValueError(f"the script has only {len(self.actions)} actions and nothing to hand over to")
            return self.then(obs, env)
        a = torch.as_tensor(self.actions[i], dtype=torch.int64, device=obs.device).expand(obs.shape[0]).clone()
        return (a, self.qnet(obs)) if self.qnet is not None else a


def greedy(qnet: nn.Module) -> QPolicy:
    """The greedy policy ``argmax_a Q(s, a)`` of a Q-network."""
    return QPolicy(qnet, "greedy")


def epsilon_greedy_policy(qnet: nn.Module, eps: float, generator: torch.Generator | None = None) -> QPolicy:
    """The ε-greedy policy of a Q-network: a uniformly random action with probability ``eps`` (its actions are
    ``nets.epsilon_greedy`` of the Q-values)."""
    return QPolicy(qnet, "epsilon", eps=eps, generator=generator)


def boltzmann(qnet: nn.Module, temperature: float, generator: torch.Generator | None = None) -> QPolicy:
    """Boltzmann sampling ``P(a) ∝ exp(Q(s, a) / temperature)`` from a Q-network (0: greedy)."""
    return QPolicy(qnet, "boltzmann", temperature=temperature, generator=generator)


def as_policy(agent) -> Callable:
    """A Q-network becomes its greedy policy; a policy (any callable ``(obs, env)``) stays as it is."""
    if isinstance(agent, nn.Module):
        return greedy(agent)
    if not callable(agent):
        raise ValueError(f"expected a Q-network (torch.nn.Module) or a policy callable(obs, env), "
                         f"got {type(agent).__name__}")
    return agent


def _device_of(agent) -> torch.device | None:
    net = agent if isinstance(agent, nn.Module) else getattr(agent, "qnet", None)
    p = next(net.parameters(), None) if isinstance(net, nn.Module) else None
    return None if p is None else p.device


@torch.no_grad()
def play(env: VecCanvasEnv, policy, *, reset: bool = True, seed: int | None = None, index=None, label=None,
         record: bool = False, steps: int | None = None) -> dict:
    """Play one episode on every canvas of ``env`` with ``policy`` (lessons 05, 09, 10).

    ``policy(obs, env)`` returns the actions (N,), or ``(actions, q)`` with the Q-values (N, A) they
    came from (``QPolicy`` does); a Q-network is played greedily. With ``reset`` (the default) the
    episode starts afresh: ``seed`` re-seeds the env, ``index`` picks each canvas's target
    (reconstruct task) and ``label`` its class (generate task); ``reset=False`` plays on from the
    env's current state to the horizon; ``steps`` stops after that many steps (default: the end of
    every canvas's episode). A Q-network is switched to eval mode while it plays.

    Returns NumPy arrays: ``final`` (N, H, W) the finished canvases, ``target`` (N, H, W),
    ``label`` (N,), ``latent`` (N, D), ``return`` (N,), ``length`` (N,) steps played; with
    ``record=True`` also, with ``T`` the number of steps played: ``obs`` (T+1, N, C, H, W),
    ``canvas`` (T+1, N, H, W), ``actions`` (T, N), ``rewards`` (T, N), ``q`` (T, N, A) when the
    policy reports Q-values, ``active`` (T, N) whether the canvas was still playing, ``pen``
    (T+1, N, 2) in pen mode. Plus ``channel_names``, ``num_actions``, ``mode`` and ``task``.
    """
    net = policy if isinstance(policy, nn.Module) else getattr(policy, "qnet", None)
    was_training = net.training if isinstance(net, nn.Module) else None
    if was_training:
        net.eval()
    policy = as_policy(policy)
    try:
        obs = env.reset(seed=seed, index=index, label=label) if reset else env.observation()
        n = env.num_envs
        active = env.t < env.horizon
        ret = torch.zeros(n, device=env.device)
        length = torch.zeros(n, dtype=torch.int64, device=env.device)
        rec: dict[str, list] = {k: [] for k in ("obs", "canvas", "actions", "rewards", "q", "active", "pen")}

        def snapshot():
            rec["obs"].append(obs.cpu())
            rec["canvas"].append(env.canvas.cpu())
            if env.mode == "pen":
                rec["pen"].append(env.pen.cpu())

        if record:
            snapshot()
        if steps is not None and not is_int(steps, 0):
            raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
        played = 0
        while bool(active.any()) and (steps is None or played < steps):
            played += 1
            out = policy(obs, env)
            actions, q = out if isinstance(out, tuple) else (out, None)
            obs, r, term, trunc, _ = env.step(actions, validate=False, active=active)
            ret += r
            length += active.long()
            if record:
                rec["actions"].append(actions.cpu())
                rec["rewards"].append(r.cpu())
                rec["active"].append(active.cpu())
                if q is not None:
                    rec["q"].append(q.cpu())
                snapshot()
            active = active & ~(term | trunc)
    finally:
        if was_training:
            net.train()
    out = {k: torch.stack(v).numpy() for k, v in rec.items() if v} if record else {}
    out.update(final=env.canvas.cpu().numpy(), target=env.target.cpu().numpy(), label=env.label.cpu().numpy(),
               latent=env.latent.cpu().numpy(), length=length.cpu().numpy(), channel_names=list(env.channel_names),
               num_actions=env.num_actions, mode=env.mode, task=env.task)
    out["return"] = ret.cpu().numpy()
    return out


def reconstruct(agent, cfg: TrainConfig, split: str = "test", device=None, max_images: int | None = None,
                batch: int = 1024) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reconstructions of the digits of ``split`` by an agent (lesson 05).

    ``agent`` is a Q-network (played greedily) or any policy ``(obs, env)`` (a planner, say).
    Returns ``(images, targets, returns)``: the final canvases and their targets (the grey
    digits the agent is shown), float32 (N, H, W) in [0, 1], and each episode's return (N,).
    Plays the first ``max_images`` digits (all by default) in batches of ``batch`` canvases, on
    ``device`` (default: where the Q-network's weights are, else ``cfg.device``).
    """
    if cfg.task != "reconstruct":
        raise ValueError(f"reconstruction needs a checkpoint of task 'reconstruct', this one is {cfg.task!r}")
    if device is None:
        device = _device_of(agent) or cfg.device
    images, _ = dataset(cfg).split(split)
    if max_images is not None and (isinstance(max_images, bool) or not isinstance(max_images, (int, np.integer))
                                   or max_images < 1):
        raise ValueError(f"max_images must be an integer >= 1, got {max_images!r}")
    m = len(images) if max_images is None else min(int(max_images), len(images))
    if m < 1:
        raise ValueError(f"the {split!r} split holds no digits to reconstruct")
    policy = as_policy(agent)
    finals, targets, returns = [], [], []
    for start in range(0, m, batch):
        idx = np.arange(start, min(start + batch, m))
        env = make_env(cfg, len(idx), split=split, device=device, seed=cfg.seed)
        ep = play(env, policy, index=idx, seed=cfg.seed)
        finals.append(ep["final"])
        targets.append(ep["target"])
        returns.append(ep["return"])
    return np.concatenate(finals), np.concatenate(targets), np.concatenate(returns)


def evaluate_reconstruction(agent, cfg: TrainConfig, split: str = "test", device=None,
                            max_images: int | None = None) -> dict:
    """Held-out quality of a reconstruction agent or planner (lesson 05).

    ``test_mse``: mean squared error per pixel between the final canvas and its target (the grey
    digit), over the digits of ``split``; ``blank_mse``: the same for a blank canvas;
    ``mean_return``: the mean episode return (the fraction of the error removed); ``images``: how
    many digits.
    """
    finals, targets, returns = reconstruct(agent, cfg, split=split, device=device, max_images=max_images)
    return {
        "split": split,
        "images": int(len(finals)),
        "test_mse": float(np.mean((finals - targets) ** 2)),
        "blank_mse": float(np.mean(targets ** 2)),
        "mean_return": float(np.mean(returns)),
    }


def reference_mse(cfg: TrainConfig, split: str = "test") -> dict:
    """Reference points for ``evaluate_reconstruction`` (lesson 05).

    ``blank_mse``: a blank canvas. ``optimal_mse``: the perfect pixel painter of ``cfg.horizon``
    strokes (``metrics.perfect_painter_mse``), the best any pixel-mode agent can do.
    """
    x, _ = dataset(cfg).split(split)
    return {"blank_mse": float(np.mean(x ** 2)),
            "optimal_mse": perfect_painter_mse(x, cfg.horizon, cfg.ink_levels)}

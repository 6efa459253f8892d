"""Exact values of a tiny canvas (lesson 02): transition tables, Bellman backups, Q* by backward induction.

A canvas small enough to enumerate -- 3x3 pixels, two ink levels, a horizon of four strokes, a few
targets -- has few enough states that its optimal action values ``Q*`` can be computed exactly. The
tables are built by calling the environment's own rules (``envs.pixel_transition`` and
``envs.reconstruction_reward``) once, batched over every (canvas, action) pair, so the tables and
the environment cannot disagree.

State ``(t, j, s)``: the time step ``t`` (finite horizon: it is part of the state), the target
``j`` and the canvas ``s``, numbered by ``canvas_index`` (pixel ``p`` holds ink level ``(s // L**p) % L``).
Arrays of values are laid out ``Q[t, j, s, a]`` and ``V[t, j, s]`` with ``V[T] = 0``.

``slip`` makes the dynamics stochastic: with probability ``slip`` the painter's hand slips and a
uniformly random action is carried out instead of the chosen one. With ``slip = 0`` (the default)
the painting MDP is deterministic, as in the environment.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from .data import ink_values
from .envs import VecCanvasEnv, num_actions, pixel_transition, reconstruction_reward
from .utils import is_int

__all__ = [
    "TINY_TARGETS", "tiny_targets", "enumerate_canvases", "canvas_index", "TabularMDP", "build_mdp",
    "bellman_backup", "backward_induction", "evaluate_policy", "uniform_policy",
    "greedy_policy", "bellman_residual", "greedy_rollout", "brute_force_best", "slipped_actions",
    "q_learning_update", "q_learning", "reachable",
]

# Four 3x3 "digits" in grey (the painter has only ink 0 and 1, so grey pixels are a trade-off:
# painting a pixel of target value v removes v**2 - (1 - v)**2 of squared error).
TINY_TARGETS = {
    "one": [[0.25, 1.00, 0.00],
            [0.00, 1.00, 0.00],
            [0.00, 0.75, 0.00]],
    "seven": [[1.00, 1.00, 0.75],
              [0.00, 0.25, 1.00],
              [0.00, 0.75, 0.00]],
    "zero": [[0.75, 1.00, 0.75],
             [1.00, 0.00, 1.00],
             [0.50, 1.00, 0.75]],
    "four": [[1.00, 0.00, 0.75],
             [1.00, 1.00, 1.00],
             [0.00, 0.00, 0.50]],
}

MAX_STATES = 2 ** 21


def tiny_targets(names=None, device: str | torch.device = "cpu") -> tuple[torch.Tensor, list[str]]:
    """The 3x3 targets of lesson 02 as a float32 tensor (K, 3, 3) and their names."""
    names = list(TINY_TARGETS) if names is None else list(names)
    unknown = [n for n in names if n not in TINY_TARGETS]
    if unknown or not names:
        raise ValueError(f"unknown tiny targets {unknown}; expected names from {list(TINY_TARGETS)}")
    return torch.tensor([TINY_TARGETS[n] for n in names], dtype=torch.float32, device=device), names


def enumerate_canvases(size: int, ink_levels: int, device: str | torch.device = "cpu") -> torch.Tensor:
    """Every canvas of ``size x size`` pixels with ``ink_levels`` inks, (L**(size*size), size, size).

    Canvas ``s`` holds ink level ``(s // L**p) % L`` at pixel ``p`` (row-major), so ``canvas_index``
    inverts it and canvas 0 is blank.
    """
    ink = torch.as_tensor(ink_values(ink_levels), device=device)
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"size must be a positive integer, got {size!r}")
    n = ink_levels ** (size * size)
    if n > MAX_STATES:
        raise ValueError(f"a {size}x{size} canvas with {ink_levels} ink levels has {n} canvases, "
                         f"more than the {MAX_STATES} this exact solver enumerates")
    s = torch.arange(n, device=device)
    powers = ink_levels ** torch.arange(size * size, device=device)
    levels = (s[:, None] // powers[None, :]) % ink_levels
    return ink[levels].reshape(n, size, size)


def canvas_index(canvas: torch.Tensor, ink_levels: int) -> torch.Tensor:
    """The state number of each canvas (N, H, W) -> int64 (N,); inverse of ``enumerate_canvases``."""
    if canvas.ndim != 3:
        raise ValueError(f"expected canvases of shape (N, H, W), got {tuple(canvas.shape)}")
    levels = canvas.flatten(1) * (ink_levels - 1)
    rounded = torch.round(levels)
    if bool(((levels - rounded).abs() > 1e-4).any()) or bool((rounded < 0).any()) \
            or bool((rounded > ink_levels - 1).any()):
        raise ValueError(f"canvas values must be ink values {ink_values(ink_levels).tolist()}, got "
                         f"values {torch.unique(canvas).tolist()[:8]}")
    powers = ink_levels ** torch.arange(levels.shape[1], device=canvas.device)
    return (rounded.long() * powers).sum(1)


def slipped_actions(actions: torch.Tensor, slip: float, num_actions: int,
                    generator: torch.Generator | None = None) -> torch.Tensor:
    """The actions carried out when the hand slips with probability ``slip`` (a uniform random action)."""
    rand = torch.randint(num_actions, actions.shape, generator=generator, device=actions.device)
    slipped = torch.rand(actions.shape, generator=generator, device=actions.device) < slip
    return torch.where(slipped, rand, actions)


# ---------------------------------------------------------------------------------------------
# Backups on raw tables
# ---------------------------------------------------------------------------------------------

def bellman_backup(rewards: torch.Tensor, next_state: torch.Tensor, v_next: torch.Tensor, gamma: float,
                   slip: float = 0.0) -> torch.Tensor:
    """One Bellman backup ``Q_t(j, s, a) = E[r + gamma * V_{t+1}(j, s')]`` (lesson 02).

    ``rewards`` (K, S, A), ``next_state`` (S, A) int64, ``v_next`` (K, S) the values one step later.
    With ``V_{t+1} = max_a Q_{t+1}`` this is the optimality backup; with ``V_{t+1}`` of a policy
    it is the expectation backup. ``slip`` averages in the uniformly random action.
    """
    k, s, a = rewards.shape
    if next_state.shape != (s, a):
        raise ValueError(f"expected next_state of shape ({s}, {a}), got {tuple(next_state.shape)}")
    if v_next.shape != (k, s):
        raise ValueError(f"expected v_next of shape ({k}, {s}), got {tuple(v_next.shape)}")
    q = rewards + gamma * v_next[:, next_state]
    if slip:
        q = (1.0 - slip) * q + slip * q.mean(dim=-1, keepdim=True)
    return q


# ---------------------------------------------------------------------------------------------
# The tiny MDP
# ---------------------------------------------------------------------------------------------

@dataclass
class TabularMDP:
    """The painting MDP of a tiny canvas as tables (lesson 02).

    ``canvases`` (S, H, W) every canvas; ``next_state`` (S, A) the canvas after each action;
    ``rewards`` (K, S, A) float64, the env's reward for target ``j``; ``targets`` (K, H, W).
    """

    targets: torch.Tensor
    ink: torch.Tensor
    horizon: int
    gamma: float
    slip: float
    canvases: torch.Tensor
    next_state: torch.Tensor
    rewards: torch.Tensor
    names: list

    @property
    def size(self) -> int:
        return int(self.targets.shape[-1])

    @property
    def ink_levels(self) -> int:
        return int(self.ink.shape[0])

    @property
    def num_targets(self) -> int:
        return int(self.targets.shape[0])

    @property
    def num_states(self) -> int:
        """Number of canvases S (the full state is (t, target, canvas))."""
        return int(self.canvases.shape[0])

    @property
    def num_actions(self) -> int:
        return int(self.next_state.shape[1])

    def backup(self, v_next: torch.Tensor) -> torch.Tensor:
        """``Q_t = E[r + gamma V_{t+1}(s')]`` for this MDP (K, S, A), slip included."""
        return bellman_backup(self.rewards, self.next_state, v_next, self.gamma, self.slip)

    def observations(self, t, target, state) -> torch.Tensor:
        """Observations (N, 3, H, W) in the env's layout (canvas, target, t/T) of states (t, j, s)."""
        t, target, state = (torch.as_tensor(x, dtype=torch.int64).reshape(-1) for x in (t, target, state))
        t, target, state = torch.broadcast_tensors(t, target, state)
        n, h = t.shape[0], self.size
        frac = (t.float() / self.horizon)[:, None, None].expand(n, h, h)
        return torch.stack([self.canvases[state], self.targets[target], frac], dim=1)

    def all_states(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every non-terminal state as flat index tensors ``(t, j, s)``, ordered like ``Q[:T].reshape(-1, A)``."""
        t, j, s = torch.meshgrid(torch.arange(self.horizon), torch.arange(self.num_targets),
                                 torch.arange(self.num_states), indexing="ij")
        return t.reshape(-1), j.reshape(-1), s.reshape(-1)

    def env(self, num_envs: int = 1, seed: int | None = None) -> VecCanvasEnv:
        """A ``VecCanvasEnv`` with exactly these targets, inks and horizon (pixel mode)."""
        return VecCanvasEnv(num_envs, mode="pixel", images=self.targets, horizon=self.horizon,
                            ink_levels=self.ink_levels, seed=seed)


def build_mdp(targets=None, ink_levels: int = 2, horizon: int = 4, gamma: float = 0.9, slip: float = 0.0,
              names=None) -> TabularMDP:
    """Tables of the pixel-mode painting MDP on a tiny canvas, from the env's own rules (lesson 02).

    ``targets`` (K, H, H) in [0, 1] (default: the four 3x3 ``TINY_TARGETS``). Every canvas is
    stepped with every action by ``pixel_transition``, and rewarded by ``reconstruction_reward``.
    """
    if targets is None:
        targets, names = tiny_targets()
    targets = torch.as_tensor(targets, dtype=torch.float32)
    if targets.ndim != 3 or targets.shape[1] != targets.shape[2] or targets.shape[0] < 1:
        raise ValueError(f"targets must have shape (K, H, H) with K >= 1, got {tuple(targets.shape)}")
    if float(targets.min()) < 0 or float(targets.max()) > 1:
        raise ValueError(f"targets must lie in [0, 1], got values in [{float(targets.min()):.3g}, "
                         f"{float(targets.max()):.3g}]")
    if not isinstance(horizon, (int, np.integer)) or horizon < 1:
        raise ValueError(f"horizon must be a positive integer, got {horizon!r}")
    if not 0.0 <= gamma <= 1.0:
        raise ValueError(f"gamma must lie in [0, 1], got {gamma!r}")
    if not 0.0 <= slip <= 1.0:
        raise ValueError(f"slip must lie in [0, 1], got {slip!r}")
    k, size = targets.shape[0], targets.shape[-1]
    ink = torch.as_tensor(ink_values(ink_levels))
    canvases = enumerate_canvases(size, ink_levels)
    s = canvases.shape[0]
    a = num_actions("pixel", size, ink_levels)
    if k * s * a > MAX_STATES * 8:
        raise ValueError(f"{k} targets x {s} canvases x {a} actions is too many for the exact tables")
    prev = canvases.repeat_interleave(a, dim=0)                      # (S*A, H, W), action fastest
    actions = torch.arange(a).repeat(s)
    new = pixel_transition(prev, actions, ink)
    next_state = canvas_index(new, ink_levels).reshape(s, a)
    rewards = torch.stack([reconstruction_reward(prev, new, targets[j].expand_as(prev)).reshape(s, a)
                           for j in range(k)]).double()
    names = list(names) if names is not None else [f"target{j}" for j in range(k)]
    return TabularMDP(targets, ink, int(horizon), float(gamma), float(slip), canvases, next_state, rewards, names)


# ---------------------------------------------------------------------------------------------
# Solving
# ---------------------------------------------------------------------------------------------

def backward_induction(mdp: TabularMDP) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact ``Q*`` (T, K, S, A) and ``V*`` (T+1, K, S) by backward induction from ``V*_T = 0`` (lesson 02).

    In a finite-horizon MDP this is value iteration with exactly T sweeps, each one exact.
    """
    k, s = mdp.num_targets, mdp.num_states
    v = torch.zeros(mdp.horizon + 1, k, s, dtype=torch.float64)
    q = torch.zeros(mdp.horizon, k, s, mdp.num_actions, dtype=torch.float64)
    for t in reversed(range(mdp.horizon)):
        q[t] = mdp.backup(v[t + 1])
        v[t] = q[t].max(dim=-1).values
    return q, v


def uniform_policy(mdp: TabularMDP) -> torch.Tensor:
    """The uniformly random policy as probabilities (T, K, S, A)."""
    return torch.full((mdp.horizon, mdp.num_targets, mdp.num_states, mdp.num_actions), 1.0 / mdp.num_actions,
                      dtype=torch.float64)


def greedy_policy(q: torch.Tensor) -> torch.Tensor:
    """The greedy policy of Q-values (..., A) as one-hot probabilities (ties: the first action)."""
    return torch.nn.functional.one_hot(q.argmax(dim=-1), q.shape[-1]).to(torch.float64)


def evaluate_policy(mdp: TabularMDP, policy: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``Q^pi`` (T, K, S, A) and ``V^pi`` (T+1, K, S) from the Bellman expectation equation (lesson 02).

    ``policy`` holds action probabilities, broadcastable to (T, K, S, A), each row summing to 1.
    """
    shape = (mdp.horizon, mdp.num_targets, mdp.num_states, mdp.num_actions)
    policy = torch.as_tensor(policy, dtype=torch.float64)
    try:
        policy = policy.expand(shape)
    except RuntimeError:
        raise ValueError(f"policy of shape {tuple(policy.shape)} does not broadcast to {shape}") from None
    if bool((policy < 0).any()) or bool(((policy.sum(-1) - 1).abs() > 1e-6).any()):
        raise ValueError("policy rows must be probabilities: non-negative and summing to 1")
    v = torch.zeros(mdp.horizon + 1, mdp.num_targets, mdp.num_states, dtype=torch.float64)
    q = torch.zeros(shape, dtype=torch.float64)
    for t in reversed(range(mdp.horizon)):
        q[t] = mdp.backup(v[t + 1])
        v[t] = (policy[t] * q[t]).sum(-1)
    return q, v


def bellman_residual(mdp: TabularMDP, q: torch.Tensor) -> float:
    """``max |Q_t - B(max Q_{t+1})|`` over every state and action (with ``V_T = 0``); 0 for ``Q*``."""
    shape = (mdp.horizon, mdp.num_targets, mdp.num_states, mdp.num_actions)
    if tuple(q.shape) != shape:
        raise ValueError(f"expected Q of shape {shape}, got {tuple(q.shape)}")
    q = q.double()
    v = torch.cat([q.max(dim=-1).values[1:], torch.zeros(1, mdp.num_targets, mdp.num_states,
                                                           dtype=torch.float64)])
    worst = 0.0
    for t in range(mdp.horizon):
        worst = max(worst, float((q[t] - mdp.backup(v[t])).abs().max()))
    return worst


def greedy_rollout(mdp: TabularMDP, q: torch.Tensor, target: int) -> dict:
    """Play the greedy policy of ``q`` (T, K, S, A) from the blank canvas (deterministic MDP only).

    Returns ``actions`` (list), ``states`` (T+1 canvas numbers), ``rewards`` (list) and ``return``
    (the discounted sum of rewards).
    """
    if mdp.slip:
        raise ValueError(f"greedy_rollout follows the tables of a deterministic MDP; this one slips "
                         f"with probability {mdp.slip}")
    if not 0 <= target < mdp.num_targets:
        raise ValueError(f"target must lie in [0, {mdp.num_targets}), got {target!r}")
    s, states, actions, rewards, ret = 0, [0], [], [], 0.0
    for t in range(mdp.horizon):
        a = int(q[t, target, s].argmax())
        r = float(mdp.rewards[target, s, a])
        ret += mdp.gamma ** t * r
        s = int(mdp.next_state[s, a])
        actions.append(a)
        rewards.append(r)
        states.append(s)
    return {"actions": actions, "states": states, "rewards": rewards, "return": ret}


def brute_force_best(mdp: TabularMDP, target: int, max_sequences: int = 2_000_000) -> tuple[float, list[int]]:
    """The best discounted return over every action sequence, by the env's rules (no tables).

    Every one of the ``A**T`` sequences is painted with ``pixel_transition`` and scored with
    ``reconstruction_reward``, so this checks ``Q*`` independently of the tables.
    """
    a, horizon = mdp.num_actions, mdp.horizon
    if a ** horizon > max_sequences:
        raise ValueError(f"{a}**{horizon} = {a ** horizon} action sequences is more than {max_sequences}")
    n = a ** horizon
    seq = torch.arange(n)
    canvas = torch.zeros(n, mdp.size, mdp.size)
    tgt = mdp.targets[target].expand(n, mdp.size, mdp.size)
    ret = torch.zeros(n, dtype=torch.float64)
    for t in range(horizon):
        act = (seq // a ** (horizon - 1 - t)) % a         # first action is the most significant digit
        new = pixel_transition(canvas, act, mdp.ink)
        ret += mdp.gamma ** t * reconstruction_reward(canvas, new, tgt).double()
        canvas = new
    best = int(ret.argmax())
    actions = [(best // a ** (horizon - 1 - t)) % a for t in range(horizon)]
    return float(ret[best]), actions


# ---------------------------------------------------------------------------------------------
# Learning from samples: tabular Q-learning, the bridge to DQN
# ---------------------------------------------------------------------------------------------

def q_learning_update(q: torch.Tensor, t: int, j: int, s: int, a: int, r: float, s_next: int, alpha: float,
                      gamma: float) -> float:
    """One Q-learning update of the table ``q`` (T, K, S, A), in place; returns the TD error (lesson 02).

    ``Q_t(j, s, a) <- Q_t(j, s, a) + alpha (r + gamma max_a' Q_{t+1}(j, s', a') - Q_t(j, s, a))``,
    with nothing after the horizon (``Q_T = 0``). The sampled target replaces the expectation of the
    Bellman optimality backup: no model of the transitions is needed, only the transition itself.
    """
    horizon = q.shape[0]
    v_next = 0.0 if t + 1 >= horizon else float(q[t + 1, j, s_next].max())
    td = r + gamma * v_next - float(q[t, j, s, a])
    q[t, j, s, a] += alpha * td
    return td


def reachable(mdp: TabularMDP) -> torch.Tensor:
    """Which canvases can be on the board at each step from a blank start: bool (T, S)."""
    out = torch.zeros(mdp.horizon, mdp.num_states, dtype=torch.bool)
    out[0, 0] = True
    for t in range(1, mdp.horizon):
        out[t, mdp.next_state[out[t - 1]].flatten()] = True
    return out


def q_learning(mdp: TabularMDP, episodes: int, eps: float = 0.3, alpha: float | None = 0.5, seed: int = 0,
               q_star: torch.Tensor | None = None, every: int = 100, starts: str = "blank") -> dict:
    """ε-greedy tabular Q-learning on the tiny MDP from sampled transitions (lesson 02).

    Each episode draws a target and a start -- ``starts="blank"``: the blank canvas at t = 0, as
    the painter always starts; ``"exploring"``: a uniformly random step t and a canvas that can be
    on the board at t (exploring starts, so that every state keeps being visited) -- and takes
    ε-greedy actions to the horizon; every transition updates the table with
    ``q_learning_update``. ``alpha=None`` uses the sample-average step ``1 / n(t, j, s, a)``.
    With ``q_star`` (from ``backward_induction``) the table's error is recorded every ``every``
    episodes (``history``): ``max_error`` and ``mean_error``, the largest and the mean ``|Q - Q*|``
    over every action of every state that can be on the board, and ``greedy_return``, the mean return of the table's greedy
    policy from the blank canvas, beside ``optimal_return``. Returns ``q``, ``counts`` and
    ``history``.
    """
    if not is_int(episodes, 1):
        raise ValueError(f"episodes must be a positive integer, got {episodes!r}")
    if not 0.0 <= eps <= 1.0:
        raise ValueError(f"eps must lie in [0, 1], got {eps!r}")
    if alpha is not None and not 0.0 < alpha <= 1.0:
        raise ValueError(f"alpha must lie in (0, 1] or be None (1/n), got {alpha!r}")
    if mdp.slip:
        raise ValueError("q_learning samples the deterministic tables; build the MDP with slip=0")
    if starts not in ("blank", "exploring"):
        raise ValueError(f"starts must be 'blank' or 'exploring', got {starts!r}")
    shape = (mdp.horizon, mdp.num_targets, mdp.num_states, mdp.num_actions)
    q = torch.zeros(shape, dtype=torch.float64)
    counts = torch.zeros(shape, dtype=torch.int64)
    g = torch.Generator().manual_seed(seed)
    can_be = reachable(mdp)
    mask = can_be[:, None, :].expand(mdp.horizon, mdp.num_targets, mdp.num_states)
    on_board = [torch.nonzero(can_be[t]).flatten().tolist() for t in range(mdp.horizon)]
    history = {"episodes": [], "max_error": [], "mean_error": [], "greedy_return": []}
    if q_star is not None:
        history["optimal_return"] = float(q_star[0, :, 0].max(dim=-1).values.mean())
    rewards, nxt = mdp.rewards.tolist(), mdp.next_state.tolist()
    for ep in range(1, episodes + 1):
        j = int(torch.randint(mdp.num_targets, (1,), generator=g))
        t0, s = 0, 0
        if starts == "exploring":
            t0 = int(torch.randint(mdp.horizon, (1,), generator=g))
            s = on_board[t0][int(torch.randint(len(on_board[t0]), (1,), generator=g))]
        coins = torch.rand(mdp.horizon, generator=g).tolist()
        rand = torch.randint(mdp.num_actions, (mdp.horizon,), generator=g).tolist()
        for t in range(t0, mdp.horizon):
            a = rand[t] if coins[t] < eps else int(q[t, j, s].argmax())
            s2 = nxt[s][a]
            counts[t, j, s, a] += 1
            step = 1.0 / int(counts[t, j, s, a]) if alpha is None else alpha
            q_learning_update(q, t, j, s, a, rewards[j][s][a], s2, step, mdp.gamma)
            s = s2
        if q_star is not None and (ep % every == 0 or ep == episodes):
            history["episodes"].append(ep)
            err = (q - q_star).abs()[mask]
            history["max_error"].append(float(err.max()))
            history["mean_error"].append(float(err.mean()))
            history["greedy_return"].append(sum(greedy_rollout(mdp, q, k)["return"] for k in range(mdp.num_targets))
                                            / mdp.num_targets)
    return {"q": q, "history": history, "counts": counts}

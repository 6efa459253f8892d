"""The exact optimal values of the pixel-mode reconstruction task, for any state (lesson 06).

In pixel mode a stroke changes one pixel, and the reward of the stroke is that pixel's error
reduction ``((c_p - x_p)^2 - (ink - x_p)^2) / ||x||^2``: every pixel's gain is independent of the
others. So the best a painter can do from a state with ``L = T - t`` strokes left is known in
closed form. Let ``G_p = max_k ((c_p - x_p)^2 - (ink_k - x_p)^2) / ||x||^2`` be the best gain one
stroke can still make at pixel ``p`` (``k`` over the paintable inks, 1..L-1; one stroke reaches any
ink, so a pixel never needs two). Then, with the positive ``G_p`` sorted from the largest,
``G_(0) >= G_(1) >= ...``,

    V*_t(s) = sum_{i < min(P, L)} gamma^i G_(i)          (P = number of positive gains)

-- the largest gains first, since discounting rewards earlier gains (the rearrangement
inequality). Once no positive gain is left, the painter repaints a pixel with the ink it already
holds (reward 0). Before anything is painted there is no such move: on a blank canvas with no
positive gain, the first stroke must lose something, and the best one loses least
(``V* = max_a r(s, a)``). Finally ``Q*(s, a) = r(s, a) + gamma V*_{t+1}(s')``, with ``s'`` from the
env's own ``pixel_transition``. ``tests/test_exact.py`` checks both against lesson 02's backward
induction on the 3x3 canvas and against brute force over all action sequences on tiny canvases.
"""
from __future__ import annotations

import torch

from .envs import pixel_transition, reconstruction_reward

__all__ = ["pixel_gains", "pixel_v_star", "pixel_q_star", "q_star_of_obs", "v_star_of_obs"]


def _check(canvas: torch.Tensor, target: torch.Tensor, t: torch.Tensor, horizon: int) -> None:
    if canvas.ndim != 3 or canvas.shape != target.shape:
        raise ValueError(f"canvas and target must have the same shape (N, H, W), got {tuple(canvas.shape)} and "
                         f"{tuple(target.shape)}")
    if t.shape != canvas.shape[:1]:
        raise ValueError(f"t must have shape ({canvas.shape[0]},), got {tuple(t.shape)}")
    if bool(((t < 0) | (t > horizon)).any()):
        raise ValueError(f"t must lie in [0, {horizon}], got values in [{int(t.min())}, {int(t.max())}]")


def pixel_gains(canvas: torch.Tensor, target: torch.Tensor, ink: torch.Tensor) -> torch.Tensor:
    """``G_p``: the best error reduction one stroke can still make at each pixel, per unit ``||x||^2``, (N, P)."""
    c, x = canvas.flatten(1), target.flatten(1)
    norm = x.pow(2).sum(1, keepdim=True).clamp_min(1e-8)
    err_now = (c - x).pow(2)
    err_best = (ink[1:].view(1, 1, -1) - x[:, :, None]).pow(2).min(dim=2).values
    return (err_now - err_best) / norm


def pixel_v_star(canvas: torch.Tensor, target: torch.Tensor, t: torch.Tensor, horizon: int, ink: torch.Tensor,
                 gamma: float) -> torch.Tensor:
    """``V*_t(s)`` of pixel-mode reconstruction states: canvases and targets (N, H, W), times ``t`` (N,)."""
    _check(canvas, target, t, horizon)
    p = canvas[0].numel()
    gains = pixel_gains(canvas, target, ink).clamp_min(0.0).sort(dim=1, descending=True).values
    left = (horizon - t).clamp_min(0)                                          # strokes left
    powers = gamma ** torch.arange(p, device=canvas.device, dtype=gains.dtype)
    take = torch.arange(p, device=canvas.device)[None, :] < left[:, None]
    v = (gains * powers * take).sum(1)
    # a blank canvas with no positive gain: the first stroke must lose something (the least it can)
    stuck = (gains[:, 0] <= 0) & (canvas.flatten(1).abs().sum(1) == 0) & (left > 0)
    if bool(stuck.any()):
        idx = stuck.nonzero().squeeze(1)
        r, _ = _all_rewards(canvas[idx], target[idx], ink)
        v[idx] = r.max(dim=1).values.to(v.dtype)
    return v


def _all_rewards(canvas: torch.Tensor, target: torch.Tensor, ink: torch.Tensor):
    """``r(s, a)`` for every pixel-mode action of each state, and the next canvases: (N, A) and (N*A, H, W)."""
    n, h, w = canvas.shape
    a = (ink.shape[0] - 1) * h * w
    prev = canvas.repeat_interleave(a, dim=0)
    actions = torch.arange(a, device=canvas.device).repeat(n)
    new = pixel_transition(prev, actions, ink)
    r = reconstruction_reward(prev, new, target.repeat_interleave(a, dim=0)).view(n, a)
    return r, new


def pixel_q_star(canvas: torch.Tensor, target: torch.Tensor, t: torch.Tensor, horizon: int, ink: torch.Tensor,
                 gamma: float) -> torch.Tensor:
    """``Q*(s, a) = r(s, a) + gamma V*_{t+1}(s')`` for every pixel-mode action ``a`` of each state, (N, A)."""
    _check(canvas, target, t, horizon)
    if bool((t >= horizon).any()):
        raise ValueError(f"Q* is defined before the horizon: t must be < {horizon}")
    n = canvas.shape[0]
    r, new = _all_rewards(canvas, target, ink)
    a = r.shape[1]
    v_next = pixel_v_star(new, target.repeat_interleave(a, dim=0), (t + 1).repeat_interleave(a), horizon, ink, gamma)
    return r + gamma * v_next.view(n, a)


def _unpack(obs: torch.Tensor, horizon: int):
    if obs.ndim != 4 or obs.shape[1] != 3:
        raise ValueError(f"expected pixel-mode reconstruction observations (N, 3, H, W) (canvas, target, time), "
                         f"got {tuple(obs.shape)}")
    t = torch.round(obs[:, 2, 0, 0] * horizon).long()
    return obs[:, 0], obs[:, 1], t


def q_star_of_obs(obs: torch.Tensor, horizon: int, ink: torch.Tensor, gamma: float) -> torch.Tensor:
    """``Q*`` of pixel-mode reconstruction observations (N, 3, H, W) as the env makes them, (N, A)."""
    canvas, target, t = _unpack(obs, horizon)
    return pixel_q_star(canvas, target, t, horizon, ink.to(obs.device), gamma)


def v_star_of_obs(obs: torch.Tensor, horizon: int, ink: torch.Tensor, gamma: float) -> torch.Tensor:
    """``V*`` of pixel-mode reconstruction observations (N, 3, H, W), (N,)."""
    canvas, target, t = _unpack(obs, horizon)
    return pixel_v_star(canvas, target, t, horizon, ink.to(obs.device), gamma)

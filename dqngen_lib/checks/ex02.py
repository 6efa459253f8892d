"""Checks of exercise 02 (lesson 02): the Bellman optimality backup and backward induction."""
from __future__ import annotations

import torch

from ..tabular import backward_induction, bellman_backup, build_mdp
from ._common import CheckError, call, ok

__all__ = ["check_bellman_backup", "check_backward_induction"]


def _check_mdp():
    """A tiny MDP unlike the lesson's (2x2, three inks, two targets), so nothing can be copied."""
    targets = torch.tensor([[[1.0, 0.25], [0.75, 0.5]],
                            [[0.0, 1.0], [0.6, 0.9]]])
    return build_mdp(targets, ink_levels=3, horizon=3, gamma=0.8)


def _describe(mdp, j, s, a) -> str:
    size = mdp.size
    level, pixel = a // (size * size) + 1, a % (size * size)
    canvas = "the blank canvas" if s == 0 else f"canvas {s}"
    return (f"target {j}, {canvas}, action {a} (paint pixel ({pixel // size}, {pixel % size}) "
            f"with ink {float(mdp.ink[level]):g})")


def _expect_table(got, expected: torch.Tensor, mdp, what: str, atol: float = 1e-6) -> None:
    if not isinstance(got, torch.Tensor):
        raise CheckError(f"{what}: expected a torch.Tensor, got {type(got).__name__}")
    if tuple(got.shape) != tuple(expected.shape):
        raise CheckError(f"{what}: expected shape {tuple(expected.shape)}, got {tuple(got.shape)}")
    if not got.dtype.is_floating_point:
        raise CheckError(f"{what}: expected floating-point values, got dtype {got.dtype}")
    diff = (got.double() - expected.double()).abs()
    if not torch.isfinite(got).all() or float(diff.max()) > atol:
        diff = torch.where(torch.isfinite(got), diff, torch.full_like(diff, float("inf")))
        idx = torch.unravel_index(diff.argmax(), diff.shape)
        idx = [int(i) for i in idx]
        where = _describe(mdp, *idx[-3:])
        if len(idx) == 4:
            where = f"t = {idx[0]}, " + where
        raise CheckError(f"{what} at {where}: expected {float(expected[tuple(idx)]):.4f}, "
                         f"got {float(got[tuple(idx)]):.4f}")


def check_bellman_backup(fn) -> None:
    """``fn(rewards, next_state, v_next, gamma) -> q``: ``q[j, s, a] = r[j, s, a] + gamma * v_next[j, next_state[s, a]]``."""
    mdp = _check_mdp()
    g = torch.Generator().manual_seed(2)
    v_next = torch.rand(mdp.num_targets, mdp.num_states, generator=g, dtype=torch.float64)
    args = (mdp.rewards.clone(), mdp.next_state.clone(), v_next.clone())
    got = call(fn, *args, 0.8, what="bellman_optimality_backup")
    if not (torch.equal(args[0], mdp.rewards) and torch.equal(args[2], v_next)):
        raise CheckError("bellman_optimality_backup changed its inputs in place; expected it to return a new table")
    expected = bellman_backup(mdp.rewards, mdp.next_state, v_next, 0.8)
    _expect_table(got, expected, mdp, "Q = r + gamma V(next state) with random V, gamma = 0.8")
    zero = call(fn, mdp.rewards, mdp.next_state, torch.zeros_like(v_next), 0.8, what="bellman_optimality_backup")
    _expect_table(zero, mdp.rewards, mdp, "with V(next state) = 0 the backup should be the reward itself")
    ok(f"bellman_optimality_backup matches the library on {mdp.num_targets} targets x {mdp.num_states} canvases "
       f"x {mdp.num_actions} actions")


def check_backward_induction(fn) -> None:
    """``fn(rewards, next_state, horizon, gamma) -> Q*`` of shape (T, K, S, A), from ``V*_T = 0``."""
    mdp = _check_mdp()
    got = call(fn, mdp.rewards.clone(), mdp.next_state.clone(), mdp.horizon, mdp.gamma, what="backward_induction")
    q_star, v_star = backward_induction(mdp)
    if isinstance(got, torch.Tensor) and got.ndim == 4 and got.shape[0] != mdp.horizon:
        raise CheckError(f"expected one Q table per time step t = 0..T-1, i.e. {mdp.horizon} for horizon "
                         f"T = {mdp.horizon}, got {got.shape[0]} (V*_T = 0 needs no table)")
    # The last step first: it has nothing after it, so Q*_{T-1} is the reward.
    if isinstance(got, torch.Tensor) and tuple(got.shape) == tuple(q_star.shape):
        _expect_table(got[-1], q_star[-1], mdp, f"Q*_(T-1) (the last step, t = {mdp.horizon - 1}: "
                      "nothing follows, so Q* is the reward)")
    _expect_table(got, q_star, mdp, f"Q* with horizon {mdp.horizon}, gamma {mdp.gamma}")
    best = float(got[0, :, 0].max(dim=-1).values.sum())
    ok(f"backward_induction gives the exact Q*: V*(blank canvas) summed over the targets = {best:.4f} "
       f"(expected {float(v_star[0, :, 0].sum()):.4f})")

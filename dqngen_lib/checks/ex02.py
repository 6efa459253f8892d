"""Checks of exercise 02 (lesson 02): the Bellman optimality backup and backward induction.

Both run on two tiny MDPs unlike the lesson's (2x2 canvases with 3 and 2 inks), with several
discounts (0, 0.5, 0.8, 1) and horizons (1 to 4), so that a hard-coded gamma or horizon fails.
"""
from __future__ import annotations

import dataclasses
import functools

import torch

from ..tabular import backward_induction, bellman_backup, build_mdp
from ._common import CheckError, call, expect_close, expect_tensor, fmt_index, ok

__all__ = ["check_bellman_backup", "check_backward_induction"]

_BACKUP_ARGS = ("rewards", "next_state", "v_next", "gamma")
_INDUCTION_ARGS = ("rewards", "next_state", "horizon", "gamma")
_DTYPE_HINT = " (the rewards are float64: keep their dtype, e.g. torch.zeros(..., dtype=rewards.dtype))"


@functools.lru_cache(maxsize=None)
def _mdps():
    """Two tiny MDPs unlike the lesson's (3 inks and 2 targets; 2 inks and 3 targets), so nothing can be copied."""
    a = build_mdp(torch.tensor([[[1.0, 0.25], [0.75, 0.5]],
                                [[0.0, 1.0], [0.6, 0.9]]]), ink_levels=3, horizon=3, gamma=0.8)
    b = build_mdp(torch.tensor([[[1.0, 0.0], [0.0, 1.0]],
                                [[0.3, 0.8], [1.0, 0.0]],
                                [[0.0, 0.0], [0.9, 0.4]]]), ink_levels=2, horizon=4, gamma=0.5)
    return a, b


def _describe(mdp, j, s, a) -> str:
    size = mdp.size
    level, pixel = a // (size * size) + 1, a % (size * size)
    canvas = "the blank canvas" if s == 0 else f"canvas {s}"
    return (f"target {j}, {canvas}, action {a} (paint pixel ({pixel // size}, {pixel % size}) "
            f"with ink {float(mdp.ink[level]):g})")


def _where(mdp, t=None):
    def where(idx):
        idx = idx if t is None else (t, *idx)
        words = _describe(mdp, *idx[-3:])
        if len(idx) == 4:
            words = f"t = {idx[0]}, " + words
        return f"index {fmt_index(idx)} ({words})"
    return where


def _expect_table(got, expected: torch.Tensor, mdp, what: str, variants=None, atol: float = 1e-6, t=None) -> None:
    expect_close(got, expected, what, atol=atol, rtol=0.0, variants=variants, where=_where(mdp, t),
                 dtype_hint=_DTYPE_HINT)


def _backup_variants(mdp, v_next, gamma):
    r, ns = mdp.rewards, mdp.next_state
    out = {"the result is what gamma = 0.9 gives; expected the gamma argument to be used "
           f"(here gamma = {gamma:g})": r + 0.9 * v_next[:, ns] if gamma != 0.9 else None,
           "gamma is missing: expected r + gamma * V(next state)": r + v_next[:, ns] if gamma != 1.0 else None,
           "V is taken at the current canvas; expected it at the next canvas, v_next[:, next_state]":
               r + gamma * v_next[:, :, None].expand_as(r)}
    return out


def check_bellman_backup(fn) -> None:
    """``fn(rewards, next_state, v_next, gamma) -> q``: ``q[j, s, a] = r[j, s, a] + gamma * v_next[j, next_state[s, a]]``."""
    g = torch.Generator().manual_seed(2)
    a, b = _mdps()
    cases = [(a, "random V", torch.rand(a.num_targets, a.num_states, generator=g, dtype=torch.float64), 0.8),
             (a, "V = 0", torch.zeros(a.num_targets, a.num_states, dtype=torch.float64), 0.8),
             (a, "random V", torch.rand(a.num_targets, a.num_states, generator=g, dtype=torch.float64), 0.0),
             (b, "random V", torch.rand(b.num_targets, b.num_states, generator=g, dtype=torch.float64), 1.0),
             (b, "random V", torch.rand(b.num_targets, b.num_states, generator=g, dtype=torch.float64) - 0.5, 0.5)]
    for mdp, v_desc, v_next, gamma in cases:
        got = call(fn, mdp.rewards.clone(), mdp.next_state.clone(), v_next.clone(), gamma,
                   what="bellman_optimality_backup", names=_BACKUP_ARGS)
        expected = bellman_backup(mdp.rewards, mdp.next_state, v_next, gamma)
        what = (f"Q = r + gamma V(next state) with {v_desc}, gamma = {gamma:g} ({mdp.num_targets} targets x "
                f"{mdp.num_states} canvases x {mdp.num_actions} actions)")
        if v_desc == "V = 0":
            what += "; with V(next state) = 0 the backup should be the reward itself"
        _expect_table(got, expected, mdp, what, variants=_backup_variants(mdp, v_next, gamma))
    ok(f"bellman_optimality_backup matches the library on {a.num_targets} targets x {a.num_states} canvases "
       f"x {a.num_actions} actions")


def _induction_variants(mdp, expected):
    out = {}
    if mdp.gamma != 0.9:
        out[f"the result is what gamma = 0.9 gives; expected the gamma argument to be used (here gamma = "
            f"{mdp.gamma:g})"] = backward_induction(dataclasses.replace(mdp, gamma=0.9))[0]
    out["the tables are in the wrong order: q[t] must hold Q*_t, so q[T-1] is the reward (the last step) "
        "and q[0] the first step"] = expected.flip(0)
    return out


def check_backward_induction(fn) -> None:
    """``fn(rewards, next_state, horizon, gamma) -> Q*`` of shape (T, K, S, A), from ``V*_T = 0``."""
    a, b = _mdps()
    cases = [(a, 3, 0.8), (a, 1, 0.8), (b, 4, 0.5), (a, 2, 1.0), (b, 3, 0.0)]
    best = None
    for mdp, horizon, gamma in cases:
        mdp = dataclasses.replace(mdp, horizon=horizon, gamma=gamma)
        got = call(fn, mdp.rewards.clone(), mdp.next_state.clone(), horizon, gamma, what="backward_induction",
                   names=_INDUCTION_ARGS)
        q_star, v_star = backward_induction(mdp)
        what = f"Q* with horizon {horizon}, gamma {gamma:g}"
        expect_tensor(got, what)
        if got.ndim == 4 and got.shape[0] != horizon and tuple(got.shape[1:]) == tuple(q_star.shape[1:]):
            raise CheckError(f"{what}: expected one Q table per time step t = 0..T-1, i.e. {horizon} for horizon "
                             f"T = {horizon}, got {got.shape[0]} (V*_T = 0 needs no table)")
        # Backwards from the last step, as the tables are computed: the first wrong table is where the
        # mistake is (Q*_(T-1) has nothing after it, so it is the reward).
        if tuple(got.shape) == tuple(q_star.shape) and got.dtype == q_star.dtype and got.device == q_star.device:
            variants = _induction_variants(mdp, q_star)
            for t in reversed(range(horizon)):
                step = "the last step: nothing follows, so Q* is the reward" if t == horizon - 1 else \
                    f"backed up from V*_{t + 1} = max over the actions of Q*_{t + 1}"
                _expect_table(got[t], q_star[t], mdp, f"{what}: table t = {t} ({step})",
                              variants={k: v[t] for k, v in variants.items()}, t=t)
        _expect_table(got, q_star, mdp, what)
        if best is None:  # the first case: T = 3, gamma = 0.8
            best = (float(got[0, :, 0].max(dim=-1).values.sum()), float(v_star[0, :, 0].sum()))
    ok(f"backward_induction gives the exact Q*: V*(blank canvas) summed over the targets = {best[0]:.4f} "
       f"(expected {best[1]:.4f})")

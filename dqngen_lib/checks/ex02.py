"""Checks of exercise 02 (lesson 02): Bellman backups, backward induction and tabular Q-learning.

* ``check_slip_backup(fn)``: the optimality backup of a painter whose hand slips (stochastic dynamics);
* ``check_bellman_backup(fn)``: the deterministic backup (the exercise's earlier version);
* ``check_backward_induction(fn)``: Q* of every step from ``V*_T = 0``;
* ``check_q_learning_update(fn)``: one Q-learning update of a table, in place on one entry;
* ``check_slippery_q_learning(fn)``: a Q-learning loop whose table approaches the Q* of a slipping hand.

All run on tiny MDPs unlike the lesson's (2x2 canvases with 3 and 2 inks), with several discounts
(0, 0.5, 0.8, 1), slips (0 to 1), step sizes and horizons (1 to 4), so that a hard-coded value fails.
"""
from __future__ import annotations

import dataclasses
import functools

import torch

import numbers

import numpy as np

from ..tabular import backward_induction, bellman_backup, build_mdp, q_learning_update, reachable
from ._common import CheckError, call, expect_close, expect_tensor, fmt_index, fmt_value, ok

__all__ = ["check_bellman_backup", "check_backward_induction", "check_slip_backup", "check_q_learning_update",
           "check_slippery_q_learning"]

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


# ---------------------------------------------------------------------------------------------
# The backup of a slipping painter
# ---------------------------------------------------------------------------------------------

_SLIP_ARGS = ("rewards", "next_state", "v_next", "gamma", "slip")


def _slip_variants(mdp, v_next, gamma, slip):
    """The backups the usual mistakes give, to name the one the learner made."""
    r, ns = mdp.rewards, mdp.next_state
    b = r + gamma * v_next[:, ns]                      # the backup of each action carried out
    mean = b.mean(dim=-1, keepdim=True)
    n = b.shape[-1]
    v_ns = v_next[:, ns]
    out = {
        "the slip is ignored: this is the backup of a hand that never slips; with probability slip the stroke "
        "carried out is a uniformly random one":
            b if slip else None,
        "the chosen stroke keeps its full weight: with probability slip it is *not* carried out, so its backup "
        "weighs (1 - slip), not 1": b + slip * mean if slip else None,
        "slip and (1 - slip) are swapped: the chosen stroke is carried out with probability 1 - slip":
            slip * b + (1 - slip) * mean if slip != 0.5 else None,
        "the random stroke never is the chosen one; a slip carries out any of the A actions uniformly, the "
        "chosen one included (probability slip / A)": (1 - slip) * b + slip * (b.sum(-1, keepdim=True) - b) / (n - 1),
        "only the reward is averaged over the slipped strokes: the next canvas depends on the stroke carried "
        "out too, so average r + gamma V(next canvas) as a whole":
            (1 - slip) * r + slip * r.mean(-1, keepdim=True) + gamma * v_ns if gamma and slip else None,
        "only V(next canvas) is averaged over the slipped strokes: the reward depends on the stroke carried "
        "out too, so average r + gamma V(next canvas) as a whole":
            r + gamma * ((1 - slip) * v_ns + slip * v_ns.mean(-1, keepdim=True)) if slip else None,
        "a slip takes the best stroke (max over the actions); it takes a uniformly random one (the mean)":
            (1 - slip) * b + slip * b.max(-1, keepdim=True).values if slip else None,
        "the mean runs over the targets (dim 0); a slip picks a random *action*: average over the last dim":
            (1 - slip) * b + slip * b.mean(0, keepdim=True) if slip else None,
        "the mean runs over the canvases (dim 1); a slip picks a random *action*: average over the last dim":
            (1 - slip) * b + slip * b.mean(1, keepdim=True) if slip else None,
        f"the result is what slip = 0.3 (the lesson's) gives; expected the slip argument to be used (here slip = "
        f"{slip:g})": bellman_backup(r, ns, v_next, gamma, 0.3) if slip != 0.3 else None,
        f"the result is what gamma = 0.9 gives; expected the gamma argument to be used (here gamma = {gamma:g})":
            bellman_backup(r, ns, v_next, 0.9, slip) if gamma != 0.9 else None,
        "gamma is missing: expected r + gamma * V(next canvas) inside the average":
            bellman_backup(r, ns, v_next, 1.0, slip) if gamma != 1.0 else None,
        "V is taken at the current canvas; expected it at the next canvas, v_next[:, next_state]":
            bellman_backup(r, torch.arange(r.shape[1])[:, None].expand_as(ns), v_next, gamma, slip),
    }
    return out


def check_slip_backup(fn) -> None:
    """``fn(rewards, next_state, v_next, gamma, slip) -> q`` (K, S, A): the optimality backup when the hand
    slips with probability ``slip`` to a uniformly random action, ``(1 - slip) B(a) + slip * mean_a' B(a')``
    with ``B(a) = r(a) + gamma * V(next_state[., a])`` (``dqngen_lib.tabular.bellman_backup``)."""
    g = torch.Generator().manual_seed(12)
    a, b = _mdps()

    def rand_v(mdp, shift=0.0):
        return torch.rand(mdp.num_targets, mdp.num_states, generator=g, dtype=torch.float64) + shift

    cases = [(a, "random V", rand_v(a), 0.8, 0.2),
             (b, "random V", rand_v(b, -0.5), 0.5, 0.3),
             (a, "V = 0", torch.zeros(a.num_targets, a.num_states, dtype=torch.float64), 0.8, 0.5),
             (b, "random V", rand_v(b), 1.0, 0.75),
             (a, "random V", rand_v(a), 0.0, 1.0),
             (b, "random V", rand_v(b), 0.9, 0.0)]
    for mdp, v_desc, v_next, gamma, slip in cases:
        got = call(fn, mdp.rewards.clone(), mdp.next_state.clone(), v_next.clone(), gamma, slip,
                   what="slip_backup", names=_SLIP_ARGS)
        expected = bellman_backup(mdp.rewards, mdp.next_state, v_next, gamma, slip)
        what = (f"the backup with {v_desc}, gamma = {gamma:g}, slip = {slip:g} ({mdp.num_targets} targets x "
                f"{mdp.num_states} canvases x {mdp.num_actions} actions)")
        if slip == 0.0:
            what += "; with slip = 0 the hand never slips: the deterministic backup r + gamma V(next canvas)"
        if slip == 1.0:
            what += "; with slip = 1 every stroke is random: every action has the same value"
        _expect_table(got, expected, mdp, what, variants=_slip_variants(mdp, v_next, gamma, slip))
    ok(f"slip_backup matches the library for slips 0 to 1 on {a.num_targets} targets x {a.num_states} canvases x "
       f"{a.num_actions} actions")


# ---------------------------------------------------------------------------------------------
# Tabular Q-learning: one update, in place
# ---------------------------------------------------------------------------------------------

_UPDATE_ARGS = ("q", "t", "j", "s", "a", "r", "s_next", "alpha", "gamma")
# (MDP, t, target, canvas, action, alpha, gamma): last steps (t = T - 1) too, every gamma and several alphas.
_UPDATE_CASES = ((0, 1, 1, 5, 2, 0.3, 0.8), (0, 2, 0, 13, 6, 0.3, 0.8), (1, 0, 2, 0, 1, 1.0, 0.5),
                 (1, 3, 1, 6, 2, 0.7, 1.0), (0, 0, 1, 0, 7, 0.1, 0.0), (1, 2, 0, 9, 3, 0.25, 0.9))


def _entry(mdp, t, j, s, a) -> str:
    return f"q[{t}, {j}, {s}, {a}] (t = {t}, {_describe(mdp, j, s, a)})"


def _update_variants(q0, t, j, s, a, r, s2, alpha, gamma):
    """The new value of the entry under the usual mistakes, to name the one the learner made."""
    horizon = q0.shape[0]
    last = t + 1 >= horizon
    old = float(q0[t, j, s, a])

    def new(v_next, al=alpha, ga=gamma):
        return old + al * (r + ga * v_next - old)

    v = 0.0 if last else float(q0[t + 1, j, s2].max())
    out = {}
    if last:
        why = (f"at t = T - 1 = {t}, the last step, nothing follows (V_T = 0): the target is the reward alone, but "
               f"the update bootstrapped from a table of Q-values")
        out[why + " (q[T - 1], the last one)"] = new(float(q0[horizon - 1, j, s2].max()))
        out[why + " (q[0], wrapping around)"] = new(float(q0[0, j, s2].max()))
    else:
        out.update({
            "the max runs over every canvas and action of q[t + 1, j]; expected the best action at the next "
            "canvas, max over a' of q[t + 1, j, s_next, a']": new(float(q0[t + 1, j].max())),
            "the max runs over the targets too; expected max over a' of q[t + 1, j, s_next, a'] (the target j stays "
            "the same)": new(float(q0[t + 1, :, s2].max())),
            "the max runs over the whole table of step t + 1; expected max over a' of q[t + 1, j, s_next, a']":
                new(float(q0[t + 1].max())),
            "the next canvas was looked up in the table of the current step, q[t]; the next state is at step t + 1: "
            "max over a' of q[t + 1, j, s_next, a']": new(float(q0[t, j, s2].max())),
            "V was taken at the current canvas s; expected it at the next canvas, max over a' of "
            "q[t + 1, j, s_next, a']": new(float(q0[t + 1, j, s].max())),
            "the update bootstrapped from Q(s_next, a), the same action at the next canvas (SARSA-like); "
            "Q-learning takes the best next action, max over a'": new(float(q0[t + 1, j, s2, a])),
            "the update bootstrapped from the mean over the next actions; Q-learning takes the max over a'":
                new(float(q0[t + 1, j, s2].mean())),
            f"the target was the reward alone, as if nothing followed; only at the last step t = T - 1 = "
            f"{horizon - 1} is V_(t+1) = 0, here t = {t}": new(0.0),
        })
    out["the sign of the update is flipped: the entry moves away from its target; expected "
        "Q <- Q + alpha (y - Q)"] = old - alpha * (r + gamma * v - old)
    out["alpha multiplies only r - Q: expected Q <- Q + alpha (r + gamma max Q_{t+1} - Q), the whole TD error"] = \
        old + alpha * (r - old) + gamma * v
    out["the entry was overwritten with the target y (alpha ignored); expected a step alpha towards it"] = \
        r + gamma * v
    for al in (0.5, 1.0, 0.1):
        if al != alpha:
            out[f"the entry moved as with alpha = {al:g}; expected the alpha argument to be used (here alpha = "
                f"{alpha:g})"] = new(v, al=al)
    if gamma != 0.9:
        out[f"the entry moved as with gamma = 0.9; expected the gamma argument to be used (here gamma = "
            f"{gamma:g})"] = new(v, ga=0.9)
    if gamma != 1.0 and v:
        out["gamma is missing: expected the target r + gamma * max over a' of q[t + 1, j, s_next, a']"] = new(v, ga=1.0)
    return out


def _number(got, what: str) -> float:
    """The learner's TD error as a Python float (a number or a one-value tensor)."""
    if got is None:
        raise CheckError(f"{what}: returned None; expected the TD error delta = y - Q_t(s, a) (did the function "
                         f"forget to return it?)")
    if isinstance(got, torch.Tensor):
        if got.numel() != 1:
            raise CheckError(f"{what}: expected one number (the TD error of the one transition), got a tensor of "
                             f"shape {tuple(got.shape)}")
        return float(got.detach())
    if isinstance(got, (numbers.Real, np.floating, np.integer)) and not isinstance(got, bool):
        return float(got)
    raise CheckError(f"{what}: expected a number (the TD error), got {type(got).__name__}")


def check_q_learning_update(fn) -> None:
    """``fn(q, t, j, s, a, r, s_next, alpha, gamma) -> TD error``: the Q-learning update of the one entry
    ``q[t, j, s, a]`` of the table ``q`` (T, K, S, A), in place, nothing after the horizon
    (``dqngen_lib.tabular.q_learning_update``). Any other entry changed is a mistake."""
    g = torch.Generator().manual_seed(21)
    mdps = _mdps()
    for m, t, j, s, a, alpha, gamma in _UPDATE_CASES:
        mdp = mdps[m]
        horizon = mdp.horizon
        shape = (horizon, mdp.num_targets, mdp.num_states, mdp.num_actions)
        q0 = torch.rand(shape, generator=g, dtype=torch.float64) * 1.5 - 0.5
        r, s2 = float(mdp.rewards[j, s, a]), int(mdp.next_state[s, a])
        args = (t, j, s, a, r, s2, alpha, gamma)
        shown = ", ".join(f"{n}={fmt_value(v) if isinstance(v, float) else v}" for n, v in zip(_UPDATE_ARGS[1:], args))
        what = (f"q_learning_update(q, {shown}) on a table (T, K, S, A) = {shape}"
                + (" (t = T - 1: the last step)" if t == horizon - 1 else ""))
        q = q0.clone()
        try:
            got = call(fn, q, *args, what="q_learning_update", names=_UPDATE_ARGS, mutable=("q",))
        except CheckError as exc:
            if t == horizon - 1 and isinstance(exc.__cause__, IndexError):
                raise CheckError(f"{exc}\n  at t = T - 1 = {t}, the last step, nothing follows: V_T = 0, and there "
                                 f"is no table q[T] to look up") from exc.__cause__
            raise
        expected = q0.clone()
        td = q_learning_update(expected, *args)
        where = _where(mdp)
        expect_tensor(q, f"{what}: the table after the call", tuple(q0.shape), torch.float64)
        changed = (q != q0).nonzero()
        entry = (t, j, s, a)
        others = [tuple(int(i) for i in idx) for idx in changed if tuple(int(i) for i in idx) != entry]
        if not len(changed):
            raise CheckError(f"{what}: the table is unchanged; expected the entry {_entry(mdp, *entry)} to move "
                             f"from {fmt_value(q0[entry])} to {fmt_value(expected[entry])} in the table passed in (did "
                             f"the function update a copy, e.g. q = q.clone(), q = q + ... or q.float(), instead of "
                             f"q[t, j, s, a] += ...?)")
        if others:
            idx = others[0]
            raise CheckError(f"{what}: changed {len(others)} entr{'y' if len(others) == 1 else 'ies'} besides "
                             f"{_entry(mdp, *entry)}, e.g. {where(idx)} from {fmt_value(q0[idx])} to "
                             f"{fmt_value(q[idx])}; one transition updates only the entry of its own state and action")
        if abs(float(q[entry]) - float(expected[entry])) > 1e-9:
            value = float(q[entry])
            differ = (f"the entry {_entry(mdp, *entry)} went from {fmt_value(q0[entry])} to {fmt_value(value)}, "
                      f"expected {fmt_value(expected[entry])}")
            for why, wrong in _update_variants(q0, *args).items():
                if abs(value - wrong) < 1e-9:
                    raise CheckError(f"{what}: {why}\n  ({differ})")
            raise CheckError(f"{what}: {differ}")
        value = _number(got, what)
        if abs(value - td) > 1e-9:
            new = float(expected[entry])
            y = r + gamma * (0.0 if t + 1 >= horizon else float(q0[t + 1, j, s2].max()))
            wrong = {"returned the updated entry q[t, j, s, a]; expected the TD error delta = y - Q_t(s, a)": new,
                     "returned the target y; expected the TD error delta = y - Q_t(s, a)": y,
                     "returned the change of the entry, alpha * delta; expected delta itself": alpha * td,
                     "returned the TD error measured after the update ((1 - alpha) delta); expected it with the entry "
                     "as it was before the update": (1 - alpha) * td,
                     "returned Q_t(s, a) - y; the TD error is delta = y - Q_t(s, a)": -td}
            differ = f"expected the TD error {fmt_value(td)}, got {fmt_value(value)}"
            for why, w in wrong.items():
                if abs(value - w) < 1e-9:
                    raise CheckError(f"{what}: {why}\n  ({differ})")
            raise CheckError(f"{what}: {differ}")
    ok("q_learning_update moves exactly q[t, j, s, a] by alpha times the TD error, with nothing after the horizon, "
       "and returns the TD error")


# ---------------------------------------------------------------------------------------------
# A Q-learning loop under slips
# ---------------------------------------------------------------------------------------------

_LOOP_EPISODES = 3000


@functools.lru_cache(maxsize=None)
def _slippery():
    """A 2x2 canvas, 2 inks, 2 targets, T = 3, slip 0.3: small enough for a Python loop to learn in a second."""
    mdp = build_mdp(torch.tensor([[[0.9, 0.2], [0.7, 1.0]], [[0.3, 1.0], [1.0, 0.6]]]), ink_levels=2, horizon=3,
                    gamma=0.9, slip=0.3)
    q_star, _ = backward_induction(mdp)
    q_det, _ = backward_induction(dataclasses.replace(mdp, slip=0.0))
    mask = reachable(mdp)[:, None, :, None].expand_as(q_star)
    return mdp, q_star, q_det, mask


def check_slippery_q_learning(fn) -> None:
    """``fn(mdp, episodes, alpha, seed) -> q`` (T, K, S, A) float64: Q-learning from transitions of a slipping
    hand (``mdp.slip``) with exploring starts and random actions; ``alpha=None`` is the sample-average step
    ``1 / n(t, j, s, a)``. The table must approach the Q* of the slipping hand on every state that can occur."""
    mdp, q_star, q_det, mask = _slippery()
    what = (f"q_learning_slippery(mdp, episodes={_LOOP_EPISODES}, alpha=None, seed=0) on a 2x2 canvas (2 targets, "
            f"16 canvases, 4 actions, T = 3, gamma = 0.9, slip = 0.3)")
    got = call(fn, mdp, _LOOP_EPISODES, None, 0, what="q_learning_slippery", names=("mdp", "episodes", "alpha", "seed"))
    expect_tensor(got, what, tuple(q_star.shape), torch.float64,
                  dtype_hint=" (tabular values are float64: torch.zeros(..., dtype=torch.float64))")
    if not bool(torch.isfinite(got).all()):
        raise CheckError(f"{what}: the table holds NaN or infinite values")
    err = (got - q_star).abs()[mask]
    err_det = (got - q_det).abs()[mask]
    mean, worst = float(err.mean()), float(err.max())
    if float(err_det.mean()) < 0.02 and mean > 0.04:
        raise CheckError(f"{what}: the table approaches the Q* of a hand that never slips (mean |Q - Q*_no slip| "
                         f"= {float(err_det.mean()):.4f}), not the Q* of the slipping hand (mean |Q - Q*| = "
                         f"{mean:.4f}): with probability mdp.slip the stroke carried out is a uniformly random one, "
                         f"and the update is for the action the painter *chose*, with the reward and the next canvas "
                         f"of the stroke carried out")
    if mean > 0.04 or worst > 0.25:
        raise CheckError(f"{what}: the table is far from the Q* of the slipping hand: mean |Q - Q*| = "
                         f"{mean:.4f} (expected below 0.04), largest {worst:.4f} (expected below 0.25) over the "
                         f"state-actions that can occur; with alpha = None each update must step by 1 / n, n the "
                         f"number of updates of that entry so far, so that the table averages the sampled targets")
    short = 300
    runs = {}
    for alpha, seed in ((None, 0), (1.0, 0), (None, 1)):
        runs[alpha, seed] = call(fn, mdp, short, alpha, seed, what="q_learning_slippery",
                                 names=("mdp", "episodes", "alpha", "seed"))
        expect_tensor(runs[alpha, seed], f"q_learning_slippery(mdp, {short}, alpha={alpha}, seed={seed})",
                      tuple(q_star.shape), torch.float64)
    if torch.equal(runs[None, 0], runs[1.0, 0]):
        raise CheckError(f"q_learning_slippery(mdp, {short}, alpha=1.0, seed=0) gives the same table as alpha=None: "
                         f"the alpha argument is ignored (alpha=None means 1 / n, a number is a constant step)")
    if torch.equal(runs[None, 0], runs[None, 1]):
        raise CheckError(f"q_learning_slippery(mdp, {short}, alpha=None, seed=1) gives the same table as seed=0: "
                         f"the seed argument is ignored (draw every random number from "
                         f"torch.Generator().manual_seed(seed))")
    ok(f"after {_LOOP_EPISODES} episodes your table is within {mean:.4f} of the slipping hand's Q* on average "
       f"(largest error {worst:.4f})")

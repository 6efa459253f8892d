"""Checks of exercise 03 (lesson 03): the Q-map head and greedy / ε-greedy action selection."""
from __future__ import annotations

import torch

from ..nets import dueling_combine, qmap_to_q
from ._common import CheckError, call, expect_close, ok

__all__ = ["check_qmap_to_q", "check_greedy_actions", "check_epsilon_greedy"]


def _expect_actions(got, n: int, num_actions: int, what: str, device: torch.device) -> torch.Tensor:
    if not isinstance(got, torch.Tensor):
        raise CheckError(f"{what}: expected a torch.Tensor of actions, got {type(got).__name__}")
    if tuple(got.shape) != (n,):
        raise CheckError(f"{what}: expected one action per row, shape ({n},), got {tuple(got.shape)}")
    if got.dtype != torch.int64:
        raise CheckError(f"{what}: expected int64 action indices, got dtype {got.dtype} "
                         "(max returns values; argmax returns indices)")
    if got.device != device:
        raise CheckError(f"{what}: expected the actions on {device} (where the Q-values are), got {got.device}")
    if bool((got < 0).any()) or bool((got >= num_actions).any()):
        raise CheckError(f"{what}: expected actions in [0, {num_actions}), got values in "
                         f"[{int(got.min())}, {int(got.max())}]")
    return got


def check_qmap_to_q(fn) -> None:
    """``fn(qmap, value=None) -> q``: flatten (B, L-1, H, W) into action order ``k*H*W + p``; dueling with ``value``."""
    g = torch.Generator().manual_seed(3)
    qmap = torch.randn(2, 2, 3, 4, generator=g)           # 2 ink levels on a 3x4 canvas (non-square on purpose)
    got = call(fn, qmap.clone(), what="qmap_to_q")
    expected = qmap_to_q(qmap)
    if isinstance(got, torch.Tensor) and tuple(got.shape) == tuple(expected.shape):
        diff = (got - expected).abs().reshape(2, -1)
        if float(diff.max()) > 1e-6:
            b, a = (int(i) for i in torch.unravel_index(diff.argmax(), diff.shape))
            k, p = a // 12, a % 12
            raise CheckError(f"action {a} means 'paint pixel (row {p // 4}, col {p % 4}) with ink level {k + 1}', "
                             f"so q[{b}, {a}] should be qmap[{b}, {k}, {p // 4}, {p % 4}] = {float(expected[b, a]):.4f}; "
                             f"got {float(got[b, a]):.4f}")
    expect_close(got, expected, "Q-values of a (2, 2, 3, 4) Q-map")
    value = torch.randn(2, 1, generator=g)
    duel = call(fn, qmap.clone(), value.clone(), what="qmap_to_q with a dueling value")
    expect_close(duel, dueling_combine(value, expected), "dueling Q = V + A - mean over actions of A")
    ok("qmap_to_q puts every (ink, pixel) Q-value at its env action index, and the dueling head matches")


def check_greedy_actions(fn) -> None:
    """``fn(q) -> actions``: ``argmax`` over the actions of each row, int64 (B,)."""
    g = torch.Generator().manual_seed(4)
    q = torch.randn(6, 9, generator=g) - 2.0              # all negative on purpose, 6 rows, 9 actions
    q[3, 8] = 5.0                                         # the last action
    got = _expect_actions(call(fn, q.clone(), what="greedy_actions"), 6, 9, "greedy actions of 6 rows x 9 actions",
                          q.device)
    expected = q.argmax(dim=1)
    if not torch.equal(got, expected):
        i = int((got != expected).nonzero()[0, 0])
        raise CheckError(f"row {i}: expected the action with the largest Q-value, {int(expected[i])} "
                         f"(Q = {float(q[i, expected[i]]):.3f}), got {int(got[i])} (Q = {float(q[i, got[i]]):.3f})")
    ok("greedy_actions picks the argmax of every row")


def check_epsilon_greedy(fn, n: int = 20000) -> None:
    """``fn(q, eps, generator) -> actions``: per row, a uniform random action with probability eps, else greedy."""
    num_actions = 5
    g = torch.Generator().manual_seed(5)
    q = torch.randn(n, num_actions, generator=g)
    greedy = q.argmax(dim=1)

    def run(eps, seed):
        gen = torch.Generator().manual_seed(seed)
        return _expect_actions(call(fn, q, eps, gen, what="epsilon_greedy"), n, num_actions,
                               f"epsilon_greedy with eps = {eps}", q.device)

    a0 = run(0.0, 1)
    if not torch.equal(a0, greedy):
        raise CheckError(f"with eps = 0: expected every action greedy, got {int((a0 != greedy).sum())} of {n} "
                         "that were not")
    a1 = run(1.0, 2)
    freq = torch.bincount(a1, minlength=num_actions).float() / n
    if float((freq - 1.0 / num_actions).abs().max()) > 0.02:
        raise CheckError(f"with eps = 1: expected uniform actions over all {num_actions} (each with frequency about "
                         f"{1 / num_actions:.2f}), got frequencies {[round(float(f), 3) for f in freq]}")
    eps = 0.3
    a = run(eps, 3)
    # A random action is the greedy one by chance 1/A of the time.
    expected_rate = eps * (num_actions - 1) / num_actions
    rate = float((a != greedy).float().mean())
    if abs(rate - expected_rate) > 0.02:
        raise CheckError(f"with eps = {eps} and {num_actions} actions, expected about {expected_rate:.2f} of the "
                         f"{n} actions to differ from the greedy one (eps x (A-1)/A: a random action can be the "
                         f"greedy one), got {rate:.3f}")
    torch.rand(7)  # move the global random state: a function that ignores the generator now differs
    again = run(eps, 3)
    if not torch.equal(a, again):
        raise CheckError("two calls with generators seeded alike gave different actions; expected every random "
                         "number to come from the generator argument (generator=generator in torch.rand/randint)")
    ok(f"epsilon_greedy: greedy at eps = 0, uniform at eps = 1, {rate:.3f} non-greedy at eps = {eps} "
       f"(expected {expected_rate:.2f}), reproducible with its generator")

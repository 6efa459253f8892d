"""Checks of exercise 03 (lesson 03): the Q-map head and greedy / ε-greedy action selection.

The ε-greedy check is statistical but deterministic (its seeds are fixed) and its tolerances are
six standard deviations or more, so a correct function never fails it. It asks that every random
number comes from the generator it passes: the same seed gives the same actions, another seed
other actions, consecutive calls with one generator differ, and every row explores independently.
"""
from __future__ import annotations

import math

import torch

from ..nets import dueling_combine, qmap_to_q
from ._common import CheckError, call, cuda_devices, expect_close, expect_tensor, fmt_index, ok

__all__ = ["check_qmap_to_q", "check_greedy_actions", "check_epsilon_greedy"]

_ACTION_HINT = " (argmax returns int64 indices; max returns values)"


def _expect_actions(got, n: int, num_actions: int, what: str, device) -> torch.Tensor:
    expect_tensor(got, what, (n,), torch.int64, device, dtype_hint=_ACTION_HINT)
    if bool((got < 0).any()) or bool((got >= num_actions).any()):
        raise CheckError(f"{what}: expected actions in [0, {num_actions}), got values in "
                         f"[{int(got.min())}, {int(got.max())}]")
    return got


# ---------------------------------------------------------------------------------------------
# The Q-map head
# ---------------------------------------------------------------------------------------------

def _qmap_cases(device):
    g = torch.Generator().manual_seed(3)
    shapes = [(2, 2, 3, 4), (3, 1, 2, 5), (1, 4, 3, 3), (5, 3, 4, 2)]   # non-square on purpose; B != A
    return [torch.randn(*s, generator=g).to(device) for s in shapes], g


def _qmap_where(shape):
    _, _, h, w = shape

    def where(i):
        b, a = i
        k, p = a // (h * w), a % (h * w)
        return (f"index {fmt_index(i)}: action {a} means 'paint pixel (row {p // w}, col {p % w}) with ink level "
                f"{k + 1}', so q[{b}, {a}] should be qmap[{b}, {k}, {p // w}, {p % w}]")
    return where


def _dueling_variants(value, adv):
    return {
        "the mean of the advantages is not subtracted; expected Q = V + A - mean over the actions of A":
            value + adv,
        "the mean is taken over the batch (dim 0); expected the mean over the actions of each row (dim 1)":
            value + adv - adv.mean(dim=0, keepdim=True),
        "the mean is taken over the whole tensor; expected the mean over the actions of each row "
        "(mean(dim=1, keepdim=True))": value + adv - adv.mean(),
        "the value V is ignored; expected Q = V + A - mean over the actions of A": adv - adv.mean(1, keepdim=True),
    }


def check_qmap_to_q(fn) -> None:
    """``fn(qmap, value=None) -> q``: flatten (B, L-1, H, W) into action order ``k*H*W + p``; dueling with ``value``."""
    for device in ["cpu", *cuda_devices()]:
        on = "" if device == "cpu" else f" on {device}"
        qmaps, g = _qmap_cases(device)
        for qmap in qmaps:
            shape = tuple(qmap.shape)
            got = call(fn, qmap.clone(), what="qmap_to_q", names=("qmap",))
            expected = qmap_to_q(qmap)
            expect_close(got, expected, f"Q-values of a {shape} Q-map{on}", atol=1e-6, where=_qmap_where(shape))
        for qmap in qmaps:
            shape = tuple(qmap.shape)
            value = torch.randn(shape[0], 1, generator=g).to(device)
            duel = call(fn, qmap.clone(), value.clone(), what="qmap_to_q with a dueling value",
                        names=("qmap", "value"))
            adv = qmap_to_q(qmap)
            expect_close(duel, dueling_combine(value, adv), f"dueling Q = V + A - mean over actions of A for a "
                         f"{shape} Q-map and values {tuple(value.shape)}{on}", variants=_dueling_variants(value, adv))
    ok("qmap_to_q puts every (ink, pixel) Q-value at its env action index, and the dueling head matches")


# ---------------------------------------------------------------------------------------------
# Greedy actions
# ---------------------------------------------------------------------------------------------

def check_greedy_actions(fn) -> None:
    """``fn(q) -> actions``: ``argmax`` over the actions of each row, int64 (B,)."""
    g = torch.Generator().manual_seed(4)
    q = torch.randn(6, 9, generator=g) - 2.0              # all negative on purpose, 6 rows, 9 actions
    q[3, 8] = 5.0                                         # the last action
    q[0, 0] = 4.0                                         # the first action
    cases = [q, torch.randn(1, 4, generator=g), torch.randn(7, 3, generator=g) * 10,
             torch.randn(4, 11, generator=g, dtype=torch.float64)]
    for device in ["cpu", *cuda_devices()]:
        for q in cases:
            q = q.to(device)
            n, a = q.shape
            what = f"greedy actions of {n} rows x {a} actions ({str(q.dtype).replace('torch.', '')} on {device})"
            got = _expect_actions(call(fn, q.clone(), what="greedy_actions", names=("q",)), n, a, what, q.device)
            expected = q.argmax(dim=1)
            if not torch.equal(got, expected):
                bad = (got != expected).nonzero()
                i = int(bad[0, 0])
                raise CheckError(f"{what}: values differ at index {i}: expected the action with the largest "
                                 f"Q-value, {int(expected[i])} (Q = {float(q[i, expected[i]]):.3f}), got "
                                 f"{int(got[i])} (Q = {float(q[i, got[i]]):.3f}) ({len(bad)} of {n} rows differ)")
    ok("greedy_actions picks the argmax of every row")


# ---------------------------------------------------------------------------------------------
# ε-greedy actions
# ---------------------------------------------------------------------------------------------

def _tol(p: float, n: int, sigmas: float = 6.0) -> float:
    """``sigmas`` standard deviations of a frequency ``p`` estimated from ``n`` draws (at least 0.002)."""
    return max(sigmas * math.sqrt(p * (1.0 - p) / n), 0.002)


def _run_epsilon(fn, device, n: int) -> str:
    on = "" if device == "cpu" else f" on {device}"
    num_actions = 5
    g = torch.Generator().manual_seed(5)
    q = torch.randn(n, num_actions, generator=g).to(device)
    greedy = q.argmax(dim=1)

    def run(eps, seed=None, gen=None, qq=q):
        gen = gen if gen is not None else torch.Generator(device=device).manual_seed(seed)
        m, a = qq.shape
        what = f"epsilon_greedy of {m} rows x {a} actions with eps = {eps:g}{on}"
        got = call(fn, qq.clone(), eps, gen, what="epsilon_greedy", names=("q", "eps", "generator"))
        return _expect_actions(got, m, a, what, qq.device)

    a0 = run(0.0, 1)
    if not torch.equal(a0, greedy):
        bad = (a0 != greedy).nonzero()
        raise CheckError(f"with eps = 0{on}: expected every action greedy, got {len(bad)} of {n} that were not "
                         f"(the first at index {int(bad[0, 0])}: expected {int(greedy[bad[0, 0]])}, got "
                         f"{int(a0[bad[0, 0]])})")
    for num, m, seed in ((num_actions, n, 2), (2, n // 4, 12), (7, n // 2, 22)):
        qq = q if num == num_actions else torch.randn(m, num, generator=g).to(device)
        a1 = run(1.0, seed, qq=qq)
        freq = torch.bincount(a1.cpu(), minlength=num).double() / m
        tol = _tol(1.0 / num, m)
        if float((freq - 1.0 / num).abs().max()) > tol:
            raise CheckError(f"with eps = 1 and {num} actions{on}: expected uniform actions over all {num} (each "
                             f"with frequency {1 / num:.3f} +- {tol:.3f}), got frequencies "
                             f"{[round(float(f), 3) for f in freq]}")
    eps = 0.3
    a = run(eps, 3)
    # A random action is the greedy one by chance 1/A of the time.
    p = eps * (num_actions - 1) / num_actions
    nongreedy = (a != greedy)
    rate = float(nongreedy.double().mean())
    if abs(rate - p) > _tol(p, n):
        raise CheckError(f"with eps = {eps} and {num_actions} actions{on}: expected about {p:.3f} of the {n} "
                         f"actions to differ from the greedy one (eps x (A-1)/A: a random action can be the greedy "
                         f"one), got {rate:.3f}")
    blocks = 10
    per = nongreedy.reshape(blocks, -1).double().mean(1).cpu()
    tol = _tol(p, n // blocks)
    if float((per - p).abs().max()) > tol:
        lo, hi = int(per.argmin()), int(per.argmax())
        raise CheckError(f"with eps = {eps}{on}: rows {lo * (n // blocks)}-{(lo + 1) * (n // blocks) - 1} took a "
                         f"non-greedy action at rate {float(per[lo]):.3f}, rows {hi * (n // blocks)}-"
                         f"{(hi + 1) * (n // blocks) - 1} at rate {float(per[hi]):.3f}; expected about {p:.3f} "
                         f"everywhere: every row explores independently with probability eps "
                         f"(torch.rand(B, generator=...) < eps), not a fixed set of rows")
    # The random actions of the exploring rows are uniform over all A actions: action j comes up
    # (and differs from the greedy one) in about eps / A of the rows whose greedy action is not j.
    counts = torch.bincount(a[nongreedy].cpu(), minlength=num_actions).double()
    others = torch.tensor([float((greedy != j).sum()) for j in range(num_actions)], dtype=torch.float64)
    want = others * eps / num_actions
    sd = (others * (eps / num_actions) * (1 - eps / num_actions)).sqrt()
    if bool(((counts - want).abs() > 6 * sd + 2).any()):
        raise CheckError(f"with eps = {eps}{on}: the random actions of the exploring rows are not uniform: the "
                         f"non-greedy actions 0..{num_actions - 1} came up {[int(c) for c in counts]} times, "
                         f"expected about {[int(round(float(w))) for w in want]}; expected each exploring row to "
                         f"draw its action uniformly among all {num_actions} (torch.randint(A, (B,), generator=...))")
    torch.rand(7)  # move the global random state: a function that ignores the generator now differs
    again = run(eps, 3)
    if not torch.equal(a, again):
        i = int((a != again).nonzero()[0, 0])
        raise CheckError(f"with eps = {eps}{on}: two calls with generators seeded alike gave different actions (the "
                         f"first at index {i}: {int(a[i])} then {int(again[i])}); expected every random number to "
                         "come from the generator argument (generator=generator in torch.rand / torch.randint), "
                         "not from the global random state")
    other = run(eps, 4)
    if torch.equal(a, other):
        raise CheckError(f"with eps = {eps}{on}: generators seeded differently (3 and 4) gave identical actions; "
                         "expected random actions drawn from the generator argument (do not seed a generator "
                         "of your own or call torch.manual_seed)")
    both = float((nongreedy & (other != greedy)).double().mean())
    if abs(both - p * p) > _tol(p * p, n):
        raise CheckError(f"with eps = {eps}{on}: the same rows explored under two different seeds ({both:.3f} of "
                         f"the rows were non-greedy both times; expected about {p * p:.3f} when each row's coin "
                         f"flip comes from the generator); expected which rows explore to be random too "
                         f"(torch.rand(B, generator=generator) < eps)")
    gen = torch.Generator(device=device).manual_seed(6)
    first, second = run(eps, gen=gen), run(eps, gen=gen)
    if torch.equal(first, second):
        raise CheckError(f"with eps = {eps}{on}: two consecutive calls with the same generator gave identical "
                         "actions; expected the generator to advance as numbers are drawn from it (pass it as "
                         "generator=generator; do not copy its seed into a new generator)")
    for eps_small in (0.05,):
        a_small = run(eps_small, 7)
        p_small = eps_small * (num_actions - 1) / num_actions
        r_small = float((a_small != greedy).double().mean())
        if abs(r_small - p_small) > _tol(p_small, n):
            raise CheckError(f"with eps = {eps_small} and {num_actions} actions{on}: expected about {p_small:.3f} "
                             f"of the {n} actions to differ from the greedy one, got {r_small:.3f}")
    # A single row, many times: its coin is flipped anew every call.
    gen = torch.Generator(device=device).manual_seed(8)
    q1 = q[:1]
    hits = sum(int(run(eps, gen=gen, qq=q1)[0] != greedy[0]) for _ in range(400))
    tol1 = _tol(p, 400) * 400
    if abs(hits - p * 400) > tol1:
        raise CheckError(f"with eps = {eps} and a batch of 1 row{on}: expected about {p * 400:.0f} non-greedy "
                         f"actions in 400 calls, got {hits}")
    return f"{rate:.3f} non-greedy at eps = {eps} (expected {p:.2f})"


def check_epsilon_greedy(fn, n: int = 20000) -> None:
    """``fn(q, eps, generator) -> actions``: per row, a uniform random action with probability eps, else greedy."""
    n = max(1000, n - n % 10)
    summary = _run_epsilon(fn, "cpu", n)
    for device in cuda_devices():
        _run_epsilon(fn, device, n)
    ok(f"epsilon_greedy: greedy at eps = 0, uniform at eps = 1, {summary}, reproducible with its generator")


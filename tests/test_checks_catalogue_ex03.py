"""Catalogue of wrong answers to exercise 03 (Q-map head, greedy and ε-greedy actions) that learners really write.

Every entry must fail its check with a ``CheckError`` (never a raw exception) whose message holds
the key phrase; ``CATALOGUE`` lists them as ``(check name, wrong function, mistake, key phrase)``.
"""
import numpy as np
import pytest
import torch

from dqngen_lib.checks import CheckError, check_epsilon_greedy, check_greedy_actions, check_qmap_to_q


# -- the solutions (as in solutions/03_q_network.ipynb) --------------------------------------------
def qmap_solution(qmap, value=None):
    adv = qmap.flatten(1)
    if value is None:
        return adv
    return value + adv - adv.mean(dim=1, keepdim=True)


def greedy_solution(q):
    return q.argmax(dim=1)


def eps_solution(q, eps, generator=None):
    n, a = q.shape
    rand = torch.randint(a, (n,), generator=generator, device=q.device)
    explore = torch.rand(n, generator=generator, device=q.device) < eps
    return torch.where(explore, rand, q.argmax(dim=1))


# -- wrong Q-map heads --------------------------------------------------------------------------------
def qmap_in_place_dueling(qmap, value=None):
    adv = qmap.flatten(1)          # a view of qmap: the next line changes the caller's Q-map
    if value is None:
        return adv
    adv -= adv.mean(dim=1, keepdim=True)
    return value + adv


def qmap_mean_all(qmap, value=None):
    adv = qmap.flatten(1)
    return adv if value is None else value + adv - adv.mean()


def qmap_ignores_value(qmap, value=None):
    adv = qmap.flatten(1)
    return adv - adv.mean(dim=1, keepdim=True) if value is not None else adv


def qmap_value_truthiness(qmap, value=None):
    adv = qmap.flatten(1)
    if value:
        return value + adv - adv.mean(dim=1, keepdim=True)
    return adv


def qmap_hardcoded_view(qmap, value=None):
    adv = qmap.view(qmap.shape[0], 24)
    return adv if value is None else value + adv - adv.mean(dim=1, keepdim=True)


def qmap_not_flattened(qmap, value=None):
    adv = qmap.flatten(2)
    return adv if value is None else value + adv - adv.mean(dim=(1, 2), keepdim=True)


def qmap_float64(qmap, value=None):
    return qmap_solution(qmap.double(), None if value is None else value.double())


def qmap_value_squeezed(qmap, value=None):
    adv = qmap.flatten(1)
    return adv if value is None else value.squeeze() + adv - adv.mean(dim=1, keepdim=True)


def qmap_subtract_max(qmap, value=None):
    adv = qmap.flatten(1)
    return adv if value is None else value + adv - adv.max(dim=1, keepdim=True).values


def qmap_mutates_value(qmap, value=None):
    adv = qmap.flatten(1)
    if value is None:
        return adv
    value -= adv.mean(dim=1, keepdim=True)
    return value + adv


def qmap_channels_last(qmap, value=None):
    adv = qmap.permute(0, 2, 3, 1).reshape(qmap.shape[0], -1)
    return adv if value is None else value + adv - adv.mean(dim=1, keepdim=True)


def qmap_list(qmap, value=None):
    return [row for row in qmap_solution(qmap, value)]


# -- wrong greedy actions -----------------------------------------------------------------------------
def greedy_list(q):
    return q.argmax(dim=1).tolist()


def greedy_int32(q):
    return q.argmax(dim=1).int()


def greedy_flat_argmax(q):
    return q.argmax()


def greedy_max_namedtuple(q):
    return q.max(dim=1)


def greedy_keepdim(q):
    return q.argmax(dim=1, keepdim=True)


def greedy_abs(q):
    return q.abs().argmax(dim=1)


def greedy_numpy(q):
    return q.argmax(dim=1).numpy()


def greedy_float(q):
    return q.argmax(dim=1).float()


def greedy_hardcoded_nine(q):
    return q.view(-1, 9).argmax(dim=1)


def greedy_masks_in_place(q):
    q[q < q.max(dim=1, keepdim=True).values] = float("-inf")
    return q.argmax(dim=1)


def greedy_softmax_sample(q):
    return torch.multinomial(torch.softmax(q, dim=1), 1, generator=torch.Generator().manual_seed(0)).squeeze(1)


# -- wrong ε-greedy -----------------------------------------------------------------------------------
def eps_first_rows(q, eps, generator=None):
    n, a = q.shape
    rand = torch.randint(a, (n,), generator=generator, device=q.device)
    explore = torch.arange(n, device=q.device) < int(eps * n)
    return torch.where(explore, rand, q.argmax(dim=1))


def eps_own_generator(q, eps, generator=None):
    return eps_solution(q, eps, torch.Generator().manual_seed(0))


def eps_seeds_global(q, eps, generator=None):
    torch.manual_seed(0)
    return eps_solution(q, eps, None)


def eps_fixed_rows(q, eps, generator=None):
    n, a = q.shape
    rand = torch.randint(a, (n,), generator=generator, device=q.device)
    explore = torch.rand(n, generator=torch.Generator().manual_seed(1)) < eps
    return torch.where(explore, rand, q.argmax(dim=1))


def eps_copies_seed(q, eps, generator=None):
    return eps_solution(q, eps, torch.Generator().manual_seed(generator.initial_seed()))


def eps_one_random_action(q, eps, generator=None):
    n, a = q.shape
    rand = torch.randint(a, (1,), generator=generator).expand(n)
    explore = torch.rand(n, generator=generator) < eps
    return torch.where(explore, rand, q.argmax(dim=1))


def eps_int32(q, eps, generator=None):
    return eps_solution(q, eps, generator).int()


def eps_numpy_rng(q, eps, generator=None):
    n, a = q.shape
    explore = torch.from_numpy(np.random.rand(n) < eps)
    rand = torch.from_numpy(np.random.randint(a, size=n))
    return torch.where(explore, rand, q.argmax(dim=1))


def eps_mutates_q(q, eps, generator=None):
    n, a = q.shape
    rand = torch.randint(a, (n,), generator=generator)
    explore = torch.rand(n, generator=generator) < eps
    q[explore, rand[explore]] = float("inf")
    return q.argmax(dim=1)


def eps_rounds_eps(q, eps, generator=None):
    return eps_solution(q, round(eps), generator)


def eps_ignores_eps(q, eps, generator=None):
    return eps_solution(q, 0.1, generator)


def eps_every_kth_row(q, eps, generator=None):
    n, a = q.shape
    rand = torch.randint(a, (n,), generator=generator)
    explore = torch.arange(n) % max(1, round(1 / eps)) == 0 if eps > 0 else torch.zeros(n, dtype=torch.bool)
    return torch.where(explore, rand, q.argmax(dim=1))


def eps_explore_prob_doubled(q, eps, generator=None):
    return eps_solution(q, min(1.0, 2 * eps), generator)


def eps_same_number_for_coin_and_action(q, eps, generator=None):
    n, a = q.shape
    u = torch.rand(n, generator=generator)
    return torch.where(u < eps, (u * a).long(), q.argmax(dim=1))


def eps_float_actions(q, eps, generator=None):
    n, a = q.shape
    rand = torch.rand(n, generator=generator) * a
    explore = torch.rand(n, generator=generator) < eps
    return torch.where(explore, rand.floor(), q.argmax(dim=1).float())


CATALOGUE = [
    ("qmap", qmap_in_place_dueling, "subtracts the mean in place from a view of the Q-map",
     "changed its argument `qmap` in place"),
    ("qmap", qmap_mean_all, "mean over the whole tensor", "mean is taken over the whole tensor"),
    ("qmap", qmap_ignores_value, "ignores the dueling value", "value V is ignored"),
    ("qmap", qmap_value_truthiness, "`if value:` on a tensor",
     (r"(?s)qmap_to_q with a dueling value raised RuntimeError"
      r".*called with qmap=tensor \(2, 2, 3, 4\) float32, value=tensor \(2, 1\) float32")),
    ("qmap", qmap_hardcoded_view, "hard-codes 24 actions (view(B, 24))", "qmap_to_q raised RuntimeError"),
    ("qmap", qmap_not_flattened, "returns (B, L-1, H*W)", r"expected shape \(2, 24\), got \(2, 2, 12\)"),
    ("qmap", qmap_float64, "returns float64", "expected dtype torch.float32, got torch.float64"),
    ("qmap", qmap_value_squeezed, "squeezes the value to (B,)", "qmap_to_q with a dueling value raised RuntimeError"),
    ("qmap", qmap_subtract_max, "subtracts the max instead of the mean", "values differ at index"),
    ("qmap", qmap_mutates_value, "subtracts the mean from value in place", "changed its argument `value` in place"),
    ("qmap", qmap_channels_last, "channels last (pixel-major) order", r"action \d+ means 'paint pixel"),
    ("qmap", qmap_list, "returns a list of rows", "expected a torch.Tensor, got list"),
    ("greedy", greedy_list, "returns .tolist()", "expected a torch.Tensor, got list"),
    ("greedy", greedy_int32, "int32 actions", "expected dtype torch.int64, got torch.int32"),
    ("greedy", greedy_flat_argmax, "argmax over the flattened tensor", r"expected shape \(6,\), got \(\)"),
    ("greedy", greedy_max_namedtuple, "returns q.max(dim=1) (values and indices)", "named tuple: take its .indices"),
    ("greedy", greedy_keepdim, "keepdim=True", r"expected shape \(6,\), got \(6, 1\)"),
    ("greedy", greedy_abs, "argmax of |Q|", r"values differ at index \d+: expected the action with the largest"),
    ("greedy", greedy_numpy, "returns a NumPy array", "expected a torch.Tensor, got numpy.ndarray"),
    ("greedy", greedy_float, "float actions", "expected dtype torch.int64, got torch.float32"),
    ("greedy", greedy_hardcoded_nine, "hard-codes 9 actions", "greedy_actions raised RuntimeError"),
    ("greedy", greedy_masks_in_place, "masks the Q-values in place", "changed its argument `q` in place"),
    ("greedy", greedy_softmax_sample, "samples from softmax(Q)", "expected the action with the largest Q-value"),
    ("eps", eps_first_rows, "the first eps*B rows always explore", "not a fixed set of rows"),
    ("eps", eps_own_generator, "seeds a generator of its own", "generators seeded differently .* gave identical"),
    ("eps", eps_seeds_global, "torch.manual_seed inside, then the global RNG",
     "generators seeded differently .* gave identical"),
    ("eps", eps_fixed_rows, "the coin flips come from a fixed generator", "the same rows explored under two different"),
    ("eps", eps_copies_seed, "copies the generator's seed into a new one",
     "two consecutive calls with the same generator"),
    ("eps", eps_one_random_action, "one random action for every exploring row", "expected uniform actions"),
    ("eps", eps_int32, "int32 actions", "expected dtype torch.int64, got torch.int32"),
    ("eps", eps_numpy_rng, "NumPy's global random numbers", "two calls with generators seeded alike gave different"),
    ("eps", eps_mutates_q, "sets Q of the random action to +inf in place", "changed its argument `q` in place"),
    ("eps", eps_rounds_eps, "round(eps)", r"with eps = 0.3 and 5 actions: expected about 0.240 .* got 0.000"),
    ("eps", eps_ignores_eps, "eps hard-coded to 0.1", "with eps = 0: expected every action greedy"),
    ("eps", eps_every_kth_row, "every round(1/eps)-th row explores", "expected about 0.240"),
    ("eps", eps_explore_prob_doubled, "explores with probability 2 eps", "expected about 0.240"),
    ("eps", eps_same_number_for_coin_and_action, "one uniform number for the coin and the action",
     "the random actions of the exploring rows are not uniform"),
    ("eps", eps_float_actions, "float actions", "expected dtype torch.int64, got torch.float32"),
]

CHECKS = {"qmap": check_qmap_to_q, "greedy": check_greedy_actions, "eps": check_epsilon_greedy}
SOLUTIONS = {"qmap": qmap_solution, "greedy": greedy_solution, "eps": eps_solution}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_solution_passes(name, capsys):
    CHECKS[name](SOLUTIONS[name])
    assert capsys.readouterr().out.startswith("OK")


@pytest.mark.parametrize("check, wrong, mistake, phrase",
                         [pytest.param(CHECKS[c], w, m, p, id=w.__name__) for c, w, m, p in CATALOGUE])
def test_wrong_answer_fails_with_a_clear_message(check, wrong, mistake, phrase):
    with pytest.raises(CheckError, match=phrase):
        check(wrong)


def test_epsilon_greedy_alternative_draw_orders_pass(capsys):
    """Correct answers that draw their random numbers differently pass too (no false failures)."""
    def coin_first(q, eps, generator=None):
        n, a = q.shape
        explore = torch.rand(n, generator=generator, device=q.device) < eps
        rand = torch.randint(a, (n,), generator=generator, device=q.device)
        return torch.where(explore, rand, q.argmax(dim=1))

    def bernoulli(q, eps, generator=None):
        n, a = q.shape
        explore = torch.bernoulli(torch.full((n,), float(eps), device=q.device), generator=generator).bool()
        rand = torch.multinomial(torch.ones(n, a, device=q.device), 1, generator=generator).squeeze(1)
        return torch.where(explore, rand, q.argmax(dim=1))

    def one_uniform_rescaled(q, eps, generator=None):
        n, a = q.shape
        u = torch.rand(n, generator=generator, device=q.device)
        rand = torch.randint(a, (n,), generator=generator, device=q.device)
        return torch.where(u < eps, rand, q.argmax(dim=1))

    for fn in (coin_first, bernoulli, one_uniform_rescaled):
        check_epsilon_greedy(fn)
    assert capsys.readouterr().out.count("OK") == 3

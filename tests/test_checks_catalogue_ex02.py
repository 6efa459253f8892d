"""Catalogue of wrong answers to exercise 02 (Bellman backup, backward induction) that learners really write.

Every entry must fail its check with a ``CheckError`` (never a raw exception) whose message holds
the key phrase; ``CATALOGUE`` lists them as ``(check name, wrong function, mistake, key phrase)``.
"""
import pytest
import torch

from dqngen_lib.checks import CheckError, check_backward_induction, check_bellman_backup


# -- the solutions (as in solutions/02_bellman.ipynb) ----------------------------------------------
def backup_solution(rewards, next_state, v_next, gamma):
    return rewards + gamma * v_next[:, next_state]


def induction_solution(rewards, next_state, horizon, gamma, backup=backup_solution):
    k, s, a = rewards.shape
    q = torch.zeros(horizon, k, s, a, dtype=rewards.dtype)
    v = torch.zeros(k, s, dtype=rewards.dtype)
    for t in reversed(range(horizon)):
        q[t] = backup(rewards, next_state, v, gamma)
        v = q[t].max(dim=-1).values
    return q


# -- wrong backups ------------------------------------------------------------------------------------
def backup_gamma_hardcoded(rewards, next_state, v_next, gamma):
    return rewards + 0.9 * v_next[:, next_state]


def backup_float32(rewards, next_state, v_next, gamma):
    return (rewards + gamma * v_next[:, next_state]).float()


def backup_index_without_target(rewards, next_state, v_next, gamma):
    return rewards + gamma * v_next[next_state]


def backup_global_max(rewards, next_state, v_next, gamma):
    return rewards + gamma * v_next.max()


def backup_transposed(rewards, next_state, v_next, gamma):
    return rewards.permute(1, 2, 0) + gamma * v_next.T[next_state]


def backup_mutates_v_next(rewards, next_state, v_next, gamma):
    v_next.mul_(gamma)
    return rewards + v_next[:, next_state]


def backup_max_inside(rewards, next_state, v_next, gamma):
    return rewards + gamma * v_next[:, next_state].max(dim=-1, keepdim=True).values


def backup_numpy(rewards, next_state, v_next, gamma):
    return (rewards + gamma * v_next[:, next_state]).numpy()


def backup_list_per_target(rewards, next_state, v_next, gamma):
    return [rewards[j] + gamma * v_next[j][next_state] for j in range(rewards.shape[0])]


def backup_in_place_rewards(rewards, next_state, v_next, gamma):
    rewards.add_(gamma * v_next[:, next_state])
    return rewards.clone()


def backup_minus(rewards, next_state, v_next, gamma):
    return rewards - gamma * v_next[:, next_state]


# -- wrong inductions ---------------------------------------------------------------------------------
def induction_gamma_hardcoded(rewards, next_state, horizon, gamma):
    return induction_solution(rewards, next_state, horizon, 0.9)


def induction_horizon_hardcoded(rewards, next_state, horizon, gamma):
    return induction_solution(rewards, next_state, 4, gamma)


def induction_one_short(rewards, next_state, horizon, gamma):
    return induction_solution(rewards, next_state, horizon, gamma)[1:]


def induction_float32(rewards, next_state, horizon, gamma):
    k, s, a = rewards.shape
    q = torch.zeros(horizon, k, s, a)
    v = torch.zeros(k, s)
    for t in reversed(range(horizon)):
        q[t] = rewards + gamma * v[:, next_state]
        v = q[t].max(dim=-1).values
    return q


def induction_returns_v(rewards, next_state, horizon, gamma):
    q = induction_solution(rewards, next_state, horizon, gamma)
    return q.max(dim=-1).values


def induction_min(rewards, next_state, horizon, gamma):
    k, s, a = rewards.shape
    q = torch.zeros(horizon, k, s, a, dtype=rewards.dtype)
    v = torch.zeros(k, s, dtype=rewards.dtype)
    for t in reversed(range(horizon)):
        q[t] = backup_solution(rewards, next_state, v, gamma)
        v = q[t].min(dim=-1).values
    return q


def induction_list(rewards, next_state, horizon, gamma):
    return list(induction_solution(rewards, next_state, horizon, gamma))


def induction_only_first_table(rewards, next_state, horizon, gamma):
    return induction_solution(rewards, next_state, horizon, gamma)[0]


def induction_in_place_backup(rewards, next_state, horizon, gamma):
    def backup(r, ns, v, g):
        r += g * v[:, ns]
        return r.clone()
    return induction_solution(rewards, next_state, horizon, gamma, backup=backup)


def induction_v_never_updated(rewards, next_state, horizon, gamma):
    k, s, a = rewards.shape
    q = torch.zeros(horizon, k, s, a, dtype=rewards.dtype)
    v = torch.zeros(k, s, dtype=rewards.dtype)
    for t in reversed(range(horizon)):
        q[t] = backup_solution(rewards, next_state, v, gamma)
    return q


def induction_max_over_states(rewards, next_state, horizon, gamma):
    k, s, a = rewards.shape
    q = torch.zeros(horizon, k, s, a, dtype=rewards.dtype)
    v = torch.zeros(k, s, dtype=rewards.dtype)
    for t in reversed(range(horizon)):
        q[t] = backup_solution(rewards, next_state, v, gamma)
        v = q[t].max(dim=1).values
    return q


def induction_discount_by_t(rewards, next_state, horizon, gamma):
    k, s, a = rewards.shape
    q = torch.zeros(horizon, k, s, a, dtype=rewards.dtype)
    v = torch.zeros(k, s, dtype=rewards.dtype)
    for t in reversed(range(horizon)):
        q[t] = gamma ** t * rewards + v[:, next_state]
        v = q[t].max(dim=-1).values
    return q


def induction_stack_forward_list(rewards, next_state, horizon, gamma):
    qs, v = [], torch.zeros(rewards.shape[:2], dtype=rewards.dtype)
    for _ in range(horizon):
        q = backup_solution(rewards, next_state, v, gamma)
        qs.append(q)
        v = q.max(dim=-1).values
    return torch.stack(qs)


CATALOGUE = [
    ("backup", backup_gamma_hardcoded, "gamma hard-coded to 0.9", "the result is what gamma = 0.9 gives"),
    ("backup", backup_float32, "returns float32", "expected dtype torch.float64, got torch.float32"),
    ("backup", backup_index_without_target, "v_next[next_state] (no target dimension)",
     "bellman_optimality_backup raised IndexError"),
    ("backup", backup_global_max, "the max of all of V instead of V(next state)",
     r"values differ at index \(\d+, \d+, \d+\) \(target \d"),
    ("backup", backup_transposed, "tables laid out (S, A, K)", r"expected shape \(2, 81, 8\), got \(81, 8, 2\)"),
    ("backup", backup_mutates_v_next, "v_next.mul_(gamma)", "changed its argument `v_next` in place"),
    ("backup", backup_max_inside, "a max over the next actions inside the backup", "values differ at index"),
    ("backup", backup_numpy, "returns a NumPy array", "expected a torch.Tensor, got numpy.ndarray"),
    ("backup", backup_list_per_target, "a list of tables, one per target", "expected a torch.Tensor, got list"),
    ("backup", backup_in_place_rewards, "rewards.add_(...)", "changed its argument `rewards` in place"),
    ("backup", backup_minus, "subtracts the discounted value", "values differ at index"),
    ("induction", induction_gamma_hardcoded, "gamma hard-coded to 0.9", "the result is what gamma = 0.9 gives"),
    ("induction", induction_horizon_hardcoded, "horizon hard-coded to 4 (the lesson's)",
     "expected one Q table per time step t = 0..T-1, i.e. 3 for horizon T = 3, got 4"),
    ("induction", induction_one_short, "one table too few", "expected one Q table per time step"),
    ("induction", induction_float32, "tables of float32 (torch.zeros without dtype)",
     "expected dtype torch.float64, got torch.float32.*dtype=rewards.dtype"),
    ("induction", induction_returns_v, "returns V* instead of Q*", r"expected shape \(3, 2, 81, 8\), got \(3, 2, 81\)"),
    ("induction", induction_min, "min instead of max", r"table t = 1 .*values differ at index \(1, \d+, \d+, \d+\)"),
    ("induction", induction_list, "returns a list of tables", "expected a torch.Tensor, got list"),
    ("induction", induction_only_first_table, "returns only Q*_0", r"expected shape \(3, 2, 81, 8\), got \(2, 81, 8\)"),
    ("induction", induction_in_place_backup, "a backup that adds into the rewards in place",
     "changed its argument `rewards` in place"),
    ("induction", induction_v_never_updated, "never updates V (every table is r + gamma * 0)",
     r"table t = 1 \(backed up from V\*_2.*values differ at index \(1, \d+, \d+, \d+\) \(t = 1, target"),
    ("induction", induction_max_over_states, "V = max over the canvases (dim 1)", "backward_induction raised"),
    ("induction", induction_discount_by_t, "discounts the reward by gamma^t instead of V by gamma",
     "values differ at index"),
    ("induction", induction_stack_forward_list, "builds the tables forwards and stacks them",
     "the tables are in the wrong order"),
]

CHECKS = {"backup": check_bellman_backup, "induction": check_backward_induction}
SOLUTIONS = {"backup": backup_solution, "induction": induction_solution}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_solution_passes(name, capsys):
    CHECKS[name](SOLUTIONS[name])
    assert capsys.readouterr().out.startswith("OK")


@pytest.mark.parametrize("check, wrong, mistake, phrase",
                         [pytest.param(CHECKS[c], w, m, p, id=w.__name__) for c, w, m, p in CATALOGUE])
def test_wrong_answer_fails_with_a_clear_message(check, wrong, mistake, phrase):
    with pytest.raises(CheckError, match=phrase):
        check(wrong)

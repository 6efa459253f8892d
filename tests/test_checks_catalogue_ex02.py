"""Catalogue of wrong answers to exercise 02 (Bellman backups, backward induction, Q-learning) that learners write.

Every entry must fail its check with a ``CheckError`` (never a raw exception) whose message holds
the key phrase; ``CATALOGUE`` lists them as ``(check name, wrong function, mistake, key phrase)``.
"""
import pytest
import torch

from dqngen_lib.checks import (CheckError, check_backward_induction, check_bellman_backup, check_q_learning_update,
                               check_slip_backup, check_slippery_q_learning)
from dqngen_lib.tabular import reachable


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


# -- the backup of a slipping hand ----------------------------------------------------------------
def slip_solution(rewards, next_state, v_next, gamma, slip):
    b = rewards + gamma * v_next[:, next_state]
    return (1 - slip) * b + slip * b.mean(dim=-1, keepdim=True)


def slip_ignored(rewards, next_state, v_next, gamma, slip):
    return rewards + gamma * v_next[:, next_state]


def slip_full_weight(rewards, next_state, v_next, gamma, slip):
    b = rewards + gamma * v_next[:, next_state]
    return b + slip * b.mean(dim=-1, keepdim=True)


def slip_swapped(rewards, next_state, v_next, gamma, slip):
    b = rewards + gamma * v_next[:, next_state]
    return slip * b + (1 - slip) * b.mean(dim=-1, keepdim=True)


def slip_excludes_chosen(rewards, next_state, v_next, gamma, slip):
    b = rewards + gamma * v_next[:, next_state]
    return (1 - slip) * b + slip * (b.sum(dim=-1, keepdim=True) - b) / (b.shape[-1] - 1)


def slip_reward_only(rewards, next_state, v_next, gamma, slip):
    r = (1 - slip) * rewards + slip * rewards.mean(dim=-1, keepdim=True)
    return r + gamma * v_next[:, next_state]


def slip_value_only(rewards, next_state, v_next, gamma, slip):
    v = v_next[:, next_state]
    return rewards + gamma * ((1 - slip) * v + slip * v.mean(dim=-1, keepdim=True))


def slip_max(rewards, next_state, v_next, gamma, slip):
    b = rewards + gamma * v_next[:, next_state]
    return (1 - slip) * b + slip * b.max(dim=-1, keepdim=True).values


def slip_mean_over_targets(rewards, next_state, v_next, gamma, slip):
    b = rewards + gamma * v_next[:, next_state]
    return (1 - slip) * b + slip * b.mean(dim=0, keepdim=True)


def slip_mean_over_canvases(rewards, next_state, v_next, gamma, slip):
    b = rewards + gamma * v_next[:, next_state]
    return (1 - slip) * b + slip * b.mean(dim=1, keepdim=True)


def slip_hardcoded(rewards, next_state, v_next, gamma, slip):
    return slip_solution(rewards, next_state, v_next, gamma, 0.3)


def slip_gamma_hardcoded(rewards, next_state, v_next, gamma, slip):
    return slip_solution(rewards, next_state, v_next, 0.9, slip)


def slip_gamma_missing(rewards, next_state, v_next, gamma, slip):
    return slip_solution(rewards, next_state, v_next, 1.0, slip)


def slip_current_canvas(rewards, next_state, v_next, gamma, slip):
    b = rewards + gamma * v_next[:, :, None]
    return (1 - slip) * b + slip * b.mean(dim=-1, keepdim=True)


def slip_in_place(rewards, next_state, v_next, gamma, slip):
    rewards.add_(gamma * v_next[:, next_state])
    return (1 - slip) * rewards + slip * rewards.mean(dim=-1, keepdim=True)


def slip_float32(rewards, next_state, v_next, gamma, slip):
    return slip_solution(rewards, next_state, v_next, gamma, slip).float()


def slip_mean_no_keepdim(rewards, next_state, v_next, gamma, slip):
    b = rewards + gamma * v_next[:, next_state]
    return (1 - slip) * b + slip * b.mean(dim=-1)


def slip_lesson_action_count(rewards, next_state, v_next, gamma, slip):
    b = rewards + gamma * v_next[:, next_state]
    return (1 - slip) * b + slip * b.sum(dim=-1, keepdim=True) / 9


# -- the Q-learning update ---------------------------------------------------------------------------
def update_solution(q, t, j, s, a, r, s_next, alpha, gamma):
    v_next = 0.0 if t == q.shape[0] - 1 else float(q[t + 1, j, s_next].max())
    td = r + gamma * v_next - float(q[t, j, s, a])
    q[t, j, s, a] += alpha * td
    return td


def _update(v_next_of, alpha_of=lambda alpha: alpha, gamma_of=lambda gamma: gamma, ret="td", sign=1.0):
    """A Q-learning update with one piece swapped for a mistake."""
    def fn(q, t, j, s, a, r, s_next, alpha, gamma):
        al, ga = alpha_of(alpha), gamma_of(gamma)
        old = float(q[t, j, s, a])
        y = r + ga * v_next_of(q, t, j, s, a, s_next)
        td = y - old
        q[t, j, s, a] += sign * al * td
        return {"td": td, "new": float(q[t, j, s, a]), "y": y, "change": al * td, "after": y - float(q[t, j, s, a]),
                "minus": -td, "none": None, "list": [td]}[ret]
    return fn


def _v(q, t, j, s, a, s_next):
    return 0.0 if t == q.shape[0] - 1 else float(q[t + 1, j, s_next].max())


update_no_terminal = _update(lambda q, t, j, s, a, s2: float(q[t + 1, j, s2].max()))
update_clamped = _update(lambda q, t, j, s, a, s2: float(q[min(t + 1, q.shape[0] - 1), j, s2].max()))
update_wraps = _update(lambda q, t, j, s, a, s2: float(q[(t + 1) % q.shape[0], j, s2].max()))
update_terminal_early = _update(lambda q, t, j, s, a, s2: 0.0 if t + 2 >= q.shape[0] else float(q[t + 1, j, s2].max()))
update_always_terminal = _update(lambda q, t, j, s, a, s2: 0.0)
update_gamma_hardcoded = _update(_v, gamma_of=lambda gamma: 0.9)
update_gamma_missing = _update(_v, gamma_of=lambda gamma: 1.0)
update_alpha_half = _update(_v, alpha_of=lambda alpha: 0.5)
update_alpha_one = _update(_v, alpha_of=lambda alpha: 1.0)
update_max_all_canvases = _update(lambda q, t, j, s, a, s2: 0.0 if t == q.shape[0] - 1 else float(q[t + 1, j].max()))
update_max_over_targets = _update(lambda q, t, j, s, a, s2: 0.0 if t == q.shape[0] - 1
                                  else float(q[t + 1, :, s2].max()))
update_current_table = _update(lambda q, t, j, s, a, s2: float(q[t, j, s2].max()))
update_current_canvas = _update(lambda q, t, j, s, a, s2: 0.0 if t == q.shape[0] - 1 else float(q[t + 1, j, s].max()))
update_sarsa = _update(lambda q, t, j, s, a, s2: 0.0 if t == q.shape[0] - 1 else float(q[t + 1, j, s2, a]))
update_mean = _update(lambda q, t, j, s, a, s2: 0.0 if t == q.shape[0] - 1 else float(q[t + 1, j, s2].mean()))
update_argmax = _update(lambda q, t, j, s, a, s2: 0.0 if t == q.shape[0] - 1 else float(q[t + 1, j, s2].argmax()))
update_sign_flipped = _update(_v, sign=-1.0)
update_returns_new_value = _update(_v, ret="new")
update_returns_target = _update(_v, ret="y")
update_returns_change = _update(_v, ret="change")
update_returns_td_after = _update(_v, ret="after")
update_returns_minus_td = _update(_v, ret="minus")
update_no_return = _update(_v, ret="none")
update_returns_list = _update(_v, ret="list")


def update_copy(q, t, j, s, a, r, s_next, alpha, gamma):
    q = q.clone()
    return update_solution(q, t, j, s, a, r, s_next, alpha, gamma)


def update_out_of_place(q, t, j, s, a, r, s_next, alpha, gamma):
    td = r + gamma * _v(q, t, j, s, a, s_next) - float(q[t, j, s, a])
    bump = torch.zeros_like(q)
    bump[t, j, s, a] = alpha * td
    q = q + bump
    return td


def update_float32(q, t, j, s, a, r, s_next, alpha, gamma):
    return update_solution(q.float(), t, j, s, a, r, s_next, alpha, gamma)


def update_whole_row(q, t, j, s, a, r, s_next, alpha, gamma):
    td = r + gamma * _v(q, t, j, s, a, s_next) - float(q[t, j, s, a])
    q[t, j, s] += alpha * td
    return td


def update_alpha_on_reward_only(q, t, j, s, a, r, s_next, alpha, gamma):
    old = float(q[t, j, s, a])
    q[t, j, s, a] = old + alpha * (r - old) + gamma * _v(q, t, j, s, a, s_next)
    return r + gamma * _v(q, t, j, s, a, s_next) - old


def update_overwrites(q, t, j, s, a, r, s_next, alpha, gamma):
    td = r + gamma * _v(q, t, j, s, a, s_next) - float(q[t, j, s, a])
    q[t, j, s, a] = r + gamma * _v(q, t, j, s, a, s_next)
    return td


def update_td_vector(q, t, j, s, a, r, s_next, alpha, gamma):
    v = torch.zeros(q.shape[-1], dtype=q.dtype) if t == q.shape[0] - 1 else q[t + 1, j, s_next]
    td = r + gamma * v - q[t, j, s, a]
    q[t, j, s, a] += alpha * float(td.max())
    return td


# -- Q-learning with a slipping hand -------------------------------------------------------------------
def _slippery(kind="ok"):
    def fn(mdp, episodes, alpha, seed):
        T, K, S, A = mdp.horizon, mdp.num_targets, mdp.num_states, mdp.num_actions
        q = torch.zeros(T, K, S, A, dtype=torch.float64)
        n = torch.zeros(T, K, S, A, dtype=torch.int64)
        g = torch.Generator().manual_seed(0 if kind == "fixed seed" else seed)
        on_board = [torch.nonzero(row).flatten().tolist() for row in reachable(mdp)]
        for _ in range(episodes):
            j = int(torch.randint(K, (1,), generator=g))
            t0 = int(torch.randint(T, (1,), generator=g))
            s = on_board[t0][int(torch.randint(len(on_board[t0]), (1,), generator=g))]
            for t in range(t0, T):
                a = int(torch.randint(A, (1,), generator=g))
                done = a
                if float(torch.rand(1, generator=g)) < mdp.slip and kind != "no slip":
                    done = int(torch.randint(A, (1,), generator=g))
                entry = done if kind == "carried out" else a
                n[t, j, s, entry] += 1
                step = {"alpha 1": 1.0, "alpha 0.5": 0.5, "ignores alpha": 0.1}.get(kind)
                if step is None:
                    step = 1.0 / int(n[t, j, s, entry]) if alpha is None else alpha
                update_solution(q, t, j, s, entry, float(mdp.rewards[j, s, done]), int(mdp.next_state[s, done]), step,
                                mdp.gamma)
                s = int(mdp.next_state[s, done])
        return {"float32": q.float(), "counts": n, "no return": None}.get(kind, q)
    fn.__name__ = "slippery_" + kind.replace(" ", "_").replace(".", "")
    return fn


slippery_solution = _slippery()

for _name, _fn in list(globals().items()):   # readable test ids for the functions built by _update
    if callable(_fn) and getattr(_fn, "__name__", None) == "fn":
        _fn.__name__ = _name


CATALOGUE = [
    ("slip", slip_ignored, "the slip ignored", "the slip is ignored"),
    ("slip", slip_full_weight, "B(a) + slip * mean", r"the chosen stroke keeps its full weight"),
    ("slip", slip_swapped, "slip and 1 - slip swapped", r"slip and \(1 - slip\) are swapped"),
    ("slip", slip_excludes_chosen, "the random stroke is never the chosen one",
     "the random stroke never is the chosen"),
    ("slip", slip_reward_only, "only the reward averaged", "only the reward is averaged"),
    ("slip", slip_value_only, "only V averaged", r"only V\(next canvas\) is averaged"),
    ("slip", slip_max, "max instead of mean", r"a slip takes the best stroke \(max"),
    ("slip", slip_mean_over_targets, "mean over the targets", r"the mean runs over the targets \(dim 0\)"),
    ("slip", slip_mean_over_canvases, "mean over the canvases", r"the mean runs over the canvases \(dim 1\)"),
    ("slip", slip_hardcoded, "slip hard-coded to the lesson's 0.3", "the result is what slip = 0.3"),
    ("slip", slip_gamma_hardcoded, "gamma hard-coded to 0.9", "the result is what gamma = 0.9 gives"),
    ("slip", slip_gamma_missing, "no gamma", "gamma is missing"),
    ("slip", slip_current_canvas, "V at the current canvas", "V is taken at the current canvas"),
    ("slip", slip_in_place, "adds into the rewards in place", "changed its argument `rewards` in place"),
    ("slip", slip_float32, "float32 result", "expected dtype torch.float64, got torch.float32"),
    ("slip", slip_mean_no_keepdim, "mean without keepdim", "slip_backup raised RuntimeError"),
    ("slip", slip_lesson_action_count, "divides by the lesson's 9 actions",
     r"values differ at index \(\d+, \d+, \d+\)"),
    ("update", update_no_terminal, "no terminal handling at t = T - 1", r"(?s)raised IndexError.*no table q\[T\]"),
    ("update", update_clamped, "bootstraps from q[T - 1] at the last step",
     r"the last step, nothing follows.*q\[T - 1\]"),
    ("update", update_wraps, "q[(t + 1) % T] wraps around", r"nothing follows.*\(q\[0\], wrapping around\)"),
    ("update", update_terminal_early, "t = T - 2 treated as the last step", "the target was the reward alone"),
    ("update", update_always_terminal, "never bootstraps", "the target was the reward alone"),
    ("update", update_gamma_hardcoded, "gamma hard-coded to 0.9", "as with gamma = 0.9"),
    ("update", update_gamma_missing, "no gamma", "gamma is missing"),
    ("update", update_alpha_half, "alpha hard-coded to 0.5", "as with alpha = 0.5"),
    ("update", update_alpha_one, "alpha hard-coded to 1", "overwritten with the target y"),
    ("update", update_max_all_canvases, "max over every canvas of q[t + 1, j]", "the max runs over every canvas"),
    ("update", update_max_over_targets, "max over the targets too", "the max runs over the targets too"),
    ("update", update_current_table, "the next canvas looked up in q[t]", r"the table of the current step, q\[t\]"),
    ("update", update_current_canvas, "V at the current canvas", "V was taken at the current canvas s"),
    ("update", update_sarsa, "Q(s_next, a): SARSA-like", "SARSA-like"),
    ("update", update_mean, "mean over the next actions", "bootstrapped from the mean over the next actions"),
    ("update", update_argmax, "argmax (an index) as the value", r"went from -?\d\.\d{4} to -?\d\.\d{4}, expected"),
    ("update", update_sign_flipped, "Q - alpha * delta", "the sign of the update is flipped"),
    ("update", update_returns_new_value, "returns the new value", "returned the updated entry"),
    ("update", update_returns_target, "returns y", "returned the target y"),
    ("update", update_returns_change, "returns alpha * delta", r"returned the change of the entry, alpha \* delta"),
    ("update", update_returns_td_after, "returns the TD error after the update", "measured after the update"),
    ("update", update_returns_minus_td, "returns Q - y", r"returned Q_t\(s, a\) - y"),
    ("update", update_no_return, "forgets to return", "returned None; .*forget to return"),
    ("update", update_returns_list, "returns [delta]", "expected a number .*got list"),
    ("update", update_copy, "updates a copy", "the table is unchanged.*update a copy"),
    ("update", update_out_of_place, "q = q + ... (out of place)", "the table is unchanged"),
    ("update", update_float32, "updates q.float()", "the table is unchanged"),
    ("update", update_whole_row, "adds to every action of the state", r"changed \d+ entries besides q\[1, 1, 5, 2\]"),
    ("update", update_alpha_on_reward_only, "alpha on r - Q only", "alpha multiplies only r - Q"),
    ("update", update_overwrites, "overwrites the entry with y", "overwritten with the target y"),
    ("update", update_td_vector, "TD errors of every next action", r"expected one number .*shape \(8,\)"),
    ("slippery", _slippery("no slip"), "the hand never slips", "approaches the Q\\* of a hand that never slips"),
    ("slippery", _slippery("carried out"), "updates the entry of the stroke carried out",
     "approaches the Q\\* of a hand that never slips"),
    ("slippery", _slippery("alpha 1"), "alpha = 1 whatever alpha says", r"far from the Q\* of the slipping hand"),
    ("slippery", _slippery("alpha 0.5"), "a constant alpha = 0.5", r"far from the Q\* of the slipping hand"),
    ("slippery", _slippery("ignores alpha"), "a constant 0.1 whatever alpha says", "the alpha argument is ignored"),
    ("slippery", _slippery("fixed seed"), "seeds with 0 whatever seed says", "the seed argument is ignored"),
    ("slippery", _slippery("float32"), "a float32 table", "expected dtype torch.float64, got torch.float32"),
    ("slippery", _slippery("counts"), "returns the counts", "expected dtype torch.float64, got torch.int64"),
    ("slippery", _slippery("no return"), "forgets to return", "got NoneType .*forget to return"),
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

CHECKS = {"backup": check_bellman_backup, "induction": check_backward_induction, "slip": check_slip_backup,
          "update": check_q_learning_update, "slippery": check_slippery_q_learning}
SOLUTIONS = {"backup": backup_solution, "induction": induction_solution, "slip": slip_solution,
             "update": update_solution, "slippery": slippery_solution}


def stub(*args, **kwargs):
    raise NotImplementedError("exercise: replace this line with your code")


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_stub_fails(name):
    with pytest.raises(CheckError, match="not implemented yet"):
        CHECKS[name](stub)


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_solution_passes(name, capsys):
    CHECKS[name](SOLUTIONS[name])
    assert capsys.readouterr().out.startswith("OK")


@pytest.mark.parametrize("check, wrong, mistake, phrase",
                         [pytest.param(CHECKS[c], w, m, p, id=w.__name__) for c, w, m, p in CATALOGUE])
def test_wrong_answer_fails_with_a_clear_message(check, wrong, mistake, phrase):
    with pytest.raises(CheckError, match=phrase):
        check(wrong)

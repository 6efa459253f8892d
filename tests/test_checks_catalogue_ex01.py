"""Catalogue of wrong answers to exercise 01 (reward, pixel transition) that learners really write.

Every entry must fail its check with a ``CheckError`` (never a raw exception) whose message holds
the key phrase; ``CATALOGUE`` lists them as ``(check name, wrong function, mistake, key phrase)``.
"""
import numpy as np
import pytest
import torch

from dqngen_lib.checks import CheckError, check_pixel_transition, check_reconstruction_reward


# -- the solutions (as in solutions/01_mdp.ipynb) ---------------------------------------------------
def reward_solution(prev, new, target):
    err_prev = (prev - target).pow(2).flatten(1).sum(1)
    err_new = (new - target).pow(2).flatten(1).sum(1)
    return (err_prev - err_new) / target.pow(2).flatten(1).sum(1)


def transition_solution(canvas, actions, ink):
    n, h, w = canvas.shape
    new = canvas.clone().reshape(n, h * w)
    new[torch.arange(n), actions % (h * w)] = ink[actions // (h * w) + 1]
    return new.reshape(n, h, w)


def _sq(x):
    return x.pow(2).flatten(1).sum(1)


# -- wrong rewards ------------------------------------------------------------------------------------
def reward_clamped(prev, new, target):
    return reward_solution(prev, new, target).clamp_min(0.0)


def reward_relu(prev, new, target):
    return torch.relu(reward_solution(prev, new, target))


def reward_in_place(prev, new, target):
    prev -= target
    new -= target
    return (_sq(prev) - _sq(new)) / _sq(target)


def reward_float64(prev, new, target):
    return reward_solution(prev.double(), new.double(), target.double())


def reward_hardcoded_8x8(prev, new, target):
    p, n, t = prev.reshape(-1, 64), new.reshape(-1, 64), target.reshape(-1, 64)
    return ((p - t).pow(2).sum(1) - (n - t).pow(2).sum(1)) / t.pow(2).sum(1)


def reward_batch_total(prev, new, target):
    return reward_solution(prev, new, target).sum()


def reward_norm_not_squared(prev, new, target):
    return (_sq(prev - target) - _sq(new - target)) / target.flatten(1).norm(dim=1)


def reward_mean_numerator(prev, new, target):
    e = (prev - target).pow(2).flatten(1).mean(1) - (new - target).pow(2).flatten(1).mean(1)
    return e / _sq(target)


def reward_numpy(prev, new, target):
    return reward_solution(prev, new, target).numpy()


def reward_list(prev, new, target):
    return [float(r) for r in reward_solution(prev, new, target)]


def reward_over_prev_error(prev, new, target):
    return (_sq(prev - target) - _sq(new - target)) / _sq(prev - target)


def reward_squeezed(prev, new, target):
    return reward_solution(prev, new, target).squeeze()


def reward_over_new_norm(prev, new, target):
    return (_sq(prev - target) - _sq(new - target)) / _sq(new).clamp_min(1e-8)


def reward_changed_pixels_only(prev, new, target):
    changed = (prev != new).float()
    return (_sq((prev - target) * changed) - _sq((new - target) * changed)) / _sq(target * changed).clamp_min(1e-8)


def reward_no_batch_dim(prev, new, target):
    return (((prev - target) ** 2).sum() - ((new - target) ** 2).sum()) / (target ** 2).sum()


# -- wrong transitions --------------------------------------------------------------------------------
def transition_max(canvas, actions, ink):
    n, h, w = canvas.shape
    new = canvas.clone().reshape(n, h * w)
    idx = torch.arange(n), actions % (h * w)
    new[idx] = torch.maximum(new[idx], ink[actions // (h * w) + 1])
    return new.reshape(n, h, w)


def transition_hardcoded_three_inks(canvas, actions, ink):
    return transition_solution(canvas, actions, torch.tensor([0.0, 0.5, 1.0]))


def transition_ink_from_level(canvas, actions, ink):
    n, h, w = canvas.shape
    new = canvas.clone().reshape(n, h * w)
    new[torch.arange(n), actions % (h * w)] = (actions // (h * w) + 1).float() / (len(ink) - 1)
    return new.reshape(n, h, w)


def transition_square_assumption(canvas, actions, ink):
    n, h, _ = canvas.shape
    new = canvas.clone().reshape(n, -1)
    new[torch.arange(n), actions % (h * h)] = ink[actions // (h * h) + 1]
    return new.reshape(canvas.shape)


def transition_hardcoded_64(canvas, actions, ink):
    n = canvas.shape[0]
    new = canvas.clone().reshape(n, -1)
    new[torch.arange(n), actions % 64] = ink[actions // 64 + 1]
    return new.reshape(canvas.shape)


def transition_float64(canvas, actions, ink):
    n, h, w = canvas.shape
    onehot = torch.nn.functional.one_hot(actions % (h * w), h * w).bool()
    value = ink.double()[actions // (h * w) + 1][:, None]
    return torch.where(onehot, value, canvas.reshape(n, h * w).double()).reshape(n, h, w)


def transition_from_blank(canvas, actions, ink):
    n, h, w = canvas.shape
    new = torch.zeros(n, h * w)
    new[torch.arange(n), actions % (h * w)] = ink[actions // (h * w) + 1]
    return new.reshape(n, h, w)


def transition_first_action_only(canvas, actions, ink):
    n, h, w = canvas.shape
    new = canvas.clone().reshape(n, h * w)
    new[:, actions[0] % (h * w)] = ink[actions[0] // (h * w) + 1]
    return new.reshape(n, h, w)


def transition_all_rows_all_pixels(canvas, actions, ink):
    n, h, w = canvas.shape
    new = canvas.clone().reshape(n, h * w)
    new[:, actions % (h * w)] = ink[actions // (h * w) + 1]
    return new.reshape(n, h, w)


def transition_mutates_actions(canvas, actions, ink):
    n, h, w = canvas.shape
    level = actions // (h * w) + 1
    actions %= h * w
    new = canvas.clone().reshape(n, h * w)
    new[torch.arange(n), actions] = ink[level]
    return new.reshape(n, h, w)


def transition_flat(canvas, actions, ink):
    return transition_solution(canvas, actions, ink).flatten(1)


def transition_in_place_returns_copy(canvas, actions, ink):
    n, h, w = canvas.shape
    canvas.view(n, h * w)[torch.arange(n), actions % (h * w)] = ink[actions // (h * w) + 1]
    return canvas.clone()


def transition_numpy(canvas, actions, ink):
    return transition_solution(canvas, actions, ink).numpy()






def reward_no_return(prev, new, target):
    reward_solution(prev, new, target)


CATALOGUE = [
    ("reward", reward_clamped, "reward clamped at >= 0", "clamped at 0"),
    ("reward", reward_relu, "reward passed through relu", "clamped at 0"),
    ("reward", reward_in_place, "subtracts the target from the canvases in place",
     "changed its argument `prev_canvas` in place"),
    ("reward", reward_float64, "computes in float64", "expected dtype torch.float32, got torch.float64"),
    ("reward", reward_hardcoded_8x8, "hard-codes 8x8 canvases (reshape(-1, 64))",
     r"(?s)reconstruction_reward raised RuntimeError.*called with prev_canvas=tensor \(6, 4, 4\)"),
    ("reward", reward_batch_total, "sums the rewards of the batch", r"expected shape \(6,\), got \(\)"),
    ("reward", reward_norm_not_squared, "divides by ||target||", r"instead of \|\|target\|\|\^2"),
    ("reward", reward_mean_numerator, "mean of the errors over the sum of the norm",
     r"values differ at index \d+: expected -?\d\.\d{4}, got -?\d\.\d{4} \(\d+ of 6 values differ\)"),
    ("reward", reward_numpy, "returns a NumPy array", "expected a torch.Tensor, got numpy.ndarray"),
    ("reward", reward_list, "returns a list of floats", "expected a torch.Tensor, got list"),
    ("reward", reward_over_prev_error, "divides by the error before the action", "values differ at index"),
    ("reward", reward_squeezed, "squeezes away the batch of one", r"expected shape \(1,\), got \(\)"),
    ("reward", reward_over_new_norm, "divides by ||new canvas||^2", "values differ at index"),
    ("reward", reward_changed_pixels_only, "normalises by the changed pixels of the target only",
     "values differ at index"),
    ("reward", reward_no_batch_dim, "one reward for the whole batch", r"expected shape \(6,\)"),
    ("reward", reward_no_return, "forgets to return", "got NoneType .*forget to return"),
    ("transition", transition_max, "max(old, ink) instead of overwriting", "larger of its old value"),
    ("transition", transition_hardcoded_three_inks, "ignores ink: hard-codes [0, 0.5, 1]",
     r"as for 3 ink levels \[0, 0.5, 1\]; expected the values of the ink argument"),
    ("transition", transition_ink_from_level, "ink = level / (L - 1) instead of ink[level]",
     r"came out as k / 2 for level k; expected the values of the ink argument"),
    ("transition", transition_square_assumption, "assumes square canvases (h * h)",
     "pixel_transition raised IndexError"),
    ("transition", transition_hardcoded_64, "hard-codes 64 pixels", r"pixel_transition raised IndexError"),
    ("transition", transition_float64, "returns float64", "expected dtype torch.float32, got torch.float64"),
    ("transition", transition_from_blank, "paints on a blank canvas instead of a copy",
     r"values differ at index \(\d, \d, \d\).*this one stays as it was"),
    ("transition", transition_first_action_only, "applies the first action to every canvas",
     "values differ at index"),
    ("transition", transition_all_rows_all_pixels, "indexes every row with every action's pixel",
     "values differ at index"),
    ("transition", transition_mutates_actions, "actions %= H*W in place", "changed its argument `actions` in place"),
    ("transition", transition_flat, "returns (N, H*W)", r"expected shape \(5, 3, 4\), got \(5, 12\)"),
    ("transition", transition_in_place_returns_copy, "paints the input, returns a copy",
     "changed its argument `canvas` in place"),
    ("transition", transition_numpy, "returns a NumPy array", "expected a torch.Tensor, got numpy.ndarray"),
]

CHECKS = {"reward": check_reconstruction_reward, "transition": check_pixel_transition}
SOLUTIONS = {"reward": reward_solution, "transition": transition_solution}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_solution_passes(name, capsys):
    CHECKS[name](SOLUTIONS[name])
    assert capsys.readouterr().out.startswith("OK")


@pytest.mark.parametrize("check, wrong, mistake, phrase",
                         [pytest.param(CHECKS[c], w, m, p, id=w.__name__) for c, w, m, p in CATALOGUE])
def test_wrong_answer_fails_with_a_clear_message(check, wrong, mistake, phrase):
    with pytest.raises(CheckError, match=phrase):
        check(wrong)


def test_numpy_is_used():  # keep the import honest (reward_numpy and transition_numpy return ndarrays)
    assert isinstance(reward_numpy(torch.zeros(1, 2, 2), torch.zeros(1, 2, 2), torch.ones(1, 2, 2)), np.ndarray)

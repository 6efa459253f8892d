"""Exercise 01's checks fail on the stub and on plausible wrong answers, and pass on the solution."""
import pytest
import torch

from dqngen_lib.checks import CheckError, check_pixel_transition, check_reconstruction_reward


def stub(*args):
    raise NotImplementedError("exercise: replace this line with your code")


# --- the solutions (as in solutions/01_mdp.ipynb) ---
def reward_solution(prev, new, target):
    err_prev = (prev - target).pow(2).flatten(1).sum(1)
    err_new = (new - target).pow(2).flatten(1).sum(1)
    return (err_prev - err_new) / target.pow(2).flatten(1).sum(1)


def transition_solution(canvas, actions, ink):
    n, h, w = canvas.shape
    new = canvas.clone().reshape(n, h * w)
    new[torch.arange(n), actions % (h * w)] = ink[actions // (h * w) + 1]
    return new.reshape(n, h, w)


# --- plausible wrong answers ---
def reward_unnormalised(prev, new, target):
    return (prev - target).pow(2).flatten(1).sum(1) - (new - target).pow(2).flatten(1).sum(1)


def reward_sign_flipped(prev, new, target):
    return -reward_solution(prev, new, target)


def reward_absolute_error(prev, new, target):
    return ((prev - target).abs().flatten(1).sum(1) - (new - target).abs().flatten(1).sum(1)) / \
        target.pow(2).flatten(1).sum(1)


def reward_new_error_only(prev, new, target):
    return -(new - target).pow(2).flatten(1).sum(1) / target.pow(2).flatten(1).sum(1)


def transition_in_place(canvas, actions, ink):
    n, h, w = canvas.shape
    flat = canvas.view(n, h * w)
    flat[torch.arange(n), actions % (h * w)] = ink[actions // (h * w) + 1]
    return canvas


def transition_level_off_by_one(canvas, actions, ink):
    n, h, w = canvas.shape
    new = canvas.clone().reshape(n, h * w)
    new[torch.arange(n), actions % (h * w)] = ink[actions // (h * w)]
    return new.reshape(n, h, w)


def transition_column_major(canvas, actions, ink):
    n, h, w = canvas.shape
    new = canvas.clone()
    p = actions % (h * w)
    rows, cols = p % h, p // h
    new[torch.arange(n), rows, cols] = ink[actions // (h * w) + 1]
    return new


def transition_adds_ink(canvas, actions, ink):
    n, h, w = canvas.shape
    new = canvas.clone().reshape(n, h * w)
    idx = torch.arange(n), actions % (h * w)
    new[idx] = new[idx] + ink[actions // (h * w) + 1]
    return new.reshape(n, h, w)


def test_reward_check_passes_on_solution(capsys):
    check_reconstruction_reward(reward_solution)
    assert capsys.readouterr().out.startswith("OK")


def test_transition_check_passes_on_solution(capsys):
    check_pixel_transition(transition_solution)
    assert capsys.readouterr().out.startswith("OK")


@pytest.mark.parametrize("check", [check_reconstruction_reward, check_pixel_transition])
def test_checks_fail_on_stub(check):
    with pytest.raises(CheckError, match="not implemented yet"):
        check(stub)


REWARD_WRONG = [
    (reward_unnormalised, "not divided by \\|\\|target\\|\\|\\^2"),
    (reward_sign_flipped, "the sign is flipped"),
    (reward_absolute_error, r"values differ at index \d+: expected"),
    (reward_new_error_only, "only the error after the action is used"),
]
TRANSITION_WRONG = [
    (transition_in_place, "changed its argument `canvas` in place"),
    (transition_level_off_by_one, r"action 0 paints this pixel with ink\[1\] = 0.5000\]: expected 0.5000, got 0.0000"),
    (transition_column_major, r"values differ at index \(1, 1, 1\)"),
    (transition_adds_ink, "expected 0.5000, got 1.5000"),
]
CATALOGUE = [("reward", f, f.__name__, p) for f, p in REWARD_WRONG] + \
    [("transition", f, f.__name__, p) for f, p in TRANSITION_WRONG]
CHECKS = {"reward": check_reconstruction_reward, "transition": check_pixel_transition}


@pytest.mark.parametrize("wrong, phrase", REWARD_WRONG)
def test_reward_check_fails_on_wrong_answers(wrong, phrase):
    with pytest.raises(CheckError, match=phrase):
        check_reconstruction_reward(wrong)


@pytest.mark.parametrize("wrong, phrase", TRANSITION_WRONG)
def test_transition_check_fails_on_wrong_answers(wrong, phrase):
    with pytest.raises(CheckError, match=phrase):
        check_pixel_transition(wrong)

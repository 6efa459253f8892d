"""Exercise 05 checks: fail on the stub and on plausible wrong answers, pass on the solution."""
import pytest
import torch
from torch.nn import functional as F

from dqngen_lib.checks import CheckError, check_double_dqn_targets, check_dqn_loss


# -- the solutions (as in solutions/05_dqn_training.ipynb) --------------------------------------

def targets_solution(qnet, target_net, rewards, next_obs, terminated, gamma):
    with torch.no_grad():
        a_star = qnet(next_obs).argmax(dim=1, keepdim=True)
        v_next = target_net(next_obs).gather(1, a_star).squeeze(1)
        return rewards + gamma * (1.0 - terminated) * v_next


def loss_solution(qnet, target_net, batch, gamma):
    q = qnet(batch.obs).gather(1, batch.actions[:, None]).squeeze(1)
    y = targets_solution(qnet, target_net, batch.rewards, batch.next_obs, batch.terminated, gamma)
    return F.smooth_l1_loss(q, y)


def stub(*args):
    raise NotImplementedError("exercise: replace this line with your code")


# -- wrong targets --------------------------------------------------------------------------------

def targets_no_terminal(qnet, target_net, rewards, next_obs, terminated, gamma):
    with torch.no_grad():
        a_star = qnet(next_obs).argmax(dim=1, keepdim=True)
        return rewards + gamma * target_net(next_obs).gather(1, a_star).squeeze(1)


def targets_plain_max(qnet, target_net, rewards, next_obs, terminated, gamma):
    with torch.no_grad():
        return rewards + gamma * (1.0 - terminated) * target_net(next_obs).max(dim=1).values


def targets_swapped(qnet, target_net, rewards, next_obs, terminated, gamma):
    with torch.no_grad():
        a_star = target_net(next_obs).argmax(dim=1, keepdim=True)
        return rewards + gamma * (1.0 - terminated) * qnet(next_obs).gather(1, a_star).squeeze(1)


def targets_with_grad(qnet, target_net, rewards, next_obs, terminated, gamma):
    a_star = qnet(next_obs).argmax(dim=1, keepdim=True)
    return rewards + gamma * (1.0 - terminated) * target_net(next_obs).gather(1, a_star).squeeze(1)


# -- wrong losses ---------------------------------------------------------------------------------

def loss_grad_into_target(qnet, target_net, batch, gamma):
    q = qnet(batch.obs).gather(1, batch.actions[:, None]).squeeze(1)
    y = targets_with_grad(qnet, target_net, batch.rewards, batch.next_obs, batch.terminated, gamma)
    return F.smooth_l1_loss(q, y)


def loss_no_terminal(qnet, target_net, batch, gamma):
    q = qnet(batch.obs).gather(1, batch.actions[:, None]).squeeze(1)
    y = targets_no_terminal(qnet, target_net, batch.rewards, batch.next_obs, batch.terminated, gamma)
    return F.smooth_l1_loss(q, y)


def loss_plain_max(qnet, target_net, batch, gamma):
    q = qnet(batch.obs).gather(1, batch.actions[:, None]).squeeze(1)
    y = targets_plain_max(qnet, target_net, batch.rewards, batch.next_obs, batch.terminated, gamma)
    return F.smooth_l1_loss(q, y)


def loss_mse(qnet, target_net, batch, gamma):
    q = qnet(batch.obs).gather(1, batch.actions[:, None]).squeeze(1)
    y = targets_solution(qnet, target_net, batch.rewards, batch.next_obs, batch.terminated, gamma)
    return F.mse_loss(q, y)


def loss_online_only_with_grad(qnet, target_net, batch, gamma):
    """No target network and no no_grad: bootstraps from the online network, gradient through y."""
    q = qnet(batch.obs).gather(1, batch.actions[:, None]).squeeze(1)
    y = batch.rewards + gamma * (1.0 - batch.terminated) * qnet(batch.next_obs).max(dim=1).values
    return F.smooth_l1_loss(q, y)


def test_targets_solution_passes(capsys):
    check_double_dqn_targets(targets_solution)
    assert capsys.readouterr().out.startswith("OK")


def test_targets_stub_fails():
    with pytest.raises(CheckError, match="not implemented"):
        check_double_dqn_targets(stub)


TARGETS_WRONG = [
    (targets_no_terminal, r"the \(1 - terminated\) factor is missing"),
    (targets_plain_max, "plain DQN"),
    (targets_swapped, "the networks are swapped"),
    (targets_with_grad, r"the targets carry a gradient \(requires_grad=True\)"),
]
LOSS_WRONG = [
    (loss_grad_into_target, "gradients flowed into the target network"),
    (loss_no_terminal, r"the \(1 - terminated\) factor is missing"),
    (loss_plain_max, "plain DQN"),
    (loss_mse, "Huber"),
    (loss_online_only_with_grad, "bootstrapped from the online network alone"),
]
CHECKS = {"targets": check_double_dqn_targets, "loss": check_dqn_loss}
CATALOGUE = [("targets", f, f.__name__, p) for f, p in TARGETS_WRONG] + \
    [("loss", f, f.__name__, p) for f, p in LOSS_WRONG]


@pytest.mark.parametrize("fn, words", TARGETS_WRONG)
def test_targets_wrong_answers_fail(fn, words):
    with pytest.raises(CheckError, match=words):
        check_double_dqn_targets(fn)


def test_loss_solution_passes(capsys):
    check_dqn_loss(loss_solution)
    assert capsys.readouterr().out.startswith("OK")


def test_loss_stub_fails():
    with pytest.raises(CheckError, match="not implemented"):
        check_dqn_loss(stub)


@pytest.mark.parametrize("fn, words", LOSS_WRONG)
def test_loss_wrong_answers_fail(fn, words):
    with pytest.raises(CheckError, match=words):
        check_dqn_loss(fn)


def test_library_loss_passes_its_own_check():
    from dqngen_lib.agent import dqn_loss, dqn_targets

    check_double_dqn_targets(lambda q, t, r, n, d, g: dqn_targets(t, r, n, d, g, online_net=q))
    check_dqn_loss(lambda q, t, b, g: dqn_loss(q, t, b, g, double=True, loss="huber"))

"""Catalogue of wrong answers to exercise 05 (n-step and Double DQN targets, TD loss) that learners really write.

Every entry must fail its check with a ``CheckError`` (never a raw exception) whose message holds
the key phrase; ``CATALOGUE`` lists them as ``(check name, wrong function, mistake, key phrase)``.
"""
import warnings

import pytest
import torch
from torch.nn import functional as F

from dqngen_lib.checks import CheckError, check_double_dqn_targets, check_dqn_loss, check_n_step_targets


# -- the solutions (as in solutions/05_dqn_training.ipynb) -----------------------------------------
def targets_solution(qnet, target_net, rewards, next_obs, terminated, gamma):
    with torch.no_grad():
        a_star = qnet(next_obs).argmax(dim=1, keepdim=True)
        v_next = target_net(next_obs).gather(1, a_star).squeeze(1)
        return rewards + gamma * (1.0 - terminated) * v_next


def loss_solution(qnet, target_net, batch, gamma):
    q = qnet(batch.obs).gather(1, batch.actions[:, None]).squeeze(1)
    y = targets_solution(qnet, target_net, batch.rewards, batch.next_obs, batch.terminated, gamma)
    return F.smooth_l1_loss(q, y)


def _v(qnet, target_net, next_obs):
    a_star = qnet(next_obs).argmax(dim=1, keepdim=True)
    return target_net(next_obs).gather(1, a_star).squeeze(1)


def _q(qnet, batch):
    return qnet(batch.obs).gather(1, batch.actions[:, None]).squeeze(1)


# -- wrong targets ------------------------------------------------------------------------------------
def targets_gamma_hardcoded(qnet, target_net, rewards, next_obs, terminated, gamma):
    return targets_solution(qnet, target_net, rewards, next_obs, terminated, 0.9)


def targets_in_place_rewards(qnet, target_net, rewards, next_obs, terminated, gamma):
    with torch.no_grad():
        rewards += gamma * (1.0 - terminated) * _v(qnet, target_net, next_obs)
        return rewards


def targets_in_place_terminated(qnet, target_net, rewards, next_obs, terminated, gamma):
    with torch.no_grad():
        keep = terminated.mul_(-1.0).add_(1.0)
        return rewards + gamma * keep * _v(qnet, target_net, next_obs)


def targets_no_squeeze(qnet, target_net, rewards, next_obs, terminated, gamma):
    with torch.no_grad():
        a_star = qnet(next_obs).argmax(dim=1, keepdim=True)
        return rewards + gamma * (1.0 - terminated) * target_net(next_obs).gather(1, a_star)


def targets_reward_masked(qnet, target_net, rewards, next_obs, terminated, gamma):
    with torch.no_grad():
        return (rewards + gamma * _v(qnet, target_net, next_obs)) * (1.0 - terminated)


def targets_terminal_inverted(qnet, target_net, rewards, next_obs, terminated, gamma):
    with torch.no_grad():
        return rewards + gamma * terminated * _v(qnet, target_net, next_obs)


def targets_float64(qnet, target_net, rewards, next_obs, terminated, gamma):
    return targets_solution(qnet, target_net, rewards, next_obs, terminated, gamma).double()


def targets_syncs_networks(qnet, target_net, rewards, next_obs, terminated, gamma):
    target_net.load_state_dict(qnet.state_dict())
    return targets_solution(qnet, target_net, rewards, next_obs, terminated, gamma)


def targets_gamma_missing(qnet, target_net, rewards, next_obs, terminated, gamma):
    with torch.no_grad():
        return rewards + (1.0 - terminated) * _v(qnet, target_net, next_obs)


def targets_online_only(qnet, target_net, rewards, next_obs, terminated, gamma):
    with torch.no_grad():
        return rewards + gamma * (1.0 - terminated) * qnet(next_obs).max(dim=1).values


def targets_list(qnet, target_net, rewards, next_obs, terminated, gamma):
    return [float(y) for y in targets_solution(qnet, target_net, rewards, next_obs, terminated, gamma)]


def targets_numpy(qnet, target_net, rewards, next_obs, terminated, gamma):
    return targets_solution(qnet, target_net, rewards, next_obs, terminated, gamma).numpy()




def targets_discount_squared(qnet, target_net, rewards, next_obs, terminated, gamma):
    with torch.no_grad():
        return rewards + gamma ** 2 * (1.0 - terminated) * _v(qnet, target_net, next_obs)


# -- wrong losses -------------------------------------------------------------------------------------
def loss_gamma_hardcoded(qnet, target_net, batch, gamma):
    return loss_solution(qnet, target_net, batch, 0.9)


def loss_sum(qnet, target_net, batch, gamma):
    y = targets_solution(qnet, target_net, batch.rewards, batch.next_obs, batch.terminated, gamma)
    return F.smooth_l1_loss(_q(qnet, batch), y, reduction="sum")


def loss_max_q(qnet, target_net, batch, gamma):
    y = targets_solution(qnet, target_net, batch.rewards, batch.next_obs, batch.terminated, gamma)
    return F.smooth_l1_loss(qnet(batch.obs).max(dim=1).values, y)


def loss_no_squeeze(qnet, target_net, batch, gamma):
    y = targets_solution(qnet, target_net, batch.rewards, batch.next_obs, batch.terminated, gamma)
    with warnings.catch_warnings():  # torch warns about the broadcast; learners overlook it
        warnings.simplefilter("ignore")
        return F.smooth_l1_loss(qnet(batch.obs).gather(1, batch.actions[:, None]), y)


def loss_item(qnet, target_net, batch, gamma):
    return loss_solution(qnet, target_net, batch, gamma).item()


def loss_calls_backward(qnet, target_net, batch, gamma):
    loss = loss_solution(qnet, target_net, batch, gamma)
    loss.backward(retain_graph=True)
    return loss


def loss_optimizer_step(qnet, target_net, batch, gamma):
    opt = torch.optim.SGD(qnet.parameters(), lr=0.1)
    loss = loss_solution(qnet, target_net, batch, gamma)
    opt.zero_grad()
    loss.backward(retain_graph=True)
    opt.step()
    return loss


def loss_clips_rewards_in_place(qnet, target_net, batch, gamma):
    batch.rewards.clamp_(-1.0, 1.0)
    return loss_solution(qnet, target_net, batch, gamma)


def loss_next_obs(qnet, target_net, batch, gamma):
    y = targets_solution(qnet, target_net, batch.rewards, batch.next_obs, batch.terminated, gamma)
    return F.smooth_l1_loss(qnet(batch.next_obs).gather(1, batch.actions[:, None]).squeeze(1), y)


def loss_all_no_grad(qnet, target_net, batch, gamma):
    with torch.no_grad():
        return loss_solution(qnet, target_net, batch, gamma)


def loss_swapped_networks(qnet, target_net, batch, gamma):
    with torch.no_grad():
        a_star = target_net(batch.next_obs).argmax(dim=1, keepdim=True)
        y = batch.rewards + gamma * (1.0 - batch.terminated) * qnet(batch.next_obs).gather(1, a_star).squeeze(1)
    return F.smooth_l1_loss(_q(qnet, batch), y)


def loss_float64(qnet, target_net, batch, gamma):
    y = targets_solution(qnet, target_net, batch.rewards, batch.next_obs, batch.terminated, gamma)
    return F.smooth_l1_loss(_q(qnet, batch).double(), y.double())


def loss_per_sample(qnet, target_net, batch, gamma):
    y = targets_solution(qnet, target_net, batch.rewards, batch.next_obs, batch.terminated, gamma)
    return F.smooth_l1_loss(_q(qnet, batch), y, reduction="none")


def loss_target_net_for_q(qnet, target_net, batch, gamma):
    y = targets_solution(qnet, target_net, batch.rewards, batch.next_obs, batch.terminated, gamma)
    return F.smooth_l1_loss(target_net(batch.obs).gather(1, batch.actions[:, None]).squeeze(1), y)




def loss_abs_error(qnet, target_net, batch, gamma):
    y = targets_solution(qnet, target_net, batch.rewards, batch.next_obs, batch.terminated, gamma)
    return (_q(qnet, batch) - y).abs().mean()


def loss_no_return(qnet, target_net, batch, gamma):
    loss_solution(qnet, target_net, batch, gamma)


# -- n-step targets ----------------------------------------------------------------------------------
def nstep_solution(qnet, target_net, rewards, dones, next_obs, gamma):
    b, n = rewards.shape
    alive = torch.ones(b)
    y = torch.zeros(b)
    for k in range(n):
        y = y + gamma ** k * alive * rewards[:, k]
        alive = alive * (1.0 - dones[:, k])
    return y + gamma ** n * alive * _v(qnet, target_net, next_obs).detach()


def _nstep(reward_mask="alive", boot_mask="alive", boot_power=None, power0=0, discount=True, value=None, ret=None):
    """An n-step target with one piece swapped for a mistake."""
    def fn(qnet, target_net, rewards, dones, next_obs, gamma):
        b, n = rewards.shape
        alive, y = torch.ones(b), torch.zeros(b)
        for k in range(n):
            weight = {"alive": alive, "none": 1.0, "inclusive": alive * (1.0 - dones[:, k])}[reward_mask]
            y = y + (gamma ** (k + power0) if discount else 1.0) * weight * rewards[:, k]
            alive = alive * (1.0 - dones[:, k])
        cut = {"alive": alive, "none": 1.0, "last": 1.0 - dones[:, -1]}[boot_mask]
        with torch.no_grad():
            v = (value or _v)(qnet, target_net, next_obs)
        out = y + gamma ** (n if boot_power is None else boot_power(n)) * cut * v
        return out if ret is None else ret(out)
    return fn


def _plain(qnet, target_net, next_obs):
    return target_net(next_obs).max(dim=1).values


def _swapped(qnet, target_net, next_obs):
    return qnet(next_obs).gather(1, target_net(next_obs).argmax(dim=1, keepdim=True)).squeeze(1)


def _online(qnet, target_net, next_obs):
    return qnet(next_obs).max(dim=1).values


nstep_rewards_after_end = _nstep(reward_mask="none")
nstep_bootstrap_not_cut = _nstep(boot_mask="none")
nstep_last_flag_only = _nstep(reward_mask="none", boot_mask="last")
nstep_drops_last_reward = _nstep(reward_mask="inclusive")
nstep_boot_power_n_minus_1 = _nstep(boot_power=lambda n: n - 1)
nstep_boot_power_n_plus_1 = _nstep(boot_power=lambda n: n + 1)
nstep_undiscounted = _nstep(discount=False)
nstep_first_discounted = _nstep(power0=1)
nstep_plain = _nstep(value=_plain)
nstep_swapped = _nstep(value=_swapped)
nstep_online = _nstep(value=_online)
nstep_no_squeeze = _nstep(ret=lambda y: y[:, None])
nstep_float64 = _nstep(ret=lambda y: y.double())


def nstep_first_reward_only(qnet, target_net, rewards, dones, next_obs, gamma):
    return rewards[:, 0] + gamma * (1.0 - dones[:, 0]) * _v(qnet, target_net, next_obs).detach()


def nstep_gamma_hardcoded(qnet, target_net, rewards, dones, next_obs, gamma):
    return nstep_solution(qnet, target_net, rewards, dones, next_obs, 0.9)


def nstep_n_hardcoded(qnet, target_net, rewards, dones, next_obs, gamma):
    return nstep_solution(qnet, target_net, rewards[:, :3], dones[:, :3], next_obs, gamma)


def nstep_gamma_missing_in_bootstrap(qnet, target_net, rewards, dones, next_obs, gamma):
    y = nstep_solution(qnet, target_net, rewards, dones, next_obs, gamma)
    alive = torch.prod(1.0 - dones, dim=1)
    v = _v(qnet, target_net, next_obs).detach()
    return y - gamma ** rewards.shape[1] * alive * v + alive * v


def nstep_with_grad(qnet, target_net, rewards, dones, next_obs, gamma):
    b, n = rewards.shape
    discounts = gamma ** torch.arange(n, dtype=torch.float32)
    alive = torch.cumprod(torch.cat([torch.ones(b, 1), 1.0 - dones], dim=1), dim=1)
    return (discounts * alive[:, :n] * rewards).sum(1) + gamma ** n * alive[:, n] * _v(qnet, target_net, next_obs)


def nstep_dones_in_place(qnet, target_net, rewards, dones, next_obs, gamma):
    alive = dones.mul_(-1.0).add_(1.0)
    return nstep_solution(qnet, target_net, rewards, 1.0 - alive, next_obs, gamma)


def nstep_masks_with_cumsum(qnet, target_net, rewards, dones, next_obs, gamma):
    b, n = rewards.shape
    ended = torch.cumsum(dones, dim=1)                       # counts ends *including* step k
    alive = (ended == 0).float()
    discounts = gamma ** torch.arange(n, dtype=torch.float32)
    return (discounts * alive * rewards).sum(1) + gamma ** n * alive[:, -1] * _v(qnet, target_net, next_obs).detach()


CATALOGUE = [
    ("nstep", nstep_rewards_after_end, "rewards of the next episode counted",
     "the rewards after the end of an episode"),
    ("nstep", nstep_bootstrap_not_cut, "bootstraps after the end", "an episode that ended within the n steps still"),
    ("nstep", nstep_last_flag_only, "only the last done flag used", "only the last step's flag cuts the bootstrap"),
    ("nstep", nstep_drops_last_reward, "the reward of the ending step dropped", "the reward of the step that ends"),
    ("nstep", nstep_masks_with_cumsum, "alive = no end up to and including step k", "the reward of the step that ends"),
    ("nstep", nstep_boot_power_n_minus_1, "gamma^(n-1) on the bootstrap", r"discounted by gamma\^\(n-1\)"),
    ("nstep", nstep_boot_power_n_plus_1, "gamma^(n+1) on the bootstrap", r"discounted by gamma\^\(n\+1\)"),
    ("nstep", nstep_undiscounted, "rewards not discounted", "the rewards are not discounted"),
    ("nstep", nstep_first_discounted, "gamma^(k+1) r_k", "the first reward is discounted too"),
    ("nstep", nstep_first_reward_only, "a one-step target", "only the first reward counts"),
    ("nstep", nstep_plain, "plain DQN max", "this is plain DQN"),
    ("nstep", nstep_swapped, "networks swapped", "the networks are swapped"),
    ("nstep", nstep_online, "the online network alone", "bootstrapped from the online network alone"),
    ("nstep", nstep_gamma_hardcoded, "gamma hard-coded to 0.9", "the targets are those of gamma = 0.9"),
    ("nstep", nstep_gamma_missing_in_bootstrap, "no gamma^n on the bootstrap", "gamma is missing from the bootstrap"),
    ("nstep", nstep_n_hardcoded, "n hard-coded to 3", r"n = 4 steps .*values differ at row \d+"),
    ("nstep", nstep_no_squeeze, "(B, 1) targets", r"expected shape \(24,\), got \(24, 1\)"),
    ("nstep", nstep_float64, "float64 targets", "expected dtype torch.float32, got torch.float64"),
    ("nstep", nstep_with_grad, "targets carry a gradient", r"the targets carry a gradient"),
    ("nstep", nstep_dones_in_place, "dones changed in place", "changed its argument `dones` in place"),
    ("targets", targets_gamma_hardcoded, "gamma hard-coded to 0.9", "the targets are those of gamma = 0.9"),
    ("targets", targets_in_place_rewards, "rewards += ...", "changed its argument `rewards` in place"),
    ("targets", targets_in_place_terminated, "terminated.mul_(-1).add_(1)",
     "changed its argument `terminated` in place"),
    ("targets", targets_no_squeeze, "gather without squeeze: (B, B)",
     r"expected shape \(32,\), got \(32, 32\).*squeeze\(1\)"),
    ("targets", targets_reward_masked, "(r + gamma v) * (1 - d)",
     r"the reward is multiplied by \(1 - terminated\) too"),
    ("targets", targets_terminal_inverted, "gamma * d * v", "the terminal flag is inverted"),
    ("targets", targets_float64, "float64 targets", "expected dtype torch.float32, got torch.float64"),
    ("targets", targets_syncs_networks, "copies the online weights into the target network",
     "changed the parameter `lin.weight` of `target_net`"),
    ("targets", targets_gamma_missing, "no gamma", "gamma is missing from the bootstrap term"),
    ("targets", targets_online_only, "max of the online network", "bootstrapped from the online network alone"),
    ("targets", targets_list, "a list of floats", "expected a torch.Tensor, got list"),
    ("targets", targets_numpy, "a NumPy array", "expected a torch.Tensor, got numpy.ndarray"),
    ("targets", targets_discount_squared, "gamma squared", r"values differ at index \d+: expected"),
    ("loss", loss_no_return, "forgets to return", "got NoneType .*forget to return"),
    ("loss", loss_gamma_hardcoded, "gamma hard-coded to 0.9", "the targets are those of gamma = 0.9"),
    ("loss", loss_sum, "sum instead of mean", "the loss is summed over the batch"),
    ("loss", loss_max_q, "max_a Q(s, a) instead of Q(s, a)", r"you used max_a Q\(s, a\)"),
    ("loss", loss_no_squeeze, "Q(s, a) as (B, 1) against y (B,)", "B x B pairs"),
    ("loss", loss_item, "returns loss.item()", "got a Python float"),
    ("loss", loss_calls_backward, "calls backward() itself", "without calling backward"),
    ("loss", loss_optimizer_step, "takes an optimiser step", "changed the parameter `lin.weight` of `qnet`"),
    ("loss", loss_clips_rewards_in_place, "clips batch.rewards in place",
     "changed its argument `batch.rewards` in place"),
    ("loss", loss_next_obs, "Q at the next observations", "Q\\(s, a\\) was taken at the next observations"),
    ("loss", loss_all_no_grad, "everything under no_grad", "the loss carries no gradient"),
    ("loss", loss_swapped_networks, "target network chooses, online evaluates", "the networks are swapped"),
    ("loss", loss_float64, "float64 loss", "expected dtype torch.float32, got torch.float64"),
    ("loss", loss_per_sample, "reduction='none'", r"expected a scalar tensor .*got \(32,\)"),
    ("loss", loss_target_net_for_q, "Q(s, a) from the target network", r"gamma = 0.9: expected 0.9189, got 1.2806"),
    ("loss", loss_abs_error, "mean absolute error instead of Huber", r"gamma = 0.9: expected \d\.\d{4}, got \d\.\d{4}"),
]

CHECKS = {"targets": check_double_dqn_targets, "loss": check_dqn_loss, "nstep": check_n_step_targets}
SOLUTIONS = {"targets": targets_solution, "loss": loss_solution, "nstep": nstep_solution}

for _name, _fn in list(globals().items()):   # readable test ids for the functions built by _nstep
    if callable(_fn) and getattr(_fn, "__name__", None) == "fn":
        _fn.__name__ = _name


def stub(*args, **kwargs):
    raise NotImplementedError("exercise: replace this line with your code")


def test_n_step_stub_fails():
    with pytest.raises(CheckError, match="n_step_targets is not implemented yet"):
        check_n_step_targets(stub)


def test_n_step_targets_with_n_1_are_the_double_dqn_targets_of_the_loss(capsys):
    def loss(qnet, target_net, batch, gamma):
        q = qnet(batch.obs).gather(1, batch.actions[:, None]).squeeze(1)
        y = nstep_solution(qnet, target_net, batch.rewards[:, None], batch.terminated[:, None], batch.next_obs, gamma)
        return F.smooth_l1_loss(q, y)
    check_dqn_loss(loss)
    assert capsys.readouterr().out.startswith("OK")


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_solution_passes(name, capsys):
    CHECKS[name](SOLUTIONS[name])
    assert capsys.readouterr().out.startswith("OK")


@pytest.mark.parametrize("check, wrong, mistake, phrase",
                         [pytest.param(CHECKS[c], w, m, p, id=w.__name__) for c, w, m, p in CATALOGUE])
def test_wrong_answer_fails_with_a_clear_message(check, wrong, mistake, phrase):
    with pytest.raises(CheckError, match=phrase):
        check(wrong)

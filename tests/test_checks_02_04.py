"""Exercises 02-04: every check fails on the stub and on plausible wrong answers, and passes on the solution."""
import pytest
import torch

from dqngen_lib.checks import (CheckError, check_backward_induction, check_bellman_backup, check_epsilon_greedy,
                               check_greedy_actions, check_qmap_to_q, check_replay_add, check_replay_sample)
from dqngen_lib.replay import Batch


def stub(*args, **kwargs):
    raise NotImplementedError("exercise: replace this line with your code")


# =============================================================================================
# Exercise 02: the Bellman optimality backup and backward induction
# =============================================================================================

def backup_solution(rewards, next_state, v_next, gamma):
    return rewards + gamma * v_next[:, next_state]


def induction_solution(rewards, next_state, horizon, gamma):
    k, s, a = rewards.shape
    q = torch.zeros(horizon, k, s, a, dtype=rewards.dtype)
    v = torch.zeros(k, s, dtype=rewards.dtype)
    for t in reversed(range(horizon)):
        q[t] = backup_solution(rewards, next_state, v, gamma)
        v = q[t].max(dim=-1).values
    return q


def backup_no_discount(rewards, next_state, v_next, gamma):
    return rewards + v_next[:, next_state]


def backup_current_state(rewards, next_state, v_next, gamma):
    return rewards + gamma * v_next[:, :, None]


def backup_in_place(rewards, next_state, v_next, gamma):
    rewards += gamma * v_next[:, next_state]
    return rewards


def backup_squared_discount(rewards, next_state, v_next, gamma):
    return rewards + gamma ** 2 * v_next[:, next_state]


def _induction(backup, reduce="max", start_from_reward=False, forward=False, steps=None):
    def fn(rewards, next_state, horizon, gamma):
        k, s, a = rewards.shape
        n = horizon if steps is None else steps(horizon)
        q = torch.zeros(n, k, s, a, dtype=rewards.dtype)
        v = rewards.max(dim=-1).values if start_from_reward else torch.zeros(k, s, dtype=rewards.dtype)
        order = range(n) if forward else reversed(range(n))
        for t in order:
            q[t] = backup(rewards, next_state, v, gamma)
            v = q[t].max(dim=-1).values if reduce == "max" else q[t].mean(dim=-1)
        return q
    return fn


induction_mean = _induction(backup_solution, reduce="mean")                  # evaluates the random policy
induction_from_reward = _induction(backup_solution, start_from_reward=True)  # V_T = max r instead of 0
induction_forward = _induction(backup_solution, forward=True)                # tables stored in the wrong order
induction_extra_step = _induction(backup_solution, steps=lambda h: h + 1)    # one table too many
induction_no_discount = _induction(backup_no_discount)


def test_ex02_checks_pass_on_solution(capsys):
    check_bellman_backup(backup_solution)
    check_backward_induction(induction_solution)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 2 and all(line.startswith("OK") for line in out)


@pytest.mark.parametrize("check", [check_bellman_backup, check_backward_induction])
def test_ex02_checks_fail_on_stub(check):
    with pytest.raises(CheckError, match="not implemented yet"):
        check(stub)


BACKUP_WRONG = [
    (backup_no_discount, "gamma is missing"),
    (backup_current_state, "V is taken at the current canvas"),
    (backup_in_place, "changed its argument `rewards` in place"),
    (backup_squared_discount, r"values differ at index \(\d+, \d+, \d+\) \(target"),
]
INDUCTION_WRONG = [
    (induction_mean, r"table t = 1 \(backed up from V\*_2"),
    (induction_from_reward, r"table t = 2 \(the last step: nothing follows, so Q\* is the reward\)"),
    (induction_forward, "the tables are in the wrong order"),
    (induction_extra_step, "expected one Q table per time step"),
    (induction_no_discount, r"table t = 1 .*values differ at index \(1, "),
]


@pytest.mark.parametrize("wrong, phrase", BACKUP_WRONG)
def test_backup_check_fails_on_wrong_answers(wrong, phrase):
    with pytest.raises(CheckError, match=phrase):
        check_bellman_backup(wrong)


@pytest.mark.parametrize("wrong, phrase", INDUCTION_WRONG)
def test_induction_check_fails_on_wrong_answers(wrong, phrase):
    with pytest.raises(CheckError, match=phrase):
        check_backward_induction(wrong)


def test_backup_message_names_the_state_and_the_values():
    with pytest.raises(CheckError, match=r"target \d, .*action \d+ \(paint pixel \(\d, \d\) with ink [\d.]+\)\): "
                                         r"expected -?\d+\.\d{4}, got -?\d+\.\d{4}"):
        check_bellman_backup(backup_no_discount)


def test_induction_message_names_the_time_step():
    with pytest.raises(CheckError, match=r"t = 2\b.*expected \d"):
        check_backward_induction(induction_from_reward)


# =============================================================================================
# Exercise 03: the Q-map head, greedy and ε-greedy actions
# =============================================================================================

def qmap_solution(qmap, value=None):
    adv = qmap.flatten(1)
    if value is None:
        return adv
    return value + adv - adv.mean(dim=1, keepdim=True)


def greedy_solution(q):
    return q.argmax(dim=1)


def eps_greedy_solution(q, eps, generator=None):
    n, a = q.shape
    rand = torch.randint(a, (n,), generator=generator, device=q.device)
    explore = torch.rand(n, generator=generator, device=q.device) < eps
    return torch.where(explore, rand, q.argmax(dim=1))


def qmap_pixel_major(qmap, value=None):
    adv = qmap.permute(0, 2, 3, 1).flatten(1)
    return adv if value is None else value + adv - adv.mean(dim=1, keepdim=True)


def qmap_dueling_without_mean(qmap, value=None):
    adv = qmap.flatten(1)
    return adv if value is None else value + adv


def qmap_dueling_batch_mean(qmap, value=None):
    adv = qmap.flatten(1)
    return adv if value is None else value + adv - adv.mean(dim=0, keepdim=True)


def qmap_transposed(qmap, value=None):
    adv = qmap.transpose(2, 3).flatten(1)
    return adv if value is None else value + adv - adv.mean(dim=1, keepdim=True)


def greedy_values(q):
    return q.max(dim=1).values


def greedy_over_batch(q):
    return q.argmax(dim=0)


def greedy_argmin(q):
    return q.argmin(dim=1)


def eps_greedy_inverted(q, eps, generator=None):
    return eps_greedy_solution(q, 1.0 - eps, generator)


def eps_greedy_one_coin(q, eps, generator=None):
    n, a = q.shape
    rand = torch.randint(a, (n,), generator=generator)
    if float(torch.rand(1, generator=generator)) < eps:
        return rand
    return q.argmax(dim=1)


def eps_greedy_off_by_one(q, eps, generator=None):
    n, a = q.shape
    rand = torch.randint(a - 1, (n,), generator=generator)
    return torch.where(torch.rand(n, generator=generator) < eps, rand, q.argmax(dim=1))


def eps_greedy_global_rng(q, eps, generator=None):
    return eps_greedy_solution(q, eps, None)


def eps_greedy_never_greedy_when_exploring(q, eps, generator=None):
    n, a = q.shape
    greedy = q.argmax(dim=1)
    other = (greedy + 1 + torch.randint(a - 1, (n,), generator=generator)) % a
    return torch.where(torch.rand(n, generator=generator) < eps, other, greedy)


def test_ex03_checks_pass_on_solution(capsys):
    check_qmap_to_q(qmap_solution)
    check_greedy_actions(greedy_solution)
    check_epsilon_greedy(eps_greedy_solution)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 3 and all(line.startswith("OK") for line in out)


def test_library_functions_pass_ex03_checks():
    from dqngen_lib.nets import epsilon_greedy, greedy_actions, qmap_to_q, dueling_combine

    check_qmap_to_q(lambda m, v=None: qmap_to_q(m) if v is None else dueling_combine(v, qmap_to_q(m)))
    check_greedy_actions(greedy_actions)
    check_epsilon_greedy(epsilon_greedy)


@pytest.mark.parametrize("check", [check_qmap_to_q, check_greedy_actions, check_epsilon_greedy])
def test_ex03_checks_fail_on_stub(check):
    with pytest.raises(CheckError, match="not implemented yet"):
        check(stub)


QMAP_WRONG = [
    (qmap_pixel_major, r"action \d+ means 'paint pixel"),
    (qmap_dueling_without_mean, "the mean of the advantages is not subtracted"),
    (qmap_dueling_batch_mean, r"the mean is taken over the batch \(dim 0\)"),
    (qmap_transposed, r"action \d+ means 'paint pixel"),
]


@pytest.mark.parametrize("wrong, phrase", QMAP_WRONG)
def test_qmap_check_fails_on_wrong_answers(wrong, phrase):
    with pytest.raises(CheckError, match=phrase):
        check_qmap_to_q(wrong)


def test_qmap_message_explains_the_action_order():
    with pytest.raises(CheckError, match=r"action \d+ means 'paint pixel \(row \d, col \d\) with ink level \d'"):
        check_qmap_to_q(qmap_pixel_major)


GREEDY_WRONG = [
    (greedy_values, "expected dtype torch.int64, got torch.float32"),
    (greedy_over_batch, r"expected shape \(6,\), got \(9,\)"),
    (greedy_argmin, "expected the action with the largest Q-value"),
]
EPS_WRONG = [
    (eps_greedy_inverted, "with eps = 0: expected every action greedy"),
    (eps_greedy_one_coin, "expected about 0.240 of the 20000 actions to differ"),
    (eps_greedy_off_by_one, "with eps = 1 and 5 actions: expected uniform actions"),
    (eps_greedy_global_rng, "two calls with generators seeded alike gave different actions"),
    (eps_greedy_never_greedy_when_exploring, "a random action can be the greedy one"),
]


@pytest.mark.parametrize("wrong, phrase", GREEDY_WRONG)
def test_greedy_check_fails_on_wrong_answers(wrong, phrase):
    with pytest.raises(CheckError, match=phrase):
        check_greedy_actions(wrong)


@pytest.mark.parametrize("wrong, phrase", EPS_WRONG)
def test_eps_greedy_check_fails_on_wrong_answers(wrong, phrase):
    with pytest.raises(CheckError, match=phrase):
        check_epsilon_greedy(wrong)


# =============================================================================================
# Exercise 04: the ring buffer
# =============================================================================================

class RingSolution:
    def __init__(self, capacity, obs_shape, device="cpu"):
        self.capacity, self.obs_shape, self.device = capacity, tuple(obs_shape), torch.device(device)
        self.obs = torch.zeros((capacity, *obs_shape), dtype=torch.float32, device=device)
        self.next_obs = torch.zeros_like(self.obs)
        self.actions = torch.zeros(capacity, dtype=torch.int64, device=device)
        self.rewards = torch.zeros(capacity, dtype=torch.float32, device=device)
        self.terminated = torch.zeros(capacity, dtype=torch.float32, device=device)
        self.pos = 0
        self.size = 0

    def add(self, obs, actions, rewards, next_obs, terminated):
        b = obs.shape[0]
        idx = (self.pos + torch.arange(b, device=self.device)) % self.capacity
        self.obs[idx] = obs.to(self.device, torch.float32)
        self.next_obs[idx] = next_obs.to(self.device, torch.float32)
        self.actions[idx] = actions.to(self.device, torch.int64)
        self.rewards[idx] = rewards.to(self.device, torch.float32)
        self.terminated[idx] = terminated.to(self.device, torch.float32)
        self.pos = (self.pos + b) % self.capacity
        self.size = min(self.size + b, self.capacity)

    def sample(self, batch_size, generator=None):
        idx = torch.randint(self.size, (batch_size,), generator=generator, device=self.device)
        return Batch(self.obs[idx], self.actions[idx], self.rewards[idx], self.next_obs[idx], self.terminated[idx])


class RingStub(RingSolution):
    add = stub
    sample = stub


class AddNoCast(RingSolution):
    def add(self, obs, actions, rewards, next_obs, terminated):
        b = obs.shape[0]
        idx = (self.pos + torch.arange(b)) % self.capacity
        self.obs[idx], self.next_obs[idx] = obs, next_obs
        self.actions[idx], self.rewards[idx], self.terminated[idx] = actions, rewards, terminated
        self.pos = (self.pos + b) % self.capacity
        self.size = min(self.size + b, self.capacity)


class AddSliceNoWrap(RingSolution):
    def add(self, obs, actions, rewards, next_obs, terminated):
        b = obs.shape[0]
        end = min(self.pos + b, self.capacity)
        n = end - self.pos
        self.obs[self.pos:end], self.next_obs[self.pos:end] = obs[:n], next_obs[:n]
        self.actions[self.pos:end], self.rewards[self.pos:end] = actions[:n], rewards[:n]
        self.terminated[self.pos:end] = terminated[:n]
        self.pos = end % self.capacity
        self.size = min(self.size + b, self.capacity)


class AddResetsToZero(RingSolution):
    def add(self, obs, actions, rewards, next_obs, terminated):
        pos = self.pos
        super().add(obs, actions, rewards, next_obs, terminated)
        self.pos = pos + obs.shape[0]
        if self.pos >= self.capacity:  # forgets the part of the batch past the end
            self.pos = 0


class AddOffByOne(RingSolution):
    def add(self, obs, actions, rewards, next_obs, terminated):
        self.pos = (self.pos + 1) % self.capacity
        super().add(obs, actions, rewards, next_obs, terminated)
        self.pos = (self.pos - 1) % self.capacity


class AddWrapsAtCapacityMinusOne(RingSolution):
    def add(self, obs, actions, rewards, next_obs, terminated):
        b = obs.shape[0]
        super().add(obs, actions, rewards, next_obs, terminated)
        self.pos = (self.pos - b) % self.capacity
        self.pos = (self.pos + b) % (self.capacity - 1)


class AddWrapsLate(RingSolution):
    def add(self, obs, actions, rewards, next_obs, terminated):
        b = obs.shape[0]
        idx = (self.pos + torch.arange(b)) % self.capacity
        self.obs[idx], self.next_obs[idx] = obs.float(), next_obs.float()
        self.actions[idx], self.rewards[idx], self.terminated[idx] = actions.long(), rewards.float(), terminated.float()
        self.pos += b
        if self.pos > self.capacity:   # should be >=
            self.pos -= self.capacity
        self.size = min(self.size + b, self.capacity)


class AddUncappedSize(RingSolution):
    def add(self, obs, actions, rewards, next_obs, terminated):
        size = self.size
        super().add(obs, actions, rewards, next_obs, terminated)
        self.size = size + obs.shape[0]


class AddReplacesTensors(RingSolution):
    def add(self, obs, actions, rewards, next_obs, terminated):
        super().add(obs, actions, rewards, next_obs, terminated)
        self.terminated = self.terminated.bool()


class SampleCapacity(RingSolution):
    def sample(self, batch_size, generator=None):
        idx = torch.randint(self.capacity, (batch_size,), generator=generator)
        return Batch(self.obs[idx], self.actions[idx], self.rewards[idx], self.next_obs[idx], self.terminated[idx])


class SampleSizeMinusOne(RingSolution):
    def sample(self, batch_size, generator=None):
        idx = torch.randint(self.size - 1, (batch_size,), generator=generator)
        return Batch(self.obs[idx], self.actions[idx], self.rewards[idx], self.next_obs[idx], self.terminated[idx])


class SampleUpToPos(RingSolution):
    def sample(self, batch_size, generator=None):
        idx = torch.randint(max(self.pos, 1), (batch_size,), generator=generator)
        return Batch(self.obs[idx], self.actions[idx], self.rewards[idx], self.next_obs[idx], self.terminated[idx])


class SampleIgnoresGenerator(RingSolution):
    def sample(self, batch_size, generator=None):
        return super().sample(batch_size, None)


class SampleIndependentFields(RingSolution):
    def sample(self, batch_size, generator=None):
        def idx():
            return torch.randint(self.size, (batch_size,), generator=generator)
        return Batch(self.obs[idx()], self.actions[idx()], self.rewards[idx()], self.next_obs[idx()],
                     self.terminated[idx()])


class SampleBoolTerminated(RingSolution):
    def sample(self, batch_size, generator=None):
        b = super().sample(batch_size, generator)
        return b._replace(terminated=b.terminated.bool())


def test_ex04_checks_pass_on_solution_and_library(capsys):
    from dqngen_lib.replay import ReplayBuffer

    check_replay_add(RingSolution)
    check_replay_sample(RingSolution)
    check_replay_add(ReplayBuffer)
    check_replay_sample(ReplayBuffer)
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 4 and all(line.startswith("OK") for line in out)


@pytest.mark.parametrize("check", [check_replay_add, check_replay_sample])
def test_ex04_checks_fail_on_stub(check):
    with pytest.raises(CheckError, match="not implemented yet"):
        check(RingStub)


ADD_WRONG = [
    (AddNoCast, r"add\(\) of 300 transitions at pos 0 \(capacity 1000\) raised RuntimeError"),
    (AddSliceNoWrap, r"expected buffer index \(pos, the next slot to write\) 150, got 0"),
    (AddResetsToZero, r"expected buffer index \(pos, the next slot to write\) 150, got 0"),
    (AddOffByOne, "expected buffer index 0 to hold transition 1, got nothing"),
    (AddWrapsAtCapacityMinusOne, r"expected buffer index \(pos, the next slot to write\) 0, got 1"),
    (AddWrapsLate, r"expected buffer index \(pos, the next slot to write\) 0, got 1000"),
    (AddUncappedSize, "expected size 1000 .*got 1250"),
    (AddReplacesTensors, "buffer field 'terminated': expected dtype torch.float32"),
]
SAMPLE_WRONG = [
    (SampleCapacity, "never written"),
    (SampleSizeMinusOne, r"buffer index 29 .* never sampled"),
    (SampleUpToPos, r"size, not pos, bounds the draw"),
    (SampleIgnoresGenerator, "two samples with generators seeded alike differ"),
    (SampleIndependentFields, "expected all fields of a row drawn from the same buffer index"),
    (SampleBoolTerminated, "expected terminated of dtype torch.float32, got torch.bool"),
]


@pytest.mark.parametrize("wrong, phrase", ADD_WRONG)
def test_add_check_fails_on_wrong_answers(wrong, phrase):
    with pytest.raises(CheckError, match=phrase):
        check_replay_add(wrong)


@pytest.mark.parametrize("wrong, phrase", SAMPLE_WRONG)
def test_sample_check_fails_on_wrong_answers(wrong, phrase):
    with pytest.raises(CheckError, match=phrase):
        check_replay_sample(wrong)


def test_add_messages_name_the_index():
    with pytest.raises(CheckError, match=r"expected buffer index \(pos, the next slot to write\) 0, got 1000"):
        check_replay_add(AddWrapsLate)
    with pytest.raises(CheckError, match=r"expected buffer index 0 to hold transition 1, got nothing"):
        check_replay_add(AddOffByOne)
    with pytest.raises(CheckError, match=r"raised RuntimeError"):
        check_replay_add(AddNoCast)


def test_sample_message_names_the_unwritten_index():
    with pytest.raises(CheckError, match="never written"):
        check_replay_sample(SampleCapacity)
    with pytest.raises(CheckError, match=r"buffer index 29 .* never sampled"):
        check_replay_sample(SampleSizeMinusOne)


CHECKS = {"backup": check_bellman_backup, "induction": check_backward_induction, "qmap": check_qmap_to_q,
          "greedy": check_greedy_actions, "eps": check_epsilon_greedy, "add": check_replay_add,
          "sample": check_replay_sample}
CATALOGUE = [(name, f, f.__name__, p) for name, wrong in (
    ("backup", BACKUP_WRONG), ("induction", INDUCTION_WRONG), ("qmap", QMAP_WRONG), ("greedy", GREEDY_WRONG),
    ("eps", EPS_WRONG), ("add", ADD_WRONG), ("sample", SAMPLE_WRONG)) for f, p in wrong]

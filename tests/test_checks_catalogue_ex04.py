"""Catalogue of wrong answers to exercise 04 (the ring buffer's add and sample) that learners really write.

Every entry must fail its check with a ``CheckError`` (never a raw exception) whose message holds
the key phrase; ``CATALOGUE`` lists them as ``(check name, wrong class, mistake, key phrase)``.
"""
import numpy as np
import pytest
import torch

from dqngen_lib.checks import CheckError, check_replay_add, check_replay_sample
from dqngen_lib.replay import Batch


# -- the solution (as in solutions/04_replay.ipynb) ------------------------------------------------
class Ring:
    def __init__(self, capacity, obs_shape, device="cpu"):
        self.capacity, self.obs_shape, self.device = capacity, tuple(obs_shape), torch.device(device)
        self.obs = torch.zeros((capacity, *obs_shape), dtype=torch.float32, device=self.device)
        self.next_obs = torch.zeros_like(self.obs)
        self.actions = torch.zeros(capacity, dtype=torch.int64, device=self.device)
        self.rewards = torch.zeros(capacity, dtype=torch.float32, device=self.device)
        self.terminated = torch.zeros(capacity, dtype=torch.float32, device=self.device)
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

    def _write(self, idx, obs, actions, rewards, next_obs, terminated):
        self.obs[idx], self.next_obs[idx] = obs.float(), next_obs.float()
        self.actions[idx], self.rewards[idx], self.terminated[idx] = actions.long(), rewards.float(), terminated.float()

    def _gather(self, idx):
        return Batch(self.obs[idx], self.actions[idx], self.rewards[idx], self.next_obs[idx], self.terminated[idx])


# -- wrong add() --------------------------------------------------------------------------------------
class AddHardcodedCapacity(Ring):
    def add(self, obs, actions, rewards, next_obs, terminated):
        b = obs.shape[0]
        self._write((self.pos + torch.arange(b)) % 1000, obs, actions, rewards, next_obs, terminated)
        self.pos = (self.pos + b) % 1000
        self.size = min(self.size + b, 1000)


class AddSizeIsPos(Ring):
    def add(self, obs, actions, rewards, next_obs, terminated):
        super().add(obs, actions, rewards, next_obs, terminated)
        self.size = self.pos


class AddZeroesTerminalNextObs(Ring):
    def add(self, obs, actions, rewards, next_obs, terminated):
        next_obs[terminated] = 0.0            # "terminal next states do not matter", in the caller's tensor
        super().add(obs, actions, rewards, next_obs, terminated)


class AddCatAndTrim(Ring):
    def add(self, obs, actions, rewards, next_obs, terminated):
        b = obs.shape[0]
        self.obs = torch.cat([self.obs, obs.float()])[-self.capacity:]
        self.next_obs = torch.cat([self.next_obs, next_obs.float()])[-self.capacity:]
        self.actions = torch.cat([self.actions, actions.long()])[-self.capacity:]
        self.rewards = torch.cat([self.rewards, rewards.float()])[-self.capacity:]
        self.terminated = torch.cat([self.terminated, terminated.float()])[-self.capacity:]
        self.pos = (self.pos + b) % self.capacity
        self.size = min(self.size + b, self.capacity)


class AddSwapsObsAndNextObs(Ring):
    def add(self, obs, actions, rewards, next_obs, terminated):
        super().add(next_obs, actions, rewards, obs, terminated)


class AddNoModulo(Ring):
    def add(self, obs, actions, rewards, next_obs, terminated):
        b = obs.shape[0]
        self._write(self.pos + torch.arange(b), obs, actions, rewards, next_obs, terminated)
        self.pos = (self.pos + b) % self.capacity
        self.size = min(self.size + b, self.capacity)


class AddPosNeverWraps(Ring):
    def add(self, obs, actions, rewards, next_obs, terminated):
        b = obs.shape[0]
        self._write((self.pos + torch.arange(b)) % self.capacity, obs, actions, rewards, next_obs, terminated)
        self.pos += b
        self.size = min(self.size + b, self.capacity)


class AddFirstRowOnly(Ring):
    def add(self, obs, actions, rewards, next_obs, terminated):
        self._write(torch.tensor([self.pos]), obs[:1], actions[:1], rewards[:1], next_obs[:1], terminated[:1])
        self.pos = (self.pos + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)


class AddCountsCalls(Ring):
    def add(self, obs, actions, rewards, next_obs, terminated):
        size = self.size
        super().add(obs, actions, rewards, next_obs, terminated)
        self.size = min(size + 1, self.capacity)


class AddMutatesRewards(Ring):
    def add(self, obs, actions, rewards, next_obs, terminated):
        rewards.clamp_(-1.0, 1.0)             # reward clipping, in the caller's tensor
        super().add(obs, actions, rewards, next_obs, terminated)


class AddFloat64Rewards(Ring):
    def add(self, obs, actions, rewards, next_obs, terminated):
        super().add(obs, actions, rewards, next_obs, terminated)
        self.rewards = self.rewards.double()


class AddTensorPos(Ring):
    def add(self, obs, actions, rewards, next_obs, terminated):
        b = obs.shape[0]
        idx = (self.pos + torch.arange(b)) % self.capacity
        self._write(idx, obs, actions, rewards, next_obs, terminated)
        self.pos = idx[-1]                    # the last slot written, not the next one
        self.size = min(self.size + b, self.capacity)


# -- wrong sample() -----------------------------------------------------------------------------------
class SampleNewest(Ring):
    def sample(self, batch_size, generator=None):
        return self._gather((self.pos - 1 - torch.arange(batch_size)) % self.size)


class SampleTuple(Ring):
    def sample(self, batch_size, generator=None):
        return tuple(super().sample(batch_size, generator))


class SampleOwnGenerator(Ring):
    def sample(self, batch_size, generator=None):
        return super().sample(batch_size, torch.Generator().manual_seed(0))


class SampleCopiesSeed(Ring):
    def sample(self, batch_size, generator=None):
        return super().sample(batch_size, torch.Generator().manual_seed(generator.initial_seed()))


class SampleRandperm(Ring):
    def sample(self, batch_size, generator=None):
        return self._gather(torch.randperm(self.size, generator=generator)[:batch_size])


class SampleDict(Ring):
    def sample(self, batch_size, generator=None):
        return super().sample(batch_size, generator)._asdict()


class SampleSeedsGlobal(Ring):
    def sample(self, batch_size, generator=None):
        torch.manual_seed(0)
        return super().sample(batch_size, None)


class SampleFirstRows(Ring):
    def sample(self, batch_size, generator=None):
        return self._gather(torch.arange(batch_size) % self.size)


class SampleFieldsOutOfOrder(Ring):
    def sample(self, batch_size, generator=None):
        b = super().sample(batch_size, generator)
        return Batch(b.obs, b.rewards, b.actions, b.next_obs, b.terminated)


class SampleNumpy(Ring):
    def sample(self, batch_size, generator=None):
        return self._gather(torch.from_numpy(np.random.randint(self.size, size=batch_size)))


class SampleInt32Actions(Ring):
    def sample(self, batch_size, generator=None):
        b = super().sample(batch_size, generator)
        return b._replace(actions=b.actions.int())


class SampleRandomWindow(Ring):
    def sample(self, batch_size, generator=None):
        start = int(torch.randint(max(1, self.size - batch_size), (1,), generator=generator))
        return self._gather(torch.arange(start, start + batch_size) % self.size)


class SampleOneIndex(Ring):
    def sample(self, batch_size, generator=None):
        i = torch.randint(self.size, (1,), generator=generator)
        return self._gather(i.expand(batch_size))


class SampleNoReturn(Ring):
    def sample(self, batch_size, generator=None):
        super().sample(batch_size, generator)


CATALOGUE = [
    ("add", AddHardcodedCapacity, "hard-codes capacity 1000",
     r"expected buffer index \(pos, the next slot to write\) 0, got 7"),
    ("add", AddSizeIsPos, "size = pos", "expected size 1000 .*got 0"),
    ("add", AddZeroesTerminalNextObs, "zeroes terminal next_obs in the caller's tensor",
     "changed its argument `next_obs` in place"),
    ("add", AddCatAndTrim, "concatenates and keeps the newest capacity rows",
     "expected buffer index 0 to hold transition"),
    ("add", AddSwapsObsAndNextObs, "obs and next_obs swapped", "holds 1.5 in obs, the next_obs of transition 1"),
    ("add", AddNoModulo, "indices without % capacity", (r"add\(\) of 250 transitions at pos 0 \(capacity 1000\)|"
     r"add\(\) of \d+ transitions .* raised IndexError")),
    ("add", AddPosNeverWraps, "pos += b without wrapping",
     r"expected buffer index \(pos, the next slot to write\) 0, got 1000"),
    ("add", AddFirstRowOnly, "writes only the first transition of the batch",
     r"expected buffer index \(pos, the next slot to write\) 300, got 1"),
    ("add", AddCountsCalls, "size counts calls, not transitions", "expected size 300"),
    ("add", AddMutatesRewards, "clips the caller's rewards in place", "changed its argument `rewards` in place"),
    ("add", AddFloat64Rewards, "replaces the rewards field by float64",
     "buffer field 'rewards': expected dtype torch.float32"),
    ("add", AddTensorPos, "pos = the last index written (a tensor)",
     r"expected buffer index \(pos, the next slot to write\) 300, got 299"),
    ("sample", SampleNoReturn, "forgets to return", "got NoneType .*forget to return"),
    ("sample", SampleNewest, "the newest B transitions, no randomness", "they are the newest 32 transitions"),
    ("sample", SampleTuple, "returns a plain tuple", "expected a replay Batch .* got tuple"),
    ("sample", SampleOwnGenerator, "seeds a generator of its own", "generators seeded differently"),
    ("sample", SampleCopiesSeed, "copies the generator's seed", "two consecutive calls with the same generator"),
    ("sample", SampleRandperm, "randperm (no replacement)",
     r"expected obs of shape \(6000, 2, 3, 3\), got \(30, 2, 3, 3\)"),
    ("sample", SampleDict, "returns a dict", "expected a replay Batch .* got dict"),
    ("sample", SampleSeedsGlobal, "torch.manual_seed inside", "generators seeded differently"),
    ("sample", SampleFirstRows, "the first B slots",
     "generators seeded differently .*the generator argument has no effect"),
    ("sample", SampleFieldsOutOfOrder, "Batch(obs, rewards, actions, ...)", "expected actions of dtype torch.int64"),
    ("sample", SampleNumpy, "NumPy's global random numbers", "two samples with generators seeded alike differ"),
    ("sample", SampleInt32Actions, "int32 actions", "expected actions of dtype torch.int64, got torch.int32"),
    ("sample", SampleRandomWindow, "a random window of consecutive slots", "not a run of consecutive slots"),
    ("sample", SampleOneIndex, "one random index repeated", "all 32 rows hold the same transition"),
]

CHECKS = {"add": check_replay_add, "sample": check_replay_sample}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_solution_passes(name, capsys):
    CHECKS[name](Ring)
    assert capsys.readouterr().out.startswith("OK")


@pytest.mark.parametrize("check, wrong, mistake, phrase",
                         [pytest.param(CHECKS[c], w, m, p, id=w.__name__) for c, w, m, p in CATALOGUE])
def test_wrong_answer_fails_with_a_clear_message(check, wrong, mistake, phrase):
    with pytest.raises(CheckError, match=phrase):
        check(wrong)


def test_multinomial_sample_passes(capsys):
    """A correct sample that draws its indices another way passes too (no false failures)."""
    class Multinomial(Ring):
        def sample(self, batch_size, generator=None):
            w = torch.ones(self.size, device=self.device)
            return self._gather(torch.multinomial(w, batch_size, replacement=True, generator=generator))

    check_replay_sample(Multinomial)
    assert capsys.readouterr().out.startswith("OK")

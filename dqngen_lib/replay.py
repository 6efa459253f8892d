"""Experience replay (lesson 04): a ring buffer of preallocated tensors on the device.

``ReplayBuffer`` stores whole batches of transitions with one indexed write and samples with one
``randint``; its write position lives on the host (it only depends on batch sizes), so adding and
sampling never synchronise with a GPU. ``DequeReplay`` is the seed's ``deque`` of tuples with
``random.sample``, kept for comparison.
"""
from __future__ import annotations

import random
from collections import deque
from typing import NamedTuple

import torch

__all__ = ["Batch", "ReplayBuffer", "DequeReplay"]


class Batch(NamedTuple):
    """A batch of transitions ``(obs, actions, rewards, next_obs, terminated)``."""

    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    next_obs: torch.Tensor
    terminated: torch.Tensor


class ReplayBuffer:
    """Fixed-capacity ring buffer of transitions, all tensors preallocated on ``device``."""

    def __init__(self, capacity: int, obs_shape, device: str | torch.device = "cpu",
                 obs_dtype: torch.dtype = torch.float32):
        if not isinstance(capacity, int) or capacity < 1:
            raise ValueError(f"capacity must be a positive integer, got {capacity!r}")
        self.capacity, self.obs_shape, self.device = capacity, tuple(obs_shape), torch.device(device)
        self.obs = torch.zeros((capacity, *self.obs_shape), dtype=obs_dtype, device=self.device)
        self.next_obs = torch.zeros_like(self.obs)
        self.actions = torch.zeros(capacity, dtype=torch.int64, device=self.device)
        self.rewards = torch.zeros(capacity, dtype=torch.float32, device=self.device)
        self.terminated = torch.zeros(capacity, dtype=torch.float32, device=self.device)
        self.pos = 0   # next slot to write
        self.size = 0  # slots written so far (at most capacity)

    def __len__(self) -> int:
        return self.size

    def add(self, obs, actions, rewards, next_obs, terminated) -> None:
        """Write a batch of B transitions at the write position, wrapping around the end."""
        b = obs.shape[0]
        if tuple(obs.shape[1:]) != self.obs_shape or tuple(next_obs.shape) != tuple(obs.shape):
            raise ValueError(f"expected obs and next_obs of shape (B, {', '.join(map(str, self.obs_shape))}), "
                             f"got {tuple(obs.shape)} and {tuple(next_obs.shape)}")
        if b > self.capacity:
            raise ValueError(f"batch of {b} transitions exceeds the capacity {self.capacity}")
        for name, x in (("actions", actions), ("rewards", rewards), ("terminated", terminated)):
            if tuple(x.shape) != (b,):
                raise ValueError(f"expected {name} of shape ({b},), got {tuple(x.shape)}")
        idx = (self.pos + torch.arange(b, device=self.device)) % self.capacity
        self.obs[idx] = obs.to(self.obs.dtype)
        self.next_obs[idx] = next_obs.to(self.obs.dtype)
        self.actions[idx] = actions.long()
        self.rewards[idx] = rewards.float()
        self.terminated[idx] = terminated.float()
        self.pos = (self.pos + b) % self.capacity
        self.size = min(self.size + b, self.capacity)

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> Batch:
        """Draw ``batch_size`` transitions uniformly (with replacement) from the written slots."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        idx = torch.randint(self.size, (batch_size,), device=self.device, generator=generator)
        return Batch(self.obs[idx].float(), self.actions[idx], self.rewards[idx], self.next_obs[idx].float(),
                     self.terminated[idx])


class DequeReplay:
    """The seed's replay memory: a ``deque`` of per-transition tuples and ``random.sample``."""

    def __init__(self, capacity: int, seed: int | None = None):
        self.memory: deque = deque(maxlen=capacity)
        self.rng = random.Random(seed)

    def __len__(self) -> int:
        return len(self.memory)

    def add(self, obs, action, reward, next_obs, terminated) -> None:
        """Append one transition."""
        self.memory.append((obs, action, reward, next_obs, terminated))

    def sample(self, batch_size: int) -> Batch:
        """Sample without replacement and stack into tensors (as the seed does)."""
        rows = self.rng.sample(self.memory, batch_size)
        obs, a, r, nxt, term = zip(*rows)
        return Batch(torch.stack([torch.as_tensor(o) for o in obs]), torch.as_tensor(a, dtype=torch.int64),
                     torch.as_tensor(r, dtype=torch.float32), torch.stack([torch.as_tensor(o) for o in nxt]),
                     torch.as_tensor(term, dtype=torch.float32))

"""Experience replay (lesson 04): a ring buffer of preallocated tensors on the device.

``ReplayBuffer`` stores whole batches of transitions with one indexed write and samples with one
``randint``; its write position lives on the host (it only depends on batch sizes), so adding and
sampling never synchronise with a GPU. ``DequeReplay`` is the seed's ``deque`` of tuples with
``random.sample``, kept for comparison. ``PrioritizedReplay`` samples transitions in proportion to
their last TD error (Schaul et al., 2016), also without host synchronisation.
"""
from __future__ import annotations

import random
from collections import deque
from typing import NamedTuple

import numpy as np
import torch

from .utils import is_int, is_number

__all__ = ["Batch", "ReplayBuffer", "PrioritizedReplay", "DequeReplay"]


class Batch(NamedTuple):
    """A batch of transitions ``(obs, actions, rewards, next_obs, terminated)``."""

    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    next_obs: torch.Tensor
    terminated: torch.Tensor


class ReplayBuffer:
    """Fixed-capacity ring buffer of transitions, all tensors preallocated on ``device`` (lesson 04).

    ``obs`` and ``next_obs`` (capacity, C, H, W) of ``obs_dtype`` (float32, or float16/bfloat16 to
    halve the memory); ``actions`` int64, ``rewards`` and ``terminated`` float32, all (capacity,).
    ``pos`` is the next slot to write and ``size`` the number of slots written (at most capacity).
    """

    def __init__(self, capacity: int, obs_shape, device: str | torch.device = "cpu",
                 obs_dtype: torch.dtype = torch.float32):
        if not is_int(capacity, 1):
            raise ValueError(f"capacity must be a positive integer, got {capacity!r}")
        if not obs_dtype.is_floating_point:
            raise ValueError(f"obs_dtype must be a floating-point dtype (observations hold values such as "
                             f"0.5), got {obs_dtype}")
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

    def add(self, obs, actions, rewards, next_obs, terminated, validate: bool = True) -> None:
        """Write a batch of B transitions at the write position, wrapping around the end.

        ``obs``, ``next_obs`` (B, C, H, W); ``actions``, ``rewards``, ``terminated`` (B,). Tensors
        (or NumPy arrays) are converted to the buffer's dtypes and device; the write is one indexed
        copy per field. ``validate`` (the default) refuses values that cannot be right -- actions that
        are not integers >= 0, rewards or observations that are not finite, ``terminated`` other than
        0/1 -- which needs a host synchronisation; the trainer's hot loop passes ``validate=False``.
        """
        if validate:
            obs, actions, rewards, next_obs, terminated = _checked(obs, actions, rewards, next_obs, terminated)
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
        # index_copy_ / index_select rather than x[idx] = ...: the same result, and on a CPU they skip
        # the multi-threaded advanced-indexing path, whose start-up dominates for small batches.
        self.obs.index_copy_(0, idx, obs.to(self.device, self.obs.dtype))
        self.next_obs.index_copy_(0, idx, next_obs.to(self.device, self.obs.dtype))
        self.actions.index_copy_(0, idx, actions.to(self.device, torch.int64))
        self.rewards.index_copy_(0, idx, rewards.to(self.device, torch.float32))
        self.terminated.index_copy_(0, idx, terminated.to(self.device, torch.float32))
        self.pos = (self.pos + b) % self.capacity
        self.size = min(self.size + b, self.capacity)

    _FIELDS = ("obs", "next_obs", "actions", "rewards", "terminated")

    def state_dict(self) -> dict:
        """The written transitions and the write position, as CPU tensors (for an exact resume)."""
        n = self.size
        return {"capacity": self.capacity, "obs_shape": list(self.obs_shape), "obs_dtype": str(self.obs.dtype),
                "pos": self.pos, "size": n, **{k: getattr(self, k)[:n].clone().cpu() for k in self._FIELDS}}

    def load_state_dict(self, state: dict) -> None:
        """Restore what ``state_dict`` saved into a buffer of the same capacity and observation shape."""
        if not isinstance(state, dict) or state.get("capacity") != self.capacity \
                or tuple(state.get("obs_shape", ())) != self.obs_shape:
            got = (state.get("capacity"), tuple(state.get("obs_shape", ()))) if isinstance(state, dict) else state
            raise ValueError(f"the saved replay buffer holds (capacity, obs shape) {got}, this one "
                             f"{(self.capacity, self.obs_shape)}")
        n, pos = int(state["size"]), int(state["pos"])
        if not 0 <= n <= self.capacity or not 0 <= pos < self.capacity or any(len(state[k]) != n for k in self._FIELDS):
            raise ValueError(f"the saved replay buffer is inconsistent (size {n}, position {pos})")
        for k in self._FIELDS:
            getattr(self, k)[:n] = state[k].to(self.device, getattr(self, k).dtype)
        self.pos, self.size = pos, n

    def sample(self, batch_size: int, generator: torch.Generator | None = None) -> Batch:
        """Draw ``batch_size`` transitions uniformly (with replacement) from the written slots.

        ``generator`` (on the buffer's device) makes the draw reproducible. Observations come back
        as float32 whatever the storage dtype.
        """
        return self._gather(self._indices(batch_size, generator))

    def _indices(self, batch_size: int, generator: torch.Generator | None) -> torch.Tensor:
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        if not is_int(batch_size, 1):
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        return torch.randint(self.size, (batch_size,), device=self.device, generator=generator)

    def _gather(self, idx: torch.Tensor) -> Batch:
        return Batch(self.obs.index_select(0, idx).float(), self.actions.index_select(0, idx),
                     self.rewards.index_select(0, idx), self.next_obs.index_select(0, idx).float(),
                     self.terminated.index_select(0, idx))


def _tensor(x, what: str) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x
    try:
        arr = np.asarray(x)
    except Exception as exc:  # ragged lists and the like
        raise ValueError(f"{what} must be a tensor or an array, got {type(x).__name__} ({exc})") from None
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise ValueError(f"{what} must be numeric, got dtype {arr.dtype}")
    return torch.as_tensor(arr)


def _checked(obs, actions, rewards, next_obs, terminated):
    """The five fields as tensors, refusing values that cannot be right (``ValueError`` naming them)."""
    obs, next_obs = _tensor(obs, "obs"), _tensor(next_obs, "next_obs")
    actions, rewards, terminated = _tensor(actions, "actions"), _tensor(rewards, "rewards"), \
        _tensor(terminated, "terminated")
    if actions.dtype.is_floating_point or actions.dtype == torch.bool:
        raise ValueError(f"actions must be integers, got dtype {actions.dtype} (e.g. {actions.flatten()[:3].tolist()})")
    if actions.numel() and int(actions.min()) < 0:
        raise ValueError(f"actions must be >= 0, got {int(actions.min())}")
    for name, x in (("obs", obs), ("next_obs", next_obs), ("rewards", rewards)):
        if x.dtype.is_floating_point and not bool(torch.isfinite(x).all()):
            raise ValueError(f"{name} must be finite, got {int((~torch.isfinite(x)).sum())} NaN or infinite value(s)")
    if terminated.dtype != torch.bool and terminated.numel() and not bool(((terminated == 0) | (terminated == 1)).all()):
        bad = terminated[(terminated != 0) & (terminated != 1)].flatten()[0]
        raise ValueError(f"terminated must be 0 or 1 (or bool), got {float(bad):g}")
    return obs, actions, rewards, next_obs, terminated


class PrioritizedReplay(ReplayBuffer):
    """Proportional prioritized replay (lesson 04, optional): P(i) ~ priority_i ** alpha.

    New transitions get the largest priority seen so far, so each is replayed at least about as
    often as under uniform sampling before its TD error is known. ``sample`` returns the batch,
    the slot indices (for ``update_priorities``) and importance weights ``(N P(i)) ** -beta``
    normalised by their maximum. Sampling uses ``torch.multinomial`` on the device: O(capacity)
    work per batch, no host synchronisation.
    """

    def __init__(self, capacity: int, obs_shape, device: str | torch.device = "cpu",
                 obs_dtype: torch.dtype = torch.float32, alpha: float = 0.6, eps: float = 1e-3):
        super().__init__(capacity, obs_shape, device, obs_dtype)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f"alpha must lie in [0, 1], got {alpha!r}")
        if not is_number(eps, above=0.0):
            raise ValueError(f"eps must be positive (it keeps every priority above zero), got {eps!r}")
        self.alpha, self.eps = float(alpha), float(eps)
        self.priorities = torch.zeros(capacity, dtype=torch.float32, device=self.device)
        self.max_priority = torch.ones((), dtype=torch.float32, device=self.device)

    def add(self, obs, actions, rewards, next_obs, terminated, validate: bool = True) -> None:
        """Write a batch (as ``ReplayBuffer.add``) with the largest priority seen so far."""
        b, pos = len(obs), self.pos
        super().add(obs, actions, rewards, next_obs, terminated, validate=validate)
        idx = (pos + torch.arange(b, device=self.device)) % self.capacity
        self.priorities.index_fill_(0, idx, self.max_priority)

    def sample(self, batch_size: int, generator: torch.Generator | None = None,
               beta: float = 0.4) -> tuple[Batch, torch.Tensor, torch.Tensor]:
        """Draw ``batch_size`` slots with probability ~ priority**alpha; returns (batch, idx, weights)."""
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        if not is_int(batch_size, 1):
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        p = self.priorities[:self.size].pow(self.alpha)
        probs = p / p.sum()
        idx = torch.multinomial(probs, batch_size, replacement=True, generator=generator)
        weights = (self.size * probs[idx]).pow(-beta)
        return self._gather(idx), idx, weights / weights.max()

    def state_dict(self) -> dict:
        """As ``ReplayBuffer.state_dict``, plus the priorities."""
        return {**super().state_dict(), "priorities": self.priorities[:self.size].clone().cpu(),
                "max_priority": self.max_priority.clone().cpu()}

    def load_state_dict(self, state: dict) -> None:
        """As ``ReplayBuffer.load_state_dict``, plus the priorities."""
        if "priorities" not in state:
            raise ValueError("the saved replay buffer has no priorities (it was not a PrioritizedReplay)")
        super().load_state_dict(state)
        self.priorities[:self.size] = state["priorities"].to(self.device)
        self.max_priority = state["max_priority"].to(self.device)

    def update_priorities(self, idx: torch.Tensor, td_error: torch.Tensor) -> None:
        """Set the priorities of the sampled slots to ``|td_error| + eps``."""
        if idx.shape != td_error.shape:
            raise ValueError(f"idx and td_error must have the same shape, got {tuple(idx.shape)} and "
                             f"{tuple(td_error.shape)}")
        pr = td_error.detach().abs().float().to(self.device) + self.eps
        self.priorities[idx.to(self.device)] = pr
        self.max_priority = torch.maximum(self.max_priority, pr.max())


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

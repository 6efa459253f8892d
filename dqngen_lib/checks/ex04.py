"""Checks of exercise 04 (lesson 04): a ring buffer's add (with wraparound) and uniform sample.

The learner's class is built as ``cls(capacity, obs_shape, device)`` and must keep the fields of
``dqngen_lib.replay.ReplayBuffer``: ``obs``, ``next_obs``, ``actions``, ``rewards``, ``terminated``,
``pos`` (the next slot to write) and ``size`` (slots written, at most the capacity).
Every transition the checks write carries an id (1, 2, 3, ...) in all its fields, so a slot's
contents say which transition it holds; 0 means "never written".
"""
from __future__ import annotations

import torch

from ._common import CheckError, call, ok

__all__ = ["check_replay_add", "check_replay_sample"]

OBS_SHAPE = (2, 3, 3)


def _transitions(first: int, count: int, device):
    """Transitions ``first .. first+count-1`` in deliberately awkward dtypes (int32, float64, bool)."""
    ids = torch.arange(first, first + count, device=device)
    obs = ids.float()[:, None, None, None].expand(count, *OBS_SHAPE).clone()
    return (obs, ids.to(torch.int32), ids.double(), obs + 0.5, (ids % 7 == 0))


def _held(buf, slot: int) -> int:
    return int(round(float(buf.obs[slot].flatten()[0])))


def _call_method(method, *args, what: str):
    try:
        return call(method, *args, what=what)
    except CheckError:
        raise
    except Exception as exc:  # the learner's own error, shown with the situation that caused it
        raise CheckError(f"{what} raised {type(exc).__name__}: {exc}") from exc


def _check_state(buf, written: int, capacity: int, after: str) -> None:
    pos, size = written % capacity, min(written, capacity)
    if buf.pos != pos:
        raise CheckError(f"{after}: expected buffer index (pos, the next slot to write) {pos}, got {buf.pos}")
    if buf.size != size:
        raise CheckError(f"{after}: expected size {size} (transitions held, at most the capacity {capacity}), "
                         f"got {buf.size}")


def _check_contents(buf, written: int, capacity: int, after: str) -> None:
    for slot in range(capacity):
        if slot >= written:
            expected = 0
        else:  # the newest transition written to this slot
            expected = slot + 1 + capacity * ((written - 1 - slot) // capacity)
        got = _held(buf, slot)
        if got != expected:
            what = "nothing (never written)" if expected == 0 else f"transition {expected}"
            raise CheckError(f"{after}: expected buffer index {slot} to hold {what}, got "
                             f"{'nothing' if got == 0 else f'transition {got}'}")
        if expected:
            fields = {"next_obs": int(round(float(buf.next_obs[slot].flatten()[0]) - 0.5)),
                      "actions": int(buf.actions[slot]), "rewards": int(round(float(buf.rewards[slot])))}
            for name, v in fields.items():
                if v != expected:
                    raise CheckError(f"{after}: buffer index {slot} holds transition {expected} in obs but "
                                     f"{v} in {name}; expected every field written at the same index")
            if float(buf.terminated[slot]) != float(expected % 7 == 0):
                raise CheckError(f"{after}: buffer index {slot}: expected terminated = {float(expected % 7 == 0)}, "
                                 f"got {float(buf.terminated[slot])}")


def _check_dtypes(buf, device) -> None:
    want = {"obs": torch.float32, "next_obs": torch.float32, "actions": torch.int64, "rewards": torch.float32,
            "terminated": torch.float32}
    for name, dtype in want.items():
        t = getattr(buf, name, None)
        if not isinstance(t, torch.Tensor):
            raise CheckError(f"expected the buffer to keep a tensor field {name!r}, got {type(t).__name__}")
        if t.dtype != dtype:
            raise CheckError(f"buffer field {name!r}: expected dtype {dtype} (preallocated in __init__), got "
                             f"{t.dtype}; convert incoming data with .to(...) instead of replacing the tensor")
        if t.device != torch.device(device):
            raise CheckError(f"buffer field {name!r}: expected it on {device}, got {t.device}")


def _run_add(cls, device) -> None:
    capacity = 1000
    buf = cls(capacity, OBS_SHAPE, device)
    written = 0
    for b in (300, 300, 400, 250, 900):  # fills exactly to the end, then wraps in the middle of a batch
        batch = _transitions(written + 1, b, device)
        after = f"after adding {written + b} transitions (the last batch of {b}) to a buffer of capacity {capacity}"
        _call_method(buf.add, *batch, what=f"add() of {b} transitions at pos {written % capacity}")
        written += b
        _check_state(buf, written, capacity, after)
        _check_dtypes(buf, device)
        _check_contents(buf, written, capacity, after)


def check_replay_add(cls) -> None:
    """``cls(capacity, obs_shape, device).add(obs, actions, rewards, next_obs, terminated)`` writes a batch with wraparound."""
    _run_add(cls, "cpu")
    if torch.cuda.is_available():
        _run_add(cls, "cuda")
    ok("add writes every field at pos, wraps around the end, keeps pos and size right, and converts dtypes")


def _fill(cls, capacity: int, written: int, device):
    """A buffer whose fields hold transitions as if ``written`` had been added (independent of add())."""
    buf = cls(capacity, OBS_SHAPE, device)
    ids = torch.zeros(capacity, device=device)
    for i in range(1, written + 1):
        ids[(i - 1) % capacity] = i
    buf.obs[:] = ids[:, None, None, None].to(buf.obs.dtype)
    buf.next_obs[:] = (ids + 0.5)[:, None, None, None].to(buf.obs.dtype)
    buf.actions[:] = ids.long()
    buf.rewards[:] = ids
    buf.terminated[:] = (ids % 7 == 0).float() * (ids > 0).float()
    buf.pos, buf.size = written % capacity, min(written, capacity)
    return buf


def _sample(buf, batch_size: int, seed: int, device, what: str):
    gen = torch.Generator(device=device).manual_seed(seed)
    out = _call_method(buf.sample, batch_size, gen, what=what)
    if not isinstance(out, tuple) or len(out) != 5:
        raise CheckError(f"{what}: expected a Batch (obs, actions, rewards, next_obs, terminated), "
                         f"got {type(out).__name__}")
    obs, actions, rewards, next_obs, terminated = out
    shapes = {"obs": (obs, (batch_size, *OBS_SHAPE), torch.float32),
              "actions": (actions, (batch_size,), torch.int64), "rewards": (rewards, (batch_size,), torch.float32),
              "next_obs": (next_obs, (batch_size, *OBS_SHAPE), torch.float32),
              "terminated": (terminated, (batch_size,), torch.float32)}
    for name, (t, shape, dtype) in shapes.items():
        if not isinstance(t, torch.Tensor):
            raise CheckError(f"{what}: expected {name} as a torch.Tensor, got {type(t).__name__}")
        if tuple(t.shape) != shape:
            raise CheckError(f"{what}: expected {name} of shape {shape}, got {tuple(t.shape)}")
        if t.dtype != dtype:
            raise CheckError(f"{what}: expected {name} of dtype {dtype}, got {t.dtype}")
        if t.device != torch.device(device):
            raise CheckError(f"{what}: expected {name} on the buffer's device {device}, got {t.device}")
    ids = obs.flatten(1)[:, 0].round().long()
    for name, v in (("actions", actions), ("rewards", rewards.round().long()),
                    ("next_obs", (next_obs.flatten(1)[:, 0] - 0.5).round().long())):
        bad = (v != ids).nonzero()
        if len(bad):
            i = int(bad[0, 0])
            raise CheckError(f"{what}: row {i} has obs of transition {int(ids[i])} but {name} of transition "
                             f"{int(v[i])}; expected all fields of a row drawn from the same buffer index")
    return ids


def _run_sample(cls, device) -> None:
    # Partly filled: 30 of 100 slots written; every draw must come from slots 0..29, each about equally.
    n = 6000
    buf = _fill(cls, 100, 30, device)
    ids = _sample(buf, n, 0, device, "sample(6000) from a buffer holding 30 transitions (capacity 100)")
    if bool((ids == 0).any()):
        raise CheckError("sample drew a buffer index that was never written: the buffer holds 30 transitions in "
                         "indices 0-29 of 100; expected indices drawn from [0, size), not [0, capacity)")
    counts = torch.bincount(ids.cpu(), minlength=31)[1:]
    if int(counts.min()) == 0:
        slot = int((counts == 0).nonzero()[0, 0])
        raise CheckError(f"buffer index {slot} (holding transition {slot + 1}) was never sampled in {n} draws from "
                         f"30 transitions; expected every written index about {n // 30} times "
                         f"(torch.randint(high, ...) excludes high)")
    if int(counts.max()) > 2 * n // 30 or int(counts.min()) < n // 30 // 2:
        raise CheckError(f"expected each of the 30 transitions about {n // 30} times in {n} uniform draws, got "
                         f"counts from {int(counts.min())} to {int(counts.max())}")
    # Wrapped: 130 transitions written to 100 slots (pos 30): every slot is valid now.
    buf = _fill(cls, 100, 130, device)
    ids = _sample(buf, n, 1, device, "sample(6000) from a full buffer (130 written to capacity 100, pos 30)")
    held = set(range(31, 131))
    missing = held - set(ids.tolist())
    if missing:
        m = min(missing)
        raise CheckError(f"after the wrap (size 100, pos 30) buffer index {(m - 1) % 100} (transition {m}) was "
                         f"never sampled; expected every one of the 100 indices to be drawn (size, not pos, "
                         f"bounds the draw)")
    torch.rand(7)  # move the global random state: a sample that ignores the generator now differs
    again = _sample(buf, n, 1, device, "sample(6000) with a generator seeded as before")
    if not torch.equal(ids, again):
        raise CheckError("two samples with generators seeded alike differ; expected the indices drawn with "
                         "generator=generator (and device=self.device) in torch.randint")


def check_replay_sample(cls) -> None:
    """``buf.sample(batch_size, generator) -> Batch``: uniform over the written slots, on the buffer's device."""
    _run_sample(cls, "cpu")
    if torch.cuda.is_available():
        _run_sample(cls, "cuda")
    ok("sample draws uniformly from the written indices only, keeps each row's fields together, returns the "
       "right dtypes on the buffer's device, and is reproducible with its generator")

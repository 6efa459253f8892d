"""Checks of exercise 04 (lesson 04): a ring buffer's add (with wraparound) and uniform sample.

The learner's class is built as ``cls(capacity, obs_shape, device)`` and must keep the fields of
``dqngen_lib.replay.ReplayBuffer``: ``obs``, ``next_obs``, ``actions``, ``rewards``, ``terminated``,
``pos`` (the next slot to write) and ``size`` (slots written, at most the capacity).
Every transition the checks write carries an id (1, 2, 3, ...) in all its fields, so a slot's
contents say which transition it holds; 0 means "never written".
"""
from __future__ import annotations

import torch

from ..replay import Batch
from ._common import CheckError, call, cuda_devices, ok, same_device

__all__ = ["check_replay_add", "check_replay_sample"]

OBS_SHAPE = (2, 3, 3)
_ADD_ARGS = ("obs", "actions", "rewards", "next_obs", "terminated")


def _transitions(first: int, count: int, device):
    """Transitions ``first .. first+count-1`` in deliberately awkward dtypes (int32, float64, bool)."""
    ids = torch.arange(first, first + count, device=device)
    obs = ids.float()[:, None, None, None].expand(count, *OBS_SHAPE).clone()
    return (obs, ids.to(torch.int32), ids.double(), obs + 0.5, (ids % 7 == 0))


def _held(buf, slot: int) -> int:
    return int(round(float(buf.obs[slot].flatten()[0])))


def _new_buffer(cls, capacity: int, device):
    what = f"{cls.__name__}({capacity}, {OBS_SHAPE}, {device!r})"
    return call(cls, capacity, OBS_SHAPE, device, what=what, names=("capacity", "obs_shape", "device"))


def _method(buf, name: str):
    fn = getattr(buf, name, None)
    if not callable(fn):
        raise CheckError(f"expected the buffer to have a method {name}(...), got {type(fn).__name__}")
    return fn


def _check_state(buf, written: int, capacity: int, after: str) -> None:
    pos, size = written % capacity, min(written, capacity)
    for name in ("pos", "size"):
        v = getattr(buf, name, None)
        if isinstance(v, torch.Tensor) and v.numel() == 1:
            v = int(v)
        if not isinstance(v, int):
            raise CheckError(f"{after}: expected the buffer's {name} to be an int, got {type(v).__name__}")
    got_pos, got_size = int(buf.pos), int(buf.size)
    if got_pos != pos:
        raise CheckError(f"{after}: expected buffer index (pos, the next slot to write) {pos}, got {got_pos}")
    if got_size != size:
        raise CheckError(f"{after}: expected size {size} (transitions held, at most the capacity {capacity}), "
                         f"got {got_size}")


def _check_contents(buf, written: int, capacity: int, after: str) -> None:
    for slot in range(capacity):
        if slot >= written:
            expected = 0
        else:  # the newest transition written to this slot
            expected = slot + 1 + capacity * ((written - 1 - slot) // capacity)
        raw = float(buf.obs[slot].flatten()[0])
        if abs(raw - round(raw)) > 0.25:
            raise CheckError(f"{after}: buffer index {slot} holds {raw:g} in obs, the next_obs of transition "
                             f"{int(round(raw - 0.5))}; expected obs in obs and next_obs in next_obs (the arguments "
                             f"come in the order obs, actions, rewards, next_obs, terminated)")
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


def _check_dtypes(buf, device, capacity: int) -> None:
    want = {"obs": torch.float32, "next_obs": torch.float32, "actions": torch.int64, "rewards": torch.float32,
            "terminated": torch.float32}
    for name, dtype in want.items():
        t = getattr(buf, name, None)
        if not isinstance(t, torch.Tensor):
            raise CheckError(f"expected the buffer to keep a tensor field {name!r}, got {type(t).__name__}")
        shape = (capacity, *OBS_SHAPE) if name in ("obs", "next_obs") else (capacity,)
        if tuple(t.shape) != shape:
            raise CheckError(f"buffer field {name!r}: expected shape {shape} (preallocated in __init__, one row "
                             f"per slot), got {tuple(t.shape)}; write into the existing tensor at the slots' "
                             f"indices instead of replacing it")
        if t.dtype != dtype:
            raise CheckError(f"buffer field {name!r}: expected dtype {dtype} (preallocated in __init__), got "
                             f"{t.dtype}; convert incoming data with .to(...) instead of replacing the tensor")
        if not same_device(t.device, device):
            raise CheckError(f"buffer field {name!r}: expected it on {device}, got {t.device}")


def _run_add(cls, device, capacity: int, batches) -> None:
    buf = _new_buffer(cls, capacity, device)
    written = 0
    for b in batches:
        batch = _transitions(written + 1, b, device)
        after = f"after adding {written + b} transitions (the last batch of {b}) to a buffer of capacity {capacity}"
        what = f"add() of {b} transitions at pos {written % capacity} (capacity {capacity})"
        call(_method(buf, "add"), *batch, what=what, names=_ADD_ARGS)
        written += b
        _check_state(buf, written, capacity, after)
        _check_dtypes(buf, device, capacity)
        _check_contents(buf, written, capacity, after)


def check_replay_add(cls) -> None:
    """``cls(capacity, obs_shape, device).add(obs, actions, rewards, next_obs, terminated)`` writes a batch with wraparound."""
    for device in ["cpu", *cuda_devices()]:
        # Fills exactly to the end, then wraps in the middle of a batch.
        _run_add(cls, device, 1000, (300, 300, 400, 250, 900))
        # A small buffer: wraps in the middle of batches, and a batch as large as the capacity.
        _run_add(cls, device, 7, (3, 4, 5, 6, 7, 1))
    ok("add writes every field at pos, wraps around the end, keeps pos and size right, and converts dtypes")


def _fill(cls, capacity: int, written: int, device):
    """A buffer whose fields hold transitions as if ``written`` had been added (independent of add())."""
    buf = _new_buffer(cls, capacity, device)
    _check_dtypes(buf, device, capacity)
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


def _sample(buf, batch_size: int, seed, device, what: str, gen=None):
    gen = gen if gen is not None else torch.Generator(device=device).manual_seed(seed)
    out = call(_method(buf, "sample"), batch_size, gen, what=what, names=("batch_size", "generator"))
    if not isinstance(out, Batch):
        kind = type(out).__name__
        raise CheckError(f"{what}: expected a replay Batch (Batch(obs, actions, rewards, next_obs, terminated), "
                         f"from dqngen_lib.replay import Batch), got {kind}"
                         + (" (wrap the five tensors in Batch(...))" if isinstance(out, (tuple, list)) else "")
                         + (" (did sample forget to return its result?)" if out is None else ""))
    shapes = {"obs": (out.obs, (batch_size, *OBS_SHAPE), torch.float32),
              "actions": (out.actions, (batch_size,), torch.int64),
              "rewards": (out.rewards, (batch_size,), torch.float32),
              "next_obs": (out.next_obs, (batch_size, *OBS_SHAPE), torch.float32),
              "terminated": (out.terminated, (batch_size,), torch.float32)}
    for name, (t, shape, dtype) in shapes.items():
        if not isinstance(t, torch.Tensor):
            raise CheckError(f"{what}: expected {name} as a torch.Tensor, got {type(t).__name__}")
        if tuple(t.shape) != shape:
            raise CheckError(f"{what}: expected {name} of shape {shape}, got {tuple(t.shape)}")
        if t.dtype != dtype:
            raise CheckError(f"{what}: expected {name} of dtype {dtype}, got {t.dtype}")
        if not same_device(t.device, device):
            raise CheckError(f"{what}: expected {name} on the buffer's device {device}, got {t.device}")
    ids = out.obs.flatten(1)[:, 0].round().long()
    for name, v in (("actions", out.actions), ("rewards", out.rewards.round().long()),
                    ("next_obs", (out.next_obs.flatten(1)[:, 0] - 0.5).round().long())):
        bad = (v != ids).nonzero()
        if len(bad):
            i = int(bad[0, 0])
            raise CheckError(f"{what}: row {i} has obs of transition {int(ids[i])} but {name} of transition "
                             f"{int(v[i])}; expected all fields of a row drawn from the same buffer index")
    term = ((ids % 7 == 0) & (ids > 0)).float()
    bad = (out.terminated != term).nonzero()
    if len(bad):
        i = int(bad[0, 0])
        raise CheckError(f"{what}: row {i} holds transition {int(ids[i])} but terminated = "
                         f"{float(out.terminated[i]):g}; expected {float(term[i]):g} (the terminated flag of the "
                         f"same buffer index)")
    return ids


def _check_random(cls, device) -> None:
    """Small batches from a full buffer: reproducible with the generator, and random."""
    buf = _fill(cls, 100, 130, device)
    b = 32
    desc = f"sample({b}) from a full buffer (130 transitions written to capacity 100)"
    ids = _sample(buf, b, 0, device, f"{desc} with a generator seeded 0")
    if len(set(ids.tolist())) == 1:
        raise CheckError(f"{desc}: all {b} rows hold the same transition ({int(ids[0])}); expected {b} independent "
                         f"draws, one index per row (torch.randint(self.size, (batch_size,), ...))")
    torch.rand(7)  # move the global random state: a sample that ignores the generator now differs
    again = _sample(buf, b, 0, device, f"{desc}, again with a generator seeded 0")
    if not torch.equal(ids, again):
        i = int((ids != again).nonzero()[0, 0])
        raise CheckError(f"{desc}: two samples with generators seeded alike differ (row {i}: transition "
                         f"{int(ids[i])}, then {int(again[i])}); expected the indices drawn with "
                         "generator=generator (and device=self.device) in torch.randint, not from the global "
                         "random state")
    other = _sample(buf, b, 1, device, f"{desc} with a generator seeded 1")
    if torch.equal(ids, other):
        newest = sorted(range(131 - b, 131))
        if sorted(ids.tolist()) == newest:
            why = f"they are the newest {b} transitions, with no randomness"
        elif len(set(ids.tolist())) == 1:
            why = "every row is the same transition"
        else:
            why = "the generator argument has no effect"
        raise CheckError(f"{desc}: generators seeded differently (0 and 1) gave the same {b} transitions ({why}); "
                         "expected indices drawn uniformly at random with the generator argument "
                         "(torch.randint(self.size, (batch_size,), generator=generator, device=self.device))")
    gen = torch.Generator(device=device).manual_seed(2)
    first = _sample(buf, b, None, device, f"{desc}, a first call with a generator", gen=gen)
    second = _sample(buf, b, None, device, f"{desc}, a second call with the same generator", gen=gen)
    if torch.equal(first, second):
        raise CheckError(f"{desc}: two consecutive calls with the same generator gave the same transitions; "
                         "expected the generator to advance as indices are drawn from it (pass it as "
                         "generator=generator; do not copy its seed into a new generator)")
    one = _sample(buf, 1, 3, device, "sample(1) from a full buffer (130 written to capacity 100)")
    if not 31 <= int(one[0]) <= 130:
        raise CheckError(f"sample(1) drew transition {int(one[0])}, which the buffer no longer holds")


def _run_sample(cls, device) -> None:
    _check_random(cls, device)
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
        hint = " (torch.randint(high, ...) excludes high)" if slot == 29 else ""
        raise CheckError(f"buffer index {slot} (holding transition {slot + 1}) was never sampled in {n} draws from "
                         f"30 transitions; expected every written index about {n // 30} times{hint}")
    if int(counts.max()) > 2 * n // 30 or int(counts.min()) < n // 30 // 2:
        raise CheckError(f"expected each of the 30 transitions about {n // 30} times in {n} uniform draws, got "
                         f"counts from {int(counts.min())} to {int(counts.max())}")
    # Wrapped: 130 transitions written to 100 slots (pos 30): every slot is valid now.
    buf = _fill(cls, 100, 130, device)
    ids = _sample(buf, n, 1, device, "sample(6000) from a full buffer (130 written to capacity 100, pos 30)")
    # Independent rows: a row's transition says nothing about the next row's.
    step = ((ids[1:] - ids[:-1]) % 100 == 1).double().mean().item()
    if step > 0.05:
        raise CheckError(f"sample(6000) from a full buffer (capacity 100): in {step:.0%} of the pairs of neighbouring "
                         f"rows the second holds the transition written right after the first's (expected about 1% "
                         f"for independent draws); expected every row drawn independently and uniformly, not a "
                         f"run of consecutive slots")
    held = set(range(31, 131))
    missing = held - set(ids.tolist())
    if missing:
        m = min(missing)
        raise CheckError(f"after the wrap (size 100, pos 30) buffer index {(m - 1) % 100} (transition {m}) was "
                         f"never sampled; expected every one of the 100 indices to be drawn (size, not pos, "
                         f"bounds the draw)")
    # A small buffer after the wrap: 10 transitions written to 7 slots (pos 3).
    buf = _fill(cls, 7, 10, device)
    ids = _sample(buf, 700, 4, device, "sample(700) from a buffer of capacity 7 holding transitions 4-10 (pos 3)")
    counts = torch.bincount(ids.cpu(), minlength=11)[4:]
    if bool((ids < 4).any()) or int(counts.min()) < 40 or int(counts.max()) > 160:
        raise CheckError(f"sample(700) from a buffer of capacity 7 holding transitions 4-10: expected each about "
                         f"100 times, got counts {counts.tolist()} for transitions 4-10"
                         + (f" and transition(s) {sorted(set(ids[ids < 4].tolist()))} the buffer does not hold"
                            if bool((ids < 4).any()) else ""))


def check_replay_sample(cls) -> None:
    """``buf.sample(batch_size, generator) -> Batch``: uniform over the written slots, on the buffer's device."""
    for device in ["cpu", *cuda_devices()]:
        _run_sample(cls, device)
    ok("sample draws uniformly from the written indices only, keeps each row's fields together, returns the "
       "right dtypes on the buffer's device, and is reproducible with its generator")

"""Training for a budget (lessons 05 and 08): the one driver behind ``train``, the seed agent and the
benchmarks.

``run_budget(advance, progress, seconds=..., steps=...)`` calls ``advance(k)`` (k units of work,
e.g. k batched environment steps) until the budget is spent, firing ``Event``s on the way: every
so many steps (chunks end exactly on these marks), every so many seconds of training time, or at
geometrically spaced times. An event with ``pause=True`` (an evaluation) stops the clock while it
runs, so that "seconds of training" means training. ``stop()`` is asked between chunks, never
inside one (Ctrl-C in ``train`` sets it), so a stopped run is in a clean state.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

from .utils import is_int

__all__ = ["Clock", "CLOCKS", "check_clock", "Event", "run_budget", "check_budget"]


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}
"""What a budget in seconds counts: ``"wall"`` clock time, or ``"cpu"`` seconds of this process (all its
threads), which another program on the machine does not eat into: fair budgets on a shared CPU."""


def check_clock(clock: str) -> None:
    """``ValueError`` unless ``clock`` names one of ``CLOCKS``."""
    if clock not in CLOCKS:
        raise ValueError(f"unknown clock {clock!r}; expected one of {', '.join(map(repr, CLOCKS))}")


class Clock:
    """Seconds of training: time since ``start`` minus the pauses, plus ``offset`` (a resumed run);
    ``kind`` is ``"wall"`` (the default) or ``"cpu"`` (``CLOCKS``)."""

    def __init__(self, offset: float = 0.0, kind: str = "wall"):
        check_clock(kind)
        self.now = CLOCKS[kind]
        self.offset = float(offset)
        self.t0 = self.now()
        self.paused_for = 0.0
        self._frozen = None

    def elapsed(self) -> float:
        """Seconds of training so far (constant while the clock is paused)."""
        if self._frozen is not None:
            return self._frozen
        return self.offset + self.now() - self.t0 - self.paused_for

    def pause(self, fn: Callable[[], object]):
        """Run ``fn()`` with the clock stopped; returns its result."""
        t = self.now()
        self._frozen = self.elapsed()
        try:
            return fn()
        finally:
            self._frozen = None
            self.paused_for += self.now() - t


@dataclass
class Event:
    """Something to do during training: ``fn()`` every ``steps`` progress units, or every ``seconds``
    of training time (each interval ``growth`` times longer than the last when ``growth`` is given:
    geometric evaluation times), or after every chunk when neither is given. ``pause=True`` stops
    the clock while ``fn`` runs."""

    fn: Callable[[], object]
    steps: int | None = None
    seconds: float | None = None
    growth: float | None = None
    pause: bool = False
    next_at: float = field(default=math.nan, repr=False)

    def __post_init__(self):
        if self.steps is not None and (isinstance(self.steps, bool) or not isinstance(self.steps, int)
                                       or self.steps < 1):
            raise ValueError(f"Event.steps must be a positive integer, got {self.steps!r}")
        if self.seconds is not None and (not isinstance(self.seconds, (int, float)) or not math.isfinite(self.seconds)
                                         or self.seconds <= 0):
            raise ValueError(f"Event.seconds must be a positive number, got {self.seconds!r}")
        if self.steps is not None and self.seconds is not None:
            raise ValueError("an Event fires every so many steps or every so many seconds, not both")
        if self.growth is not None and (self.seconds is None or not self.growth >= 1.0):
            raise ValueError(f"Event.growth needs seconds and must be >= 1, got {self.growth!r}")


def check_budget(seconds=None, steps=None) -> None:
    """``ValueError`` unless at least one budget is given and each is a positive finite number."""
    if seconds is None and steps is None:
        raise ValueError("give a budget: seconds or steps, or both (--seconds, --steps on the command line)")
    if seconds is not None and (isinstance(seconds, bool) or not isinstance(seconds, (int, float))
                                or not math.isfinite(seconds) or seconds <= 0):
        raise ValueError(f"seconds must be a positive finite number, got {seconds!r}")
    if steps is not None and not is_int(steps, 1):
        raise ValueError(f"steps must be a positive integer, got {steps!r}")


def run_budget(advance: Callable[[int], object], progress: Callable[[], int], *, seconds: float | None = None,
               steps: int | None = None, unit: int = 1, max_chunk: int | None = None, events=(),
               stop: Callable[[], bool] | None = None, clock: Clock | None = None,
               sync: Callable[[], object] | None = None, chunk_seconds: float = 0.5) -> dict:
    """Call ``advance(k)`` until ``progress()`` reaches ``steps`` or the clock reaches ``seconds``.

    ``advance(k)`` does ``k`` chunks of work worth ``unit`` progress units each (the trainer: ``k``
    batched steps of ``num_envs`` environment steps); a chunk never crosses a step mark of an
    event or the step budget, and is at most ``max_chunk``. Chunks are also sized from the time the
    last one took, to about ``chunk_seconds`` of work (starting at one, at most doubling), so that
    neither the seconds budget nor ``stop()`` waits on a long chunk whatever the events' spacing.
    ``sync()`` runs after each chunk before the clock is read (wait for a GPU). Returns
    ``{"seconds": training time, "stopped_by": "steps" | "seconds" | "stop"}``.
    """
    check_budget(seconds, steps)
    if not is_int(unit, 1):
        raise ValueError(f"unit must be a positive integer, got {unit!r}")
    clock = Clock() if clock is None else clock
    events = list(events)
    start = progress()
    k_cap = 1                                   # chunk size allowed by the time chunks take
    for ev in events:
        if ev.steps is not None:
            ev.next_at = (start // ev.steps + 1) * ev.steps
        elif ev.seconds is not None:
            ev.next_at = clock.elapsed() + ev.seconds if ev.growth is None else ev.seconds
    while True:
        if stop is not None and stop():
            reason = "stop"
            break
        done = progress()
        if steps is not None and done >= steps:
            reason = "steps"
            break
        if seconds is not None and clock.elapsed() >= seconds:
            reason = "seconds"
            break
        marks = [ev.next_at for ev in events if ev.steps is not None]
        if steps is not None:
            marks.append(steps)
        k = max(1, math.ceil((min(marks) - done) / unit)) if marks else k_cap
        if max_chunk is not None:
            k = min(k, max_chunk)
        k = min(k, k_cap)
        began = clock.elapsed()
        advance(k)
        if sync is not None:
            sync()
        done, now = progress(), clock.elapsed()
        took = now - began
        k_cap = 2 * k if took <= 0 else max(1, min(2 * k, int(k * chunk_seconds / took)))
        for ev in events:
            if ev.steps is not None:
                due = done >= ev.next_at
            elif ev.seconds is not None:
                due = now >= ev.next_at
            else:
                due = True
            if not due:
                continue
            clock.pause(ev.fn) if ev.pause else ev.fn()
            if ev.steps is not None:
                ev.next_at = (done // ev.steps + 1) * ev.steps
            elif ev.seconds is not None:
                now = clock.elapsed()
                ev.next_at = now + ev.seconds if ev.growth is None else max(ev.next_at * ev.growth, now + 0.1)
    return {"seconds": clock.elapsed(), "stopped_by": reason}

"""budget.run_budget: chunks sized by the time they take, so a seconds budget or a stop is never stuck behind one."""
import pytest

from dqngen_lib.budget import Clock, Event, run_budget


class FakeClock(Clock):
    """A clock that advances only when work is done (10 ms per unit of progress): deterministic."""

    def __init__(self):
        super().__init__()
        self.t = self.t0 = 0.0
        self.now = lambda: self.t


def _worker(clock, per_unit=0.01):
    state = {"done": 0, "chunks": []}

    def advance(k):
        state["chunks"].append(k)
        state["done"] += k
        clock.t += per_unit * k
    return state, advance


def test_a_seconds_budget_is_not_stuck_behind_a_far_event():
    clock = FakeClock()
    state, advance = _worker(clock)
    out = run_budget(advance, lambda: state["done"], seconds=3.0, events=[Event(lambda: None, steps=10**9)],
                     clock=clock)
    assert out["stopped_by"] == "seconds"
    # without the sizing the first chunk ran to the event 10**9 units away (10**7 s)
    assert max(state["chunks"]) <= 100, state["chunks"]          # about chunk_seconds = 0.5 s of work each
    assert 3.0 <= clock.t <= 3.6, clock.t
    assert state["chunks"][:4] == [1, 2, 4, 8]                   # starts at one, at most doubling


def test_a_stop_is_heard_within_a_chunk_of_half_a_second():
    clock = FakeClock()
    state, advance = _worker(clock)
    out = run_budget(advance, lambda: state["done"], steps=10**9, stop=lambda: clock.t >= 2.0, clock=clock)
    assert out["stopped_by"] == "stop" and 2.0 <= clock.t <= 2.6, clock.t


def test_chunk_sizes_never_cross_an_event_or_the_step_budget():
    clock = FakeClock()
    state, advance = _worker(clock, per_unit=1e-6)
    seen = []
    run_budget(advance, lambda: state["done"], steps=1000, events=[Event(lambda: seen.append(state["done"]), steps=300)],
               clock=clock)
    assert seen == [300, 600, 900] and state["done"] == 1000


@pytest.mark.parametrize("chunk_seconds", [0.1, 1.0])
def test_the_chunk_target_scales_the_chunks(chunk_seconds):
    clock = FakeClock()
    state, advance = _worker(clock)
    run_budget(advance, lambda: state["done"], seconds=5.0, clock=clock, chunk_seconds=chunk_seconds)
    assert max(state["chunks"]) == pytest.approx(chunk_seconds / 0.01, rel=0.05)

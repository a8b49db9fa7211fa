"""edgecheck.progress: notes reach the listener bound around a run, throttled, else nothing."""

from __future__ import annotations

import itertools

from edgecheck import progress
from edgecheck.bench.timing import Target, TimingPolicy, measure_interleaved


class Fixed:
    def sample(self, n):
        return [1_000_000] * n


def test_a_note_without_a_listener_does_nothing():
    progress.note("nobody listens")  # no error, nothing to see


def test_notes_reach_the_listener_only_inside_the_block():
    seen: list[str] = []
    assert not progress.active()
    with progress.listening(seen.append, min_interval=0.0):
        assert progress.active()
        progress.note("one")
        progress.note("two")
    progress.note("three")
    assert seen == ["one", "two"]


def test_notes_are_throttled_but_the_first_one_always_shows(monkeypatch):
    ticks = itertools.count(0.0, 0.125)  # 125 ms between notes (exact in binary)
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(ticks))
    seen: list[str] = []
    with progress.listening(seen.append, min_interval=0.5):
        for i in range(9):
            progress.note(str(i))
    assert seen == ["0", "4", "8"]


def test_the_timing_harness_notes_warmup_and_timed_rounds():
    seen: list[str] = []
    policy = TimingPolicy(warmup_rounds=1, warmup_time=0.0, min_rounds=2, min_time=0.0)
    targets = [Target("A", Fixed()), Target("B", Fixed())]
    with progress.listening(seen.append, min_interval=0.0):
        measure_interleaved(targets, policy=policy)
    assert seen[:3] == [
        "warming up 2 configurations: round 1",
        "timing 2 configurations: round 1",
        "timing 2 configurations: round 2",
    ]

"""Test-only helpers: make a runner a known factor slower, to prove a check has teeth.

A regression suite must prove that it catches what it claims to catch: a 20-30 % slower
runner must FAIL, its identical twin must pass. Nothing in the measuring code knows about
slowing down. Measure functions take *variants*, extra copies of a cell timed in the same
run with their runner wrapped (`edgecheck.bench.workloads.RunnerWrapper`); `Slowdown` is the
wrapper the tests and benchmarks pass::

    table = measure_table("fqa", settings, variants=[(4, 2, Slowdown(1.2)), (4, 2, TWIN)])
    assert judge_cell(table, claim, 4, 2, "cpu", variant=Slowdown(1.2)).verdict == "FAIL"

`SlowedRunner` wraps a real runner and, after each real inference, busy-waits
``(factor - 1)`` times the call's own measured duration, so the whole call takes about
``factor`` times as long. It busy-waits rather than sleeps: a sleep gives the core away and
its wake-up latency (tens of microseconds) would swamp the slowdown on a sub-millisecond
model.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from edgecheck.backends.base import BackendError, Runner

TEETH_SLOWDOWN = 1.2
"""The slowdown the teeth tests inject: 20 %, which every timed rule must catch."""


class SlowedRunner(Runner):
    """Wraps `runner`; every `infer` takes about `factor` times as long as the real one.

    Args:
        runner: the runner to slow down (activated and deactivated with this one).
        factor: total time / real time, at least 1.0; e.g. 1.3 for a 30 % slowdown.
        clock: nanosecond clock, injectable for deterministic tests.
            Default ``time.perf_counter_ns``.

    Attributes:
        calls: inferences run so far.
        waited_ns: total nanoseconds spent busy-waiting.
        spins: clock reads made while waiting (for tests of the wait loop).
    """

    def __init__(
        self,
        runner: Runner,
        factor: float,
        *,
        clock: Callable[[], int] = time.perf_counter_ns,
    ) -> None:
        if not factor >= 1.0:
            raise BackendError(
                f"slowdown factor {factor!r} for {runner.config.describe()} must be at "
                f"least 1.0 (1.3 = 30 % slower)."
            )
        super().__init__(runner.config, runner.input_shape)
        self.inner = runner
        self.factor = float(factor)
        self._clock = clock
        self.calls = 0
        self.waited_ns = 0
        self.spins = 0

    def _activate_impl(self) -> None:
        self.inner.activate()

    def _deactivate_impl(self) -> None:
        self.inner.deactivate()

    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        clock = self._clock
        start = clock()
        output = self.inner.infer(batch)
        end = clock()
        deadline = start + int((end - start) * self.factor)
        now = end
        while now < deadline:
            self.spins += 1
            now = clock()
        self.waited_ns += now - end
        self.calls += 1
        return output

    def __repr__(self) -> str:
        return f"<SlowedRunner x{self.factor:g} of {self.inner!r}>"


@dataclass(frozen=True)
class Slowdown:
    """A picklable, hashable runner wrapper (`RunnerWrapper`): `SlowedRunner` of `factor`.

    ``Slowdown(1.0)`` (`TWIN`) wraps nothing: an identical copy timed beside the real cell.
    Its `tag` names the copy's worker and timing (``"...-twin"``, ``"...-slowed-x1.2"``).
    """

    factor: float

    @property
    def tag(self) -> str:
        return "twin" if self.factor == 1.0 else f"slowed-x{self.factor:g}"

    def __call__(self, runner: Runner) -> Runner:
        return runner if self.factor == 1.0 else SlowedRunner(runner, self.factor)

    def __str__(self) -> str:
        return f"x{self.factor:g}"


TWIN = Slowdown(1.0)

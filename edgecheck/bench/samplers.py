"""What times one workload: a `Sampler` returns the wall time of each of `n` calls.

One sample is the wall time of ONE call (one inference of one batch), taken with
``time.perf_counter_ns`` immediately around the call and nothing else, so the harness adds
two clock reads and a list store per sample (`harness_overhead` measures it). `CallSampler`
times a callable in this process (`edgecheck.bench.cores.CoreWorker` in a worker pinned to N
cores); `run_queue_wait_ns` is how long this process's threads waited for a CPU, the signal
of other jobs on its cores.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Protocol, runtime_checkable

from edgecheck.bench.stats import SampleStats

Clock = Callable[[], int]  # nanoseconds, monotonic


@runtime_checkable
class Sampler(Protocol):
    """Anything that can time `n` consecutive calls of its workload.

    `sample` returns ``n`` durations in nanoseconds, one per call. `CallSampler` does it in
    this process; `edgecheck.bench.cores.CoreWorker` does it in a worker pinned to N cores.

    A sampler may also set ``last_wait_ns`` and ``last_wall_ns`` after each `sample`: how
    long its process's threads waited, runnable, for a CPU (the kernel's run-queue delay)
    and how long the call took. The harness turns them into the measurement's contention
    (see `Measurement.contention`).
    """

    def sample(self, n: int) -> list[int]: ...


class CallSampler:
    """Times a zero-argument callable in this process.

    Args:
        fn: the workload, e.g. ``lambda: runner.infer(batch)``.
        clock: nanosecond wall clock. Default ``time.perf_counter_ns``; inject a fake one
            in tests.
        wait_clock: nanoseconds this process's threads have waited for a CPU so far, or
            ``None`` where unknown; read once before and once after each `sample`, never
            inside a timed call. Default `run_queue_wait_ns` (Linux schedstat).

    Attributes:
        last_wait_ns, last_wall_ns: run-queue wait (``None`` when unknown) and wall time of
            the last `sample` call.
    """

    def __init__(
        self,
        fn: Callable[[], object],
        clock: Clock = time.perf_counter_ns,
        wait_clock: Callable[[], int | None] | None = None,
    ) -> None:
        self.fn = fn
        self.clock = clock
        self.wait_clock = wait_clock or run_queue_wait_ns
        self.last_wait_ns: int | None = None
        self.last_wall_ns = 0

    def sample(self, n: int) -> list[int]:
        fn = self.fn  # locals: attribute lookups inside the loop would be timed overhead
        clock = self.clock
        out = [0] * n  # allocated before timing starts; the loop only stores into it
        wait_start = self.wait_clock()
        wall_start = clock()
        for i in range(n):
            start = clock()
            fn()
            out[i] = clock() - start
        self.last_wall_ns = clock() - wall_start
        wait_end = self.wait_clock()
        if wait_start is None or wait_end is None:
            self.last_wait_ns = None
        else:
            self.last_wait_ns = wait_end - wait_start
        return out


def run_queue_wait_ns() -> int | None:
    """Total nanoseconds this process's threads have spent runnable but not running.

    The kernel's run-queue delay (second field of ``/proc/self/task/*/schedstat``). Idle
    and blocked threads add nothing, so it stays near 0 however a runtime's thread pool
    waits, and it grows exactly when other jobs take the CPUs this process wants. ``None``
    where the kernel does not expose it.
    """
    total = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/schedstat", "rb") as fh:
                total += int(fh.read().split()[1])
        except FileNotFoundError:
            continue  # the thread ended since listdir: its waiting is over
        except (OSError, ValueError, IndexError):
            return None
    return total


def harness_overhead(rounds: int = 20_000, *, clock: Clock = time.perf_counter_ns) -> SampleStats:
    """Seconds the harness adds to one timed call: the timing of an empty call.

    It is what `CallSampler` measures around a function that does nothing (two clock reads,
    the call, a list store). Compare its median with the workload's: under 1 % of a 1 ms
    call is the target.

    Args:
        rounds: empty calls to time. Default 20,000.
        clock: the clock under test. Default ``time.perf_counter_ns``.
    """

    def nothing() -> None:
        return None

    sampler = CallSampler(nothing, clock)
    sampler.sample(min(rounds, 1000))  # warm the interpreter's caches first
    return SampleStats([ns / 1e9 for ns in sampler.sample(rounds)])

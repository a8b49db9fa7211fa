"""Which CPUs a measurement runs on: choosing N cores, pinning a process or its threads.

`choose_cores` picks distinct physical cores before SMT siblings, from the usable cores
(`edgecheck.device.usable_core_count`: the affinity mask capped by a cgroup CPU quota, the
one definition of "usable cores"). The worker processes (`bench/worker.py`) and onnxruntime
sessions (`bench/workloads.py`) pin with the helpers below.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from edgecheck.device import usable_core_count, usable_cores
from edgecheck.errors import EdgecheckError


class CoresUnavailable(EdgecheckError):
    """More cores were asked for than this process may use.

    The message is exactly ``"needs N cores, this machine has M"``: short enough to be the
    reason of a pytest skip.

    Attributes:
        needed: cores asked for.
        available: cores usable here.
    """

    def __init__(self, needed: int, available: int) -> None:
        self.needed = needed
        self.available = available
        super().__init__(f"needs {needed} cores, this machine has {available}")


@contextlib.contextmanager
def on_one_core() -> Iterator[int]:
    """Within the block this process runs on its first usable core only (for in-process
    single-thread measurements); the affinity mask is restored afterwards."""
    if not hasattr(os, "sched_setaffinity"):
        yield usable_cores()[0]
        return
    saved = os.sched_getaffinity(0)
    cpu = min(saved)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, saved)


def physical_core(cpu: int) -> tuple[int, int] | None:
    base = Path(f"/sys/devices/system/cpu/cpu{cpu}/topology")
    try:
        package = int((base / "physical_package_id").read_text())
        core = int((base / "core_id").read_text())
    except (OSError, ValueError):
        return None
    return package, core


def choose_cores(n: int, usable: Sequence[int] | None = None) -> tuple[int, ...]:
    """Pick `n` CPU ids to pin to: distinct physical cores first, SMT siblings last.

    Two hyper-threads of one core share its arithmetic units, so "2 cores" on them would
    not be two cores in the paper's sense.

    Args:
        n: cores wanted.
        usable: candidate CPU ids. Default `usable_cores()`.

    Raises:
        CoresUnavailable: `n` exceeds the usable cores.
    """
    cpus = list(usable) if usable is not None else usable_cores()
    if n < 1:
        raise ValueError(f"cores must be at least 1, got {n!r}")
    available = len(cpus) if usable is not None else usable_core_count()
    if n > available:
        raise CoresUnavailable(n, available)
    first, siblings, seen = [], [], set()
    for cpu in cpus:
        core = physical_core(cpu)
        if core is None or core not in seen:
            first.append(cpu)
            if core is not None:
                seen.add(core)
        else:
            siblings.append(cpu)
    return tuple(sorted((first + siblings)[:n]))


def cores_unavailable_reason(n: int) -> str | None:
    """``"needs N cores, this machine has M"`` when `n` cores cannot be had, else ``None``."""
    try:
        choose_cores(n)
    except CoresUnavailable as exc:
        return str(exc)
    return None


def one_thread_per_core(threads: int) -> list[int] | None:
    """Pin the calling thread to the first of this process's `threads` CPUs; return the rest.

    One thread per core, as on a dedicated board: left to the kernel, both threads of a
    2-core worker were stacked on one core after a 1-core worker's turn (measured: 25 %
    run-queue wait, no speedup at all). The returned CPUs are for the runtime's pool
    threads. ``None`` (nothing pinned) for one thread, or when the process's CPUs do not
    number exactly `threads`.
    """
    if threads < 2 or not hasattr(os, "sched_getaffinity"):
        return None
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) != threads:
        return None
    os.sched_setaffinity(0, {cpus[0]})  # the calling thread only
    return cpus[1:]


def per_thread_affinities() -> list[list[int]]:
    """The CPUs each thread of this process may run on (Linux), one sorted list per thread."""
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return [sorted(os.sched_getaffinity(0))] if hasattr(os, "sched_getaffinity") else []
    result = []
    for tid in tasks:
        with contextlib.suppress(OSError, ValueError):
            result.append(sorted(os.sched_getaffinity(int(tid))))
    return sorted(result)


def pin_all_threads(cpu_ids: tuple[int, ...]) -> None:
    """Pin every thread of this process that may run outside `cpu_ids` to `cpu_ids`.

    The spawn start method imports the parent's ``__main__`` module before the worker code
    runs; a thread pool that import started would otherwise keep the full CPU mask.
    Threads already placed inside `cpu_ids` (one per core, by the runtime) keep their place.
    """
    allowed = set(cpu_ids)
    with contextlib.suppress(OSError):
        for tid in os.listdir("/proc/self/task"):
            with contextlib.suppress(OSError, ValueError):
                if not os.sched_getaffinity(int(tid)) <= allowed:
                    os.sched_setaffinity(int(tid), cpu_ids)

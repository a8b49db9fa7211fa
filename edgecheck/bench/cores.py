"""Run workloads on exactly N cores, each in its own worker process, as a group.

This module holds the groups (`WorkerGroup`, `DataParallel`, `parallel_ceiling`) and is the
one import for the rest: `bench/affinity.py` (choosing and pinning cores),
`bench/workloads.py` (what a worker runs: `RunnerSpec`, the references),
`bench/worker.py` (the process and its pipe protocol: `CoreWorker`).

The paper's Tables III and IV compare 1, 2 and 4 cores. Thread counts are process-wide
state (torch's ``set_num_threads``, OpenMP and BLAS pools created at import), so every
configuration gets a fresh worker process ("spawn": no state inherited from the parent),
pinned with ``os.sched_setaffinity`` to N of the usable cores before anything heavy is
imported, with the runtime's thread count set to N (``OMP_NUM_THREADS`` et al. in the
environment, torch ``set_num_threads``, onnxruntime ``intra_op_num_threads``).

The worker builds its workload once and then serves timing requests over a pipe, so several
workers can be measured interleaved (A B A B ...) by `edgecheck.bench.timing` without
rebuilding anything. Each `CoreWorker` is a `Sampler` and gives a ready `Target`::

    specs = [(RunnerSpec("fqa", batch_size=4), n) for n in (1, 2)]
    with WorkerGroup(specs) as workers:
        one, two = measure_interleaved([w.target() for w in workers], block=5, settle=1)

Workers that take turns on the same cores can disturb each other; three measures keep them
apart (each found necessary by measurement on this project's 2-core machine):

* one thread per core: the worker's thread and each runtime pool thread are pinned to
  distinct cores (left to the kernel, both threads of a 2-core worker were stacked on one
  core after a 1-core worker's turn: no speedup at all);
* onnxruntime pools stop spinning when a run returns (a still-spinning pool stole 4 ms of
  the next worker's 1.4 ms call);
* each worker reports its threads' run-queue wait, so a measurement disturbed anyway (by
  another job on the machine) is flagged instead of trusted (`Measurement.contention`).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

from edgecheck.bench.affinity import (
    CoresUnavailable,
    choose_cores,
    cores_unavailable_reason,
    on_one_core,
    usable_core_count,
    usable_cores,
)
from edgecheck.bench.worker import DEFAULT_START_TIMEOUT, CoreWorker, WorkerError
from edgecheck.bench.workloads import (
    BusyWorkload,
    MatmulWorkload,
    RunnerSpec,
    RunnerWrapper,
    WorkloadFactory,
    pinned_session,
    workload_label,
)

__all__ = [
    "DEFAULT_START_TIMEOUT",
    "BusyWorkload",
    "CoreWorker",
    "CoresUnavailable",
    "DataParallel",
    "MatmulWorkload",
    "RunnerSpec",
    "RunnerWrapper",
    "WorkerError",
    "WorkerGroup",
    "WorkloadFactory",
    "choose_cores",
    "cores_unavailable_reason",
    "on_one_core",
    "parallel_ceiling",
    "pinned_session",
    "unique_names",
    "usable_core_count",
    "usable_cores",
]


class DataParallel:
    """A `Sampler` that runs one call on each of several workers at the same time.

    The workers (typically 1-core workers of the same `RunnerSpec`, each pinned to its own
    core) are started together on each `sample` request and each times its own calls. Call
    k's combined duration is ``1 / sum_i(1 / d_ik)``: the time per batch of their aggregate
    throughput. Timed against one of them alone, in the same interleaved run, it gives the
    cores' own data-parallel scaling (N independent runners over one), the yardstick of an
    N-core intra-op speedup: what the same cores deliver when nothing is split across them.

    Args:
        workers: started `CoreWorker` objects (their pipes are used in turn).

    Attributes:
        last_wait_ns: the workers' run-queue waits summed (``None`` when one reports none).
        last_wall_ns: the longest worker's wall time.
    """

    def __init__(self, workers: Sequence[CoreWorker]) -> None:
        if not workers:
            raise WorkerError("DataParallel needs at least one worker.")
        self.workers = list(workers)
        self.last_wait_ns: int | None = None
        self.last_wall_ns = 0

    @property
    def cores(self) -> int:
        """Cores held by the workers together."""
        return sum(w.cores for w in self.workers)

    def sample(self, n: int) -> list[int]:
        for worker in self.workers:
            worker.start_sample(n)
        per_worker = [worker.finish_sample() for worker in self.workers]
        waits = [w.last_wait_ns for w in self.workers]
        self.last_wait_ns = None if any(x is None for x in waits) else sum(waits)  # type: ignore[arg-type]
        self.last_wall_ns = max(w.last_wall_ns for w in self.workers)
        return [
            max(1, round(1.0 / sum(1.0 / max(d, 1) for d in call)))
            for call in zip(*per_worker, strict=True)
        ]

    def target(self, name: str) -> Any:
        """A `edgecheck.bench.timing.Target` for the group (batch size of its first worker)."""
        from edgecheck.bench.timing import Target

        first = self.workers[0].workload
        spec = first if isinstance(first, RunnerSpec) else None
        return Target(
            name=name,
            sampler=self,
            batch_size=spec.batch_size if spec else 1,
            config={"data_parallel": [w.name for w in self.workers]},
            extra={
                "cores": self.cores,
                "cpu_ids": [c for w in self.workers for c in w.cpu_ids],
                "workers": [w.name for w in self.workers],
            },
            cores=self.cores,
        )


class WorkerGroup:
    """Start several workers together, share ONNX exports, and stop them all on exit.

    Args:
        items: ``(workload, cores)`` pairs, or ``(workload, cores, cpu_ids)`` to pin a
            worker to given CPUs (e.g. one 1-core worker per core for `DataParallel`);
            workloads are `RunnerSpec` or any factory.
        share_exports: export each torch model once, in this process, for all
            onnxruntime/tensorrt specs that use it (`ModelArtifact.exported`, kept in the
            process's cache for later groups; the workers load the file). Default True.
        start_timeout: per worker, seconds. Default 900.

    Raises:
        CoresUnavailable: some item asks for more cores than usable (before anything starts).
    """

    def __init__(
        self,
        items: Sequence[tuple[WorkloadFactory, int] | tuple[WorkloadFactory, int, Sequence[int]]],
        *,
        share_exports: bool = True,
        start_timeout: float = DEFAULT_START_TIMEOUT,
    ) -> None:
        self.items: list[tuple[WorkloadFactory, int]] = []
        self.cpu_ids: list[tuple[int, ...] | None] = []
        for item in items:
            choose_cores(item[1])
            self.items.append((item[0], item[1]))
            self.cpu_ids.append(tuple(item[2]) if len(item) > 2 else None)
        self.share_exports = share_exports
        self.start_timeout = start_timeout
        self.workers: list[CoreWorker] = []

    def _with_shared_exports(self) -> list[tuple[WorkloadFactory, int]]:
        from edgecheck.backends import ModelArtifact
        from edgecheck.backends.artifact import looks_like_onnx_path

        # A list, not a dict: an artifact's options make it unhashable; groups are small.
        exported: list[tuple[ModelArtifact, ModelArtifact]] = []
        result: list[tuple[WorkloadFactory, int]] = []
        for workload, cores in self.items:
            model = workload.model if isinstance(workload, RunnerSpec) else None
            if (
                isinstance(workload, RunnerSpec)
                and workload.backend in ("onnxruntime", "tensorrt")
                and (isinstance(model, ModelArtifact) or not looks_like_onnx_path(str(model)))
            ):
                artifact = ModelArtifact.of(workload.model)
                if artifact.onnx_path is None:
                    done = next((e for a, e in exported if a == artifact), None)
                    if done is None:
                        done = artifact.exported()
                        exported.append((artifact, done))
                    workload = replace(workload, model=done)
            result.append((workload, cores))
        return result

    def start(self) -> list[CoreWorker]:
        """Start every worker (builds run concurrently) and wait until all are ready."""
        items = self._with_shared_exports() if self.share_exports else self.items
        names = unique_names(items)
        self.workers = [
            CoreWorker(w, c, name=n, cpu_ids=cpus, start_timeout=self.start_timeout)
            for (w, c), n, cpus in zip(items, names, self.cpu_ids, strict=True)
        ]
        try:
            for worker in self.workers:
                worker.launch()
            for worker in self.workers:
                worker.wait_ready()
        except BaseException:
            self.close()
            raise
        return self.workers

    def close(self) -> None:
        """Stop every worker."""
        for worker in self.workers:
            worker.close()

    def __enter__(self) -> list[CoreWorker]:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[CoreWorker]:
        return iter(self.workers)


def parallel_ceiling(cores: int, *, policy: Any = None, n: int = 1024) -> Any:
    """The speedup an FP32 matrix product gets on `cores` cores over 1, measured now.

    A compute-bound model cannot scale better than this; when other jobs hold some of the
    cores, it drops towards 1 and tells a report why a speedup came out low. Both workers
    are measured interleaved.

    Args:
        cores: cores of the parallel side (must be usable).
        policy: a `TimingPolicy`. Default: 3 warm-up rounds, at least 20 rounds and 0.3 s.
        n: matrix size. Default 1024 (a few milliseconds per product on one core).

    Returns:
        An `edgecheck.bench.stats.Estimate` of the speedup.

    Raises:
        CoresUnavailable: `cores` exceeds the usable cores.
    """
    from edgecheck.bench.timing import TimingPolicy, measure_interleaved, speedup

    policy = policy or TimingPolicy(warmup_rounds=3, warmup_time=0.1, min_rounds=20, min_time=0.3)
    work = MatmulWorkload(n, "onnxruntime")
    with WorkerGroup([(work, 1), (work, cores)]) as (one, many):
        a, b = measure_interleaved([one.target(), many.target()], policy=policy)
    return speedup(a, b)


def unique_names(items: Sequence[tuple[WorkloadFactory, int]]) -> list[str]:
    names: list[str] = []
    for workload, cores in items:
        base = workload_label(workload, cores)
        name, k = base, 2
        while name in names:
            name, k = f"{base}#{k}", k + 1
        names.append(name)
    return names

"""The worker process: one workload on exactly N pinned cores, timed on request over a pipe.

Every configuration gets a fresh worker process ("spawn": no state inherited from the
parent), pinned with ``os.sched_setaffinity`` to N cores before anything heavy is imported,
with the runtime's thread count set to N (``OMP_NUM_THREADS`` et al. in the environment,
torch ``set_num_threads``, onnxruntime ``intra_op_num_threads``). It builds its workload once,
replies ``("ready", info)`` or ``("error", kind, text, traceback)``, then serves
``("sample", n)`` (n calls timed: durations, run-queue wait, wall time), ``("info",)`` and
``("stop",)``.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import pickle
import sys
import traceback
import weakref
from collections.abc import Sequence
from typing import Any

from edgecheck.bench.affinity import choose_cores, per_thread_affinities, pin_all_threads
from edgecheck.bench.workloads import RunnerSpec, WorkloadFactory, workload_label
from edgecheck.errors import EdgecheckError

DEFAULT_START_TIMEOUT = 900.0  # seconds; building VGG16 from scratch on one core is slow
_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


class WorkerError(EdgecheckError, RuntimeError):
    """A worker process failed to start, crashed, or its workload raised."""


def _worker_info(threads: int, pinned: bool) -> dict[str, Any]:
    info: dict[str, Any] = {
        "pid": os.getpid(),
        "threads": threads,
        "pinned": pinned,
        "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [],
    }
    per_thread = per_thread_affinities()
    info["thread_affinity"] = sorted({cpu for cpus in per_thread for cpu in cpus})
    info["per_thread_affinity"] = per_thread
    with contextlib.suppress(OSError):
        info["os_threads"] = len(os.listdir("/proc/self/task"))
    if "torch" in sys.modules:
        info["torch_threads"] = sys.modules["torch"].get_num_threads()
    return info


def _send_error(conn: Any, exc: BaseException) -> None:
    conn.send(("error", type(exc).__name__, str(exc), traceback.format_exc()))


def _worker_main(conn: Any, payload: bytes, cpu_ids: tuple[int, ...] | None, threads: int) -> None:
    """Entry point of a worker process; see the module docstring for the protocol."""
    # Before anything heavy is imported: thread pools read these at import, and threads
    # inherit the affinity of the thread that creates them.
    for var in _THREAD_ENV:
        os.environ[var] = str(threads)
    if cpu_ids is not None:
        # libgomp (torch's OpenMP) places its thread i on the i-th CPU listed: one per core.
        os.environ.setdefault("GOMP_CPU_AFFINITY", " ".join(str(c) for c in cpu_ids))
    pinned = False
    if cpu_ids is not None and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpu_ids)
        pinned = True
    from edgecheck.bench.timing import CallSampler

    try:
        factory = pickle.loads(payload)
        fn = factory(threads)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(threads)
        if pinned and cpu_ids is not None:
            pin_all_threads(cpu_ids)
        sampler = CallSampler(fn)
        conn.send(("ready", _worker_info(threads, pinned)))
    except BaseException as exc:
        _send_error(conn, exc)
        conn.close()
        return
    while True:
        try:
            message = conn.recv()
        except (EOFError, OSError):
            return  # the parent went away
        command = message[0]
        if command == "stop":
            conn.close()
            return
        try:
            if command == "sample":
                durations = sampler.sample(int(message[1]))
                conn.send(("ok", (durations, sampler.last_wait_ns, sampler.last_wall_ns)))
            elif command == "info":
                conn.send(("ok", _worker_info(threads, pinned)))
            else:
                conn.send(("error", "WorkerError", f"unknown command {command!r}", ""))
        except BaseException as exc:
            _send_error(conn, exc)


def _stop_process(process: Any, conn: Any) -> None:
    with contextlib.suppress(Exception):
        conn.send(("stop",))
    process.join(timeout=10)
    if process.is_alive():
        process.terminate()
        process.join(timeout=5)
    with contextlib.suppress(Exception):
        conn.close()


class CoreWorker:
    """A worker process pinned to `cores` cores that times one workload on request.

    Args:
        workload: a `WorkloadFactory` (e.g. a `RunnerSpec`), built once in the worker.
        cores: cores to pin to; the runtime gets as many threads.
        name: label for results and messages. Default: the workload's ``label(cores)``,
            or ``"workload-Nc"``.
        cpu_ids: exact CPU ids to pin to. Default: `choose_cores(cores)`.
        start_timeout: seconds to wait for the workload to build. Default 900.

    Raises:
        CoresUnavailable: more cores than usable (raised here, before any process starts).
    """

    def __init__(
        self,
        workload: WorkloadFactory,
        cores: int,
        *,
        name: str | None = None,
        cpu_ids: Sequence[int] | None = None,
        start_timeout: float = DEFAULT_START_TIMEOUT,
    ) -> None:
        self.workload = workload
        self.cores = cores
        self.cpu_ids = tuple(cpu_ids) if cpu_ids is not None else choose_cores(cores)
        if len(self.cpu_ids) != cores:
            raise WorkerError(f"cpu_ids {self.cpu_ids} do not name exactly {cores} cores.")
        if name is None:
            name = workload_label(workload, cores)
        self.name = name
        self.start_timeout = start_timeout
        self.ready_info: dict[str, Any] = {}
        self.last_wait_ns: int | None = None
        self.last_wall_ns = 0
        self._process: Any = None
        self._conn: Any = None
        self._finalizer: Any = None

    # -- lifecycle ---------------------------------------------------------------------------

    def launch(self) -> None:
        """Start the process without waiting for it (see `wait_ready`)."""
        if self._process is not None:
            return
        ctx = multiprocessing.get_context("spawn")
        parent_conn, child_conn = ctx.Pipe()
        # Pickled here and unpickled in the worker only after pinning, so that importing
        # the workload's modules happens on the chosen cores with the chosen thread counts.
        payload = pickle.dumps(self.workload)
        pinned = self.cpu_ids if hasattr(os, "sched_setaffinity") else None
        process = ctx.Process(
            target=_worker_main,
            args=(child_conn, payload, pinned, self.cores),
            name=f"edgecheck-{self.name}",
            daemon=True,
        )
        process.start()
        child_conn.close()
        self._process, self._conn = process, parent_conn
        self._finalizer = weakref.finalize(self, _stop_process, process, parent_conn)

    def wait_ready(self) -> CoreWorker:
        """Wait until the workload is built; raise `WorkerError` if that fails."""
        if self.ready_info:
            return self
        self.launch()
        if not self._conn.poll(self.start_timeout):
            self.close()
            raise WorkerError(
                f"worker {self.name!r} did not finish building its workload within "
                f"{self.start_timeout:g} s; raise start_timeout or check the model."
            )
        self.ready_info = self._reply("start")
        return self

    def start(self) -> CoreWorker:
        """Start the process and wait until the workload is built."""
        self.launch()
        return self.wait_ready()

    def close(self) -> None:
        """Stop the worker (idempotent)."""
        if self._finalizer is not None:
            self._finalizer()
        self._process = self._conn = self._finalizer = None
        self.ready_info = {}

    def __enter__(self) -> CoreWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests ----------------------------------------------------------------------------

    def _reply(self, what: str) -> Any:
        try:
            message = self._conn.recv()
        except (EOFError, OSError):
            code = self._process.exitcode if self._process is not None else None
            self.close()
            raise WorkerError(
                f"worker {self.name!r} died during {what} (exit code {code}); a crash in "
                f"the runtime, or the machine ran out of memory."
            ) from None
        if message[0] == "error":
            _, kind, text, tb = message
            if what == "start":
                self.close()
            raise WorkerError(f"worker {self.name!r} failed during {what}: {kind}: {text}\n{tb}")
        return message[1]

    def _request(self, *message: Any) -> Any:
        if self._conn is None or not self.ready_info:
            raise WorkerError(f"worker {self.name!r} is not running; call start() first.")
        self._conn.send(message)
        return self._reply(message[0])

    def sample(self, n: int) -> list[int]:
        """Time `n` consecutive calls in the worker; nanoseconds per call.

        Also sets ``last_wait_ns`` / ``last_wall_ns``: how long the worker's threads waited
        for a CPU, and the wall time, over those calls; from them the harness sees whether
        the worker had its cores.
        """
        self.start_sample(n)
        return self.finish_sample()

    def start_sample(self, n: int) -> None:
        """Ask the worker to time `n` calls and return at once (see `finish_sample`): several
        workers started one after the other then run at the same time."""
        if self._conn is None or not self.ready_info:
            raise WorkerError(f"worker {self.name!r} is not running; call start() first.")
        self._conn.send(("sample", n))

    def finish_sample(self) -> list[int]:
        """The durations of the calls asked for by `start_sample` (as `sample` returns)."""
        durations, self.last_wait_ns, self.last_wall_ns = self._reply("sample")
        result: list[int] = durations
        return result

    def info(self) -> dict[str, Any]:
        """Ask the worker now: pid, thread count, affinity of its main thread and threads."""
        result: dict[str, Any] = self._request("info")
        return result

    def target(self, name: str | None = None) -> Any:
        """A `edgecheck.bench.timing.Target` for this worker (records its affinity)."""
        from edgecheck.bench.timing import Target

        spec = self.workload if isinstance(self.workload, RunnerSpec) else None
        return Target(
            name=name or self.name,
            sampler=self,
            batch_size=spec.batch_size if spec else 1,
            config=spec.config(self.cores) if spec else {"cores": self.cores},
            extra={"cores": self.cores, "cpu_ids": list(self.cpu_ids), "worker": self.ready_info},
            cores=self.cores,
        )

    def __repr__(self) -> str:
        state = "ready" if self.ready_info else "stopped"
        return f"<CoreWorker {self.name} on CPUs {list(self.cpu_ids)} ({state})>"

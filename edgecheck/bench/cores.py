"""Run a workload on exactly N cores, in its own worker process.

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

import contextlib
import multiprocessing
import os
import pickle
import sys
import traceback
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from edgecheck.device import usable_core_count, usable_cores
from edgecheck.errors import EdgecheckError

if TYPE_CHECKING:
    from edgecheck.backends import ModelArtifact

# A workload factory runs in the worker: given the thread count it builds the workload once
# and returns the zero-argument callable to time. It must be picklable (a module-level
# function, a functools.partial of one, or a `RunnerSpec`).
WorkloadFactory = Callable[[int], Callable[[], object]]

DEFAULT_START_TIMEOUT = 900.0  # seconds; building VGG16 from scratch on one core is slow
_THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


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


class WorkerError(EdgecheckError, RuntimeError):
    """A worker process failed to start, crashed, or its workload raised."""


# -- cores -----------------------------------------------------------------------------------


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


def _physical_core(cpu: int) -> tuple[int, int] | None:
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
        core = _physical_core(cpu)
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


# -- what a worker runs ----------------------------------------------------------------------


class RunnerWrapper(Protocol):
    """Wraps a built, inactive runner in the worker: extra copies of a cell timed in the same
    run (the test-only `edgecheck.testing.Slowdown`). Picklable and hashable: measure
    functions key the copies' timings by it; `tag` names them."""

    @property
    def tag(self) -> str: ...

    def __call__(self, runner: Any) -> Any: ...


@dataclass(frozen=True)
class RunnerSpec:
    """A picklable runner configuration; as a `WorkloadFactory` it builds the runner.

    In the worker, ``spec(threads)`` builds ``make_runner(..., threads=threads,
    device="cpu")``, activates it, checks one inference, and returns the call to time:
    one `Runner.infer` of one fixed, seeded batch.

    Attributes:
        model: a `ModelArtifact`, or a registered model name or ONNX path (resolved in the
            worker). `WorkerGroup` exports a torch artifact once for all its workers.
        backend: default ``"onnxruntime"``.
        precision: default: the artifact's (``"fp32"`` for a name or a path).
        batch_size: default 1.
        wrap: wraps the built runner in the worker (a `RunnerWrapper`, e.g. the test-only
            `edgecheck.testing.Slowdown`); its tag ends the label. Default: none.
        backend_options: passed to `make_runner`. For onnxruntime, ``spin_between_runs``
            defaults to False here (see `SessionFromOnnx`), since workers take turns.
        input_seed: seed of the input batch. Default 0.
        pin_threads: in a worker on N cores running N onnxruntime threads, pin each
            thread to its own core. Default True.
    """

    model: ModelArtifact | str
    backend: str = "onnxruntime"
    precision: str | None = None
    batch_size: int = 1
    wrap: RunnerWrapper | None = None
    backend_options: Mapping[str, Any] = field(default_factory=dict)
    input_seed: int = 0
    pin_threads: bool = True

    def __call__(self, threads: int) -> Callable[[], object]:
        runner = self.build(threads)
        batch = runner.example_input(self.input_seed)
        runner.infer(batch)  # a broken configuration fails here, at start, not mid-timing
        infer = runner.infer

        def call() -> object:
            return infer(batch)

        return call

    def build(self, threads: int) -> Any:
        """The active `Runner` this spec describes, with `threads` threads, on the CPU."""
        from edgecheck.backends import make_runner

        options = dict(self.backend_options)
        if self.backend == "onnxruntime":
            # Workers take turns on shared cores: a thread pool still spinning after its
            # turn would steal the next worker's core (4 ms of a 1.4 ms call, measured).
            options.setdefault("spin_between_runs", False)
            pool_cpus = _one_thread_per_core(threads) if self.pin_threads else None
            if pool_cpus is not None:
                options.setdefault("thread_affinities", pool_cpus)
        runner = make_runner(
            self.model,
            self.backend,
            self.precision,
            self.batch_size,
            threads,
            device="cpu",
            backend_options=options,
        )
        if self.wrap is not None:
            runner = self.wrap(runner)
        runner.activate()
        return runner

    def config(self, threads: int) -> Any:
        """The `RunnerConfig` the worker runs with `threads` threads."""
        from edgecheck.backends import ModelArtifact, RunnerConfig

        model, precision = self.model, self.precision
        if isinstance(model, ModelArtifact):
            name, precision = model.name, precision or model.precision
        else:
            name = Path(model).stem if model.lower().endswith(".onnx") else model
        return RunnerConfig(
            name, self.backend, precision or "fp32", self.batch_size, threads, "cpu"
        )

    def label(self, cores: int) -> str:
        """A short unique name, e.g. ``"fqa-onnxruntime-fp32-b4-2c"``."""
        tag = f"-{self.wrap.tag}" if self.wrap is not None else ""
        config = self.config(cores)
        return f"{config.model}-{self.backend}-{config.precision}-b{self.batch_size}-{cores}c{tag}"


@dataclass(frozen=True)
class BusyWorkload:
    """A `WorkloadFactory` whose call busy-waits `nanoseconds` in pure Python.

    A known, dependency-free workload: it checks the worker machinery (pinning, the pipe,
    timing) without loading a model, and calibrates the harness in the benchmark script.
    """

    nanoseconds: int = 1_000_000

    def __call__(self, threads: int) -> Callable[[], object]:
        import time

        clock = time.perf_counter_ns
        wait = self.nanoseconds

        def call() -> None:
            deadline = clock() + wait
            while clock() < deadline:
                pass

        return call

    def label(self, cores: int) -> str:
        """E.g. ``"busy1000us-1c"``."""
        return f"busy{self.nanoseconds // 1000}us-{cores}c"


@dataclass(frozen=True)
class MatmulWorkload:
    """A `WorkloadFactory`: one FP32 ``n x n`` matrix product per call (``2 n^3`` FLOPs).

    The machine's own FP32 matrix-multiply rate, measured the same way and in the same run
    as a model, is the yardstick for how well a runtime uses a core.

    Attributes:
        n: matrix size. Default 1024.
        library: ``"numpy"`` (its BLAS), ``"torch"``, or ``"onnxruntime"`` (a one-node
            MatMul graph: MLAS, the GEMM behind onnxruntime's convolutions). Default
            ``"numpy"``. numpy's BLAS reads its thread count (set by the worker) when numpy
            is first imported, so a worker's ``__main__`` must not import numpy at top level.
        seed: seed of the random operands. Default 0.
    """

    n: int = 1024
    library: str = "numpy"
    seed: int = 0

    @property
    def flops(self) -> int:
        """Floating-point operations per call: ``2 n^3``."""
        return 2 * self.n**3

    def label(self, cores: int) -> str:
        """E.g. ``"matmul2048-onnxruntime-1c"``."""
        return f"matmul{self.n}-{self.library}-{cores}c"

    def __call__(self, threads: int) -> Callable[[], object]:
        import numpy as np

        rng = np.random.default_rng(self.seed)
        a = rng.random((self.n, self.n), dtype=np.float32)
        b = rng.random((self.n, self.n), dtype=np.float32)
        if self.library == "torch":
            import torch

            torch.set_num_threads(threads)
            ta, tb = torch.from_numpy(a), torch.from_numpy(b)
            out = torch.empty_like(ta)
            return lambda: torch.mm(ta, tb, out=out)
        if self.library == "onnxruntime":
            return _onnxruntime_matmul(a, b, threads)
        if self.library != "numpy":
            raise ValueError(f"library {self.library!r} must be 'numpy', 'torch' or 'onnxruntime'.")
        out_np = np.empty_like(a)
        return lambda: np.matmul(a, b, out=out_np)


def _one_thread_per_core(threads: int) -> list[int] | None:
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


def _onnxruntime_matmul(a: Any, b: Any, threads: int) -> Callable[[], object]:
    from edgecheck._imports import require

    onnx = require("onnx", "an onnxruntime matmul reference")
    helper, TensorProto = onnx.helper, onnx.TensorProto
    n = a.shape[0]
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["a", "b"], ["c"])],
        "matmul",
        [helper.make_tensor_value_info(x, TensorProto.FLOAT, [n, n]) for x in ("a", "b")],
        [helper.make_tensor_value_info("c", TensorProto.FLOAT, [n, n])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    session = pinned_session(model.SerializeToString(), threads)
    feeds = {"a": a, "b": b}
    return lambda: session.run(None, feeds)


def pinned_session(model: bytes, threads: int) -> Any:
    """An onnxruntime CPU session on `threads` threads, placed one per core and quiet between
    runs like a RunnerSpec's session (see the module docstring)."""
    from edgecheck._imports import require

    ort = require("onnxruntime", "a pinned onnxruntime session")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.force_spinning_stop", "1")
    pool_cpus = _one_thread_per_core(threads)
    if pool_cpus:
        options.add_session_config_entry(
            "session.intra_op_thread_affinities", ";".join(str(c + 1) for c in pool_cpus)
        )
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


# -- the worker process ----------------------------------------------------------------------


def _per_thread_affinities() -> list[list[int]]:
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


def _pin_all_threads(cpu_ids: tuple[int, ...]) -> None:
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


def _worker_info(threads: int, pinned: bool) -> dict[str, Any]:
    info: dict[str, Any] = {
        "pid": os.getpid(),
        "threads": threads,
        "pinned": pinned,
        "affinity": sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else [],
    }
    per_thread = _per_thread_affinities()
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
            _pin_all_threads(cpu_ids)
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
            name = _label(workload, cores)
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
        names = _unique_names(items)
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


def _label(workload: WorkloadFactory, cores: int) -> str:
    """The workload's own `label(cores)` where it has one, else ``"workload-Nc"``."""
    label = getattr(workload, "label", None)
    return str(label(cores)) if callable(label) else f"workload-{cores}c"


def _unique_names(items: Sequence[tuple[WorkloadFactory, int]]) -> list[str]:
    names: list[str] = []
    for workload, cores in items:
        base = _label(workload, cores)
        name, k = base, 2
        while name in names:
            name, k = f"{base}#{k}", k + 1
        names.append(name)
    return names

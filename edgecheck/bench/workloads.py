"""What a worker process runs: picklable workload factories.

A workload factory runs in the worker: given the thread count it builds the workload once
and returns the zero-argument callable to time. It must be picklable (a module-level
function, a functools.partial of one, or one of the dataclasses here). `RunnerSpec` builds a
runner from a `ModelArtifact`; `BusyWorkload` and `MatmulWorkload` are references with no
model.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from edgecheck.bench.affinity import one_thread_per_core

if TYPE_CHECKING:
    from edgecheck.backends import ModelArtifact

WorkloadFactory = Callable[[int], Callable[[], object]]


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
            pool_cpus = one_thread_per_core(threads) if self.pin_threads else None
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
    runs like a RunnerSpec's session (see `edgecheck.bench.cores`: interleaved workers)."""
    from edgecheck._imports import require

    ort = require("onnxruntime", "a pinned onnxruntime session")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.force_spinning_stop", "1")
    pool_cpus = one_thread_per_core(threads)
    if pool_cpus:
        options.add_session_config_entry(
            "session.intra_op_thread_affinities", ";".join(str(c + 1) for c in pool_cpus)
        )
    return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])


def workload_label(workload: WorkloadFactory, cores: int) -> str:
    """The workload's own `label(cores)` where it has one, else ``"workload-Nc"``."""
    label = getattr(workload, "label", None)
    return str(label(cores)) if callable(label) else f"workload-{cores}c"

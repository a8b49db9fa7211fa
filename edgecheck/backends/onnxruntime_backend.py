"""The ONNX Runtime runner: the CPU execution provider, GPU providers where installed.

Loader + runner, as in Polygraphy: `SessionFromOnnx` builds an ``InferenceSession`` lazily
from an ONNX path (or a loader returning one, such as `artifact.TemporaryOnnx` which exports a
registered torch model); `OnnxruntimeRunner` runs it.

Precision: fp32 runs the file as it is. int8 needs a quantized file (QDQ from
``onnxruntime.quantization.quantize_static``), and fp16 a file converted to half precision:
this runner never converts behind the user's back, it checks and says what to pass.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from edgecheck._imports import require
from edgecheck.backends.base import BackendError, Runner, RunnerConfig

# Provider preference on a GPU machine: TensorRT's EP, then CUDA's; the CPU EP always last
# so that operators a GPU provider lacks still run.
GPU_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider")
# Arm Compute Library EP (Arm CPUs such as the TX2's), used ahead of the default CPU EP.
CPU_ACCEL_PROVIDERS = ("ACLExecutionProvider",)
CPU_PROVIDER = "CPUExecutionProvider"

OnnxLike = str | os.PathLike[str] | Callable[[], Path]


def nchwc_channel_multiple(cpu_flags: frozenset[str] | None = None) -> int:
    """The channel multiple onnxruntime's x86 CPU kernels want: their NCHWc block size.

    MLAS blocks conv and pool channels by 16 with AVX-512 and by 8 with AVX2. A conv runs
    blocked only when its input channel count is a multiple of 4 (or under 16), a pool only
    when its channels fill whole blocks; elsewhere they fall back to im2col and reorders
    (measured on Table VI's plan with onnxruntime 1.32). The blocked conv pads its channels
    to the block anyway, so widening a layer with zero filters up to the block costs no
    arithmetic there. 1 where there are no blocked kernels (Arm, older x86): widening
    would only add work.

    Args:
        cpu_flags: the CPU's ISA flags; default this machine's (`edgecheck.device`).
    """
    if cpu_flags is None:
        from edgecheck.device import detect_device

        cpu_flags = detect_device().capabilities.cpu_flags
    if "avx512f" in cpu_flags:
        return 16
    if "avx2" in cpu_flags:
        return 8
    return 1


def choose_providers(device: str, available: Sequence[str] | None = None) -> list[str]:
    """The execution providers to use for `device`, best first, from those installed.

    Args:
        device: ``"cpu"`` or ``"cuda"``.
        available: installed providers; default ``onnxruntime.get_available_providers()``.

    Raises:
        BackendError: ``"cuda"`` asked for but no GPU provider is installed.
    """
    if available is None:
        ort = require("onnxruntime", "the onnxruntime backend")
        available = ort.get_available_providers()
    if device == "cuda":
        gpu = [p for p in GPU_PROVIDERS if p in available]
        if not gpu:
            raise BackendError(
                f"onnxruntime has no GPU execution provider here (installed: "
                f"{', '.join(available)}); install onnxruntime-gpu or use device='cpu'."
            )
        return [*gpu, CPU_PROVIDER]
    return [*(p for p in CPU_ACCEL_PROVIDERS if p in available), CPU_PROVIDER]


class SessionFromOnnx:
    """Loader: build an ``onnxruntime.InferenceSession`` when called.

    Args:
        onnx: path to the ONNX file, or a callable returning one (called lazily).
        threads: ``intra_op_num_threads``; inter-op threads are fixed at 1 so that
            `threads` is the whole parallelism, as the paper's core counts require.
        providers: execution providers, best first. Default: `choose_providers("cpu")`.
        spinning: let idle pool threads spin between operators. Default ``True``
            (onnxruntime's own default: lowest latency; without it two threads gave no
            speedup over one on the FQA CNN here).
        spin_between_runs: keep spinning after a run returns, until the next one. Default
            ``True`` (onnxruntime's default). ``False`` ("session.force_spinning_stop")
            when several sessions take turns on the same cores, as interleaved timing does:
            a pool still spinning after its turn steals the next session's core (measured
            here: 4 ms stolen from a 1.4 ms call).
        thread_affinities: one CPU id (0-based) per pool thread, ``threads - 1`` of them
            (onnxruntime does not place the caller's thread; pin that one yourself).
            Default ``None``: the kernel places them. Pinning matters when sessions take
            turns on shared cores: the kernel, judging a core busy from its recent past,
            stacked both threads of a 2-thread session on one core (no speedup at all).
        config_entries: more onnxruntime session config entries (``add_session_config_entry``),
            e.g. ``{"session.dynamic_block_base": "4"}``; set after the ones above, so they
            win.
    """

    def __init__(
        self,
        onnx: OnnxLike,
        *,
        threads: int = 1,
        providers: Sequence[str] | None = None,
        spinning: bool = True,
        spin_between_runs: bool = True,
        thread_affinities: Sequence[int] | None = None,
        config_entries: Mapping[str, str] | None = None,
    ) -> None:
        if thread_affinities is not None and len(thread_affinities) != threads - 1:
            raise BackendError(
                f"thread_affinities {list(thread_affinities)} must name threads - 1 = "
                f"{threads - 1} CPU(s): one per pool thread; the caller's thread is not "
                f"placed by onnxruntime."
            )
        self.onnx = onnx
        self.threads = threads
        self.providers = list(providers) if providers is not None else None
        self.spinning = spinning
        self.spin_between_runs = spin_between_runs
        self.thread_affinities = list(thread_affinities) if thread_affinities else None
        self.config_entries = dict(config_entries or {})

    def __call__(self) -> Any:
        ort = require("onnxruntime", "the onnxruntime backend")
        path = self.onnx() if callable(self.onnx) else Path(self.onnx)
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry(
            "session.intra_op.allow_spinning", "1" if self.spinning else "0"
        )
        options.add_session_config_entry(
            "session.force_spinning_stop", "0" if self.spin_between_runs else "1"
        )
        if self.thread_affinities:
            # onnxruntime numbers logical processors from 1.
            options.add_session_config_entry(
                "session.intra_op_thread_affinities",
                ";".join(str(cpu + 1) for cpu in self.thread_affinities),
            )
        for key, value in self.config_entries.items():
            options.add_session_config_entry(key, str(value))
        providers = self.providers if self.providers is not None else choose_providers("cpu")
        return ort.InferenceSession(str(path), sess_options=options, providers=providers)


class OnnxruntimeRunner(Runner):
    """Runs an ONNX model with onnxruntime.

    Args:
        session_loader: builds the session (called once, in `activate`), e.g. `SessionFromOnnx`.
        config: backend ``"onnxruntime"``.
        input_shape: one example's shape without the batch axis.
        on_loaded: called after the session is built, e.g. to delete a temporary export.
    """

    def __init__(
        self,
        session_loader: Callable[[], Any],
        config: RunnerConfig,
        input_shape: tuple[int, ...],
        *,
        on_loaded: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(config, input_shape)
        self._loader = session_loader
        self._on_loaded = on_loaded
        self.session: Any = None
        self._input_name = ""
        self._output_names: list[str] = []

    @property
    def providers(self) -> list[str]:
        """The providers the active session really uses (empty before `activate`)."""
        return list(self.session.get_providers()) if self.session is not None else []

    def _activate_impl(self) -> None:
        try:
            session = self._loader()
        finally:
            if self._on_loaded is not None:
                self._on_loaded()
        inputs = session.get_inputs()
        if len(inputs) != 1:
            names = ", ".join(i.name for i in inputs)
            raise BackendError(
                f"{self.config.describe()}: the model has {len(inputs)} inputs ({names}); "
                f"edgecheck runners take single-input models."
            )
        self.session = session
        self._input_name = inputs[0].name
        # Only the first output is returned; asking for it alone lets onnxruntime skip
        # copying the others.
        self._output_names = [session.get_outputs()[0].name]

    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        out: np.ndarray = self.session.run(self._output_names, {self._input_name: batch})[0]
        return out

    def _deactivate_impl(self) -> None:
        self.session = None

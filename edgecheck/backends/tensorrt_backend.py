"""The TensorRT runner, through Polygraphy only, kept thin.

Polygraphy's loaders do the TensorRT work (``NetworkFromOnnxPath`` -> ``CreateConfig`` ->
``EngineFromNetwork``) and ``TrtRunner`` runs the engine, choosing TensorRT 10's
``set_tensor_address`` / ``execute_async_v3`` path itself. Everything is imported inside the
functions, so this module loads where neither tensorrt nor polygraphy is installed.

Precision, by TensorRT version (`build_plan`, pure, so it is unit-tested without TensorRT):

* fp32: a plain build; Polygraphy leaves TF32 off unless asked, so it is real FP32.
* fp16: ``CreateConfig(fp16=True)`` on a weakly typed network, from TensorRT 8.2 (the TX2's
  JetPack 4.6) to 10.x. TensorRT 11 removes the FP16 builder flag: there the network is parsed
  strongly typed and the ONNX file must already hold FP16 weights (`prepare_fqa(..., "fp16",
  "tensorrt")` and the bundles write such files).
* int8: explicit quantization only: the ONNX file carries Q/DQ nodes in TensorRT's form
  (symmetric, float biases: `edgecheck.quantize.settings`). Below TensorRT 10 the network is
  weakly typed with the INT8 flag on (8.x has no strongly typed networks); from 10 it is
  parsed strongly typed, so the Q/DQ scales decide the precision. There is no calibrator: the
  calibrator API is deprecated since TensorRT 10.1 and removed in 11.

Engine cache. Building an engine takes minutes on a board and picks its tactics anew each
time (a source of noise between runs), so built engines are kept under `engine_cache_dir()`
(``EDGECHECK_ENGINE_CACHE``, default ``~/.cache/edgecheck/engines``), keyed by
`engine_cache_key`: the ONNX file's bytes, TensorRT's version, the GPU, the Jetson release and
power mode, the precision and the input shape. An engine is valid only for all of these.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgecheck._imports import extra_install, is_available, require
from edgecheck.backends.base import BackendError, Runner, RunnerConfig

TRT_EXTRA = extra_install("trt")


def tensorrt_unavailable_reason() -> str | None:
    """One line saying what the TensorRT backend lacks here, or ``None`` when it can run."""
    missing = [m for m in ("tensorrt", "polygraphy") if not is_available(m)]
    if missing:
        verb = "is" if len(missing) == 1 else "are"
        hint = (
            TRT_EXTRA
            if missing == ["polygraphy"]
            else f"TensorRT comes with JetPack on Jetson or 'pip install tensorrt' on x86 "
            f"with CUDA; then {TRT_EXTRA}"
        )
        return (
            f"tensorrt backend: needs TensorRT and Polygraphy; {' and '.join(missing)} "
            f"{verb} not installed ({hint})"
        )
    return None


@dataclass(frozen=True)
class BuildPlan:
    """How to build an engine of one precision on one TensorRT version.

    Attributes:
        strongly_typed: parse the network strongly typed (the tensors' types decide).
        fp16: set the FP16 builder flag. int8: set the INT8 builder flag (Q/DQ, no calibrator).
    """

    strongly_typed: bool
    fp16: bool = False
    int8: bool = False


def tensorrt_major(version: str) -> int:
    """The major version of a TensorRT version string ("8.2.1.8", "10.3.0")."""
    head = version.strip().split(".")[0]
    if not head.isdigit():
        raise BackendError(f"TensorRT version {version!r} is not a version number.")
    return int(head)


def build_plan(precision: str, tensorrt_version: str) -> BuildPlan:
    """The builder settings for `precision` on `tensorrt_version` (see the module docstring)."""
    major = tensorrt_major(tensorrt_version)
    if precision == "fp32":
        return BuildPlan(strongly_typed=major >= 11)
    if precision == "fp16":
        return BuildPlan(strongly_typed=True) if major >= 11 else BuildPlan(False, fp16=True)
    if precision == "int8":
        return BuildPlan(strongly_typed=True) if major >= 10 else BuildPlan(False, int8=True)
    raise BackendError(f"precision {precision!r}: use fp32, fp16 or int8.")


def engine_cache_dir() -> Path:
    """Where built engines are kept: ``EDGECHECK_ENGINE_CACHE`` or ~/.cache/edgecheck/engines."""
    from edgecheck import envvars

    configured = os.environ.get(envvars.ENGINE_CACHE, "").strip()
    return Path(configured) if configured else Path.home() / ".cache" / "edgecheck" / "engines"


def engine_cache_key(
    onnx_bytes: bytes,
    *,
    tensorrt_version: str,
    gpu: str,
    precision: str,
    batch_size: int,
    input_shape: tuple[int, ...],
    l4t: str = "none",
    power_mode: str = "none",
) -> str:
    """The engine's cache key: everything an engine is valid only for (hex, 24 characters)."""
    fields = {
        "onnx": hashlib.sha256(onnx_bytes).hexdigest(), "tensorrt": tensorrt_version,
        "gpu": gpu, "l4t": l4t, "power_mode": power_mode, "precision": precision,
        "shape": [batch_size, *input_shape],
    }  # fmt: skip
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:24]


def engine_loader(
    onnx_path: Path,
    *,
    precision: str,
    batch_size: int,
    input_shape: tuple[int, ...],
    input_name: str,
    cache: Path | None = None,
) -> Callable[[], Any]:
    """A lazy Polygraphy engine loader for `onnx_path` at one fixed batch size.

    The exported models have a dynamic batch axis; the optimization profile pins it to
    `batch_size` (min = opt = max), so the engine is tuned for exactly the timed shape. With
    `cache` (a folder), a built engine is saved there under its `engine_cache_key` and loaded
    from there next time; the folder's timing cache speeds up builds of new keys too.
    """
    require("polygraphy", "the tensorrt backend")
    import tensorrt
    from polygraphy.backend import trt as trt_loaders
    from polygraphy.backend.common import BytesFromPath

    version = str(tensorrt.__version__)
    plan = build_plan(precision, version)
    engine_path = timing_cache = None
    if cache is not None:
        key = engine_cache_key(
            Path(onnx_path).read_bytes(), tensorrt_version=version, gpu=_gpu_name(),
            precision=precision, batch_size=batch_size, input_shape=tuple(input_shape),
            l4t=_jetson_state("l4t"), power_mode=_jetson_state("power_mode"),
        )  # fmt: skip
        engine_path, timing_cache = cache / f"{key}.engine", cache / "timing.cache"
        if engine_path.is_file():
            return trt_loaders.EngineFromBytes(BytesFromPath(str(engine_path)))
        cache.mkdir(parents=True, exist_ok=True)
    shape = (batch_size, *input_shape)
    profile = trt_loaders.Profile().add(input_name, min=shape, opt=shape, max=shape)
    network = trt_loaders.NetworkFromOnnxPath(str(onnx_path), strongly_typed=plan.strongly_typed)
    config = trt_loaders.CreateConfig(
        fp16=plan.fp16, int8=plan.int8, profiles=[profile],
        load_timing_cache=None if timing_cache is None else str(timing_cache),
    )  # fmt: skip
    engine = trt_loaders.EngineFromNetwork(
        network, config=config, save_timing_cache=None if timing_cache is None else str(timing_cache)
    )  # fmt: skip
    return engine if engine_path is None else trt_loaders.SaveEngine(engine, str(engine_path))


def _gpu_name() -> str:
    from edgecheck.device import detect_device

    cap = detect_device().capabilities
    return f"{cap.cuda_device or 'unknown'} {cap.cuda_capability or ''}".strip()


def _jetson_state(key: str) -> str:
    from edgecheck.device import detect_device

    return detect_device().fingerprint.get(key, "none")


class TensorrtRunner(Runner):
    """Runs a TensorRT engine built from an ONNX file, through Polygraphy's ``TrtRunner``.

    Args:
        onnx_path: the ONNX file (int8: with Q/DQ nodes).
        config: backend ``"tensorrt"``, device ``"cuda"``.
        input_shape: one example's shape without the batch axis.
        input_name: the ONNX graph's input name. Default ``"input"`` (edgecheck's exports).
        on_loaded: called once the engine is built, e.g. to delete a temporary export.
    """

    def __init__(
        self,
        onnx_path: Path | Callable[[], Path],
        config: RunnerConfig,
        input_shape: tuple[int, ...],
        *,
        input_name: str = "input",
        on_loaded: Callable[[], None] | None = None,
    ) -> None:
        reason = tensorrt_unavailable_reason()
        if reason is not None:
            raise BackendError(reason)
        super().__init__(config, input_shape)
        self._onnx = onnx_path
        self._input_name = input_name
        self._on_loaded = on_loaded
        self._runner: Any = None

    def _activate_impl(self) -> None:
        from polygraphy.backend.trt import TrtRunner

        path = self._onnx() if callable(self._onnx) else self._onnx
        try:
            loader = engine_loader(
                Path(path),
                precision=self.config.precision,
                batch_size=self.config.batch_size,
                input_shape=self.input_shape,
                input_name=self._input_name,
                cache=engine_cache_dir(),
            )
            runner = TrtRunner(loader)
            runner.activate()  # builds the engine: the ONNX file is no longer needed after
        finally:
            if self._on_loaded is not None:
                self._on_loaded()
        self._runner = runner

    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        outputs = self._runner.infer({self._input_name: batch})
        return np.asarray(next(iter(outputs.values())))

    def _deactivate_impl(self) -> None:
        runner, self._runner = self._runner, None
        if runner is not None:
            runner.deactivate()

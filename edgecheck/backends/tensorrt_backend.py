"""The TensorRT runner, through Polygraphy only, kept thin.

Polygraphy's loaders do the TensorRT work (``NetworkFromOnnxPath`` -> ``CreateConfig`` ->
``EngineFromNetwork``) and ``TrtRunner`` runs the engine, choosing TensorRT 10's
``set_tensor_address`` / ``execute_async_v3`` path itself. Everything is imported inside the
functions, so this module loads where neither tensorrt nor polygraphy is installed.

Precision, following TensorRT 10+:

* fp32: a plain build; Polygraphy leaves TF32 off unless asked, so it is real FP32.
* fp16: ``CreateConfig(fp16=True)`` on a weakly typed network (the paper's TX2 setting).
  TensorRT 11 removes the FP16 builder flag in favour of strongly typed networks; there
  Polygraphy fails with its own message and the model must be converted to FP16 first.
* int8: explicit quantization only. The ONNX file must carry Q/DQ nodes (for example from
  ``onnxruntime.quantization.quantize_static(..., quant_format=QuantFormat.QDQ)``); the
  network is parsed strongly typed, so the Q/DQ scales decide the precision. There is no
  calibrator: the calibrator API is deprecated since TensorRT 10.1 and removed in 11.
"""

from __future__ import annotations

from collections.abc import Callable
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


def engine_loader(
    onnx_path: Path,
    *,
    precision: str,
    batch_size: int,
    input_shape: tuple[int, ...],
    input_name: str,
) -> Callable[[], Any]:
    """A lazy Polygraphy engine loader for `onnx_path` at one fixed batch size.

    The exported models have a dynamic batch axis; the optimization profile pins it to
    `batch_size` (min = opt = max), so the engine is tuned for exactly the timed shape.
    """
    require("polygraphy", "the tensorrt backend")
    from polygraphy.backend import trt as trt_loaders

    shape = (batch_size, *input_shape)
    profile = trt_loaders.Profile().add(input_name, min=shape, opt=shape, max=shape)
    if precision == "int8":
        network = trt_loaders.NetworkFromOnnxPath(str(onnx_path), strongly_typed=True)
        config = trt_loaders.CreateConfig(profiles=[profile])
    else:
        network = trt_loaders.NetworkFromOnnxPath(str(onnx_path))
        config = trt_loaders.CreateConfig(fp16=precision == "fp16", profiles=[profile])
    return trt_loaders.EngineFromNetwork(network, config=config)


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

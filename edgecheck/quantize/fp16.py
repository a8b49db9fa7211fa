"""FP16 models: ONNX float16 conversion, torch half precision on CUDA, TensorRT through Polygraphy.

* `convert_fp16`: every float32 initializer and operator of an ONNX file to float16
  (onnxconverter-common's ``convert_float_to_float16`` with FP16's own limits: weights beyond
  65504 saturate, magnitudes below 2^-24 are kept at 2^-24), keeping float32 inputs and outputs so
  callers feed and read the same arrays as from the FP32 model. onnxruntime's CPU provider runs
  such a file, but computes most operators by casting back to float32: the numbers are FP16's,
  the speed is not (no speed-up on a CPU without native FP16 arithmetic).
* `torch_half`: ``model.half()`` on a CUDA device; torch's CPU half kernels are slow
  reference code, so a CPU is refused with the reason.
* `tensorrt_fp16_engine`: a serialized TensorRT engine built with FP16 enabled, through
  Polygraphy (TensorRT 10+). For INT8 TensorRT takes the QDQ file from `quantize_int8`
  (explicit quantization); there is no TensorRT calibrator here, as TensorRT 10.1 deprecated
  them and TensorRT 11 removed them.

Whether FP16 is *faster* on a machine is a separate question, answered per device by
`edgecheck.quantize.speed_unmet` (from `edgecheck.device`'s capabilities).
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from edgecheck._atomic import write_atomic
from edgecheck._imports import require
from edgecheck.quantize.metrics import QuantizationError

FP16_MAX = 65504.0
FP16_SMALLEST_SUBNORMAL = 2.0**-24


def convert_fp16(
    model: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    keep_io_types: bool = True,
    op_block_list: list[str] | None = None,
) -> Path:
    """Convert an FP32 ONNX file to FP16 and write it atomically to `output`.

    Args:
        model: the FP32 ONNX file.
        output: where to write the FP16 file.
        keep_io_types: keep float32 graph inputs and outputs (casts are inserted inside).
            Default True.
        op_block_list: operator types to leave in float32; default: onnxconverter-common's
            own list (operators without float16 kernels).

    Returns:
        The output path.

    Raises:
        QuantizationError: `model` does not exist.
        MissingDependencyError: onnx or onnxconverter-common is not installed.
    """
    source = Path(model)
    if not source.is_file():
        raise QuantizationError(f"FP32 model {source} does not exist; export it first.")
    onnx = require("onnx", "FP16 conversion of an ONNX model")
    require("onnxconverter_common", "FP16 conversion of an ONNX model")
    from onnxconverter_common import float16

    proto = onnx.load(str(source))
    # FP16's own limits instead of the converter's defaults (1e-7 and 1e4): its default
    # clamps every weight above 1e4 to 1e4, which FP16 (max 65504) does not need.
    kwargs: dict[str, Any] = {
        "keep_io_types": keep_io_types,
        "min_positive_val": FP16_SMALLEST_SUBNORMAL,
        "max_finite_val": FP16_MAX,
    }
    if op_block_list is not None:
        kwargs["op_block_list"] = op_block_list
    with warnings.catch_warnings():
        # One warning per weight below FP16's smallest subnormal, which FP16 cannot hold:
        # the converter keeps it at that subnormal (sign preserved). Expected, not news.
        warnings.filterwarnings("ignore", message=".*will be truncated to", category=UserWarning)
        converted = float16.convert_float_to_float16(proto, **kwargs)
    return write_atomic(output, converted.SerializeToString())


def torch_half(model: Any, device: str = "cuda") -> Any:
    """A half-precision copy of a torch module on a CUDA device, in eval mode.

    Raises:
        QuantizationError: `device` is not CUDA, or CUDA is not available.
    """
    import copy

    import torch

    if not str(device).startswith("cuda"):
        raise QuantizationError(
            f"torch FP16 runs on CUDA only (asked for {device!r}): torch's CPU half-precision "
            f"kernels are slow reference code. Use convert_fp16 + onnxruntime on a CPU."
        )
    if not torch.cuda.is_available():
        raise QuantizationError(
            "torch FP16 needs a CUDA GPU, and torch.cuda.is_available() is False here "
            "(no GPU, or a CPU-only torch build)."
        )
    return copy.deepcopy(model).to(device).half().eval()


def tensorrt_fp16_engine(
    onnx_path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    batch_size: int = 1,
    precision: str = "fp16",
) -> Path:
    """Build a TensorRT engine from an ONNX file through Polygraphy and save it atomically.

    Args:
        onnx_path: the FP32 ONNX file (``precision="fp16"``) or a QDQ INT8 file from
            `quantize_int8` (``precision="int8"``, explicit quantization).
        output: where to write the serialized engine (``.engine``).
        batch_size: the engine's fixed batch size (the exported models have a dynamic batch
            axis; the optimization profile pins it). Default 1.
        precision: ``"fp16"`` (default), ``"int8"`` or ``"fp32"``.

    Returns:
        The engine path.

    Raises:
        BackendError / MissingDependencyError: TensorRT or Polygraphy is missing (the message
            names what to install).
    """
    from edgecheck.backends.base import BackendError
    from edgecheck.backends.tensorrt_backend import engine_loader, tensorrt_unavailable_reason
    from edgecheck.quantize.int8 import onnx_input

    reason = tensorrt_unavailable_reason()
    if reason is not None:
        raise BackendError(reason)
    source = Path(onnx_path)
    input_name, input_shape = onnx_input(source)
    loader = engine_loader(
        source, precision=precision, batch_size=batch_size, input_shape=input_shape,
        input_name=input_name,
    )  # fmt: skip
    from polygraphy.backend.trt import bytes_from_engine

    engine = loader()
    return write_atomic(output, bytes(bytes_from_engine(engine)))

"""Reduced precision: INT8 static quantization with calibration, FP16 conversion, and measures.

* `quantize_int8`: onnxruntime's ``quant_pre_process`` + ``quantize_static`` (QDQ, per-channel
  weights, MinMax / Entropy / Percentile calibration over calibration inputs).
* `convert_fp16`, `torch_half`, `tensorrt_fp16_engine`: FP16 for onnxruntime, torch on CUDA
  and TensorRT (through Polygraphy).
* `output_difference`: mean relative / mean absolute difference of quantized vs FP32 outputs
  (the ``quant.error`` claim); NaN or Inf is an error.
* `onnx_parameter_bytes`, `torch_parameter_bytes`: parameter bytes (the ``quant.memory`` claim).
* `speed_unmet`: why a reduced-precision *speed* claim cannot hold on this machine.

Importing this package loads numpy only; onnx, onnxruntime, onnxconverter-common, torch and
polygraphy load inside the functions that use them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgecheck.quantize.fp16 import convert_fp16, tensorrt_fp16_engine, torch_half
from edgecheck.quantize.int8 import (
    ACTIVATION_TYPES,
    CALIBRATION_METHODS,
    ArrayCalibrationReader,
    QuantizedModel,
    calibration_inputs,
    onnx_input,
    quantize_int8,
)
from edgecheck.quantize.metrics import OutputDifference, QuantizationError, output_difference
from edgecheck.quantize.size import ParameterBytes, onnx_parameter_bytes, torch_parameter_bytes

if TYPE_CHECKING:
    from edgecheck.device import DeviceInfo

PRECISIONS = ("fp16", "int8")


def speed_unmet(precision: str, device: DeviceInfo, *, runtime: str = "onnxruntime") -> list[str]:
    """Why `precision` cannot be *faster* than FP32 on `device` with `runtime`; [] when it can.

    A reduced-precision speed claim applies only where the hardware computes that precision
    natively: FP16 needs native FP16 arithmetic (`DeviceInfo.unmet(native_fp16=True)`), INT8
    needs INT8 dot products (VNNI, ARM dot product, or dp4a on the GPU). onnxruntime's CPU
    provider adds one more: it runs FP16 models by casting to FP32, native FP16 or not.

    Args:
        precision: ``"fp16"`` or ``"int8"``.
        device: from `edgecheck.device.detect_device`.
        runtime: ``"onnxruntime"`` (CPU provider), ``"torch"`` or ``"tensorrt"``.
            Default ``"onnxruntime"``.
    """
    if precision not in PRECISIONS:
        raise QuantizationError(f"precision {precision!r} is not one of {', '.join(PRECISIONS)}.")
    if precision == "fp16":
        reasons = device.unmet(native_fp16=True)
        cap = device.capabilities
        if runtime == "onnxruntime" and not cap.cuda:
            reasons.append(
                "onnxruntime's CPU provider runs FP16 models by casting to FP32 (no FP16 speed-up)"
            )
        return reasons
    return device.unmet(int8_dot=True)


__all__ = [
    "ACTIVATION_TYPES",
    "CALIBRATION_METHODS",
    "PRECISIONS",
    "ArrayCalibrationReader",
    "OutputDifference",
    "ParameterBytes",
    "QuantizationError",
    "QuantizedModel",
    "calibration_inputs",
    "convert_fp16",
    "onnx_input",
    "onnx_parameter_bytes",
    "output_difference",
    "quantize_int8",
    "speed_unmet",
    "tensorrt_fp16_engine",
    "torch_half",
    "torch_parameter_bytes",
]

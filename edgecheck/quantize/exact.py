"""A quantized model's outputs computed exactly: its Q/DQ graph evaluated in float.

A Q/DQ file describes a function: each QuantizeLinear rounds and clamps a float tensor to the
8-bit grid, each DequantizeLinear maps it back, and the operators between them compute in
float. That function, not any CPU's integer kernels, is what calibration produced, and its
error against FP32 is what ``quant.error`` measures. Optimized onnxruntime fuses the pairs
into integer kernels whose arithmetic differs by CPU (int16 saturation on x86 without VNNI);
with graph optimizations disabled it runs every QuantizeLinear, DequantizeLinear and float
operator as written, so the result is the same on every machine up to float round-off
(`exact_outputs`). Why onnxruntime and not a numpy executor: it runs the 2573 test images in
about 2 s; onnx's own reference implementation (`reference_outputs`, pure numpy, about 200x
slower) is the independent check that the two agree (tests/accuracy/test_quantization.py).
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from edgecheck._imports import require

# onnx's reference evaluator implements QuantizeLinear/DequantizeLinear from opset 19 on; for
# the operators a QDQ CNN uses (Conv, Gemm, pooling, Relu, Sigmoid, Q/DQ with per-axis
# scales) opsets 13-21 define the same function, so the model is converted up for it.
REFERENCE_OPSET = 21


def _batched(run: Any, inputs: np.ndarray, batch_size: int) -> np.ndarray:
    parts = [run(inputs[i : i + batch_size]) for i in range(0, len(inputs), batch_size)]
    return np.concatenate([np.asarray(p).reshape(len(p), -1) for p in parts]).astype(np.float64)


def exact_outputs(
    model: str | os.PathLike[str], inputs: np.ndarray, *, batch_size: int = 128
) -> np.ndarray:
    """The model's outputs with every Q/DQ node evaluated as written (no integer kernels).

    Args:
        model: an ONNX file (Q/DQ or float).
        inputs: float32 array ``(N, *input_shape)``.
        batch_size: inputs per call. Default 128.

    Returns:
        float64 array ``(N, outputs per input)`` (the first output of the model).
    """
    ort = require("onnxruntime", "evaluating a quantized model exactly")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    # One thread: the same summation order on every run, so the number repeats exactly.
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(model), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return _batched(lambda x: session.run(None, {name: x})[0], inputs, batch_size)


def reference_outputs(
    model: str | os.PathLike[str], inputs: np.ndarray, *, batch_size: int = 32
) -> np.ndarray:
    """The same function by onnx's reference implementation (numpy; slow: for checks only)."""
    onnx = require("onnx", "evaluating a quantized model with onnx's reference implementation")
    from onnx import version_converter
    from onnx.reference import ReferenceEvaluator

    proto = onnx.load(str(model))
    opset = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
    if opset < REFERENCE_OPSET:
        proto = version_converter.convert_version(proto, REFERENCE_OPSET)
    evaluator: Any = ReferenceEvaluator(proto)
    name = proto.graph.input[0].name
    return _batched(lambda x: evaluator.run(None, {name: x})[0], inputs, batch_size)

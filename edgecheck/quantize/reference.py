"""Reference formulas of 8-bit quantization (pure numpy), and reading them back from a QDQ file.

Symmetric per-channel weights, as onnxruntime's ``quantize_static`` makes them: for output
channel c with ``a_c = max |W_c|``,

    s_c = 2 a_c / (q_max - q_min),   q = clip(round(W / s_c), q_min, q_max),   W^ = s_c q

with ``(q_min, q_max) = (-127, 127)`` for int8 (``(-64, 64)`` with reduce_range). Rounding to
nearest gives ``|W^ - W| <= s_c / 2`` element-wise. Affine activations (MinMax range
``[r_min, r_max]`` widened to include 0): ``s = (r_max - r_min) / 255``,
``z = round(q_min - r_min / s)``, ``x^ = s (clip(round(x / s) + z) - z)``, and
``|x^ - x| <= s / 2`` for x inside the calibrated range.

`qdq_tensors` reads the scales and zero points a QDQ model actually uses, so tests can check
the bounds these formulas imply against the running model
(tests/unit/quantize/test_quantize_layers.py).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from edgecheck._imports import require

INT8_RANGE = (-127, 127)
INT8_REDUCED_RANGE = (-64, 64)


def quantize_symmetric(
    weights: np.ndarray, *, axis: int | None = 0, qrange: tuple[int, int] = INT8_RANGE
) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric quantization of `weights`, per channel along `axis` (None: per tensor).

    Args:
        weights: float array.
        axis: the channel axis (0: output channels of a Conv or a transposed-B Gemm). Default 0.
        qrange: (q_min, q_max). Default (-127, 127).

    Returns:
        (q as int8, scales as float32 with one entry per channel, or a 0-d array).
    """
    w = np.asarray(weights, dtype=np.float32)
    qmin, qmax = qrange
    reduce_axes = tuple(i for i in range(w.ndim) if i != axis) if axis is not None else None
    absmax = np.max(np.abs(w), axis=reduce_axes).astype(np.float64)
    scale = (2.0 * absmax / (qmax - qmin)).astype(np.float32)
    # A channel of zeros gets scale 1 (as onnxruntime does): any scale represents it exactly.
    scale = np.where(scale < np.finfo(np.float32).tiny, np.float32(1.0), scale)
    q = np.clip(np.rint(w / _expand(scale, w.ndim, axis)), qmin, qmax).astype(np.int8)
    return q, scale


def dequantize_symmetric(q: np.ndarray, scale: np.ndarray, *, axis: int | None = 0) -> np.ndarray:
    """``scale * q`` with `scale` broadcast along `axis` (float32)."""
    return (q.astype(np.float32) * _expand(np.asarray(scale, np.float32), q.ndim, axis)).astype(
        np.float32
    )


def _expand(scale: np.ndarray, ndim: int, axis: int | None) -> np.ndarray:
    if axis is None or scale.ndim == 0:
        return scale
    shape = [1] * ndim
    shape[axis] = -1
    return scale.reshape(shape)


@dataclass(frozen=True)
class QDQTensor:
    """How one tensor is quantized in a QDQ model.

    Attributes:
        name: the float tensor's name (for weights: the initializer's name without
            ``_quantized``).
        scale: float32 scale(s).
        zero_point: zero point(s) (int8 or uint8).
        axis: the channel axis of per-channel parameters, else None.
        quantized: the stored integer values, for weights and biases; None for activations.
    """

    name: str
    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None
    quantized: np.ndarray | None = None


def qdq_tensors(model: str | os.PathLike[str]) -> dict[str, QDQTensor]:
    """Every quantized tensor of a QDQ model: activations (from QuantizeLinear nodes) and
    weights/biases (from DequantizeLinear nodes that read an initializer), by float name.
    """
    onnx = require("onnx", "reading a QDQ model's scales")
    from onnx import numpy_helper

    proto = onnx.load(str(model))
    init = {t.name: numpy_helper.to_array(t) for t in proto.graph.initializer}
    found: dict[str, QDQTensor] = {}
    for node in proto.graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear"):
            continue
        axes = [a.i for a in node.attribute if a.name == "axis"]
        scale = init.get(node.input[1])
        zero = init.get(node.input[2]) if len(node.input) > 2 else None
        if scale is None:
            continue
        zero = np.zeros_like(scale, dtype=np.int8) if zero is None else zero
        axis = axes[0] if axes and scale.ndim else None
        source = node.input[0]
        if node.op_type == "QuantizeLinear" and source not in init:
            found.setdefault(source, QDQTensor(source, scale, zero, axis))
        elif node.op_type == "DequantizeLinear" and source in init:
            name = source.removesuffix("_quantized")
            found[name] = QDQTensor(name, scale, zero, axis, quantized=init[source])
    return found

"""Single layers through the real quantization paths, against bounds derived from their scales.

INT8 (onnxruntime QDQ, per-channel weights, MinMax calibration on the very inputs we test, so
every input and output lies inside its calibrated range). For one output value of a Conv or a
Linear layer, y = sum_i W_i x_i + b over its n inputs, the quantized model computes

    y' = sum_i W^_i x^_i + b^,   then   y^ = requantize(y')

with |x^_i - x_i| <= s_x / 2 (activation scale s_x), |W^_i - W_i| <= s_w / 2 (that output
channel's weight scale s_w), |b^ - b| <= s_x s_w / 2 (the bias is stored as int32 with scale
s_x s_w). Since W^ x^ - W x = W (x^ - x) + x (W^ - W) + (W^ - W)(x^ - x),

    |y' - y| <= sum_i (|W_i| s_x / 2 + |x_i| s_w / 2 + s_w s_x / 4) + s_x s_w / 2.

Requantizing to the output scale s_y adds at most s_y / 2: inside the grid rounding moves y'
by <= s_y / 2, and saturation at the grid's edge only moves it toward the calibrated range,
which contains y (MinMax), so

    |y^ - y| <= sum_i (|W_i| s_x / 2 + |x_i| s_w / 2 + s_w s_x / 4) + s_x s_w / 2 + s_y / 2.

FP16 (onnxconverter-common, float32 inputs and outputs kept): with unit roundoff u = 2^-11,
inputs, weights and bias are rounded once (relative error <= u) and the n-term dot product
plus bias accumulates at most n + 1 more roundings, whether the runtime computes in FP16 or
casts to FP32, so (Higham's gamma_k = k u / (1 - k u))

    |y^ - y| <= gamma_(n+3) (sum_i |W_i x_i| + |b|) + (subnormal slack),

where values below FP16's normal range (6.1e-5) lose relative precision: each of the at most
4n + 2 roundings may then be off by the smallest subnormal (2^-24: half of it by rounding, all
of it where the converter keeps a tiny weight at 2^-24 rather than flush it to zero) times the
magnitude it is multiplied by, which the slack term bounds.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from edgecheck.export import export_onnx
from edgecheck.quantize import convert_fp16, quantize_int8
from edgecheck.quantize.exact import exact_outputs
from edgecheck.quantize.reference import (
    INT8_RANGE,
    INT8_REDUCED_RANGE,
    dequantize_symmetric,
    qdq_tensors,
    quantize_symmetric,
)

# onnxruntime's quantizer warns about every un-preprocessed or tiny model; not our concern here.
logging.getLogger().setLevel(logging.ERROR)

LAYER_SETTINGS = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@st.composite
def layers(draw):
    """A Conv2d or Linear layer with random shapes, weights, bias and a batch of inputs."""
    kind = draw(st.sampled_from(["conv", "linear"]))
    seed = draw(st.integers(0, 2**32 - 1))
    w_mag = 10 ** draw(st.floats(-2, 1))
    x_mag = 10 ** draw(st.floats(-2, 2))
    x_shift = draw(st.sampled_from([0.0, 0.5, 1.0]))  # 1.0: all-positive inputs (images)
    rng = np.random.default_rng(seed)
    if kind == "conv":
        c_in, c_out = draw(st.integers(1, 6)), draw(st.integers(1, 6))
        k = draw(st.sampled_from([1, 3]))
        size = draw(st.integers(3, 8))
        w_shape, x_shape = (c_out, c_in, k, k), (c_in, size, size)
    else:
        c_in, c_out = draw(st.integers(1, 32)), draw(st.integers(1, 16))
        w_shape, x_shape = (c_out, c_in), (c_in,)
    w = (rng.standard_normal(w_shape) * w_mag).astype(np.float32)
    # Per-channel magnitudes that differ by up to 100x: what per-channel scales are for.
    w *= (10 ** rng.uniform(-1, 1, size=(c_out,) + (1,) * (len(w_shape) - 1))).astype(np.float32)
    b = (rng.standard_normal(c_out) * w_mag).astype(np.float32)
    x = ((rng.random((6, *x_shape)) - 0.5 + x_shift * 0.5) * 2 * x_mag).astype(np.float32)
    return kind, w, b, x


def _torch_layer(kind, w, b):
    import torch

    if kind == "conv":
        layer = torch.nn.Conv2d(w.shape[1], w.shape[0], w.shape[2], padding=w.shape[2] // 2)
    else:
        layer = torch.nn.Linear(w.shape[1], w.shape[0])
    with torch.no_grad():
        layer.weight.copy_(torch.from_numpy(w))
        layer.bias.copy_(torch.from_numpy(b))
    return layer.eval()


def _run(path, x):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, {"input": x})[0]


def _unfold(kind, w, x):
    """Per output value: the n weights and n inputs it combines, as (N, C_out, L, n) arrays."""
    import torch

    if kind == "linear":
        n_batch = x.shape[0]
        return (
            np.broadcast_to(w[None, :, None, :], (n_batch, w.shape[0], 1, w.shape[1])),
            np.broadcast_to(x[:, None, None, :], (n_batch, w.shape[0], 1, w.shape[1])),
        )
    k = w.shape[2]
    cols = torch.nn.functional.unfold(torch.from_numpy(x), k, padding=k // 2).numpy()
    cols = cols.transpose(0, 2, 1)  # (N, L, n)
    n_batch, n_pos, n = cols.shape
    wf = w.reshape(w.shape[0], -1)
    return (
        np.broadcast_to(wf[None, :, None, :], (n_batch, w.shape[0], n_pos, n)),
        np.broadcast_to(cols[:, None, :, :], (n_batch, w.shape[0], n_pos, n)),
    )


def _to_ncl(kind, y):
    return y.reshape(y.shape[0], y.shape[1], -1) if kind == "conv" else y[:, :, None]


def _export(tmp_path, kind, w, b, x):
    layer = _torch_layer(kind, w, b)
    path = export_onnx(layer, tuple(x.shape[1:]), tmp_path / f"{kind}.onnx")
    return layer, path


@LAYER_SETTINGS
@given(case=layers())
def test_int8_layer_output_within_bound_from_its_scales(tmp_path, case):
    kind, w, b, x = case
    _, fp32 = _export(tmp_path, kind, w, b, x)
    # The paper's S8S8 form, evaluated exactly: the bound is a property of the quantized
    # function, the same on every CPU (how a CPU's kernels compare is quant.int8.fidelity).
    q = quantize_int8(fp32, tmp_path / "int8.onnx", x, method="minmax", settings="canonical")
    y = _run(fp32, x).astype(np.float64)
    y_q = exact_outputs(q.path, x).reshape(y.shape)
    tensors = qdq_tensors(q.path)
    activations = [t for t in tensors.values() if t.quantized is None]
    s_x = float(tensors["input"].scale)
    (out,) = [t for t in activations if t.name != "input"]
    s_y = float(out.scale)
    weight_name = next(n for n, t in tensors.items() if n.endswith("weight"))
    s_w = tensors[weight_name].scale.astype(np.float64)  # (C_out,)
    wi, xi = _unfold(kind, w.astype(np.float64), x.astype(np.float64))
    s_w_b = s_w[None, :, None, None]
    per_term = np.abs(wi) * s_x / 2 + np.abs(xi) * s_w_b / 2 + s_w_b * s_x / 4
    bound = per_term.sum(-1) + (s_x * s_w / 2)[None, :, None] + s_y / 2
    # Float slack: onnxruntime requantizes with a float32 multiplier.
    bound = bound + 1e-5 * (np.abs(wi * xi).sum(-1) + np.abs(b)[None, :, None]) + 1e-7
    err = np.abs(_to_ncl(kind, y_q) - _to_ncl(kind, y))
    worst = float(np.max(err - bound))
    assert worst <= 0, f"INT8 {kind} error exceeds its bound by {worst:.3g} (s_x={s_x:.3g})"
    # The bound is not vacuous: it is within a small factor of the scales involved.
    assert float(np.max(bound)) < 1e3 * (s_y + s_x * float(np.abs(w).max()) * w[0].size)


@LAYER_SETTINGS
@given(case=layers())
def test_fp16_layer_output_within_fp16_rounding(tmp_path, case):
    kind, w, b, x = case
    _, fp32 = _export(tmp_path, kind, w, b, x)
    fp16 = convert_fp16(fp32, tmp_path / "fp16.onnx")
    y = _run(fp32, x).astype(np.float64)
    y_h = _run(fp16, x).astype(np.float64)
    assert np.isfinite(y_h).all()
    wi, xi = _unfold(kind, w.astype(np.float64), x.astype(np.float64))
    n = wi.shape[-1]
    u = 2.0**-11
    gamma = (n + 3) * u / (1 - (n + 3) * u)
    magnitude = np.abs(wi * xi).sum(-1) + np.abs(b)[None, :, None]
    subnormal = 2.0**-24 * (np.abs(wi).sum(-1) + np.abs(xi).sum(-1) + 4 * n + 2)
    fp32_error = (n + 2) * 2.0**-24 * magnitude  # the FP32 reference's own rounding
    bound = gamma * magnitude + subnormal + fp32_error
    err = np.abs(_to_ncl(kind, y_h) - _to_ncl(kind, y))
    worst = float(np.max(err - bound))
    assert worst <= 0, f"FP16 {kind} error exceeds gamma_(n+3) bound by {worst:.3g}"


@settings(max_examples=50, deadline=None)
@given(
    shape=st.sampled_from([(4, 3, 3, 3), (16, 8), (1, 5), (3, 1, 1, 1)]),
    seed=st.integers(0, 2**32 - 1),
    magnitude=st.floats(1e-4, 1e3),
    reduced=st.booleans(),
)
def test_quantize_dequantize_weights_is_idempotent(shape, seed, magnitude, reduced):
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal(shape) * magnitude).astype(np.float32)
    qrange = INT8_REDUCED_RANGE if reduced else INT8_RANGE
    q1, s1 = quantize_symmetric(w, axis=0, qrange=qrange)
    w1 = dequantize_symmetric(q1, s1)
    # Error bound of one rounding: half a step per channel.
    step = s1.reshape(-1, *([1] * (w.ndim - 1)))
    assert np.all(np.abs(w1 - w) <= step / 2 * (1 + 1e-6))
    # Quantizing the dequantized weights again gives the same integers, scales and weights.
    q2, s2 = quantize_symmetric(w1, axis=0, qrange=qrange)
    np.testing.assert_array_equal(q2, q1)
    np.testing.assert_allclose(s2, s1, rtol=1e-6)
    np.testing.assert_allclose(dequantize_symmetric(q2, s2), w1, rtol=1e-6, atol=0)
    # Every channel uses the full range: its largest weight maps to +-q_max.
    assert (np.abs(q1.reshape(shape[0], -1)).max(axis=1) == qrange[1]).all()


def test_onnxruntime_weights_follow_the_reference_formula(tmp_path):
    rng = np.random.default_rng(7)
    w = (rng.standard_normal((8, 3, 3, 3)) * 10 ** rng.uniform(-2, 0, (8, 1, 1, 1))).astype(
        np.float32
    )
    b = rng.standard_normal(8).astype(np.float32)
    x = rng.random((4, 3, 8, 8), dtype=np.float32)
    _, fp32 = _export(tmp_path, "conv", w, b, x)
    q = quantize_int8(fp32, tmp_path / "int8.onnx", x, settings="canonical")
    stored = qdq_tensors(q.path)["weight"]
    qrange = INT8_REDUCED_RANGE if q.reduce_range else INT8_RANGE
    assert not q.reduce_range
    q_ref, s_ref = quantize_symmetric(w, axis=0, qrange=qrange)
    np.testing.assert_allclose(stored.scale, s_ref, rtol=1e-6)
    assert stored.quantized is not None
    mismatched = int((stored.quantized != q_ref).sum())
    assert mismatched == 0, f"{mismatched} weights differ from round(W / s)"
    assert stored.axis == 0 and math.prod(stored.scale.shape) == 8

"""This CPU's INT8 vs FP32 convolution / GEMM rate, a yardstick measured in the same run.

How much faster INT8 can be than FP32 depends on the CPU and on the kernels the runtime has
for it: about 3-4x where the CPU has INT8 dot products (VNNI, AMX, Arm dotprod), about 1x
where it has none. A fixed bound on a model's INT8 / FP32 speedup is therefore lax on one
CPU and impossible on another. `GemmWorkload` times VGG16's own convolution GEMMs in FP32
and in INT8 on onnxruntime, so a model's speedup can be judged against ``fp32_time /
int8_time`` timed in the same interleaved run on the same pinned cores
(`edgecheck.evaluation.int8_speed`). Two forms of the same three GEMMs (conv3_2, conv4_2,
conv5_2 at batch 1):

* ``op="conv"``: as convolutions, FP32 ``Conv`` vs INT8 ``QLinearConv`` (u8 activations,
  symmetric per-channel weights: what onnxruntime runs a QDQ convolution as on x86, where
  it converts S8 activations to U8). These take the kernels the model's convolutions take
  (FP32: NCHWc convolutions; INT8: NHWC ``QLinearConv``, MLAS's symmetric-convolution
  kernels), so their ratio follows the model's on every CPU.
* ``op="matmul"``: as explicit im2col GEMMs, FP32 ``MatMul`` vs INT8 ``MatMulInteger``
  (MLAS's quantized GEMM). On a CPU with AMX, MLAS may run u8s8 GEMMs on AMX tiles, which
  onnxruntime's quantized convolutions do not use: measured on this project's AMX Xeon,
  ``MatMulInteger`` u8s8 was 3.4x faster than FP32 on one pinned core, 6.5x on two and
  9-12x in a plain process, while VGG16 INT8 and the convolutions stayed at 3.3-3.6x; s8s8
  took a slow reference path (0.2x). Shown for information, not used as the reference.

Like `edgecheck.bench.cores.MatmulWorkload` it is a picklable `WorkloadFactory`: a
`CoreWorker` builds it once, in the worker, and times its call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# VGG16's conv3_2, conv4_2 and conv5_2 at batch 1 as (input channels, output channels,
# height = width). Each of the first two is one of VGG16's nine 1.85-GMAC layers; conv5
# (0.46 GMAC) has the small spatial size of the late layers.
VGG16_CONV_LAYERS: tuple[tuple[int, int, int], ...] = (
    (256, 256, 56),
    (512, 512, 28),
    (512, 512, 14),
)
GEMM_PRECISIONS = ("fp32", "int8")
GEMM_OPS = ("conv", "matmul")
_INT8_TYPES = ("uint8", "int8")


def im2col_gemm(layer: tuple[int, int, int]) -> tuple[int, int, int]:
    """A 3x3 'same' convolution's GEMM ``(M, K, N)``: output pixels, 9 x input channels,
    output channels."""
    cin, cout, hw = layer
    return hw * hw, 9 * cin, cout


@dataclass(frozen=True)
class GemmWorkload:
    """A `WorkloadFactory`: one call runs the GEMMs of `layers`, in one onnxruntime session.

    Weights are constant initializers (packed once by onnxruntime, as a model's are);
    inputs are fixed, seeded arrays.

    Attributes:
        precision: ``"fp32"`` or ``"int8"``.
        op: ``"conv"`` (``Conv`` / ``QLinearConv``) or ``"matmul"`` (``MatMul`` /
            ``MatMulInteger`` on the im2col shapes). Default ``"conv"``.
        layers: ``(input channels, output channels, height = width)`` of 3x3 convolutions.
            Default `VGG16_CONV_LAYERS`.
        activation_type: INT8 type of the activations, ``"uint8"`` or ``"int8"``.
            Default ``"uint8"`` (what onnxruntime runs on x86).
        weight_type: INT8 type of the weights; use the deployed model's
            (`edgecheck.quantize.settings.settings_for`). Default ``"int8"``.
        seed: seed of the operands. Default 0.
    """

    precision: str = "fp32"
    op: str = "conv"
    layers: tuple[tuple[int, int, int], ...] = VGG16_CONV_LAYERS
    activation_type: str = "uint8"
    weight_type: str = "int8"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.precision not in GEMM_PRECISIONS:
            raise ValueError(f"precision {self.precision!r} must be 'fp32' or 'int8'.")
        if self.op not in GEMM_OPS:
            raise ValueError(f"op {self.op!r} must be 'conv' or 'matmul'.")
        for name in ("activation_type", "weight_type"):
            if getattr(self, name) not in _INT8_TYPES:
                raise ValueError(f"{name} {getattr(self, name)!r} must be 'uint8' or 'int8'.")
        if not self.layers or any(len(x) != 3 or min(x) < 1 for x in self.layers):
            raise ValueError(f"layers {self.layers!r} must be (cin, cout, size) of positive sizes.")

    @property
    def macs(self) -> int:
        """Multiply-accumulates per call."""
        return sum(m * k * n for m, k, n in map(im2col_gemm, self.layers))

    @property
    def types(self) -> str:
        """``"fp32"``, or the INT8 operand types as onnxruntime names its kernels (``"u8s8"``)."""
        if self.precision == "fp32":
            return "fp32"
        short = {"uint8": "u8", "int8": "s8"}
        return short[self.activation_type] + short[self.weight_type]

    def label(self, cores: int) -> str:
        """E.g. ``"vgg16-conv-u8s8-1c"``."""
        return f"vgg16-{self.op}-{self.types}-{cores}c"

    def __call__(self, threads: int) -> Callable[[], object]:
        from edgecheck.bench.cores import pinned_session

        model, feeds = self.graph()
        session = pinned_session(model.SerializeToString(), threads)
        session.run(None, feeds)  # a broken configuration fails at start, not mid-timing
        return lambda: session.run(None, feeds)

    def graph(self) -> tuple[Any, dict[str, Any]]:
        """The ONNX model (one node per layer, independent inputs) and its input feeds."""
        import numpy as np

        from edgecheck._imports import require

        onnx = require("onnx", "a GEMM reference")
        helper, tp, numpy_helper = onnx.helper, onnx.TensorProto, onnx.numpy_helper
        rng = np.random.default_rng(self.seed)
        elem = {"uint8": (np.uint8, tp.UINT8), "int8": (np.int8, tp.INT8)}
        a_np, a_tp = elem[self.activation_type]
        w_np, _ = elem[self.weight_type]
        # Affine activations (a zero point, as calibrated ranges have); weights symmetric
        # for int8 and centred for uint8, as onnxruntime's quantizer writes them.
        a_zero = 128 if self.activation_type == "uint8" else 3
        w_zero = 128 if self.weight_type == "uint8" else 0
        nodes, inputs, outputs, inits = [], [], [], []
        feeds: dict[str, Any] = {}

        def const(name: str, value: Any) -> str:
            inits.append(numpy_helper.from_array(np.asarray(value), name))
            return name

        def ints(shape: tuple[int, ...], dtype: Any) -> Any:
            info = np.iinfo(dtype)
            return rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)

        for i, layer in enumerate(self.layers):
            cin, cout, hw = layer
            m, k, n = im2col_gemm(layer)
            x, y = f"x{i}", f"y{i}"
            conv = self.op == "conv"
            x_shape = [1, cin, hw, hw] if conv else [m, k]
            y_shape = [1, cout, hw, hw] if conv else [m, n]
            w_shape = (cout, cin, 3, 3) if conv else (k, n)
            if self.precision == "fp32":
                feeds[x] = rng.standard_normal(x_shape, dtype=np.float32)
                w = const(f"w{i}", rng.standard_normal(w_shape, dtype=np.float32) * 0.05)
                node = (
                    helper.make_node("Conv", [x, w], [y], pads=[1, 1, 1, 1])
                    if conv
                    else helper.make_node("MatMul", [x, w], [y])
                )
                nodes.append(node)
                inputs.append(helper.make_tensor_value_info(x, tp.FLOAT, x_shape))
                outputs.append(helper.make_tensor_value_info(y, tp.FLOAT, y_shape))
                continue
            feeds[x] = ints(tuple(x_shape), a_np)
            w = const(f"w{i}", ints(w_shape, w_np))
            inputs.append(helper.make_tensor_value_info(x, a_tp, x_shape))
            if conv:
                scale = np.float32(0.02)
                node = helper.make_node(
                    "QLinearConv",
                    [
                        x, const(f"xs{i}", scale), const(f"xz{i}", np.array(a_zero, a_np)), w,
                        const(f"ws{i}", np.full(cout, 0.01, np.float32)),
                        const(f"wz{i}", np.full(cout, w_zero, w_np)),
                        const(f"ys{i}", np.float32(4.0)), const(f"yz{i}", np.array(a_zero, a_np)),
                        const(f"b{i}", rng.integers(-1000, 1000, cout).astype(np.int32)),
                    ],
                    [y], pads=[1, 1, 1, 1],
                )  # fmt: skip
                outputs.append(helper.make_tensor_value_info(y, a_tp, y_shape))
            else:
                node = helper.make_node(
                    "MatMulInteger",
                    [
                        x,
                        w,
                        const(f"xz{i}", np.array(a_zero, a_np)),
                        const(f"wz{i}", np.array(w_zero, w_np)),
                    ],
                    [y],
                )
                outputs.append(helper.make_tensor_value_info(y, tp.INT32, y_shape))
            nodes.append(node)
        graph = helper.make_graph(nodes, f"vgg16_{self.op}s", inputs, outputs, inits)
        model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
        return model, feeds

"""What a runner needs to know of an ONNX file: its input, and the precision it is stored in.

Read from the graph alone (`edgecheck.onnx_file.load_onnx`); `ModelArtifact`
(`backends/artifact.py`) and `make_runner`'s precision checks use them.
"""

from __future__ import annotations

from pathlib import Path

from edgecheck._imports import require
from edgecheck.backends.base import BackendError
from edgecheck.onnx_file import GraphInput, graph_inputs, load_onnx

QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})
QOPERATOR_OPS = frozenset({"QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger"})


def onnx_input(path: Path, *, need_shape: bool = True) -> tuple[str, tuple[int, ...]]:
    """The first graph input's name and shape without the batch axis.

    With `need_shape`, every axis after the batch axis must have a fixed size; without it
    the shape comes back empty when it is not fixed.
    """
    first = onnx_graph_input(path)
    shape = first.fixed_shape()
    if shape is None:
        if not need_shape:
            return first.name, ()
        raise BackendError(
            f"{path}: {first.describe()}; edgecheck needs a batch axis followed by fixed "
            f"sizes: give them (input_shape=(...) in Python, --input-shape C,H,W on the "
            f"command line)."
        )
    return first.name, shape


def onnx_graph_input(path: Path) -> GraphInput:
    """The ONNX file's first data input (name, sizes, element type), the one runners feed.

    Raises:
        ModelError: the file is missing or not a readable ONNX model (`load_onnx`).
        BackendError: the graph has no data input.
    """
    inputs = graph_inputs(load_onnx(path, purpose="reading an ONNX model's input shape"))
    if not inputs:
        raise BackendError(f"ONNX file '{path}' has no graph input; it cannot be run.")
    return inputs[0]


def onnx_quantization_format(path: Path) -> str | None:
    """``"qdq"`` for Q/DQ (explicit) quantization, ``"qoperator"``, or ``None`` for neither."""
    ops = {node.op_type for node in load_onnx(path, purpose="inspecting quantization").graph.node}
    if ops & QDQ_OPS:
        return "qdq"
    if ops & QOPERATOR_OPS:
        return "qoperator"
    return None


def onnx_has_fp16(path: Path) -> bool:
    """True when any weight (initializer) of the ONNX file is stored as float16."""
    onnx = require("onnx", "inspecting an ONNX model's precision")
    graph = load_onnx(path, purpose="inspecting an ONNX model's precision").graph
    return any(init.data_type == onnx.TensorProto.FLOAT16 for init in graph.initializer)

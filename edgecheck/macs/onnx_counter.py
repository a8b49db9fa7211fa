"""`count_onnx_macs`: the Eq. 1 MACs of the Conv, ConvTranspose, Gemm and MatMul nodes of an
ONNX graph, from the shapes ONNX shape inference gives (the ``onnx`` package is imported when
it is called).
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from edgecheck._imports import require
from edgecheck.errors import ModelError
from edgecheck.macs.report import (
    CONV,
    CONV_TRANSPOSE,
    LINEAR,
    MATMUL,
    LayerMACs,
    LayerNames,
    MACReport,
    check_batch_size,
    per_example,
)


def _load_onnx(onnx: Any, path_or_model: Any) -> tuple[Any, str]:
    if isinstance(path_or_model, (str, os.PathLike)):
        from edgecheck.onnx_file import load_onnx

        # Weights are never needed, only shapes: load_onnx skips external data files.
        return load_onnx(path_or_model, purpose="counting MACs of an ONNX model"), str(
            Path(path_or_model)
        )
    if isinstance(path_or_model, onnx.ModelProto):
        return path_or_model, f"<ONNX model '{path_or_model.graph.name}'>"
    raise ModelError(
        f"count_onnx_macs takes a path or an onnx.ModelProto, got {type(path_or_model).__name__}."
    )


Dims = tuple[int | None, ...]  # None: a size ONNX shape inference could not determine


def _graph_shapes(graph: Any, batch_size: int) -> dict[str, Dims]:
    """The shape of every tensor that inference could name, batch symbols set to `batch_size`.

    The batch is the symbol on axis 0 of the graph's data inputs (``"batch"`` in edgecheck's
    exports). Any other symbol is an unknown size: inference invents symbols (``"unk__0"``)
    where it cannot compute a size, e.g. behind torch's Flatten, which exports as a Reshape
    of a runtime Shape.
    """
    stored = {init.name for init in graph.initializer}
    batch_symbols = {
        info.type.tensor_type.shape.dim[0].dim_param
        for info in graph.input
        if info.name not in stored
        and info.type.tensor_type.HasField("shape")
        and len(info.type.tensor_type.shape.dim) > 0
        and info.type.tensor_type.shape.dim[0].HasField("dim_param")
    }
    shapes: dict[str, Dims] = {}
    for info in (*graph.input, *graph.value_info, *graph.output):
        tensor_type = info.type.tensor_type
        if not tensor_type.HasField("shape"):
            continue
        dims: list[int | None] = []
        for dim in tensor_type.shape.dim:
            if dim.HasField("dim_value"):
                dims.append(int(dim.dim_value))
            elif dim.HasField("dim_param") and dim.dim_param in batch_symbols:
                dims.append(batch_size)
            else:
                dims.append(None)
        shapes[info.name] = tuple(dims)
    # Initializers last: their stored dims are authoritative.
    for init in graph.initializer:
        shapes[init.name] = tuple(int(d) for d in init.dims)
    return shapes


def _onnx_layer_path(node: Any, weight: str | None, index: int) -> str:
    # torch names a parameter input after its module ("features.conv1_1.weight"): the exact
    # path that count_macs reports, also when the module is called twice (the exporter gives
    # the second call the node scope "/conv_1/", which is ambiguous with a module "conv_1").
    if weight and weight.endswith(".weight"):
        return weight.removesuffix(".weight")
    # Otherwise the node's scope "/features/conv1_1/Conv" holds the path.
    parts = node.name.split("/")
    if node.name.startswith("/") and len(parts) > 2:
        return ".".join(parts[1:-1])
    return node.name or f"{node.op_type}_{index}"


def _at(dims: Dims, index: int) -> int | None:
    return dims[index] if -len(dims) <= index < len(dims) else None


class _NodeShapes:
    """The shapes around one node, and the one place that gives up when a size is unknown.

    A size may be readable from more than one tensor (a MatMul's depth from either operand,
    a Gemm's rows from its output), so each lookup takes candidates in order of preference.
    """

    def __init__(self, node: Any, shapes: Mapping[str, Dims], source: str) -> None:
        self._node = node
        self._shapes = shapes
        self._source = source

    def dims(self, tensor: str) -> Dims:
        """The shape of `tensor`; only its rank is required to be known."""
        found = self._shapes.get(tensor)
        if found is None:
            self._fail(f"the shape of '{tensor}'")
        return found

    def need(self, *candidates: int | None, what: str) -> int:
        """The first known candidate."""
        for value in candidates:
            if value is not None:
                return value
        self._fail(what)

    def _fail(self, what: str) -> NoReturn:
        node = self._node
        around = ", ".join(
            f"{name}: {list(self._shapes.get(name, ())) or 'unknown'}"
            for name in (*node.input, *node.output)
            if name
        )
        raise ModelError(
            f"{self._source}: node '{node.name or node.op_type}' ({node.op_type}): {what} is "
            f"unknown after ONNX shape inference ({around}; None is an unknown size), so its "
            f"MACs cannot be counted. Export with static shapes apart from the batch axis."
        )


def _onnx_conv(
    node: Any, attrs: Mapping[str, Any], name: str, at: _NodeShapes
) -> tuple[LayerMACs, int]:
    x, w, y = at.dims(node.input[0]), at.dims(node.input[1]), at.dims(node.output[0])
    groups = int(attrs.get("group", 1))
    kernel = tuple(at.need(k, what="a kernel size") for k in w[2:])
    spatial = range(2, 2 + len(kernel))
    output_size = tuple(at.need(_at(y, i), what="an output size") for i in spatial)
    batch = at.need(_at(y, 0), _at(x, 0), what="the batch size")
    if node.op_type == "Conv":
        # W is (C_out, C_in / group, *kernel).
        per_group_in = at.need(w[1], what="the input channels")
        out_channels = at.need(w[0], _at(y, 1), what="the output channels")
        in_channels = per_group_in * groups
        total = batch * out_channels * math.prod(output_size) * per_group_in * math.prod(kernel)
        kind = CONV
    else:
        # W is (C_in, C_out / group, *kernel); the work follows the input (see count_macs).
        per_group_out = at.need(w[1], what="the output channels")
        in_channels = at.need(w[0], _at(x, 1), what="the input channels")
        out_channels = per_group_out * groups
        input_size = tuple(at.need(_at(x, i), what="an input size") for i in spatial)
        total = batch * in_channels * math.prod(input_size) * per_group_out * math.prod(kernel)
        kind = CONV_TRANSPOSE
    layer = LayerMACs(name, kind, in_channels, out_channels, kernel, output_size, groups, 0)
    return layer, total


def _onnx_matrix(
    node: Any, attrs: Mapping[str, Any], name: str, at: _NodeShapes
) -> tuple[LayerMACs, int]:
    a, b, y = at.dims(node.input[0]), at.dims(node.input[1]), at.dims(node.output[0])
    if node.op_type == "Gemm":
        a_rows, a_depth = (1, 0) if attrs.get("transA", 0) else (0, 1)
        b_depth, b_cols = (1, 0) if attrs.get("transB", 0) else (0, 1)
        rows = at.need(_at(a, a_rows), _at(y, 0), what="the rows of A")
        depth = at.need(_at(a, a_depth), _at(b, b_depth), what="the inner dimension")
        cols = at.need(_at(b, b_cols), _at(y, 1), what="the columns of B")
        layer = LayerMACs(name, LINEAR, depth, cols, (), (), 1, 0)
        return layer, rows * depth * cols
    # MatMul, with numpy semantics: a 1-D operand is a vector, leading dims broadcast.
    depth = at.need(_at(a, -1), _at(b, -2 if len(b) > 1 else 0), what="the inner dimension")
    cols = 1 if len(b) == 1 else at.need(_at(b, -1), _at(y, -1), what="the columns of B")
    if all(d is not None for d in y):
        # Every output element is one dot product of length `depth`.
        products = math.prod(d for d in y if d is not None)
    else:
        rows = 1 if len(a) == 1 else at.need(_at(a, -2), what="the rows of A")
        stacks = _broadcast(a[:-2], b[:-2])
        products = math.prod(at.need(d, what="a stacked dimension") for d in stacks) * rows * cols
    return LayerMACs(name, MATMUL, depth, cols, (), (), 1, 0), products * depth


def _broadcast(a: Dims, b: Dims) -> Dims:
    width = max(len(a), len(b))
    padded_a = (1,) * (width - len(a)) + a
    padded_b = (1,) * (width - len(b)) + b
    out: list[int | None] = []
    for x, y in zip(padded_a, padded_b, strict=True):
        if x is not None and y is not None:
            out.append(max(x, y))
        else:
            # A size broadcast against an unknown one is known only when it is not 1.
            known = x if x is not None else y
            out.append(known if known is not None and known != 1 else None)
    return tuple(out)


_ONNX_COUNTED = ("Conv", "ConvTranspose", "Gemm", "MatMul")


def count_onnx_macs(
    path_or_model: str | os.PathLike[str] | Any, *, batch_size: int = 1
) -> MACReport:
    """Count the Eq. 1 MACs of the Conv, ConvTranspose, Gemm and MatMul nodes of an ONNX graph.

    Weight shapes come from initializers or, for graph-only exports
    (``export_onnx(..., export_params=False)``), from the graph inputs. Layer names are the
    torch module paths where the graph records them (weight ``features.conv1_1.weight`` or
    node ``/features/conv1_1/Conv`` gives ``features.conv1_1``), else the node name, so a
    report lines up with `count_macs` of the exported model. Gemm counts as ``"linear"``; a
    torch Linear applied to inputs of more than two dimensions exports as MatMul and counts as
    ``"matmul"``.

    Args:
        path_or_model: an ``.onnx`` file or a loaded ``onnx.ModelProto``.
        batch_size: the value of the batch symbol (the symbolic axis 0 of the graph's data
            inputs); counts are divided by it. For a graph with a fixed batch axis, pass that
            batch. Other symbolic sizes count as unknown.

    Returns:
        A `MACReport` with one entry per counted node, in graph order.

    Raises:
        MissingDependencyError: the ``onnx`` package is not installed.
        ModelError: the file cannot be read, shape inference fails, or a counted node's
            shapes remain unknown; the message names the file and the node.
    """
    onnx = require("onnx", "counting MACs of an ONNX model")
    check_batch_size(batch_size)
    model, source = _load_onnx(onnx, path_or_model)
    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception as exc:  # onnx's InferenceError and the C++ errors it wraps
        raise ModelError(
            f"ONNX shape inference failed for {source}: {type(exc).__name__}: {exc}"
        ) from exc
    graph = inferred.graph
    if not graph.node:
        # protobuf parses an empty or truncated file as an empty model without complaint.
        raise ModelError(
            f"{source} holds an ONNX graph without nodes: an empty or truncated file? "
            f"Re-export the model."
        )
    shapes = _graph_shapes(graph, batch_size)
    unique = LayerNames()
    layers: list[LayerMACs] = []
    for index, node in enumerate(graph.node):
        if node.op_type not in _ONNX_COUNTED or node.domain not in ("", "ai.onnx"):
            continue
        weight = node.input[1] if len(node.input) > 1 else None
        name = unique.next(_onnx_layer_path(node, weight, index))
        attrs = {attr.name: onnx.helper.get_attribute_value(attr) for attr in node.attribute}
        at = _NodeShapes(node, shapes, source)
        count = _onnx_conv if node.op_type.startswith("Conv") else _onnx_matrix
        layer, total = count(node, attrs, name, at)
        layers.append(replace(layer, macs=per_example(total, batch_size, name)))
    return MACReport(tuple(layers))

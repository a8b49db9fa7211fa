"""Parameter bytes of a model at each precision (the ``quant.memory`` claim, Section II-B-2).

The paper: parameters at 16 / 8 bits take 50 % / 75 % less memory than at 32 bits. For an
ONNX file, the parameter bytes are the bytes of every constant tensor the graph holds, as
stored: weights and biases, and for a quantized model also its scales and zero points (a QDQ
model keeps int32 biases and one float scale per weight channel and activation, which is why
the INT8 ratio is a little above 0.25). The graph structure (node protos, names) is not
counted: it is metadata, the same at every precision.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from typing import Any

from edgecheck._imports import require


@dataclass(frozen=True)
class ParameterBytes:
    """Bytes of a model's stored parameters.

    Attributes:
        total: all parameter bytes.
        by_dtype: bytes per element type (``"float32"``, ``"float16"``, ``"int8"``, ...).
        tensors: how many parameter tensors.
    """

    total: int
    by_dtype: dict[str, int]
    tensors: int

    def ratio_to(self, reference: ParameterBytes) -> float:
        """``self.total / reference.total`` (e.g. INT8 vs FP32: about 0.25)."""
        return self.total / reference.total


def onnx_parameter_bytes(model: str | os.PathLike[str] | Any) -> ParameterBytes:
    """The parameter bytes of an ONNX model (a path or a loaded ``ModelProto``).

    Counted, each tensor once, at its stored size (elements x element size; 4-bit types
    packed two to a byte; strings by their bytes; a sparse tensor by its values plus indices):

    * initializers and sparse initializers of the main graph and of every subgraph (the
      bodies of If, Loop, Scan, ...), and of training-info graphs;
    * ``Constant`` nodes, in any graph or model-local function: ``value``, ``sparse_value``,
      ``value_float(s)`` (float32), ``value_int(s)`` (int64), ``value_string(s)``;
    * tensor attributes of other nodes (e.g. ai.onnx.ml operators' tensors), except
      ``ConstantOfShape``'s ``value``, which is only the fill element;
    * ``ConstantOfShape`` outputs whose shape input is itself a constant (an initializer or a
      ``Constant`` output of the same or an enclosing graph): the shape is read from that
      tensor, so neither onnx's shape inference nor constant folding is used, and no tensor is
      materialized (the "light" test models make their weights this way). A shape computed at
      run time (e.g. ``Shape`` of an input) makes a buffer, not a stored parameter: not counted.

    A tensor reachable two ways (an initializer also declared as a graph input, as IR < 4
    files do; a name both an initializer and a ``Constant`` output) counts once per graph.
    Nothing is converted to numpy, so initializers stored as external data count at their
    stored size whether or not their data was loaded.
    """
    onnx = require("onnx", "measuring an ONNX model's parameter bytes")

    proto = onnx.load(str(model)) if isinstance(model, (str, os.PathLike)) else model
    counter = _ConstantCounter(onnx)
    counter.graph(proto.graph, outer={})
    for info in proto.training_info:
        counter.graph(info.initialization, outer={})
        counter.graph(info.algorithm, outer={})
    for function in proto.functions:
        counter.nodes(function.node, scope={}, outer={})
    by_dtype = counter.by_dtype
    return ParameterBytes(
        total=sum(by_dtype.values()), by_dtype=dict(by_dtype), tensors=counter.count
    )


_PACKED_BITS = {"INT4": 4, "UINT4": 4, "FLOAT4E2M1": 4, "INT2": 2, "UINT2": 2}


class _ConstantCounter:
    """Walks a ModelProto's graphs; `by_dtype` and `count` accumulate what it finds."""

    def __init__(self, onnx: Any) -> None:
        self.onnx = onnx
        self.by_dtype: Counter[str] = Counter()
        self.count = 0

    def graph(self, graph: Any, outer: dict[str, Any]) -> None:
        """Count `graph`'s constants; `outer`: constants of the enclosing graphs, by name."""
        scope: dict[str, Any] = {}  # name -> TensorProto (None: counted, value not kept)
        for tensor in graph.initializer:
            if tensor.name not in scope:
                self._add(tensor)
                scope[tensor.name] = tensor
        for sparse in graph.sparse_initializer:
            name = sparse.values.name
            if name not in scope:
                self._add_sparse(sparse)
                scope[name] = None
        self.nodes(graph.node, scope, outer)

    def nodes(self, nodes: Any, scope: dict[str, Any], outer: dict[str, Any]) -> None:
        attr = self.onnx.AttributeProto
        for node in nodes:
            for a in node.attribute:  # subgraphs see this graph's constants as outer scope
                if a.type == attr.GRAPH:
                    self.graph(a.g, {**outer, **scope})
                elif a.type == attr.GRAPHS:
                    for g in a.graphs:
                        self.graph(g, {**outer, **scope})
            if node.op_type == "ConstantOfShape" and node.domain in ("", "ai.onnx"):
                self._constant_of_shape(node, scope, outer)
                continue
            if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
                if node.output and node.output[0] in scope:
                    continue  # the same name is already counted in this graph
                if node.output:
                    scope[node.output[0]] = self._constant_value(node)
                    continue
            for a in node.attribute:  # other nodes' stored tensors
                self._attribute(a)

    def _constant_value(self, node: Any) -> Any:
        """Count a Constant node's value; the TensorProto when it is one, else None."""
        helper = self.onnx.helper
        for a in node.attribute:
            if a.name == "value":
                self._add(a.t)
                return a.t
            if a.name == "sparse_value":
                self._add_sparse(a.sparse_tensor)
                return None
            if a.name in ("value_float", "value_floats", "value_int", "value_ints"):
                value = helper.get_attribute_value(a)
                is_float = a.name.startswith("value_float")
                dtype = self.onnx.TensorProto.FLOAT if is_float else self.onnx.TensorProto.INT64
                dims = [len(value)] if a.name.endswith("s") else []
                tensor = helper.make_tensor(node.output[0], dtype, dims, vals=value)
                self._add(tensor)
                return tensor
            if a.name in ("value_string", "value_strings"):
                value = helper.get_attribute_value(a)
                strings = list(value) if a.name.endswith("s") else [value]
                self.by_dtype["string"] += sum(len(s) for s in strings)
                self.count += 1
                return None
        return None

    def _constant_of_shape(self, node: Any, scope: dict[str, Any], outer: dict[str, Any]) -> None:
        if not node.input or not node.output or node.output[0] in scope:
            return
        shape = scope[node.input[0]] if node.input[0] in scope else outer.get(node.input[0])
        if shape is None or shape.data_location == self.onnx.TensorProto.EXTERNAL:
            return  # not a constant here (or a shape that lives in an external file)
        from onnx import numpy_helper

        dims = [int(d) for d in numpy_helper.to_array(shape).reshape(-1)]
        if any(d < 0 for d in dims):
            return  # not a valid shape: ConstantOfShape would fail at run time
        dtype = self.onnx.TensorProto.FLOAT  # the default fill: float32 zero
        for a in node.attribute:
            if a.name == "value":
                dtype = a.t.data_type
        self._add_dims(dtype, dims)
        scope[node.output[0]] = None

    def _attribute(self, a: Any) -> None:
        attr = self.onnx.AttributeProto
        if a.type == attr.TENSOR:
            self._add(a.t)
        elif a.type == attr.TENSORS:
            for t in a.tensors:
                self._add(t)
        elif a.type == attr.SPARSE_TENSOR:
            self._add_sparse(a.sparse_tensor)
        elif a.type == attr.SPARSE_TENSORS:
            for t in a.sparse_tensors:
                self._add_sparse(t)

    def _add(self, tensor: Any) -> None:
        if tensor.data_type == self.onnx.TensorProto.STRING:
            self.by_dtype["string"] += sum(len(s) for s in tensor.string_data)
            self.count += 1
            return
        self._add_dims(tensor.data_type, list(tensor.dims))

    def _add_sparse(self, sparse: Any) -> None:
        self._add(sparse.values)
        self._add(sparse.indices)
        self.count -= 1  # values and indices are one tensor

    def _add_dims(self, data_type: int, dims: list[int]) -> None:
        helper = self.onnx.helper
        n = 1
        for d in dims:
            n *= d
        name = helper.tensor_dtype_to_string(data_type).removeprefix("TensorProto.")
        dtype = helper.tensor_dtype_to_np_dtype(data_type)
        bits = _PACKED_BITS.get(name)
        nbytes = (n * bits + 7) // 8 if bits else n * dtype.itemsize
        self.by_dtype[str(dtype)] += nbytes
        self.count += 1


def torch_parameter_bytes(module: Any) -> ParameterBytes:
    """The parameter and buffer bytes of a torch module (e.g. after ``.half()``)."""
    by_dtype: Counter[str] = Counter()
    count = 0
    for tensor in [*module.parameters(), *module.buffers()]:
        by_dtype[str(tensor.dtype).removeprefix("torch.")] += tensor.numel() * tensor.element_size()
        count += 1
    return ParameterBytes(total=sum(by_dtype.values()), by_dtype=dict(by_dtype), tensors=count)

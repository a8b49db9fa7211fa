"""onnx_parameter_bytes counts every constant tensor a graph holds, once.

The shipped-model check compares it with an independent counter written here another way: a
generic descent over every protobuf field of the ModelProto (``ListFields``) that converts each
TensorProto it meets with ``numpy_helper.to_array``, evaluates value_* Constants with onnx's
reference evaluator, and takes ConstantOfShape outputs' shapes from onnx's shape inference.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")

from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from edgecheck.quantize import onnx_parameter_bytes  # noqa: E402

DATA = Path(os.path.dirname(onnx.__file__)) / "backend" / "test" / "data"
MESSAGE = 11  # FieldDescriptor.TYPE_MESSAGE
PACKED_BITS = {TensorProto.INT4: 4, TensorProto.UINT4: 4, TensorProto.FLOAT4E2M1: 4}


def _array_bytes(tensor: TensorProto) -> int:
    if tensor.data_type == TensorProto.STRING:
        return sum(len(s) for s in tensor.string_data)
    array = numpy_helper.to_array(tensor)
    bits = PACKED_BITS.get(tensor.data_type)
    return (array.size * bits + 7) // 8 if bits else int(array.nbytes)


def _evaluate_constant(node) -> int:
    from onnx.reference import ReferenceEvaluator

    graph = helper.make_graph([node], "c", [], [])
    (value,) = ReferenceEvaluator(graph, opsets={"": 17}).run(list(node.output), {})
    value = np.asarray(value)
    if value.dtype.kind in "OU":  # strings: their UTF-8 bytes, as stored
        return sum(len(str(s).encode()) for s in value.reshape(-1))
    return int(value.nbytes)


def independent_count(model) -> tuple[int, int]:
    """(bytes, tensors) by a generic walk of the ModelProto; see the module docstring."""
    total = 0
    tensors = 0
    constant_names: set[str] = set()
    fills: list = []  # ConstantOfShape nodes

    def walk(message, node) -> None:
        nonlocal total, tensors
        if isinstance(message, onnx.SparseTensorProto):
            total += _array_bytes(message.values) + _array_bytes(message.indices)
            tensors += 1
            return
        if isinstance(message, TensorProto):
            if node is not None and node.op_type == "ConstantOfShape":
                return  # the fill element, not a held tensor
            total += _array_bytes(message)
            tensors += 1
            if message.name:
                constant_names.add(message.name)
            return
        if isinstance(message, onnx.NodeProto):
            node = message
            if message.op_type == "Constant":
                constant_names.update(message.output)
                if not any(a.name in ("value", "sparse_value") for a in message.attribute):
                    total += _evaluate_constant(message)
                    tensors += 1
            if message.op_type == "ConstantOfShape":
                fills.append(message)
        if isinstance(message, onnx.GraphProto):
            node = None
        for field, value in message.ListFields():
            if field.type != MESSAGE:
                continue
            repeated = getattr(field, "is_repeated", None)
            if repeated is None:  # protobuf < 5
                repeated = field.label == field.LABEL_REPEATED
            for item in value if repeated else [value]:
                walk(item, node)

    walk(model, None)
    inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    types = {v.name: v.type.tensor_type for v in inferred.graph.value_info}
    types.update({v.name: v.type.tensor_type for v in inferred.graph.output})
    for node in fills:
        if node.input[0] not in constant_names:
            continue
        out = types[node.output[0]]
        dims = [d.dim_value for d in out.shape.dim]
        assert all(d.HasField("dim_value") for d in out.shape.dim), node.output[0]
        itemsize = helper.tensor_dtype_to_np_dtype(out.elem_type).itemsize
        total += int(np.prod(dims, dtype=np.int64)) * itemsize
        tensors += 1
    return total, tensors


def _holds_constants(model) -> bool:
    return bool(model.graph.initializer) or any(
        n.op_type in ("Constant", "ConstantOfShape") for n in model.graph.node
    )


def _shipped_models() -> list[Path]:
    light = sorted((DATA / "light").glob("*.onnx"))
    others = sorted(DATA.glob("*/*/model.onnx"))
    return light + [p for p in others if _holds_constants(onnx.load(str(p)))]


SHIPPED = _shipped_models()


def test_enough_shipped_graphs_are_compared():
    # 9 light models (weights made by ConstantOfShape) and about 60 others in onnx 1.23
    assert len(SHIPPED) >= 30, SHIPPED


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_graphs_match_an_independent_count(path):
    model = onnx.load(str(path))
    expected_bytes, expected_tensors = independent_count(model)
    got = onnx_parameter_bytes(path)
    assert (got.total, got.tensors) == (expected_bytes, expected_tensors)
    assert sum(got.by_dtype.values()) == got.total


def test_light_alexnet_counts_the_weights_constantofshape_makes():
    got = onnx_parameter_bytes(DATA / "light" / "light_bvlc_alexnet.onnx")
    # AlexNet's 60,965,224 float32 parameters, plus 16 int64 shapes of 2 or 4 dims
    assert got.by_dtype["float32"] == 60_965_224 * 4
    assert got.by_dtype["int64"] == 288


def _hand_built():
    f32 = TensorProto.FLOAT
    w = numpy_helper.from_array(np.ones((2, 3), np.float32), "W")  # 24 bytes
    inner = numpy_helper.from_array(np.arange(7, dtype=np.int8), "inner")  # 7 bytes
    then_branch = helper.make_graph(
        [helper.make_node("Cast", ["inner"], ["t_out"], to=f32)],
        "then",
        [],
        [helper.make_tensor_value_info("t_out", f32, [7])],
        [inner],
    )
    else_branch = helper.make_graph(
        [
            helper.make_node("Constant", [], ["e_scalar"], value_float=1.5),  # 4 bytes
            # shape from the outer graph's Constant; int32 fill: 2 x 5 x 4 = 40 bytes
            helper.make_node(
                "ConstantOfShape",
                ["shape"],
                ["e_fill"],
                value=helper.make_tensor("v", TensorProto.INT32, [1], [3]),
            ),
            helper.make_node("Cast", ["e_fill"], ["e_cast"], to=f32),
            helper.make_node("ReduceSum", ["e_cast"], ["e_sum"], keepdims=0),
            helper.make_node("Add", ["e_sum", "e_scalar"], ["e_add"]),
            helper.make_node("Expand", ["e_add", "seven"], ["e_out"]),
        ],
        "else",
        [],
        [helper.make_tensor_value_info("e_out", f32, [7])],
    )
    nodes = [
        helper.make_node(  # float16 [4]: 8 bytes
            "Constant",
            [],
            ["half"],
            value=numpy_helper.from_array(np.zeros(4, np.float16), "half_value"),
        ),
        helper.make_node("Constant", [], ["shape"], value_ints=[2, 5]),  # int64 [2]: 16 bytes
        helper.make_node("Constant", [], ["seven"], value_ints=[7]),  # int64 [1]: 8 bytes
        helper.make_node("ConstantOfShape", ["shape"], ["fill"]),  # float32 [2, 5]: 40 bytes
        helper.make_node("MatMul", ["x", "W"], ["y"]),
        helper.make_node(
            "If", ["cond"], ["branch"], then_branch=then_branch, else_branch=else_branch
        ),
    ]
    graph = helper.make_graph(
        nodes,
        "hand",
        [
            helper.make_tensor_value_info("x", f32, [1, 2]),
            helper.make_tensor_value_info("cond", TensorProto.BOOL, []),
            helper.make_tensor_value_info("W", f32, [2, 3]),
        ],  # W also an input, as IR 3 had it
        [
            helper.make_tensor_value_info("y", f32, [1, 3]),
            helper.make_tensor_value_info("fill", f32, [2, 5]),
            helper.make_tensor_value_info("half", TensorProto.FLOAT16, [4]),
            helper.make_tensor_value_info("branch", f32, [7]),
        ],
        [w],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    return model


def test_hand_built_graph_exact_bytes(tmp_path):
    model = _hand_built()
    got = onnx_parameter_bytes(model)
    assert got.by_dtype == {
        "float32": 24 + 40 + 4,
        "float16": 8,
        "int64": 16 + 8,
        "int8": 7,
        "int32": 40,
    }
    assert got.total == 147
    assert got.tensors == 8
    onnx.save(model, tmp_path / "hand.onnx")
    assert onnx_parameter_bytes(tmp_path / "hand.onnx") == got


def test_hand_built_graph_runs_as_counted():
    # the graph is what it claims to be: its constants evaluate to the counted shapes
    from onnx.reference import ReferenceEvaluator

    run = ReferenceEvaluator(_hand_built()).run
    feeds = {"x": np.ones((1, 2), np.float32)}
    _, fill, half, branch = run(None, {**feeds, "cond": np.array(True)})
    assert fill.shape == (2, 5) and fill.dtype == np.float32 and half.dtype == np.float16
    assert branch.tolist() == list(range(7))
    assert run(None, {**feeds, "cond": np.array(False)})[3].tolist() == [31.5] * 7


def test_sparse_strings_and_runtime_shapes():
    sparse = helper.make_sparse_tensor(
        helper.make_tensor("sv", TensorProto.FLOAT, [3], [1.0, 2.0, 3.0]),
        helper.make_tensor("si", TensorProto.INT64, [3], [0, 4, 9]),
        [10],
    )
    nodes = [
        helper.make_node("Constant", [], ["sp"], sparse_value=sparse),  # 12 + 24 bytes
        helper.make_node("Constant", [], ["fs"], value_floats=[1.0, 2.0]),  # 8 bytes
        helper.make_node("Constant", [], ["words"], value_strings=["ab", "cde"]),  # 5 bytes
        helper.make_node("Shape", ["x"], ["xs"]),
        helper.make_node("ConstantOfShape", ["xs"], ["zeros"]),  # run-time shape: not counted
    ]
    graph = helper.make_graph(
        nodes,
        "misc",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [4, 4])],
        [
            helper.make_tensor_value_info("sp", TensorProto.FLOAT, [10]),
            helper.make_tensor_value_info("zeros", TensorProto.FLOAT, [4, 4]),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    got = onnx_parameter_bytes(model)
    assert got.by_dtype == {"float32": 12 + 8, "int64": 24, "string": 5}
    assert got.tensors == 3
    assert independent_count(model) == (got.total, got.tensors)

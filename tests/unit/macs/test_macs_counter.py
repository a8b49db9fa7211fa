"""Eq. 1 MAC counting: exact numbers for the paper's models, agreement with torch's own FLOP
counter on random layers, ONNX graphs against torch modules, errors and the Table VI layout."""

from __future__ import annotations

import math
import sys
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from edgecheck.errors import EdgecheckError, MissingDependencyError, ModelError
from edgecheck.export import export_onnx
from edgecheck.macs import (
    LayerMACs,
    MACReport,
    count_macs,
    count_onnx_macs,
    format_macs_table,
    macs_rows,
)
from edgecheck.models import (
    FQA_INPUT_SHAPE,
    VGG16_CONV_NAMES,
    VGG16_FULL_PLAN,
    VGG16_INPUT_SHAPE,
    VGG16_PAPER_PLAN,
    build_model,
)

VGG16_CONV_TOTAL = 15_346_630_656
PAPER_CONV_TOTAL = 3_391_649_856
VGG16_FC_TOTAL = 123_633_664
FQA_CONV_TOTAL = 25_313_280
FQA_LINEAR_TOTAL = 270_400


def torch_flops(model: nn.Module, example: torch.Tensor) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(example)
    return int(counter.get_total_flops())


@pytest.fixture(scope="module")
def vgg_reports() -> dict[str, MACReport]:
    return {
        plan: count_macs(build_model("vgg16", plan=plan, device="meta"), VGG16_INPUT_SHAPE)
        for plan in ("full", "paper")
    }


# test id -> (registry name, build options, input shape)
EXPORTS = {
    "fqa": ("fqa", {}, FQA_INPUT_SHAPE),
    "vgg16": ("vgg16", {}, VGG16_INPUT_SHAPE),
    "vgg16-paper": ("vgg16", {"plan": "paper"}, VGG16_INPUT_SHAPE),
}


@pytest.fixture(scope="module")
def onnx() -> ModuleType:
    """The onnx package; only the ONNX tests skip without it."""
    return pytest.importorskip("onnx")


@pytest.fixture(scope="module")
def exported(
    onnx: ModuleType,
    tmp_path_factory: pytest.TempPathFactory,
    vgg16_graph_onnx: Callable[..., Path],
) -> dict[str, str]:
    """Graph-only ONNX exports: weights are shaped graph inputs, so VGG16 takes kilobytes.
    VGG16's come from the session (tests/conftest.py; tests/accuracy/test_macs.py counts them
    too)."""
    folder = tmp_path_factory.mktemp("onnx")
    paths = {}
    for key, (name, options, shape) in EXPORTS.items():
        if name == "vgg16":
            paths[key] = str(vgg16_graph_onnx(options.get("plan")))
            continue
        model = build_model(name, **options)
        paths[key] = str(export_onnx(model, shape, folder / f"{key}.onnx", export_params=False))
    return paths


# ---------------------------------------------------------------------------------------------
# The paper's numbers


def _vgg_expected(plan: Mapping[str, int]) -> dict[str, int]:
    """Eq. 1 by hand: same-padded 3x3 convs, the map halving after every block."""
    expected, n_in = {}, 3
    for name in VGG16_CONV_NAMES:
        side = 224 >> (int(name[4]) - 1)
        n_out = plan[name]
        expected[f"features.{name}"] = side * side * n_in * n_out * 3 * 3
        n_in = n_out
    return expected


@pytest.mark.parametrize(
    ("plan", "table", "conv_total"),
    [("full", VGG16_FULL_PLAN, VGG16_CONV_TOTAL), ("paper", VGG16_PAPER_PLAN, PAPER_CONV_TOTAL)],
)
def test_vgg16_per_layer_matches_eq1(vgg_reports, plan, table, conv_total):
    report = vgg_reports[plan]
    convs = {layer.name: layer.macs for layer in report.layers if layer.kind == "conv"}
    assert convs == _vgg_expected(table)
    assert list(convs) == [f"features.{name}" for name in VGG16_CONV_NAMES]  # execution order
    assert report.conv_total == conv_total
    assert report.linear_total == VGG16_FC_TOTAL
    assert report.total == conv_total + VGG16_FC_TOTAL


def test_vgg16_paper_layer_details(vgg_reports):
    conv1_2 = vgg_reports["paper"].by_name["features.conv1_2"]
    assert conv1_2 == LayerMACs(
        name="features.conv1_2",
        kind="conv",
        in_channels=24,
        out_channels=22,
        kernel=(3, 3),
        output_size=(224, 224),
        groups=1,
        macs=224 * 224 * 24 * 22 * 9,
    )
    assert vgg_reports["paper"].gmacs("features.conv1_2") == pytest.approx(0.238436352)
    # Table VI prints every layer rounded to 3 decimals (2 for the 1.85 rows, 1.855 for
    # Conv4_3, which is why its column sums to 15.38 rather than 15.347).
    assert round(vgg_reports["full"].gmacs("features.conv4_3"), 3) == 1.850
    assert round(vgg_reports["paper"].gmacs("features.conv5_1"), 3) == 0.206


def test_vgg16_linear_head(vgg_reports):
    head = {layer.name: layer for layer in vgg_reports["paper"].layers if layer.kind == "linear"}
    assert {name: layer.macs for name, layer in head.items()} == {
        "classifier.fc6": 512 * 7 * 7 * 4096,
        "classifier.fc7": 4096 * 4096,
        "classifier.fc8": 4096 * 1000,
    }
    assert head["classifier.fc6"].in_channels == 25088
    assert head["classifier.fc6"].kernel == head["classifier.fc6"].output_size == ()


def test_fqa_total():
    report = count_macs(build_model("fqa", device="meta"), FQA_INPUT_SHAPE)
    assert report.conv_total == FQA_CONV_TOTAL
    assert report.linear_total == FQA_LINEAR_TOTAL
    assert report.total == 25_583_680  # the "25.6 M MACs" of the model's docstring
    assert report.by_name["features.inception.branch5x5"].macs == 32 * 32 * 12 * 8 * 5 * 5


def test_counts_are_per_example_and_leave_the_model_as_it_was():
    model = build_model("fqa")
    model.train()
    model.features.train(False)
    before = [p.clone() for p in model.parameters()]
    report = count_macs(model, FQA_INPUT_SHAPE, batch_size=4)
    assert report.total == 25_583_680
    assert model.training and model.head.training and not model.features.training
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_shared_module_counted_per_call():
    shared = nn.Linear(8, 8)
    model = nn.Sequential(OrderedDict([("fc", shared), ("act", nn.ReLU()), ("again", shared)]))
    report = count_macs(model, (8,))
    assert [layer.name for layer in report.layers] == ["fc", "fc#2"]
    assert report.total == 2 * 64 == torch_flops(model, torch.zeros(1, 8)) // 2


# ---------------------------------------------------------------------------------------------
# Agreement with torch.utils.flop_counter on random layers
#
# FlopCounterMode counts 2 FLOPs per MAC, ignores bias and counts transposed convolutions from
# the input's size (input spatial x C_in x C_out / groups x kernel), which is the same
# convention as ours, so one property covers all three module families.


@st.composite
def conv_layers(draw: st.DrawFn) -> tuple[nn.Module, tuple[int, ...]]:
    dims = draw(st.integers(1, 3))
    transposed = draw(st.booleans())
    groups = draw(st.integers(1, 3))
    in_channels = groups * draw(st.integers(1, 3))
    out_channels = groups * draw(st.integers(1, 3))
    per_dim = st.lists(st.integers(1, 3), min_size=dims, max_size=dims)
    kernel, stride, dilation = draw(per_dim), draw(per_dim), draw(per_dim)
    padding = draw(st.lists(st.integers(0, 2), min_size=dims, max_size=dims))
    # Smallest input with at least one output position; 3-D stays small to keep examples fast.
    span = 4 if dims == 3 else 9
    size = [
        draw(st.integers(max(1, d * (k - 1) + 1 - 2 * p), max(1, d * (k - 1) + 1 - 2 * p) + span))
        for k, d, p in zip(kernel, dilation, padding, strict=True)
    ]
    options = {"stride": stride, "padding": padding, "dilation": dilation, "groups": groups}
    if transposed:
        cls = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)[dims - 1]
        # output_padding must stay below stride or dilation.
        options["output_padding"] = [
            draw(st.integers(0, max(s, d) - 1)) for s, d in zip(stride, dilation, strict=True)
        ]
        # Padding up to half the dilated kernel keeps every output size at least 1.
        options["padding"] = [
            min(p, d * (k - 1) // 2) for p, d, k in zip(padding, dilation, kernel, strict=True)
        ]
        layer = cls(in_channels, out_channels, kernel, **options)
    else:
        cls = (nn.Conv1d, nn.Conv2d, nn.Conv3d)[dims - 1]
        layer = cls(in_channels, out_channels, kernel, **options)
    return layer, (in_channels, *size)


@st.composite
def linear_layers(draw: st.DrawFn) -> tuple[nn.Module, tuple[int, ...]]:
    in_features, out_features = draw(st.integers(1, 16)), draw(st.integers(1, 16))
    leading = draw(st.lists(st.integers(1, 4), max_size=2))
    layer = nn.Linear(in_features, out_features, bias=draw(st.booleans()))
    return layer, (*leading, in_features)


@st.composite
def stacks(draw: st.DrawFn) -> tuple[nn.Module, tuple[int, ...]]:
    """A conv, ReLU, flatten and one or two linear layers: a miniature of the paper's models."""
    conv, shape = draw(conv_layers())
    with torch.device("meta"):
        features = conv(torch.zeros(1, *shape)).numel()
    hidden = draw(st.integers(1, 12))
    layers: list[nn.Module] = [conv, nn.ReLU(), nn.Flatten(), nn.Linear(features, hidden)]
    if draw(st.booleans()):
        layers += [nn.ReLU(), nn.Linear(hidden, draw(st.integers(1, 5)))]
    return nn.Sequential(*layers), shape


@settings(max_examples=60, deadline=None)
@given(case=st.one_of(conv_layers(), linear_layers(), stacks()), batch_size=st.integers(1, 3))
def test_twice_macs_equals_torch_flop_counter(case, batch_size):
    model, shape = case
    report = count_macs(model, shape, batch_size=batch_size)
    flops = torch_flops(model, torch.zeros(batch_size, *shape))
    assert 2 * report.total * batch_size == flops


def test_conv_transpose_hand_formula():
    # Stride 2 quadruples the output but not the work: each of the 5x7 input positions is
    # multiplied through 3x3 kernels for C_out / groups = 3 outputs of its group.
    layer = nn.ConvTranspose2d(4, 6, 3, stride=2, padding=1, output_padding=1, groups=2)
    (entry,) = count_macs(layer, (4, 5, 7)).layers
    assert entry.kind == "conv_transpose"
    assert entry.output_size == (10, 14)
    assert entry.macs == 5 * 7 * 4 * (6 // 2) * 3 * 3


def test_strided_grouped_conv_uses_output_size():
    layer = nn.Conv2d(8, 12, (3, 5), stride=2, padding=(1, 0), dilation=(1, 2), groups=4)
    (entry,) = count_macs(layer, (8, 17, 20)).layers
    assert entry.output_size == (9, 6)
    assert entry.macs == 9 * 6 * (8 // 4) * 12 * 3 * 5
    assert (entry.name, entry.groups) == ("Conv2d", 4)  # a bare module is named by its class


# ---------------------------------------------------------------------------------------------
# ONNX


@pytest.mark.parametrize("name", ["fqa", "vgg16", "vgg16-paper"])
def test_onnx_matches_torch(exported, name):
    model, options, shape = EXPORTS[name]
    from_torch = count_macs(build_model(model, device="meta", **options), shape)
    path = exported[name]
    from_onnx = count_onnx_macs(path, batch_size=3)  # the symbolic batch axis
    assert from_onnx == from_torch  # same names, kinds, channels, kernels, sizes and MACs
    assert from_onnx.total == from_torch.total


def test_onnx_mixed_layers_and_weight_sharing(onnx, tmp_path):
    shared = nn.Conv2d(6, 6, 1)
    model = nn.Sequential(
        OrderedDict(
            [
                ("down", nn.Conv2d(4, 6, 3, stride=2, dilation=2, groups=2)),
                ("mix", shared),
                ("again", shared),
                ("up", nn.ConvTranspose2d(6, 4, 3, stride=2, groups=2, output_padding=1)),
                ("flat", nn.Flatten(2)),
                ("fc", nn.Linear(16 * 20, 5)),  # on 3-D input: exported as MatMul
            ]
        )
    )
    path = export_onnx(model, (4, 17, 21), tmp_path / "mixed.onnx", export_params=False)
    from_torch = count_macs(model, (4, 17, 21))
    from_onnx = count_onnx_macs(path)
    # The weight names recover "mix" for both calls (the node scopes are /mix/ and /mix_1/).
    assert [layer.name for layer in from_onnx.layers] == ["down", "mix", "mix#2", "up", "fc"]
    # Flatten exports as a Reshape whose last size inference cannot compute ("unk__0"): the
    # MatMul's inner size then comes from its weight.
    assert from_onnx.layers[-1].kind == "matmul"
    assert from_onnx.layers[:-1] == from_torch.layers[:-1]
    assert from_onnx.layers[-1].macs == from_torch.layers[-1].macs == 4 * 320 * 5


def _save(onnx: ModuleType, graph: Any, path) -> str:
    model = onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return str(path)


def test_onnx_gemm_honours_transposes(onnx, tmp_path):
    k, n = 6, 5
    graph = onnx.helper.make_graph(
        [
            onnx.helper.make_node("Gemm", ["x", "w"], ["h"], name="/fc1/Gemm", transB=1),
            onnx.helper.make_node("Gemm", ["ht", "w2"], ["y"], name="/fc2/Gemm", transA=1),
            onnx.helper.make_node("Gemm", ["fixed", "w2"], ["z"], name="rows"),
        ],
        "gemms",
        [
            onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", k]),
            onnx.helper.make_tensor_value_info(
                "w", onnx.TensorProto.FLOAT, [n, k]
            ),  # (N, K): transB
            onnx.helper.make_tensor_value_info(
                "ht", onnx.TensorProto.FLOAT, [n, "batch"]
            ),  # (K, M)
            onnx.helper.make_tensor_value_info("w2", onnx.TensorProto.FLOAT, [n, 3]),
            onnx.helper.make_tensor_value_info("fixed", onnx.TensorProto.FLOAT, [7, n]),
        ],
        [
            onnx.helper.make_tensor_value_info(o, onnx.TensorProto.FLOAT, None)
            for o in ("h", "y", "z")
        ],
    )
    report = count_onnx_macs(_save(onnx, graph, tmp_path / "gemm.onnx"), batch_size=1)
    assert {layer.name: layer.macs for layer in report.layers} == {
        "fc1": k * n,
        "fc2": n * 3,
        "rows": 7 * n * 3,  # a fixed M is rows of one example, not a batch
    }
    assert report.by_name["fc1"].kind == "linear"
    assert (report.by_name["fc1"].in_channels, report.by_name["fc1"].out_channels) == (k, n)


def test_onnx_plain_matmul(onnx, tmp_path):
    graph = onnx.helper.make_graph(
        [
            onnx.helper.make_node("MatMul", ["x", "w"], ["y"], name="/proj/MatMul"),
            onnx.helper.make_node("MatMul", ["y", "v"], ["s"], name="/score/MatMul"),
        ],
        "matmuls",
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["batch", 3, 8])],
        [onnx.helper.make_tensor_value_info("s", onnx.TensorProto.FLOAT, None)],
        initializer=[
            onnx.helper.make_tensor("w", onnx.TensorProto.FLOAT, [8, 4], [0.0] * 32),
            onnx.helper.make_tensor("v", onnx.TensorProto.FLOAT, [4], [0.0] * 4),  # 1-D: a vector
        ],
    )
    report = count_onnx_macs(_save(onnx, graph, tmp_path / "matmul.onnx"), batch_size=2)
    assert [(layer.name, layer.kind, layer.macs) for layer in report.layers] == [
        ("proj", "matmul", 3 * 8 * 4),
        ("score", "matmul", 3 * 4),
    ]
    assert report.linear_total == report.total == 3 * 8 * 4 + 3 * 4


def test_onnx_model_proto_accepted(onnx, exported):
    assert count_onnx_macs(onnx.load(exported["fqa"])).total == 25_583_680


# ---------------------------------------------------------------------------------------------
# Errors


def test_wrong_input_shape_names_model_and_shape():
    with pytest.raises(ModelError) as info:
        count_macs(build_model("fqa", device="meta"), (1, 32, 32))
    message = str(info.value)
    assert "FQACNN" in message
    assert "(1, 32, 32)" in message
    assert "RuntimeError" in message and isinstance(info.value.__cause__, RuntimeError)


@pytest.mark.parametrize("shape", [(), (0, 64, 64), (1, -64, 64)])
def test_invalid_input_shape(shape):
    with pytest.raises(ModelError, match="input_shape"):
        count_macs(build_model("fqa", device="meta"), shape)


def test_corrupt_onnx_file_names_the_path(onnx, tmp_path):
    path = tmp_path / "broken.onnx"
    path.write_bytes(b"this is not an ONNX model \x00\xff\xfe")
    with pytest.raises(EdgecheckError) as info:
        count_onnx_macs(path)
    assert str(path) in str(info.value)
    assert info.value.__cause__ is not None


def test_empty_onnx_file_is_an_error(onnx, tmp_path):
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    with pytest.raises(ModelError, match="without nodes"):
        count_onnx_macs(path)


def test_onnx_unknown_shape_names_file_and_node(onnx, tmp_path):
    graph = onnx.helper.make_graph(
        [onnx.helper.make_node("Conv", ["x", "w"], ["y"], name="mystery_conv")],
        "unknown",
        # x has no shape at all, so neither has y.
        [onnx.helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, None)],
        [onnx.helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, None)],
        initializer=[
            onnx.helper.make_tensor("w", onnx.TensorProto.FLOAT, [2, 1, 1, 1], [0.0, 0.0])
        ],
    )
    path = _save(onnx, graph, tmp_path / "unknown.onnx")
    with pytest.raises(ModelError) as info:
        count_onnx_macs(path)
    assert path in str(info.value) and "mystery_conv" in str(info.value)


def test_missing_onnx_package(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)  # makes `import onnx` raise ImportError
    with pytest.raises(MissingDependencyError, match="onnx"):
        count_onnx_macs(tmp_path / "any.onnx")


# ---------------------------------------------------------------------------------------------
# Table VI layout


def test_table_vi_before_and_after(vgg_reports):
    before, after = vgg_reports["full"].select("conv"), vgg_reports["paper"].select("conv")
    table = format_macs_table(before, compare=after, title="Table VI")
    assert table.splitlines()[0] == "Table VI"
    for name in VGG16_CONV_NAMES:
        assert f"features.{name}" in table
    total_line = table.splitlines()[-1]
    assert total_line.startswith("Conv total")  # convolutions only: no "All layers" row
    # 15.347 / 3.392 = 4.525: Eq. 1 exactly. The paper's 4.54 divides its rounded column's
    # sum (15.38) instead.
    assert total_line.split()[-3:] == ["15.347", "3.392", "4.525x"]
    assert round(before.total / after.total, 3) == 4.525
    conv5_1 = next(line for line in table.splitlines() if "features.conv5_1" in line).split()
    assert conv5_1 == [
        *("features.conv5_1", "14x14", "3x3"),
        *("512", "228"),  # N_in: conv4_3 kept 228 kernels,
        *("512", "512"),  # so conv5_1 costs less with all of its own kept
        *("0.462", "0.206", "2.246x"),
    ]


def test_macs_rows_feed_other_writers(vgg_reports):
    rows = macs_rows(vgg_reports["full"], compare=vgg_reports["paper"])
    assert len(rows) == 16  # 13 convs + fc6..fc8, matched by name
    first = rows[0]
    assert first["layer"] == "features.conv1_1"
    assert (first["feature_map"], first["kernel"], first["n_in"]) == ("224x224", "3x3", 3)
    assert (first["n_out"], first["n_out_after"]) == (64, 24)
    assert first["gmacs"] == pytest.approx(224 * 224 * 3 * 64 * 9 / 1e9)
    assert first["gmacs_after"] == pytest.approx(224 * 224 * 3 * 24 * 9 / 1e9)
    fc6 = rows[13]
    assert (fc6["layer"], fc6["feature_map"], fc6["kernel"]) == ("classifier.fc6", "-", "-")
    plain_keys = {"layer", "feature_map", "kernel", "n_in", "n_out", "gmacs"}
    assert set(macs_rows(vgg_reports["full"])[0]) == plain_keys


def test_table_without_compare_and_unmatched_layers():
    conv = LayerMACs("a", "conv", 3, 8, (3, 3), (32, 32), 1, 32 * 32 * 3 * 8 * 9)
    report, other = MACReport((conv,)), MACReport((LayerMACs("b", "linear", 8, 2, (), (), 1, 16),))
    lines = format_macs_table(report).splitlines()
    # Under a billion MACs the table switches to MMACs, so small models do not read 0.000.
    assert lines[0].split() == ["Layer", "Feature", "map", "Kernel", "N_in", "N_out", "MMACs"]
    assert lines[2].split() == ["a", "32x32", "3x3", "3", "8", "0.221"]
    assert lines[-1].split() == ["Conv", "total", "0.221"]
    # Layers are matched by name; one missing on either side shows as None ("-" in the table).
    rows = macs_rows(report, compare=other)
    assert [(r["layer"], r["n_out"], r["n_out_after"], r["ratio"]) for r in rows] == [
        ("a", 8, None, None),
        ("b", None, 2, None),
    ]
    assert "-" in format_macs_table(report, compare=other).splitlines()[2].split()
    assert report.as_dict()["layers"][0]["kernel"] == [3, 3]
    assert report.as_dict()["conv_total"] == conv.macs
    assert math.isclose(report.gmacs("a"), conv.macs / 1e9)
    with pytest.raises(KeyError, match="no layer named 'z'"):
        report.gmacs("z")

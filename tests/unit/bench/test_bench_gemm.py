"""The GEMM reference workload: its graphs compute what they claim, on tiny layers."""

from __future__ import annotations

import numpy as np
import pytest

from edgecheck.bench.gemm import VGG16_CONV_LAYERS, GemmWorkload, im2col_gemm

pytest.importorskip("onnxruntime")

TINY = ((8, 4, 6), (4, 8, 3))


def test_vgg16_layers_are_its_conv_gemms():
    assert [im2col_gemm(x) for x in VGG16_CONV_LAYERS] == [
        (3136, 2304, 256), (784, 4608, 512), (196, 4608, 512)
    ]  # fmt: skip
    assert GemmWorkload().macs == 3136 * 2304 * 256 + 784 * 4608 * 512 + 196 * 4608 * 512


@pytest.mark.parametrize("op", ["conv", "matmul"])
@pytest.mark.parametrize("precision", ["fp32", "int8"])
def test_each_form_builds_and_runs(op, precision):
    work = GemmWorkload(precision, op, layers=TINY)
    call = work(1)
    outputs = call()
    assert len(outputs) == len(TINY)
    for (cin, cout, hw), out in zip(TINY, outputs, strict=True):
        m, _, n = im2col_gemm((cin, cout, hw))
        assert out.shape == ((1, cout, hw, hw) if op == "conv" else (m, n))
    assert work.label(1) == f"vgg16-{op}-{'fp32' if precision == 'fp32' else 'u8s8'}-1c"


def test_matmul_integer_matches_numpy():
    import onnxruntime as ort

    work = GemmWorkload("int8", "matmul", layers=((4, 4, 2),), weight_type="int8")
    model, feeds = work.graph()
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (out,) = session.run(None, feeds)
    weights = {i.name: i for i in model.graph.initializer}
    from onnx import numpy_helper

    w = numpy_helper.to_array(weights["w0"]).astype(np.int64)
    a = feeds["x0"].astype(np.int64) - 128  # uint8 activations, zero point 128
    assert np.array_equal(out, a @ w)


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="precision"):
        GemmWorkload("int4")
    with pytest.raises(ValueError, match="op"):
        GemmWorkload("fp32", "gemv")
    with pytest.raises(ValueError, match="weight_type"):
        GemmWorkload("int8", weight_type="int16")
    with pytest.raises(ValueError, match="layers"):
        GemmWorkload(layers=((0, 1, 1),))

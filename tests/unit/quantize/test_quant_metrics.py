"""edgecheck.quantize: error metrics, parameter bytes, calibration input checks, capability rules."""

from __future__ import annotations

import logging
from dataclasses import replace

import numpy as np
import pytest

from edgecheck.device import DeviceInfo, detect_device
from edgecheck.quantize import (
    ArrayCalibrationReader,
    QuantizationError,
    output_difference,
    speed_unmet,
)

logging.getLogger().setLevel(logging.ERROR)


# --------------------------------------------------------------------------- metrics


def test_output_difference_definitions_with_literal_numbers():
    d = output_difference(np.array([0.5, 0.25, 0.8]), np.array([0.51, 0.25, 0.76]))
    # |q - r| = 0.01, 0, 0.04; / |r| = 0.02, 0, 0.05
    assert d.mean_absolute == pytest.approx(0.05 / 3)
    assert d.mean_relative_percent == pytest.approx(100 * 0.07 / 3)
    assert d.max_absolute == pytest.approx(0.04)
    assert d.count == 3
    assert output_difference(np.ones((2, 1)), np.ones((2, 1))).mean_relative_percent == 0.0


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_is_an_error_not_a_small_number(bad):
    ref = np.full(100, 0.5)
    cand = ref.copy()
    cand[17] = bad
    with pytest.raises(QuantizationError, match=r"1 NaN/Inf value\(s\) out of 100"):
        output_difference(ref, cand, what="INT8 minmax")
    with pytest.raises(QuantizationError, match="FP32 reference"):
        output_difference(cand, ref)


def test_zero_reference_and_shape_mismatch_are_errors():
    with pytest.raises(QuantizationError, match="undefined"):
        output_difference(np.array([0.0, 1.0]), np.array([0.1, 1.0]))
    with pytest.raises(QuantizationError, match="shapes differ"):
        output_difference(np.ones(3), np.ones(4))
    with pytest.raises(QuantizationError, match="no outputs"):
        output_difference(np.ones(0), np.ones(0))


def test_calibration_reader_batches_and_ends():
    reader = ArrayCalibrationReader(np.zeros((5, 1, 2, 2), np.float32), "x", batch_size=2)
    sizes = []
    while (item := reader.get_next()) is not None:
        sizes.append(item["x"].shape[0])
    assert sizes == [2, 2, 1] and len(reader) == 3
    reader.rewind()
    assert reader.get_next() is not None


def test_calibration_reader_is_an_onnxruntime_data_reader():
    quant = pytest.importorskip("onnxruntime.quantization")
    reader = ArrayCalibrationReader(np.zeros((1, 3), np.float32))
    assert isinstance(reader, quant.CalibrationDataReader)


# --------------------------------------------------------------------------- files


@pytest.fixture(scope="module")
def tiny_fp32(tmp_path_factory):
    """A 1x16x16-input conv + linear model, exported once."""
    pytest.importorskip("onnxruntime")
    import torch

    from edgecheck.export import export_onnx

    torch.manual_seed(0)
    model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 8, 3, padding=1), torch.nn.ReLU(), torch.nn.Flatten(),
        torch.nn.Linear(8 * 16 * 16, 4),
    )  # fmt: skip
    return export_onnx(model, (1, 16, 16), tmp_path_factory.mktemp("tiny") / "tiny.onnx")


def test_parameter_bytes_ratios(tiny_fp32, tmp_path):
    from edgecheck.quantize import convert_fp16, onnx_parameter_bytes, quantize_int8

    x = np.random.default_rng(0).random((8, 1, 16, 16), dtype=np.float32)
    fp32 = onnx_parameter_bytes(tiny_fp32)
    n_params = 8 * 9 + 8 + 8 * 256 * 4 + 4
    assert fp32.total == 4 * n_params and fp32.by_dtype == {"float32": 4 * n_params}
    fp16 = onnx_parameter_bytes(convert_fp16(tiny_fp32, tmp_path / "h.onnx"))
    assert fp16.ratio_to(fp32) == pytest.approx(0.5, abs=1e-9)
    int8 = onnx_parameter_bytes(quantize_int8(tiny_fp32, tmp_path / "q.onnx", x).path)
    assert int8.by_dtype["int8"] >= n_params - 12  # every weight in 8 bits
    assert 0.25 < int8.ratio_to(fp32) < 0.27  # + int32 biases, scales, zero points


def test_quantize_rejects_bad_calibration_and_writes_nothing(tiny_fp32, tmp_path):
    from edgecheck.data import DataError
    from edgecheck.quantize import quantize_int8

    out = tmp_path / "out" / "q.onnx"
    cases = [
        (None, QuantizationError, r"needs calibration inputs of shape \(N, 1x16x16\)"),
        (np.zeros((0, 1, 16, 16), np.float32), QuantizationError, "empty"),
        (np.zeros((4, 1, 64, 64), np.float32), QuantizationError, r"\(4, 1, 64, 64\).*1x16x16"),
        (np.full((4, 1, 16, 16), np.nan, np.float32), QuantizationError, "NaN/Inf"),
        (tmp_path / "missing", DataError, r"missing does not exist.*16x16 grayscale"),
    ]
    for calibration, error, pattern in cases:
        with pytest.raises(error, match=pattern):
            quantize_int8(tiny_fp32, out, calibration)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataError, match=rf"{empty} holds no images.*16x16"):
        quantize_int8(tiny_fp32, out, empty)
    wrong = tmp_path / "wrong"
    wrong.mkdir()
    np.save(wrong / "a.npy", np.zeros((64, 64), np.uint8))
    with pytest.raises(
        DataError, match=r"a\.npy: image is 64x64 but the folder .*wrong must hold 16x16"
    ):
        quantize_int8(tiny_fp32, out, wrong)
    with pytest.raises(QuantizationError, match="'kl' is not one of minmax, entropy, percentile"):
        quantize_int8(tiny_fp32, out, np.zeros((1, 1, 16, 16), np.float32), method="kl")
    assert not out.exists()
    assert not out.parent.exists() or list(out.parent.iterdir()) == []


def test_quantize_from_image_folder(tiny_fp32, tmp_path):
    from edgecheck.quantize import quantize_int8

    folder = tmp_path / "cal"
    folder.mkdir()
    rng = np.random.default_rng(1)
    for i in range(3):
        np.save(folder / f"{i}.npy", rng.integers(0, 256, (16, 16), dtype=np.uint8))
    q = quantize_int8(tiny_fp32, tmp_path / "q.onnx", folder, method="entropy")
    assert q.path.is_file() and q.n_calibration == 3 and q.method == "entropy"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


# --------------------------------------------------------------------------- capabilities


def _device(*, flags=(), cuda_capability=None, arch="x86") -> DeviceInfo:
    cap = replace(
        detect_device().capabilities, cpu_flags=frozenset(flags), cpu_arch=arch,
        cpu_model="Test CPU", cuda=cuda_capability is not None,
        cuda_device="Test GPU" if cuda_capability else None, cuda_capability=cuda_capability,
    )  # fmt: skip
    return DeviceInfo(profile="cpu", profile_source="test", capabilities=cap, fingerprint={})


def test_int8_speed_needs_int8_dot_products():
    assert speed_unmet("int8", _device(flags=("avx512_vnni",))) == []
    reasons = speed_unmet("int8", _device(flags=("avx2",)))
    assert reasons and "INT8 dot-product" in reasons[0]
    assert speed_unmet("int8", _device(cuda_capability=(7, 5))) == []


def test_fp16_speed_needs_native_fp16_and_not_onnxruntime_cpu():
    reasons = speed_unmet("fp16", _device(flags=("avx512_vnni",)))
    assert any("native FP16" in r for r in reasons)
    assert any("casting to FP32" in r for r in reasons)
    # Native FP16 on the CPU is not enough for onnxruntime's CPU provider.
    assert speed_unmet("fp16", _device(flags=("avx512_fp16",))) != []
    assert speed_unmet("fp16", _device(flags=("avx512_fp16",)), runtime="torch") == []
    assert speed_unmet("fp16", _device(cuda_capability=(6, 2)), runtime="tensorrt") == []
    with pytest.raises(QuantizationError):
        speed_unmet("int4", _device())


def test_torch_half_refuses_cpu():
    import torch

    from edgecheck.quantize import torch_half

    with pytest.raises(QuantizationError, match="CUDA only"):
        torch_half(torch.nn.Linear(2, 2), device="cpu")


def test_tensorrt_engine_without_tensorrt_says_what_to_install(tiny_fp32, tmp_path):
    from edgecheck._imports import is_available
    from edgecheck.backends import BackendError
    from edgecheck.quantize import tensorrt_fp16_engine

    if is_available("tensorrt") and is_available("polygraphy"):
        pytest.skip("TensorRT is installed here; the GPU tests build real engines")
    with pytest.raises(BackendError, match="pip install pytest-edgecheck\\[trt\\]|TensorRT"):
        tensorrt_fp16_engine(tiny_fp32, tmp_path / "m.engine")
    assert not (tmp_path / "m.engine").exists()


def test_entropy_ranges_clip_long_tails_within_minmax(tiny_fp32, tmp_path):
    """Entropy (2048 bins, as TensorRT) narrows a long-tailed range; MinMax keeps the extremes."""
    from edgecheck.quantize.int8 import ArrayCalibrationReader, entropy_ranges
    from edgecheck.quantize.reference import qdq_tensors

    rng = np.random.default_rng(3)
    x = rng.random((32, 1, 16, 16), dtype=np.float32) * 0.2
    x[0, 0, 0, 0] = 1.0  # one outlier pixel: the tail Entropy should cut
    ranges = entropy_ranges(tiny_fp32, ArrayCalibrationReader(x, "input", 8), tmp_path)
    lo, hi = ranges["input"]
    assert 0.0 <= lo < 1e-3 and hi < 0.5
    from edgecheck.quantize import quantize_int8

    by_minmax = qdq_tensors(quantize_int8(tiny_fp32, tmp_path / "m.onnx", x).path)
    by_entropy = qdq_tensors(
        quantize_int8(tiny_fp32, tmp_path / "e.onnx", x, method="entropy").path
    )
    assert float(by_minmax["input"].scale) == pytest.approx(1.0 / 255, rel=1e-3)
    assert float(by_entropy["input"].scale) < 0.5 * float(by_minmax["input"].scale)

"""Which INT8 form each target gets, decided from the CPU's /proc/cpuinfo (injected texts of
the machines this suite runs on)."""

from __future__ import annotations

import pytest
from fake_machines import fake_machine

from edgecheck.device import detect_device
from edgecheck.quantize import QuantizationError
from edgecheck.quantize.settings import (
    CANONICAL,
    NO_DOT_PRODUCT_X86,
    TENSORRT,
    settings_for,
)

EXPECTED = {
    # 8-bit u8s8 kernels saturate without VNNI: U8U8 there.
    "epyc-avx2": ("U8U8", "uint8", "uint8"),
    "epyc-avx512-vnni": ("S8S8", "int8", "int8"),
    "xeon-amx": ("S8S8", "int8", "int8"),
    "jetson-tx2": ("S8S8", "int8", "int8"),
    "jetson-orin": ("S8S8", "int8", "int8"),
}


def _no_cuda():
    return (False, None, None)


@pytest.mark.parametrize("machine", list(EXPECTED))
def test_onnxruntime_settings_follow_the_cpu(tmp_path, machine):
    cap = detect_device(root=fake_machine(tmp_path, machine), cuda_probe=_no_cuda).capabilities
    chosen = settings_for("onnxruntime", cap)
    assert (chosen.name, chosen.activation_type, chosen.weight_type) == EXPECTED[machine]
    assert not chosen.reduce_range and chosen.quantize_bias and chosen.why


@pytest.mark.parametrize("machine", list(EXPECTED))
def test_tensorrt_gets_its_symmetric_form_everywhere(tmp_path, machine):
    cap = detect_device(root=fake_machine(tmp_path, machine), cuda_probe=_no_cuda).capabilities
    assert settings_for("tensorrt", cap) == TENSORRT
    assert TENSORRT.symmetric_activations and not TENSORRT.quantize_bias


def test_canonical_is_the_papers_s8s8_and_options_are_checked():
    assert (CANONICAL.activation_type, CANONICAL.weight_type) == ("int8", "int8")
    assert NO_DOT_PRODUCT_X86.with_options(reduce_range=True).reduce_range
    with pytest.raises(QuantizationError, match="unknown quantization option"):
        CANONICAL.with_options(bits=4)
    with pytest.raises(QuantizationError, match="not one of"):
        settings_for("openvino")

"""Section IV-D-2 and II-B-2: quantization error and model size of the trained FQA CNN.

The experiment (`FQAQuantization`): the shipped trained FQA CNN (`load_trained_fqa`) is
exported to ONNX; its FP32 outputs on the paper's 2573 test images are the reference; INT8
models are calibrated on the 100 calibration images (`quantize_int8`, one per calibration
method) and an FP16 model is converted (`convert_fp16`). An INT8 model's error is that of the
Q/DQ model itself, evaluated exactly (`edgecheck.quantize.exact`: the same on every CPU), in
the paper's S8S8 form (`edgecheck.quantize.settings.CANONICAL`); that is the ``quant.error``
claim (`output_difference`: mean relative difference, and mean absolute difference).
`FQAQuantization.fidelity` then runs a model on this device's INT8 kernels through the
backend runners: how far they are from the exact function is ``quant.int8.fidelity``, judged
for the settings chosen for this target (`settings_for`), with the paper's S8S8 beside it. Parameter bytes of the
three files give ``quant.memory``. INT8 speed (``quant.int8.speedup``, Fig. 4) is measured on
VGG16 by `edgecheck.evaluation.int8_speed`. The tests in ``tests/accuracy/test_quantization.py`` call
the same class, so the report and the test verdicts come from one implementation.

Modules: `measure` (`FQAQuantization`; the report's measurements, `measure_report`),
`judge` (the verdicts, `judge_report`) and `render` (the report section, which also
renders the INT8 speed part of `edgecheck.evaluation.int8_speed`).
"""

from __future__ import annotations

from edgecheck.evaluation.quantization.judge import (
    QuantVerdicts,
    judge_error,
    judge_fidelity,
    judge_report,
)
from edgecheck.evaluation.quantization.measure import (
    ERROR_CLAIM,
    FIDELITY_CLAIM,
    HEADLINE_METHOD,
    MEMORY_CLAIM,
    ErrorRow,
    FidelityRow,
    FQAQuantization,
    KernelFidelity,
    QuantReport,
    measure_fidelity,
    measure_report,
    memory_ratios,
)
from edgecheck.evaluation.quantization.render import (
    fidelity_part,
    fmt_row,
    render_section,
    section,
)

__all__ = [
    "ERROR_CLAIM", "FIDELITY_CLAIM", "HEADLINE_METHOD", "MEMORY_CLAIM", "ErrorRow",
    "FQAQuantization", "FidelityRow", "KernelFidelity", "QuantReport", "QuantVerdicts",
    "fidelity_part", "fmt_row", "judge_error", "judge_fidelity", "judge_report",
    "measure_fidelity", "measure_report", "memory_ratios", "render_section", "section",
]  # fmt: skip

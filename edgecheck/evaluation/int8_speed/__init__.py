"""Fig. 4: VGG16 INT8 vs FP32 throughput by batch size, measured live.

VGG16 (seeded random weights: speed does not depend on their values) is exported to ONNX and
quantized to INT8 QDQ (`edgecheck.quantize.quantize_int8`, MinMax over a few random images:
the calibration's quality does not change the speed). Then both models are timed in worker
processes pinned to the same cores (`edgecheck.bench.cores`), every (precision, batch) pair
in ONE interleaved run (`measure_interleaved`), so drift of a shared machine cancels from the
ratios and the ratios of different batch sizes are comparable with each other.

On the ``cpu`` profile onnxruntime's CPU provider runs both (fast INT8 needs VNNI or ARM dot
products, see `edgecheck.quantize.speed_unmet`), and the same run times this CPU's INT8 / FP32
rate on VGG16's conv GEMMs (`edgecheck.bench.gemm`), the reference the cpu rules scale
(`GemmReference`); tests may add a 20 % slower INT8 runner (``variant=``) and FP16
(``others=``) to the same run. Where a precision's speed claim does not apply, its ratio is
measured anyway at batch 1 and shown with the reason (`precision_line`). On the ``gpu``
profile TensorRT runs them in this process on the GPU, up to Fig. 4's batch 128. The report section
(`edgecheck.evaluation.quantization.section`) and ``tests/perf/test_quantization_speed.py``
call the same functions.

Modules: `prepare` (the FP32 and INT8 files), `speed` (the measured data), `measure`
(`measure_int8_speed`; the report's timings, `measure_speed_part`), `judge` (the verdicts)
and `render` (the report's speed part: lines, table, Fig. 4).
"""

from __future__ import annotations

from edgecheck.evaluation.int8_speed.judge import judge_int8_speed, judge_speed_part
from edgecheck.evaluation.int8_speed.measure import (
    CPU_BATCHES,
    GPU_BATCHES,
    SpeedPart,
    batches_for,
    measure_int8_speed,
    measure_speed_part,
    quick_policy,
)
from edgecheck.evaluation.int8_speed.prepare import (
    CALIBRATION_IMAGES,
    Int8Models,
    prepare_vgg16_int8,
)
from edgecheck.evaluation.int8_speed.render import (
    FIGURE_NAME,
    fig4_png,
    precision_line,
    render_speed_part,
    speed_part,
    speed_table,
)
from edgecheck.evaluation.int8_speed.speed import (
    CLAIM_ID,
    GEMM_REFERENCE_NAME,
    REFERENCE_OP,
    TREND_KEY,
    GemmReference,
    Int8Cell,
    Int8Speed,
    batch_key,
    speedup_trend,
)

__all__ = [
    "CALIBRATION_IMAGES", "CLAIM_ID", "CPU_BATCHES", "FIGURE_NAME", "GEMM_REFERENCE_NAME",
    "GPU_BATCHES", "REFERENCE_OP", "TREND_KEY", "GemmReference", "Int8Cell", "Int8Models",
    "Int8Speed", "SpeedPart", "batch_key", "batches_for", "fig4_png", "judge_int8_speed",
    "judge_speed_part", "measure_int8_speed", "measure_speed_part", "precision_line",
    "prepare_vgg16_int8", "quick_policy", "render_speed_part", "speed_part", "speed_table",
    "speedup_trend",
]  # fmt: skip

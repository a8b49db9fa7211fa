"""Table V: the FQA video pipeline's frames per second by resolution and precision.

`measure_table5` writes a synthetic clip per resolution (`edgecheck.data.video`, scene
``"walk"``, plus ``"approach"`` for the accuracy columns), runs the pipeline
(`edgecheck.pipeline`) over it repeatedly per precision (`measure_fps`: whole-clip wall time,
decoding included, median of the repeats), checks recall and the best frame against the
clip's truth, and times the naive baseline (full-resolution Haar on every frame, one
thread) on the first frames of a clip 3 times as long, interleaved round by round with the
FP32 pipeline over that clip (`measure_fps_interleaved`): the same-run rule judges the
pipeline's fps against the naive detector's, by their paired per-round ratio
(`NaiveComparison`). FP16 is measured on TensorRT where the device computes FP16 natively;
elsewhere it is "not run here" with the reason (onnxruntime's CPU provider casts
FP16 to FP32). `section` turns the table into the report's Table V, side by side with the
paper, and a per-stage breakdown. ``benchmarks/pipeline.py`` prints the same table;
``tests/perf/test_pipeline_fps.py`` measures with the same `measure_fps`.

Modules: `measure` (the table, `measure_table5`; the report's, `measure_report`), `judge`
(the verdicts, `judge_table5`) and `render` (the report section).
"""

from __future__ import annotations

from edgecheck.evaluation.pipeline.judge import (
    CV2_MISSING,
    judge_report,
    judge_table5,
    straddles,
)
from edgecheck.evaluation.pipeline.measure import (
    CLAIM_ID,
    CLIP_FRAMES,
    NAIVE_CLIP_FRAMES,
    NAIVE_FRAMES,
    NAIVE_NAME,
    NAIVE_ROUNDS,
    RESOLUTION_KEYS,
    SPEEDUP_CLAIM,
    NaiveComparison,
    Table5,
    Table5Row,
    comparison_decided,
    fp16_runtime,
    measure_report,
    measure_table5,
    naive_config,
    naive_key,
)
from edgecheck.evaluation.pipeline.render import fmt_stage, render_section, section

__all__ = [
    "CLAIM_ID", "CLIP_FRAMES", "CV2_MISSING", "NAIVE_CLIP_FRAMES", "NAIVE_FRAMES", "NAIVE_NAME",
    "NAIVE_ROUNDS", "RESOLUTION_KEYS", "SPEEDUP_CLAIM", "NaiveComparison", "Table5",
    "Table5Row", "comparison_decided", "fmt_stage", "fp16_runtime", "judge_report",
    "judge_table5", "measure_report", "measure_table5", "naive_config", "naive_key",
    "render_section", "section", "straddles",
]  # fmt: skip

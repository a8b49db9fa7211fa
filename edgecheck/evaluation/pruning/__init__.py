"""Table VII: pruned vs unpruned VGG16 speed, and what He et al.'s reconstruction buys.

Measured live, in this order:

1. VGG16 is pruned to Table VI's plan with He et al.'s method (LASSO + least squares) and,
   for comparison, by L1 filter magnitude without reconstruction, from synthetic images; the
   relative error of the last pruned layer's consumer (conv5_1) on held-out images tells
   what reconstruction buys. The trained FQA CNN gets the same comparison on generated
   faces, plus its Spearman / MAE on the paper's 2573 test faces.
2. The full model and the model the surgery produced are exported to ONNX (each pruned
   width padded with zero filters to onnxruntime's NCHWc block, 16 channels with AVX-512,
   `edgecheck.prune.align_channels`: the layout its fast conv and pool kernels need; the
   same function, and the same arithmetic there, since the blocked conv pads to the block
   itself) and timed with
   onnxruntime FP32 in worker processes pinned to 1, 2, ... cores (`edgecheck.bench`),
   full and pruned interleaved round by round so drift cancels from their ratio, at batch 1
   (Table VII's setting: its 6.10 s on one core is Table IV's batch-1 time) and batch 4.
   The FC head (fc6-fc8, the same in both models) is timed alongside: memory-bound, it is
   what keeps a CPU's measured ratio below the conv-only Eq. 1 ratio.

The verdict per core count is the batch-1 speedup against ``prune.speedup``; on the cpu
profile its bound is a factor of the same cell's ceiling (`SpeedCell.ceiling`), measured in
the same run, so the rule is as strict on a slow CPU as on a fast one.

Modules: `reconstruction` (He et al. vs L1 magnitude, measured), `measure` (Table VII's
timings, `measure_table7`; the report's measurements, `measure_report`), `judge` (the
verdicts) and `render` (the report section).
"""

from __future__ import annotations

from edgecheck.evaluation.pruning.judge import judge_cell, judge_report, judge_table7
from edgecheck.evaluation.pruning.measure import (
    BATCHES,
    CLAIM_ID,
    PAPER_BATCH,
    PruningReport,
    SpeedCell,
    Table7,
    fc_head,
    measure_report,
    measure_table7,
    quick_policy,
)
from edgecheck.evaluation.pruning.reconstruction import (
    FQA_PLAN,
    FQA_QUICK,
    VGG16_QUICK,
    FQAComparison,
    SamplingSettings,
    fqa_comparison,
    reconstruction_errors,
)
from edgecheck.evaluation.pruning.render import (
    VARIANT_NAMES,
    errors_table,
    render_section,
    section,
    table7_markdown,
)

__all__ = [
    "BATCHES", "CLAIM_ID", "FQA_PLAN", "FQA_QUICK", "PAPER_BATCH", "VARIANT_NAMES",
    "VGG16_QUICK", "FQAComparison", "PruningReport", "SamplingSettings", "SpeedCell", "Table7",
    "errors_table", "fc_head", "fqa_comparison", "judge_cell", "judge_report", "judge_table7",
    "measure_report", "measure_table7", "quick_policy", "reconstruction_errors",
    "render_section", "section", "table7_markdown",
]  # fmt: skip

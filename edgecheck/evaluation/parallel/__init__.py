"""Tables III and IV (Figs. 2 and 3): multi-core and batch parallelism, measured live.

Each (batch, cores) cell runs in its own worker process pinned to its cores
(`edgecheck.bench.cores`), and all cells of one table are timed interleaved, round by round,
so drift on a shared machine cancels out of the speedups. Speedup = time per call on 1 core
/ time per call on n cores, at the same batch size (for a fixed workload that is also the
throughput ratio, the paper's definition), taken round by round: the median over rounds of
each round's ratio (`edgecheck.bench.stats.paired_ratio`), with its bootstrap interval.

The cpu rules judge an n-core speedup against the cores' own data-parallel scaling S_dp,
measured in the same run: n independent 1-core runners of the same model and batch, each
pinned to its own core, run at the same time (`edgecheck.bench.cores.DataParallel`); their
aggregate throughput over one runner alone is what these cores give when nothing is split
across them. The rule is ``speedup >= F x S_dp``; judged paired, round by round, as
``q = median over rounds of (data-parallel time / n-core time) >= F`` (``speedup = S_dp x q``).
A slow or shared machine lowers S_dp and the speedup alike, so F bites the same everywhere.

Decisions on a noisy machine are sequential: the run keeps adding rounds, within the
settings' time budget (``policy.max_time``), until every judged interval lies clear of its
bound (`undecided` is empty); a cell still open when the budget ends is "too noisy to
decide", never passed. Cells that need more cores than the machine has are not measured;
their claims are reported as not run here, with the reason.

The tests in ``tests/perf/test_parallel.py`` and the report section call the same functions.

Three modules: `measure` (the table, its timing settings, `measure_table`), `judge` (the
verdicts: `judge_cell`, `judge_batch`, `undecided`, `confirm_failure`) and `render` (the
report section from the measured tables and their verdicts; Markdown, Figs. 2 and 3).
"""

from __future__ import annotations

from edgecheck.evaluation.parallel.judge import (
    CONFIRM_ATTEMPTS,
    batch_key,
    confirm_failure,
    decide,
    judge_batch,
    judge_cell,
    judge_cores,
    judge_report_tables,
    undecided,
)
from edgecheck.evaluation.parallel.measure import (
    BATCH_CLAIM,
    BATCHES,
    FQA_CLAIM,
    MODEL_CLAIMS,
    REFERENCE_NAME,
    RETRIES,
    VGG_CLAIM,
    Cell,
    ParallelTable,
    ReportTables,
    TableSettings,
    fqa_settings,
    measure_report_tables,
    measure_table,
    measured_cores,
    remeasure_cell,
    vgg16_settings,
)
from edgecheck.evaluation.parallel.render import (
    render_section,
    section,
    speedup_figure,
    table_markdown,
)

__all__ = [
    "BATCHES", "BATCH_CLAIM", "CONFIRM_ATTEMPTS", "FQA_CLAIM", "MODEL_CLAIMS", "REFERENCE_NAME",
    "RETRIES", "VGG_CLAIM", "Cell", "ParallelTable", "ReportTables", "TableSettings",
    "batch_key", "confirm_failure", "decide", "fqa_settings", "judge_batch", "judge_cell",
    "judge_cores", "judge_report_tables", "measure_report_tables", "measure_table",
    "measured_cores", "remeasure_cell", "render_section", "section", "speedup_figure",
    "table_markdown", "undecided", "vgg16_settings",
]  # fmt: skip

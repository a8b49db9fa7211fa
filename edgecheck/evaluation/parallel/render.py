"""Tables III and IV: the report section, rendered from measured tables and their verdicts.

`section` measures (`measure.measure_report_tables`), judges (`judge.judge_report_tables`)
and renders (`render_section`); the Markdown tables and the Figs. 2 and 3 curves are here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from edgecheck.claims import speedup_key
from edgecheck.evaluation.parallel.judge import judge_report_tables
from edgecheck.evaluation.parallel.measure import (
    FQA_CLAIM,
    RETRIES,
    VGG_CLAIM,
    Cell,
    ParallelTable,
    ReportTables,
    measure_report_tables,
)
from edgecheck.paper import PAPER_CORES, TABLE3_PAPER, TABLE3_WORKLOAD, TABLE4_PAPER

if TYPE_CHECKING:
    from edgecheck.claims import Claim, ClaimRegistry, ClaimResult
    from edgecheck.device import DeviceInfo
    from edgecheck.report import Section


def speedup_text(table: ParallelTable, b: int, c: int) -> str:
    if c == 1:
        return "1"
    e = table.speedup(b, c)
    return f"{e.value:.2f} [{e.low:.2f}, {e.high:.2f}]"


def table_markdown(table: ParallelTable, paper: Mapping[Cell, tuple[Any, ...]], fqa: bool) -> str:
    from edgecheck.bench.cores import cores_unavailable_reason
    from edgecheck.report import markdown_table

    rows = []
    for b in table.batches:
        for c in sorted(set(table.cores) | set(PAPER_CORES)):
            p = paper.get((b, c))
            m = table.cells.get((b, c))
            row: dict[str, Any] = {"b": b, "c": c, "ps": f"{p[-1]:.3f}" if p and p[-1] else "-"}
            if fqa and p:
                row["pt"], row["pf"] = f"{p[0]:.3f}", f"{p[1]:.1f}"
            elif p:
                row["pt"] = f"{p[0]:.3f}"
            if m is None:
                row["mt"] = f"not run here: {cores_unavailable_reason(c)}"
            else:
                flag = " (unstable)" if m.unstable else ""
                if fqa:
                    row["mt"] = f"{TABLE3_WORKLOAD / m.throughput:.3f}"
                    row["mf"] = f"{m.throughput:,.0f}{flag}"
                else:
                    row["mt"] = f"{m.median:.4f}{flag}"
                row["ms"] = speedup_text(table, b, c)
                row["dp"] = (
                    f"{table.dp_scaling(b, c).value:.2f}" if (b, c) in table.reference else "-"
                )
            rows.append(row)
    if fqa:
        columns = [("b", "batch"), ("c", "cores"), ("mt", f"time for {TABLE3_WORKLOAD} faces (s)"),
                   ("mf", "faces/s"), ("ms", "speedup [95% CI]"), ("dp", "S_dp"),
                   ("pt", "paper s"),
                   ("pf", "paper faces/s"), ("ps", "paper speedup")]  # fmt: skip
    else:
        columns = [("b", "batch"), ("c", "cores"), ("mt", "latency per batch (s)"),
                   ("ms", "speedup [95% CI]"), ("dp", "S_dp"), ("pt", "paper s"),
                   ("ps", "paper speedup")]  # fmt: skip
    return markdown_table(rows, columns)


def speedup_figure(table: ParallelTable, claim: Claim, title: str) -> bytes:
    """Speedup vs cores, one solid line per batch size measured here and a dashed one per
    batch from the paper: the shape of Figs. 2 and 3."""
    from edgecheck.plots import Series, line_figure

    series = []
    for b in table.batches:
        estimates = [table.speedup(b, c) for c in table.cores]
        series.append(
            Series(
                f"batch {b}, measured",
                list(table.cores),
                [e.value for e in estimates],
                low=[e.low for e in estimates],
                high=[e.high for e in estimates],
            )
        )
    for b in table.batches:
        xs = [c for c in PAPER_CORES if c == 1 or claim.paper_value(speedup_key(b, c)) is not None]
        ys = [1.0 if c == 1 else float(claim.paper_value(speedup_key(b, c)) or 0) for c in xs]
        series.append(Series(f"batch {b}, paper (TX2)", xs, ys, dashed=True))
    return line_figure(
        series,
        title=title,
        xlabel="cores",
        ylabel="speedup over 1 core",
        xticks=sorted(set(PAPER_CORES) | set(table.cores)),
    )


def section(registry: ClaimRegistry, device: DeviceInfo) -> Section:
    """Tables III and IV side by side with the paper, Figs. 2 and 3, verdicts."""
    tables = measure_report_tables(registry, device)
    results = judge_report_tables(tables, registry, device.profile)
    return render_section(tables, results, registry)


def render_section(
    tables: ReportTables, results: Sequence[ClaimResult], registry: ClaimRegistry
) -> Section:
    """The section from measured tables and their verdicts (`judge_report_tables`)."""
    from edgecheck.report import Figure, Section

    fqa, vgg, retried = tables.fqa, tables.vgg, tables.retried
    fqa_claim, vgg_claim = registry[FQA_CLAIM], registry[VGG_CLAIM]
    unstable = [m.name for t in (fqa, vgg) for m in t.cells.values() if m.unstable]
    body = "\n".join([
        f"Runtime: {fqa.backend} (the fastest on this CPU), FP32, one worker process per cell "
        f"pinned to its cores, every cell of a table timed interleaved. Speedup = time per call "
        f"on 1 core / on n cores at the same batch, the median over rounds of each round's "
        f"ratio (bootstrap 95 % interval). S_dp = the cores' own data-parallel scaling, in the "
        f"same run: n independent 1-core runners of the same model and batch at the same "
        f"time, their throughput over one runner's. Rounds: {fqa.rounds} (FQA), "
        f"{vgg.rounds} (VGG16), more where a verdict was still open (time budget "
        f"{fqa.cells[(1, 1)].policy.max_time:g} s / {vgg.cells[(1, 1)].policy.max_time:g} s). "
        f"Cores measured: {', '.join(map(str, fqa.cores))}.",
        "",
        f"### Table III: FQA CNN (fixed workload of {TABLE3_WORKLOAD} faces)",
        "",
        table_markdown(fqa, TABLE3_PAPER, fqa=True),
        "",
        "### Table IV: VGG16",
        "",
        table_markdown(vgg, TABLE4_PAPER, fqa=False),
        "",
        "The paper's numbers are a Jetson TX2's ARM cores; on another CPU only the speedups "
        "travel, and the cpu profile judges them against the cores' own data-parallel scaling "
        "measured in the same run (speedup >= F x S_dp), so a slow or shared machine lowers "
        "the bound with the speedup. Batch 1 and 2 of the light FQA model leave cores idle, "
        "which is the paper's point about batching; its cpu verdicts use batch 4.",
        *(["", f"Measured again (RETRIES = {RETRIES}) because other jobs on the cores left a "
               f"cell undecided the first time: {'; '.join(retried)}."] if retried else []),
        *(["", f"Unstable measurements (too noisy to decide): {', '.join(unstable)}."] if unstable else []),
    ])  # fmt: skip
    return Section(
        title="Tables III and IV: multi-core and batch parallelism (Figs. 2 and 3)",
        body=body,
        results=list(results),
        figures=[
            Figure(
                "fig2_fqa_speedup.png",
                speedup_figure(fqa, fqa_claim, "FQA CNN (Fig. 2)"),
                "FQA CNN speedup vs cores (Fig. 2)",
            ),
            Figure(
                "fig3_vgg16_speedup.png",
                speedup_figure(vgg, vgg_claim, "VGG16 (Fig. 3)"),
                "VGG16 speedup vs cores (Fig. 3)",
            ),
        ],
        data={"table3": fqa.as_dict(), "table4": vgg.as_dict()},
    )

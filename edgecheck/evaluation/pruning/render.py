"""Table VII: the report section, rendered from the measured report and its verdicts.

`section` measures (`measure.measure_report`), judges (`judge.judge_report`) and renders
(`render_section`): Table VII beside the paper's, the reconstruction errors, the FQA metrics.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from edgecheck.evaluation.pruning.judge import judge_report
from edgecheck.evaluation.pruning.measure import (
    BATCHES,
    CLAIM_ID,
    PAPER_BATCH,
    PruningReport,
    Table7,
    measure_report,
)
from edgecheck.evaluation.pruning.reconstruction import FQA_QUICK, VGG16_QUICK
from edgecheck.paper import PAPER_CORES, TABLE7_PAPER
from edgecheck.report import Section, markdown_table

if TYPE_CHECKING:
    from edgecheck.claims import ClaimRegistry, ClaimResult
    from edgecheck.device import DeviceInfo
    from edgecheck.prune import MethodError


def errors_table(rows: Sequence[tuple[str, MethodError]]) -> str:
    columns = [
        ("model", "model"), ("variant", "variant"), ("layer", "last pruned layer's consumer error"),
        ("output", "model output error"), ("seconds", "pruning time (s)"),
    ]  # fmt: skip
    body = [
        {
            "model": model, "variant": VARIANT_NAMES.get(e.label, e.label),
            "layer": f"{e.layer_error:.4f}", "output": f"{e.output_error:.2e}",
            "seconds": f"{e.seconds:.1f}",
        }
        for model, e in rows
    ]  # fmt: skip
    return markdown_table(body, columns)


VARIANT_NAMES = {
    "lasso+ls": "He et al.: LASSO + least squares",
    "l1": "L1 magnitude, no refit",
    "unpruned": "unpruned",
}


def table7_markdown(table: Table7, claim: Any, results: Sequence[ClaimResult] = ()) -> str:
    verdicts = {r.key: r for r in results}
    rows = []
    for cores in PAPER_CORES:
        before, after, _ = TABLE7_PAPER[cores]
        row: dict[str, Any] = {
            "cores": cores,
            "paper": f"{before:.2f} / {after:.2f} s = {claim.paper_value(f'{cores}c'):.2f}x",
        }
        for batch in BATCHES:
            cell = table.cell(cores, batch)
            if cell is None:
                row[f"b{batch}"] = table.missing.get(cores, "not measured")
                continue
            ratio = cell.speedup.value / table.conv_ratio
            flag = " (noisy)" if cell.unstable else ""
            row[f"b{batch}"] = (
                f"{cell.full.median * 1e3:.1f} / {cell.pruned.median * 1e3:.1f} ms = "
                f"**{cell.speedup.value:.2f}x** [{cell.speedup.low:.2f}, {cell.speedup.high:.2f}]"
                f", {ratio:.0%} of theory{flag}"
            )
            if cell.conv_speedup is not None and cell.head is not None:
                row[f"h{batch}"] = (
                    f"{cell.head.median * 1e3:.1f} ms ({cell.head.median / cell.pruned.median:.0%}"
                    f" of pruned); conv part {cell.conv_speedup:.2f}x; ceiling "
                    f"{cell.ceiling(table.conv_ratio):.2f}x"
                )
        judged = verdicts.get(f"{cores}c")
        if judged is not None:
            row["verdict"] = (
                f"{judged.verdict}: {judged.threshold}"
                if judged.measured is not None
                else judged.message.split(": ", 1)[1]
            )
        rows.append(row)
    columns = [("cores", "cores"), ("paper", "paper (TX2 ARM, b1)")]
    for batch in BATCHES:
        columns += [(f"b{batch}", f"measured b{batch}: before / after"),
                    (f"h{batch}", f"FC head b{batch}")]  # fmt: skip
    if verdicts:
        columns.append(("verdict", f"verdict b{PAPER_BATCH}: bound"))
    return markdown_table(rows, columns)


def section(registry: ClaimRegistry, device: DeviceInfo) -> Section:
    """Table VII side by side with the paper, and reconstruction vs magnitude pruning."""
    report = measure_report(device)
    return render_section(report, judge_report(report, registry, device.profile), registry)


def render_section(
    report: PruningReport, results: Sequence[ClaimResult], registry: ClaimRegistry
) -> Section:
    """The section from the measured report and its verdicts (`judge_report`)."""
    claim = registry[CLAIM_ID]
    vgg_errors, fqa, pruned, table = report.vgg_errors, report.fqa, report.pruned, report.table
    fqa_errors = fqa.errors
    data: dict[str, Any] = {
        "reconstruction": {
            "vgg16": [e.as_dict() for e in vgg_errors],
            "fqa": [e.as_dict() for e in fqa_errors],
            "fqa_metrics": fqa.metrics,
            "fqa_source": fqa.source,
            "settings": {"vgg16": VGG16_QUICK.__dict__, "fqa": FQA_QUICK.__dict__},
        },
        "prune_seconds": pruned.seconds,
    }
    lines = [
        "VGG16 pruned to Table VI's plan with He et al.'s method (LASSO selection, least-squares "
        "reconstruction) by `edgecheck.prune`, weights: deterministic random init, sampling: "
        f"{VGG16_QUICK.images} synthetic {VGG16_QUICK.shape[1]}x{VGG16_QUICK.shape[2]} images x "
        f"{VGG16_QUICK.samples_per_image} points (quick settings; `benchmarks/pruning.py` runs "
        f"224x224), pruned in {pruned.seconds:.0f} s.",
        "",
    ]
    if table is not None:
        data["table7"] = table.as_dict()
        lines += [
            f"Execution time, onnxruntime FP32, one worker process pinned per core count, "
            f"full and pruned interleaved. Theory (Eq. 1, conv layers): "
            f"{table.conv_ratio:.3f}x (paper 4.54x); with the FC head's MACs: "
            f"{table.all_ratio:.2f}x. Verdicts use batch {PAPER_BATCH}, the paper's setting, "
            "each against its own cell's ceiling (below), measured in the same run.",
            "",
            table7_markdown(table, claim, list(results)),
            "",
            "The FC head (fc6-fc8, 124 M MACs but 494 MB of weights, unchanged by pruning) "
            "reads all its weights once per batch: memory-bound, it costs about the same time "
            "at batch 1 and 4 and takes a large share of the pruned model's time, most at "
            "batch 1. On the TX2's slow ARM cores (6.10 s per image) it was negligible, so the "
            "paper's ratio came close to theory. 'conv part' takes the head's time out of "
            "both models; 'ceiling' is the speedup if the pruned convs took exactly 1 / "
            f"{table.conv_ratio:.3f} of the full convs' time with the head's time as measured: "
            "the most pruning the convs can give here (the gap from the ceiling to theory is the "
            "head's). What remains between the measured speedup and the ceiling is the pruned "
            "layers' odd channel counts (24, 22, 41, 51, 108, 89, ...): onnxruntime's x86 conv "
            "kernels work on blocks of 16 channels (NCHWc), so a layer of 22 channels on 24 "
            "computes 32 x 32 (`benchmarks/pruning.py` prints the per-layer breakdown). "
            + (
                f"Both models were exported with their widths padded by zero filters to a "
                f"multiple of {table.channel_multiple}, onnxruntime's channel block here (same "
                "function, same arithmetic in its blocked kernels): with the exact counts, it "
                "runs the convs whose input is 22, 41, 51, 89 or 111 channels through im2col at "
                "about half the rate, and the pools of unaligned widths with reorders."
                if table.channel_multiple > 1
                else "Exported with the exact counts."
            ),
        ]
    else:
        lines.append(f"Table VII not measured here: {report.reason}.")
    lines += [
        "",
        "What reconstruction buys: relative error of the last pruned layer's consumer output "
        "(VGG16: conv5_1; FQA: conv3) and of the model output on held-out images, at the same "
        "kept counts. VGG16: random-init weights, synthetic images. FQA: "
        f"{fqa.source}; plan conv1 12 -> 8, conv2 96 -> 48; held-out: the paper's test faces.",
        "",
        errors_table([("VGG16", e) for e in vgg_errors] + [("FQA", e) for e in fqa_errors]),
        "",
        "FQA quality scores on the paper's 2573 test faces (Spearman rank correlation with the "
        "true score, mean absolute error):",
        "",
        markdown_table(
            [
                {
                    "v": VARIANT_NAMES.get(k, k),
                    "rho": f"{m['spearman']:.4f}",
                    "mae": f"{m['mae']:.4f}",
                }
                for k, m in fqa.metrics.items()
            ],
            [("v", "model"), ("rho", "Spearman"), ("mae", "MAE")],
        ),
    ]
    return Section(
        title="Table VII: execution time before and after pruning",
        body="\n".join(lines),
        results=list(results),
        data=data,
    )

"""Fig. 4: the report's INT8 speed part, rendered from the timings and their verdicts.

`speed_part` measures (`measure.measure_speed_part`), judges (`judge.judge_speed_part`) and
renders (`render_speed_part`): the lines saying which speed claims apply, the table by batch
(`speed_table`) and the Fig. 4 plot (`fig4_png`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from edgecheck.evaluation.int8_speed.judge import judge_speed_part
from edgecheck.evaluation.int8_speed.measure import SpeedPart, measure_speed_part
from edgecheck.evaluation.int8_speed.prepare import Int8Models
from edgecheck.evaluation.int8_speed.speed import (
    CLAIM_ID,
    TREND_KEY,
    Int8Cell,
    Int8Speed,
    batch_key,
)

if TYPE_CHECKING:
    from edgecheck.claims import Claim, ClaimRegistry, ClaimResult
    from edgecheck.device import DeviceInfo
    from edgecheck.report import Section


def fig4_png(speed: Int8Speed, claim: Claim) -> bytes:
    """Fig. 4 as measured here: INT8 / FP32 speedup vs batch size, with the intervals, as PNG."""
    from edgecheck.plots import Series, line_figure

    cells = speed.cells
    series = [
        Series(
            f"measured here ({speed.backend}, {speed.device}, {speed.cores} core(s))",
            [c.batch for c in cells],
            [c.speedup.value for c in cells],
            low=[c.speedup.low for c in cells],
            high=[c.speedup.high for c in cells],
        )
    ]
    paper = {int(k[1:]): v for k, v in claim.paper.items() if k.startswith("b") and k[1:].isdigit()}
    for batch, value in sorted(paper.items()):
        series.append(Series(f"paper, b{batch} (Titan XP)", [batch], [value], dashed=True))
    return line_figure(
        series,
        title="VGG16 INT8 speedup vs batch (cf. Fig. 4)",
        xlabel="batch size",
        ylabel="INT8 / FP32 throughput",
        xticks=sorted({*(c.batch for c in cells), *paper}),
        reference={"1x": 1.0},
        log2_x=True,
    )


FIGURE_NAME = "fig4_int8_speedup.png"


def precision_line(precision: str, reasons: Sequence[str], cell: Int8Cell | None) -> str:
    """One line saying whether `precision`'s speed claims apply here, with what was measured.

    Where they do not apply, the ratio is measured anyway (once, at the smallest batch) and
    shown next to the reason, so a reader sees what the hardware gives instead of nothing::

        - INT8 speed claims: not applicable here: <reasons>; measured anyway: VGG16 INT8 /
          FP32 throughput at batch 1, 1 core: **1.04x** [1.01, 1.07].

    Args:
        precision: ``"int8"`` or ``"fp16"``.
        reasons: why its speed claims cannot hold here (`edgecheck.quantize.speed_unmet`);
            empty when they apply.
        cell: its timing against FP32, or None when nothing could be timed.
    """
    name = precision.upper()
    if not reasons:
        return f"- {name} speed claims: apply here; judged below."
    line = f"- {name} speed claims: not applicable here: {'; '.join(reasons)}"
    if cell is None:
        return line + "; not measured."
    est = cell.speedup
    cores = cell.fp32.extra.get("cores")
    where = f", {cores} core" + ("s" if cores != 1 else "") if cores else ""
    noisy = f" (noisy: {cell.reason})" if cell.unstable else ""
    return (
        f"{line}; measured anyway: VGG16 {name} / FP32 throughput at batch {cell.batch}{where}: "
        f"**{est.value:.2f}x** [{est.low:.2f}, {est.high:.2f}]{noisy}."
    )


def speed_part(registry: ClaimRegistry, device: DeviceInfo) -> Section:
    """The reduced-precision speed part of the quantization section: which speed claims apply
    here, INT8 vs FP32 by batch size judged against the same run's GEMM reference, Fig. 4.

    Where a precision's speed claims cannot hold (no INT8 dot products, no native FP16), its
    verdicts are "not run here" with the reason, and its VGG16 ratio is measured anyway at
    batch 1 and shown next to the reason (`precision_line`). Nothing is timed only where the
    runtime itself is missing.
    """
    part = measure_speed_part(device)
    return render_speed_part(part, judge_speed_part(part, registry), registry)


def render_speed_part(
    part: SpeedPart, results: Sequence[ClaimResult], registry: ClaimRegistry
) -> Section:
    """The speed part from its timings and their verdicts (`judge_speed_part`)."""
    from edgecheck.bench.cores import usable_core_count
    from edgecheck.report import Figure, Section

    claim = registry[CLAIM_ID]
    reasons, fp16_reasons = part.reasons, part.fp16_reasons
    title = "INT8 speed (IV-D-3, Fig. 4)"
    why = part.not_measured
    if why is not None:
        lines = [precision_line("int8", [why], None)]
        if fp16_reasons:
            lines.append(precision_line("fp16", fp16_reasons, None))
        return Section(
            title=title,
            body="\n".join([*lines, "", f"INT8 vs FP32 VGG16 speed: not measured here: {why}."]),
            results=list(results),
        )
    speed, models = part.speed, part.models
    assert speed is not None and models is not None
    lines = [precision_line("int8", reasons, speed.cells[0] if reasons else None)]
    if fp16_reasons:
        lines.append(precision_line("fp16", fp16_reasons, speed.others.get("fp16")))
    data = {
        **speed.as_dict(),
        "calibration_images": models.calibration_images,
        "quantize_seconds": models.quantize_seconds,
        "int8_not_applicable": reasons,
        "fp16_not_applicable": fp16_reasons,
    }
    if reasons:
        return Section(title=title, body="\n".join(lines), results=list(results), data=data)
    body = "\n".join([*lines, "", speed_table(speed, claim, models, part.profile)])
    body += f" This machine has {usable_core_count()} usable core(s)."
    figure = Figure(FIGURE_NAME, fig4_png(speed, claim), "INT8 / FP32 speedup vs batch (Fig. 4)")
    return Section(title=title, body=body, results=list(results), figures=[figure], data=data)


def speed_table(speed: Int8Speed, claim: Claim, models: Int8Models, profile: str) -> str:
    """The measured INT8 / FP32 table by batch, with the GEMM reference and the trend (markdown)."""
    from edgecheck.report import markdown_table

    gemm = speed.gemm
    rows = []
    for c in speed.cells:
        key = batch_key(c.batch)
        rule = claim.rule_for(profile, key)
        bound = "-"
        if rule is not None and (rule.reference_factor is None or gemm is not None):
            ref = gemm.ratio.value if gemm is not None else None
            bound = f">= {rule.bound(claim.paper_value(key), None, ref):.2f}x"
        paper = claim.paper_value(key)
        rows.append({
            "batch": c.batch,
            "fp32": f"{c.fp32.median * 1e3:.1f} ms",
            "int8": f"{c.int8.median * 1e3:.1f} ms",
            "speedup": f"**{c.speedup.value:.2f}x** [{c.speedup.low:.2f}, {c.speedup.high:.2f}]",
            "bound": bound,
            "paper": "-" if paper is None else f"{paper:g}x",
            "note": "noisy: " + c.reason if c.unstable else "",
        })  # fmt: skip
    columns = [("batch", "batch"), ("fp32", "FP32 per batch"), ("int8", "INT8 per batch"),
               ("speedup", "INT8 / FP32 throughput [95 % CI]"), ("bound", "threshold"),
               ("paper", "paper (Titan XP)"), ("note", "")]  # fmt: skip
    gpu = speed.device == "cuda"
    where = (
        "TensorRT on the GPU"
        if gpu
        else f"onnxruntime's CPU provider, each model in a worker pinned to {speed.cores} core"
    )
    first, last = speed.cells[0].batch, speed.cells[-1].batch
    trend_rule = claim.rule_for(profile, TREND_KEY)
    lines = [
        f"VGG16 (seeded random weights) FP32 vs INT8 QDQ (MinMax, {models.calibration_images} "
        f"random calibration images, quantized in {models.quantize_seconds:.0f} s), timed on "
        f"{where}, all batch sizes interleaved in one run ({speed.cells[0].fp32.rounds} rounds). "
        f"The paper's Fig. 4 ran a Titan XP with TensorRT up to batch 128, where it reached "
        f"{claim.paper_value('b128'):g}x; batch 128 is measured on the gpu profile only.",
        "",
        markdown_table(rows, columns),
        "",
    ]
    if gemm is not None:
        ratio = gemm.ratio
        noisy = f" (noisy: {gemm.reason})" if gemm.unstable else ""
        lines.append(
            f"Same-run reference: this CPU's INT8 / FP32 rate on VGG16's conv3_2, conv4_2 and "
            f"conv5_2 GEMMs, run as convolutions ({gemm.types} QLinearConv vs FP32 Conv on "
            f"onnxruntime: the kernels the model's layers take), on the same pinned core(s), "
            f"interleaved with the models: **{ratio.value:.2f}x** [{ratio.low:.2f}, "
            f"{ratio.high:.2f}]{noisy}; the thresholds are a fixed factor of it "
            f"(`{CLAIM_ID}`'s rule)."
        )
    matmul = speed.references.get("matmul")
    if matmul is not None:
        lines.append(
            f"For information, the same GEMMs as explicit matrix products ({matmul.types} "
            f"MatMulInteger vs FP32 MatMul: MLAS's quantized GEMM, which takes AMX where the "
            f"CPU has it): **{matmul.ratio.value:.2f}x** [{matmul.ratio.low:.2f}, "
            f"{matmul.ratio.high:.2f}]."
        )
    trend = speed.trend
    bound = (
        f", threshold {trend_rule.op} {trend_rule.value:g}"
        if trend_rule and trend_rule.value is not None
        else ""
    )
    lines.append(
        f"Trend, speedup(b{last}) / speedup(b{first}): {trend.value:.3f} "
        f'[{trend.low:.3f}, {trend.high:.3f}]{bound}: Fig. 4\'s "grows with batch", read as '
        f'"does not drop" beyond the threshold.'
    )
    return "\n".join(lines)

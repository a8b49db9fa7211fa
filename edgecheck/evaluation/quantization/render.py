"""IV-D-2 and II-B-2: the report section, rendered from the measurements and verdicts.

`section` measures (`measure.measure_report`, then INT8 speed with
`int8_speed.measure_speed_part`), judges (`judge.judge_report`, `int8_speed.judge_speed_part`)
and renders (`render_section`): the error table, the sizes, the kernels' fidelity
(`fidelity_part`) and the INT8 speed part (`int8_speed.render_speed_part`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgecheck.evaluation import int8_speed
from edgecheck.evaluation.quantization.judge import QuantVerdicts, judge_report
from edgecheck.evaluation.quantization.measure import (
    ERROR_CLAIM,
    FIDELITY_CLAIM,
    HEADLINE_METHOD,
    MEMORY_CLAIM,
    ErrorRow,
    KernelFidelity,
    QuantReport,
    measure_report,
)
from edgecheck.report import Section, markdown_table

if TYPE_CHECKING:
    from edgecheck.claims import ClaimRegistry, ClaimResult
    from edgecheck.device import DeviceInfo


def fmt_row(row: ErrorRow, verdict: str) -> dict[str, str]:
    d = row.difference
    return {
        "model": row.label,
        "calibration": row.calibration,
        "mrd": f"{d.mean_relative_percent:.3f} %",
        "mad": f"{d.mean_absolute:.5f}",
        "max": f"{d.max_absolute:.4f}",
        "time": f"{row.seconds:.2f} s",
        "verdict": verdict,
    }


def section(registry: ClaimRegistry, device: DeviceInfo) -> Section:
    """The quantization section: error per precision and calibration method, model sizes, and
    INT8 vs FP32 VGG16 speed by batch size with its Fig. 4 plot (`int8_speed.speed_part`)."""
    report = measure_report(device)
    verdicts = judge_report(report, registry, device.profile)
    part = int8_speed.measure_speed_part(device)
    speed_results = int8_speed.judge_speed_part(part, registry)
    speed = int8_speed.render_speed_part(part, speed_results, registry)
    return render_section(report, verdicts, speed, registry, device)


def render_section(
    report: QuantReport,
    verdicts: QuantVerdicts,
    speed: Section,
    registry: ClaimRegistry,
    device: DeviceInfo,
) -> Section:
    """The section from the measurements, their verdicts and the rendered INT8 speed part."""
    from edgecheck.data import N_CALIBRATION, N_TEST

    error_claim = registry[ERROR_CLAIM]
    memory_claim = registry[MEMORY_CLAIM]
    rows, control, sizes, ratios = report.rows, report.control, report.sizes, report.ratios
    fidelity = fidelity_part(report.fidelity, verdicts.fidelity, registry, device)
    table_rows = [fmt_row(row, verdicts.errors[row.label].verdict) for row in rows]
    table_rows.append(fmt_row(control, f"{verdicts.control.verdict} (expected: FAIL)"))
    columns = [
        ("model", "model"), ("calibration", "calibration"), ("mrd", "mean relative difference"),
        ("mad", "mean absolute difference"), ("max", "max abs. difference"),
        ("time", "quantize time"), ("verdict", "verdict"),
    ]  # fmt: skip
    size_rows = [
        {
            "precision": name.upper(),
            "bytes": f"{sizes[name].total:,}",
            "ratio": "1" if name == "fp32" else f"{ratios[name]:.4f}",
            "paper": "1" if name == "fp32" else f"{memory_claim.paper_value(name):g}",
            "dtypes": ", ".join(f"{k} {v:,}" for k, v in sorted(sizes[name].by_dtype.items())),
        }
        for name in ("fp32", "fp16", "int8")
    ]
    size_columns = [("precision", "precision"), ("bytes", "parameter bytes"),
                    ("ratio", "vs FP32"), ("paper", "paper"), ("dtypes", "by type")]  # fmt: skip
    paper = error_claim.paper_value("")
    body = "\n".join([
        f"The trained FQA CNN (shipped weights), FP32 reference vs reduced precision on "
        f"onnxruntime, over the paper's split: {N_CALIBRATION} calibration images, {N_TEST} "
        f"test images (generated faces, `edgecheck.data`). The paper reports a "
        f"{paper:g} % average difference after INT8 calibration (Section IV-D-2).",
        "",
        "Mean relative difference = mean over images of |q - r| / |r| (percent), the claim's "
        "measure; mean absolute difference = mean of |q - r| in score units (0-1). INT8: "
        "onnxruntime QDQ, per-channel weights, S8S8 (the paper's form), each Q/DQ model "
        "evaluated exactly (in float, no integer kernels: the same number on every CPU; "
        "how this device's kernels compare is the next part). MinMax keeps each tensor's full "
        "calibrated range; Entropy (KL divergence over a 2048-bin histogram, as TensorRT's "
        "entropy calibrator) clips long tails, which suits classifiers but costs a regression "
        "output like this score; Percentile keeps the 99.999th percentile. The last row "
        "calibrates on blank images, to show that the check catches a broken calibration.",
        "",
        markdown_table(table_rows, columns),
        "",
        "Parameter bytes (all initializers: weights, biases, and for INT8 the scales and zero "
        "points), Section II-B-2:",
        "",
        markdown_table(size_rows, size_columns),
        "",
        f"### {fidelity.title}",
        "",
        fidelity.body,
        "",
        f"### {speed.title}",
        "",
        speed.body,
        "",
        f"The verdicts below judge INT8 {HEADLINE_METHOD} (the default method), then FP16 "
        f"(every row of the error table is judged the same way), this device's INT8 kernels "
        f"(deployed error and fidelity), the sizes, then INT8 speed.",
    ])  # fmt: skip
    results: list[ClaimResult] = [*verdicts.results, *speed.results]
    data = {
        "errors": [row.as_dict() for row in rows],
        "control_blank_calibration": control.as_dict(),
        "parameter_bytes": {k: v.total for k, v in sizes.items()},
        "memory_ratios": ratios,
        "int8_fidelity": fidelity.data,
        "int8_speed": speed.data,
    }
    return Section(
        title="Quantization: error, model size, INT8 speed (IV-D-2, II-B-2, IV-D-3 and Fig. 4)",
        body=body, results=results, figures=speed.figures, data=data,
    )  # fmt: skip


def fidelity_part(
    fidelity: KernelFidelity,
    results: list[ClaimResult],
    registry: ClaimRegistry,
    device: DeviceInfo,
) -> Section:
    """This device's INT8 kernels against the exact Q/DQ function: the paper's S8S8 and the
    settings chosen for this target (``quant.int8.fidelity``, ``quant.error`` key deployed,
    judged by `judge_fidelity`), with the TensorRT form's exact error beside them."""
    chosen, on_canonical = fidelity.chosen, fidelity.canonical
    deployed, tensorrt = fidelity.deployed, fidelity.tensorrt
    profile = device.profile
    fidelity_claim = registry[FIDELITY_CLAIM]
    bound = fidelity_claim.rule_for(profile, "deployed")
    limit = bound.value if bound is not None and bound.value is not None else float("nan")
    rows = [
        {
            "form": f"{f.settings.name}{' (chosen here)' if f is deployed else ''}",
            "exact": f"{f.exact.mean_relative_percent:.3f} %",
            "kernels": f"{f.kernels.mean_relative_percent:.3f} %",
            "gap": f"{f.gap.mean_relative_percent:.4f} %",
        }
        for f in dict.fromkeys([on_canonical, deployed])
    ]
    rows.append({
        "form": f"{tensorrt.settings.name if tensorrt.settings else ''} (for TensorRT)",
        "exact": f"{tensorrt.difference.mean_relative_percent:.3f} %",
        "kernels": "not run here (TensorRT)", "gap": "-",
    })  # fmt: skip
    columns = [("form", "INT8 form"), ("exact", "exact Q/DQ vs FP32"),
               ("kernels", "this runtime vs FP32"), ("gap", "runtime vs exact")]  # fmt: skip
    cap = device.capabilities
    if on_canonical.gap.mean_relative_percent > limit:
        finding = (
            f"This CPU's INT8 kernels add {on_canonical.added_points:.1f} points of error to the "
            f"paper's S8S8 model ({on_canonical.kernels.mean_relative_percent:.2f} % against "
            f"{on_canonical.exact.mean_relative_percent:.2f} % exactly): {chosen.why}. VNNI or "
            f"`reduce_range` (7-bit weights, {chosen.name} is better here) avoid it; the "
            f"{chosen.name} model chosen here runs "
            f"{deployed.gap.mean_relative_percent:.4f} % from its exact outputs."
        )
    else:
        finding = (
            f"This CPU's INT8 kernels run the {chosen.name} model "
            f"{deployed.gap.mean_relative_percent:.4f} % from its exact outputs ({chosen.why}); "
            f"the paper's S8S8 runs {on_canonical.gap.mean_relative_percent:.4f} % from its own."
        )
    body = "\n".join([
        f"CPU: {cap.cpu_model} ({cap.cpu_arch}); INT8 dot products: "
        f"{'yes' if cap.cpu_int8_dot else 'no'}. {finding}",
        "",
        markdown_table(rows, columns),
    ])  # fmt: skip
    data = {
        "chosen": chosen.as_dict(),
        "canonical": on_canonical.as_dict(),
        "deployed": deployed.as_dict(),
        "tensorrt_exact_percent": tensorrt.difference.mean_relative_percent,
    }
    return Section(
        title="INT8 on this device: kernels vs the exact model (quant.int8.fidelity)",
        body=body, results=results, data=data,
    )  # fmt: skip

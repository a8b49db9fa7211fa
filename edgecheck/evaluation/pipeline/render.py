"""Table V: the report section, rendered from the measured table and its verdicts.

`section` measures (`measure.measure_report`), judges (`judge.judge_report`) and renders
(`render_section`): Table V beside the paper's and the per-stage breakdown.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from edgecheck.evaluation.pipeline.judge import judge_report
from edgecheck.evaluation.pipeline.measure import (
    CLAIM_ID,
    CLIP_FRAMES,
    NAIVE_CLIP_FRAMES,
    RESOLUTION_KEYS,
    Table5,
    measure_report,
)
from edgecheck.report import Section, markdown_table

if TYPE_CHECKING:
    from edgecheck.claims import ClaimRegistry, ClaimResult
    from edgecheck.device import DeviceInfo


def fmt_stage(ms: dict[str, float]) -> dict[str, str]:
    """Busy milliseconds per frame by stage, as table cells."""
    return {k: f"{v:.2f}" for k, v in ms.items()}


def section(registry: ClaimRegistry, device: DeviceInfo) -> Section:
    """Table V side by side with the paper, the per-stage breakdown, accuracy and the baseline."""
    table = measure_report(registry, device)
    return render_section(table, judge_report(table, registry, device), registry)


def render_section(
    table: Table5 | None, results: Sequence[ClaimResult], registry: ClaimRegistry
) -> Section:
    """The section from the measured table (None: OpenCV is missing) and its verdicts."""
    from edgecheck._imports import install_hint

    title = "Table V: FQA video pipeline frames per second"
    if table is None:
        body = (
            f"Not run: the video pipeline needs OpenCV 4.x (cv2), which is not installed; "
            f"install it with {install_hint('cv2')}."
        )
        return Section(title=title, body=body, results=list(results))
    claim = registry[CLAIM_ID]
    rows = []
    for res in RESOLUTION_KEYS:
        r32, r8, r16 = (table.row(res, p) for p in ("fp32", "int8", "fp16"))
        r32_16 = None if r16 is None else table.row(res, "fp32", r16.backend)
        naive = table.naive.get(res, {})
        rows.append({
            "res": res,
            "p16": f"{claim.paper_value(res):g}",
            "p32": f"{claim.paper_value(f'{res}-fp32'):g}",
            "h32": "-" if r32 is None else f"{r32.fps:.1f} [{r32.fps_ci[0]:.1f}, {r32.fps_ci[1]:.1f}]",
            "h8": "-" if r8 is None else f"{r8.fps:.1f} [{r8.fps_ci[0]:.1f}, {r8.fps_ci[1]:.1f}]",
            "h16": "not native here" if r16 is None else (
                f"{r16.fps:.1f} ({r16.backend}"
                + ("" if r32_16 is None else f"; FP32 there {r32_16.fps:.1f}") + ")"
            ),
            "naive": f"{naive['fps']:.1f}" if naive else "-",
            "ratio": (
                f"{v.ratio.value:.1f}x [{v.ratio.low:.1f}, {v.ratio.high:.1f}]"
                if (v := table.versus_naive.get(res)) is not None else "-"
            ),
            "recall": "-" if r32 is None else f"{100 * r32.recall:.1f} %",
            "rank": "-" if r32 is None else f"{r32.best_rank} (<= {r32.top_allowed})",
            "approach": (
                f"{100 * table.approach[res]['recall']:.1f} % / {table.approach[res]['best_rank']}"
                if res in table.approach else "-"
            ),
        })  # fmt: skip
    columns = [
        ("res", "resolution"), ("p16", "paper FP16 (TX2)"), ("p32", "paper FP32 (TX2)"),
        ("h32", "here FP32 fps [95 % CI]"), ("h8", "here INT8 fps [95 % CI]"),
        ("h16", "here FP16"), ("naive", "naive baseline fps"),
        ("ratio", "FP32 / naive, paired [95 % CI]"), ("recall", "recall (walk)"),
        ("rank", "best-frame rank (walk)"), ("approach", "recall / rank (approach)"),
    ]  # fmt: skip
    stage_rows = []
    for r in table.rows:
        stage_rows.append({"cell": f"{r.resolution} {r.precision.upper()}", "fps": f"{r.fps:.1f}",
                           "passes": str(r.full_passes), **fmt_stage(r.ms_per_frame)})  # fmt: skip
    for res, n in table.naive.items():
        stage_rows.append({"cell": f"{res} naive FP32", "fps": f"{n['fps']:.1f}",
                           "passes": str(n["frames"]), **fmt_stage(n["ms_per_frame"])})  # fmt: skip
    stage_columns = [("cell", "run"), ("fps", "fps"), ("passes", "full passes"),
                     *[(s, f"{s} ms") for s in ("decode", "gray", "detect", "track", "crop", "fqa")]]  # fmt: skip
    fp16_line = (
        "FP16 measured on TensorRT."
        if not table.fp16_reasons
        else "FP16 not run here: " + "; ".join(table.fp16_reasons) + "."
    )
    body = "\n".join([
        f"The FQA pipeline (decode, grayscale, Haar face detection at a reduced scale with "
        f"refinement and tracking between full passes every 10 frames, 64x64 crops, the "
        f"trained FQA CNN in batches of 16, the 5 best frames per face track) over synthetic "
        f"{table.frames}-frame clips (30 fps, `edgecheck.data.video`); fps is whole-clip wall "
        f"time with decoding, median of 3 runs after a warm-up. The paper ran FP16/FP32 on a "
        f"TX2 with TensorRT; here FP32 and INT8 run on onnxruntime's CPU provider. The naive "
        f"baseline runs the cascade over every full-resolution frame in one thread, round by "
        f"round with the FP32 pipeline over a clip {NAIVE_CLIP_FRAMES // CLIP_FRAMES} times "
        f"as long (longer passes vary less); the same-run rule judges their per-round fps ratio "
        f"(median, paired bootstrap interval), so drift common to both cancels. Recall: "
        f"frames with a face found at IoU >= 0.5 (target >= 95 %); rank: the chosen best "
        f"frame's rank by true quality (target: within the best 5 %).",
        "",
        markdown_table(rows, columns),
        "",
        fp16_line,
        "",
        "Busy milliseconds per frame by stage (decode and FQA run in their own threads, so "
        "stages overlap):",
        "",
        markdown_table(stage_rows, stage_columns),
    ])  # fmt: skip
    return Section(title=title, body=body, results=list(results), data=table.as_dict())

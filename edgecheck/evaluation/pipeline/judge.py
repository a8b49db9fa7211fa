"""Table V: the judging half (see the package docstring)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgecheck.evaluation.pipeline.measure import (
    CLAIM_ID,
    NAIVE_CLIP_FRAMES,
    NAIVE_FRAMES,
    RESOLUTION_KEYS,
    SPEEDUP_CLAIM,
    NaiveComparison,
    Table5,
    naive_key,
)

if TYPE_CHECKING:
    from edgecheck.claims import ClaimRegistry, ClaimResult
    from edgecheck.device import DeviceInfo

CV2_MISSING = "OpenCV (cv2) is not installed"


def straddles(
    comparison: NaiveComparison, registry: ClaimRegistry | None, device: DeviceInfo, res: str
) -> bool:
    """Whether the same-run rule leaves `comparison` undecided for its interval alone (a busy
    machine is not helped by more rounds beside the same jobs)."""
    if registry is None or comparison.noise:
        return False
    claim, key = registry[CLAIM_ID], naive_key(res)
    if f"{device.profile}:{key}" not in claim.rules:
        return False
    return comparison.judge(claim, profile=device.profile, key=key).verdict == "not run here"


def judge_table5(table: Table5, registry: ClaimRegistry, device: DeviceInfo) -> list[ClaimResult]:
    """quant.fp16.fps per resolution (and the FP16/FP32 ratio) where FP16 ran, else not run;
    FP32 against the real-time bar and against the naive detector where a rule names them."""
    claim = registry[CLAIM_ID]
    speedup = registry[SPEEDUP_CLAIM]
    results = []
    for res in RESOLUTION_KEYS:
        # The first FP32 row is onnxruntime's (measured first), the CPU cores' real-time bar.
        row16, row32 = table.row(res, "fp16"), table.row(res, "fp32")
        # FP32 is judged only where a rule names its key (cpu: the real-time bar without a
        # GPU); the tx2 rule is FP16's, which the paper's FP32 does not reach.
        if row32 is not None and f"{device.profile}:{res}-fp32" in claim.rules:
            key = f"{res}-fp32"
            if row32.noise:
                reason = f"too noisy to decide: {row32.noise}"
                results.append(claim.not_run(profile=device.profile, key=key, reason=reason))
            else:
                results.append(claim.check(row32.fps, profile=device.profile, key=key))
        # The same-run rule: FP32 against the naive detector timed interleaved with it.
        versus = table.versus_naive.get(res)
        if versus is not None and f"{device.profile}:{naive_key(res)}" in claim.rules:
            naive = table.naive.get(res, {})
            frames, clip_frames = naive.get("frames"), naive.get("clip_frames")
            if (frames, clip_frames) != (NAIVE_FRAMES, NAIVE_CLIP_FRAMES):
                reason = (
                    f"the rule's factor is set for the naive detector over {NAIVE_FRAMES} "
                    f"frames and the pipeline over a {NAIVE_CLIP_FRAMES}-frame clip; this run "
                    f"timed them over {frames} and {clip_frames}"
                )
                results.append(
                    claim.not_run(profile=device.profile, key=naive_key(res), reason=reason)
                )
            else:
                results.append(versus.judge(claim, profile=device.profile, key=naive_key(res)))
        if row16 is None:
            reason = "; ".join(table.fp16_reasons) or "FP16 was not measured"
            results.append(claim.not_run(profile=device.profile, key=res, reason=reason))
            continue
        results.append(claim.check(row16.fps, profile=device.profile, key=res))
        if speedup.paper_value(res) is not None:
            same_runtime = table.row(res, "fp32", row16.backend)
            if same_runtime is None:
                reason = f"FP32 was not measured on {row16.backend}, the runtime FP16 ran on"
                results.append(speedup.not_run(profile=device.profile, key=res, reason=reason))
            else:
                ratio = row16.fps / same_runtime.fps
                results.append(speedup.check(ratio, profile=device.profile, key=res))
    return results


def judge_report(
    table: Table5 | None, registry: ClaimRegistry, device: DeviceInfo
) -> list[ClaimResult]:
    """`judge_table5`, or "not run here" per resolution where nothing was measured (no
    OpenCV)."""
    if table is None:
        claim = registry[CLAIM_ID]
        return [
            claim.not_run(profile=device.profile, key=k, reason=CV2_MISSING)
            for k in RESOLUTION_KEYS
        ]
    return judge_table5(table, registry, device)

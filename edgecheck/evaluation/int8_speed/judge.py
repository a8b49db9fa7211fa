"""Fig. 4: the judging half (see the package docstring)."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from edgecheck.evaluation.int8_speed.speed import (
    CLAIM_ID,
    GEMM_REFERENCE_NAME,
    TREND_KEY,
    Int8Speed,
    batch_key,
)

if TYPE_CHECKING:
    from edgecheck.claims import ClaimRegistry, ClaimResult
    from edgecheck.evaluation.int8_speed.measure import SpeedPart


def judge_int8_speed(speed: Int8Speed, registry: ClaimRegistry, profile: str) -> list[ClaimResult]:
    """Verdicts for every batch size that has a rule on `profile`, then the trend.

    A ``reference_factor`` rule (the cpu profile's) is judged against the INT8 / FP32 GEMM
    ratio timed in the same run (`Int8Speed.gemm`): without it, or with it too noisy, the
    verdict is "not run here". The trend is speedup(largest batch) / speedup(smallest),
    judged on its point value. A timing the harness flagged unstable is not judged: its
    verdict is "not run here" with the harness's reason.
    """
    claim = registry[CLAIM_ID]
    gemm = speed.gemm

    def judged(key: str, value: float, noisy: str, **extra: Any) -> ClaimResult:
        rule = claim.rule_for(profile, key)
        assert rule is not None
        reference = None
        if rule.reference_factor is not None:
            if gemm is None:
                return claim.not_run(
                    profile=profile, key=key,
                    reason="no INT8 / FP32 GEMM reference was timed in this run",
                )  # fmt: skip
            noisy = noisy or (f"GEMM reference: {gemm.reason}" if gemm.unstable else "")
            reference = gemm.ratio.value
        if noisy:
            return claim.not_run(
                profile=profile, key=key, reason=f"timing too noisy to decide: {noisy}"
            )
        result = claim.check(
            value, profile=profile, key=key, reference=reference,
            reference_name=GEMM_REFERENCE_NAME,
        )  # fmt: skip
        return replace(result, extra=extra) if extra else result

    results = []
    for c in speed.cells:
        key = batch_key(c.batch)
        if claim.rule_for(profile, key) is not None:
            results.append(judged(key, c.speedup.value, c.reason if c.unstable else ""))
    ends = (speed.cells[0], speed.cells[-1]) if speed.cells else ()
    if len(speed.cells) > 1 and claim.rule_for(profile, TREND_KEY) is not None:
        noisy = next((f"batch {c.batch}: {c.reason}" for c in ends if c.unstable), "")
        results.append(
            judged(TREND_KEY, speed.trend.value, noisy,
                   ci=[round(speed.trend.low, 3), round(speed.trend.high, 3)])
        )  # fmt: skip
    return results


def judge_speed_part(part: SpeedPart, registry: ClaimRegistry) -> list[ClaimResult]:
    """The report's verdicts: "not run here" with the reason for every key with a rule on the
    profile where nothing was timed or INT8's speed claims do not apply, else
    `judge_int8_speed`."""
    claim = registry[CLAIM_ID]
    profile = part.profile
    keys = [batch_key(b) for b in part.batches if claim.rule_for(profile, batch_key(b)) is not None]
    if claim.rule_for(profile, TREND_KEY) is not None:
        keys.append(TREND_KEY)
    why = part.not_measured or ("; ".join(part.reasons) if part.reasons else None)
    if why is not None:
        return [claim.not_run(profile=profile, key=k, reason=why) for k in keys]
    assert part.speed is not None
    return judge_int8_speed(part.speed, registry, profile)

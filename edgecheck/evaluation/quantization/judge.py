"""IV-D-2 and II-B-2: the judging half (see the package docstring)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from edgecheck.evaluation.quantization.measure import (
    ERROR_CLAIM,
    FIDELITY_CLAIM,
    HEADLINE_METHOD,
    MEMORY_CLAIM,
    ErrorRow,
    KernelFidelity,
    QuantReport,
)

if TYPE_CHECKING:
    from edgecheck.claims import ClaimRegistry, ClaimResult


def judge_error(row: ErrorRow, registry: ClaimRegistry, profile: str) -> ClaimResult:
    """``quant.error`` on one model's mean relative difference, named after the model."""
    result = registry[ERROR_CLAIM].check(row.difference.mean_relative_percent, profile=profile)
    return replace(result, message=f"{row.label}: {result.message}", extra={"model": row.label})


def judge_fidelity(
    fidelity: KernelFidelity, registry: ClaimRegistry, profile: str
) -> list[ClaimResult]:
    """``quant.int8.fidelity`` and ``quant.error`` (key deployed) on the chosen settings."""
    deployed = fidelity.deployed
    results = [
        registry[FIDELITY_CLAIM].check(
            deployed.gap.mean_relative_percent, profile=profile, key="deployed"
        ),
        registry[ERROR_CLAIM].check(
            deployed.kernels.mean_relative_percent, profile=profile, key="deployed"
        ),
    ]
    return [replace(r, extra={**r.extra, "settings": fidelity.chosen.name}) for r in results]


@dataclass(frozen=True)
class QuantVerdicts:
    """The verdicts on a `QuantReport`.

    Attributes:
        errors: model label -> its ``quant.error`` verdict (every row).
        control: the blank-calibration control's (expected FAIL).
        fidelity: `judge_fidelity`'s.
        memory: ``quant.memory`` for FP16 and INT8.
    """

    errors: dict[str, ClaimResult]
    control: ClaimResult
    fidelity: list[ClaimResult]
    memory: list[ClaimResult]

    @property
    def results(self) -> list[ClaimResult]:
        """The section's verdicts, in order: INT8 `HEADLINE_METHOD`, FP16, fidelity, sizes."""
        return [
            self.errors[f"INT8 {HEADLINE_METHOD}"], self.errors["FP16"],
            *self.fidelity, *self.memory,
        ]  # fmt: skip


def judge_report(report: QuantReport, registry: ClaimRegistry, profile: str) -> QuantVerdicts:
    """Every row's error, the control's, the kernels' fidelity and the sizes."""
    ratios = report.ratios
    memory_claim = registry[MEMORY_CLAIM]
    return QuantVerdicts(
        errors={row.label: judge_error(row, registry, profile) for row in report.rows},
        control=judge_error(report.control, registry, profile),
        fidelity=judge_fidelity(report.fidelity, registry, profile),
        memory=[memory_claim.check(ratios[k], profile=profile, key=k) for k in ("fp16", "int8")],
    )

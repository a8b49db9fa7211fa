"""Table VII: the judging half (see the package docstring)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgecheck.evaluation.pruning.measure import (
    CLAIM_ID,
    PAPER_BATCH,
    PruningReport,
    Table7,
)
from edgecheck.paper import PAPER_CORES

if TYPE_CHECKING:
    from edgecheck.bench.cores import RunnerWrapper
    from edgecheck.claims import Claim, ClaimRegistry, ClaimResult


def judge_cell(
    table: Table7, claim: Claim, cores: int, profile: str, *, batch: int = PAPER_BATCH,
    variant: RunnerWrapper | None = None,
) -> ClaimResult:  # fmt: skip
    """The verdict on one cell's speedup (of the pruned side's copy wrapped by `variant`), judged
    against the cell's own ceiling (`SpeedCell.ceiling` at the Eq. 1 conv ratio).

    "Not run here" with the reason when the cell was not measured, has no FC head timing (no
    ceiling) while the profile's rule needs one, or other jobs took its cores; a timing the
    harness flagged noisy is still decided when the speedup's whole interval is on one side
    of the bound (`evaluation.parallel.decide`).
    """
    from edgecheck.evaluation.parallel import decide

    key = f"{cores}c"
    cell = table.cell(cores, batch)
    if cell is None:
        return claim.not_run(
            profile=profile, key=key, reason=table.missing.get(cores, "not measured")
        )
    ceiling = cell.ceiling(table.conv_ratio)
    rule = claim.rule_for(profile, key)
    if ceiling is None and rule is not None and rule.reference_factor is not None:
        reason = (
            "no FC head timed beside the models, so no ceiling to judge the speedup against "
            "(the model has no `classifier`)"
        )
        return claim.not_run(profile=profile, key=key, reason=reason)
    contended = cell.contended_reason(variant)
    if contended:
        return claim.not_run(profile=profile, key=key, reason=f"too noisy to decide: {contended}")
    estimate = cell.speedup if variant is None else cell.variant_speedup(variant)
    return decide(
        claim, estimate, profile=profile, key=key, noisy=cell.noisy_reason(variant),
        reference=ceiling, reference_name="ceiling",
    )  # fmt: skip


def judge_table7(table: Table7, registry: ClaimRegistry, profile: str) -> list[ClaimResult]:
    """A verdict per paper core count: the batch-1 speedup (`judge_cell`), or "not run here"
    and why."""
    claim = registry[CLAIM_ID]
    return [judge_cell(table, claim, cores, profile) for cores in PAPER_CORES]


def judge_report(report: PruningReport, registry: ClaimRegistry, profile: str) -> list[ClaimResult]:
    """`judge_table7`, or "not run here" per paper core count where Table VII was not
    measured."""
    if report.table is None:
        claim = registry[CLAIM_ID]
        reason = report.reason or "not measured"
        return [claim.not_run(profile=profile, key=f"{c}c", reason=reason) for c in PAPER_CORES]
    return judge_table7(report.table, registry, profile)

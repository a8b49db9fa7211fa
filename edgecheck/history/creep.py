"""The creep rule: many small slowdowns, each within the tolerance, add up to a failure.

A baseline that is refreshed after every merge lets a metric creep: ten 3 % steps each pass a
5 % tolerance and end 34 % slower. `judge_creep` judges a candidate run against the metric's
*accepted* level instead of the previous run:

1. change points of the history plus the candidate (`edgecheck.history.changes`);
2. the reference is the last *accepted* change point: one that made the metric better (an
   improvement is kept: the level ratchets), or one whose commit the caller lists in
   `accepted` (a slowdown that was decided on); without one, the start of the history. A
   change point that made it worse and was not accepted does not move the reference: that is
   how the cumulative loss counts;
3. the reference level is the first `k` runs from the reference on (up to the next change
   point): the value at the accepted change point;
4. the current level is the last `k` runs since the last change point, candidate included (at
   least `min_runs`: when fewer runs follow the last change point, the last `min_runs` runs);
5. the candidate fails when the current level is worse than the reference level scaled by
   ``1 + tolerance`` with the stated confidence: the baselines' rule (`BaselineCheck`: one-
   sided Mann-Whitney U on the two sets of run medians, `edgecheck.baselines`), so noise alone
   (1-3 % between runs here) does not fail it and a loss well past the tolerance does;
6. unless the candidate itself is back within the tolerance of the reference level: the runs
   before it measured the code before it, so a fix or a revert passes (the level it restores
   shows as a change point once a few runs follow).

The message names the commits that contributed: the change points since the reference that
made it worse (their commit ranges and steps), and the drift since the last of them.
Pure: numbers and commit names in, a `CreepVerdict` out (the permutation test is seeded).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgecheck.history.changes import (
    DEFAULT_ALPHA,
    DEFAULT_MIN_SIZE,
    DEFAULT_PERMUTATIONS,
    ChangeError,
    ChangePoint,
    change_points,
)

DEFAULT_TOLERANCE = 0.05
DEFAULT_CONFIDENCE = 0.95
DEFAULT_K = 10
DEFAULT_MIN_RUNS = 5


@dataclass(frozen=True)
class CreepVerdict:
    """The creep rule's verdict on one candidate. Truthy unless it failed.

    Attributes:
        status: ``"fail"`` (worse than the accepted level beyond the tolerance), ``"pass"``,
            or ``"too short"`` (not enough history to judge; passes).
        reference: the accepted level (median of its runs); current: the level judged.
        loss: ``current / reference - 1`` turned so that positive is worse.
        ratio_low, ratio_high: the interval of the worse-is-above-1 ratio.
        p_value: of the one-sided test (None when no test ran).
        reference_commit: the run where the accepted level starts.
        contributors: the change points since then that made the metric worse.
        change_points: every change point found in the history plus the candidate.
        tolerance, confidence: the rule applied.
        message: one line: the levels, the loss, and the commits that contributed.
        recovered: the level crept, but the candidate itself is back within the tolerance
            (it passes; the message says so).
    """

    status: str
    reference: float
    current: float
    loss: float
    ratio_low: float | None
    ratio_high: float | None
    p_value: float | None
    reference_commit: str
    contributors: tuple[ChangePoint, ...]
    change_points: tuple[ChangePoint, ...]
    tolerance: float
    confidence: float
    message: str
    recovered: bool = False

    def __bool__(self) -> bool:
        return self.status != "fail"


def _level_text(x: float, unit: str) -> str:
    return f"{x:.4g} {unit}".rstrip()


def judge_creep(
    values: Sequence[float] | np.ndarray,
    commits: Sequence[str],
    candidate: float,
    candidate_commit: str,
    *,
    direction: str = "lower",
    tolerance: float = DEFAULT_TOLERANCE,
    confidence: float = DEFAULT_CONFIDENCE,
    accepted: Collection[str] = (),
    k: int = DEFAULT_K,
    min_runs: int = DEFAULT_MIN_RUNS,
    label: str = "metric",
    unit: str = "",
    alpha: float = DEFAULT_ALPHA,
    permutations: int = DEFAULT_PERMUTATIONS,
    min_size: int = DEFAULT_MIN_SIZE,
    seed: int = 0,
) -> CreepVerdict:
    """Judge `candidate` (the newest run's median) against the accepted level of `values`.

    Args:
        values, commits: the metric's history (median per run, oldest first) and its commits.
        candidate, candidate_commit: the run to judge.
        direction: ``"lower"`` or ``"higher"`` is better.
        tolerance: relative loss allowed against the accepted level (0.05: 5 %).
        confidence: of the one-sided test that the loss exceeds the tolerance.
        accepted: commits whose slowdown was decided on: a change point at one of them becomes
            the reference.
        k: runs per level (reference and current).
        min_runs: fewest runs the current level is judged on.
        label, unit: name the metric in the message.
        alpha, permutations, min_size, seed: of the change point search.

    Raises:
        ChangeError: non-finite values, commits of another length, a bad direction.
    """
    from edgecheck.baselines import BaselineCheck, Entry

    if direction not in ("lower", "higher"):
        raise ChangeError(f"direction {direction!r} must be 'lower' or 'higher'.")
    series = np.append(np.asarray(values, dtype=np.float64), float(candidate))
    names = [*commits, candidate_commit]
    if len(names) != series.size:
        raise ChangeError(f"{series.size - 1} values but {len(commits)} commits; give one per run.")
    points = change_points(series, names, alpha=alpha, permutations=permutations,
                           min_size=min_size, seed=seed)  # fmt: skip
    ref_start, ref_at = 0, 0
    for i, cp in enumerate(points):
        if not cp.worse(direction) or cp.commit in accepted:
            ref_start, ref_at = cp.index, i + 1
    contributors = tuple(points[ref_at:])  # each made it worse and was not accepted
    ref_end = contributors[0].index if contributors else series.size
    ref_runs = series[ref_start : min(ref_start + k, ref_end)]
    last = points[-1].index if points else 0
    current_runs = series[max(last, series.size - k) :]
    if current_runs.size < min_runs:
        current_runs = series[-min_runs:]
    sign = 1.0 if direction == "lower" else -1.0
    reference, current = float(np.median(ref_runs)), float(np.median(current_runs))
    loss = sign * (current / reference - 1.0) if reference else 0.0
    common: dict[str, Any] = {
        "reference": reference, "current": current, "loss": loss,
        "reference_commit": names[ref_start], "contributors": contributors,
        "change_points": tuple(points), "tolerance": tolerance, "confidence": confidence,
    }  # fmt: skip
    if series.size < 2 * min_runs or (ref_end - ref_start < min_runs and not contributors):
        return CreepVerdict(
            "too short", ratio_low=None, ratio_high=None, p_value=None,
            message=f"{label}: {series.size} runs, too few to judge creep (needs "
            f"{2 * min_runs}); passes",
            **common,
        )  # fmt: skip
    rule = BaselineCheck(tolerance=tolerance, confidence=confidence)
    verdict = rule.check(
        Entry("history", label, reference, kind="ratio", direction=direction,
              samples=tuple(ref_runs), n=ref_runs.size),
        Entry("history", label, current, kind="ratio", direction=direction,
              samples=tuple(current_runs), n=current_runs.size),
    )  # fmt: skip
    # The runs before the candidate measured other code: a candidate that itself is back within
    # the tolerance (a fix, a revert) is not held to the level they set.
    candidate_loss = sign * (float(candidate) / reference - 1.0) if reference else 0.0
    recovered = verdict.status == "regression" and candidate_loss <= tolerance
    failed = verdict.status == "regression" and not recovered
    better = "lower" if direction == "lower" else "higher"
    text = (
        f"{label}: {'CREEP' if failed else 'no creep'}: accepted level "
        f"{_level_text(reference, unit)} since {names[ref_start]} -> "
        f"{_level_text(current, unit)} now ({loss:+.1%} worse, {better} is better; tolerance "
        f"{tolerance:.0%} at {confidence:.0%} confidence"
    )
    if verdict.p_value is not None:
        text += (
            f", Mann-Whitney p = {verdict.p_value:.2g}, {ref_runs.size} vs {current_runs.size} runs"
        )
    text += ")"
    if contributors:
        steps = ", ".join(f"{cp.commit_range} ({sign * cp.step:+.1%})" for cp in contributors)
        text += f"; worse by the commits in {steps}"
        drift = sign * (current / contributors[-1].after - 1.0) if contributors[-1].after else 0
        if abs(drift) >= 0.005:
            text += f", then {drift:+.1%} since {contributors[-1].commit}"
    elif abs(loss) >= 0.005:
        text += f"; no single step: a drift of {loss:+.1%} since {names[ref_start]}"
    if recovered:
        text += (
            f"; but this run ({candidate_commit}) is back within the tolerance: "
            f"{_level_text(float(candidate), unit)} ({candidate_loss:+.1%}), so it passes"
        )
    return CreepVerdict(
        "fail" if failed else "pass", ratio_low=verdict.ci_low, ratio_high=verdict.ci_high,
        p_value=verdict.p_value, message=text, recovered=recovered, **common,
    )  # fmt: skip

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
   shows as a change point once a few runs follow);
7. a new level too young to be a change point: a step needs `min_size` runs after it before
   the change point search can place it, and more before the current level (the median of at
   least `min_runs` runs) moves past it. So the candidate also fails when it and the run
   before it (`new_level_runs`) are each worse than the reference level by more than the
   tolerance plus `new_level_z` times the run-to-run noise (`changes.run_noise`, robust, of
   the runs since the reference). One run alone is never enough: a run slowed by another job
   on the machine looks like a step until the next run. Measured by `benchmarks/history.py`
   on generated series (noise 1-3 %, 3 % of the runs slowed by 5-15 %), this rule alone:
   2 runs at z 1.645 failed 3 of 200 series without change, judged at every run (target
   1 %); at z 3, 1 of 200; 3 runs, none, but then a real step is caught a run later. With the
   pinned metric of `benchmarks/history_real.py` (noise 0.1-0.3 %) z 3 costs under 1 % of
   margin, so the run after a step past the tolerance fails.

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
    run_noise,
)

DEFAULT_TOLERANCE = 0.05
DEFAULT_CONFIDENCE = 0.95
DEFAULT_K = 10
DEFAULT_MIN_RUNS = 5
DEFAULT_NEW_LEVEL_RUNS = 2
DEFAULT_NEW_LEVEL_Z = 3.0


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
        new_level: how many newest runs failed it as a new level too young to be a change
            point (rule 7 of the module); 0 when the level test decided. Then `ratio_low` and
            `ratio_high` are the lowest and highest of those runs over the reference.
        noise: the run-to-run noise (relative) rule 7 used.
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
    new_level: int = 0
    noise: float = 0.0

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
    new_level_runs: int = DEFAULT_NEW_LEVEL_RUNS,
    new_level_z: float = DEFAULT_NEW_LEVEL_Z,
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
        new_level_runs, new_level_z: rule 7: the newest runs (candidate included) that fail
            as a new level when each is past the tolerance by `new_level_z` times the noise
            (``new_level_runs=0`` turns it off).
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
    noise = run_noise(series[ref_start:])
    common["noise"] = noise
    if not failed and new_level_runs > 0 and reference:
        newest = series[-new_level_runs:]
        losses = sign * (newest / reference - 1.0)
        if float(losses.min()) - new_level_z * noise > tolerance:
            return _new_level(newest, losses, names, ref_start, new_level_z, unit, label,
                              better, common)  # fmt: skip
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


def _new_level(
    newest: np.ndarray, losses: np.ndarray, names: Sequence[str], ref_start: int, z: float,
    unit: str, label: str, better: str, common: dict[str, Any],
) -> CreepVerdict:  # fmt: skip
    """Rule 7's failure: the newest runs are each past the tolerance by more than z x noise."""
    m = newest.size
    first = len(names) - m
    runs = ", ".join(_level_text(float(v), unit) for v in newest)
    text = (
        f"{label}: CREEP: accepted level {_level_text(common['reference'], unit)} since "
        f"{names[ref_start]} -> the last {m} runs {runs} ({float(losses.min()):+.1%} to "
        f"{float(losses.max()):+.1%} worse, {better} is better; each past the tolerance "
        f"{common['tolerance']:.0%} by more than {z:g} x the run-to-run noise "
        f"{common['noise']:.2%}): a new level from {names[first]} on, too new to be a change "
        f"point yet; worse by the commits in {names[first - 1]}..{names[first]}"
    )
    earlier = [cp for cp in common["contributors"] if cp.index < first]
    if earlier:
        sign = 1.0 if better == "lower" else -1.0
        text += " and before them " + ", ".join(
            f"{cp.commit_range} ({sign * cp.step:+.1%})" for cp in earlier
        )
    ratios = 1.0 + losses
    common = {**common, "current": float(np.median(newest)), "loss": float(np.median(losses))}
    return CreepVerdict(
        "fail", ratio_low=float(ratios.min()), ratio_high=float(ratios.max()), p_value=None,
        message=text, new_level=m, **common,
    )  # fmt: skip

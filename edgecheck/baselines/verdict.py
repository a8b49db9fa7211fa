"""The regression rule and its outcome: `BaselineCheck` compares a new measurement with its
stored entry and returns a `Verdict`; `compare` picks the entry of a `BaselineFile` to compare
with and decides whether a timing may be compared on this machine at all.

With samples on both sides the decision is statistical: Mann-Whitney U (scipy) on the new
samples against the stored ones scaled by the tolerance, so a regression is declared only when
the slowdown exceeds the tolerance with the stated confidence; the ratio of medians gets a
seeded bootstrap interval (`edgecheck.bench.stats`). A timing is compared only when its
fingerprint id matches and this machine's calibration (one-core sgemm GFLOP/s and memory read
GB/s, `edgecheck.bench.calibration`) agrees with the stored one within `CALIBRATION_BAND`;
otherwise the verdict is "other device", with the identity fields or the rates that differ
("different machine: sgemm 48 vs 101 GFLOP/s"), never a failure. The verdict keeps why, field
by field (`Verdict.not_compared`, `Verdict.differs`), so that the plugin can count the timings
that were not compared and fail a run that requires them (``--edgecheck-require-timing``).
Nothing here imports scipy until a statistical comparison needs it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgecheck.baselines.entry import DEFAULT_CONFIDENCE, Entry
from edgecheck.baselines.fileformat import UPDATE_COMMAND, BaselineFile, Mismatch
from edgecheck.bench.calibration import CALIBRATION_BAND, Calibration
from edgecheck.bench.calibration import differences as calibration_differences
from edgecheck.errors import BaselineError
from edgecheck.formatting import with_unit

VERDICTS = ("regression", "improvement", "unchanged", "undecided", "no baseline", "other device")
NO_BASELINE_STORED = "no baseline stored"
"""The `Verdict.not_compared` of a metric that was never recorded for this profile."""


def _percent(old: float, new: float) -> str:
    if old == 0:
        return "was 0"
    change = (new - old) / abs(old) * 100
    return f"{change:+.3g} %" if abs(change) >= 1e-3 or change == 0 else f"{change:+.2e} %"


@dataclass(frozen=True)
class Verdict:
    """The outcome of comparing one measurement with its baseline. Truthy unless a regression.

    Attributes:
        status: ``"regression"``, ``"improvement"`` (beyond the tolerance: refresh the baseline),
            ``"unchanged"`` (within the tolerance, with confidence when statistical),
            ``"undecided"`` (too noisy to tell either way), ``"no baseline"`` (never recorded),
            ``"other device"`` (a timing recorded only on other fingerprints: no baseline for
            this device).
        test_id, metric, unit, kind, direction: of the metric.
        old, new: baseline and new value (medians when sampled).
        ratio: how many times worse the new value is (``new/old`` when lower is better,
            ``old/new`` when higher is better): above 1 is worse.
        ci_low, ci_high: confidence interval of `ratio` (equal to it for single values).
        p_value: of the one-sided test in the direction of the change (None: no test ran).
        tolerance, confidence: the rule applied.
        message: one line with the metric, old, new, tolerance and confidence.
        not_compared: for ``"other device"`` and ``"no baseline"``, why nothing was compared,
            the same text for every metric with the same cause (`Mismatch.reason`, or
            ``"no baseline stored"``); empty when compared.
        differs: for ``"other device"``, the identity fields that differ, as ``(field, stored
            value, value here)``.
    """

    status: str
    test_id: str
    metric: str
    unit: str
    kind: str
    direction: str
    old: float | None
    new: float
    ratio: float | None = None
    ci_low: float | None = None
    ci_high: float | None = None
    p_value: float | None = None
    tolerance: float = 0.0
    confidence: float = DEFAULT_CONFIDENCE
    message: str = ""
    not_compared: str = ""
    differs: tuple[tuple[str, str, str], ...] = ()

    def __bool__(self) -> bool:
        return self.status != "regression"

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class BaselineCheck:
    """The regression rule for one metric: tolerance and confidence, statistical when sampled.

    Args:
        tolerance: relative change that counts (0.05: 5 %). Default: the baseline entry's.
        confidence: of the statistical decision. Default: the baseline entry's.
        n_boot, seed: of the ratio's bootstrap interval (seeded: same samples, same interval).

    ``check(baseline, new)`` returns a `Verdict`. The decision, with ``r`` the worse-is-above-1
    ratio and ``t`` the tolerance:

    * samples on both sides (two or more each): regression when Mann-Whitney U says the new
      samples are worse than the stored ones scaled by ``1 + t`` (one-sided, p below
      ``1 - confidence``); improvement when the stored ones are worse than the new ones scaled
      by ``1 + t``; unchanged when the bootstrap interval of ``r`` lies inside
      ``[1 / (1 + t), 1 + t]``; undecided otherwise;
    * otherwise (single values, exact metrics): regression when ``r > 1 + t``, improvement when
      ``r < 1 / (1 + t)``, else unchanged. A zero baseline compares absolutely against `t`.
    """

    tolerance: float | None = None
    confidence: float | None = None
    n_boot: int = 2000
    seed: int = 0

    @classmethod
    def parse(cls, text: str) -> BaselineCheck:
        """From text like ``"5%"``, ``"5%@0.99"`` or ``"0.05"``.

        Raises:
            BaselineError: text that is not a tolerance (and optional confidence).
        """
        body, _, conf = text.strip().partition("@")
        try:
            tol = float(body[:-1]) / 100 if body.endswith("%") else float(body)
            confidence = float(conf) if conf else None
        except ValueError:
            raise BaselineError(
                f"tolerance {text!r} must look like '5%', '0.05' or '5%@0.99'"
            ) from None
        if not 0.0 <= tol < 1.0 or (confidence is not None and not 0.5 <= confidence < 1.0):
            raise BaselineError(
                f"tolerance {text!r}: the tolerance must be in [0, 100%) and the confidence "
                f"in [0.5, 1)"
            )
        return cls(tolerance=tol, confidence=confidence)

    def check(
        self,
        baseline: Entry | None,
        new: Entry,
        *,
        other_device: bool = False,
        why_other: str = "",
        mismatch: Mismatch | None = None,
    ) -> Verdict:
        """Compare `new` with `baseline` (None: nothing stored for this device).

        With `other_device` (and no `baseline`) the verdict is "other device": not compared;
        `mismatch` (or, as plain text, `why_other`) says why in its message (e.g. ``"different
        machine: cpu_family 23 vs 25"``) and in its `Verdict.not_compared` and `differs`.
        """
        tol = self.tolerance if self.tolerance is not None else (
            baseline.tolerance if baseline is not None else new.tolerance
        )  # fmt: skip
        conf = self.confidence if self.confidence is not None else (
            baseline.confidence if baseline is not None else new.confidence
        )  # fmt: skip
        common: dict[str, Any] = {
            "test_id": new.test_id, "metric": new.metric, "unit": new.unit, "kind": new.kind,
            "direction": new.direction, "new": new.value, "tolerance": tol, "confidence": conf,
        }  # fmt: skip
        if baseline is None:
            if other_device:
                if mismatch is None:
                    why = why_other or (
                        f"the stored {new.kind} values were measured on other fingerprints"
                    )
                    mismatch = Mismatch(why, why)
                msg = (
                    f"{new.label}: no baseline for this device: {mismatch.detail}; "
                    f"measured {with_unit(new.value, new.unit)}"
                )
                return Verdict("other device", old=None, message=msg,
                               not_compared=mismatch.reason, differs=mismatch.fields,
                               **common)  # fmt: skip
            msg = f"{new.label}: no baseline stored; measured {with_unit(new.value, new.unit)}"
            return Verdict("no baseline", old=None, message=msg,
                           not_compared=NO_BASELINE_STORED, **common)  # fmt: skip
        if baseline.direction != new.direction or baseline.kind != new.kind:
            raise BaselineError(
                f"{baseline.label}: the baseline is a {baseline.kind} metric where "
                f"{baseline.direction} is better, the test now records a {new.kind} metric where "
                f"{new.direction} is better; re-record it with --edgecheck-update-baselines."
            )
        lower = new.direction == "lower"
        if len(baseline.samples) >= 2 and len(new.samples) >= 2:
            status, ratio, low, high, p = self._statistical(baseline, new, tol, conf, lower)
        else:
            status, ratio, low, high, p = self._plain(baseline.value, new.value, tol, lower)
        message = self._message(status, baseline, new, ratio, low, high, p, tol, conf)
        return Verdict(status, old=baseline.value, ratio=ratio, ci_low=low, ci_high=high,
                       p_value=p, message=message, **common)  # fmt: skip

    @staticmethod
    def _plain(
        old: float, new: float, tol: float, lower: bool
    ) -> tuple[str, float | None, float | None, float | None, float | None]:
        worse_by = (new - old) if lower else (old - new)
        if old == 0 or new == 0:
            # No ratio exists; the tolerance is read as an absolute difference.
            status = (
                "regression"
                if worse_by > tol
                else ("improvement" if -worse_by > tol else "unchanged")
            )
            return status, None, None, None, None
        ratio = new / old if lower else old / new
        if ratio <= 0:  # sign flipped: any such change is beyond a relative tolerance
            status = "regression" if worse_by > 0 else "improvement"
        elif ratio > 1.0 + tol:
            status = "regression"
        elif ratio < 1.0 / (1.0 + tol):
            status = "improvement"
        else:
            status = "unchanged"
        return status, ratio, ratio, ratio, None

    def _statistical(
        self, baseline: Entry, new: Entry, tol: float, conf: float, lower: bool
    ) -> tuple[str, float | None, float | None, float | None, float | None]:
        from edgecheck._imports import require
        from edgecheck.bench.stats import ratio_of_medians

        stats = require("scipy.stats", "comparing measurements with a baseline")
        old_s = np.asarray(baseline.samples)
        new_s = np.asarray(new.samples)
        # `cand` is worse than `ref` when it is larger, whichever way the metric points.
        cand, ref = (new_s, old_s) if lower else (old_s, new_s)
        if np.median(ref) <= 0 or np.median(cand) <= 0:
            return self._plain(baseline.value, new.value, tol, lower)
        # Two one-sided rank tests against the tolerance band's edges: "worse beyond the
        # tolerance" and "better beyond it". Scaling (not shifting) keeps the rule relative.
        p_worse = float(stats.mannwhitneyu(cand, ref * (1.0 + tol), alternative="greater").pvalue)
        p_better = float(stats.mannwhitneyu(ref, cand * (1.0 + tol), alternative="greater").pvalue)
        alpha = 1.0 - conf
        est = ratio_of_medians(cand, ref, paired=False, confidence=conf,
                               n_boot=self.n_boot, seed=self.seed)  # fmt: skip
        if p_worse < alpha:
            status, p = "regression", p_worse
        elif p_better < alpha:
            status, p = "improvement", p_better
        else:
            inside = 1.0 / (1.0 + tol) <= est.low and est.high <= 1.0 + tol
            status = "unchanged" if inside else "undecided"
            p = p_worse if est.value >= 1.0 else p_better
        return status, est.value, est.low, est.high, p

    @staticmethod
    def _message(
        status: str, baseline: Entry, new: Entry, ratio: float | None, low: float | None,
        high: float | None, p: float | None, tol: float, conf: float,
    ) -> str:  # fmt: skip
        unit = new.unit
        better = "lower" if new.direction == "lower" else "higher"
        head = {
            "regression": "REGRESSION",
            "improvement": "improvement (refresh the baseline)",
            "unchanged": "unchanged",
            "undecided": "undecided (too noisy to tell; measure longer)",
        }[status]
        text = (
            f"{new.label}: {head}: {with_unit(baseline.value, unit)} -> {with_unit(new.value, unit)}"
            f" ({_percent(baseline.value, new.value)}; {better} is better)"
        )
        if ratio is not None:
            text += f"; {ratio:.4g}x as bad"
            if low is not None and high is not None and (low != ratio or high != ratio):
                text += f" [{conf:.0%} CI {low:.4g}-{high:.4g}]"
        text += f"; tolerance {tol:.2g}" if tol < 1e-4 else f"; tolerance {tol:.2%}"
        if p is not None:
            text += (
                f", confidence {conf:.0%} (Mann-Whitney p = {p:.2g}, n = {baseline.n} vs {new.n})"
            )
        else:
            text += " (exact comparison)"
        return text


def compare(
    stored: BaselineFile,
    new: Entry,
    check: BaselineCheck | None = None,
    *,
    here: Mapping[str, str] | None = None,
    calibration: Callable[[], Calibration] | None = None,
) -> Verdict:
    """Judge `new` against what `stored` holds for its test, metric and device.

    Args:
        stored: the baseline file.
        new: the fresh measurement.
        check: the rule (default: the stored entry's tolerance and confidence).
        here: this machine's fingerprint, to name the identity fields that differ when a
            timing was recorded on other machines only.
        calibration: gives this machine's calibration; called only when a timing is about to
            be compared (it takes seconds to measure). Without it no timing is compared.

    A timing is compared only when its fingerprint id matches and `calibration` agrees with
    the entry's within `CALIBRATION_BAND`; otherwise the verdict is "other device" and its
    message says why ("different machine: sgemm 48 vs 101 GFLOP/s").
    """
    rule = check or BaselineCheck()
    entry, other_device = stored.lookup(new.test_id, new.metric, new.fingerprint_id)
    if new.kind != "timing":
        return rule.check(entry, new)
    if entry is None:
        mismatch = stored.mismatch(new, here) if other_device else None
        return rule.check(None, new, other_device=other_device, mismatch=mismatch)
    why_not = _calibration_mismatch(entry, calibration)
    if why_not is not None:
        return rule.check(None, new, other_device=True, mismatch=why_not)
    return rule.check(entry, new)


def _calibration_mismatch(
    entry: Entry, calibration: Callable[[], Calibration] | None
) -> Mismatch | None:
    """Why a timing of this fingerprint must not be compared here, or None when it may be."""
    if entry.calibration is None:
        return Mismatch(
            "no calibration stored (recorded before schema 2)",
            "the stored timing was recorded without a calibration (before schema 2); "
            f"re-record it on this machine with '{UPDATE_COMMAND}'",
        )
    if calibration is None:
        why = "no calibration of this machine was given to check the stored one against"
        return Mismatch("no calibration of this machine", why)
    apart = calibration_differences(entry.calibration, calibration(), CALIBRATION_BAND)
    if apart:
        return Mismatch(
            f"calibration differs ({', '.join(apart)}, stored vs here; band "
            f"{CALIBRATION_BAND:.0%})",
            f"different machine: {', '.join(apart)} (recorded vs here, beyond the "
            f"{CALIBRATION_BAND:.0%} calibration band)",
        )
    return None

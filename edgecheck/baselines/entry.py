"""One stored (or just measured) metric of one test: `Entry`, its validation and its JSON fields.

Three kinds of metric, compared differently (`edgecheck.baselines.verdict`):

* ``exact``: MACs, parameter counts, bytes. Deterministic, compared with a tiny relative
  tolerance on any machine.
* ``ratio``: speedups, scaling efficiency, quantization error. They travel between machines of
  one profile, so they are compared wherever the profile matches.
* ``timing``: latency, fps, throughput. Only meaningful on the machine that recorded them, so
  they are compared only when the fingerprint id matches (the device identity,
  `edgecheck.identity`) *and* this machine's calibration (`edgecheck.bench.calibration`)
  agrees with the one stored in the entry; otherwise the verdict is "other device".
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from typing import Any

import numpy as np

from edgecheck.bench.calibration import Calibration
from edgecheck.errors import BaselineError

KINDS = ("exact", "ratio", "timing")
DIRECTIONS = ("lower", "higher")  # which way is better
# Default relative tolerances by kind. Exact metrics only absorb float round-off; a ratio or a
# timing moves by a few percent between runs on an unchanged model.
DEFAULT_TOLERANCE = {"exact": 1e-9, "ratio": 0.05, "timing": 0.05}
# 0.99: each of the two one-sided tests (slower / faster) fires on an unchanged model in at most
# 1 % of comparisons, the A/A target of the merge gate.
DEFAULT_CONFIDENCE = 0.99
# Up to this many samples are stored as measured; beyond it, this many evenly spaced quantiles,
# which keep the distribution's shape for the rank test at a bounded file size.
MAX_STORED_SAMPLES = 201
_SIGNIFICANT = 7  # digits stored per sample: below timer resolution, keeps the file small

_FIELDS = {
    "test_id", "metric", "unit", "direction", "kind", "value", "spread", "n", "samples",
    "tolerance", "confidence", "fingerprint_id", "recorded", "calibration",
}  # fmt: skip
_REQUIRED = _FIELDS - {"samples", "spread", "confidence", "unit", "calibration"}


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _round(x: float) -> float:
    return float(f"{x:.{_SIGNIFICANT}g}")


@dataclass(frozen=True)
class Entry:
    """One stored (or just measured) metric of one test.

    Attributes:
        test_id: the pytest node id, e.g. ``"tests/accuracy/test_macs.py::test_totals"``.
        metric: the metric's name within the test, e.g. ``"vgg16.conv_macs"``.
        unit: e.g. ``"MACs"``, ``"s"``, ``"x"``; free text, shown in messages.
        direction: ``"lower"`` or ``"higher"``: which way is better.
        kind: ``"exact"``, ``"ratio"`` or ``"timing"`` (see the module docstring).
        value: the median of the samples, or the single value.
        spread: the samples' interquartile range (0 for a single value).
        n: how many samples were measured.
        samples: the samples (at most `MAX_STORED_SAMPLES`; quantiles of them beyond that),
            empty for a single value.
        tolerance: relative change that counts as a regression, e.g. 0.05 for 5 %.
        confidence: confidence of the statistical decision, e.g. 0.99.
        fingerprint_id: the environment fingerprint id it was measured on
            (`edgecheck.device.DeviceInfo.fingerprint_id`).
        recorded: when, ISO 8601 UTC.
        calibration: for a timing, this machine's calibration when it was recorded; a timing
            without one (recorded before schema 2) is never compared.
    """

    test_id: str
    metric: str
    value: float
    kind: str = "exact"
    direction: str = "lower"
    unit: str = ""
    spread: float = 0.0
    n: int = 1
    samples: tuple[float, ...] = ()
    tolerance: float = DEFAULT_TOLERANCE["exact"]
    confidence: float = DEFAULT_CONFIDENCE
    fingerprint_id: str = ""
    recorded: str = ""
    calibration: Calibration | None = None

    @property
    def key(self) -> tuple[str, str, str]:
        """What identifies the entry in a file: timings are per fingerprint, the rest are not."""
        return (self.test_id, self.metric, self.fingerprint_id if self.kind == "timing" else "")

    @property
    def label(self) -> str:
        """``test_id :: metric``, as messages name the entry."""
        return f"{self.test_id} :: {self.metric}"

    @classmethod
    def measured(
        cls,
        test_id: str,
        metric: str,
        samples_or_value: float | Sequence[float] | np.ndarray,
        *,
        kind: str = "exact",
        direction: str = "lower",
        unit: str = "",
        tolerance: float | None = None,
        confidence: float = DEFAULT_CONFIDENCE,
        fingerprint_id: str = "",
        recorded: str | None = None,
        max_samples: int | None = MAX_STORED_SAMPLES,
        calibration: Calibration | None = None,
    ) -> Entry:
        """An entry from a fresh measurement: one value, or samples (median, IQR, n kept).

        `max_samples` bounds what is kept for storage (quantiles beyond it); ``None`` keeps
        every sample, for comparisons that are not stored (``edgecheck ab``).

        Raises:
            BaselineError: an unknown kind or direction, a bad tolerance, no samples, or a
                NaN / infinite value; the message names the entry and the field.
        """
        label = f"{test_id} :: {metric}"
        data = np.array(samples_or_value, dtype=np.float64).ravel()
        if data.size == 0:
            raise BaselineError(f"{label}: no samples given; record at least one value.")
        if not np.isfinite(data).all():
            raise BaselineError(
                f"{label}: the measurement contains NaN or infinite values; the model or the "
                f"runtime produced them, fix that before recording a baseline."
            )
        stored: tuple[float, ...] = ()
        if data.size == 1:
            value, spread = float(data[0]), 0.0
        else:
            q1, median, q3 = np.percentile(data, [25, 50, 75])
            value, spread = _round(float(median)), _round(float(q3 - q1))
            if max_samples is None:  # not for storage: keep full precision
                stored = tuple(float(x) for x in data)
            else:
                if data.size > max_samples:
                    data = np.quantile(data, np.linspace(0.0, 1.0, max_samples))
                stored = tuple(_round(float(x)) for x in data)
        entry = cls(
            test_id=test_id,
            metric=metric,
            value=value,
            kind=kind,
            direction=direction,
            unit=unit,
            spread=spread,
            n=int(np.asarray(samples_or_value).size),
            samples=stored,
            tolerance=DEFAULT_TOLERANCE.get(kind, 0.0) if tolerance is None else float(tolerance),
            confidence=float(confidence),
            fingerprint_id=fingerprint_id,
            recorded=recorded or _now(),
            calibration=calibration,
        )
        problem = entry.problem()
        if problem:
            field_name, text = problem
            raise BaselineError(f"{label}: {field_name} {text}")
        return entry

    def problem(self) -> tuple[str, str] | None:
        """The first invalid field and what is wrong with it, or None."""
        if not self.test_id or not isinstance(self.test_id, str):
            return ("test_id", "must be a non-empty string (the pytest node id)")
        if not self.metric or not isinstance(self.metric, str):
            return ("metric", "must be a non-empty string")
        if self.kind not in KINDS:
            return ("kind", f"{self.kind!r} is not one of {', '.join(KINDS)}")
        if self.direction not in DIRECTIONS:
            return ("direction", f"{self.direction!r} is not one of {', '.join(DIRECTIONS)}")
        if not math.isfinite(self.value):
            return ("value", f"{self.value!r} is not a finite number")
        if not (math.isfinite(self.tolerance) and 0.0 <= self.tolerance < 1.0):
            return ("tolerance", f"{self.tolerance!r} must be a fraction in [0, 1), e.g. 0.05")
        if not 0.5 <= self.confidence < 1.0:
            return ("confidence", f"{self.confidence!r} must lie in [0.5, 1), e.g. 0.99")
        if self.n < 1:
            return ("n", f"{self.n!r} must be a count >= 1")
        if not all(math.isfinite(s) for s in self.samples):
            return ("samples", "contains a NaN or infinite value")
        if self.kind == "timing" and not self.fingerprint_id:
            return ("fingerprint_id", "is required for a timing (it compares only on that device)")
        if self.calibration is not None and self.kind != "timing":
            return ("calibration", f"belongs to timings only, this is a {self.kind} metric")
        return None

    def same_measurement(self, other: Entry) -> bool:
        """True when `other` holds the same numbers and rules (the recording time aside)."""
        return replace(self, recorded="") == replace(other, recorded="")

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready fields; `samples` only when there are some."""
        out: dict[str, Any] = {
            "test_id": self.test_id,
            "metric": self.metric,
            "unit": self.unit,
            "direction": self.direction,
            "kind": self.kind,
            "value": self.value,
            "spread": self.spread,
            "n": self.n,
            "tolerance": self.tolerance,
            "confidence": self.confidence,
            "fingerprint_id": self.fingerprint_id,
            "recorded": self.recorded,
        }
        if self.samples:
            out["samples"] = list(self.samples)
        if self.calibration is not None:
            out["calibration"] = self.calibration.as_dict()
        return out

    @classmethod
    def from_dict(cls, raw: Any, *, where: str) -> Entry:
        """Parse and validate one entry; `where` names the file and position for errors."""
        if not isinstance(raw, dict):
            raise BaselineError(
                f"{where}: an entry must be a JSON object, got {type(raw).__name__}"
            )
        label = f"{where} ({raw.get('test_id', '?')} :: {raw.get('metric', '?')})"
        unknown = sorted(set(raw) - _FIELDS)
        if unknown:
            raise BaselineError(
                f"{label}: unknown field(s) {', '.join(unknown)}; the known fields are "
                f"{', '.join(sorted(_FIELDS))}. Fix or remove them."
            )
        missing = sorted(_REQUIRED - set(raw))
        if missing:
            raise BaselineError(
                f"{label}: missing field(s) {', '.join(missing)}; re-record the baseline with "
                f"'pytest --edgecheck-update-baselines'."
            )
        number_fields = ("value", "spread", "tolerance", "confidence")
        for name in number_fields:
            if name in raw and (
                isinstance(raw[name], bool) or not isinstance(raw[name], int | float)
            ):
                raise BaselineError(f"{label}: field '{name}' must be a number, got {raw[name]!r}")
        if isinstance(raw["n"], bool) or not isinstance(raw["n"], int):
            raise BaselineError(f"{label}: field 'n' must be a whole number, got {raw['n']!r}")
        samples = raw.get("samples", [])
        if not isinstance(samples, list) or not all(
            isinstance(s, int | float) and not isinstance(s, bool) for s in samples
        ):
            raise BaselineError(f"{label}: field 'samples' must be a list of numbers")
        for name in (
            "test_id",
            "metric",
            "unit",
            "kind",
            "direction",
            "fingerprint_id",
            "recorded",
        ):
            if name in raw and not isinstance(raw[name], str):
                raise BaselineError(f"{label}: field '{name}' must be a string, got {raw[name]!r}")
        calibration = None
        if "calibration" in raw:
            try:
                calibration = Calibration.from_dict(raw["calibration"], where=label)
            except ValueError as exc:
                raise BaselineError(f"{exc}. Fix the entry or re-record it.") from None
        entry = cls(
            test_id=raw["test_id"],
            metric=raw["metric"],
            value=float(raw["value"]),
            kind=raw["kind"],
            direction=raw["direction"],
            unit=raw.get("unit", ""),
            spread=float(raw.get("spread", 0.0)),
            n=raw["n"],
            samples=tuple(float(s) for s in samples),
            tolerance=float(raw["tolerance"]),
            confidence=float(raw.get("confidence", DEFAULT_CONFIDENCE)),
            fingerprint_id=raw["fingerprint_id"],
            recorded=raw["recorded"],
            calibration=calibration,
        )
        problem = entry.problem()
        if problem:
            field_name, text = problem
            raise BaselineError(
                f"{label}: field '{field_name}' {text}. Fix the entry or re-record it."
            )
        return entry

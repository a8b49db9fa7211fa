"""What the performance history records: a `Run` (commit, branch, time, device identity,
calibration) and its metrics, one `Point` each (the baselines' `Entry` and its median's
interval); a `SeriesPoint`, one run's value of one metric as a series shows it; and the JSON
Lines export format (`Run.as_dict` / `Run.from_dict` per line, `parse_export`): a header line
``{"edgecheck_history": <schema>}``, then one run per line. The SQLite file that stores them is
`edgecheck.history.store`.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from edgecheck.baselines import Entry
from edgecheck.bench.calibration import Calibration
from edgecheck.errors import EdgecheckError

SCHEMA_VERSION = 1
EXPORT_HEADER = "edgecheck_history"


class HistoryError(EdgecheckError, ValueError):
    """A history store or export file that cannot be used as it is (missing, not SQLite, not
    edgecheck's, a newer schema, a malformed line), or a run that cannot be recorded."""


def now_utc() -> str:
    """The current time as ISO 8601 UTC with a ``Z``, to the second (how runs are stamped)."""
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _new_uid() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True)
class Point:
    """One metric of one run: the baselines' `Entry` and its median's interval.

    Attributes:
        entry: test id, metric, kind, unit, direction, tolerance, median (`Entry.value`), n,
            samples; its fingerprint id, time and calibration are the run's.
        low, high: the median's confidence interval (both the median for a single value).
    """

    entry: Entry
    low: float
    high: float

    def as_dict(self) -> dict[str, Any]:
        """The JSON Lines form of the metric (inside its run)."""
        e = self.entry
        return {
            "test_id": e.test_id, "metric": e.metric, "kind": e.kind, "unit": e.unit,
            "direction": e.direction, "tolerance": e.tolerance, "confidence": e.confidence,
            "median": e.value, "spread": e.spread, "low": self.low, "high": self.high, "n": e.n, "samples": list(e.samples),
        }  # fmt: skip


@dataclass(frozen=True)
class Run:
    """One recorded run: where and on what it ran, and its metrics.

    Attributes:
        commit: the commit measured (a hash, or any label).
        branch: its branch ("" when unknown).
        time: when, ISO 8601 UTC.
        profile: the device profile (``cpu``, ``tx2``, ...).
        fingerprint_id: the device identity's id (`edgecheck.device.DeviceInfo.fingerprint_id`).
        identity: the identity fields it hashes (`edgecheck.identity.identity_of`).
        calibration: the machine's calibration during the run, None when not measured.
        metrics: the run's metrics.
        uid: a unique id of the run (an import skips runs whose uid is stored).
    """

    commit: str
    branch: str
    time: str
    profile: str
    fingerprint_id: str
    identity: Mapping[str, str]
    calibration: Calibration | None
    metrics: tuple[Point, ...]
    uid: str = field(default_factory=_new_uid)

    def as_dict(self) -> dict[str, Any]:
        """The JSON Lines form of the run."""
        return {
            "uid": self.uid, "commit": self.commit, "branch": self.branch, "time": self.time,
            "profile": self.profile, "fingerprint_id": self.fingerprint_id,
            "identity": dict(self.identity),
            "calibration": self.calibration.as_dict() if self.calibration else None,
            "metrics": [p.as_dict() for p in self.metrics],
        }  # fmt: skip

    @classmethod
    def from_dict(cls, raw: Any, *, where: str) -> Run:
        """Parse and validate a run (an export line); `where` names the file and line."""
        if not isinstance(raw, dict):
            raise HistoryError(f"{where}: a run must be a JSON object, got {type(raw).__name__}")
        want = {"uid", "commit", "branch", "time", "profile", "fingerprint_id", "identity",
                "calibration", "metrics"}  # fmt: skip
        if set(raw) != want:
            missing, extra = sorted(want - set(raw)), sorted(set(raw) - want)
            raise HistoryError(
                f"{where}: a run has the fields {', '.join(sorted(want))}"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unknown {', '.join(extra)}" if extra else "")
            )
        for name in ("uid", "commit", "branch", "time", "profile", "fingerprint_id"):
            if not isinstance(raw[name], str):
                raise HistoryError(f"{where}: field '{name}' must be a string, got {raw[name]!r}")
        if not raw["uid"] or not raw["commit"]:
            raise HistoryError(f"{where}: fields 'uid' and 'commit' must not be empty")
        identity = raw["identity"]
        if not isinstance(identity, dict) or not all(isinstance(v, str) for v in identity.values()):
            raise HistoryError(f"{where}: field 'identity' must map field names to strings")
        calibration = None
        if raw["calibration"] is not None:
            try:
                calibration = Calibration.from_dict(raw["calibration"], where=where)
            except ValueError as exc:
                raise HistoryError(str(exc)) from None
        if not isinstance(raw["metrics"], list):
            raise HistoryError(f"{where}: field 'metrics' must be a list")
        header = dict(raw, calibration=calibration)
        points = tuple(
            _point_from_dict(m, header, where=f"{where}, metric {i}")
            for i, m in enumerate(raw["metrics"])
        )
        _check_unique(points, where)
        return cls(
            commit=raw["commit"], branch=raw["branch"], time=raw["time"],
            profile=raw["profile"], fingerprint_id=raw["fingerprint_id"],
            identity=dict(identity), calibration=calibration, metrics=points, uid=raw["uid"],
        )  # fmt: skip


def _check_unique(points: Sequence[Point], where: str) -> None:
    seen: set[tuple[str, str]] = set()
    for p in points:
        key = (p.entry.test_id, p.entry.metric)
        if key in seen:
            raise HistoryError(f"{where}: {p.entry.label} appears twice in one run; keep one")
        seen.add(key)


def make_point(fields: Mapping[str, Any], run: Mapping[str, Any], *, where: str) -> Point:
    """A `Point` from a metric's stored fields and its run's header, validated like an Entry."""
    kind = fields["kind"]
    try:
        entry = Entry(
            test_id=fields["test_id"], metric=fields["metric"], value=float(fields["median"]),
            kind=kind, direction=fields["direction"], unit=fields["unit"], n=int(fields["n"]),
            samples=tuple(float(s) for s in fields["samples"]),
            tolerance=float(fields["tolerance"]), confidence=float(fields["confidence"]),
            spread=float(fields["spread"]), fingerprint_id=run["fingerprint_id"],
            recorded=run["time"], calibration=run["calibration"] if kind == "timing" else None,
        )  # fmt: skip
    except (TypeError, ValueError) as exc:
        raise HistoryError(f"{where}: {exc}") from None
    problem = entry.problem()
    if problem:
        raise HistoryError(f"{where} ({entry.label}): field '{problem[0]}' {problem[1]}")
    low, high = float(fields["low"]), float(fields["high"])
    if not (math.isfinite(low) and math.isfinite(high) and low <= high):
        raise HistoryError(f"{where} ({entry.label}): interval [{low}, {high}] is not one")
    return Point(entry, low, high)


def _point_from_dict(raw: Any, run: Mapping[str, Any], *, where: str) -> Point:
    want = {"test_id", "metric", "kind", "unit", "direction", "tolerance", "confidence",
            "median", "spread", "low", "high", "n", "samples"}  # fmt: skip
    if not isinstance(raw, dict) or set(raw) != want:
        got = sorted(raw) if isinstance(raw, dict) else type(raw).__name__
        raise HistoryError(f"{where}: a metric has the fields {', '.join(sorted(want))}; got {got}")
    for name in ("test_id", "metric", "kind", "unit", "direction"):
        if not isinstance(raw[name], str):
            raise HistoryError(f"{where}: field '{name}' must be a string, got {raw[name]!r}")
    for name in ("tolerance", "confidence", "median", "spread", "low", "high"):
        if isinstance(raw[name], bool) or not isinstance(raw[name], int | float):
            raise HistoryError(f"{where}: field '{name}' must be a number, got {raw[name]!r}")
    if isinstance(raw["n"], bool) or not isinstance(raw["n"], int):
        raise HistoryError(f"{where}: field 'n' must be a whole number, got {raw['n']!r}")
    samples = raw["samples"]
    if not isinstance(samples, list) or not all(
        isinstance(s, int | float) and not isinstance(s, bool) for s in samples
    ):
        raise HistoryError(f"{where}: field 'samples' must be a list of numbers")
    return make_point(raw, run, where=where)


@dataclass(frozen=True)
class SeriesPoint:
    """One run's value of one metric, as a series over runs shows it.

    Attributes:
        commit, branch, time, fingerprint_id, run_uid: of the run.
        value: the median; low, high: its interval; n: samples measured.
        unit, direction, kind, tolerance: of the metric as that run recorded it.
    """

    commit: str
    branch: str
    time: str
    fingerprint_id: str
    run_uid: str
    value: float
    low: float
    high: float
    n: int
    unit: str
    direction: str
    kind: str
    tolerance: float


def parse_export(lines: Iterable[str], *, where: str) -> list[Run]:
    """The runs of a JSON Lines export, validated (see `HistoryStore.import_jsonl`)."""
    runs: list[Run] = []
    header_seen = False
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise HistoryError(
                f"{where} line {number}: not JSON ({exc.msg} at column {exc.colno}); a history "
                f"export has one JSON object per line (made by 'edgecheck history export')."
            ) from None
        if not header_seen:
            version = raw.get(EXPORT_HEADER) if isinstance(raw, dict) else None
            if isinstance(version, bool) or not isinstance(version, int):
                raise HistoryError(
                    f"{where} line {number}: not an edgecheck history export (its first line "
                    f'must be {{"{EXPORT_HEADER}": {SCHEMA_VERSION}}}); make one with '
                    f"'edgecheck history export'."
                )
            if version > SCHEMA_VERSION:
                raise HistoryError(
                    f"{where}: exported from history schema {version}, newer than this "
                    f"edgecheck reads ({SCHEMA_VERSION}); upgrade edgecheck to import it."
                )
            header_seen = True
            continue
        runs.append(Run.from_dict(raw, where=f"{where} line {number}"))
    if not header_seen:
        raise HistoryError(f"{where}: empty; a history export starts with a header line.")
    return runs

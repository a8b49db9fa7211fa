"""Stored baselines and the regression check against them (the "judge" layer).

A baseline file, ``baselines/<profile>.json``, holds one `Entry` per (test id, metric): what a
test measured when the baseline was recorded, how it is compared (its `kind`, direction and
tolerance) and what it was measured on (the environment fingerprint). The file is meant for
git: keys sorted, one entry field per line, entries sorted by test id and metric, so that a
changed metric is a diff of a few lines.

Three kinds of metric, compared differently:

* ``exact``: MACs, parameter counts, bytes. Deterministic, compared with a tiny relative
  tolerance on any machine.
* ``ratio``: speedups, scaling efficiency, quantization error. They travel between machines of
  one profile, so they are compared wherever the profile matches.
* ``timing``: latency, fps, throughput. Only meaningful on the machine that recorded them, so
  they are compared only when the fingerprint id matches (the device identity,
  `edgecheck.identity`) *and* this machine's calibration (one-core sgemm GFLOP/s and memory
  read GB/s, `edgecheck.bench.calibration`) agrees with the one stored in the entry within
  `CALIBRATION_BAND`; otherwise the verdict is "other device", with the identity fields or the
  rates that differ ("different machine: sgemm 48 vs 101 GFLOP/s"), never a failure. The
  verdict keeps why, field by field (`Mismatch`: `Verdict.not_compared`, `Verdict.differs`),
  so that the plugin can count the timings that were not compared and fail a run that
  requires them (``--edgecheck-require-timing``). Entries from several machines of one
  profile live side by side in the file, keyed by fingerprint id.

`BaselineCheck` is the rule (style: checks are objects): given a stored entry and a new
measurement it returns a `Verdict`, truthy unless it is a regression. With samples on both sides
the decision is statistical: Mann-Whitney U (scipy) on the new samples against the stored ones
scaled by the tolerance, so a regression is declared only when the slowdown exceeds the
tolerance with the stated confidence; the ratio of medians gets a seeded bootstrap interval
(`edgecheck.bench.stats`).

`BaselineStore` is the storage interface (`fetch / save / delete`); `DirectoryStore` keeps one
file per profile in a folder, writes atomically under an inter-process lock and merges with
what is on disk, so two concurrent updaters lose nothing. `ReadOnlyStore` wraps a store shared
from CI. Nothing here imports scipy until a statistical comparison needs it.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from edgecheck._atomic import write_atomic
from edgecheck.bench.calibration import CALIBRATION_BAND, Calibration
from edgecheck.bench.calibration import differences as calibration_differences
from edgecheck.errors import BaselineError
from edgecheck.formatting import with_unit
from edgecheck.identity import (
    describe_difference,
    identity_diff,
    identity_differences,
    is_old_identity,
)

# 2: the device identity of edgecheck.identity, and a calibration in every timing entry.
SCHEMA_VERSION = 2
# Schema 1 files are still read: their exact and ratio entries compare as before, their timing
# entries (recorded under the old identity, without a calibration) are never compared.
OLDEST_READABLE_SCHEMA = 1
UPDATE_COMMAND = "pytest --edgecheck-update-baselines"
# CALIBRATION_BAND (defined in edgecheck.bench.calibration, importable from here too): how far
# this machine's calibration may be from the one stored with a timing for it to be compared.
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

VERDICTS = ("regression", "improvement", "unchanged", "undecided", "no baseline", "other device")
_FIELDS = {
    "test_id", "metric", "unit", "direction", "kind", "value", "spread", "n", "samples",
    "tolerance", "confidence", "fingerprint_id", "recorded", "calibration",
}  # fmt: skip
_REQUIRED = _FIELDS - {"samples", "spread", "confidence", "unit", "calibration"}


def _now() -> str:
    return datetime.now(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _round(x: float) -> float:
    return float(f"{x:.{_SIGNIFICANT}g}")


# --------------------------------------------------------------------------------------- entries


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


# ----------------------------------------------------------------------------------------- files


@dataclass(frozen=True)
class Mismatch:
    """Why a stored timing could not be compared on this machine.

    Attributes:
        reason: for people and for grouping in the summary, the same text for every metric
            with the same cause: ``"onnxruntime version differs (1.31.0 stored, 1.32.0
            here)"``, ``"calibration differs (sgemm 48 vs 101 GFLOP/s, stored vs here)"``.
        detail: what the verdict's message says after "no baseline for this device: ".
        fields: the identity fields that differ, as ``(field, stored value, value here)``;
            empty when the cause is not an identity field (the calibration, an old file).
    """

    reason: str
    detail: str
    fields: tuple[tuple[str, str, str], ...] = ()


NO_BASELINE_STORED = "no baseline stored"
"""The `Verdict.not_compared` of a metric that was never recorded for this profile."""


@dataclass
class BaselineFile:
    """The content of one baseline file: its profile, entries, and the fingerprints they cite.

    Attributes:
        profile: the device profile the file is for (``tx2``, ``orin``, ``gpu``, ``cpu``).
        entries: by `Entry.key`.
        fingerprints: fingerprint id -> the full fingerprint (what the id stands for).
        path: where it was read from (for messages), if anywhere.
        schema: the schema it was read in (`SCHEMA_VERSION` for a new or merged file).
    """

    profile: str
    entries: dict[tuple[str, str, str], Entry] = field(default_factory=dict)
    fingerprints: dict[str, dict[str, str]] = field(default_factory=dict)
    path: Path | None = None
    schema: int = SCHEMA_VERSION

    @property
    def migration_note(self) -> str | None:
        """One line for a file read from an older schema whose timings will not be compared."""
        if self.schema >= SCHEMA_VERSION:
            return None
        stale = sum(e.kind == "timing" and e.calibration is None for e in self.entries.values())
        if not stale:
            return None
        return (
            f"{self.path or 'baselines'}: schema {self.schema} file: its {stale} timing "
            f"entr{'y was' if stale == 1 else 'ies were'} recorded under the old device identity "
            f"and will not be compared until re-recorded on each machine with "
            f"'{UPDATE_COMMAND}' (or 'edgecheck baselines update -- TESTS'); its exact and "
            f"ratio entries compare as before."
        )

    def why_not_this_machine(self, new: Entry, here: Mapping[str, str] | None) -> str:
        """Why the stored timings of `new`'s test and metric are not this machine's (text):
        `mismatch`'s detail."""
        return self.mismatch(new, here).detail

    def mismatch(self, new: Entry, here: Mapping[str, str] | None) -> Mismatch:
        """Why the stored timings of `new`'s test and metric are not this machine's.

        Diffs the stored identity of the closest stored fingerprint (the one with the fewest
        differing fields) with `here`, field by field: the `Mismatch` names the fields with
        both values (``"onnxruntime version differs (1.31.0 stored, 1.32.0 here)"``), or says
        the timings were recorded under the old identity (schema 1) and how to re-record them.
        """
        ids = sorted({
            e.fingerprint_id for e in self.entries.values()
            if (e.test_id, e.metric) == (new.test_id, new.metric) and e.kind == "timing"
        })  # fmt: skip
        tables = {i: self.fingerprints.get(i, {}) for i in ids}
        current = [i for i in ids if not is_old_identity(tables[i])]
        if not current:
            return Mismatch(
                "recorded under the old device identity (before schema 2)",
                "the stored timing was recorded under the old device identity (before schema "
                f"2); re-record it on this machine with '{UPDATE_COMMAND}'",
            )
        if here is None:
            return Mismatch(
                f"fingerprint differs ({', '.join(current)} stored, {new.fingerprint_id} here)",
                f"different machine: fingerprint {', '.join(current)} vs {new.fingerprint_id} "
                "(recorded vs here)",
            )
        diffs = {i: tuple(identity_diff(tables[i], here)) for i in current}
        closest = current[0]  # the first of those with the fewest differing fields
        for i in current[1:]:
            if len(diffs[i]) < len(diffs[closest]):
                closest = i
        fields = diffs[closest]
        if not fields:  # same identity fields, other id: the id's recipe changed
            return Mismatch(
                f"fingerprint differs ({closest} stored, {new.fingerprint_id} here)",
                f"different machine: fingerprint {closest} vs {new.fingerprint_id} "
                "(recorded vs here)",
            )
        return Mismatch(
            ", ".join(describe_difference(*f) for f in fields),
            "different machine: "
            f"{', '.join(identity_differences(tables[closest], here))} (recorded vs here)",
            fields,
        )

    def lookup(self, test_id: str, metric: str, fingerprint_id: str) -> tuple[Entry | None, bool]:
        """The entry to compare a new measurement with, and whether it is for another device.

        Returns ``(entry, False)`` when one applies, ``(None, True)`` when only timings from
        other fingerprints exist (so: no baseline for this device), ``(None, False)`` when the
        metric was never recorded.
        """
        for kind_key in (fingerprint_id, ""):
            entry = self.entries.get((test_id, metric, kind_key))
            if entry is not None and (entry.kind == "timing") == (kind_key != ""):
                return entry, False
        other = any(k[0] == test_id and k[1] == metric for k in self.entries)
        return None, other

    def merged(
        self, new: Iterable[Entry], fingerprints: Mapping[str, Mapping[str, str]]
    ) -> BaselineFile:
        """A copy with `new` entries added or replacing theirs; the rest kept as they are.

        An entry whose numbers did not change keeps its stored recording time, so re-recording
        an unchanged exact metric leaves the file byte-identical.
        """
        entries = dict(self.entries)
        for entry in new:
            old = entries.get(entry.key)
            entries[entry.key] = old if old is not None and old.same_measurement(entry) else entry
        prints = {k: dict(v) for k, v in self.fingerprints.items()}
        for key, value in fingerprints.items():
            prints[key] = dict(value)
        used = {e.fingerprint_id for e in entries.values()}
        prints = {k: v for k, v in prints.items() if k in used}
        return BaselineFile(self.profile, entries, prints, self.path, SCHEMA_VERSION)

    def without(self, keys: Iterable[tuple[str, str, str]]) -> BaselineFile:
        """A copy with the entries of `keys` removed."""
        drop = set(keys)
        entries = {k: e for k, e in self.entries.items() if k not in drop}
        used = {e.fingerprint_id for e in entries.values()}
        prints = {k: v for k, v in self.fingerprints.items() if k in used}
        return BaselineFile(self.profile, entries, prints, self.path, SCHEMA_VERSION)

    def to_json(self) -> str:
        """The file's text: sorted keys, one field per line, each sample list on one line."""
        lines = ["{", '  "entries": [']
        ordered = [self.entries[k] for k in sorted(self.entries)]
        for i, entry in enumerate(ordered):
            items = sorted(entry.as_dict().items())
            body = ",\n".join(
                f"      {json.dumps(k)}: {json.dumps(v, sort_keys=True)}" for k, v in items
            )
            lines.append("    {\n" + body + "\n    }" + ("," if i < len(ordered) - 1 else ""))
        lines.append("  ],")
        prints = json.dumps(self.fingerprints, indent=2, sort_keys=True).replace("\n", "\n  ")
        lines.append(f'  "fingerprints": {prints},')
        lines.append(f'  "profile": {json.dumps(self.profile)},')
        lines.append(f'  "schema": {SCHEMA_VERSION}')
        lines.append("}")
        return "\n".join(lines) + "\n"


def parse_baseline(
    text: str, *, path: str | os.PathLike[str], profile: str | None = None
) -> BaselineFile:
    """Parse and validate a baseline file's text. Pure: no I/O.

    Args:
        text: the file's content.
        path: its path, named in every error.
        profile: the profile the caller expects; a file for another profile is an error.

    Raises:
        BaselineError: not JSON, a schema newer (or older) than this edgecheck reads, another
            profile, a malformed or duplicated entry. The message names the file, the entry
            (test id :: metric) and the field, and says what to do.
    """
    where = str(path)
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise BaselineError(
            f"{where}: not valid JSON ({exc.msg} at line {exc.lineno} column {exc.colno}); "
            f"restore it from git ('git checkout -- {where}') or delete it and re-record with "
            f"'pytest --edgecheck-update-baselines'."
        ) from None
    if not isinstance(raw, dict):
        raise BaselineError(f"{where}: the top level must be a JSON object with 'schema', "
                            f"'profile' and 'entries'.")  # fmt: skip
    schema = raw.get("schema")
    if isinstance(schema, bool) or not isinstance(schema, int):
        raise BaselineError(
            f"{where}: field 'schema' is {schema!r}; expected the integer {SCHEMA_VERSION}. "
            f"Is this an edgecheck baseline file?"
        )
    if schema > SCHEMA_VERSION:
        raise BaselineError(
            f"{where}: schema {schema} is newer than this edgecheck reads ({SCHEMA_VERSION}); "
            f"upgrade edgecheck ('pip install -U pytest-edgecheck') to read it. The file is left as is."
        )
    if schema < OLDEST_READABLE_SCHEMA:
        raise BaselineError(
            f"{where}: schema {schema} is older than this edgecheck reads "
            f"({OLDEST_READABLE_SCHEMA} to {SCHEMA_VERSION}); re-record it with "
            f"'{UPDATE_COMMAND}'."
        )
    unknown = sorted(set(raw) - {"schema", "profile", "entries", "fingerprints"})
    if unknown:
        raise BaselineError(f"{where}: unknown top-level field(s) {', '.join(unknown)}.")
    file_profile = raw.get("profile")
    if not isinstance(file_profile, str) or not file_profile:
        raise BaselineError(f"{where}: field 'profile' must name the device profile, e.g. \"cpu\".")
    if profile is not None and file_profile != profile:
        raise BaselineError(
            f"{where}: this baseline is for profile '{file_profile}', but this run is on "
            f"profile '{profile}'; point --edgecheck-baselines at the right folder or rename "
            f"the file to {file_profile}.json."
        )
    entries_raw = raw.get("entries")
    if not isinstance(entries_raw, list):
        raise BaselineError(f"{where}: field 'entries' must be a list of entries.")
    prints_raw = raw.get("fingerprints", {})
    if not isinstance(prints_raw, dict) or not all(
        isinstance(v, dict) and all(isinstance(x, str) for x in v.values())
        for v in prints_raw.values()
    ):
        raise BaselineError(f"{where}: field 'fingerprints' must map ids to string tables.")
    entries: dict[tuple[str, str, str], Entry] = {}
    for i, item in enumerate(entries_raw):
        entry = Entry.from_dict(item, where=f"{where}, entry {i}")
        if entry.key in entries:
            extra = f" on fingerprint {entry.fingerprint_id}" if entry.kind == "timing" else ""
            raise BaselineError(
                f"{where}, entry {i} ({entry.label}): duplicated test id and metric{extra}; "
                f"the first is entry {list(entries).index(entry.key)}. Keep one of them."
            )
        entries[entry.key] = entry
    return BaselineFile(
        file_profile, entries, {k: dict(v) for k, v in prints_raw.items()}, Path(path), schema
    )


# --------------------------------------------------------------------------------------- storage


class BaselineStore(Protocol):
    """Where baseline files live. `fetch` never writes; `save` merges into what is stored."""

    def fetch(self, profile: str) -> BaselineFile:
        """The stored file for `profile` (empty when there is none)."""
        ...

    def save(
        self,
        profile: str,
        entries: Iterable[Entry],
        fingerprints: Mapping[str, Mapping[str, str]] = ...,
    ) -> Path:
        """Add or replace `entries`, keep every other stored entry; returns the file written."""
        ...

    def delete(self, profile: str, keys: Iterable[tuple[str, str, str]]) -> Path:
        """Remove the entries with these keys; returns the file written."""
        ...


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``<path>.lock`` (a sidecar, because the rename in
    `write_atomic` replaces the file itself, and a lock on a replaced inode locks nothing)."""
    import fcntl  # POSIX; imported here so that the module imports everywhere

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


class DirectoryStore:
    """One file per profile, ``<root>/<profile>.json``.

    Writes read the file again under an exclusive lock, merge, and replace it atomically, so
    concurrent updaters (two CI jobs, xdist workers) lose no entry, and a reader never sees half
    a file. A file that does not parse is never rewritten: `save` raises instead.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path(self, profile: str) -> Path:
        """The file that holds `profile`'s baselines."""
        return self.root / f"{profile}.json"

    def fetch(self, profile: str) -> BaselineFile:
        path = self.path(profile)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return BaselineFile(profile, path=path)
        except UnicodeDecodeError:
            raise BaselineError(
                f"{path}: not UTF-8 text; restore it from git or delete it and re-record."
            ) from None
        return parse_baseline(text, path=path, profile=profile)

    def _rewrite(self, profile: str, change: Any) -> Path:
        path = self.path(profile)
        with _locked(path):
            current = self.fetch(profile)  # raises on a corrupt file, which stays untouched
            updated = change(current)
            text = updated.to_json()
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                write_atomic(path, text)
        return path

    def save(
        self,
        profile: str,
        entries: Iterable[Entry],
        fingerprints: Mapping[str, Mapping[str, str]] | None = None,
    ) -> Path:
        new = list(entries)
        return self._rewrite(profile, lambda current: current.merged(new, fingerprints or {}))

    def delete(self, profile: str, keys: Iterable[tuple[str, str, str]]) -> Path:
        drop = list(keys)
        return self._rewrite(profile, lambda current: current.without(drop))


class ReadOnlyStore:
    """A store that can be read but not written: baselines shared from CI, or a dry run."""

    def __init__(self, inner: BaselineStore) -> None:
        self.inner = inner

    def fetch(self, profile: str) -> BaselineFile:
        return self.inner.fetch(profile)

    def save(self, profile: str, entries: Iterable[Entry], fingerprints: Any = None) -> Path:
        raise BaselineError(f"baselines for '{profile}' are read-only here; nothing was written.")

    def delete(self, profile: str, keys: Iterable[tuple[str, str, str]]) -> Path:
        raise BaselineError(f"baselines for '{profile}' are read-only here; nothing was deleted.")


# ---------------------------------------------------------------------------------- the verdict


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


def diff_files(
    old: BaselineFile, new: BaselineFile
) -> list[tuple[str, Entry | None, Entry | None]]:
    """What changed from `old` to `new`: ``(change, old_entry, new_entry)`` sorted by key, with
    change one of ``"added"``, ``"removed"``, ``"changed"`` (numbers or rules differ)."""
    out: list[tuple[str, Entry | None, Entry | None]] = []
    for key in sorted(set(old.entries) | set(new.entries)):
        a, b = old.entries.get(key), new.entries.get(key)
        if a is None:
            out.append(("added", None, b))
        elif b is None:
            out.append(("removed", a, None))
        elif not a.same_measurement(b):
            out.append(("changed", a, b))
    return out

"""The performance history: one SQLite file that every recorded run is appended to.

Per run it holds the commit, branch and time, the device identity (the identity fields of
`edgecheck.identity` and their fingerprint id) and the calibration (`edgecheck.bench.
calibration`); per metric of the run the test id, metric, kind, unit, direction, tolerance and
confidence, median, spread (IQR), the median's interval (low, high), n and the raw samples
(JSON). What a run records is
the baselines' `Entry` (one per test and metric) plus that interval: a `Point`.

The file is SQLite (stdlib ``sqlite3``) in WAL mode, so readers never block the writer, with a
busy timeout, so concurrent writers (two CI jobs on one runner, xdist workers) wait for each
other instead of failing, and every write is one ``BEGIN IMMEDIATE`` transaction: a run is
stored whole or not at all, and none is lost (`tests/unit/test_history_store.py` has two
processes append at once; `benchmarks/history.py` 500 runs each).

The schema version lives in the ``meta`` table. A file that is not SQLite, an SQLite file
without that table (someone else's database), or a schema newer than this edgecheck reads is
an error naming the file and what to do; such a file is never written to (no table created,
not even the switch to WAL). ``export`` / ``import`` move runs as JSON Lines: a header line,
then one run per line; an import skips runs already stored (each run has a unique id).
"""

from __future__ import annotations

import contextlib
import functools
import json
import math
import os
import sqlite3
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, Any, TypeVar, cast

from edgecheck.baselines import Entry
from edgecheck.bench.calibration import Calibration
from edgecheck.errors import EdgecheckError

SCHEMA_VERSION = 1
APPLICATION = "edgecheck-history"
EXPORT_HEADER = "edgecheck_history"
# How long a writer waits for another one's transaction before giving up (seconds).
BUSY_TIMEOUT_S = 60.0
_SQLITE_MAGIC = b"SQLite format 3\x00"

_TABLES = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL UNIQUE,
    commit_id TEXT NOT NULL,
    branch TEXT NOT NULL,
    time TEXT NOT NULL,
    profile TEXT NOT NULL,
    fingerprint_id TEXT NOT NULL,
    identity TEXT NOT NULL,
    calibration TEXT
);
CREATE INDEX IF NOT EXISTS runs_by_time ON runs (time, id);
CREATE TABLE IF NOT EXISTS metrics (
    run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    test_id TEXT NOT NULL,
    metric TEXT NOT NULL,
    kind TEXT NOT NULL,
    unit TEXT NOT NULL,
    direction TEXT NOT NULL,
    tolerance REAL NOT NULL,
    confidence REAL NOT NULL,
    median REAL NOT NULL,
    spread REAL NOT NULL,
    low REAL NOT NULL,
    high REAL NOT NULL,
    n INTEGER NOT NULL,
    samples TEXT NOT NULL,
    PRIMARY KEY (run_id, test_id, metric)
);
CREATE INDEX IF NOT EXISTS metrics_by_name ON metrics (test_id, metric);
"""


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


_F = TypeVar("_F", bound=Callable[..., Any])


def _guarded(method: _F) -> _F:
    """Turn SQLite's errors inside `method` into a `HistoryError` naming the file."""

    @functools.wraps(method)
    def wrapper(self: HistoryStore, *args: Any, **kwargs: Any) -> Any:
        with self.guard():
            return method(self, *args, **kwargs)

    return cast(_F, wrapper)


class HistoryStore:
    """The SQLite history file at `path` (see the module docstring).

    Args:
        path: the file.
        create: make the file (and its folder) when it does not exist; without it a missing
            file is an error (the reading commands never create one).
        timeout: seconds a writer waits for another writer's transaction.

    Raises:
        HistoryError: missing (without `create`), not SQLite, SQLite without edgecheck's
            history schema, a newer schema. The file is left exactly as it was.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, create: bool = False,
        timeout: float = BUSY_TIMEOUT_S,
    ) -> None:  # fmt: skip
        self.path = Path(path)
        self.timeout = timeout
        self._db = self._open(create, timeout)

    # ------------------------------------------------------------------------------ opening

    def _open(self, create: bool, timeout: float) -> sqlite3.Connection:
        where = str(self.path)
        try:
            with open(self.path, "rb") as fh:
                head = fh.read(len(_SQLITE_MAGIC))
        except FileNotFoundError:
            if not create:
                raise HistoryError(
                    f"{where}: no history store there; record runs into it first "
                    f"(edgecheck.history.record_run or 'edgecheck history import') or point "
                    f"--store at an existing one."
                ) from None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            head = b""
        except IsADirectoryError:
            raise HistoryError(f"{where}: is a folder; --store takes the history file.") from None
        if head and head != _SQLITE_MAGIC:
            raise HistoryError(
                f"{where}: not an SQLite file, so not an edgecheck history store; it was left "
                f"as is. Point --store at the history file, or move this file away to start a "
                f"new history there."
            )
        db = sqlite3.connect(where, timeout=timeout, isolation_level=None)
        try:
            tables = self._tables(db)
            if tables:
                self._check_ours(db, tables)
            elif not create:
                raise HistoryError(
                    f"{where}: an empty SQLite database, no edgecheck history in it yet; "
                    f"record runs into it first."
                )
            if create:
                self._initialise(db)
        except BaseException:
            db.close()
            raise
        return db

    def _tables(self, db: sqlite3.Connection) -> set[str]:
        rows: list[tuple[str]] = []

        def read() -> None:
            rows[:] = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()

        try:
            _when_unlocked(read, self.timeout)  # another writer may be switching it to WAL
        except sqlite3.DatabaseError as exc:
            raise HistoryError(
                f"{self.path}: the SQLite file cannot be read ({exc}); it is corrupt or not "
                f"edgecheck's. It was left as is: restore it from a copy or an export "
                f"('edgecheck history import'), or move it away to start a new history."
            ) from None
        return {name for (name,) in rows}

    def _check_ours(self, db: sqlite3.Connection, tables: set[str]) -> None:
        where = str(self.path)
        meta: dict[str, str] = {}
        if "meta" in tables:
            try:
                meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
            except sqlite3.DatabaseError:
                meta = {}
        if meta.get("application") != APPLICATION:
            shown = ", ".join(sorted(tables)[:5])
            raise HistoryError(
                f"{where}: an SQLite database without edgecheck's history schema (tables: "
                f"{shown}); it was left as is. Point --store at the history file, or at a new "
                f"path to start a history."
            )
        try:
            schema = int(meta.get("schema", ""))
        except ValueError:
            raise HistoryError(
                f"{where}: its schema version {meta.get('schema')!r} is not a number; the "
                f"file is damaged. It was left as is: restore it from a copy or an export."
            ) from None
        if schema > SCHEMA_VERSION:
            raise HistoryError(
                f"{where}: history schema {schema} is newer than this edgecheck reads "
                f"({SCHEMA_VERSION}); upgrade edgecheck ('pip install -U pytest-edgecheck') to "
                f"use it. The file was left as is."
            )

    def _initialise(self, db: sqlite3.Connection) -> None:
        """WAL mode and the tables (only on an empty database or one that is ours)."""
        # Switching to WAL takes an exclusive lock without waiting in SQLite's busy handler:
        # two writers creating one store at once got "database is locked" here (seen in CI).
        _when_unlocked(lambda: db.execute("PRAGMA journal_mode = WAL"), self.timeout)
        with _transaction(db):
            tables = self._tables(db)  # again, under the write lock: another writer may
            if tables:  # have created them since the first look
                self._check_ours(db, tables)
                return
            for statement in _TABLES.split(";"):
                if statement.strip():
                    db.execute(statement)
            db.executemany(
                "INSERT INTO meta (key, value) VALUES (?, ?)",
                [("application", APPLICATION), ("schema", str(SCHEMA_VERSION))],
            )

    @contextlib.contextmanager
    def guard(self) -> Iterator[None]:
        """SQLite errors inside become one `HistoryError` naming the file and what to do: a
        store another process held past the busy timeout, or a damaged file (left as is)."""
        try:
            yield
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                raise HistoryError(
                    f"{self.path}: another process held the store for over {self.timeout:g} s "
                    f"({exc}); nothing was changed, try again when it is done."
                ) from None
            raise self._damaged(exc) from None
        except sqlite3.DatabaseError as exc:
            raise self._damaged(exc) from None

    def _damaged(self, exc: Exception) -> HistoryError:
        return HistoryError(
            f"{self.path}: the SQLite file is damaged ({exc}); it was left as is: restore it "
            f"from a copy or an export ('edgecheck history import'), or move it away to start "
            f"a new history."
        )

    def close(self) -> None:
        """Close the connection (the file stays consistent whether or not this is called)."""
        self._db.close()

    def __enter__(self) -> HistoryStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------------------ writing

    @_guarded
    def append(self, run: Run) -> bool:
        """Store `run` whole, in one transaction; False when a run with its uid is stored."""
        with _transaction(self._db):
            return self._insert(run)

    @_guarded
    def append_many(self, runs: Iterable[Run]) -> int:
        """Store `runs` in one transaction (all or none); returns how many were new."""
        with _transaction(self._db):
            return sum(self._insert(run) for run in runs)

    def _insert(self, run: Run) -> bool:
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO runs (uid, commit_id, branch, time, profile, fingerprint_id, "
            "identity, calibration) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                run.uid, run.commit, run.branch, run.time, run.profile, run.fingerprint_id,
                json.dumps(dict(run.identity), sort_keys=True),
                json.dumps(run.calibration.as_dict()) if run.calibration else None,
            ),
        )  # fmt: skip
        if cursor.rowcount == 0:
            return False
        run_id = cursor.lastrowid
        self._db.executemany(
            "INSERT INTO metrics (run_id, test_id, metric, kind, unit, direction, tolerance, "
            "confidence, median, spread, low, high, n, samples) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    run_id, p.entry.test_id, p.entry.metric, p.entry.kind, p.entry.unit,
                    p.entry.direction, p.entry.tolerance, p.entry.confidence, p.entry.value,
                    p.entry.spread, p.low, p.high,
                    p.entry.n, json.dumps(list(p.entry.samples)),
                )
                for p in run.metrics
            ],
        )  # fmt: skip
        return True

    # ------------------------------------------------------------------------------ reading

    @_guarded
    def count(self) -> int:
        """How many runs are stored."""
        return int(self._db.execute("SELECT COUNT(*) FROM runs").fetchone()[0])

    def runs(self) -> Iterator[Run]:
        """Every run with its metrics, oldest first (by time, then order of storing)."""
        with self.guard():
            yield from self._runs()

    def _runs(self) -> Iterator[Run]:
        rows = self._db.execute(
            "SELECT id, uid, commit_id, branch, time, profile, fingerprint_id, identity, "
            "calibration FROM runs ORDER BY time, id"
        ).fetchall()
        for rid, uid, commit, branch, time, profile, fid, identity, calibration in rows:
            where = f"{self.path}, run {uid}"
            cal = (
                Calibration.from_dict(json.loads(calibration), where=where) if calibration else None
            )
            header = {"fingerprint_id": fid, "time": time, "calibration": cal}
            metric_rows = self._db.execute(
                "SELECT test_id, metric, kind, unit, direction, tolerance, confidence, median, "
                "spread, low, high, n, samples FROM metrics WHERE run_id = ? "
                "ORDER BY test_id, metric",
                (rid,),
            ).fetchall()
            names = ("test_id", "metric", "kind", "unit", "direction", "tolerance",
                     "confidence", "median", "spread", "low", "high", "n", "samples")  # fmt: skip
            points = tuple(
                make_point(
                    dict(zip(names, (*r[:12], json.loads(r[12])), strict=True)),
                    header,
                    where=where,
                )
                for r in metric_rows
            )
            yield Run(commit, branch, time, profile, fid, json.loads(identity), cal, points, uid)

    @_guarded
    def metric_names(self) -> list[tuple[str, str, str, int]]:
        """Every (test id, metric, kind, number of runs) stored, sorted."""
        rows = self._db.execute(
            "SELECT test_id, metric, kind, COUNT(*) FROM metrics "
            "GROUP BY test_id, metric, kind ORDER BY test_id, metric"
        ).fetchall()
        return [(t, m, k, int(c)) for t, m, k, c in rows]

    @_guarded
    def fingerprints(self, test_id: str, metric: str) -> dict[str, int]:
        """Fingerprint id -> how many runs of that device recorded the metric."""
        rows = self._db.execute(
            "SELECT r.fingerprint_id, COUNT(*) FROM metrics m JOIN runs r ON r.id = m.run_id "
            "WHERE m.test_id = ? AND m.metric = ? GROUP BY r.fingerprint_id",
            (test_id, metric),
        ).fetchall()
        return {f: int(c) for f, c in rows}

    @_guarded
    def series(
        self, test_id: str, metric: str, *, fingerprint_id: str | None = None,
        branch: str | None = None,
    ) -> list[SeriesPoint]:  # fmt: skip
        """The metric's value per run, oldest first; only one device's and/or branch's runs
        when `fingerprint_id` / `branch` are given."""
        query = (
            "SELECT r.commit_id, r.branch, r.time, r.fingerprint_id, r.uid, m.median, m.low, "
            "m.high, m.n, m.unit, m.direction, m.kind, m.tolerance FROM metrics m "
            "JOIN runs r ON r.id = m.run_id WHERE m.test_id = ? AND m.metric = ?"
        )
        params: list[Any] = [test_id, metric]
        if fingerprint_id is not None:
            query += " AND r.fingerprint_id = ?"
            params.append(fingerprint_id)
        if branch is not None:
            query += " AND r.branch = ?"
            params.append(branch)
        rows = self._db.execute(query + " ORDER BY r.time, r.id", params).fetchall()
        return [SeriesPoint(*row) for row in rows]

    # ------------------------------------------------------------------------ export, import

    def export_jsonl(self, out: IO[str]) -> int:
        """Write every run as JSON Lines (a header line first); returns how many runs."""
        out.write(json.dumps({EXPORT_HEADER: SCHEMA_VERSION}) + "\n")
        count = 0
        for run in self.runs():
            out.write(json.dumps(run.as_dict(), sort_keys=True) + "\n")
            count += 1
        return count

    def import_jsonl(self, lines: Iterable[str], *, where: str) -> tuple[int, int]:
        """Store the runs of an export (all or none); returns (new runs, runs already stored).

        Raises:
            HistoryError: a line that is not JSON or not a run, a missing header or a newer
                schema; `where` (the file) and the line number are in the message. Nothing
                is stored then.
        """
        runs = parse_export(lines, where=where)
        added = self.append_many(runs)
        return added, len(runs) - added


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


def _when_unlocked(step: Callable[[], object], timeout: float) -> None:
    """Run `step`, again after a short wait while SQLite says the database is locked, for
    at most `timeout` seconds (then the last error is raised)."""
    import random
    import time

    deadline = time.monotonic() + timeout
    while True:
        try:
            step()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() > deadline:
                raise
            time.sleep(0.005 + 0.02 * random.random())


class _transaction:
    """``BEGIN IMMEDIATE`` ... ``COMMIT``, rolled back on any error (a context manager)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type: object, *rest: object) -> None:
        if exc_type is None:
            self.db.execute("COMMIT")
        else:
            self.db.execute("ROLLBACK")


__all__ = [
    "SCHEMA_VERSION", "HistoryError", "HistoryStore", "Point", "Run",
    "SeriesPoint", "make_point", "now_utc", "parse_export",
]  # fmt: skip

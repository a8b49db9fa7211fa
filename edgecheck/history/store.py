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
stored whole or not at all, and none is lost (`tests/unit/history/test_history_store.py` has two
processes append at once; `benchmarks/history.py` 500 runs each).

The schema version lives in the ``meta`` table. A file that is not SQLite, an SQLite file
without that table (someone else's database), or a schema newer than this edgecheck reads is
an error naming the file and what to do; such a file is never written to (no table created,
not even the switch to WAL). ``export`` / ``import`` move runs as JSON Lines: a header line,
then one run per line; an import skips runs already stored (each run has a unique id).

What a run holds (`Run`, `Point`, `SeriesPoint`) and the export format are in
`edgecheck.history.runs`; their names are importable from here too.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar, cast

from edgecheck.bench.calibration import Calibration
from edgecheck.history.runs import (
    EXPORT_HEADER,
    SCHEMA_VERSION,
    HistoryError,
    Point,
    Run,
    SeriesPoint,
    make_point,
    now_utc,
    parse_export,
)
from edgecheck.history.transactions import immediate_transaction, when_unlocked

APPLICATION = "edgecheck-history"
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
            when_unlocked(read, self.timeout)  # another writer may be switching it to WAL
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
        when_unlocked(lambda: db.execute("PRAGMA journal_mode = WAL"), self.timeout)
        with immediate_transaction(db):
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
        with immediate_transaction(self._db):
            return self._insert(run)

    @_guarded
    def append_many(self, runs: Iterable[Run]) -> int:
        """Store `runs` in one transaction (all or none); returns how many were new."""
        with immediate_transaction(self._db):
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


__all__ = [
    "SCHEMA_VERSION", "HistoryError", "HistoryStore", "Point", "Run",
    "SeriesPoint", "make_point", "now_utc", "parse_export",
]  # fmt: skip

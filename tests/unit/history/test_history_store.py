"""The history store: runs stored whole, export/import, foreign files left alone, and two
processes appending at once (real processes, one real SQLite file)."""

from __future__ import annotations

import hashlib
import io
import json
import multiprocessing
import sqlite3
import time
from pathlib import Path

import pytest
from fake_machines import fake_machine

from edgecheck import device
from edgecheck.baselines import Entry
from edgecheck.bench.calibration import Calibration
from edgecheck.history.record import record_run
from edgecheck.history.store import (
    SCHEMA_VERSION,
    HistoryError,
    HistoryStore,
    Point,
    Run,
    parse_export,
)

CAL = Calibration(sgemm_gflops=95.0, read_gbps=25.0)


def no_cuda() -> device.CudaState:
    return (False, None, None)


@pytest.fixture
def machine(tmp_path: Path) -> device.DeviceInfo:
    return device.detect_device(root=fake_machine(tmp_path, "epyc-avx512-vnni"), cuda_probe=no_cuda)


def entries(info: device.DeviceInfo, latency: float) -> list[Entry]:
    return [
        Entry.measured("t.py::test_macs", "conv_macs", 15_347_000_000, unit="MACs"),
        Entry.measured(
            "t.py::test_speed", "latency", [latency * f for f in (0.98, 1.0, 1.01, 1.03, 0.99)],
            kind="timing", unit="s", fingerprint_id=info.fingerprint_id, calibration=CAL,
        ),
    ]  # fmt: skip


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_record_run_stores_the_run_whole(tmp_path: Path, machine: device.DeviceInfo) -> None:
    with HistoryStore(tmp_path / "h.sqlite", create=True) as store:
        run = record_run(store, entries(machine, 0.020), "abc123", "main", machine)
        record_run(
            store, entries(machine, 0.021), "def456", "main", machine, time="2099-01-01T00:00:00Z"
        )
        stored = list(store.runs())
    assert [r.commit for r in stored] == ["abc123", "def456"]
    assert stored[0] == run
    first = stored[0]
    assert first.fingerprint_id == machine.fingerprint_id
    assert dict(first.identity) == machine.identity and first.profile == machine.profile
    assert first.calibration == CAL  # taken from the timing entry
    timing = next(p for p in first.metrics if p.entry.kind == "timing")
    assert timing.entry.value == pytest.approx(0.020)
    assert timing.low < timing.entry.value < timing.high  # the median's bootstrap interval
    assert timing.entry.n == 5 and len(timing.entry.samples) == 5
    exact = next(p for p in first.metrics if p.entry.kind == "exact")
    assert exact.low == exact.high == exact.entry.value and exact.entry.calibration is None
    with HistoryStore(tmp_path / "h.sqlite") as store:
        series = store.series("t.py::test_speed", "latency")
        assert [s.commit for s in series] == ["abc123", "def456"]
        assert series[1].value == pytest.approx(0.021) and series[1].unit == "s"
        assert store.series("t.py::test_speed", "latency", fingerprint_id="other") == []
        assert store.metric_names() == [
            ("t.py::test_macs", "conv_macs", "exact", 2),
            ("t.py::test_speed", "latency", "timing", 2),
        ]
        assert store.fingerprints("t.py::test_speed", "latency") == {machine.fingerprint_id: 2}


def test_record_run_refuses_what_is_not_one_run(tmp_path: Path, machine: device.DeviceInfo) -> None:
    with HistoryStore(tmp_path / "h.sqlite", create=True) as store:
        with pytest.raises(HistoryError, match="no metrics"):
            record_run(store, [], "abc", "main", machine)
        with pytest.raises(HistoryError, match="commit is empty"):
            record_run(store, entries(machine, 0.02), "", "main", machine)
        alien = Entry.measured("t.py::x", "fps", [30.0, 31.0], kind="timing",
                               direction="higher", fingerprint_id="0123456789ab")  # fmt: skip
        with pytest.raises(HistoryError, match="measured on fingerprint 0123456789ab"):
            record_run(store, [alien], "abc", "main", machine)
        twice = entries(machine, 0.02)[:1] * 2
        with pytest.raises(HistoryError, match="appears twice"):
            record_run(store, twice, "abc", "main", machine)
        assert store.count() == 0


def test_export_import_round_trip(tmp_path: Path, machine: device.DeviceInfo) -> None:
    with HistoryStore(tmp_path / "a.sqlite", create=True) as a:
        for i in range(3):
            record_run(a, entries(machine, 0.02 + i / 1000), f"c{i}", "main", machine,
                       time=f"2026-01-0{i + 1}T00:00:00Z")  # fmt: skip
        out = io.StringIO()
        assert a.export_jsonl(out) == 3
        original = list(a.runs())
    lines = out.getvalue().splitlines()
    assert json.loads(lines[0]) == {"edgecheck_history": SCHEMA_VERSION} and len(lines) == 4
    with HistoryStore(tmp_path / "b.sqlite", create=True) as b:
        assert b.import_jsonl(lines, where="x.jsonl") == (3, 0)
        assert b.import_jsonl(lines, where="x.jsonl") == (0, 3)  # the same runs: skipped
        assert list(b.runs()) == original


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", "line 2: not JSON"),
        ('{"uid": "u"}', "line 2: a run has the fields"),
        ("[1, 2]", "line 2: a run must be a JSON object"),
    ],
)
def test_import_names_the_bad_line_and_stores_nothing(
    tmp_path: Path, machine: device.DeviceInfo, line: str, message: str
) -> None:
    with HistoryStore(tmp_path / "a.sqlite", create=True) as a:
        record_run(a, entries(machine, 0.02), "c0", "main", machine)
        out = io.StringIO()
        a.export_jsonl(out)
    good = out.getvalue().splitlines()
    with HistoryStore(tmp_path / "b.sqlite", create=True) as b:
        with pytest.raises(HistoryError, match=message):
            b.import_jsonl([good[0], line, good[1]], where="x.jsonl")
        assert b.count() == 0
    with pytest.raises(HistoryError, match="x.jsonl line 1: not an edgecheck history export"):
        parse_export(good[1:], where="x.jsonl")
    with pytest.raises(HistoryError, match="newer than this edgecheck"):
        parse_export(['{"edgecheck_history": 99}'], where="x.jsonl")
    bad = json.loads(good[1])
    bad["metrics"][0]["direction"] = "sideways"
    with pytest.raises(HistoryError, match="line 2, metric 0 .*direction"):
        parse_export([good[0], json.dumps(bad)], where="x.jsonl")


def _foreign_sqlite(path: Path) -> None:
    db = sqlite3.connect(path)
    db.execute("CREATE TABLE photos (id INTEGER PRIMARY KEY, name TEXT)")
    db.execute("INSERT INTO photos (name) VALUES ('cat.jpg')")
    db.commit()
    db.close()


def _newer_store(path: Path) -> None:
    HistoryStore(path, create=True).close()
    db = sqlite3.connect(path)
    db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")
    db.commit()
    db.close()


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_text("commit,median\nabc,0.02\n"), "not an SQLite file"),
        (lambda p: p.write_bytes(b"SQLite format 3\x00" + b"\xff" * 200), "cannot be read"),
        (_foreign_sqlite, "without edgecheck's history schema \\(tables: photos\\)"),
        (_newer_store, "history schema 99 is newer than this edgecheck reads"),
    ],
    ids=["csv", "truncated", "foreign-sqlite", "newer-schema"],
)
@pytest.mark.parametrize("create", [False, True], ids=["read", "write"])
def test_foreign_or_newer_file_is_an_error_and_left_alone(
    tmp_path: Path, make: object, message: str, create: bool
) -> None:
    path = tmp_path / "history.sqlite"
    make(path)  # type: ignore[operator]
    before = digest(path)
    with pytest.raises(HistoryError, match=message) as info:
        HistoryStore(path, create=create)
    assert str(path) in str(info.value) and "left as is" in str(info.value)
    assert digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["history.sqlite"]


def test_a_missing_store_is_created_only_when_asked(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "h.sqlite"
    with pytest.raises(HistoryError, match="no history store there"):
        HistoryStore(path)
    assert not path.exists()
    HistoryStore(path, create=True).close()
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    assert dict(db.execute("SELECT key, value FROM meta")) == {
        "application": "edgecheck-history", "schema": str(SCHEMA_VERSION),
    }  # fmt: skip
    db.close()
    with HistoryStore(path) as store:
        assert store.count() == 0


# -------------------------------------------------------------------------------- concurrency

RUNS_PER_WRITER = 500  # 1,000 runs in about 5 s here
METRICS_PER_RUN = 3


def small_run(writer: int, i: int) -> Run:
    """A small run whose numbers say who wrote it, so that a torn or mixed run shows."""
    points = tuple(
        Point(Entry(f"t.py::w{writer}", f"m{k}", value=float(i * 10 + k), n=1), i, i * 10 + k)
        for k in range(METRICS_PER_RUN)
    )
    return Run(f"w{writer}-{i:04d}", "main", f"2026-01-01T00:00:{i % 60:02d}Z", "cpu",
               "fid", {"cpu_family": "25"}, None, points)  # fmt: skip


def append_runs(path: str, writer: int, count: int, start: object) -> None:
    start.wait()  # type: ignore[attr-defined]
    try:
        with HistoryStore(path, create=True) as store:
            for i in range(count):
                store.append(small_run(writer, i))
    except BaseException:
        # The parent sees only an exit code; the reason goes where its assertion reads it.
        import traceback

        Path(f"{path}.writer{writer}.error").write_text(traceback.format_exc())
        raise


def check_all_runs_whole(path: Path, writers: int, count: int) -> None:
    with HistoryStore(path) as store:
        runs = list(store.runs())
    assert len(runs) == writers * count
    assert len({r.uid for r in runs}) == writers * count
    assert sorted(r.commit for r in runs) == sorted(
        f"w{w}-{i:04d}" for w in range(writers) for i in range(count)
    )
    for run in runs:
        writer, i = int(run.commit[1]), int(run.commit[3:])
        assert [(p.entry.test_id, p.entry.metric, p.entry.value, p.high) for p in run.metrics] == [
            (f"t.py::w{writer}", f"m{k}", float(i * 10 + k), i * 10 + k)
            for k in range(METRICS_PER_RUN)
        ]


def run_writers(path: Path, writers: int, count: int) -> float:
    """`writers` processes append `count` runs each to a store none of them has created."""
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Event()
    procs = [ctx.Process(target=append_runs, args=(str(path), w, count, start))
             for w in range(writers)]  # fmt: skip
    for p in procs:
        p.start()
    time.sleep(0.5)  # both imported and waiting: they open, create and append at once
    began = time.perf_counter()
    start.set()
    for p in procs:
        p.join(timeout=120)
    errors = [e.read_text() for e in sorted(path.parent.glob(f"{path.name}.writer*.error"))]
    assert [p.exitcode for p in procs] == [0] * writers, "\n".join(errors)
    return time.perf_counter() - began


def test_two_processes_append_at_once_and_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    run_writers(path, 2, RUNS_PER_WRITER)
    check_all_runs_whole(path, 2, RUNS_PER_WRITER)


def test_an_empty_file_is_no_history_to_read_but_can_be_started(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    path.write_bytes(b"")
    with pytest.raises(HistoryError, match="no edgecheck history in it yet"):
        HistoryStore(path)
    assert path.read_bytes() == b""
    with HistoryStore(path, create=True) as store:
        assert store.count() == 0


def test_a_damaged_file_is_an_error_naming_it_and_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    with HistoryStore(path, create=True) as store:
        store.append_many(small_run(0, i) for i in range(300))
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) > 4 * page
    data[2 * page :] = bytes(range(256)) * ((len(data) - 2 * page) // 256) + b"\0" * (
        (len(data) - 2 * page) % 256
    )
    path.write_bytes(bytes(data))
    before = digest(path)
    with (
        pytest.raises(HistoryError, match="damaged|cannot be read") as info,
        HistoryStore(path) as store,
    ):
        list(store.runs())
    assert str(path) in str(info.value) and "left as is" in str(info.value)
    assert digest(path) == before


def test_a_store_held_too_long_by_another_writer_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite"
    HistoryStore(path, create=True).close()
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process in the middle of its write
    try:
        with HistoryStore(path, timeout=0.2) as store:
            with pytest.raises(HistoryError, match="another process held the store for over 0.2 s"):
                store.append(small_run(0, 0))
            assert store.count() == 0  # readers are not blocked (WAL)
    finally:
        other.execute("ROLLBACK")
        other.close()
    with HistoryStore(path) as store:
        store.append(small_run(0, 0))
        assert store.count() == 1


def test_writers_creating_one_store_at_once_all_get_it(tmp_path: Path) -> None:
    """The race CI met: two writers switched a new file to WAL at the same moment and SQLite
    answered one "database is locked" at once (it does not wait in the busy handler where
    waiting could deadlock). The switch is retried now. Four threads create one new store
    at a barrier, 100 times (before the fix: 16 failures in 300 such rounds here)."""
    import threading

    failures: list[str] = []
    for i in range(100):
        path = tmp_path / f"h{i}.sqlite"
        barrier = threading.Barrier(4)

        def create(path: Path = path, barrier: threading.Barrier = barrier) -> None:
            barrier.wait()
            try:
                with HistoryStore(path, create=True) as store:
                    store.count()
            except Exception as exc:
                failures.append(f"{type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=create) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert not failures, failures[:3]

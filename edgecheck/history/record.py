"""`record_run`: append one run's measurements to the history (what the pytest plugin calls).

It takes what the baselines take: the `Entry` objects a run measured (the plugin keeps them in
its state as ``measured``), plus the commit, the branch and the `DeviceInfo`. Each metric gets
its median's interval, a seeded bootstrap over the entry's samples (`edgecheck.bench.stats`,
95 %), so the same samples always store the same interval.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from edgecheck.history.store import HistoryError, HistoryStore, Point, Run, now_utc

if TYPE_CHECKING:
    from edgecheck.baselines import Entry
    from edgecheck.bench.calibration import Calibration
    from edgecheck.device import DeviceInfo


def point_of(entry: Entry) -> Point:
    """The entry with its median's 95 % bootstrap interval (the value itself without samples)."""
    if len(entry.samples) < 2:
        return Point(entry, entry.value, entry.value)
    from edgecheck.bench.stats import SampleStats

    ci = SampleStats(entry.samples).ci
    return Point(entry, min(ci.low, entry.value), max(ci.high, entry.value))


def record_run(
    store: HistoryStore,
    results: Iterable[Entry],
    commit: str,
    branch: str,
    identity: DeviceInfo,
    *,
    calibration: Calibration | None = None,
    time: str | None = None,
) -> Run:
    """Append one run to `store`, whole, and return it.

    Args:
        store: the history (opened with ``create=True`` to start one).
        results: the run's measurements, one `Entry` per test and metric, as the baselines
            record them.
        commit, branch: what was measured (``git rev-parse HEAD``, the branch name).
        identity: this machine (`edgecheck.device.detect_device`): profile, identity fields
            and fingerprint id are stored with the run.
        calibration: this machine's calibration during the run; default: the one a timing
            entry carries, if any (the plugin measures it only when a timing needs it).
        time: ISO 8601 UTC; default now.

    Raises:
        HistoryError: see `make_run`.
    """
    run = make_run(
        results, commit, branch, profile=identity.profile,
        fingerprint_id=identity.fingerprint_id, identity=identity.identity,
        calibration=calibration, time=time,
    )  # fmt: skip
    store.append(run)
    return run


def make_run(
    results: Iterable[Entry],
    commit: str,
    branch: str,
    *,
    profile: str,
    fingerprint_id: str,
    identity: Mapping[str, str],
    calibration: Calibration | None = None,
    time: str | None = None,
) -> Run:
    """One run of `results` measured on the device (`profile`, `fingerprint_id`, `identity`
    fields): what `record_run` appends, and what an import of results measured elsewhere
    makes (`edgecheck.history.sources`).

    Raises:
        HistoryError: no commit, no results, a test id and metric twice, or a timing entry
            measured on another fingerprint than `fingerprint_id`.
    """
    entries = list(results)
    if not commit:
        raise HistoryError("record_run: the commit is empty; pass the commit measured.")
    if not entries:
        raise HistoryError(f"record_run: no metrics to record for commit {commit}.")
    fid = fingerprint_id
    for e in entries:
        if e.kind == "timing" and e.fingerprint_id and e.fingerprint_id != fid:
            raise HistoryError(
                f"record_run: {e.label} was measured on fingerprint {e.fingerprint_id}, this "
                f"run's device is {fid}; a timing belongs to the device that measured it."
            )
    if calibration is None:
        calibration = next((e.calibration for e in entries if e.calibration is not None), None)
    stamp = time or now_utc()
    points = []
    seen: set[tuple[str, str]] = set()
    for e in entries:
        if (e.test_id, e.metric) in seen:
            raise HistoryError(f"record_run: {e.label} appears twice in one run; keep one.")
        seen.add((e.test_id, e.metric))
        # Stored with the run's device, time and calibration (timings only), like a baseline.
        e = replace(
            e, fingerprint_id=fid, recorded=stamp,
            calibration=calibration if e.kind == "timing" else None,
        )  # fmt: skip
        points.append(point_of(e))
    return Run(
        commit=commit, branch=branch, time=stamp, profile=profile, fingerprint_id=fid,
        identity=dict(identity), calibration=calibration, metrics=tuple(points),
    )  # fmt: skip

"""What the plugin does once the run is over: write the baselines (``--edgecheck-update-
baselines``), fail a run whose stored timings were not compared (``--edgecheck-require-
timing``), write ``--edgecheck-results``."""

from __future__ import annotations

import json

import pytest

from edgecheck.plugin.state import state_of
from edgecheck.plugin.summary import not_compared_timings


def update_baselines(session: pytest.Session, exitstatus: int) -> None:
    """Write this run's measurements, unless any test failed or errored (or the run stopped)."""
    from edgecheck.errors import BaselineError

    state = state_of(session.config)
    path = state.baseline_dir / f"{state.device.profile}.json"
    timing_only = not session.config.getoption("edgecheck_update_baselines", False)
    if exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED) or (
        session.testsfailed
    ):
        state.update_outcome = (
            f"baselines NOT updated: {session.testsfailed} test(s) failed or errored "
            f"(exit status {int(exitstatus)}); {path} is unchanged. Fix them and run again."
        )
        return
    # --edgecheck-update-timing-baselines: this machine's timings only; every exact and ratio
    # entry, and every other machine's timing, stays as stored.
    entries = [e for e in state.measured if e.kind == "timing"] if timing_only else state.measured
    what = "timing metric" if timing_only else "metric"
    if not entries:
        state.update_outcome = (
            f"baselines not updated: no test recorded a {what}; {path} unchanged."
        )
        return
    device = state.device
    try:
        written = state.baseline_store.save(
            device.profile, entries, {device.fingerprint_id: device.fingerprint}
        )
    except BaselineError as exc:
        state.update_outcome = f"baselines NOT updated: {exc}"
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return
    state.update_outcome = (
        f"baselines updated: {len(entries)} metric(s) of this run written to {written}; "
        f"the other entries are kept"
    )
    if timing_only:
        state.update_outcome = (
            f"baselines updated: {len(entries)} timing metric(s) of this run written to "
            f"{written} for fingerprint {device.fingerprint_id}; every exact and ratio entry "
            f"and every other machine's timing are kept"
        )


def require_timing(session: pytest.Session) -> None:
    """--edgecheck-require-timing: fail the run when a stored timing was not compared here."""
    state = state_of(session.config)
    groups = {
        why: vs
        for why, vs in not_compared_timings(state).items()
        if vs[0].status == "other device"  # stored, but not for this machine
    }
    if not groups:
        return
    count = sum(len(vs) for vs in groups.values())
    option = session.config.getoption("edgecheck_require_timing", None)
    source = "--edgecheck-require-timing" if option else f"require_timing in {state.project.path}"
    lines = [
        f"edgecheck: FAILED ({source}): {count} stored timing metric"
        f"{' was' if count == 1 else 's were'} not compared on this machine:"
    ]
    for why, vs in groups.items():
        lines.append(f"  {why}: {', '.join(v.test_id + ' :: ' + v.metric for v in vs)}")
    baselines = state.baseline_dir / f"{state.device.profile}.json"
    lines.append(
        f"  if the change is intended (a runtime upgrade, a new runner), re-record the timings "
        f"on this machine with 'edgecheck baselines rebase' (or 'pytest "
        f"--edgecheck-update-baselines') and commit {baselines}"
    )
    state.timing_gate = "\n".join(lines)
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def write_results(session: pytest.Session) -> None:
    """--edgecheck-results PATH: every verdict of the run, the device and the measurements."""
    state = state_of(session.config)
    path = session.config.getoption("edgecheck_results", None)
    if not path:
        return
    from edgecheck._atomic import write_atomic
    from edgecheck.history.store import now_utc
    from edgecheck.plugin.history import where

    commit, branch, _ = where(session)
    payload = {
        "commit": commit,
        "branch": branch,
        "finished": now_utc(),
        "device": state.device.as_dict(),
        "results": [r.as_dict() for r in state.results],
        "not_run": [{"claim": n.claim_id, "key": n.key, "reason": n.reason} for n in state.not_run],
        "baselines": [v.as_dict() for v in state.verdicts],
        # what a history import needs ('edgecheck history import'): each metric's samples
        "measured": [e.as_dict() for e in state.measured],
        "device_results": str(state.board.path) if state.board is not None else None,
    }
    write_atomic(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")

"""``--edgecheck-history STORE``: judge the run against its history, and record it when it is
a passing run of the main branch.

At the end of the run each metric the run recorded (``edgecheck_baseline``) is judged by the
creep rule (`edgecheck.history.gate.judge_run`) against the main branch's runs in the store
(a timing only against this device's): a metric whose level has crept past its tolerance since
the last accepted change point fails the run, and the summary names the merges whose steps
made it worse. A run on the main branch whose tests all passed is then appended to the store
(`edgecheck.history.record.record_run`); any other run is judged only, and the summary says
why it was not recorded. ``--edgecheck-history-report DIR`` writes a trend figure per judged
metric (change points marked, this run shown) and a ``history.md`` listing them.

The store is opened at configure time, so a corrupt or foreign file stops the run before any
test (exit 4), naming the file; it is never written to then.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from edgecheck.plugin.state import SessionState, state_of

if TYPE_CHECKING:
    from edgecheck.history.gate import MetricCreep


def add_options(addoption: Any) -> None:
    addoption(
        "--edgecheck-history",
        dest="edgecheck_history",
        default=None,
        metavar="STORE",
        help="the performance history (an SQLite file, 'edgecheck history --help'): every metric "
        "of this run is judged by the creep rule against the main branch's runs there (fails "
        "when its level has crept past the tolerance since the last accepted change point); a "
        "passing run of the main branch is appended (the file is created by the first one)",
    )
    addoption(
        "--edgecheck-history-branch",
        dest="edgecheck_history_branch",
        default=None,
        metavar="BRANCH",
        help="the main branch: the runs judged against, and the only branch recorded "
        "(default: history_branch in [tool.edgecheck], else main)",
    )
    addoption(
        "--edgecheck-history-accept",
        dest="edgecheck_history_accept",
        action="append",
        default=[],
        metavar="COMMIT",
        help="a commit whose slowdown was decided on: the accepted level restarts at its change "
        "point (repeatable; adds to history_accept in [tool.edgecheck])",
    )
    addoption(
        "--edgecheck-history-report",
        dest="edgecheck_history_report",
        default=None,
        metavar="DIR",
        help="write a trend figure (PNG) per judged metric, change points marked and this run "
        "shown, and DIR/history.md listing them with the creep verdicts",
    )
    addoption(
        "--edgecheck-commit",
        dest="edgecheck_commit",
        default=None,
        metavar="SHA",
        help="the commit measured (default: the CI's variable, e.g. GITHUB_SHA, else git)",
    )
    addoption(
        "--edgecheck-branch",
        dest="edgecheck_branch",
        default=None,
        metavar="NAME",
        help="the branch measured (default: the CI's variables, e.g. GITHUB_HEAD_REF / "
        "GITHUB_REF_NAME, else git)",
    )


def _store_path(config: pytest.Config) -> Path | None:
    option = config.getoption("edgecheck_history", None)
    return Path(option) if option else None


def check_store(config: pytest.Config) -> None:
    """Open the store once at configure time: a broken one stops the run before any test."""
    path = _store_path(config)
    if path is None or not path.exists():
        return
    from edgecheck.history.store import HistoryError, HistoryStore

    try:
        HistoryStore(path).close()
    except HistoryError as exc:
        raise pytest.UsageError(f"edgecheck --edgecheck-history: {exc}") from None


def where(session: pytest.Session) -> tuple[str, str, str]:
    """(commit, branch, main branch) of this run, found once (git runs at most twice)."""
    from edgecheck.history.gate import commit_and_branch

    config, state = session.config, state_of(session.config)
    if state.where is None:
        commit, branch = (
            config.getoption("edgecheck_commit", None),
            config.getoption("edgecheck_branch", None),
        )
        if not (commit and branch):
            found = commit_and_branch(Path(config.rootpath))
            commit, branch = commit or found[0], branch or found[1]
        main = config.getoption("edgecheck_history_branch", None) or state.project.history_branch
        state.where = (commit, branch, main)
    return state.where


def gate(session: pytest.Session) -> None:
    """Judge the run's metrics against the main branch's history; a creep fails the run."""
    path = _store_path(session.config)
    state = state_of(session.config)
    if path is None:
        return
    if not state.measured:
        state.history_lines.append("history: no metric was recorded in this run; nothing judged")
        return
    if not path.exists():
        state.history_lines.append(f"history: {path} does not exist yet; nothing judged")
        return
    from edgecheck.history.gate import judge_run
    from edgecheck.history.store import HistoryStore

    commit, _, main = where(session)
    accepted = {*state.project.history_accept,
                *session.config.getoption("edgecheck_history_accept", [])}  # fmt: skip
    with HistoryStore(path) as store:
        judged = judge_run(store, state.measured, commit or "this run",
                           state.device.fingerprint_id, branch=main, accepted=accepted)  # fmt: skip
    state.creep = judged
    failed = [m for m in judged if not m.verdict]
    state.history_lines.append(
        f"history ({path}, branch {main}): {len(judged)} metric(s) judged by the creep rule, "
        f"{len(failed)} crept, {len(state.measured) - len(judged)} with no history yet"
    )
    if failed and session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
    report = session.config.getoption("edgecheck_history_report", None)
    if report and judged:
        written = write_report(Path(report), judged, commit or "this run")
        state.history_lines.append(f"history: trend figures and {written} written")


def record(session: pytest.Session) -> None:
    """Append the run to the store if it is a passing run of the main branch."""
    path = _store_path(session.config)
    state = state_of(session.config)
    if path is None or not state.measured:
        return
    commit, branch, main = where(session)
    why_not = ""
    crept = sum(not m.verdict for m in state.creep)
    if crept:
        why_not = f"the creep rule failed {crept} metric(s)"
    elif session.exitstatus != pytest.ExitCode.OK or session.testsfailed:
        why_not = (f"the run did not pass ({session.testsfailed} test(s) failed, exit status "
                   f"{int(session.exitstatus)})")  # fmt: skip
    elif branch != main:
        why_not = (f"branch {branch or '(unknown)'} is not the main branch {main} "
                   f"(--edgecheck-history-branch, or --edgecheck-branch to name this one)")  # fmt: skip
    elif not commit:
        why_not = "the commit is unknown (not a git checkout); pass --edgecheck-commit"
    if why_not:
        state.history_lines.append(f"history: this run was not recorded: {why_not}")
        return
    from edgecheck.history.record import record_run
    from edgecheck.history.store import HistoryError, HistoryStore

    try:
        with HistoryStore(path, create=True) as store:
            run = record_run(store, state.measured, commit, branch, state.device,
                             calibration=state.calibration_if_measured)  # fmt: skip
            count = store.count()
    except HistoryError as exc:
        state.history_lines.append(f"history: NOT recorded: {exc}")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return
    state.history_lines.append(
        f"history: recorded {len(run.metrics)} metric(s) of {commit[:12]} on {branch} into "
        f"{path} ({count} runs)"
    )


def write_report(folder: Path, judged: list[MetricCreep], commit: str) -> Path:
    """One PNG per metric (its history, this run last) and ``history.md``; returns the latter."""
    from dataclasses import replace

    from edgecheck._atomic import write_atomic
    from edgecheck.history.plot import series_png

    folder.mkdir(parents=True, exist_ok=True)
    lines = ["# Performance history of this run", ""]
    for i, m in enumerate(judged):
        last = m.series[-1]
        here = replace(last, commit=commit, value=m.entry.value, low=m.entry.value,
                       high=m.entry.value, n=m.entry.n, run_uid="candidate")  # fmt: skip
        name = f"{i + 1:02d}-{_safe(m.label)}.png"
        png = series_png(m.label, [*m.series, here], m.verdict.change_points, candidate=True)
        write_atomic(folder / name, png)
        lines += [f"## {m.label}", "", f"![{m.label}]({name})", "", m.verdict.message, ""]
    out = folder / "history.md"
    write_atomic(out, "\n".join(lines))
    return out


def _safe(label: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in label)[:80]


def summary(terminalreporter: Any, state: SessionState) -> None:
    """The history section: the counts, each creep (red) and each recovery from one (yellow),
    and what was recorded."""
    if not state.history_lines and not state.creep:
        return
    terminalreporter.section("edgecheck history")
    for line in state.history_lines:
        terminalreporter.write_line(line)
    for m in state.creep:
        if not m.verdict:
            terminalreporter.write_line(m.verdict.message, red=True, bold=True)
        elif m.verdict.recovered:
            terminalreporter.write_line(m.verdict.message, yellow=True)

"""The history gate of a pytest run: judge this run's metrics against their history by the
creep rule, and say where this run sits on the main branch's line.

`judge_run` takes what the baselines take (the run's `Entry` objects) and the store, and
returns one `MetricCreep` per metric that has history: each is the `creep.judge_creep` verdict
of the run's median against the runs of the main branch (timings only those of this device's
fingerprint: a timing compares only on the machine that measured it). The plugin fails the
run on any ``fail`` and names the merges that contributed; `record.record_run` then appends a
passing run of the main branch.

`commit_and_branch` finds what is measured: CI variables first (a CI checkout is often a
detached HEAD, where git knows no branch), then git itself.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from edgecheck.history.creep import DEFAULT_CONFIDENCE, CreepVerdict, judge_creep

if TYPE_CHECKING:
    from edgecheck.baselines import Entry
    from edgecheck.history.store import HistoryStore, SeriesPoint

# A tolerance below this treats the run-to-run noise of a shared machine (1-3 %) as creep.
MIN_TOLERANCE = 0.01

# (commit variable, branch variables in order) of the CI systems teams use; a pull request's
# own branch comes before the ref CI builds (GitHub's "123/merge").
CI_VARIABLES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("GITHUB_SHA", ("GITHUB_HEAD_REF", "GITHUB_REF_NAME")),
    ("CI_COMMIT_SHA", ("CI_MERGE_REQUEST_SOURCE_BRANCH_NAME", "CI_COMMIT_REF_NAME")),
    ("BUILDKITE_COMMIT", ("BUILDKITE_BRANCH",)),
    ("GIT_COMMIT", ("GIT_BRANCH",)),  # Jenkins
)


@dataclass(frozen=True)
class MetricCreep:
    """One metric of the run judged against its history.

    Attributes:
        entry: the run's measurement (the candidate).
        series: the history it was judged against (main branch, this device for a timing).
        verdict: the creep rule's verdict (``fail``, ``pass`` or ``too short``).
    """

    entry: Entry
    series: tuple[SeriesPoint, ...]
    verdict: CreepVerdict

    @property
    def label(self) -> str:
        return f"{self.entry.test_id}::{self.entry.metric}"


def judge_run(
    store: HistoryStore,
    entries: Iterable[Entry],
    commit: str,
    fingerprint_id: str,
    *,
    branch: str,
    accepted: Collection[str] = (),
) -> list[MetricCreep]:
    """Judge each entry's value as the newest run of its metric's history on `branch`.

    Metrics without history there are left out (the first runs build it). Each is judged at
    its own recorded tolerance (at least `MIN_TOLERANCE`) and at the creep rule's confidence
    (`creep.DEFAULT_CONFIDENCE`, the one `benchmarks/history.py` measured the rule at), not
    the baseline entry's: that one is for a single run's samples, this for run medians.
    """
    judged = []
    for e in entries:
        device = fingerprint_id if e.kind == "timing" else None
        series = store.series(e.test_id, e.metric, fingerprint_id=device, branch=branch)
        if not series:
            continue
        label = f"{e.test_id}::{e.metric}"
        verdict = judge_creep(
            [p.value for p in series], [p.commit for p in series], e.value, commit,
            direction=e.direction, tolerance=max(e.tolerance, MIN_TOLERANCE),
            confidence=DEFAULT_CONFIDENCE, accepted=accepted, label=label, unit=e.unit,
        )  # fmt: skip
        judged.append(MetricCreep(e, tuple(series), verdict))
    return judged


def _git(root: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.strip() if done.returncode == 0 else ""


def commit_and_branch(root: Path, env: Mapping[str, str] | None = None) -> tuple[str, str]:
    """(commit, branch) of the checkout at `root`: a CI system's variables where set, else git
    (``""`` for what neither knows: not a git checkout, a detached HEAD)."""
    env = os.environ if env is None else env
    for commit_var, branch_vars in CI_VARIABLES:
        if env.get(commit_var):
            branch = next((env[b] for b in branch_vars if env.get(b)), "")
            return env[commit_var], branch.removeprefix("origin/")
    commit = _git(root, "rev-parse", "HEAD")
    branch = _git(root, "rev-parse", "--abbrev-ref", "HEAD")
    return commit, "" if branch == "HEAD" else branch

"""``pytest --edgecheck-history STORE``: the creep gate of a run and the record of the main
branch's passing runs, run with pytester in this process (``run_pytest``, tests/unit/conftest.py).

The project's metric is a cost computed from a level the test reads from ``level.txt`` (what a
model change would move); the history before the candidate is appended to a real store with
the same code the plugin uses (`make_run`), so the gate is judged on runs of known levels.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from edgecheck.cli import main
from edgecheck.history.gate import commit_and_branch
from edgecheck.history.record import make_run
from edgecheck.history.store import HistoryStore

TESTS = """
from pathlib import Path

def test_cost(edgecheck_baseline):
    level = float(Path(__file__).with_name("level.txt").read_text())
    # nine calls, each a little off the level, as repeated timings are
    samples = [level * (1 + 0.004 * ((7 * i) % 5 - 2)) for i in range(9)]
    edgecheck_baseline.record("cost", samples, kind="ratio", unit="s", tolerance=0.05)

def test_other():
    assert sorted([3, 1, 2]) == [1, 2, 3]
"""


@pytest.fixture
def project(pytester):
    pytester.makepyfile(test_cost=TESTS)
    (pytester.path / "level.txt").write_text("1.0")
    return pytester


@pytest.fixture
def run(run_pytest):
    return lambda *args: run_pytest("-p", "no:cacheprovider", "-rA", *args)


def seed(store_path: Path, levels: list[float], *, branch: str = "main") -> list[str]:
    """Append one run per level (test_cost.py::test_cost :: cost), commits c00, c01, ..."""
    from edgecheck.baselines import Entry
    from edgecheck.device import detect_device

    device = detect_device()
    commits = []
    with HistoryStore(store_path, create=True) as store:
        for i, level in enumerate(levels):
            samples = [level * (1 + 0.004 * ((7 * j + i) % 5 - 2)) for j in range(9)]
            entry = Entry.measured("test_cost.py::test_cost", "cost", samples, kind="ratio",
                                   unit="s", tolerance=0.05)  # fmt: skip
            commit = f"c{i:02d}"
            store.append(make_run(
                [entry], commit, branch, profile=device.profile,
                fingerprint_id=device.fingerprint_id, identity=device.identity,
                time=f"2026-11-01T00:{i // 60:02d}:{i % 60:02d}Z",
            ))  # fmt: skip
            commits.append(commit)
    return commits


def where(commit: str, branch: str = "main") -> tuple[str, ...]:
    return ("--edgecheck-commit", commit, "--edgecheck-branch", branch)


def test_the_first_passing_run_of_main_creates_the_store(project, run):
    store = project.path / "history.sqlite"
    result = run("--edgecheck-history", str(store), *where("abc123"))
    result.assert_outcomes(passed=2)
    out = result.stdout.str()
    assert "does not exist yet; nothing judged" in out
    assert f"history: recorded 1 metric(s) of abc123 on main into {store} (1 runs)" in out
    with HistoryStore(store) as h:
        (point,) = h.series("test_cost.py::test_cost", "cost")
    assert point.commit == "abc123" and point.value == pytest.approx(1.0, rel=0.01)


def test_three_small_steps_each_within_the_tolerance_fail_as_creep(project, run):
    store = project.path / "history.sqlite"
    seed(store, [1.0] * 10 + [1.03] * 10 + [1.061] * 10)
    (project.path / "level.txt").write_text("1.093")  # a third 3 % step: +9.3 % in all
    result = run("--edgecheck-history", str(store), *where("c30"))
    assert result.ret == pytest.ExitCode.TESTS_FAILED
    result.assert_outcomes(passed=2)  # every test passed: the history gate failed the run
    out = result.stdout.str()
    assert "1 metric(s) judged by the creep rule, 1 crept" in out
    line = next(x for x in out.splitlines() if "CREEP" in x)
    assert "test_cost.py::test_cost::cost" in line and "since c00" in line
    assert "worse by the commits in c09..c10" in line and "c19..c20" in line
    assert "this run was not recorded: the creep rule failed 1 metric(s)" in out
    with HistoryStore(store) as h:
        assert h.count() == 30  # nothing written


def test_a_steady_candidate_passes_and_is_recorded(project, run):
    store = project.path / "history.sqlite"
    seed(store, [1.0] * 12)
    result = run("--edgecheck-history", str(store), *where("c12"))
    result.assert_outcomes(passed=2)
    assert result.ret == pytest.ExitCode.OK
    out = result.stdout.str()
    assert "1 metric(s) judged by the creep rule, 0 crept, 0 with no history yet" in out
    assert "(13 runs)" in out


def test_a_fix_after_a_creep_passes_though_the_level_before_it_crept(project, run):
    store = project.path / "history.sqlite"
    seed(store, [1.0] * 10 + [1.08] * 10)  # level.txt: 1.0, the slowdown reverted
    result = run("--edgecheck-history", str(store), *where("c20"))
    assert result.ret == pytest.ExitCode.OK
    assert "but this run (c20) is back within the tolerance" in result.stdout.str()


def test_a_feature_branch_is_judged_not_recorded(project, run):
    store = project.path / "history.sqlite"
    seed(store, [1.0] * 12)
    result = run("--edgecheck-history", str(store), *where("f00", "speedup"))
    result.assert_outcomes(passed=2)
    out = result.stdout.str()
    assert "1 metric(s) judged" in out
    assert "not recorded: branch speedup is not the main branch main" in out
    with HistoryStore(store) as h:
        assert h.count() == 12


def test_an_accepted_slowdown_restarts_the_level(project, run):
    store = project.path / "history.sqlite"
    seed(store, [1.0] * 10 + [1.12] * 10)
    (project.path / "level.txt").write_text("1.12")
    assert run("--edgecheck-history", str(store), *where("c20")).ret == pytest.ExitCode.TESTS_FAILED
    project.makepyprojecttoml('[tool.edgecheck]\nhistory_accept = ["c10"]\n')
    result = run("--edgecheck-history", str(store), *where("c20"))
    assert result.ret == pytest.ExitCode.OK, result.stdout.str()


def test_a_failing_test_on_main_is_not_recorded(project, run):
    store = project.path / "history.sqlite"
    project.makepyfile(test_broken="def test_broken():\n    assert sorted([2, 1]) == [2, 1]\n")
    result = run("--edgecheck-history", str(store), *where("c00"))
    result.assert_outcomes(passed=2, failed=1)
    assert (
        "this run was not recorded: the run did not pass (1 test(s) failed" in result.stdout.str()
    )
    assert not store.exists()


def test_a_corrupt_store_stops_the_run_before_any_test_and_is_left_as_is(project, run):
    store = project.path / "history.sqlite"
    store.write_bytes(b"not a database, but someone's notes\n")
    result = run("--edgecheck-history", str(store), *where("c00"))
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*edgecheck --edgecheck-history: {store}: not an SQLite file*"])
    assert store.read_bytes() == b"not a database, but someone's notes\n"


def test_the_report_has_a_trend_figure_per_metric(project, run):
    store = project.path / "history.sqlite"
    seed(store, [1.0] * 10 + [1.08] * 10)
    (project.path / "level.txt").write_text("1.08")
    report = project.path / "trend"
    run("--edgecheck-history", str(store), "--edgecheck-history-report", str(report),
        *where("c20"))  # fmt: skip
    text = (report / "history.md").read_text()
    assert "## test_cost.py::test_cost::cost" in text and "CREEP" in text
    (png,) = report.glob("*.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000


def test_results_of_a_device_runner_import_into_the_history(project, run, tmp_path, capsys):
    results = project.path / "results.json"
    run("--edgecheck-results", str(results), *where("d00", "main")).assert_outcomes(passed=2)
    doc = json.loads(results.read_text())
    assert doc["commit"] == "d00" and doc["measured"][0]["metric"] == "cost"
    store = tmp_path / "h.sqlite"
    capsys.readouterr()
    assert main(["history", "import", str(results), "--store", str(store)]) == 0
    assert "imported 1 run(s)" in capsys.readouterr().out
    with HistoryStore(store) as h:
        (point,) = h.series("test_cost.py::test_cost", "cost")
        (stored,) = h.runs()
    assert point.commit == "d00" and point.branch == "main" and point.n == 9
    assert stored.fingerprint_id == doc["device"]["fingerprint_id"]


def test_commit_and_branch_come_from_ci_variables_then_git(tmp_path):
    env = {"GITHUB_SHA": "f" * 40, "GITHUB_REF_NAME": "12/merge", "GITHUB_HEAD_REF": "faster"}
    assert commit_and_branch(tmp_path, env) == ("f" * 40, "faster")
    assert commit_and_branch(tmp_path, {"CI_COMMIT_SHA": "a1", "CI_COMMIT_REF_NAME": "main"}) == (
        "a1", "main")  # fmt: skip
    assert commit_and_branch(tmp_path, {}) == ("", "")  # not a git checkout
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q", "-b", "trunk", str(tmp_path)], check=True)
    (tmp_path / "f").write_text("x")
    subprocess.run([*git, "-C", str(tmp_path), "add", "f"], check=True)
    subprocess.run([*git, "-C", str(tmp_path), "commit", "-q", "-m", "m"], check=True)
    head = subprocess.run(["git", "-C", str(tmp_path), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()  # fmt: skip
    assert commit_and_branch(tmp_path, {}) == (head, "trunk")

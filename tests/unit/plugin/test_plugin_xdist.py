"""Under pytest-xdist a baseline update, the timing gate and the history gate are refused
whole, never split: each worker would decide from its own share of the outcomes. And a perf
test runs while no other worker runs a test, so timings are taken as in a serial run."""

from __future__ import annotations

import pytest

pytest.importorskip("xdist")

TESTS = """
def test_a():
    assert sum([1, 2]) == 3  # a plain project's test: what matters is how the run ends

def test_b():
    assert sum([1, 2]) == 3  # a plain project's test: what matters is how the run ends
"""


@pytest.mark.parametrize(
    "option",
    [
        "--edgecheck-update-baselines",
        "--edgecheck-update-timing-baselines",
        "--edgecheck-require-timing",
    ],
)
def test_an_update_or_the_timing_gate_under_xdist_is_refused(pytester, option):
    pytester.makepyfile(test_two=TESTS)
    result = pytester.runpytest_subprocess("-n", "2", option)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([f"*edgecheck: {option}*needs the whole run in one process*-n*"])
    assert not (pytester.path / "baselines").exists()


def test_the_config_key_is_refused_too_and_plain_xdist_runs(pytester):
    pytester.makepyfile(test_two=TESTS)
    assert pytester.runpytest_subprocess("-n", "2").ret == pytest.ExitCode.OK
    pytester.makepyprojecttoml("[tool.edgecheck]\nrequire_timing = true\n")
    result = pytester.runpytest_subprocess("-n", "2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*require_timing in pyproject.toml*"])
    assert pytester.runpytest_subprocess("-p", "no:xdist").ret == pytest.ExitCode.OK


SPANS = """
import os, time
from pathlib import Path

import pytest

LOG = Path(__file__).with_name("spans.log")


def _busy(kind, seconds=0.15):
    start = time.monotonic()
    while time.monotonic() - start < seconds:
        sum(range(1000))
    with open(LOG, "a") as fh:  # one short line per test, appended
        fh.write(f"{kind} {start} {time.monotonic()} {os.getpid()}\\n")


@pytest.mark.perf
@pytest.mark.parametrize("i", range(4))
def test_timed(i):
    _busy("perf")


@pytest.mark.parametrize("i", range(12))
def test_plain(i):
    _busy("plain", 0.05)
"""


def test_under_xdist_a_perf_test_runs_while_no_other_test_does(pytester, monkeypatch):
    pytester.makepyfile(test_spans=SPANS)
    monkeypatch.setenv("TMPDIR", str(pytester.path))  # where the run's lock folder goes
    result = pytester.runpytest_subprocess("-n", "2", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=16)
    spans = [line.split() for line in (pytester.path / "spans.log").read_text().splitlines()]
    assert len({pid for *_, pid in spans}) == 2  # both workers ran tests
    perf = [(float(a), float(b)) for kind, a, b, _ in spans if kind == "perf"]
    others = [(float(a), float(b)) for kind, a, b, _ in spans if kind == "plain"]
    overlaps = [(p, o) for p in perf for o in [*others, *perf] if o != p and
                o[0] < p[1] and p[0] < o[1]]  # fmt: skip
    assert not overlaps
    assert not list(pytester.path.glob("edgecheck-xdist-*"))  # the lock folder is removed

"""Under pytest-xdist a baseline update and the timing gate are refused whole, never split:
each worker would decide from its own share of the outcomes."""

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

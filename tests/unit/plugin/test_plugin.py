"""The pytest plugin, run on small test files with pytester, in this process (``run_pytest``
in tests/unit/conftest.py: each run has its own config, and EDGECHECK_PROFILE is read on every
device detection, so no run needs a fresh interpreter)."""

from __future__ import annotations

import json
import os
import re

import pytest

CORES = len(os.sched_getaffinity(0))

TESTS = """
import pytest

@pytest.mark.tx2
@pytest.mark.claim("quant.fp16.fps")
def test_jetson_only():
    pass

@pytest.mark.gpu
def test_gpu_only():
    pass

@pytest.mark.cpu
@pytest.mark.perf
@pytest.mark.accuracy
@pytest.mark.slow
def test_cpu():
    pass

@pytest.mark.needs(cores={many})
@pytest.mark.claim("parallel.vgg16.cores")
def test_many_cores():
    pass

@pytest.mark.claim("quant.error")
def test_claim_pass(check_claim):
    check_claim("quant.error", 0.8)

@pytest.mark.claim("quant.error")
def test_claim_fail(check_claim):
    check_claim("quant.error", 2.5)

@pytest.mark.claim("quant.fp16.fps")
def test_claim_not_applicable(check_claim, edgecheck_device):
    if edgecheck_device.profile == "tx2":
        pytest.skip("only meaningful off Jetson")
    check_claim("quant.fp16.fps", 12.0, key="1080p")
""".replace("{many}", str(CORES + 2))


@pytest.fixture
def run(pytester, run_pytest):
    pytester.makepyfile(test_sample=TESTS)

    def _run(*args):
        return run_pytest("--strict-markers", "-rs", "-p", "no:cacheprovider", *args)

    return _run


def test_markers_are_registered_and_profiles_skip_with_reasons(run):
    result = run()
    result.assert_outcomes(passed=2, failed=1, skipped=4)
    out = result.stdout.str()
    assert "PytestUnknownMarkWarning" not in out
    assert "needs the tx2 profile" in out
    assert f"needs {CORES + 2} cores, this machine has {CORES}" in out


def test_summary_lists_verdicts_and_not_run_claims(run):
    out = run().stdout.str()
    assert "edgecheck claims" in out
    summary = out.split("edgecheck claims", 1)[1]
    assert "quant.error" in summary and "pass" in summary and "FAIL" in summary
    assert "not run here: needs the tx2 profile" in summary
    assert f"not run here: needs {CORES + 2} cores" in summary
    assert "not run here: claim quant.fp16.fps has no threshold for the cpu profile" in summary
    assert "claims: 1 checks passed, 1 failed, 3 not run here" in summary


def test_failure_message_has_the_numbers(run):
    out = run().stdout.str()
    assert "quant.error (IV-D-2): measured 2.5 %, threshold <= 1.5 % on cpu, paper 1.005 %" in out


def test_profile_option_and_env_var_override_detection(run, monkeypatch):
    result = run("--edgecheck-profile", "tx2", "-k", "jetson_only")
    result.assert_outcomes(passed=1, deselected=6)
    assert "profile tx2 (--edgecheck-profile)" in result.stdout.str()
    monkeypatch.setenv("EDGECHECK_PROFILE", "tx2")
    run("-k", "jetson_only").assert_outcomes(passed=1, deselected=6)


def test_tests_marked_tx2_run_on_orin_and_its_rules_judge(pytester, run_pytest, monkeypatch):
    # A Jetson Orin runs the paper's tx2-marked tests; the claim's orin rule decides, and a
    # claim without one is "not run here" with that reason, never passed.
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.tx2
        @pytest.mark.claim("quant.fp16.fps")
        def test_fps(check_claim):
            check_claim("quant.fp16.fps", 31.0, key="1080p")

        @pytest.mark.tx2
        @pytest.mark.claim("quant.fp16.speedup")
        def test_speedup(check_claim):
            check_claim("quant.fp16.speedup", 2.0, key="1080p")
        """
    )
    monkeypatch.setenv("EDGECHECK_PROFILE", "orin")
    result = run_pytest("-p", "no:cacheprovider", "-m", "tx2")
    result.assert_outcomes(passed=1, skipped=1)
    out = result.stdout.str()
    assert "profile orin (EDGECHECK_PROFILE)" in out
    summary = out.split("edgecheck claims", 1)[1]
    assert re.search(r"quant\.fp16\.fps\[1080p\] .* 31 fps +>= 30 fps .* pass", summary)
    assert "claim quant.fp16.speedup has no threshold for the orin profile" in summary
    assert "claims: 1 checks passed, 0 failed, 1 not run here" in summary


def test_a_test_with_two_profile_markers_runs_where_either_is_met(
    pytester, run_pytest, monkeypatch
):
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.tx2
        @pytest.mark.gpu
        def test_both():
            pass
        """
    )
    for profile in ("tx2", "orin", "gpu"):
        monkeypatch.setenv("EDGECHECK_PROFILE", profile)
        run_pytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    monkeypatch.setenv("EDGECHECK_PROFILE", "cpu")
    result = run_pytest("-p", "no:cacheprovider", "-rs")
    result.assert_outcomes(skipped=1)
    assert (
        "needs the tx2 (a Jetson TX2 or Orin board) or gpu (a CUDA GPU) profile, this machine "
        "is cpu (EDGECHECK_PROFILE)" in result.stdout.str()
    )


def test_bad_profile_is_a_usage_error(run):
    result = run("--edgecheck-profile", "laptop")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "profile 'laptop' is not one of tx2, orin, gpu, cpu" in result.stderr.str()


def test_results_json_is_written(run, pytester):
    run("--edgecheck-results", "out/results.json")
    payload = json.loads((pytester.path / "out" / "results.json").read_text())
    verdicts = sorted(r["verdict"] for r in payload["results"])
    assert verdicts == ["FAIL", "pass"]
    assert payload["device"]["profile"] == "cpu"
    assert {n["claim"] for n in payload["not_run"]} >= {"quant.fp16.fps", "parallel.vgg16.cores"}


def test_select_tx2_only_reports_nothing_as_passed(run):
    result = run("-m", "tx2")
    result.assert_outcomes(skipped=1, deselected=6)
    assert "claims: 0 checks passed, 0 failed, 1 not run here" in result.stdout.str()


def test_soft_checks_list_every_failure(pytester, run_pytest):
    pytester.makepyfile(
        """
        def test_table(check_claim):
            check_claim.expect("quant.error", 0.5)
            check_claim.expect("quant.error", 3.0)
            check_claim.expect("quant.error", 4.0)
            check_claim.assert_all()
        """
    )
    result = run_pytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "2 of 3 checks failed" in out and "measured 3 %" in out and "measured 4 %" in out


def test_nan_measurement_fails(pytester, run_pytest):
    pytester.makepyfile(
        """
        def test_nan(check_claim):
            check_claim("quant.error", float("nan"))
        """
    )
    result = run_pytest("-p", "no:cacheprovider")
    result.assert_outcomes(failed=1)
    assert "not a finite number" in result.stdout.str()


def test_project_overrides_reach_the_fixture(pytester, run_pytest):
    pytester.makepyprojecttoml(
        '[tool.edgecheck.claims."quant.error"]\nany = { op = "<=", value = 3.0 }\n'
    )
    pytester.makepyfile("def test_x(check_claim):\n    check_claim('quant.error', 2.5)\n")
    run_pytest("-p", "no:cacheprovider").assert_outcomes(passed=1)


def test_broken_project_config_is_reported(pytester, run_pytest):
    pytester.makepyprojecttoml("[tool.edgecheck]\nclaimz = 1\n")
    pytester.makepyfile("def test_x(check_claim):\n    check_claim('quant.error', 0.5)\n")
    result = run_pytest("-p", "no:cacheprovider")
    assert result.ret != 0
    assert "unknown key(s) in [tool.edgecheck]: claimz" in result.stdout.str() + result.stderr.str()

"""The plugin's baselines: the ``edgecheck_baseline`` fixture, ``--edgecheck-update-baselines``
and the summary, run with pytester in this process (``run_pytest`` in tests/unit/conftest.py:
each run has its own config; the device probe and calibration are this machine's)."""

from __future__ import annotations

import json

import pytest

from edgecheck.baselines import SCHEMA_VERSION, BaselineFile, Entry

# The "model" is a list of conv layers; each test counts its MACs by Eq. 1, as a model change
# in a pull request would change them.
MODEL = """
LAYERS = [(224, 224, 3, 64, 3), (224, 224, 64, 64, 3)]
"""

TESTS = """
from model import LAYERS

def test_macs(edgecheck_baseline):
    total = sum(h * w * cin * cout * k * k for h, w, cin, cout, k in LAYERS)
    edgecheck_baseline.record("conv_macs", total, unit="MACs")

def test_params(edgecheck_baseline):
    total = sum(cin * cout * k * k + cout for _, _, cin, cout, k in LAYERS)
    edgecheck_baseline.record("params", total, unit="parameters")
"""

FULL = 224 * 224 * 3 * 64 * 9 + 224 * 224 * 64 * 64 * 9  # 1,936,392,192


@pytest.fixture
def project(pytester):
    pytester.makepyfile(model=MODEL, test_model=TESTS)
    return pytester


@pytest.fixture
def run(run_pytest):
    """``run(*args)``: pytest on the project, in this process."""
    return lambda *args: run_pytest("-p", "no:cacheprovider", "-rA", *args)


def baseline_path(pytester):
    return pytester.path / "baselines" / "cpu.json"


def test_no_baseline_passes_and_says_so(project, run):
    result = run()
    result.assert_outcomes(passed=2)
    out = result.stdout.str()
    assert "edgecheck baselines" in out and "no baseline stored:" in out
    assert "0 unchanged, 0 regressed, 0 improved, 0 undecided" in out
    assert not baseline_path(project).exists()


def test_update_then_a_new_conv_layer_fails_with_the_numbers(project, run):
    result = run("--edgecheck-update-baselines")
    result.assert_outcomes(passed=2)
    assert "baselines updated: 2 metric(s) of this run written to" in result.stdout.str()
    stored = json.loads(baseline_path(project).read_text())
    assert stored["schema"] == SCHEMA_VERSION and stored["profile"] == "cpu"
    values = {e["metric"]: e["value"] for e in stored["entries"]}
    assert values == {"conv_macs": FULL, "params": 1792 + 36928}
    assert all(e["test_id"].startswith("test_model.py::test_") for e in stored["entries"])

    run().assert_outcomes(passed=2)  # nothing changed: nothing fails

    # The pull request: one more 3x3 conv, 64 -> 64 channels at 224 x 224.
    project.makepyfile(model=MODEL.replace("]", ", (224, 224, 64, 64, 3)]"))
    before = baseline_path(project).read_text()
    result = run()
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert (
        "test_model.py::test_macs :: conv_macs: REGRESSION: 1,936,392,192 MACs -> "
        "3,786,080,256 MACs (+95.5 %; lower is better)" in out
    )
    assert "tolerance 1e-09 (exact comparison)" in out
    assert "regressions:" in out and "0 unchanged, 2 regressed" in out
    assert baseline_path(project).read_text() == before


def test_update_is_refused_when_a_test_fails(project, run):
    run("--edgecheck-update-baselines").assert_outcomes(passed=2)
    before = baseline_path(project).read_text()
    project.makepyfile(
        test_broken="import pytest\n\ndef test_broken():\n    pytest.fail('a deliberately failing test')\n"
    )
    project.makepyfile(model=MODEL.replace("64, 3)]", "128, 3)]"))
    result = run("--edgecheck-update-baselines")
    result.assert_outcomes(passed=2, failed=1)
    assert "baselines NOT updated: 1 test(s) failed or errored" in result.stdout.str()
    assert baseline_path(project).read_text() == before


def test_update_writes_only_what_was_measured_and_keeps_the_rest(project, run):
    run("--edgecheck-update-baselines").assert_outcomes(passed=2)
    project.makepyfile(model=MODEL.replace("64, 3)]", "128, 3)]"))
    # Only test_macs runs; in update mode its regression is reported, not failed.
    result = run("--edgecheck-update-baselines", "-k", "macs")
    result.assert_outcomes(passed=1, deselected=1)
    assert "REGRESSION" in result.stdout.str()
    values = {
        e["metric"]: e["value"] for e in json.loads(baseline_path(project).read_text())["entries"]
    }
    assert values == {"conv_macs": 224 * 224 * 3 * 64 * 9 + 224 * 224 * 64 * 128 * 9,
                      "params": 1792 + 36928}  # fmt: skip


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ('{"schema": 1, "prof', "cpu.json: not valid JSON"),
        (json.dumps({"schema": 99, "profile": "cpu", "entries": []}), "schema 99 is newer"),
        (json.dumps({"schema": 1, "profile": "tx2", "entries": []}),
         "this baseline is for profile 'tx2', but this run is on profile 'cpu'"),
    ],
)  # fmt: skip
def test_bad_baseline_file_fails_the_tests_and_is_never_rewritten(project, content, expected, run):
    path = baseline_path(project)
    path.parent.mkdir()
    path.write_text(content)
    result = run("--edgecheck-update-baselines")
    result.assert_outcomes(failed=2)
    out = result.stdout.str()
    assert f"edgecheck baselines: {path}" in out and expected in out
    assert "baselines NOT updated" in out
    assert path.read_text() == content


def test_timings_from_another_device_are_not_judged(project, run):
    other = Entry.measured("test_timing.py::test_latency", "latency", [1.0, 1.1, 1.2],
                           kind="timing", unit="s", fingerprint_id="000000000000")  # fmt: skip
    path = baseline_path(project)
    path.parent.mkdir()
    path.write_text(BaselineFile("cpu").merged([other], {}).to_json())
    project.makepyfile(
        test_timing="""
        def test_latency(edgecheck_baseline):
            # 100x slower than the other machine: not a regression, it is another machine
            edgecheck_baseline.record("latency", [100.0, 110.0, 120.0], unit="s", kind="timing")
        """
    )
    result = run("test_timing.py")
    result.assert_outcomes(passed=1)
    out = result.stdout.str()
    assert "no baseline for this device:" in out
    assert "1 with no baseline for this device" in out


def test_expect_and_assert_all_list_every_regression_and_report_improvements(project, run):
    run("--edgecheck-update-baselines").assert_outcomes(passed=2)
    project.makepyfile(
        test_model="""
        def test_macs(edgecheck_baseline):
            edgecheck_baseline.expect("conv_macs", 1, unit="MACs")
            edgecheck_baseline.assert_all()

        def test_params(edgecheck_baseline):
            edgecheck_baseline.expect("params", 10**9, unit="parameters")
            edgecheck_baseline.expect("extra", 5)
            edgecheck_baseline.assert_all()
        """
    )
    result = run()
    result.assert_outcomes(passed=1, failed=1)
    out = result.stdout.str()
    assert "1 of 2 metrics regressed:" in out and "params: REGRESSION" in out
    assert "improvements beyond the tolerance (refresh the baseline):" in out
    assert "conv_macs: improvement (refresh the baseline): 1,936,392,192 MACs -> 1 MACs" in out
    assert (
        "1 regressed, 1 improved, 0 undecided, 0 with no baseline for this device, 1 not stored"
        in out
    )


TIMING_TEST = """
def test_latency(edgecheck_baseline):
    edgecheck_baseline.record("latency", [1.0, 1.1, 1.2, 1.05, 1.15], unit="s", kind="timing")
"""


def test_a_recorded_timing_carries_the_calibration_and_another_one_is_not_judged(project, run):
    project.makepyfile(test_timing=TIMING_TEST)
    result = run("test_timing.py", "--edgecheck-update-baselines")
    result.assert_outcomes(passed=1)
    assert "calibration of this machine (fingerprint " in result.stdout.str()
    stored = json.loads(baseline_path(project).read_text())
    (entry,) = stored["entries"]
    calibration = entry["calibration"]
    assert calibration["sgemm_gflops"] > 0 and calibration["read_gbps"] > 0
    table = stored["fingerprints"][entry["fingerprint_id"]]
    assert {"cpu_vendor", "cpu_family", "isa", "memory_gib", "os"} <= table.keys()

    # The same identity, but the stored machine multiplied 3x as fast: another machine.
    entry["calibration"]["sgemm_gflops"] = calibration["sgemm_gflops"] * 3
    baseline_path(project).write_text(json.dumps(stored))
    slower = "[100.0, 110.0, 120.0, 105.0, 115.0]"  # 100x: would be a regression if judged
    project.makepyfile(test_timing=TIMING_TEST.replace("[1.0, 1.1, 1.2, 1.05, 1.15]", slower))
    result = run("test_timing.py")
    result.assert_outcomes(passed=1)
    out = result.stdout.str()
    # The read rate may differ too on a busy machine; the sgemm does by construction.
    assert "no baseline for this device: different machine: sgemm " in out
    assert "% calibration band); measured 110 s" in out
    assert "1 with no baseline for this device" in out


def test_schema_1_file_warns_that_its_timings_wait_for_a_new_recording(project, run):
    old = {"cores": "2", "cpu_model": "AMD EPYC", "os": "Linux-6.18.44-fc-v1098"}
    macs = Entry.measured("test_model.py::test_macs", "conv_macs", FULL, unit="MACs")
    fps = Entry.measured("test_model.py::test_params", "fps", [130.0, 132.0, 146.0],
                         kind="timing", direction="higher", fingerprint_id="f43f5c074bda")  # fmt: skip
    text = BaselineFile("cpu").merged([macs, fps], {"f43f5c074bda": old}).to_json()
    path = baseline_path(project)
    path.parent.mkdir()
    path.write_text(text.replace(f'"schema": {SCHEMA_VERSION}', '"schema": 1'))
    result = run()
    result.assert_outcomes(passed=2)
    out = result.stdout.str()
    assert (
        f"warning: {path}: schema 1 file: its 1 timing entry was recorded under the old device "
        "identity and will not be compared until re-recorded on each machine with "
        "'pytest --edgecheck-update-baselines'"
    ) in out
    assert "1 unchanged" in out  # the exact entry still compares

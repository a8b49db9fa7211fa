"""Under pytest-xdist the controller prints the claims table of the whole run, as a serial run
does: the workers' verdicts and "not run here" rows reach it with their test reports
(`edgecheck.plugin.relay`). Both runs are subprocesses (xdist starts its workers as such)."""

from __future__ import annotations

import json
import re

import pytest

pytest.importorskip("xdist")

TESTS_A = """
import pytest

@pytest.mark.claim("quant.error")
def test_error_passes(check_claim):
    check_claim("quant.error", 0.8, note=(1, 2))  # extra fields travel too

@pytest.mark.claim("quant.error")
def test_error_fails(check_claim):
    check_claim("quant.error", 2.5)

@pytest.mark.tx2
@pytest.mark.claim("quant.fp16.fps")
def test_on_the_jetson():
    pass
"""

TESTS_B = """
import pytest

@pytest.mark.claim("quant.fp16.fps")
@pytest.mark.parametrize("key", ["1080p", "720p"])
def test_fps_not_applicable_here(check_claim, key):
    check_claim("quant.fp16.fps", 12.0, key=key)

@pytest.mark.claim("parallel.vgg16.cores")
def test_several_checks(check_claim):
    check_claim.expect("parallel.vgg16.cores", 3.0, key="b1@4c", cores=4)
    check_claim.expect("parallel.vgg16.cores", 2.0, key="b2@4c", cores=4)

def test_plain():
    pass
"""


def _claims_section(out: str) -> tuple[list[str], str]:
    """The table's rows (sorted: xdist finishes tests in its own order) and the count line."""
    section = out.split("edgecheck claims", 1)[1]
    lines = [line for line in section.splitlines()[1:] if line.strip()]  # below its title
    count = next(line for line in lines if line.startswith("claims: "))
    rows = lines[2 : lines.index(count)]  # after the header and its rule
    return sorted(rows), count


def _device_line(out: str) -> str:
    return next(line for line in out.splitlines() if line.startswith("edgecheck: profile "))


@pytest.fixture
def project(pytester, monkeypatch):
    monkeypatch.delenv("EDGECHECK_PROFILE", raising=False)
    pytester.makepyfile(test_a=TESTS_A, test_b=TESTS_B)
    return pytester


def test_the_claims_table_under_xdist_is_the_serial_runs(project):
    serial = project.runpytest_subprocess("-p", "no:cacheprovider", "-p", "no:xdist")
    spread = project.runpytest_subprocess("-p", "no:cacheprovider", "-n", "2", "-v")
    serial.assert_outcomes(passed=3, failed=1, skipped=3)
    spread.assert_outcomes(passed=3, failed=1, skipped=3)
    out = spread.stdout.str()
    # both workers ran claim tests (xdist hands 4+ tests to 2 workers round-robin first)
    assert re.search(r"\[gw0\].*(PASSED|FAILED|SKIPPED)", out)
    assert re.search(r"\[gw1\].*(PASSED|FAILED|SKIPPED)", out)
    rows, count = _claims_section(out)
    assert (rows, count) == _claims_section(serial.stdout.str())
    assert count == "claims: 2 checks passed, 2 failed, 3 not run here"
    verdicts = sorted((re.split(r"\s{2,}", r)[0], re.split(r"\s{2,}", r)[-1]) for r in rows)
    expected = [
        ("parallel.vgg16.cores[b1@4c]", "pass"),
        ("parallel.vgg16.cores[b2@4c]", "FAIL"),
        ("quant.error", "FAIL"),
        ("quant.error", "pass"),
        ("quant.fp16.fps", "not run here: needs the tx2 profile"),
        ("quant.fp16.fps[1080p]", "not run here: claim quant.fp16.fps has no threshold"),
        ("quant.fp16.fps[720p]", "not run here: claim quant.fp16.fps has no threshold"),
    ]
    assert [claim for claim, _ in verdicts] == [claim for claim, _ in expected]
    assert all(v.startswith(e) for (_, v), (_, e) in zip(verdicts, expected, strict=True))
    # the device line, which a test's fixture detected on a worker, is in the summary too
    assert _device_line(out) == _device_line(serial.stdout.str())
    # nothing of the relay is left on the reports other plugins see
    assert "edgecheck_records" not in out


def test_results_file_under_xdist_holds_the_workers_verdicts(project):
    serial = project.runpytest_subprocess("-p", "no:xdist", "--edgecheck-results", "s.json")
    spread = project.runpytest_subprocess("-n", "2", "--edgecheck-results", "x.json")
    assert serial.ret == spread.ret == pytest.ExitCode.TESTS_FAILED
    docs = [json.loads((project.path / name).read_text()) for name in ("s.json", "x.json")]

    def key(row: dict) -> str:
        return json.dumps(row, sort_keys=True)

    for field in ("results", "not_run"):
        assert sorted(docs[0][field], key=key) == sorted(docs[1][field], key=key), field
    assert {r["claim"] for r in docs[1]["results"]} == {"quant.error", "parallel.vgg16.cores"}
    passed = next(r for r in docs[1]["results"] if r["verdict"] == "pass" and r["key"] == "")
    assert passed["extra"] == {"note": [1, 2]}


@pytest.fixture(scope="module")
def board_results(tmp_path_factory) -> dict:
    """A TX2's results.json, its samples made up: every verdict kind (pass, FAIL, not run)."""
    pytest.importorskip("onnxruntime")
    from edgecheck.agent import board as board_agent
    from edgecheck.devicerun.bundle import write_bundle

    bundle = tmp_path_factory.mktemp("board") / "bundle"
    write_bundle(bundle, "tx2", models=("fqa",), workloads=["fqa.fp32.b4@*", "fqa.fp32.b1@*"])
    manifest, _ = board_agent.load_bundle(str(bundle))
    per_core = {"1c": 0.010, "2c": 0.0056, "4c": 0.0032}
    workloads = []
    for w in manifest["workloads"]:
        name = w["name"]
        if name == "fqa.fp32.b1@4c":
            reason = "the board has 2 cores online"
            workloads.append({**w, "status": "not run", "reason": reason, "samples_s": []})
            continue
        seconds = per_core[name.split("@")[1]] * (4 if ".b4@" in name else 1)
        seconds *= 2 if name == "fqa.fp32.b4@4c" else 1  # b4@4c too slow: a FAIL
        samples = [seconds * (1 + 0.001 * i) for i in range(10)]
        workloads.append({**w, "status": "ok", "stable": True, "samples_s": samples})
    board = {"profile_hint": "tx2", "model": "made-up TX2"}
    return {"schema": 1, "board": board, "workloads": workloads}


def test_a_boards_verdicts_are_listed_once_under_xdist(pytester, board_results, monkeypatch):
    """Every worker collects the board's items; each verdict is listed once, by the worker
    that ran its item, as in the serial run."""
    monkeypatch.delenv("EDGECHECK_PROFILE", raising=False)
    pytester.makepyfile(test_a=TESTS_A)
    (pytester.path / "r.json").write_text(json.dumps(board_results))
    args = ("-p", "no:cacheprovider", "--edgecheck-device-results", "r.json")
    serial = pytester.runpytest_subprocess(*args, "-p", "no:xdist")
    spread = pytester.runpytest_subprocess(*args, "-n", "2")
    rows, count = _claims_section(spread.stdout.str())
    assert (rows, count) == _claims_section(serial.stdout.str())
    labels = [re.split(r"\s{2,}", r)[0] for r in rows]
    assert labels.count("parallel.fqa.cores[b4@4c]") == 1
    assert "parallel.fqa.batch[b4-b1@4c]" in labels
    assert count == "claims: 4 checks passed, 2 failed, 3 not run here"


def test_a_run_without_claims_prints_no_table_under_xdist(pytester):
    pytester.makepyfile(test_plain="def test_one():\n    pass\n\ndef test_two():\n    pass\n")
    result = pytester.runpytest_subprocess("-n", "2")
    result.assert_outcomes(passed=2)
    assert "edgecheck claims" not in result.stdout.str()
    assert "edgecheck: profile" not in result.stdout.str()  # nothing needed the device

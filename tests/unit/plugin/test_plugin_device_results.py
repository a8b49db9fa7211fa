"""``pytest -m tx2 --edgecheck-device-results r.json``: a board's verdicts in a pytest run.

The results file is real: the board agent run as a subprocess on a cpu FQA bundle (the b4
workloads, 5 repeats) on this machine; its identity is then that of a simulated TX2
(``board.profile_hint`` "tx2"), so the tx2 rules judge the samples measured here. The run's
items and summary must say exactly what `judge_results` (``edgecheck judge``) says.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxconverter_common")

from edgecheck.claims import ClaimRegistry
from edgecheck.cli.devicerun import verdict_rows
from edgecheck.devicerun.bundle import write_bundle
from edgecheck.devicerun.judge import judge_results


@pytest.fixture(scope="module")
def board_results(tmp_path_factory) -> dict:
    """The agent's real results.json, as a simulated TX2 would have sent it."""
    folder = tmp_path_factory.mktemp("board")
    bundle = folder / "bundle"
    write_bundle(bundle, "cpu", models=("fqa",), repeats=5, min_time_s=0.0,
                 workloads=["fqa.fp32.b4@*", "fqa.fp32.b1@*"])  # fmt: skip
    out = folder / "results.json"
    done = subprocess.run(
        [sys.executable, str(bundle / "board_agent.pyz"), str(bundle), "--out", str(out),
         "--no-power"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    doc = json.loads(out.read_text())
    doc["board"].update(profile_hint="tx2", model="simulated TX2 (samples of this machine)")
    return doc


LOCAL_TESTS = """
import pytest

@pytest.mark.tx2
@pytest.mark.claim("parallel.fqa.cores")
def test_fqa_cores_on_the_jetson(check_claim):
    check_claim("parallel.fqa.cores", 4.0, key="b4@4c", cores=4)

@pytest.mark.tx2
@pytest.mark.claim("parallel.fqa.cores")
@pytest.mark.parametrize("key", ["b4@2c", "b2@2c"])  # the board measured b4, not b2
def test_fqa_cell_on_the_jetson(check_claim, key):
    check_claim("parallel.fqa.cores", 1.8, key=key, cores=2)

@pytest.mark.tx2
@pytest.mark.claim("quant.fp16.fps")
def test_fps_on_the_jetson(check_claim):
    check_claim("quant.fp16.fps", 40.0, key="1080p")

@pytest.mark.cpu
def test_portable():
    pass
"""


@pytest.fixture
def project(pytester, board_results) -> Path:
    pytester.makepyfile(test_local=LOCAL_TESTS)
    path = pytester.path / "r.json"
    path.write_text(json.dumps(board_results))
    return path


def _expected(board_results: dict) -> list:
    return judge_results(board_results, ClaimRegistry())


def test_tx2_run_reports_the_boards_verdicts(project, board_results, run_pytest):
    expected = _expected(board_results)
    verdicts = [r.verdict for r in expected]
    assert {"pass", "not run here"} & set(verdicts) and all(r.profile == "tx2" for r in expected)
    result = run_pytest(
        "-m", "tx2", "--edgecheck-device-results", "r.json", "-rA", "-p", "no:cacheprovider",
        "--edgecheck-results", "out.json",
    )  # fmt: skip
    local_skips = 4  # the local tx2 tests: two replaced by the board, two need a Jetson
    result.assert_outcomes(
        passed=verdicts.count("pass"), failed=verdicts.count("FAIL"),
        skipped=verdicts.count("not run here") + local_skips, deselected=1,
    )  # fmt: skip
    out = result.stdout.str()
    assert "edgecheck: board results r.json: simulated TX2 (samples of this machine), rules " in out
    for r in expected:  # one item per verdict, its outcome the verdict
        if r.verdict == "not run here":
            reason = r.message.split("not run here: ", 1)[1]
            assert f"r.json: on the board: {reason}" in out, r.label
        else:
            assert f"{'PASSED' if r else 'FAILED'} r.json::{r.label}" in out, r.label
    assert out.count(": judged from the board's results in r.json") == 2  # fqa test, b4 cell
    summary = out.split("edgecheck claims", 1)[1]
    rows = {line.split()[0]: re.split(r"\s{2,}", line.strip()) for line in summary.splitlines()}
    for row in verdict_rows(expected):  # the cells `edgecheck judge` prints for the same file
        assert rows[row["claim"]] == list(row.values()), row
    # the local claims the board did not judge stay "not run here" on this machine
    assert rows["quant.fp16.fps"][-1].startswith("not run here: needs the tx2 profile")
    assert rows["parallel.fqa.cores[b2@2c]"][-1].startswith("not run here: needs the tx2 profile")
    passed, failed = verdicts.count("pass"), verdicts.count("FAIL")
    assert f"claims: {passed} checks passed, {failed} failed, " in summary
    # --edgecheck-results holds the board's verdicts exactly as judge_results gives them
    doc = json.loads((project.parent / "out.json").read_text())
    assert doc["device_results"] == "r.json"
    assert doc["results"] == [r.as_dict() for r in expected if r.verdict in ("pass", "FAIL")]
    not_run = {(n["claim"], n["key"]) for n in doc["not_run"]}
    assert {(r.claim.id, r.key) for r in expected if r.verdict == "not run here"} <= not_run
    assert ("parallel.fqa.cores", "") not in not_run  # the replaced local test is not listed


def test_the_board_items_follow_the_marker_selection(project, board_results, run_pytest):
    result = run_pytest("-m", "cpu", "--edgecheck-device-results", "r.json")
    result.assert_outcomes(passed=1, deselected=4 + len(_expected(board_results)))
    assert "r.json::" not in result.stdout.str()


def _without_samples(doc: dict) -> None:
    del doc["workloads"][0]["samples_s"]


def _schema_7(doc: dict) -> None:
    doc["schema"] = 7


def _xavier(doc: dict) -> None:
    doc["board"]["profile_hint"] = "xavier"


@pytest.mark.parametrize(
    ("change", "needles"),
    [
        (_schema_7, ("field 'schema' is 7",)),
        (_without_samples, ("workloads[0]", "'samples_s'")),
        (_xavier, ("board.profile_hint",)),
    ],
)
def test_a_bad_results_file_is_a_usage_error_naming_file_and_field(
    project, board_results, run_pytest, change, needles
):
    doc = json.loads(json.dumps(board_results))
    change(doc)
    project.write_text(json.dumps(doc))
    result = run_pytest("--edgecheck-device-results", "r.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    err = result.stderr.str()
    assert "--edgecheck-device-results" in err and "r.json" in err, err
    assert all(n in err for n in needles), err


def test_a_results_file_that_is_not_json_is_a_usage_error(project, run_pytest):
    project.write_text('{"schema": 1, "workloads": [')
    result = run_pytest("--edgecheck-device-results", "r.json")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    assert "r.json: not valid JSON" in result.stderr.str()

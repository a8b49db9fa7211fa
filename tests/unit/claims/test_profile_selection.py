"""``pytest -m tx2`` on a Jetson runner selects every perf test that checks a claim with a tx2
rule. Derived, not listed: one collection of tests/perf (a subprocess, about 5 s: the perf
modules import torch) records each test's markers; the claims with tx2 rules come from the
registry. A test marked ``cpu`` checks its claim's cpu rule and is not expected."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from edgecheck.claims import CLAIMS

REPO = Path(__file__).resolve().parents[3]

RECORDER = """
import json, os
import pytest

ALL = {}

@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_collection_modifyitems(config, items):
    for item in items:
        ALL[item.nodeid] = {
            "claims": [m.args[0] for m in item.iter_markers("claim") if m.args],
            "marks": sorted({m.name for m in item.iter_markers()}),
        }
    return (yield)

def pytest_collection_finish(session):
    with open(os.environ["EDGECHECK_RECORD"], "w") as f:
        json.dump({"all": ALL, "selected": [i.nodeid for i in session.items]}, f)
"""


def tx2_claims() -> set[str]:
    """Claims with a rule scoped to tx2 (``tx2`` or ``tx2:<key>``), not only ``any``."""
    return {c.id for c in CLAIMS.values() if any(s.split(":")[0] == "tx2" for s in c.rules)}


@pytest.fixture(scope="module")
def collected(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("recorder")
    (folder / "edgecheck_recorder.py").write_text(RECORDER)
    record = folder / "record.json"
    env = {k: v for k, v in os.environ.items() if k != "EDGECHECK_PROFILE"}
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), str(folder), env.get("PYTHONPATH", "")])
    env["EDGECHECK_RECORD"] = str(record)
    args = [sys.executable, "-m", "pytest", "--co", "-q", "-m", "tx2", "-p", "no:cacheprovider"]
    done = subprocess.run(
        [*args, "-p", "edgecheck_recorder", str(REPO / "tests/perf")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert record.exists(), done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(record.read_text())


def test_minus_m_tx2_selects_every_test_of_a_claim_with_a_tx2_rule(collected):
    claims = tx2_claims()
    assert {"parallel.fqa.cores", "parallel.vgg16.cores", "quant.fp16.fps"} <= claims
    assert "quant.fp16.speedup" in claims
    expected = {
        nodeid
        for nodeid, item in collected["all"].items()
        if set(item["claims"]) & claims and "cpu" not in item["marks"]
    }
    selected = set(collected["selected"])
    assert expected - selected == set(), "tests of a tx2 claim that -m tx2 leaves out"
    # Every claim with a tx2 rule has a test that -m tx2 runs.
    for claim_id in claims:
        assert any(claim_id in collected["all"][n]["claims"] for n in selected), claim_id
    # And -m tx2 selects only tests marked tx2.
    assert all("tx2" in collected["all"][n]["marks"] for n in selected)


def test_the_fp16_speedup_is_among_them(collected):
    fp16 = {n for n in collected["selected"] if "test_fp16_speedup_where_fp16_is_native" in n}
    assert fp16 == {
        f"tests/perf/test_quantization_speed.py::test_fp16_speedup_where_fp16_is_native[{r}]"
        for r in ("1080p", "720p")
    }

"""The host side of a device run: `edgecheck bundle` writes the agent's contract, `edgecheck
judge` turns the agent's real output into the same verdicts as `Claim.check` on the medians.

FQA only (VGG16's FP32 file alone is 528 MB); the agent runs for real, as a subprocess, on a
cpu bundle with few repeats.
"""

from __future__ import annotations

import copy
import hashlib
import json
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxconverter_common")

from edgecheck.agent import board as agent
from edgecheck.claims import CLAIMS, ClaimRegistry
from edgecheck.cli import main
from edgecheck.devicerun import bundle as bundle_mod
from edgecheck.devicerun.agent_archive import build_agent_archive
from edgecheck.devicerun.bundle import BundleError, write_bundle
from edgecheck.devicerun.judge import ResultsError, judge_results

REPEATS = 5


@pytest.fixture(scope="module")
def cpu_bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("cpu") / "bundle"
    write_bundle(out, "cpu", models=("fqa",), repeats=REPEATS, min_time_s=0.0)
    return out


@pytest.fixture(scope="module")
def agent_results(cpu_bundle, tmp_path_factory) -> dict:
    """The agent's real results.json for the cpu bundle, run from the bundle's own copy."""
    out = tmp_path_factory.mktemp("results") / "results.json"
    done = subprocess.run(
        [sys.executable, str(cpu_bundle / "board_agent.pyz"), str(cpu_bundle), "--out", str(out),
         "--no-power"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return json.loads(out.read_text())


def _onnx_opset(path: Path) -> int:
    import onnx

    model = onnx.load(str(path), load_external_data=False)
    return next(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


# ------------------------------------------------------------------------------- the bundle


def test_cpu_bundle_is_valid_by_the_agents_own_load_bundle(cpu_bundle, tmp_path):
    manifest, _ = agent.load_bundle(str(cpu_bundle))  # the one contract
    assert manifest["target"] == "cpu" and manifest["power"] is None
    assert {w["runtime"] for w in manifest["workloads"]} == {"onnxruntime"}
    names = [w["name"] for w in manifest["workloads"]]
    assert names == [f"fqa.fp32.b{b}@{c}c" for b in (1, 2, 4) for c in (1, 2, 4)]
    on_disk = {
        p.relative_to(cpu_bundle).as_posix()
        for p in cpu_bundle.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    assert set(manifest["files"]) == on_disk  # every file hashed, nothing else left
    # the agent as one zipapp, byte for byte a fresh build of the package (the sha256 is stable)
    fresh = build_agent_archive(tmp_path / "board_agent.pyz")
    assert (cpu_bundle / "board_agent.pyz").read_bytes() == fresh.read_bytes()
    assert _onnx_opset(cpu_bundle / "models" / "fqa_fp32.onnx") == 17
    x = np.fromfile(cpu_bundle / "inputs" / "fqa_b4.bin", dtype="<f4")
    assert x.size == 4 * 64 * 64 and x.min() >= 0 and x.max() < 1
    # every claim key the workloads derive exists in the registry's paper values
    for w in manifest["workloads"]:
        for entry in w["claims"]:
            assert CLAIMS[entry["claim"]].paper_value(entry["key"]) is not None, entry


def test_tx2_bundle_is_opset_13_with_mode_3_and_no_int8(tmp_path):
    out = tmp_path / "tx2"
    write_bundle(out, "tx2", models=("fqa",))
    manifest, _ = agent.load_bundle(str(out))
    assert manifest["power"] == {"nvpmodel": 3, "jetson_clocks": True, "settle_s": 5}
    models = sorted((out / "models").glob("*.onnx"))
    assert [m.name for m in models] == ["fqa_fp16.onnx", "fqa_fp32.onnx"]
    assert all(_onnx_opset(m) == 13 for m in models)
    trt = [w for w in manifest["workloads"] if w["runtime"] == "trtexec"]
    assert {(w["precision"], w["inputs"][0]["shape"][0]) for w in trt} == {
        (p, b) for p in ("fp32", "fp16") for b in (1, 16)
    }


def test_int8_file_is_tensorrts_form_and_within_the_error_bar(tmp_path):
    """Every activation zero point 0 and float biases (TensorRT's parser), and onnxruntime's
    outputs on it within quant.error's bar of FP32 on the paper's test images."""
    import onnx
    import onnxruntime as ort

    from edgecheck.data import test_faces
    from edgecheck.quantize import output_difference
    from edgecheck.quantize.reference import qdq_tensors

    out = tmp_path / "gpu"
    write_bundle(out, "gpu", models=("fqa",))
    manifest, _ = agent.load_bundle(str(out))
    assert manifest["power"] is None
    int8 = out / "models" / "fqa_int8.onnx"
    tensors = qdq_tensors(int8)
    activations = [t for t in tensors.values() if t.quantized is None]
    assert activations and all(not np.any(t.zero_point) for t in activations)
    graph = onnx.load(str(int8)).graph
    biases = {n.input[2] for n in graph.node if n.op_type in ("Conv", "Gemm") and len(n.input) > 2}
    dtypes = {i.name: i.data_type for i in graph.initializer}
    assert biases and all(dtypes.get(b) == onnx.TensorProto.FLOAT for b in biases), biases
    x = test_faces().inputs()[:512]

    def outputs(path: Path) -> np.ndarray:
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        s = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        return s.run(None, {"input": x})[0].reshape(len(x), -1)[:, 0]

    diff = output_difference(outputs(out / "models" / "fqa_fp32.onnx"), outputs(int8), what="x")
    bar = CLAIMS["quant.error"].rule_for("gpu").value
    assert diff.mean_relative_percent <= bar, diff
    names = {w["name"]: w for w in manifest["workloads"]}
    assert names["fqa.int8.b128.trt"]["model"] == "models/fqa_int8.onnx"


def test_vgg16_int8_workloads_derive_the_int8_speedup_keys():
    """The plan alone (no files): VGG16's INT8 / FP32 trtexec pairs give b1, b128 and trend."""
    workloads = bundle_mod.plan_workloads("gpu", ("vgg16",))
    entries = {(e["claim"], e["key"]): e for w in workloads for e in w["claims"]}
    assert entries[("quant.int8.speedup", "b128")]["ratios"] == [
        ["vgg16.fp32.b128.trt", "vgg16.int8.b128.trt"]
    ]
    assert entries[("quant.int8.speedup", "trend")]["combine"] == "quotient"
    assert {k for c, k in entries if c == "parallel.vgg16.cores"} == {"b1@2c", "b1@4c"}


def test_a_non_empty_out_is_refused_and_user_files_survive_an_error(tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(BundleError, match="not empty.*--overwrite"):
        write_bundle(out, "cpu", models=("fqa",))
    assert [p.name for p in out.iterdir()] == ["notes.txt"]

    def broken(*args, **kwargs):
        raise RuntimeError("export failed")

    monkeypatch.setattr(bundle_mod, "_make_models", broken)
    with pytest.raises(RuntimeError):
        write_bundle(out, "cpu", models=("fqa",), overwrite=True)
    assert [p.name for p in out.iterdir()] == ["notes.txt"]  # the temporary folder is gone
    assert (out / "notes.txt").read_text() == "mine"
    with pytest.raises(BundleError, match="not one of"):
        write_bundle(tmp_path / "x", "xavier", models=("fqa",))


# -------------------------------------------------------------------------------- the judge


def _independent_values(results: dict) -> dict[str, float | None]:
    """Speedups recomputed here from the agent's samples: median(1c) / median(nc)."""
    w = {x["name"]: x for x in results["workloads"]}

    def med(name: str) -> float | None:
        x = w[name]
        ok = x["status"] == "ok" and x["stable"] is not False
        return statistics.median(x["samples_s"]) if ok else None

    values: dict[str, float | None] = {}
    for b in (1, 2, 4):
        for c in (2, 4):
            one, many = med(f"fqa.fp32.b{b}@1c"), med(f"fqa.fp32.b{b}@{c}c")
            values[f"parallel.fqa.cores[b{b}@{c}c]"] = one / many if one and many else None
    for c in (2, 4):
        s4, s1 = values[f"parallel.fqa.cores[b4@{c}c]"], values[f"parallel.fqa.cores[b1@{c}c]"]
        values[f"parallel.fqa.batch[b4-b1@{c}c]"] = s4 - s1 if s4 and s1 else None
    return values


def test_judge_of_the_agents_real_output_equals_claim_check_on_the_medians(agent_results):
    assert {w["status"] for w in agent_results["workloads"]} <= {"ok", "not run"}
    judged = {r.label: r for r in judge_results(agent_results, ClaimRegistry(), profile="tx2")}
    expected = _independent_values(agent_results)
    assert set(judged) == set(expected)  # every key has a tx2 rule
    for label, value in expected.items():
        claim_id, key = label[:-1].split("[")
        r = judged[label]
        if value is None:
            assert r.verdict == "not run here", r.message
            assert "needs 4 cores" in r.message or "unstable" in r.message, r.message
            continue
        cores = int(key.split("@")[1][:-1])
        direct = CLAIMS[claim_id].check(value, profile="tx2", key=key, cores=cores)
        assert (r.verdict, r.measured, r.threshold) == (
            direct.verdict,
            pytest.approx(direct.measured, rel=1e-12),
            direct.threshold,
        ), label
    # the profile comes from the board's hint when not given: this machine is "cpu"
    cpu = {r.label: r for r in judge_results(agent_results, ClaimRegistry())}
    assert {r.profile for r in cpu.values()} == {"cpu"}
    assert "parallel.fqa.cores[b1@2c]" not in cpu  # no cpu rule: not judged
    ref = cpu["parallel.fqa.cores[b4@2c]"]
    assert ref.verdict == "not run here" and ref.message.endswith(
        "the cpu rule needs the cores' data-parallel scaling, measured only by the local suite "
        "(tox -e cpu)"
    )


def test_unstable_and_failed_workloads_make_their_claims_not_run(agent_results):
    results = copy.deepcopy(agent_results)
    w = {x["name"]: x for x in results["workloads"]}
    w["fqa.fp32.b2@2c"].update(stable=False, unstable_reasons=["cpu0 1.2 -> 0.8 GHz"])
    w["fqa.fp32.b4@1c"].update(status="error", reason="RuntimeError: boom", samples_s=[])
    judged = {r.label: r for r in judge_results(results, ClaimRegistry(), profile="tx2")}
    r = judged["parallel.fqa.cores[b2@2c]"]
    assert r.verdict == "not run here"
    assert r.message.endswith("not run here: unstable: fqa.fp32.b2@2c: cpu0 1.2 -> 0.8 GHz")
    for label in ("parallel.fqa.cores[b4@2c]", "parallel.fqa.batch[b4-b1@2c]"):
        assert "fqa.fp32.b4@1c: error: RuntimeError: boom" in judged[label].message


# ---------------------------------------------------------------------------------- the CLI


def test_judge_cli_prints_the_table_writes_the_report_and_exits_by_verdict(
    agent_results, tmp_path, capsys
):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(agent_results))
    code = main(["judge", str(path), "--profile", "tx2", "--out", str(tmp_path / "judged")])
    out = capsys.readouterr().out
    judged = judge_results(agent_results, ClaimRegistry(), profile="tx2")
    assert code == (1 if any(r.verdict == "FAIL" for r in judged) else 0)
    assert "parallel.fqa.cores[b4@2c]" in out and "claims: " in out
    doc = json.loads((tmp_path / "judged" / "results-judged.json").read_text())
    assert [v["verdict"] for v in doc["verdicts"]] == [r.verdict for r in judged]
    assert "## Workloads" in (tmp_path / "judged" / "report.md").read_text()


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        ('{"schema": 1, "workloads": [', ("not valid JSON",)),
        ('{"schema": 2, "workloads": []}', ("field 'schema' is 2",)),
        ('{"schema": 1, "workloads": [{"name": "a", "status": "ok"}]}',
         ("workloads[0]", "'samples_s'")),
        (None, ("cannot read it",)),
    ],
)  # fmt: skip
def test_judge_cli_bad_results_exit_2_with_one_line(tmp_path, capsys, text, needles):
    path = tmp_path / "results.json"
    if text is not None:
        path.write_text(text)
    assert main(["judge", str(path)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and str(path) in lines[0], captured.err
    assert all(n in lines[0] for n in needles), lines[0]
    assert "Traceback" not in captured.err and captured.out == ""


def test_judge_refuses_a_board_hint_that_is_not_a_profile(agent_results):
    results = copy.deepcopy(agent_results)
    results["board"]["profile_hint"] = "xavier"
    with pytest.raises(ResultsError, match="profile_hint.*--profile"):
        judge_results(results, ClaimRegistry())


def test_help_explains_the_flow(capsys):
    for command in ("bundle", "judge"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        assert "board_agent.pyz bundle --out results.json" in out
        assert "edgecheck judge results.json" in out


def test_bundle_cli_writes_a_bundle(tmp_path, capsys):
    assert main(["bundle", "--target", "cpu", "--models", "fqa", str(tmp_path / "b")]) == 0
    _, digest = agent.load_bundle(str(tmp_path / "b"))
    raw = (tmp_path / "b" / "manifest.json").read_bytes()
    assert digest == hashlib.sha256(raw).hexdigest()
    assert "board_agent.pyz" in capsys.readouterr().out


def test_workload_globs_keep_only_those_workloads_and_their_files(tmp_path):
    out = tmp_path / "b4"
    write_bundle(out, "tx2", models=("fqa",), workloads=["fqa.fp32.b4@*"])
    manifest, _ = agent.load_bundle(str(out))
    assert [w["name"] for w in manifest["workloads"]] == [
        "fqa.fp32.b4@1c", "fqa.fp32.b4@2c", "fqa.fp32.b4@4c",
    ]  # fmt: skip
    assert sorted(manifest["files"]) == [
        "board_agent.pyz",
        "inputs/fqa_b4.bin",
        "models/fqa_fp32.onnx",
    ]  # fmt: skip (no FP16 file: no trtexec workload was kept)
    # a claim whose other workload was left out is "not run here", naming it
    derived = {r.label: r for r in judge_results(
        {"schema": 1, "board": {"profile_hint": "tx2"}, "workloads": [
            {**w, "status": "ok", "samples_s": [0.01], "stable": True}
            for w in manifest["workloads"]]},
        ClaimRegistry(),
    )}  # fmt: skip
    assert "workload fqa.fp32.b1@1c is not in the results" in (
        derived["parallel.fqa.batch[b4-b1@2c]"].message
    )
    with pytest.raises(BundleError, match=r"fqa\.int8\.\* match no workload; choose from: fqa"):
        write_bundle(tmp_path / "none", "tx2", models=("fqa",), workloads=["fqa.int8.*"])

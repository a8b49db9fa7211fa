"""The edgecheck command line: help on every command, the MAC table, device, evaluate."""

from __future__ import annotations

import json
import re

import pytest

from edgecheck.cli import build_parser, main

COMMANDS = [
    "evaluate",
    "macs",
    "device",
    "models",
    "prune",
    "train",
    "baselines",
    "ab",
    "pipeline",
    "bundle",
    "judge",
    "remote",
    "history",
]


@pytest.mark.parametrize("command", [[], *[[c] for c in COMMANDS]])
def test_help_on_every_command(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    assert "usage: edgecheck" in capsys.readouterr().out


def test_all_commands_are_wired():
    sub = next(a for a in build_parser()._actions if a.dest == "command")
    assert sorted(sub.choices) == sorted(COMMANDS)


def test_macs_vgg16_paper_plan_prints_table_six(capsys):
    assert main(["macs", "vgg16", "--plan", "paper"]) == 0
    out = capsys.readouterr().out
    assert "conv1_1" in out and "conv5_3" in out
    assert "15.347" in out and "3.392" in out


def test_macs_json(capsys):
    assert main(["macs", "fqa", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["model"] == "fqa"
    assert 20e6 < payload["macs"]["total"] < 30e6


def test_macs_of_an_onnx_file_and_errors(tmp_path, capsys):
    from edgecheck.export import export_onnx
    from edgecheck.models import build_model

    path = export_onnx(build_model("fqa"), (1, 64, 64), tmp_path / "fqa.onnx")
    assert main(["macs", str(path)]) == 0
    assert "features.conv1" in capsys.readouterr().out
    assert main(["macs", "fqa", "--plan", "paper"]) == 2
    assert "--plan applies to vgg16 only" in capsys.readouterr().err
    assert main(["macs", "resnet"]) == 2
    assert "unknown model 'resnet'" in capsys.readouterr().err


def test_device_json_and_text(capsys):
    assert main(["device", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["profile"] in ("tx2", "gpu", "cpu")
    assert info["calibration"]["sgemm_gflops"] > 0 and info["calibration"]["read_gbps"] > 0
    assert info["identity"]["cpu_family"] == info["fingerprint"]["cpu_family"]
    assert main(["device", "--profile", "tx2", "--no-calibration"]) == 0
    out = capsys.readouterr().out
    assert "profile: tx2 (--profile)" in out
    assert out.endswith("calibration: not measured (--no-calibration)\n")
    # The calibration measured above is reused for this fingerprint: no second 2-3 s.
    assert main(["device"]) == 0
    out = capsys.readouterr().out
    assert "identity (what decides speed; hashed into the fingerprint id):" in out
    assert f"fingerprint id: {info['fingerprint_id']}\n" in out
    assert "calibration: measuring one-core sgemm and memory read (2-3 s) ...\n" in out
    assert re.search(r"\ncalibration: sgemm [0-9.]+ GFLOP/s, read [0-9.]+ GB/s\n", out)


def test_evaluate_writes_report(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "report"
    # Table VI only: the timed sections take minutes (tests/perf/ and the report run them).
    assert main(["evaluate", "--out", str(out), "--only", "macs", "--no-progress"]) == 0
    report = (out / "report.md").read_text()
    assert "Table VI" in report and "15.347" in report and "Conv4_3" in report
    results = json.loads((out / "results.json").read_text())
    verdicts = {r["verdict"] for s in results["sections"] for r in s["results"]}
    assert verdicts == {"pass"}
    assert "0 FAIL" in capsys.readouterr().out


def test_evaluate_unknown_experiment(tmp_path, capsys):
    assert main(["evaluate", "--out", str(tmp_path), "--only", "nope", "--no-progress"]) == 2
    assert "unknown experiment(s) nope" in capsys.readouterr().err

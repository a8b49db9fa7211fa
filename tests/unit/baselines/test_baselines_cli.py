"""``edgecheck baselines show | diff | update``."""

from __future__ import annotations

import json
import os
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from edgecheck.baselines import BaselineFile, DirectoryStore, Entry
from edgecheck.bench.calibration import Calibration
from edgecheck.cli import main

FP = "0123456789ab"
JITTER = 1.0 + 0.02 * np.sin(np.arange(40) * 1.7)


def _entries(macs: int, latency: float) -> list[Entry]:
    return [
        Entry.measured("t.py::test_macs", "conv_macs", macs, unit="MACs", recorded="2026-01-01T00:00:00Z"),
        Entry.measured("t.py::test_speed", "latency", latency * JITTER, kind="timing", unit="s",
                       fingerprint_id=FP, recorded="2026-01-01T00:00:00Z"),
    ]  # fmt: skip


def _write(path: Path, entries: list[Entry]) -> Path:
    path.write_text(BaselineFile("cpu").merged(entries, {FP: {"cores": "2"}}).to_json())
    return path


@pytest.mark.parametrize("action", [[], ["show"], ["diff"], ["update"], ["rebase"]])
def test_help_explains(action, capsys):
    with pytest.raises(SystemExit) as info:
        main(["baselines", *action, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert "usage: edgecheck baselines" in out
    if not action:
        assert "Mann-Whitney" in out and "no baseline for this device" in out
        flat = " ".join(out.split())  # argparse wraps at the terminal's width
        assert "'edgecheck baselines rebase'" in flat and "--edgecheck-require-timing" in flat
    if action == ["rebase"]:
        flat = " ".join(out.split())
        assert "--edgecheck-update-timing-baselines" in flat and "not at all when any test" in flat


def test_show_lists_every_entry(tmp_path, capsys):
    path = _write(tmp_path / "cpu.json", _entries(1000, 1e-3))
    assert main(["baselines", "show", str(path)]) == 0
    out = capsys.readouterr().out
    assert f"{path}: profile cpu, 2 entries" in out
    assert "t.py::test_macs :: conv_macs: 1,000 MACs, exact, lower is better" in out
    assert "t.py::test_speed :: latency: 0.00100041 s (IQR" in out and f"fingerprint {FP}" in out
    assert main(["baselines", "show", str(path), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["entries"]) == 2


def test_show_defaults_to_this_profiles_file(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("EDGECHECK_PROFILE", raising=False)
    assert main(["baselines", "show", "--baselines", str(tmp_path), "--profile", "cpu"]) == 0
    assert "no baselines stored for profile cpu yet" in capsys.readouterr().out
    DirectoryStore(tmp_path).save("cpu", _entries(5, 1.0))
    assert main(["baselines", "show", "--baselines", str(tmp_path), "--profile", "cpu"]) == 0
    assert "2 entries" in capsys.readouterr().out


def test_show_names_the_calibration_and_warns_about_a_schema_1_file(tmp_path, capsys):
    calibrated = Calibration(sgemm_gflops=93.1, read_gbps=25.3)
    macs, latency = _entries(1000, 1e-3)
    path = _write(tmp_path / "cpu.json", [macs, replace(latency, calibration=calibrated)])
    assert main(["baselines", "show", str(path)]) == 0
    captured = capsys.readouterr()
    assert f"fingerprint {FP}, calibration sgemm 93.1 GFLOP/s, read 25.3 GB/s, recorded" in (
        captured.out
    )
    assert captured.err == ""
    old = _write(tmp_path / "old.json", _entries(1000, 1e-3))
    old.write_text(old.read_text().replace('"schema": 2', '"schema": 1'))
    assert main(["baselines", "show", str(old)]) == 0
    captured = capsys.readouterr()
    assert "no calibration (old identity: not compared)" in captured.out
    assert captured.err == (
        f"warning: {old}: schema 1 file: its 1 timing entry was recorded under the old device "
        "identity and will not be compared until re-recorded on each machine with "
        "'pytest --edgecheck-update-baselines' (or 'edgecheck baselines update -- TESTS'); its "
        "exact and ratio entries compare as before.\n"
    )


def test_diff_shows_changes_with_verdicts_and_fails_on_a_regression(tmp_path, capsys):
    old = _write(tmp_path / "old.json", _entries(1000, 1e-3))
    same = _write(tmp_path / "same.json", _entries(1000, 1e-3))
    assert main(["baselines", "diff", str(old), str(same)]) == 0
    assert "hold the same measurements" in capsys.readouterr().out
    new = _write(tmp_path / "new.json", _entries(900, 1.2e-3))
    assert main(["baselines", "diff", str(old), str(new)]) == 1
    out = capsys.readouterr().out
    assert (
        "changed  t.py::test_macs :: conv_macs: improvement (refresh the baseline): 1,000 MACs -> 900 MACs"
        in out
    )
    assert "changed  t.py::test_speed :: latency: REGRESSION" in out and "+20 %" in out
    assert "2 change(s), 1 regression(s)" in out


def test_bad_file_is_one_line_naming_it(tmp_path, capsys):
    path = tmp_path / "cpu.json"
    path.write_text('{"schema": 7, "profile": "cpu", "entries": []}')
    assert main(["baselines", "show", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"edgecheck baselines: error: {path}: schema 7 is newer")
    assert main(["baselines", "diff", str(tmp_path / "missing.json"), str(path)]) == 2
    assert f"{tmp_path / 'missing.json'}: no such baseline file" in capsys.readouterr().err


def test_update_runs_pytest_and_writes_the_measured_metrics(tmp_path, monkeypatch, capfd):
    monkeypatch.delenv("EDGECHECK_PROFILE", raising=False)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in sys.path if p))
    (tmp_path / "test_x.py").write_text(
        "def test_x(edgecheck_baseline):\n    edgecheck_baseline.record('params', 42)\n"
    )
    monkeypatch.chdir(tmp_path)
    assert (
        main(["baselines", "update", "--baselines", "bl", "--", "-q", "-p", "no:cacheprovider"])
        == 0
    )
    assert "baselines updated: 1 metric(s)" in capfd.readouterr().out
    stored = DirectoryStore(tmp_path / "bl").fetch("cpu")
    assert [e.value for e in stored.entries.values()] == [42.0]

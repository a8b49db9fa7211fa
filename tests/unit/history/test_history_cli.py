"""``edgecheck history``: the commands on a real store filled with generated series."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from edgecheck.baselines import Entry
from edgecheck.cli import main
from edgecheck.history import simulate as sim
from edgecheck.history.store import HistoryStore, Point, Run

TEST = "tests/perf/test_model.py::test_latency"


def fill(path: Path, values: np.ndarray, *, fingerprint: str = "fid000000001",
         metric: str = "latency", extra: bool = True) -> None:  # fmt: skip
    with HistoryStore(path, create=True) as store:
        runs = []
        for i, v in enumerate(values):
            e = Entry(TEST, metric, float(v), kind="timing", unit="s", n=1,
                      tolerance=0.05, fingerprint_id=fingerprint)  # fmt: skip
            points = [Point(e, float(v) * 0.99, float(v) * 1.01)]
            if extra:
                points.append(Point(Entry("t.py::test_macs", "conv_macs", 1e9, n=1), 1e9, 1e9))
            runs.append(Run(f"c{i:04d}", "main", f"2026-01-01T{i // 60:02d}:{i % 60:02d}:00Z",
                            "cpu", fingerprint, {"cpu_family": "25"}, None, tuple(points)))  # fmt: skip
        store.append_many(runs)


@pytest.fixture
def staircase(tmp_path: Path) -> Path:
    path = tmp_path / "h.sqlite"
    s = sim.make_series(sim.step_levels(60, [(20, 0.04), (40, 0.04)]),
                        np.random.default_rng(8), noise=0.01)  # fmt: skip
    fill(path, s.values * 0.02)
    return path


def test_show_lists_metrics_and_prints_a_series_with_its_changes(
    staircase: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["history", "show", "--store", str(staircase)]) == 0
    out = capsys.readouterr().out
    assert "60 runs, 2 metrics" in out and f"{TEST}::latency  (timing, 60 runs)" in out
    assert main(["history", "show", "latency", "--store", str(staircase)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "(timing, s, lower is better): 60 runs, 2 change point(s)" in lines[0]
    assert lines[1].split()[:4] == ["run", "commit", "branch", "time"]
    marked = [line.split()[0] for line in lines[2:] if "<- change" in line]
    assert len(marked) == 2 and abs(int(marked[0]) - 20) <= 1 and abs(int(marked[1]) - 40) <= 1


def test_changes_and_check(staircase: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["history", "changes", f"{TEST}::latency", "--store", str(staircase),
                 "--json"]) == 0  # fmt: skip
    found = json.loads(capsys.readouterr().out)["changes"]
    assert len(found) == 2 and found[0]["step"] == pytest.approx(0.04, abs=0.015)
    assert found[0]["commit_range"] == f"c{found[0]['index'] - 1:04d}..c{found[0]['index']:04d}"
    assert main(["history", "changes", "latency", "--store", str(staircase)]) == 0
    text = capsys.readouterr().out
    assert "2 change point(s) in 60 runs" in text and "worse), p = " in text
    assert main(["history", "check", "latency", "--store", str(staircase)]) == 1
    message = capsys.readouterr().out
    assert "CREEP" in message and found[0]["commit_range"] in message
    first = found[0]["commit"]
    assert main(["history", "check", "latency", "--store", str(staircase),
                 "--accept", first]) == 0  # fmt: skip
    assert "no creep" in capsys.readouterr().out


def test_check_passes_on_noise(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "flat.sqlite"
    fill(path, sim.no_change(np.random.default_rng(4), n=50, noise=0.02).values)
    assert main(["history", "check", "latency", "--store", str(path), "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["status"] == "pass" and payload["new_level"] == 0
    assert payload["noise"] == pytest.approx(0.02, rel=0.5)


def test_plot_writes_a_png(
    staircase: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("matplotlib")
    out = tmp_path / "plot.png"
    assert main(["history", "plot", "latency", "--store", str(staircase), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 10_000
    assert "2 change point(s)" in capsys.readouterr().out


def test_export_import(staircase: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dump = tmp_path / "h.jsonl"
    assert main(["history", "export", str(dump), "--store", str(staircase)]) == 0
    assert len(dump.read_text().splitlines()) == 61
    copy = tmp_path / "copy.sqlite"
    assert main(["history", "import", str(dump), "--store", str(copy)]) == 0
    assert "imported 60 run(s)" in capsys.readouterr().out
    assert main(["history", "import", str(dump), "--store", str(copy)]) == 0
    assert "imported 0 run(s)" in capsys.readouterr().out
    with HistoryStore(staircase) as a, HistoryStore(copy) as b:
        assert list(a.runs()) == list(b.runs())


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "edgecheck.cli", *args],
                          capture_output=True, text=True, timeout=60)  # fmt: skip


def test_errors_are_one_line_with_status_2(
    staircase: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    missing = tmp_path / "nope.sqlite"
    csv = tmp_path / "runs.csv"
    csv.write_text("commit,median\n")
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"edgecheck_history": 1}\n{oops\n')
    other = tmp_path / "other.sqlite"
    fill(other, np.ones(10), fingerprint="fid000000002", extra=False)
    with HistoryStore(other) as o, HistoryStore(staircase) as s:
        s.append_many(list(o.runs()))
    cases = [
        (["show", "latency", "--store", str(missing)], f"{missing}: no history store there"),
        (["show", "--store", str(csv)], f"{csv}: not an SQLite file"),
        (["show", "fps", "--store", str(staircase)], "no metric 'fps' stored"),
        (["show", "latency", "--store", str(staircase)], "recorded on 2 devices"),
        (["import", str(bad), "--store", str(tmp_path / "new.sqlite")], f"{bad} line 2: not JSON"),
    ]
    for args, message in cases:
        assert main(["history", *args]) == 2, args
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, err
    assert not missing.exists() and not (tmp_path / "new.sqlite").exists()
    assert main(["history", "show", "latency", "--store", str(staircase),
                 "--fingerprint", "fid000000002"]) == 0  # fmt: skip
    assert "10 runs" in capsys.readouterr().out


@pytest.mark.parametrize("action", ["show", "changes", "check", "plot", "html", "export", "import"])
def test_help_explains_each_action(action: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["history", action, "--help"])
    assert exit_info.value.code == 0
    text = capsys.readouterr().out
    assert "--store" in text and "exit status:" in text


def test_history_help_lists_the_actions() -> None:
    done = run_cli("history", "--help")
    assert done.returncode == 0
    for action in ("show", "changes", "check", "plot", "html", "export", "import"):
        assert f"\n  {action} " in done.stdout

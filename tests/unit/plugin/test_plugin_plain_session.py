"""The installed plugin in a project with no edgecheck test: it runs, without torch too, and
imports no heavy package (what `benchmarks/plugin_start.py` times: under 50 ms added)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("torch", "onnxruntime", "numpy", "scipy", "cv2", "onnx")


def _installed() -> bool:
    from importlib.metadata import entry_points

    return any(ep.name == "edgecheck" for ep in entry_points(group="pytest11"))


def _session(folder: Path, blocked: tuple[str, ...]) -> subprocess.CompletedProcess[str]:
    # As installed (the pytest11 entry point), or named with -p where this checkout runs from
    # PYTHONPATH without being installed.
    load = [] if _installed() else ["-p", "edgecheck.plugin"]
    code = (
        "import json, sys\n"
        f"for name in {blocked!r}:\n"
        "    sys.modules[name] = None  # import raises ImportError: as if not installed\n"
        "import pytest\n"
        f"rc = pytest.main(['-p', 'no:cacheprovider', *{load!r}, 'test_plain.py'])\n"
        f"print(json.dumps([m for m in {HEAVY!r} if sys.modules.get(m) is not None]))\n"
        "print(json.dumps('edgecheck.plugin' in sys.modules))\n"
        "sys.exit(rc)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=folder, capture_output=True, text=True, timeout=120
    )


@pytest.mark.parametrize("blocked", [(), ("torch",), ("torch", "onnxruntime", "numpy")])
def test_a_project_without_edgecheck_tests_runs_and_imports_nothing_heavy(tmp_path, blocked):
    (tmp_path / "test_plain.py").write_text("def test_one():\n    assert sum([1, 2]) == 3\n")
    done = _session(tmp_path, blocked)
    assert done.returncode == 0, done.stdout + done.stderr
    *_, heavy, loaded = done.stdout.strip().splitlines()
    assert "1 passed" in done.stdout and json.loads(loaded)  # the plugin was active
    assert json.loads(heavy) == []
    assert "edgecheck: profile" not in done.stdout  # nothing asked for the device


def test_the_device_line_comes_when_the_project_or_a_test_asks_for_edgecheck(tmp_path):
    (tmp_path / "test_plain.py").write_text(
        "import pytest\n\n@pytest.mark.needs(cores=1)\n"
        "def test_one():\n    assert sum([1, 2]) == 3\n"
    )
    done = _session(tmp_path, ())
    assert done.returncode == 0, done.stdout + done.stderr
    header, _, summary = done.stdout.partition("test_plain.py")
    assert "edgecheck: profile" not in header and "edgecheck: profile" in summary  # a marker
    (tmp_path / "pyproject.toml").write_text('[tool.edgecheck]\nprofile = "cpu"\n')
    header, _, _ = _session(tmp_path, ()).stdout.partition("test_plain.py")
    assert "edgecheck: profile cpu" in header  # the project's table asks up front

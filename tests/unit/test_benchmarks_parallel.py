"""The benchmark script's command line works (the measurements themselves are not run here)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "parallel.py"


def test_help_names_the_options():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    for option in ("--quick", "--backend", "--tables", "--json", "--repeats"):
        assert option in done.stdout

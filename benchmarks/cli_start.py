#!/usr/bin/env python
"""How long the ``edgecheck`` command takes to start: the median wall time of N runs each of
``edgecheck --help``, ``edgecheck ab --help``, ``edgecheck device --no-calibration`` and
``edgecheck models``, each a fresh Python process, as a user's shell would start it.

Target (issue 16): under 0.5 s for ``--help`` and for commands that build no model (argparse
setup imports no torch, numpy, onnx or onnxruntime; ``models`` lists the registry without
torch; ``device`` asks torch about CUDA only where the CUDA driver library loads). On a CUDA
machine ``device`` imports torch (about 1 s) and is shown, not held (exit status 1 only when
a held command is slow).

Usage::

    python benchmarks/cli_start.py             # 5 runs per command
    python benchmarks/cli_start.py --runs 11 --json start.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TARGET_S = 0.5
COMMANDS: list[tuple[list[str], bool]] = [  # (arguments, held to the target)
    (["--help"], True),
    (["ab", "--help"], True),
    (["device", "--no-calibration"], True),  # not held where a CUDA driver is (see main)
    (["models"], True),
]
ENTRY = "import sys; from edgecheck.cli import main; sys.exit(main(sys.argv[1:]))"


def time_command(args: list[str], runs: int) -> list[float]:
    """Wall seconds of `runs` fresh ``edgecheck ARGS`` processes (this checkout's code)."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-c", ENTRY, *args], cwd=ROOT, capture_output=True, text=True
        )
        times.append(time.perf_counter() - start)
        if done.returncode != 0:
            raise SystemExit(f"edgecheck {' '.join(args)} failed: {done.stderr.strip()}")
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs per command (default: 5)")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from edgecheck.device import cuda_driver_present

    cuda = cuda_driver_present()
    rows = []
    print(f"{'command':<36} {'median s':>9} {'min s':>7} {'max s':>7}  target")
    for argv, held in COMMANDS:
        held = held and not (cuda and argv[0] == "device")
        times = time_command(argv, args.runs)
        median = statistics.median(times)
        verdict = ("ok" if median < TARGET_S else "SLOW") if held else "(imports torch)"
        label = "edgecheck " + " ".join(argv)
        print(f"{label:<36} {median:9.3f} {min(times):7.3f} {max(times):7.3f}  {verdict}")
        rows.append({"command": label, "median_s": median, "times_s": times, "held": held})
    if args.json:
        args.json.write_text(json.dumps({"target_s": TARGET_S, "results": rows}, indent=2))
    slow = [r for r in rows if r["held"] and r["median_s"] >= TARGET_S]
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""What the installed edgecheck plugin adds to a pytest session that has no edgecheck test.

Issue 14's target: under 50 ms with torch installed, and such a session passes where torch is
absent. A throw-away project with one plain test is run N times with the plugin and N times
with ``-p no:edgecheck`` (interleaved, each a fresh process, as a developer's shell starts
pytest); the table shows both medians and their difference, and which heavy packages the
plugin's session imported (none is the goal: torch, onnxruntime, numpy, scipy, cv2).

Usage::

    python benchmarks/plugin_start.py            # 11 runs each
    python benchmarks/plugin_start.py --runs 21
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 0.050
HEAVY = ("torch", "onnxruntime", "numpy", "scipy", "cv2", "onnx")
PLAIN_TEST = "def test_one():\n    assert 1 + 1 == 2\n"
# Runs pytest in-process after the session to list what was imported (the timing runs do not).
PROBE = (
    "import json, sys, pytest\n"
    "rc = pytest.main(['-q', '-p', 'no:cacheprovider', 'test_plain.py'])\n"
    f"print(json.dumps([m for m in {HEAVY!r} if sys.modules.get(m) is not None]))\n"
    "sys.exit(rc)\n"
)


def run_once(folder: Path, extra: list[str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *extra, "test_plain.py"],
        cwd=folder, capture_output=True, text=True,
    )  # fmt: skip
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"pytest failed ({done.returncode}):\n{done.stdout}{done.stderr}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=11, help="runs per arm (default: 11)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="edgecheck-plain-") as tmp:
        folder = Path(tmp)
        (folder / "test_plain.py").write_text(PLAIN_TEST)
        run_once(folder, [])  # warm the file cache
        with_plugin, without = [], []
        for _ in range(args.runs):
            with_plugin.append(run_once(folder, []))
            without.append(run_once(folder, ["-p", "no:edgecheck"]))
        probe = subprocess.run(
            [sys.executable, "-c", PROBE], cwd=folder, capture_output=True, text=True
        )
        heavy = json.loads(probe.stdout.strip().splitlines()[-1])
    a, b = statistics.median(with_plugin), statistics.median(without)
    # The difference's spread: the medians of the paired differences, run by run.
    diffs = [x - y for x, y in zip(with_plugin, without, strict=True)]
    added = statistics.median(diffs)
    print(f"{'session':<34} {'median s':>9} {'min s':>7} {'max s':>7}")
    print(
        f"{'pytest (edgecheck installed)':<34} {a:9.3f} {min(with_plugin):7.3f} {max(with_plugin):7.3f}"
    )
    print(f"{'pytest -p no:edgecheck':<34} {b:9.3f} {min(without):7.3f} {max(without):7.3f}")
    verdict = "ok" if added < TARGET_S else "OVER"
    print(
        f"added by the plugin (median of paired differences): {added * 1e3:.1f} ms "
        f"(target < {TARGET_S * 1e3:.0f} ms): {verdict}"
    )
    print(f"heavy packages imported by the session: {', '.join(heavy) or 'none'}")
    return 0 if added < TARGET_S and not heavy else 1


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""The merge gate's error rates, measured: false regressions on an unchanged model (A/A) and
detection of injected slowdowns, edgecheck's rule next to pytest-benchmark's on the same samples.

Each comparison times two onnxruntime sessions of the FQA CNN interleaved (round by round,
`edgecheck.bench.timing.measure_interleaved`, ``--time`` seconds of calls per side). In the A/A
scenario both are the unchanged model; in the others NEW is wrapped in `SlowedRunner`, which
busy-waits to make each call a known factor slower. Both rules judge the same samples:

* edgecheck: `BaselineCheck` (one-sided Mann-Whitney U against OLD scaled by 1 + tolerance,
  at the stated confidence), i.e. what ``edgecheck ab`` and the baselines use;
* pytest-benchmark 5.x: ``--benchmark-compare-fail=median:10%``, its own check object
  (`pytest_benchmark.utils.parse_compare_fail`) on the two medians.

Targets (issue 7): A/A false regressions <= 1 % of >= 200 comparisons; a 10 % slowdown declared
in >= 95 %, a 5 % slowdown in >= 50 %, with at most 30 s of measurement per comparison.

Usage::

    python benchmarks/gate.py                          # 200 comparisons per scenario, 1 s a side
    python benchmarks/gate.py --comparisons 40 --time 0.3   # a quick look (not the target's n)
    python benchmarks/gate.py --json gate.json
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from typing import Any

SCENARIOS = (("A/A (unchanged)", 1.0), ("+5 % slower", 1.05), ("+10 % slower", 1.10))
TARGETS = {1.0: ("<=", 0.01), 1.05: (">=", 0.50), 1.10: (">=", 0.95)}
PYTEST_BENCHMARK_RULE = "median:10%"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure the merge gate's A/A false-regression rate and its detection of "
        "5 %% and 10 %% slowdowns on the FQA CNN, next to pytest-benchmark's median:10%% rule.",
    )
    parser.add_argument("--comparisons", type=int, default=200, help="per scenario (default: 200)")
    parser.add_argument(
        "--time", type=float, default=1.0, metavar="SECONDS",
        help="seconds of timed calls per side and comparison (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--tolerance", default="2%@0.99", metavar="TOL",
        help="edgecheck's rule, as for 'edgecheck ab --tolerance' (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument("--threads", type=int, default=1, help="onnxruntime threads (default: 1)")
    parser.add_argument("--json", metavar="PATH", help="also write every comparison as JSON")
    return parser.parse_args(argv)


def _wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95 % Wilson interval of a rate k/n (how sure the measured rate is)."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * ((p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def run_scenario(
    factor: float, args: argparse.Namespace, check: Any, pb_check: Any
) -> dict[str, Any]:
    from edgecheck.ab import judge_samples
    from edgecheck.backends import make_runner
    from edgecheck.bench.timing import CallSampler, Target, TimingPolicy, measure_interleaved
    from edgecheck.testing import Slowdown

    policy = TimingPolicy(warmup_rounds=20, warmup_time=0.05, min_rounds=30,
                          min_time=args.time, extend=False)  # fmt: skip
    old = make_runner("fqa", "onnxruntime", threads=args.threads, device="cpu")
    new = Slowdown(factor)(make_runner("fqa", "onnxruntime", threads=args.threads, device="cpu"))
    rows = []
    with old, new:
        batch = old.example_input(0)
        targets = [Target("old", CallSampler(lambda: old.infer(batch))),
                   Target("new", CallSampler(lambda: new.infer(batch)))]  # fmt: skip
        for i in range(args.comparisons):
            start = time.perf_counter()
            m_old, m_new = measure_interleaved(targets, policy=policy, settle=1)
            measured = time.perf_counter() - start
            verdict = judge_samples(m_old.samples, m_new.samples, check=check, label="gate")
            pb_fail = pb_check.fails({"median": m_new.stats.median}, {"median": m_old.stats.median})
            rows.append({
                "i": i, "status": verdict.status, "ratio": verdict.ratio,
                "ci": [verdict.ci_low, verdict.ci_high], "p": verdict.p_value,
                "pytest_benchmark_fails": bool(pb_fail), "rounds": m_old.rounds,
                "seconds": measured,
            })  # fmt: skip
            print(
                f"\r  x{factor:g}: {i + 1}/{args.comparisons}", end="", file=sys.stderr, flush=True
            )
    print(file=sys.stderr)
    n = len(rows)
    ours = sum(r["status"] == "regression" for r in rows)
    theirs = sum(r["pytest_benchmark_fails"] for r in rows)
    return {
        "factor": factor, "n": n, "edgecheck_regressions": ours,
        "pytest_benchmark_fails": theirs,
        "undecided": sum(r["status"] == "undecided" for r in rows),
        "improvements": sum(r["status"] == "improvement" for r in rows),
        "median_ratio": sorted(r["ratio"] for r in rows)[n // 2],
        "seconds_per_comparison": sum(r["seconds"] for r in rows) / n,
        "rounds_per_side": sorted(r["rounds"] for r in rows)[n // 2],
        "rows": rows,
    }  # fmt: skip


def _verdict(factor: float, rate: float, n: int) -> str:
    op, target = TARGETS[factor]
    met = rate <= target if op == "<=" else rate >= target
    enough = n >= 200 or factor != 1.0
    return ("meets" if met else "MISSES") + f" {op} {target:.0%}" + ("" if enough else " (n < 200)")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger().setLevel(logging.ERROR)
    from pytest_benchmark.utils import parse_compare_fail

    from edgecheck.baselines import BaselineCheck
    from edgecheck.device import detect_device

    check = BaselineCheck.parse(args.tolerance)
    pb_check = parse_compare_fail(PYTEST_BENCHMARK_RULE)
    device = detect_device()
    print(f"FQA CNN on onnxruntime, {args.threads} thread(s), batch 1; {args.comparisons} "
          f"comparisons per scenario, {args.time:g} s of calls per side; fingerprint "
          f"{device.fingerprint_id}, {device.capabilities.cores} cores")  # fmt: skip
    results = [run_scenario(f, args, check, pb_check) for _, f in SCENARIOS]
    header = (f"{'scenario':<17} {'median ratio':>12} {'edgecheck ' + args.tolerance:>22} "
              f"{'pytest-benchmark ' + PYTEST_BENCHMARK_RULE:>30} {'s/comparison':>12}")  # fmt: skip
    print(header)
    print("-" * len(header))
    for (label, _factor), r in zip(SCENARIOS, results, strict=True):
        cells = []
        for key in ("edgecheck_regressions", "pytest_benchmark_fails"):
            k, n = r[key], r["n"]
            low, high = _wilson(k, n)
            cells.append(f"{k}/{n} = {k / n:.1%} [{low:.1%}-{high:.1%}]")
        print(f"{label:<17} {r['median_ratio']:>12.4f} {cells[0]:>22} {cells[1]:>30} "
              f"{r['seconds_per_comparison']:>12.2f}")  # fmt: skip
    print()
    for (label, factor), r in zip(SCENARIOS, results, strict=True):
        ours = _verdict(factor, r["edgecheck_regressions"] / r["n"], r["n"])
        theirs = _verdict(factor, r["pytest_benchmark_fails"] / r["n"], r["n"])
        print(f"{label}: edgecheck {ours}; pytest-benchmark {theirs}; "
              f"edgecheck undecided in {r['undecided']}/{r['n']}")  # fmt: skip
    if args.json:
        from edgecheck._atomic import write_atomic

        payload = {"args": vars(args), "device": device.as_dict(), "scenarios": results}
        write_atomic(args.json, json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""A/A runs of examples/onnx-team's latency test: the unchanged model judged against itself.

Each run does what ``pytest`` does in examples/onnx-team for its latency test: times the
committed model with the example's own `measure_latency` and timing policy (conftest.py), at
each of its batch sizes, and judges the p50 latency and the block p99 with the example's
tolerances. Two ways to have "itself" to judge against:

* ``--mode baseline`` (default): against timing baselines recorded on this machine first (the
  example commits none: a team records them on its runner), as a pull request that leaves the
  model alone is judged in CI (`edgecheck.baselines.compare`, calibration included). The
  recording is ``pytest --edgecheck-update-baselines -m perf`` in a temporary copy of the
  example, a separate process, so the runs measure the drift between processes and over the
  minutes of the series, as CI would meet it.
* ``--mode ab``: the model against a second session of itself, interleaved round by round
  (`edgecheck.ab.ab_compare`, what ``edgecheck ab edgenet models/edgenet.onnx`` does).

A run whose thread waited for a CPU beyond the example's MAX_CONTENTION is what the test
skips; it is counted as "skipped (busy machine)", not judged; its p99 beyond
P99_MAX_CONTENTION, "not judged (busy)". Acceptance (issue 16): no
regression, at most 1 undecided out of 20 runs.

Usage::

    python benchmarks/ab_a_a.py                       # 20 runs, against the baselines
    python benchmarks/ab_a_a.py --mode ab --runs 20
    python benchmarks/ab_a_a.py --gate-time 0.5 --runs 5   # a quick look
"""

from __future__ import annotations

import argparse
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "onnx-team"
VERDICTS = ("regression", "improvement", "unchanged", "undecided")


def load(path: Path, name: str) -> ModuleType:
    """Import one of the example's files as a module (it is a project, not a package)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20, help="A/A runs (default: 20)")
    parser.add_argument("--mode", choices=("baseline", "ab"), default="baseline",
                        help="judge against the committed baselines or an interleaved twin "
                        "(default: %(default)s)")  # fmt: skip
    parser.add_argument("--gate-time", type=float, default=None, metavar="SECONDS",
                        help="seconds of calls per batch size (default: the example's)")  # fmt: skip
    parser.add_argument("--example", type=Path, default=EXAMPLE, help="the example project")
    return parser.parse_args(argv)


def record_timings(example: Path, gate_time: float) -> Path:
    """Record the example's timing baselines here, in a temporary copy (the example commits
    none); returns the copy's baselines folder."""
    import shutil
    import subprocess
    import tempfile

    copy = Path(tempfile.mkdtemp(prefix="edgecheck-aa-")) / "onnx-team"
    shutil.copytree(example, copy, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-m", "perf",
         "--edgecheck-update-baselines", "--gate-time", str(gate_time)],
        cwd=copy, capture_output=True, text=True,
    )  # fmt: skip
    if done.returncode != 0 or "baselines updated" not in done.stdout:
        raise SystemExit(f"recording the timing baselines failed:\n{done.stdout[-2000:]}")
    print(f"recorded the timing baselines here first: {copy / 'baselines'}")
    return copy / "baselines"


def ratio_text(verdict: Any) -> tuple[str, str]:
    if verdict.ratio is None:
        return "-", "-"
    ci = f"{verdict.ci_low:.3f}-{verdict.ci_high:.3f}" if verdict.ci_low is not None else "-"
    return f"{verdict.ratio:.3f}", ci


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from edgecheck.ab import ab_compare
    from edgecheck.backends import make_runner
    from edgecheck.baselines import BaselineCheck, DirectoryStore, Entry, compare
    from edgecheck.bench.calibration import measure_calibration
    from edgecheck.config import find_pyproject, load_config
    from edgecheck.device import detect_device

    conftest = load(args.example / "conftest.py", "onnx_team_conftest")
    gate = load(args.example / "tests" / "test_gate.py", "onnx_team_test_gate")
    policy = conftest.gate_policy(args.gate_time or conftest.DEFAULT_GATE_TIME)
    (model, *_) = load_config(find_pyproject(args.example)).models
    path = model.onnx
    device = detect_device()
    baselines = args.example / "baselines"
    if args.mode == "baseline":
        baselines = record_timings(args.example, args.gate_time or conftest.DEFAULT_GATE_TIME)
    stored = DirectoryStore(baselines).fetch(device.profile)
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), "?")  # fmt: skip
    print(f"model {model.name} ({path.name}), mode {args.mode}, {policy.min_time:g} s per batch "
          f"size, batch sizes {gate.BATCH_SIZES}, {gate.THREADS} thread(s)")  # fmt: skip
    print(f"machine: {cpu}, profile {device.profile}, fingerprint {device.fingerprint_id}")
    if args.mode == "baseline":
        cal = {e.calibration.text() for e in stored.entries.values() if e.calibration}
        print(f"baselines: {stored.path} (recorded at {', '.join(sorted(cal))})")

    rows: list[tuple[str, ...]] = []
    calibration: Any = None
    totals: dict[str, dict[str, int]] = {}
    for run in range(1, args.runs + 1):
        for batch in gate.BATCH_SIZES:
            test_id = f"tests/test_gate.py::test_latency_and_throughput[{model.name}-b{batch}]"
            if args.mode == "ab":
                old, new = (make_runner(path, "onnxruntime", batch_size=batch,
                                        threads=gate.THREADS, device="cpu") for _ in "ab")  # fmt: skip
                result = ab_compare(old, new, policy=policy,
                                    check=BaselineCheck(gate.LATENCY_TOLERANCE))  # fmt: skip
                verdicts = {"p50": result.verdict}
                busy = None  # ab_compare's targets do not check their cores
                contended = result.old.contended or result.new.contended
            else:
                if batch == gate.BATCH_SIZES[0]:
                    calibration = measure_calibration()  # once per run, as pytest does
                m = gate.measure_latency(path, batch, policy)
                busy, contended = m.contention, m.contended
                verdicts = {}
                for metric, values, tol in (
                    ("p50_latency", m.samples, gate.LATENCY_TOLERANCE),
                    ("p99_latency", gate.block_p99(m.samples), gate.P99_TOLERANCE),
                ):
                    entry = Entry.measured(test_id, metric, values, kind="timing", unit="s",
                                           tolerance=tol, fingerprint_id=device.fingerprint_id)  # fmt: skip
                    verdicts[metric[:3]] = compare(
                        stored, entry, BaselineCheck(tol), here=device.fingerprint,
                        calibration=lambda c=calibration: c,
                    )  # fmt: skip
            calib = f"{calibration.sgemm_gflops:.0f}" if args.mode == "baseline" else "-"
            cells = [str(run), f"b{batch}", "-" if busy is None else f"{busy:.1%}", calib]
            for key in ("p50", "p99"):
                v = verdicts.get(key)
                if v is None:
                    cells += ["", "", ""]
                    continue
                status = "skipped (busy machine)" if contended else v.status
                if key == "p99" and not contended and (busy or 0.0) > gate.P99_MAX_CONTENTION:
                    status = "not judged (busy)"  # what the test does: warns, no verdict
                if v.status in ("other device", "no baseline"):
                    status = v.status  # not compared (e.g. a calibration out of its band)
                tally = totals.setdefault(f"{key} b{batch}", {})
                tally[status] = tally.get(status, 0) + 1
                cells += [*ratio_text(v), status]
            rows.append(tuple(cells))
            print("  ".join(cells), file=sys.stderr, flush=True)

    head = ("run", "batch", "busy", "sgemm", "p50 ratio", "99% CI", "verdict", "p99 ratio", "99% CI",
            "verdict")  # fmt: skip
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    print("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)).rstrip())
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    print(
        "ratio: NEW/OLD time (above 1 is slower); busy: share of the test's wall time its "
        "thread waited for a CPU; sgemm: this run's calibration, GFLOP/s on one core"
    )
    for key, counts in totals.items():
        judged = sum(n for status, n in counts.items() if status in VERDICTS)
        print(f"{key}: {counts.get('regression', 0)} regressions, "
              f"{counts.get('undecided', 0)} undecided of {judged} judged "
              f"({', '.join(f'{n} {s}' for s, n in sorted(counts.items()))})")  # fmt: skip
    if device.fingerprint_id not in stored.fingerprints and args.mode == "baseline":
        print("note: the baselines were recorded on other fingerprints; nothing was compared")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

#!/usr/bin/env python
"""Tables III and IV of Qi & Liu measured live on this machine, next to the paper's numbers.

Table III: the FQA CNN at batch 1, 2, 4 on 1..N cores: total time for the paper's fixed
workload, faces/s, speedup over 1 core. Table IV: VGG16 at batch 1, 2, 4 on 1..N cores:
latency per batch and speedup. Cells the machine lacks cores for say so ("needs 4 cores,
this machine has 2"). Each configuration runs in its own worker process pinned to its cores
(`edgecheck.bench.cores`), and all configurations of one table are timed interleaved, round
by round, so drift on a shared machine cancels from the speedups.

After each table, its portable (cpu) rules, judged by the same code as the tests and the
report (`edgecheck.evaluation.parallel`): per rule and cell, the measured speedup, the
same-run reference it is judged against (S_dp, the cores' own data-parallel scaling: N
independent 1-core runners at once), the bound and the margin, and the verdict on the same
cell slowed by 20 % (which must FAIL).

Also printed: the timing harness's own overhead against a 1 ms call, the machine's parallel
ceiling (an FP32 matrix product on 1 vs N cores, interleaved with each table's models), and
VGG16's achieved GFLOP/s at batch 1 on 1 thread against this machine's FP32 matmul rate
measured in the same interleaved run.

Usage::

    python benchmarks/parallel.py            # about 5 minutes on 2 cores
    python benchmarks/parallel.py --quick    # about 2 minutes, wider intervals
    python benchmarks/parallel.py --json out.json   # also pytest-benchmark JSON

Heavy modules are imported inside `main`: worker processes ("spawn") re-import this file,
and numpy's BLAS must not start its threads before a worker has pinned itself.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from edgecheck.paper import PAPER_CORES
from edgecheck.paper import TABLE3_PAPER as PAPER_TABLE3
from edgecheck.paper import TABLE3_WORKLOAD as FQA_WORKLOAD
from edgecheck.paper import TABLE4_PAPER as PAPER_TABLE4

BATCHES = (1, 2, 4)
# The targets for this machine (2 Zen cores), checked here and printed.
TARGET_FQA_B4_1C = 1400.0  # faces/s
TARGET_FQA_B4_2C_SPEEDUP = 1.6
TARGET_VGG_2C_SPEEDUP = 1.85
TARGET_VGG_SGEMM_FRACTION = 0.90
TARGET_OVERHEAD = 0.01  # of a 1 ms call
TARGET_REPEAT_AGREEMENT = 0.05


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure the paper's Tables III (FQA CNN) and IV (VGG16) on this "
        "machine's cores and print them next to the paper's values.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="shorter measurements (about 1 minute)"
    )
    parser.add_argument(
        "--backend",
        default=None,
        help="runtime to time (default: the fastest CPU backend, onnxruntime when installed)",
    )
    parser.add_argument(
        "--tables", default="3,4", help="which tables to measure, e.g. '3' or '3,4' (default)"
    )
    parser.add_argument(
        "--json", metavar="PATH", help="also write the measurements as pytest-benchmark JSON"
    )
    parser.add_argument(
        "--repeats", type=int, default=3, help="repeats of the FQA b4 speedup (default 3)"
    )
    return parser.parse_args(argv)


def environment(backend: str) -> dict[str, Any]:
    """What the numbers were measured on (versions, CPU, cores, load)."""
    import numpy as np

    env: dict[str, Any] = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "cpu": _cpu_model(),
        "usable_cores": len(os.sched_getaffinity(0)),
        "backend": backend,
    }
    for module in ("torch", "onnxruntime"):
        try:
            env[module] = __import__(module).__version__
        except ImportError:
            env[module] = None
    return env


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min), {five:.2f} (5 min)"


def _fmt(x: float | None, digits: int = 3) -> str:
    return "-" if x is None else f"{x:.{digits}f}"


def runner_check_cost(backend: str) -> tuple[float, float]:
    """Seconds `Runner.infer`'s checks add to one FQA batch-1 call, and the call's median.

    Measured in this process, interleaved: the public `infer` against the bare `_infer_impl`.
    """
    from edgecheck.backends import make_runner
    from edgecheck.bench.timing import CallSampler, Target, TimingPolicy, measure_interleaved

    policy = TimingPolicy(warmup_rounds=20, min_rounds=200, min_time=0.3, max_rel_ci_width=1.0)
    with make_runner("fqa", backend, batch_size=1, threads=1, device="cpu") as runner:
        batch = runner.example_input()
        checked, bare = measure_interleaved(
            [
                Target("infer", CallSampler(lambda: runner.infer(batch))),
                Target("_infer_impl", CallSampler(lambda: runner._infer_impl(batch))),
            ],
            policy=policy,
            block=5,
            settle=1,
        )
    return checked.median - bare.median, bare.median


@dataclass
class Check:
    """One target of the issue: met, missed, or undecided when its inputs were unstable."""

    what: str
    ok: bool
    value: str
    inputs: list[Any] = field(default_factory=list)

    def line(self) -> str:
        unstable = [m for m in self.inputs if m.unstable]
        if unstable:
            return f"  [undecided] {self.what}: {self.value} ({unstable[0].name}: {unstable[0].reason})"
        return f"  [{'met' if self.ok else 'MISS'}] {self.what}: {self.value}"


@dataclass
class Run:
    """What one invocation measures and collects."""

    backend: str
    usable: int
    quick: bool
    environment: dict[str, Any]
    repeats: int
    measured: list[Any] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)

    @property
    def cores(self) -> list[int]:
        return list(range(1, self.usable + 1))

    @property
    def shown_cores(self) -> list[int]:
        return sorted(set(self.cores) | set(PAPER_CORES))

    def references(self, n: int) -> list[tuple[Any, int]]:
        """A matmul on 1 and on all cores: the parallel ceiling, timed with the models."""
        from edgecheck.bench.cores import MatmulWorkload

        work = MatmulWorkload(n, "onnxruntime")
        return [(work, 1), (work, self.usable)] if self.usable > 1 else []


def _ceiling(pair: Sequence[Any]) -> str:
    """``"1.93x"`` for a (1-core, N-core) pair of matmul measurements, with their wait."""
    from edgecheck.bench.timing import speedup

    if len(pair) < 2:
        return "n/a (1 core)"
    wait = max(m.contention or 0.0 for m in pair)
    return f"{speedup(pair[0], pair[1]).value:.2f}x (wait {wait:.1%})"


def _speedup_cell(base: Any, m: Any) -> str:
    from edgecheck.bench.timing import speedup

    e = speedup(base, m)
    return f"{e.value:.3f} [{e.low:.2f},{e.high:.2f}]"


def _noise_cells(m: Any) -> str:
    wait = "-" if m.contention is None else f"{m.contention:.1%}"
    return f"{m.stats.relative_ci_width:>7.2%} {wait:>6}"


def rules(run: Run, model: str) -> None:
    """Measure `model`'s table with `edgecheck.evaluation.parallel.measure_table` (the code the
    tests and the report use: the data-parallel reference in the same run, rounds added until
    every cpu rule is decided or the budget ends) and print, per rule and cell, the measured
    speedup, the same-run reference S_dp, the bound and the margin; plus the same verdict on
    the cell's 2-core runner slowed by 20 % (the test-only `Slowdown`), which must FAIL."""
    from edgecheck.claims import CLAIMS, speedup_key
    from edgecheck.evaluation.parallel import (
        BATCH_CLAIM,
        MODEL_CLAIMS,
        fqa_settings,
        judge_batch,
        judge_cell,
        measure_table,
        vgg16_settings,
    )
    from edgecheck.testing import TEETH_SLOWDOWN, Slowdown

    profile = "cpu"
    teeth = Slowdown(TEETH_SLOWDOWN)
    if model == "fqa":
        settings = fqa_settings(budget=20.0 if run.quick else 40.0)
        slowed_batch = 4
    else:
        settings = vgg16_settings(rounds=4 if run.quick else 6, budget=90.0 if run.quick else 150.0)
        slowed_batch = 1
    cores = [c for c in (1, 2, 4) if c <= run.usable]
    variants = [(slowed_batch, 2, teeth)] if 2 in cores else []
    start = time.perf_counter()
    table = measure_table(
        model, settings, backend=run.backend, cores=cores, variants=variants,
        environment=run.environment, profile=profile,
    )  # fmt: skip
    took = time.perf_counter() - start
    run.measured += [*table.cells.values(), *table.reference.values(), *table.variants.values()]
    claim = CLAIMS[MODEL_CLAIMS[model]]
    print(
        f"Rules of {claim.id} on the {profile} profile, judged in one interleaved run "
        f"({table.rounds} rounds; {took:.0f} s with the workers' start, the rounds' budget "
        f"{settings.budget:g} s):"
    )
    header = (
        f"  {'cell':<12} | {'speedup [95% CI]':>20} {'S_dp':>6} | {'rule':<28} "
        f"{'bound':>6} {'margin':>7} | verdict"
    )
    print(header)
    print("  " + "-" * (len(header) - 2))
    cells = [(b, c, None) for b in table.batches for c in table.cores if c > 1]
    cells += list(table.variants)
    for b, c, f in cells:
        key = speedup_key(b, c)
        rule = claim.rule_for(profile, key)
        if rule is None:
            e = table.speedup(b, c)
            print(f"  {key:<12} | {e.value:>6.3f} [{e.low:.3f},{e.high:.3f}] {'':>6} | "
                  f"{'(information only: no cpu rule)':<28}")  # fmt: skip
            continue
        result = judge_cell(table, claim, b, c, profile, variant=f)
        e = table.speedup(b, c) if f is None else table.variant_speedup(b, c, f)
        s_dp = f"{table.dp_scaling(b, c).value:.3f}" if (b, c) in table.reference else "-"
        label = key if f is None else f"{key} {f}"
        rule_text = (
            f">= {rule.reference_factor:g} x S_dp"
            if rule.reference_factor is not None
            else f">= {rule.per_core:g} x cores"
        )
        bound = "-" if result.bound is None else f"{result.bound:.3f}"
        margin = "-" if result.margin is None else f"{result.margin:+.1%}"
        verdict = result.verdict + (" (must FAIL)" if f is not None else "")
        if result.verdict == "not run here":
            verdict += f": {result.message.split('not run here: ', 1)[-1]}"
        print(f"  {label:<12} | {e.value:>6.3f} [{e.low:.3f},{e.high:.3f}] {s_dp:>6} | "
              f"{rule_text:<28} {bound:>6} {margin:>7} | {verdict}")  # fmt: skip
    if model == "fqa":
        batch_claim = CLAIMS[BATCH_CLAIM]
        for c in table.cores[1:]:
            d = table.batch_difference(c)
            result = judge_batch(table, batch_claim, c, profile)
            print(f"  {'b4-b1@' + str(c) + 'c':<12} | {d.value:>6.3f} [{d.low:.3f},{d.high:.3f}] "
                  f"{'':>6} | {'interval of the difference > 0':<28} {'0':>6} "
                  f"{'-':>7} | {result.verdict}")  # fmt: skip
    print()


def table3(run: Run) -> None:
    """Measure and print Table III (FQA CNN), add its checks to `run`."""
    from edgecheck.bench.cores import RunnerSpec, WorkerGroup, cores_unavailable_reason
    from edgecheck.bench.timing import TimingPolicy, measure_interleaved, speedup

    policy = TimingPolicy(
        warmup_rounds=5,
        warmup_time=0.2 if run.quick else 0.5,
        min_rounds=20,
        min_time=0.3 if run.quick else 1.5,
        max_rel_ci_width=0.03,
    )
    specs = [(RunnerSpec("fqa", run.backend, batch_size=b), c) for b in BATCHES for c in run.cores]
    keys = [(spec.batch_size, c) for spec, c in specs]
    refs = run.references(512)
    repeats: list[tuple[float, Any, Any, str]] = []
    with WorkerGroup([*specs, *refs]) as workers:
        # FQA calls are sub-millisecond: one untimed call per turn absorbs the cost of
        # switching workers (cold caches, a sleeping thread pool), then 5 timed calls.
        results = measure_interleaved(
            [w.target() for w in workers],
            policy=policy,
            environment=run.environment,
            block=5,
            settle=1,
        )
        if run.usable > 1:
            by_worker = dict(zip(keys, workers[: len(specs)], strict=True))
            pair = [by_worker[(4, 1)].target(), by_worker[(4, run.usable)].target()]
            ref_targets = [w.target() for w in workers[len(specs) :]]
            for _ in range(run.repeats):
                one, many, *ref = measure_interleaved(
                    [*pair, *ref_targets], policy=policy, block=5, settle=1
                )
                repeats.append((speedup(one, many).value, one, many, _ceiling(ref)))
    run.measured += results
    by_key = dict(zip(keys, results[: len(specs)], strict=True))
    ceiling = _ceiling(results[len(specs) :])

    print(f"Table III: FQA CNN on {run.backend} (fixed workload: {FQA_WORKLOAD:,} faces)")
    print(
        f"  machine's parallel ceiling, timed with the table (onnxruntime matmul 512, "
        f"{run.usable} cores vs 1): {ceiling}"
    )
    header = (
        f"  {'batch':>5} {'cores':>5} | {'time (s)':>9} {'faces/s':>9} {'speedup [95% CI]':>17} "
        f"{'rel CI':>7} {'wait':>6} | {'paper s':>8} {'faces/s':>8} {'speedup':>8}"
    )
    print(header)
    print("  " + "-" * (len(header) - 2))
    for b in BATCHES:
        for c in run.shown_cores:
            p_time, p_fps, p_speed = PAPER_TABLE3.get((b, c), (None, None, None))
            paper = f"{_fmt(p_time):>8} {_fmt(p_fps, 1):>8} {_fmt(p_speed):>8}"
            m = by_key.get((b, c))
            if m is None:
                print(f"  {b:>5} {c:>5} | {cores_unavailable_reason(c):>52} | {paper}")
                continue
            sp = "-" if c == 1 else _speedup_cell(by_key[(b, 1)], m)
            flag = " UNSTABLE" if m.unstable else ""
            print(
                f"  {b:>5} {c:>5} | {FQA_WORKLOAD / m.throughput:>9.3f} {m.throughput:>9.1f} "
                f"{sp:>17} {_noise_cells(m)} | {paper}{flag}"
            )
    b4 = by_key[(4, 1)]
    run.checks.append(
        Check(
            f"FQA b4 1 core >= {TARGET_FQA_B4_1C:,.0f} faces/s",
            b4.throughput >= TARGET_FQA_B4_1C,
            f"{b4.throughput:,.0f} faces/s",
            [b4],
        )
    )
    if run.usable > 1:
        b4_2 = by_key[(4, 2)]
        s2 = speedup(b4, b4_2).value
        run.checks.append(
            Check(
                f"FQA b4 2-core speedup >= {TARGET_FQA_B4_2C_SPEEDUP}",
                s2 >= TARGET_FQA_B4_2C_SPEEDUP,
                f"{s2:.3f}x",
                [b4, b4_2],
            )
        )
        values = [v for v, _, _, _ in repeats]
        spread = (max(values) - min(values)) / min(values)
        waits = [max(m.contention or 0.0 for m in (one, many)) for _, one, many, _ in repeats]
        print(
            f"  repeatability: FQA b4 {run.usable}-core speedup, {len(values)} repeats: "
            f"{', '.join(f'{v:.3f}' for v in values)} (spread {spread:.1%}; wait "
            f"{', '.join(f'{w:.1%}' for w in waits)}; ceiling "
            f"{', '.join(c for _, _, _, c in repeats)})"
        )
        run.checks.append(
            Check(
                f"{len(values)} repeats of a speedup agree within 5 %",
                spread <= TARGET_REPEAT_AGREEMENT,
                f"{spread:.1%}",
                [m for _, one, many, _ in repeats for m in (one, many)],
            )
        )
    print()


def _read_bandwidth(size: int = 512 * 2**20, repeats: int = 5) -> float:
    """Bytes/s one core reads from memory: the median of `repeats` sums over `size` bytes."""
    import numpy as np

    from edgecheck.bench.cores import on_one_core

    with on_one_core():
        data = np.ones(size // 4, dtype=np.float32)
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            data.sum()
            times.append(time.perf_counter() - start)
    return size / float(np.median(times))


def _print_head_breakdown(whole: Any, head: Any, counts: Any, sgemm_rate: float) -> None:
    """VGG16 b1 1 thread split into its convs (compute-bound) and FC head (memory-bound)."""
    # A linear layer's MACs per example equal its weight count: the bytes it reads per call.
    head_bytes = 4 * counts.linear_total
    conv_time = whole.median - head.median
    conv_rate = 2 * counts.conv_total / conv_time / 1e9
    bandwidth = _read_bandwidth()
    print(
        f"  of which: convs {conv_time * 1e3:.1f} ms at {conv_rate:.1f} GFLOP/s = "
        f"{conv_rate / sgemm_rate:.1%} of that matmul rate; FC head (timed alone, same run) "
        f"{head.median * 1e3:.1f} ms = {head.median / whole.median:.0%} of the call, reading "
        f"{head_bytes / 1e6:.0f} MB of weights at {head_bytes / head.median / 1e9:.1f} GB/s "
        f"(one core reads {bandwidth / 1e9:.1f} GB/s from memory here): memory-bound; with the "
        f"convs at the matmul rate the whole-model fraction is about 1 - the head's share, so "
        f"90 % needs a machine where the head takes under 10 % of the call"
    )


def table4(run: Run) -> None:
    """Measure and print Table IV (VGG16) and the sgemm comparison, add checks to `run`."""
    from edgecheck.bench.cores import (
        MatmulWorkload,
        RunnerSpec,
        WorkerGroup,
        cores_unavailable_reason,
    )
    from edgecheck.bench.timing import TimingPolicy, measure_interleaved, speedup
    from edgecheck.evaluation.pruning import fc_head
    from edgecheck.macs import count_macs
    from edgecheck.models import build_model

    policy = TimingPolicy(
        warmup_rounds=1 if run.quick else 2,
        warmup_time=0.0,
        min_rounds=5 if run.quick else 12,
        min_time=0.0,
        max_rel_ci_width=0.05,
    )
    vgg_counts = count_macs(build_model("vgg16", device="meta"), (3, 224, 224))
    vgg_macs = vgg_counts.total
    references = [MatmulWorkload(2048, lib) for lib in ("onnxruntime", "torch", "numpy")]
    specs: list[tuple[Any, int]] = [
        (RunnerSpec("vgg16", run.backend, batch_size=b), c) for b in BATCHES for c in run.cores
    ]
    # The machine's FP32 matmul rate on one core, interleaved with the models it judges,
    # and the parallel ceiling (the same on all cores).
    items = [*specs, *((ref, 1) for ref in references), *run.references(2048)[1:]]
    # The FC head alone (fc6-fc8 on the 25,088-wide input) at batch 1 on 1 core: memory-
    # bound, it is the part of VGG16 that no matmul rate can judge.
    head = fc_head(build_model("vgg16")) if run.backend == "onnxruntime" else None
    if head is not None:
        items.append((RunnerSpec(head, run.backend, batch_size=1), 1))
    with WorkerGroup(items) as workers:
        results = measure_interleaved(
            [w.target() for w in workers], policy=policy, environment=run.environment
        )
    head_result = results.pop() if head is not None else None
    run.measured += results
    vgg = dict(zip([(s.batch_size, c) for s, c in specs], results[: len(specs)], strict=True))
    ref_results = results[len(specs) : len(specs) + len(references)]
    ceiling = _ceiling([ref_results[0], *results[len(specs) + len(references) :]])

    print(f"Table IV: VGG16 (full width, {vgg_macs / 1e9:.2f} GMACs/image) on {run.backend}")
    print(
        f"  machine's parallel ceiling, timed with the table (onnxruntime matmul 2048, "
        f"{run.usable} cores vs 1): {ceiling}"
    )
    header = (
        f"  {'batch':>5} {'cores':>5} | {'latency (s)':>11} {'speedup [95% CI]':>17} "
        f"{'rel CI':>7} {'wait':>6} | {'paper s':>8} {'speedup':>8}"
    )
    print(header)
    print("  " + "-" * (len(header) - 2))
    for b in BATCHES:
        for c in run.shown_cores:
            p_time, p_speed = PAPER_TABLE4.get((b, c), (None, None))
            paper = f"{_fmt(p_time):>8} {_fmt(p_speed, 2):>8}"
            m = vgg.get((b, c))
            if m is None:
                print(f"  {b:>5} {c:>5} | {cores_unavailable_reason(c):>44} | {paper}")
                continue
            sp = "-" if c == 1 else _speedup_cell(vgg[(b, 1)], m)
            flag = " UNSTABLE" if m.unstable else ""
            print(f"  {b:>5} {c:>5} | {m.median:>11.4f} {sp:>17} {_noise_cells(m)} | {paper}{flag}")

    gflops = 2 * vgg_macs / vgg[(1, 1)].median / 1e9
    rates = {
        ref.library: ref.flops / m.median / 1e9
        for ref, m in zip(references, ref_results, strict=True)
    }
    # The machine's rate is the best sgemm available here, so the yardstick is strict.
    best = max(rates, key=lambda lib: rates[lib])
    fraction = gflops / rates[best]
    listed = ", ".join(f"{lib} {rate:.1f}" for lib, rate in rates.items())
    print(
        f"  VGG16 FP32 batch-1 1-thread: {gflops:.1f} GFLOP/s achieved vs this machine's FP32 "
        f"matmul rate {rates[best]:.1f} GFLOP/s (best 1-core sgemm 2048 of: {listed}; same "
        f"interleaved run) = {fraction:.1%}"
    )
    if head_result is not None:
        _print_head_breakdown(vgg[(1, 1)], head_result, vgg_counts, rates[best])
    best_ref = ref_results[list(rates).index(best)]
    run.checks.append(
        Check(
            f"VGG16 b1 1 thread >= {TARGET_VGG_SGEMM_FRACTION:.0%} of sgemm",
            fraction >= TARGET_VGG_SGEMM_FRACTION,
            f"{fraction:.1%}",
            [vgg[(1, 1)], best_ref],
        )
    )
    if run.usable > 1:
        s2 = speedup(vgg[(1, 1)], vgg[(1, 2)]).value
        run.checks.append(
            Check(
                f"VGG16 b1 2-core speedup >= {TARGET_VGG_2C_SPEEDUP}",
                s2 >= TARGET_VGG_2C_SPEEDUP,
                f"{s2:.3f}x",
                [vgg[(1, 1)], vgg[(1, 2)]],
            )
        )
    print()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    from edgecheck.backends import fastest_cpu_backend
    from edgecheck.bench.cores import usable_cores
    from edgecheck.bench.timing import harness_overhead

    backend = args.backend or fastest_cpu_backend()
    run = Run(
        backend=backend,
        usable=len(usable_cores()),
        quick=args.quick,
        environment=environment(backend),
        repeats=args.repeats,
    )
    tables = {t.strip() for t in args.tables.split(",")}
    env = run.environment
    print("edgecheck: Tables III and IV of Qi & Liu, measured on this machine")
    print(f"  cpu: {env['cpu']}, {run.usable} usable core(s); backend: {backend}")
    print(
        f"  python {env['python']}, numpy {env['numpy']}, torch {env['torch']}, "
        f"onnxruntime {env['onnxruntime']}; load average at start: {_load()}"
    )
    print(f"  mode: {'quick' if args.quick else 'full'}")
    print(
        "  columns: rel CI = width of the median's 95 % interval over the median; wait = "
        "time its threads\n  waited for a CPU (other jobs on its cores) over its wall time"
    )
    print()

    overhead = harness_overhead()
    share = overhead.median / 1e-3
    print(
        f"Harness overhead: {overhead.median * 1e9:.0f} ns per timed call (p99 "
        f"{overhead.percentile(99) * 1e9:.0f} ns) = {share:.4%} of a 1 ms call"
    )
    run.checks.append(
        Check("harness overhead < 1 % of a 1 ms call", share < TARGET_OVERHEAD, f"{share:.4%}")
    )
    check_cost, call = runner_check_cost(backend)
    print(
        f"Runner.infer's input/output checks: {check_cost * 1e6:+.1f} us per call on FQA "
        f"batch 1 ({check_cost / call:+.2%} of its {call * 1e3:.3f} ms)"
    )
    print()

    t_start = time.perf_counter()
    if "3" in tables:
        table3(run)
        rules(run, "fqa")
    if "4" in tables:
        table4(run)
        rules(run, "vgg16")

    print(
        f"Targets from the issue (measured in {time.perf_counter() - t_start:.0f} s; load "
        f"average now {_load()}):"
    )
    for check in run.checks:
        print(check.line())
    unstable = [m.name for m in run.measured if m.unstable]
    if unstable:
        print(f"  unstable measurements (not decided on): {', '.join(unstable)}")

    if args.json:
        from edgecheck.bench.benchmark_json import write_benchmark_json

        path = write_benchmark_json(args.json, run.measured, group="parallel", environment=env)
        print(f"pytest-benchmark JSON: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Tables III and IV: the measuring half (see the package docstring).

The table's data (`ParallelTable`), its timing settings, `measure_table` (every cell
interleaved in one run, extended by the sequential rule of `judge.undecided`) and what the
report measures (`measure_report_tables`: both tables, each measured once more when other
jobs left a judged cell undecided).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from edgecheck.claims import speedup_key
from edgecheck.paper import PAPER_CORES

if TYPE_CHECKING:
    from edgecheck.bench.cores import RunnerWrapper
    from edgecheck.bench.stats import Estimate
    from edgecheck.bench.timing import Measurement, TimingPolicy
    from edgecheck.claims import Claim, ClaimRegistry
    from edgecheck.device import DeviceInfo

BATCHES = (1, 2, 4)
FQA_CLAIM = "parallel.fqa.cores"
BATCH_CLAIM = "parallel.fqa.batch"
VGG_CLAIM = "parallel.vgg16.cores"
MODEL_CLAIMS = {"fqa": FQA_CLAIM, "vgg16": VGG_CLAIM}
REFERENCE_NAME = "data-parallel scaling"
Cell = tuple[int, int]  # (batch, cores)


@dataclass(frozen=True)
class TableSettings:
    """How one table is timed.

    Attributes:
        policy: the interleaved run's `TimingPolicy`; its ``max_time`` is the time budget of
            the sequential decisions (warm-up included).
        block: timed calls per worker per turn (see `measure_interleaved`).
        settle: untimed calls per worker at the start of each turn.
    """

    policy: TimingPolicy
    block: int = 1
    settle: int = 0

    @property
    def budget(self) -> float:
        """Seconds the run may take at most (``policy.max_time``)."""
        return self.policy.max_time


def fqa_settings(rounds: int = 30, budget: float = 30.0) -> TableSettings:
    """FQA calls are sub-millisecond: 5 calls a turn after one untimed call that absorbs the
    switch between workers (cold caches, a sleeping thread pool), at least `rounds` timed
    rounds (about 0.1 s each with the reference and the teeth), then more rounds until
    every judged cell is decided or `budget` seconds have passed. Measured here: the paired
    q of batch 4 is +-0.25 % after 627 rounds, so 30 rounds give about +-1 %.

    A median's interval may be 5 % wide before a cell is flagged (a flag only: the verdicts
    come from the paired intervals, which the sequential rule narrows).
    """
    from edgecheck.bench.timing import TimingPolicy

    policy = TimingPolicy(
        warmup_rounds=5, warmup_time=0.3, min_rounds=rounds, min_time=0.0,
        max_rel_ci_width=0.05, max_time=budget,
    )  # fmt: skip
    return TableSettings(policy, block=5, settle=1)


def vgg16_settings(rounds: int = 6, budget: float = 120.0) -> TableSettings:
    """VGG16 calls take 0.1-1.5 s: strict alternation, at least `rounds` timed rounds, then
    more until every judged cell is decided or `budget` seconds have passed.

    A median's interval may be 15 % wide before a cell is flagged (with 6-16 rounds of a
    0.3-1.4 s call the 1-core cells' intervals measured 15-21 % even on a quiet machine); the
    verdicts come from the paired intervals.
    """
    from edgecheck.bench.timing import TimingPolicy

    policy = TimingPolicy(
        warmup_rounds=1, warmup_time=0.0, min_rounds=rounds, min_time=0.0,
        max_rel_ci_width=0.15, max_time=budget,
    )  # fmt: skip
    return TableSettings(policy)


def measured_cores(usable: int | None = None) -> tuple[int, ...]:
    """The paper's core counts (1, 2, 4) that this machine has."""
    if usable is None:
        from edgecheck.bench.cores import usable_core_count

        usable = usable_core_count()
    return tuple(c for c in PAPER_CORES if c <= usable)


@dataclass
class ParallelTable:
    """One table's measurements.

    Attributes:
        model: the registered model timed.
        backend: the runtime.
        cores: the core counts measured.
        batches: the batch sizes measured.
        cells: (batch, cores) -> `Measurement`.
        variants: (batch, cores, wrapper) -> the same cell with its runner wrapped (the
            test-only `edgecheck.testing.Slowdown`), timed in the same interleaved run (to
            show that a check catches it).
        reference: (batch, cores) -> the data-parallel reference: `cores` independent 1-core
            runners at that batch, run at the same time (`DataParallel`), same run.
        block: samples per round in every measurement (rounds pair up by index).
    """

    model: str
    backend: str
    cores: tuple[int, ...]
    batches: tuple[int, ...]
    cells: dict[Cell, Measurement]
    variants: dict[tuple[int, int, RunnerWrapper], Measurement] = field(default_factory=dict)
    reference: dict[Cell, Measurement] = field(default_factory=dict)
    block: int = 1

    @property
    def rounds(self) -> int:
        """Timed rounds of the run."""
        return next(iter(self.cells.values())).rounds // self.block

    def _ratio(self, num: Measurement, den: Measurement) -> Estimate:
        from edgecheck.bench.stats import paired_ratio

        p = num.policy
        return paired_ratio(
            num.samples, den.samples, block=self.block, confidence=p.confidence,
            n_boot=p.n_boot, seed=p.seed,
        )  # fmt: skip

    def n_core(self, batch: int, cores: int, variant: RunnerWrapper | None = None) -> Measurement:
        """The `cores`-core cell, or its copy with the runner wrapped by `variant`."""
        if variant is None:
            return self.cells[(batch, cores)]
        return self.variants[(batch, cores, variant)]

    def speedup(self, batch: int, cores: int) -> Estimate:
        """Time per call on 1 core over time per call on `cores`, paired by round."""
        return self._ratio(self.cells[(batch, 1)], self.cells[(batch, cores)])

    def variant_speedup(self, batch: int, cores: int, variant: RunnerWrapper) -> Estimate:
        """`speedup` with the `cores` side's copy wrapped by `variant`."""
        return self._ratio(self.cells[(batch, 1)], self.variants[(batch, cores, variant)])

    def dp_scaling(self, batch: int, cores: int) -> Estimate:
        """S_dp: the aggregate throughput of `cores` independent 1-core runners over one
        runner alone, paired by round."""
        return self._ratio(self.cells[(batch, 1)], self.reference[(batch, cores)])

    def relative(self, batch: int, cores: int, variant: RunnerWrapper | None = None) -> Estimate:
        """q: the `cores`-core throughput over the data-parallel runners' in the same round
        (= speedup / S_dp, paired): what the rule ``speedup >= F x S_dp`` compares with F."""
        return self._ratio(self.reference[(batch, cores)], self.n_core(batch, cores, variant))

    def batch_difference(self, cores: int, small: int = 1, large: int = 4) -> Estimate:
        """speedup(`large`) - speedup(`small`) on `cores`, round by round: the median over
        rounds of the difference of that round's two speedups, with its interval."""
        from edgecheck.bench.stats import median_of, per_round

        def speed(b: int) -> Any:
            one, many = self.cells[(b, 1)], self.cells[(b, cores)]
            return per_round(one.samples, self.block) / per_round(many.samples, self.block)

        p = self.cells[(large, 1)].policy
        return median_of(
            speed(large) - speed(small), confidence=p.confidence, n_boot=p.n_boot, seed=p.seed
        )

    def unstable_reason(self, *cells: Cell) -> str | None:
        """Why a decision on these cells cannot be trusted, or None."""
        for cell in cells:
            m = self.cells[cell]
            if m.unstable:
                return f"{m.name} was unstable: {m.reason}"
        return None

    def contended_reason(self, *cells: Cell, extra: Sequence[Measurement] = ()) -> str | None:
        """Why these cells' times (and `extra` measurements') are biased (their threads
        waited for a CPU: other jobs ran on their cores), or None. Unlike a wide interval,
        that bias does not average out."""
        for m in [*(self.cells[c] for c in cells), *extra]:
            if m.contended:
                return f"{m.name} was unstable: {m.reason}"
        return None

    def as_dict(self) -> dict[str, Any]:
        cells = []
        for (b, c), m in sorted(self.cells.items()):
            row: dict[str, Any] = {"batch": b, "cores": c, "measurement": m.as_dict()}
            if c > 1:
                row["speedup"] = self.speedup(b, c).as_dict()
            if (b, c) in self.reference:
                row["data_parallel"] = self.reference[(b, c)].as_dict()
                row["dp_scaling"] = self.dp_scaling(b, c).as_dict()
                row["relative"] = self.relative(b, c).as_dict()
            cells.append(row)
        return {"model": self.model, "backend": self.backend, "rounds": self.rounds,
                "cells": cells}  # fmt: skip


def measure_table(
    model: str,
    settings: TableSettings,
    *,
    backend: str | None = None,
    batches: Sequence[int] = BATCHES,
    cores: Sequence[int] | None = None,
    variants: Sequence[tuple[int, int, RunnerWrapper]] = (),
    environment: Mapping[str, Any] | None = None,
    reference: bool = True,
    profile: str | None = None,
    registry: ClaimRegistry | Mapping[str, Claim] | None = None,
    decided: Callable[[ParallelTable], bool] | None = None,
) -> ParallelTable:
    """Time `model` at every (batch, cores) cell, interleaved in one run.

    Args:
        model: a registered model name (``"fqa"``, ``"vgg16"``) or an ONNX path.
        settings: the timing (`fqa_settings`, `vgg16_settings`).
        backend: the runtime; default the fastest on this CPU (onnxruntime when installed).
        batches: batch sizes. Default 1, 2, 4 (the paper's).
        cores: core counts; default the paper's that this machine has. 1 must be among them.
        variants: (batch, cores, wrapper) cells to time again with their runner wrapped
            (`edgecheck.testing.Slowdown`: a test-only slowdown, or ``TWIN``, an identical
            copy for A/A checks).
        environment: recorded in every measurement.
        reference: also time the data-parallel reference of the multi-core cells (one
            extra 1-core worker per batch and further core; the cell's own 1-core worker is
            the first runner): with a `profile`, of the core counts whose rules use it, else
            of all. Default True.
        profile: judge with this profile's rules while measuring: rounds are added, within
            ``settings.budget``, until `undecided` is empty. Default None: no sequential
            rule (the policy's minimum, extended while a median is too wide).
        registry: the claims (default `edgecheck.claims.CLAIMS`).
        decided: a further sequential condition on the table so far (e.g. that a slowed
            cell's baseline comparison with its cell is decided): rounds are added, within
            ``settings.budget``, until it holds too. Default None.

    Raises:
        CoresUnavailable: a core count above what this machine has.
    """
    from edgecheck.backends import fastest_cpu_backend
    from edgecheck.bench.cores import DataParallel, RunnerSpec, WorkerGroup, choose_cores
    from edgecheck.bench.timing import measure_interleaved
    from edgecheck.claims import CLAIMS
    from edgecheck.evaluation.parallel.judge import reference_rule, undecided

    backend = backend or fastest_cpu_backend()
    core_counts = tuple(cores) if cores is not None else measured_cores()
    if 1 not in core_counts:
        raise ValueError("a parallel table needs the 1-core cell as its reference")
    keys = [(b, c) for b in batches for c in core_counts]
    claims = registry or CLAIMS
    many = [c for c in core_counts if c > 1] if reference else []
    if profile is not None and model in MODEL_CLAIMS:
        # Only where a rule needs it: the reference costs a worker per batch and core.
        claim = claims[MODEL_CLAIMS[model]]
        many = [
            c
            for c in many
            if any(reference_rule(claim, profile, speedup_key(b, c)) for b in batches)
        ]
    extra_cpus = list(choose_cores(max(many))[1:]) if many else []
    items: list[Any] = [(RunnerSpec(model, backend, batch_size=b), c) for b, c in keys]
    items += [(RunnerSpec(model, backend, batch_size=b, wrap=w), c) for b, c, w in variants]
    extras = [(b, cpu) for b in batches for cpu in extra_cpus]
    items += [(RunnerSpec(model, backend, batch_size=b), 1, (cpu,)) for b, cpu in extras]
    with WorkerGroup(items) as workers:
        by_key = dict(zip(keys, workers, strict=False))
        first_extra = len(keys) + len(variants)
        extra_workers = dict(zip(extras, workers[first_extra:], strict=True))
        targets = [w.target() for w in workers[:first_extra]]
        dp_keys = [(b, c) for b in batches for c in many]
        for b, c in dp_keys:
            cpus = set(choose_cores(c))
            group = [
                by_key[(b, 1)],
                *(extra_workers[(b, cpu)] for cpu in extra_cpus if cpu in cpus),
            ]
            targets.append(DataParallel(group).target(f"{model}-b{b}-dp{c}x1c"))
        shape = _Layout(model, backend, core_counts, tuple(batches), keys, list(variants),
                        dp_keys, settings.block)  # fmt: skip
        until = None
        if profile is not None or decided is not None:

            def until(seconds: list[list[float]]) -> bool:
                partial = shape.table_from_seconds(seconds, settings.policy, targets)
                if profile is not None and undecided(partial, profile, claims):
                    return False
                return decided is None or decided(partial)

        results = measure_interleaved(
            targets,
            policy=settings.policy,
            environment=dict(environment or {}),
            block=settings.block,
            settle=settings.settle,
            until=until,
        )
    return shape.table(results)


@dataclass
class _Layout:
    """Which target of an interleaved run is which cell (for `measure_table`)."""

    model: str
    backend: str
    cores: tuple[int, ...]
    batches: tuple[int, ...]
    keys: list[Cell]
    variants: list[tuple[int, int, RunnerWrapper]]
    dp_keys: list[Cell]
    block: int

    def table(self, results: Sequence[Measurement]) -> ParallelTable:
        n, s = len(self.keys), len(self.variants)
        return ParallelTable(
            model=self.model,
            backend=self.backend,
            cores=self.cores,
            batches=self.batches,
            cells=dict(zip(self.keys, results[:n], strict=True)),
            variants=dict(zip(self.variants, results[n : n + s], strict=True)),
            reference=dict(zip(self.dp_keys, results[n + s :], strict=True)),
            block=self.block,
        )

    def table_from_seconds(
        self, seconds: list[list[float]], policy: TimingPolicy, targets: Sequence[Any]
    ) -> ParallelTable:
        """The table so far (for the sequential rule): samples only, no flags."""
        from edgecheck.bench.stats import SampleStats
        from edgecheck.bench.timing import Measurement

        results = [
            Measurement(t.name, t.batch_size, list(x), SampleStats(x), policy=policy)
            for t, x in zip(targets, seconds, strict=True)
        ]
        return self.table(results)


def remeasure_cell(
    table: ParallelTable, settings: TableSettings, batch: int, cores: int, *,
    profile: str, registry: ClaimRegistry | Mapping[str, Claim] | None = None,
    environment: Mapping[str, Any] | None = None,
) -> Callable[[], ParallelTable]:  # fmt: skip
    """The `remeasure` of `confirm_failure`: the cell (batch; 1 and `cores` cores, with its
    data-parallel reference) timed again in new worker processes."""

    def run() -> ParallelTable:
        return measure_table(
            table.model, settings, backend=table.backend, batches=(batch,), cores=(1, cores),
            environment=environment, profile=profile, registry=registry,
        )  # fmt: skip

    return run


# A table whose judged cells other jobs left undecided (their threads waited for a CPU: a
# short command on a 2-core machine during the 3 s of FQA timing is enough) is measured once
# more in the report; it costs 35 s (FQA) to 90 s (VGG16) here, only when it happens.
RETRIES = 1


@dataclass
class ReportTables:
    """What the report measures: Tables III (FQA) and IV (VGG16), with how they were timed.

    Attributes:
        fqa: Table III.
        vgg: Table IV.
        settings: model -> its `TableSettings` (a failed cell is re-measured with them).
        environment: what every measurement records (profile, fingerprint).
        retried: per table measured again, the model and why (other jobs left a cell open).
    """

    fqa: ParallelTable
    vgg: ParallelTable
    settings: dict[str, TableSettings]
    environment: dict[str, Any]
    retried: list[str]


def measure_report_tables(registry: ClaimRegistry, device: DeviceInfo) -> ReportTables:
    """Both tables for the report, judged sequentially with `device`'s profile; a table whose
    judged cells other jobs left undecided is measured once more (`RETRIES`)."""
    from edgecheck.evaluation.parallel.judge import busy, judge_cores

    profile = device.profile
    env = {"profile": profile, "fingerprint": device.fingerprint_id}
    settings = {"fqa": fqa_settings(), "vgg16": vgg16_settings()}
    retried: list[str] = []

    def measured(model: str, claim: Claim) -> ParallelTable:
        """The table, measured once more when other jobs left a judged cell undecided."""
        table = measure_table(
            model, settings[model], environment=env, profile=profile, registry=registry
        )
        for _ in range(RETRIES):
            open_cells = [r for r in judge_cores(table, claim, profile) if busy(r)]
            if not open_cells:
                break
            retried.append(f"{model} ({open_cells[0].message.split('not run here: ', 1)[-1]})")
            table = measure_table(
                model, settings[model], environment=env, profile=profile, registry=registry
            )
        return table

    fqa = measured("fqa", registry[FQA_CLAIM])
    vgg = measured("vgg16", registry[VGG_CLAIM])
    return ReportTables(fqa, vgg, settings, env, retried)

"""The timing harness: warm-up, repeats, robust statistics, interleaved A/B, noise flags.

One sample is the wall time of ONE call (one inference of one batch), taken by a sampler
(`edgecheck.bench.samplers`); what is asked and what comes back (`TimingPolicy`, `Target`,
`Measurement`, `speedup`) is `edgecheck.bench.measurement`. Every name of the two is
importable from here too.

`measure_interleaved` rotates through the configurations of one comparison round by round
(A B C A B C ...): slow drift of a shared machine (another job starting, thermal limits)
then hits every configuration alike and cancels from their ratios. Every target gets the same
number of rounds, so samples pair up by round for the paired bootstrap of a speedup.

A measurement is not trusted blindly: when the median's bootstrap interval is wider than
``max_rel_ci_width`` of the median, all targets get as many rounds again (once); if it is
still too wide, the result is flagged ``unstable=True`` with the reason. Tests report an
unstable measurement as undecided; nothing here passes or fails anything.

The harness decides from the samples alone (time measured = sum of the samples), so a test
can drive it deterministically with fake samplers; the injected `clock` only enforces the
wall-clock cap ``max_time``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from edgecheck import progress
from edgecheck.bench.measurement import (
    Measurement,
    Target,
    TimingError,
    TimingPolicy,
    speedup,
)
from edgecheck.bench.samplers import (
    CallSampler,
    Clock,
    Sampler,
    harness_overhead,
    run_queue_wait_ns,
)
from edgecheck.bench.stats import SampleStats

__all__ = [
    "CallSampler",
    "Clock",
    "Measurement",
    "Sampler",
    "Target",
    "TimingError",
    "TimingPolicy",
    "harness_overhead",
    "measure",
    "measure_interleaved",
    "run_queue_wait_ns",
    "speedup",
]


def measure(
    workload: Target | Callable[[], object],
    *,
    name: str = "workload",
    batch_size: int = 1,
    config: Any = None,
    policy: TimingPolicy | None = None,
    environment: Mapping[str, Any] | None = None,
    clock: Clock = time.perf_counter_ns,
) -> Measurement:
    """Time one workload: a `Target`, or a zero-argument callable timed in this process.

    Args:
        workload: what to time.
        name, batch_size, config: describe a callable workload (ignored for a `Target`).
        policy: how long and how carefully. Default `TimingPolicy()`.
        environment: what the machine is, recorded in the result.
        clock: nanosecond clock for the callable's sampler and the max_time cap.

    Returns:
        The `Measurement`.
    """
    if not isinstance(workload, Target):
        workload = Target(name, CallSampler(workload, clock), batch_size, config)
    return measure_interleaved([workload], policy=policy, environment=environment, clock=clock)[0]


def measure_interleaved(
    targets: Sequence[Target],
    *,
    policy: TimingPolicy | None = None,
    environment: Mapping[str, Any] | None = None,
    clock: Clock = time.perf_counter_ns,
    block: int = 1,
    settle: int = 0,
    on_round: Callable[[int], None] | None = None,
    until: Callable[[list[list[float]]], bool] | None = None,
) -> list[Measurement]:
    """Time several targets round-robin (A B A B ...) and return one result per target.

    Args:
        targets: the configurations of one comparison, e.g. 1 core vs 2 cores.
        policy: how long and how carefully. Default `TimingPolicy()`.
        environment: what the machine is, recorded in every result.
        clock: nanosecond clock for the wall-clock cap ``policy.max_time``.
        block: timed calls per target per turn (a round is one turn of every target, so
            it adds `block` samples to each). Default 1 (strict alternation); a larger
            block cuts per-turn cost (a pipe round trip to a worker) for very short calls.
        settle: untimed calls per target at the start of each turn. Default 0. Switching
            between configurations costs the next call a cold cache and a sleeping thread
            pool (measured here: about 70 us on a 0.4 ms FQA call); ``settle=1`` discards
            that call, so each sample is the steady state the paper's video stream sees.
        on_round: called with the number of timed rounds done, after each round
            (e.g. to drive a progress bar).
        until: a sequential stopping rule. Given the samples so far (seconds per call, one
            list per target), it says whether the comparison they serve is decided. Once
            `min_rounds` and `min_time` are met, rounds are added (a quarter as many again
            each time) until it returns True or ``policy.max_time`` / ``max_rounds`` end the
            run. It replaces the one extension for a wide median: the caller judges its own
            statistic (e.g. a paired ratio's interval against a bound), not each median.
            ``Measurement.extra["sequential"]`` records the rounds and whether it stopped
            decided.

    Returns:
        `Measurement` objects in the order of `targets`, all with the same number of rounds.

    Raises:
        TimingError: no targets, duplicate names, or a bad `block`.
    """
    policy = policy or TimingPolicy()
    if not targets:
        raise TimingError("measure_interleaved needs at least one target.")
    names = [t.name for t in targets]
    if len(set(names)) != len(names):
        raise TimingError(f"target names must be unique to tell results apart: {names}.")
    if block < 1 or settle < 0:
        raise TimingError(f"block {block!r} must be at least 1 and settle {settle!r} at least 0.")
    deadline = clock() + int(policy.max_time * 1e9)
    env = dict(environment or {})
    load_before = _load_average()

    # Warm-up: same rotation as the timed rounds, results discarded.
    warm = _Runner(targets, block, settle, clock, deadline, phase="warming up")
    warm.run_until(policy.warmup_rounds, policy.warmup_time, policy.max_rounds)
    warmup_rounds = warm.rounds

    timed = _Runner(targets, block, settle, clock, deadline, on_round, guaranteed=1)
    timed.run_until(policy.min_rounds, policy.min_time, policy.max_rounds)
    reasons: dict[str, str] = {}
    if timed.timed_out and timed.rounds < policy.min_rounds:
        cut = (
            f"stopped by max_time {policy.max_time:g} s after {timed.rounds} round(s), "
            f"fewer than min_rounds {policy.min_rounds}"
        )
        reasons = dict.fromkeys(names, cut)

    sequential: dict[str, Any] = {}
    extended = False
    if until is not None and not reasons:
        first = timed.rounds
        decided = until(timed.seconds())
        while not decided and not timed.timed_out and timed.rounds < policy.max_rounds:
            goal = min(timed.rounds + max(1, timed.rounds // 4), policy.max_rounds)
            timed.run_until(goal, 0.0, goal)
            decided = until(timed.seconds())
        extended = timed.rounds > first
        sequential = {"sequential": {"rounds": timed.rounds, "decided": decided}}
    stats = [timed.stats(i, policy) for i in range(len(targets))]
    too_wide = [s.relative_ci_width > policy.max_rel_ci_width for s in stats]
    if until is None and policy.extend:
        # The sample size follows the noise: rounds are added until every median's interval
        # is narrow enough for the verdicts drawn from it, within the cap and max_time.
        first = timed.rounds
        cap = min(int(policy.extend_up_to * first), policy.max_rounds)
        while any(too_wide) and not timed.timed_out and timed.rounds < cap:
            extended = True
            goal = min(timed.rounds + max(1, timed.rounds // 4), cap)
            timed.run_until(goal, 0.0, goal)
            stats = [timed.stats(i, policy) for i in range(len(targets))]
            too_wide = [s.relative_ci_width > policy.max_rel_ci_width for s in stats]
    contention = [timed.contention(i) for i in range(len(targets))]
    for name, busy, target in zip(names, contention, targets, strict=True):
        if busy is not None and busy > policy.max_contention and name not in reasons:
            # A ratio of core counts cannot be trusted when a core was busy with other
            # work: interleaving cancels slow drift, not a neighbour holding one core.
            reasons[name] = (
                f"its threads waited for a CPU for {busy:.1%} of its wall time on "
                f"{target.cores} core(s), above max_contention {policy.max_contention:.1%}: "
                f"other jobs were running on its cores"
            )
    for name, st, wide in zip(names, stats, too_wide, strict=True):
        if wide and name not in reasons:
            reasons[name] = (
                f"median's {policy.confidence:.0%} interval is {st.relative_ci_width:.1%} of "
                f"the median wide, above max_rel_ci_width {policy.max_rel_ci_width:.1%}"
                f"{' after extending' if extended else ''} ({st.n} rounds); measure "
                f"longer (min_time, max_time) or on a quieter machine"
            )

    # Other jobs on the machine are the commonest reason for a surprising number; the
    # load average around the measurement lets a report say so.
    load = {"load_average": [load_before, _load_average()]} if load_before is not None else {}
    return [
        Measurement(
            name=t.name,
            batch_size=t.batch_size,
            samples=[ns / 1e9 for ns in timed.samples[i]],
            stats=stats[i],
            config=t.config,
            environment=env,
            policy=policy,
            warmup_rounds=warmup_rounds,
            extended=extended,
            unstable=t.name in reasons,
            reason=reasons.get(t.name, ""),
            extra={**load, **sequential, **t.extra},
            contention=contention[i],
        )
        for i, t in enumerate(targets)
    ]


def _load_average() -> float | None:
    """The 1-minute load average, or ``None`` where the OS has none."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


class _Runner:
    """Round-robin loop state: samples (ns) and their sums per target."""

    def __init__(
        self,
        targets: Sequence[Target],
        block: int,
        settle: int,
        clock: Clock,
        deadline: int,
        on_round: Callable[[int], None] | None = None,
        phase: str = "timing",
        guaranteed: int = 0,
    ) -> None:
        self.targets = targets
        # Rounds run even past the deadline: one timed round, so that a machine too busy to
        # finish the warm-up within max_time yields a measurement cut short ("stopped by
        # max_time after 1 round": not run here) instead of none at all.
        self.guaranteed = guaranteed
        self.phase = phase
        self.block = block
        self.settle = settle
        self.clock = clock
        self.deadline = deadline
        self.on_round = on_round
        self.samples: list[list[int]] = [[] for _ in targets]
        self.totals = [0] * len(targets)
        # Run-queue wait and wall time reported by the samplers; None once one reports none.
        self.wait_ns: list[int | None] = [0] * len(targets)
        self.wall_ns = [0] * len(targets)
        self.rounds = 0
        self.timed_out = False
        self.label = targets[0].name if len(targets) == 1 else f"{len(targets)} configurations"

    def run_until(self, min_rounds: int, min_time: float, max_rounds: int) -> None:
        """Add rounds until `min_rounds` and `min_time` (s, every target) are met."""
        min_ns = int(min_time * 1e9)
        while self.rounds < max_rounds and (self.rounds < min_rounds or min(self.totals) < min_ns):
            if self.clock() >= self.deadline:
                self.timed_out = True
                if self.rounds >= self.guaranteed:
                    return
            calls = self.settle + self.block
            for i, target in enumerate(self.targets):
                durations = target.sampler.sample(calls)
                if len(durations) != calls:
                    raise TimingError(
                        f"target {target.name!r}: its sampler returned {len(durations)} "
                        f"durations for {calls} calls."
                    )
                wait = getattr(target.sampler, "last_wait_ns", None)
                waited = self.wait_ns[i]
                self.wait_ns[i] = None if wait is None or waited is None else waited + wait
                self.wall_ns[i] += getattr(target.sampler, "last_wall_ns", 0) or 0
                if self.settle:
                    durations = durations[self.settle :]
                self.samples[i].extend(durations)
                self.totals[i] += sum(durations)
            self.rounds += 1
            if self.on_round is not None:
                self.on_round(self.rounds)
            if progress.active():
                progress.note(f"{self.phase} {self.label}: round {self.rounds}")

    def seconds(self) -> list[list[float]]:
        """The samples so far, in seconds, one list per target."""
        return [[ns / 1e9 for ns in samples] for samples in self.samples]

    def contention(self, i: int) -> float | None:
        """Run-queue wait over wall time for target `i`, when its cores are known."""
        cores, wait, wall = self.targets[i].cores, self.wait_ns[i], self.wall_ns[i]
        if not cores or wait is None or wall <= 0:
            return None
        return round(wait / wall, 4)

    def stats(self, i: int, policy: TimingPolicy) -> SampleStats:
        if not self.samples[i]:
            raise TimingError(
                f"target {self.targets[i].name!r}: no timed rounds before max_time "
                f"{policy.max_time:g} s; raise max_time."
            )
        return SampleStats(
            [ns / 1e9 for ns in self.samples[i]],
            confidence=policy.confidence,
            n_boot=policy.n_boot,
            seed=policy.seed,
        )

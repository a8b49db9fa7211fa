"""The timing harness: warm-up, repeats, robust statistics, interleaved A/B, noise flags.

One sample is the wall time of ONE call (one inference of one batch), taken with
``time.perf_counter_ns`` immediately around the call and nothing else, so the harness adds
two clock reads and a list store per sample (`harness_overhead` measures it).

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
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from edgecheck import progress
from edgecheck.bench.stats import (
    DEFAULT_CONFIDENCE,
    DEFAULT_N_BOOT,
    DEFAULT_SEED,
    Estimate,
    SampleStats,
    StatsError,
    ratio_of_medians,
)
from edgecheck.errors import EdgecheckError

Clock = Callable[[], int]  # nanoseconds, monotonic


class TimingError(EdgecheckError, ValueError):
    """A timing policy or target that cannot be measured as asked."""


@runtime_checkable
class Sampler(Protocol):
    """Anything that can time `n` consecutive calls of its workload.

    `sample` returns ``n`` durations in nanoseconds, one per call. `CallSampler` does it in
    this process; `edgecheck.bench.cores.CoreWorker` does it in a worker pinned to N cores.

    A sampler may also set ``last_wait_ns`` and ``last_wall_ns`` after each `sample`: how
    long its process's threads waited, runnable, for a CPU (the kernel's run-queue delay)
    and how long the call took. The harness turns them into the measurement's contention
    (see `Measurement.contention`).
    """

    def sample(self, n: int) -> list[int]: ...


class CallSampler:
    """Times a zero-argument callable in this process.

    Args:
        fn: the workload, e.g. ``lambda: runner.infer(batch)``.
        clock: nanosecond wall clock. Default ``time.perf_counter_ns``; inject a fake one
            in tests.
        wait_clock: nanoseconds this process's threads have waited for a CPU so far, or
            ``None`` where unknown; read once before and once after each `sample`, never
            inside a timed call. Default `run_queue_wait_ns` (Linux schedstat).

    Attributes:
        last_wait_ns, last_wall_ns: run-queue wait (``None`` when unknown) and wall time of
            the last `sample` call.
    """

    def __init__(
        self,
        fn: Callable[[], object],
        clock: Clock = time.perf_counter_ns,
        wait_clock: Callable[[], int | None] | None = None,
    ) -> None:
        self.fn = fn
        self.clock = clock
        self.wait_clock = wait_clock or run_queue_wait_ns
        self.last_wait_ns: int | None = None
        self.last_wall_ns = 0

    def sample(self, n: int) -> list[int]:
        fn = self.fn  # locals: attribute lookups inside the loop would be timed overhead
        clock = self.clock
        out = [0] * n  # allocated before timing starts; the loop only stores into it
        wait_start = self.wait_clock()
        wall_start = clock()
        for i in range(n):
            start = clock()
            fn()
            out[i] = clock() - start
        self.last_wall_ns = clock() - wall_start
        wait_end = self.wait_clock()
        if wait_start is None or wait_end is None:
            self.last_wait_ns = None
        else:
            self.last_wait_ns = wait_end - wait_start
        return out


def run_queue_wait_ns() -> int | None:
    """Total nanoseconds this process's threads have spent runnable but not running.

    The kernel's run-queue delay (second field of ``/proc/self/task/*/schedstat``). Idle
    and blocked threads add nothing, so it stays near 0 however a runtime's thread pool
    waits, and it grows exactly when other jobs take the CPUs this process wants. ``None``
    where the kernel does not expose it.
    """
    total = 0
    try:
        tasks = os.listdir("/proc/self/task")
    except OSError:
        return None
    for tid in tasks:
        try:
            with open(f"/proc/self/task/{tid}/schedstat", "rb") as fh:
                total += int(fh.read().split()[1])
        except FileNotFoundError:
            continue  # the thread ended since listdir: its waiting is over
        except (OSError, ValueError, IndexError):
            return None
    return total


@dataclass(frozen=True)
class TimingPolicy:
    """How long and how carefully to measure.

    Attributes:
        warmup_rounds: at least this many untimed-for-statistics rounds first. Default 3.
        warmup_time: and at least this many seconds of calls per target. Default 0.1.
        min_rounds: at least this many timed rounds per target. Default 10.
        min_time: and at least this many seconds of timed calls per target. Default 0.5.
        max_rounds: stop adding rounds here, even while extending. Default 100,000.
        max_time: wall-clock cap in seconds for the whole call (all targets, warm-up and
            extension included); reaching it before `min_rounds` flags the result
            unstable. Default 300.
        max_rel_ci_width: the median's interval may be this wide relative to the median
            (0.05: about +-2.5 %). Default 0.05.
        max_contention: a target with known `Target.cores` may have waited for a CPU at
            most this share of its wall time while timed (`Measurement.contention`);
            more means other jobs were running on its cores, and it is flagged unstable.
            Default 0.05: measured here, a worker alone on its pinned cores waits under
            1.5 %, one sharing a core with another job 20-120 %.
        extend: while a median's interval is wider than `max_rel_ci_width`, add rounds (a
            quarter as many again each time) until it is narrow enough, `extend_up_to`
            times the first pass's rounds are done, or `max_time` ends. Default True.
        extend_up_to: the most rounds an extension reaches, as a multiple of the first
            pass's. Default 4.0: a median's interval narrows about as 1/sqrt(rounds), so
            an interval up to twice too wide can still be brought inside the bound.
        confidence, n_boot, seed: the bootstrap's (see `edgecheck.bench.stats`).
    """

    warmup_rounds: int = 3
    warmup_time: float = 0.1
    min_rounds: int = 10
    min_time: float = 0.5
    max_rounds: int = 100_000
    max_time: float = 300.0
    max_rel_ci_width: float = 0.05
    max_contention: float = 0.05
    extend: bool = True
    extend_up_to: float = 4.0
    confidence: float = DEFAULT_CONFIDENCE
    n_boot: int = DEFAULT_N_BOOT
    seed: int = DEFAULT_SEED

    def __post_init__(self) -> None:
        for name in ("warmup_rounds", "min_rounds", "max_rounds", "n_boot"):
            value = getattr(self, name)
            if not isinstance(value, int) or value < (0 if name == "warmup_rounds" else 1):
                raise TimingError(f"TimingPolicy.{name} = {value!r} must be a positive integer.")
        if not self.extend_up_to >= 1:
            raise TimingError(
                f"TimingPolicy.extend_up_to = {self.extend_up_to!r} must be >= 1 (a multiple "
                f"of the first pass's rounds)."
            )
        for name in ("warmup_time", "min_time", "max_time", "max_rel_ci_width", "max_contention"):
            if not getattr(self, name) >= 0:
                raise TimingError(f"TimingPolicy.{name} = {getattr(self, name)!r} must be >= 0.")
        if self.max_rounds < self.min_rounds:
            raise TimingError(
                f"TimingPolicy.max_rounds ({self.max_rounds}) is below min_rounds "
                f"({self.min_rounds}); raise max_rounds."
            )

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return dict(self.__dict__)


@dataclass(frozen=True)
class Target:
    """One configuration to time.

    Attributes:
        name: label in results, e.g. ``"fqa-b4-2c"``.
        sampler: times the workload (`CallSampler`, a `CoreWorker`, ...).
        batch_size: items per call, for throughput. Default 1.
        config: what is measured (a `RunnerConfig` or a plain mapping), recorded as is.
        extra: anything else to record (e.g. the worker's affinity).
        cores: cores the workload owns (a pinned worker's); with a sampler that reports its
            run-queue wait, the harness checks that the workload really had them. Default
            ``None`` (not checked).
    """

    name: str
    sampler: Sampler
    batch_size: int = 1
    config: Any = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    cores: int | None = None


@dataclass
class Measurement:
    """The timing of one target: samples, statistics, verdict on noise, provenance.

    Attributes:
        name: the target's name.
        batch_size: items per call.
        samples: seconds per call, in measurement order.
        stats: `SampleStats` of `samples`.
        config: what was measured (as given in the `Target`).
        environment: what it was measured on, as passed by the caller.
        policy: the `TimingPolicy` used.
        warmup_rounds: rounds run before timing.
        extended: rounds were added because a median's interval was too wide (or, with a
            sequential rule, because it had not decided yet).
        unstable: still too noisy, cut short, or its cores were busy with other jobs; do not
            decide on it.
        reason: why it is unstable ('' when stable).
        extra: the target's extra information.
        contention: run-queue wait of the workload's threads, summed, over the wall time
            while timed: about 0 when it had its cores to itself; 1.0 when, say, one of two
            threads waited all along. Summed, not averaged over cores, because threads
            that meet at barriers all stop when one of them waits: a wait of 10 % of the
            wall time can cost a 2-thread call up to 10 %. ``None`` when unknown.
    """

    name: str
    batch_size: int
    samples: list[float]
    stats: SampleStats
    config: Any = None
    environment: dict[str, Any] = field(default_factory=dict)
    policy: TimingPolicy = field(default_factory=TimingPolicy)
    warmup_rounds: int = 0
    extended: bool = False
    unstable: bool = False
    reason: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    contention: float | None = None

    @property
    def contended(self) -> bool:
        """Its threads waited for a CPU longer than the policy allows (other jobs ran on its
        cores): a bias that more rounds do not average out."""
        return self.contention is not None and self.contention > self.policy.max_contention

    @property
    def rounds(self) -> int:
        """Timed rounds (= samples)."""
        return len(self.samples)

    @property
    def median(self) -> float:
        """Median seconds per call: the latency of one batch."""
        return self.stats.median

    @property
    def latency(self) -> float:
        """Same as `median`: seconds per batch."""
        return self.stats.median

    @property
    def throughput(self) -> float:
        """Items per second: ``batch_size / median``."""
        return self.batch_size / self.stats.median

    def config_dict(self) -> dict[str, Any] | None:
        """`config` as a plain dict (``as_dict()`` when it has one)."""
        if self.config is None:
            return None
        if hasattr(self.config, "as_dict"):
            return dict(self.config.as_dict())
        return dict(self.config)

    def as_dict(self, *, include_samples: bool = True) -> dict[str, Any]:
        """Everything as a JSON-ready dict."""
        result: dict[str, Any] = {
            "name": self.name,
            "batch_size": self.batch_size,
            "config": self.config_dict(),
            "stats": self.stats.as_dict(),
            "throughput": self.throughput,
            "unit": "s",
            "rounds": self.rounds,
            "warmup_rounds": self.warmup_rounds,
            "extended": self.extended,
            "unstable": self.unstable,
            "reason": self.reason,
            "contention": self.contention,
            "policy": self.policy.as_dict(),
            "environment": dict(self.environment),
            "extra": dict(self.extra),
        }
        if include_samples:
            result["samples"] = list(self.samples)
        return result

    def __repr__(self) -> str:
        flag = " UNSTABLE" if self.unstable else ""
        return (
            f"<Measurement {self.name}: median {self.median * 1e3:.4g} ms, "
            f"{self.throughput:.4g} items/s, n={self.rounds}{flag}>"
        )


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

    timed = _Runner(targets, block, settle, clock, deadline, on_round)
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
    ) -> None:
        self.targets = targets
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


def speedup(
    baseline: Measurement,
    candidate: Measurement,
    *,
    per_item: bool = False,
    confidence: float | None = None,
    n_boot: int | None = None,
    seed: int | None = None,
) -> Estimate:
    """How many times faster `candidate` is than `baseline`, with a bootstrap interval.

    ``median(baseline) / median(candidate)`` of the per-call times; paired by round when
    both come from one `measure_interleaved` call (same number of rounds).

    Args:
        baseline: e.g. the 1-core measurement.
        candidate: e.g. the 2-core measurement.
        per_item: compare time per item (divide by each batch size), for throughput
            speedups across batch sizes. Default False.
        confidence, n_boot, seed: default to the baseline's policy.

    Raises:
        StatsError: the samples cannot be compared.
    """
    if not (baseline.samples and candidate.samples):
        raise StatsError("speedup needs two measurements with samples.")
    num = [s / baseline.batch_size for s in baseline.samples] if per_item else baseline.samples
    den = [s / candidate.batch_size for s in candidate.samples] if per_item else candidate.samples
    p = baseline.policy
    return ratio_of_medians(
        num,
        den,
        confidence=p.confidence if confidence is None else confidence,
        n_boot=p.n_boot if n_boot is None else n_boot,
        seed=p.seed if seed is None else seed,
    )


def harness_overhead(rounds: int = 20_000, *, clock: Clock = time.perf_counter_ns) -> SampleStats:
    """Seconds the harness adds to one timed call: the timing of an empty call.

    It is what `CallSampler` measures around a function that does nothing (two clock reads,
    the call, a list store). Compare its median with the workload's: under 1 % of a 1 ms
    call is the target.

    Args:
        rounds: empty calls to time. Default 20,000.
        clock: the clock under test. Default ``time.perf_counter_ns``.
    """

    def nothing() -> None:
        return None

    sampler = CallSampler(nothing, clock)
    sampler.sample(min(rounds, 1000))  # warm the interpreter's caches first
    return SampleStats([ns / 1e9 for ns in sampler.sample(rounds)])

"""What a timing is asked for and what it gives: `TimingPolicy` (how long and how carefully to
measure), `Target` (one configuration to time), `Measurement` (one target's samples,
statistics, noise verdict and provenance) and `speedup` (the bootstrap ratio of two
measurements' medians, paired by round when they were timed interleaved).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from edgecheck.bench.samplers import Sampler
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


class TimingError(EdgecheckError, ValueError):
    """A timing policy or target that cannot be measured as asked."""


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

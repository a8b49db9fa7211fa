"""Frames per second of the pipeline, with statistics: whole-clip wall time over repeated runs.

One sample is one complete pass over a clip (open, decode, detect, FQA, select), so the fps
includes decoding and every start-up cost a user sees per video except building the FQA
runner's session, which is done once. The first pass is a warm-up (file cache, cascade and
session caches) and is not counted. The median fps and its bootstrap interval come from the
harness's statistics (`edgecheck.bench.stats.SampleStats`).

`measure_fps_interleaved` times several configurations round by round (A B C, B C A, ...), as
`edgecheck.bench.timing.measure_interleaved` does for runners, so slow drift of a shared
machine hits them alike; `paired_ratio` is the median of the per-round fps ratios with a
paired bootstrap interval: the pipeline against the naive detector measured in the same run.

Noise guard. A measurement also records how much CPU *other* processes took while it ran
(`CpuLoad`: the machine's busy time from ``/proc/stat``, steal included, minus this process's
own CPU time, over wall time x CPUs). The pipeline's own threads are not counted: it runs
three busy threads (decode, detect, FQA) on two cores here, so its run-queue wait
(`edgecheck.bench.timing.run_queue_wait_ns`, the parallel tables' contention signal) was 3-15 %
of its wall time on a quiet machine, self-inflicted; it is recorded, not judged.
`noise_reason` turns others' share and an interval's width into "too noisy to decide: ...",
which the tests report as not run here, never as a pass or a FAIL.

Test-only slowdown. ``slowdown=f`` holds each timed pass (busy-waiting, after its last score)
until its wall time is ``f`` times what the pass itself took, so its fps is exactly ``1/f`` of
the real one's: the teeth tests time such a pass interleaved with the real pipeline and show
that the same-run rule fails it (like `edgecheck.backends.slowed.SlowedRunner` for runners).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from edgecheck.pipeline.run import PipelineConfig, PipelineResult, run_pipeline

# Other processes may take at most this share of the machine's CPU time during a
# measurement (the parallel tables' `TimingPolicy.max_contention` is 5 % too). Measured
# here, 2 vCPUs: 0.1-0.6 % over a whole interleaved run on a quiet machine; 0-5.4 % per pass
# with other jobs starting and stopping, when the naive detector's fps was 16 % lower at
# 5.4 % than at 0 % and the pipeline / naive ratio 6 % below the quiet runs'.
MAX_OTHERS_SHARE = 0.05
# A ratio's (or fps median's) 95 % interval may be this wide relative to its value; the
# same-run rule's two sides are 20 % apart, so a wider interval cannot tell them apart.
MAX_REL_CI_WIDTH = 0.15


@dataclass(frozen=True)
class CpuSnapshot:
    """Cumulative CPU times at one instant: the machine's (``/proc/stat``) and this process's.

    Attributes:
        busy: seconds all CPUs were busy (user, nice, system, irq, softirq, steal) since boot.
        cpus: CPUs the machine line of ``/proc/stat`` sums over.
        own: this process's user + system seconds (all threads).
        wall: ``time.perf_counter()``.
    """

    busy: float
    cpus: int
    own: float
    wall: float


def cpu_snapshot(stat_path: str = "/proc/stat") -> CpuSnapshot | None:
    """Now's `CpuSnapshot`, or ``None`` where the OS has no ``/proc/stat``."""
    try:
        with open(stat_path) as fh:
            lines = fh.read().splitlines()
        fields = [int(v) for v in lines[0].split()[1:9]]
        cpus = sum(1 for line in lines[1:] if line.startswith("cpu"))
        tick = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None
    busy = sum(fields) - fields[3] - fields[4]  # all but idle and iowait
    own = os.times()
    return CpuSnapshot(busy / tick, max(cpus, 1), own.user + own.system, time.perf_counter())


def others_share(before: CpuSnapshot | None, after: CpuSnapshot | None) -> float | None:
    """The share of the machine's CPU time other processes (or the hypervisor) took between
    two snapshots: 0.0 on a machine doing nothing else, 0.5 with one of two CPUs busy
    elsewhere all along. ``None`` when unknown."""
    if before is None or after is None or after.wall <= before.wall:
        return None
    others = (after.busy - before.busy) - (after.own - before.own)
    # /proc/stat counts in clock ticks (10 ms), this process's time more finely: a few ticks
    # of rounding can make the difference slightly negative.
    return round(max(0.0, others) / ((after.wall - before.wall) * after.cpus), 4)


def noise_reason(
    others: float | None,
    rel_width: float | None = None,
    *,
    what: str = "the measurement",
    max_others: float = MAX_OTHERS_SHARE,
    max_rel_width: float = MAX_REL_CI_WIDTH,
) -> str | None:
    """Why a measurement is too noisy to decide on, or ``None`` when it is not.

    Args:
        others: other processes' share of the machine's CPU time while it ran
            (`others_share`; ``None``: unknown, not held against it).
        rel_width: its interval's width over its value (``None``: not judged).
        what: names it in the reason.
        max_others, max_rel_width: the limits (`MAX_OTHERS_SHARE`, `MAX_REL_CI_WIDTH`).
    """
    if others is not None and others > max_others:
        return (
            f"other processes took {others:.1%} of the machine's CPU time during {what}, above "
            f"the limit {max_others:.0%}: the machine was busy"
        )
    if rel_width is not None and not rel_width <= max_rel_width:
        return (
            f"the 95 % interval of {what} is {rel_width:.1%} of its value wide, above the limit "
            f"{max_rel_width:.0%}"
        )
    return None


@dataclass(frozen=True)
class FpsMeasurement:
    """Repeated pipeline runs over one clip.

    Attributes:
        fps: end-to-end fps per counted run.
        last: the last run's `PipelineResult` (faces, selection, per-stage times).
        config: the `PipelineConfig`.
        others: other processes' share of the machine's CPU time during the counted runs
            (`others_share`), ``None`` where unknown.
        wait: this process's run-queue wait over the counted runs' wall time (its own
            threads included; recorded, not judged), ``None`` where unknown.
        slowdown: the test-only slowdown it ran with (1.0: none).
        name: its label.
    """

    fps: tuple[float, ...]
    last: PipelineResult
    config: PipelineConfig
    others: float | None = None
    wait: float | None = None
    slowdown: float = 1.0
    name: str = "pipeline"

    @property
    def stats(self) -> Any:
        from edgecheck.bench.stats import SampleStats

        return SampleStats(self.fps)

    @property
    def median(self) -> float:
        return float(self.stats.median)

    def noise(self, *, rel_width: bool = False) -> str | None:
        """`noise_reason` for this measurement: others' share (and its median's interval
        width when `rel_width`)."""
        width = self.stats.relative_ci_width if rel_width else None
        return noise_reason(self.others, width, what=f"{self.name}'s runs")

    def as_dict(self) -> dict[str, Any]:
        ci = self.stats.ci
        return {
            "name": self.name, "fps_median": round(self.median, 2),
            "fps_ci": [round(ci.low, 2), round(ci.high, 2)],
            "fps": [round(v, 2) for v in self.fps], "others_cpu_share": self.others,
            "run_queue_wait": self.wait, "slowdown": self.slowdown, **self.last.summary(),
        }  # fmt: skip


@dataclass(frozen=True)
class FpsTarget:
    """One configuration of an interleaved fps measurement.

    Attributes:
        name: its label, e.g. ``"naive detector"``.
        config: how the pipeline runs.
        slowdown: test-only: each pass held to this many times its own wall time. Default 1.0.
        warmup: uncounted passes before the first round. Default 1.
    """

    name: str
    config: PipelineConfig
    slowdown: float = 1.0
    warmup: int = 1


def _wait_share(before: int | None, after: int | None, wall: float) -> float | None:
    if before is None or after is None or wall <= 0:
        return None
    return round((after - before) / 1e9 / wall, 4)


class _Pass:
    """Times passes of one target and sums their CPU accounting."""

    def __init__(self, video: Any, target: FpsTarget, model: Any) -> None:
        from edgecheck.errors import ConfigError

        if not target.slowdown >= 1.0:
            raise ConfigError(
                f"slowdown {target.slowdown!r} of {target.name!r} must be at least 1.0 "
                f"(1.2 = 20 % slower)."
            )
        self.video, self.target, self.model = video, target, model
        self.fps: list[float] = []
        self.result: PipelineResult | None = None
        self.wall = self.others_cpu = self.own = 0.0
        self.others_known = True
        self.wait_ns: int | None = 0

    def run(self, *, counted: bool) -> None:
        from edgecheck.bench.timing import run_queue_wait_ns

        wait0, snap0 = run_queue_wait_ns(), cpu_snapshot()
        result = run_pipeline(self.video, self.target.config, model=self.model, keep_images=False)
        wall = result.wall_seconds
        if self.target.slowdown > 1.0:
            # Busy-wait, not sleep: a sleeping pass would give its core to the next one.
            end = time.perf_counter()
            deadline = end + (self.target.slowdown - 1.0) * wall
            while time.perf_counter() < deadline:
                pass
            wall += time.perf_counter() - end
        snap1, wait1 = cpu_snapshot(), run_queue_wait_ns()
        if not counted:
            return
        self.result = result
        self.fps.append(result.frames / wall if wall > 0 else 0.0)
        if snap0 is None or snap1 is None:
            self.others_known = False
        else:
            self.wall += snap1.wall - snap0.wall
            share = others_share(snap0, snap1) or 0.0
            self.others_cpu += share * (snap1.wall - snap0.wall)
        if self.wait_ns is not None:
            self.wait_ns = None if wait0 is None or wait1 is None else self.wait_ns + wait1 - wait0

    def measurement(self) -> FpsMeasurement:
        assert self.result is not None
        others = round(self.others_cpu / self.wall, 4) if self.others_known and self.wall else None
        wait = None if self.wait_ns is None else _wait_share(0, self.wait_ns, self.wall)
        return FpsMeasurement(
            tuple(self.fps), self.result, self.target.config, others=others, wait=wait,
            slowdown=self.target.slowdown, name=self.target.name,
        )  # fmt: skip


def measure_fps(
    video: str | os.PathLike[str],
    config: PipelineConfig | None = None,
    *,
    model: str | os.PathLike[str],
    repeats: int = 3,
    warmup: int = 1,
    slowdown: float = 1.0,
) -> FpsMeasurement:
    """Run the pipeline ``warmup + repeats`` times over `video`; fps of the last `repeats`.

    Args:
        video: the clip.
        config: how to run (default `PipelineConfig()`).
        model: the FQA ONNX file (`edgecheck.pipeline.scoring.prepare_fqa`).
        repeats: counted runs (>= 1). Default 3.
        warmup: uncounted runs first. Default 1.
        slowdown: test-only (see the module docstring). Default 1.0.
    """
    target = FpsTarget("pipeline", config or PipelineConfig(), slowdown, warmup)
    return measure_fps_interleaved(video, [target], model=model, rounds=repeats)[0]


def measure_fps_interleaved(
    video: str | os.PathLike[str],
    targets: Sequence[FpsTarget],
    *,
    model: str | os.PathLike[str],
    rounds: int = 3,
    on_round: Callable[[int], None] | None = None,
    until: Callable[[list[FpsMeasurement]], bool] | None = None,
    max_rounds: int | None = None,
) -> list[FpsMeasurement]:
    """Time `targets` over `video` round by round (A B C, B C A, ...), after their warm-ups.

    Every target gets the same number of counted passes, so their fps pair up by round
    (`paired_ratio`): `rounds`, or, with `until`, more. Returns one `FpsMeasurement` per
    target, in order.

    Args:
        until: a sequential stopping rule: after `rounds` rounds and after every full
            rotation of the targets beyond them, measuring stops once ``until(measurements)``
            is true (e.g. a paired interval that has cleared a bound) or at `max_rounds`.
        max_rounds: the most rounds `until` may take (default: `rounds`, so no more).

    Raises:
        ConfigError: no targets, duplicate names, or a slowdown below 1.
    """
    from edgecheck.errors import ConfigError

    names = [t.name for t in targets]
    if not targets or len(set(names)) != len(names):
        raise ConfigError(f"measure_fps_interleaved needs targets with unique names: {names}.")
    passes = [_Pass(video, t, model) for t in targets]
    for p in passes:
        for _ in range(p.target.warmup):
            p.run(counted=False)
    first = max(1, rounds)
    last = max(first, max_rounds or first) if until is not None else first
    for done in range(last):
        checkpoint = done >= first and (done - first) % len(passes) == 0
        if checkpoint and until is not None and until([p.measurement() for p in passes]):
            break
        # Rotated each round (A B C, B C A, C A B, ...) so that no target always runs right
        # after the same one: in a fixed order the 20 % slowed pipeline, always right after
        # the naive detector (OpenCV's thread pool at full width), came out 24-28 % slower
        # than the pipeline instead of 20 % (3 runs here).
        shift = done % len(passes)
        for p in passes[shift:] + passes[:shift]:
            p.run(counted=True)
        if on_round is not None:
            on_round(done + 1)
    return [p.measurement() for p in passes]


def _median_ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.median(a / b, axis=-1)


def paired_ratio(numerator: FpsMeasurement, denominator: FpsMeasurement) -> Any:
    """Median over rounds of ``numerator fps / denominator fps`` (same round), with a paired
    bootstrap interval (`edgecheck.bench.stats.bootstrap`): drift common to both passes of a
    round cancels from it. Both must come from one `measure_fps_interleaved` call."""
    from edgecheck.bench.stats import StatsError, bootstrap

    if len(numerator.fps) != len(denominator.fps):
        raise StatsError(
            f"{numerator.name} has {len(numerator.fps)} rounds and {denominator.name} "
            f"{len(denominator.fps)}: measure them interleaved (measure_fps_interleaved)."
        )
    if not all(math.isfinite(v) and v > 0 for v in denominator.fps):
        raise StatsError(f"{denominator.name}: an fps of 0 or not finite, {denominator.fps}.")
    return bootstrap([numerator.fps, denominator.fps], _median_ratio, paired=True)

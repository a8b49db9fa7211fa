"""Generated histories with known truth, for the tests and `benchmarks/history.py`.

The noise imitates this machine's run-to-run medians: relative normal noise of 1-3 % (the
spread of a timing's median between runs on a shared 2-core VM), and now and then a run slowed
by 5-15 % (another job on the machine: a run is only ever slowed, never sped up). Seeded:
the same seed gives the same series.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

OUTLIER_RATE = 0.03
OUTLIER_SLOWDOWN = (0.05, 0.15)


@dataclass(frozen=True)
class Synthetic:
    """A generated series: values, commits, the true level per run and the true steps.

    Attributes:
        values: the noisy medians.
        level: the true level of each run (before noise).
        steps: indices of the true steps (first run at the new level).
        commits: ``c0000``, ``c0001``, ...
        noise: the relative noise's standard deviation used.
    """

    values: np.ndarray
    level: np.ndarray
    steps: tuple[int, ...]
    commits: tuple[str, ...]
    noise: float


def make_series(
    level: Sequence[float] | np.ndarray, rng: np.random.Generator, *,
    noise: float | None = None, outlier_rate: float = OUTLIER_RATE,
    steps: Sequence[int] = (),
) -> Synthetic:  # fmt: skip
    """Noise on a true `level` per run (higher value = slower, as a latency).

    `noise` is the relative standard deviation, drawn from 1-3 % when None; a share
    `outlier_rate` of the runs is slowed by 5-15 % on top.
    """
    lv = np.asarray(level, dtype=np.float64)
    sd = float(rng.uniform(0.01, 0.03)) if noise is None else noise
    values = lv * (1.0 + rng.normal(0.0, sd, lv.size))
    slow = rng.random(lv.size) < outlier_rate
    values[slow] *= 1.0 + rng.uniform(*OUTLIER_SLOWDOWN, int(slow.sum()))
    commits = tuple(f"c{i:04d}" for i in range(lv.size))
    return Synthetic(values, lv, tuple(steps), commits, sd)


def step_levels(n: int, steps: Sequence[tuple[int, float]], start: float = 1.0) -> np.ndarray:
    """A level of `n` runs that changes by the relative step at each (index, step)."""
    level = np.full(n, start)
    for index, step in steps:
        level[index:] *= 1.0 + step
    return level


def single_step(rng: np.random.Generator, n: int = 60, size: float | None = None) -> Synthetic:
    """One step of 3-20 % (either sign, or `size`) at a random run away from the ends."""
    at = int(rng.integers(10, n - 10))
    step = float(rng.uniform(0.03, 0.20) * rng.choice([-1, 1])) if size is None else size
    return make_series(step_levels(n, [(at, step)]), rng, steps=[at])


def staircase(
    rng: np.random.Generator, steps: int = 10, size: float = 0.03, every: int = 10,
    noise: float | None = None,
) -> Synthetic:  # fmt: skip
    """`steps` steps of `size` each (worse: slower), one every `every` runs after a first level."""
    n = every * (steps + 1)
    at = [every * (i + 1) for i in range(steps)]
    return make_series(step_levels(n, [(i, size) for i in at]), rng, steps=at, noise=noise)


def no_change(rng: np.random.Generator, n: int = 100, noise: float | None = None) -> Synthetic:
    """`n` runs of one level: every change point found is a false one."""
    return make_series(np.ones(n), rng, noise=noise)


def drift(rng: np.random.Generator, n: int = 60, total: float = 0.10) -> Synthetic:
    """A slow drift: the level worsens linearly by `total` over the runs (no single step)."""
    return make_series(1.0 + total * np.linspace(0.0, 1.0, n), rng)


def several_steps(rng: np.random.Generator, n: int = 80, count: int = 3) -> Synthetic:
    """`count` steps of 5-15 % (either sign) at random runs at least 10 apart."""
    while True:
        at = sorted(int(i) for i in rng.choice(np.arange(8, n - 8), count, replace=False))
        if all(b - a >= 10 for a, b in itertools.pairwise(at)):
            break
    sizes = rng.uniform(0.05, 0.15, count) * rng.choice([-1, 1], count)
    return make_series(step_levels(n, list(zip(at, sizes, strict=True))), rng, steps=at)


def match(found: Sequence[int], truth: Sequence[int], within: int = 1) -> int:
    """How many true steps have a found change point within `within` runs (one-to-one)."""
    free = sorted(found)
    hits = 0
    for t in truth:
        near = sorted((abs(f - t), f) for f in free if abs(f - t) <= within)
        if near:
            free.remove(near[0][1])
            hits += 1
    return hits

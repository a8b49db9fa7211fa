"""Robust statistics of timing samples. Pure: numbers in, numbers out, no I/O, no clocks.

Timings on a shared machine are skewed (a call can only be delayed, never sped up), so the
median is the location and the IQR / MAD the spread; the mean and standard deviation are kept
for pytest-benchmark's tables. Uncertainty comes from a seeded percentile bootstrap, so the
same samples always give the same interval.

Conventions (stated once, used everywhere):

* percentiles, q1 and q3 use numpy's default linear interpolation (Hyndman & Fan type 7);
* ``mad`` is the raw median absolute deviation, not scaled by 1.4826;
* ``cov`` is the sample standard deviation (ddof=1) over the mean;
* a confidence interval is the percentile bootstrap interval at `confidence` (default 95 %).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from edgecheck.errors import EdgecheckError

DEFAULT_CONFIDENCE = 0.95
DEFAULT_N_BOOT = 2000
DEFAULT_SEED = 0
PERCENTILES = (50, 90, 95, 99)
# Bound on resampled values held at once (rows x samples), to keep memory flat for long runs.
_CHUNK_VALUES = 2_000_000

Statistic = Callable[..., np.ndarray]


class StatsError(EdgecheckError, ValueError):
    """Samples that statistics cannot be computed from (empty, non-finite, mismatched)."""


def _as_samples(values: Sequence[float] | np.ndarray, what: str = "samples") -> np.ndarray:
    data = np.array(values, dtype=np.float64).ravel()  # a copy: callers may reuse their list
    if data.size == 0:
        raise StatsError(f"{what}: no values; measure at least one round.")
    if not np.isfinite(data).all():
        bad = int(data.size - np.count_nonzero(np.isfinite(data)))
        raise StatsError(f"{what}: {bad} of {data.size} values are NaN or infinite.")
    return data


@dataclass(frozen=True)
class Estimate:
    """A point estimate with its bootstrap confidence interval.

    Attributes:
        value: the statistic on the observed samples.
        low, high: the interval's bounds.
        confidence: the interval's coverage, e.g. 0.95.
        n_boot: bootstrap resamples used (0: the interval is degenerate, too few samples).
        method: ``"paired"`` (rounds resampled jointly) or ``"independent"``.
    """

    value: float
    low: float
    high: float
    confidence: float
    n_boot: int
    method: str

    @property
    def width(self) -> float:
        """``high - low``."""
        return self.high - self.low

    @property
    def relative_width(self) -> float:
        """``(high - low) / |value|`` (infinite when the value is 0)."""
        return self.width / abs(self.value) if self.value else math.inf

    def contains(self, x: float) -> bool:
        """True when ``low <= x <= high``."""
        return self.low <= x <= self.high

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict."""
        return {
            "value": self.value,
            "low": self.low,
            "high": self.high,
            "confidence": self.confidence,
            "n_boot": self.n_boot,
            "method": self.method,
        }


def bootstrap(
    samples: Sequence[Sequence[float] | np.ndarray],
    statistic: Statistic,
    *,
    paired: bool = True,
    confidence: float = DEFAULT_CONFIDENCE,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
) -> Estimate:
    """Percentile-bootstrap interval of any statistic of one or more sample sets.

    Args:
        samples: the sample sets, e.g. ``[times_1_core, times_2_cores]``.
        statistic: vectorised: called with one 2-D array per sample set, shape
            ``(resamples, n)``, it returns one value per row, shape ``(resamples,)``.
            Example: ``lambda a, b: np.median(a, axis=1) / np.median(b, axis=1)``.
        paired: resample the same round indices in every set, which keeps rounds measured
            side by side (interleaved) together so common drift stays paired. Needs sets of
            equal length. ``False`` resamples each set on its own. Default ``True``.
        confidence: interval coverage. Default 0.95.
        n_boot: number of resamples. Default 2000.
        seed: seed of numpy's generator; the same inputs and seed give the same interval.

    Returns:
        An `Estimate`; with one sample per set the interval collapses to the point value.
    """
    if not 0.0 < confidence < 1.0:
        raise StatsError(f"confidence {confidence!r} must lie strictly between 0 and 1, e.g. 0.95.")
    if n_boot < 1:
        raise StatsError(f"n_boot {n_boot!r} must be at least 1 (2000 is typical).")
    arrays = [_as_samples(s, f"sample set {i}") for i, s in enumerate(samples)]
    if not arrays:
        raise StatsError("bootstrap needs at least one sample set.")
    if paired and len({a.size for a in arrays}) > 1:
        sizes = ", ".join(str(a.size) for a in arrays)
        raise StatsError(
            f"paired bootstrap needs sample sets of equal length (got {sizes}); measure them "
            f"interleaved round by round, or pass paired=False."
        )
    method = "paired" if paired else "independent"
    value = float(np.asarray(statistic(*(a[np.newaxis, :] for a in arrays))).reshape(-1)[0])
    if all(a.size == 1 for a in arrays):
        return Estimate(value, value, value, confidence, 0, method)
    rng = np.random.default_rng(seed)
    largest = max(a.size for a in arrays)
    rows = max(1, _CHUNK_VALUES // (largest * len(arrays)))
    boots = np.empty(n_boot, dtype=np.float64)
    done = 0
    while done < n_boot:
        k = min(rows, n_boot - done)
        if paired:
            idx = rng.integers(0, arrays[0].size, size=(k, arrays[0].size))
            resampled = [a[idx] for a in arrays]
        else:
            resampled = [a[rng.integers(0, a.size, size=(k, a.size))] for a in arrays]
        boots[done : done + k] = np.asarray(statistic(*resampled), dtype=np.float64).reshape(k)
        done += k
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(boots, [alpha, 1.0 - alpha])
    return Estimate(value, float(low), float(high), confidence, n_boot, method)


def _median_rows(a: np.ndarray) -> np.ndarray:
    return np.median(a, axis=-1)


def _ratio_of_medians(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.median(a, axis=-1) / np.median(b, axis=-1)


def ratio_of_medians(
    numerator: Sequence[float] | np.ndarray,
    denominator: Sequence[float] | np.ndarray,
    *,
    paired: bool | None = None,
    confidence: float = DEFAULT_CONFIDENCE,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
) -> Estimate:
    """``median(numerator) / median(denominator)`` with a bootstrap confidence interval.

    A speedup is ``ratio_of_medians(times_1_core, times_n_cores)``.

    Args:
        numerator, denominator: per-call times (or any positive samples).
        paired: resample rounds jointly (interleaved measurements). Default ``None``: paired
            when both have the same length, independent otherwise.
        confidence, n_boot, seed: as in `bootstrap`.
    """
    num = _as_samples(numerator, "numerator")
    den = _as_samples(denominator, "denominator")
    if np.median(den) == 0:
        raise StatsError("denominator: its median is 0, the ratio is undefined.")
    if paired is None:
        paired = num.size == den.size
    return bootstrap(
        [num, den],
        _ratio_of_medians,
        paired=paired,
        confidence=confidence,
        n_boot=n_boot,
        seed=seed,
    )


class SampleStats:
    """Statistics of one sequence of per-call times (or any samples).

    Every statistic is computed on first use and cached; the samples are copied, so the
    object never changes.

    Args:
        samples: the values, e.g. seconds per call; at least one, all finite.
        confidence: coverage of `ci`. Default 0.95.
        n_boot: bootstrap resamples for `ci`. Default 2000.
        seed: bootstrap seed. Default 0.

    Raises:
        StatsError: no samples, or a NaN / infinite one.
    """

    def __init__(
        self,
        samples: Sequence[float] | np.ndarray,
        *,
        confidence: float = DEFAULT_CONFIDENCE,
        n_boot: int = DEFAULT_N_BOOT,
        seed: int = DEFAULT_SEED,
    ) -> None:
        self.data = _as_samples(samples)
        self.data.flags.writeable = False
        self.confidence = confidence
        self.n_boot = n_boot
        self.seed = seed

    @property
    def n(self) -> int:
        """Number of samples."""
        return int(self.data.size)

    @cached_property
    def median(self) -> float:
        """The median (the location statistic edgecheck decides on)."""
        return float(np.median(self.data))

    @cached_property
    def mean(self) -> float:
        """The arithmetic mean (kept for pytest-benchmark's tables)."""
        return float(np.mean(self.data))

    @cached_property
    def min(self) -> float:
        """The smallest sample."""
        return float(np.min(self.data))

    @cached_property
    def max(self) -> float:
        """The largest sample."""
        return float(np.max(self.data))

    @cached_property
    def stddev(self) -> float:
        """Sample standard deviation (ddof=1); 0 for a single sample."""
        return float(np.std(self.data, ddof=1)) if self.n > 1 else 0.0

    def percentile(self, p: float) -> float:
        """The `p`-th percentile (0..100), linear interpolation."""
        if not 0.0 <= p <= 100.0:
            raise StatsError(f"percentile {p!r} must lie in [0, 100].")
        return float(np.percentile(self.data, p))

    @cached_property
    def percentiles(self) -> dict[int, float]:
        """The 50th, 90th, 95th and 99th percentiles (MLPerf / trtexec report these)."""
        values = np.percentile(self.data, PERCENTILES)
        return {p: float(v) for p, v in zip(PERCENTILES, values, strict=True)}

    @cached_property
    def q1(self) -> float:
        """First quartile (25th percentile)."""
        return self.percentile(25)

    @cached_property
    def q3(self) -> float:
        """Third quartile (75th percentile)."""
        return self.percentile(75)

    @cached_property
    def iqr(self) -> float:
        """Interquartile range ``q3 - q1``."""
        return self.q3 - self.q1

    @cached_property
    def mad(self) -> float:
        """Median absolute deviation from the median (raw, not scaled by 1.4826)."""
        return float(np.median(np.abs(self.data - self.median)))

    @cached_property
    def cov(self) -> float:
        """Coefficient of variation: stddev / mean (infinite when the mean is 0)."""
        return self.stddev / self.mean if self.mean else math.inf

    @cached_property
    def ci(self) -> Estimate:
        """Bootstrap confidence interval of the median."""
        return bootstrap(
            [self.data],
            _median_rows,
            confidence=self.confidence,
            n_boot=self.n_boot,
            seed=self.seed,
        )

    @property
    def relative_ci_width(self) -> float:
        """Width of the median's interval over the median: 0.04 means +-2 % around it."""
        return self.ci.relative_width

    def as_dict(self) -> dict[str, Any]:
        """Every statistic as a plain dict (no samples); JSON-ready."""
        ci = self.ci
        return {
            "n": self.n,
            "median": self.median,
            "mean": self.mean,
            "min": self.min,
            "max": self.max,
            "stddev": self.stddev,
            "q1": self.q1,
            "q3": self.q3,
            "iqr": self.iqr,
            "mad": self.mad,
            "cov": self.cov,
            **{f"p{p}": v for p, v in self.percentiles.items()},
            "ci_low": ci.low,
            "ci_high": ci.high,
            "confidence": ci.confidence,
            "relative_ci_width": ci.relative_width,
        }

    def __repr__(self) -> str:
        return (
            f"SampleStats(n={self.n}, median={self.median:.6g}, iqr={self.iqr:.3g}, "
            f"ci=[{self.ci.low:.6g}, {self.ci.high:.6g}])"
        )


def per_round(samples: Sequence[float] | np.ndarray, block: int = 1) -> np.ndarray:
    """One time per round: the median of each round's `block` consecutive samples.

    `measure_interleaved` adds `block` samples to every target per round, so sample ``i``
    belongs to round ``i // block`` in every target's list; per-round times of two targets
    pair up round by round.

    Raises:
        StatsError: the samples do not split into whole rounds of `block`.
    """
    data = _as_samples(samples)
    if block < 1 or data.size % block:
        raise StatsError(f"{data.size} samples do not split into rounds of {block}.")
    return np.median(data.reshape(-1, block), axis=1)


def median_of(
    values: Sequence[float] | np.ndarray,
    *,
    confidence: float = DEFAULT_CONFIDENCE,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
) -> Estimate:
    """The median of `values` with its bootstrap interval (e.g. of per-round ratios)."""
    return bootstrap(
        [_as_samples(values)], _median_rows, confidence=confidence, n_boot=n_boot, seed=seed
    )


def paired_ratio(
    numerator: Sequence[float] | np.ndarray,
    denominator: Sequence[float] | np.ndarray,
    *,
    block: int = 1,
    confidence: float = DEFAULT_CONFIDENCE,
    n_boot: int = DEFAULT_N_BOOT,
    seed: int = DEFAULT_SEED,
) -> Estimate:
    """The median over rounds of each round's ``numerator / denominator`` time, with its
    bootstrap interval (rounds resampled).

    Both lists come from one interleaved run (`per_round` pairs them): a speedup is
    ``paired_ratio(times_1_core, times_n_cores, block=...)``. Drift common to both sides of a
    round (another job, a frequency change) cancels from that round's ratio, so the
    interval is narrower than a ratio of two medians' on a drifting machine.

    Raises:
        StatsError: the lists hold different numbers of rounds.
    """
    num, den = per_round(numerator, block), per_round(denominator, block)
    if num.size != den.size:
        raise StatsError(
            f"paired_ratio needs the same rounds on both sides (got {num.size} and {den.size})."
        )
    return median_of(num / den, confidence=confidence, n_boot=n_boot, seed=seed)

"""Change points of a metric's history: where its level moved, by which commits, how much.

The method is E-Divisive means (Matteson & James, "A nonparametric approach for multiple
change point analysis of multivariate data", JASA 2014), as Apache Otava (formerly Hunter) and
MongoDB's performance CI use it, written out here (a page of numpy) with its permutation test:

* the divergence of a split of a segment into ``A = x[s:t]`` and ``B = x[t:k]`` is
  ``Q = |A||B|/(|A|+|B|) * (2 mean|a - b| - mean|a - a'| - mean|b - b'|)`` (energy distance,
  alpha = 1: it needs no normality and an outlier weighs linearly, not squared); the best split
  maximises Q over t and the right end k (both sides at least `min_size` runs);
* bisection: the segment whose best split has the largest Q is tested: the observations of
  every current segment are permuted within it (`permutations` times, seeded), and the p-value
  is the share of permutations whose best Q reaches the observed one (``(hits + 1) / (R + 1)``);
  below `alpha` the split is a change point and both halves are searched again, else the
  search stops. A permutation run stops early once it cannot reach `alpha` any more.

Each `ChangePoint` carries its index (the first run at the new level), the commit range
(previous run's commit .. this run's commit: the commits that can have caused it), the step
(ratio of the medians of the runs after and before it, up to the neighbouring change points,
minus 1) and the p-value.

Why E-Divisive and not PELT (``ruptures``): measured by `benchmarks/history.py --compare` on
generated seeded series (`edgecheck.history.simulate`: relative normal noise of 1-3 % per run,
like this machine's run-to-run medians, and 3 % of the runs slowed by 5-15 %), 200 series per
row, a change point counting when within 1 run of a true step (precision / recall, false
change points per run):

    series                         E-Divisive alpha 0.01   PELT l2, pen 4 s^2 log n   pen 8
    one step of 3-20 %, n=60       0.959 / 0.945  0.0007   0.706 / 0.935  0.0065   0.906 / 0.920  0.0016
    three steps of 5-15 %, n=80    0.969 / 0.950  0.0011   0.863 / 0.945  0.0056   0.937 / 0.888  0.0022
    no change, n=100               -     / -      0.0004   -     / -      0.0046   -     / -      0.0007
    (series with a false one)      2.0 %                   23 %                    3.5 %

(PELT's penalty is a multiple of the noise variance, estimated robustly from successive
differences, times log n.) No penalty matches E-Divisive on both counts: where PELT's recall
is higher (pen 2: 0.960) its precision is 0.49-0.71, where its precision comes close (pen 8)
its recall drops to 0.89-0.92: the outlier runs pull its l2 cost, and the right penalty
depends on the noise's shape. E-Divisive's energy distance weighs an outlier linearly
and its permutation test needs no noise model, so alpha alone sets the false rate; its p-value
is the confidence each change point reports (PELT would need a bootstrap on top). The price is
time: 2-8 s per 200 series against PELT's 1.5-2.3 s here, small beside a test run. PELT stays
available as ``method="pelt"`` (needs ``ruptures``; its change points get the permutation
p-value of the split of their neighbouring segments). A slow drift (+10 % over 60 runs) has no
step: both place about 1.3-1.4 change points along it; the creep rule (`creep`) judges it.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from edgecheck.errors import EdgecheckError

DEFAULT_ALPHA = 0.01
DEFAULT_PERMUTATIONS = 199
DEFAULT_MIN_SIZE = 3
METHODS = ("edivisive", "pelt")
# PELT's penalty: this many times the robust noise variance times log(n) (8: its best
# precision in the measurement above).
PELT_PENALTY = 8.0


class ChangeError(EdgecheckError, ValueError):
    """A series that change points cannot be computed for (non-finite, mismatched commits)."""


@dataclass(frozen=True)
class ChangePoint:
    """A change of level in a series.

    Attributes:
        index: the first run at the new level.
        commit_before, commit: the previous run's commit and this run's: the change came in
            by a commit after `commit_before` up to and including `commit`.
        before, after: median of the runs before it and after it (up to the neighbouring
            change points).
        step: ``after / before - 1`` (0.1: 10 % higher).
        p_value: of the permutation test (lower: surer).
    """

    index: int
    commit_before: str
    commit: str
    before: float
    after: float
    step: float
    p_value: float

    @property
    def commit_range(self) -> str:
        """``"abc123..def456"`` (git's notation for the commits after abc123 up to def456)."""
        return f"{self.commit_before}..{self.commit}"

    def worse(self, direction: str) -> bool:
        """True when the step went the bad way for a metric where `direction` is better."""
        return self.step > 0 if direction == "lower" else self.step < 0

    def as_dict(self) -> dict[str, object]:
        """The fields as a plain dict, with the commit range."""
        return {
            "index": self.index, "commit_before": self.commit_before, "commit": self.commit,
            "commit_range": self.commit_range, "before": self.before, "after": self.after,
            "step": self.step, "p_value": self.p_value,
        }  # fmt: skip


@functools.lru_cache(maxsize=256)
def _grid(n: int, min_size: int) -> tuple[np.ndarray, ...]:
    """For a segment of `n` runs: the flat indices into its (n+1)^2 prefix sums and the
    weights of Q for every valid (split t, right end k), and each pair's t."""
    t, k = np.meshgrid(np.arange(min_size, n + 1), np.arange(2 * min_size, n + 1), indexing="ij")
    keep = (k - t >= min_size) & (t <= n - min_size)
    t, k = t[keep], k[keep]
    m, r = t.astype(float), (k - t).astype(float)
    width = n + 1
    # Q = |A||B|/(|A|+|B|) * (2 between/(|A||B|) - within_A/(|A|(|A|-1)) - within_B/(|B|(|B|-1)))
    # with the prefix sums P (sums of |x_i - x_j| over both orders of each pair):
    # between = P[t,k] - P[t,t], within_A = P[t,t], within_B = P[k,k] - 2 P[t,k] + P[t,t].
    w_between = 2.0 / (m + r)
    w_a = r / ((m + r) * (m - 1.0))
    w_b = m / ((m + r) * (r - 1.0))
    tk, tt, kk = t * width + k, t * width + t, k * width + k
    # Q = c_tk P[t,k] + c_tt P[t,t] + c_kk P[k,k]
    c_tk = w_between + 2.0 * w_b
    c_tt = -w_between - w_a - w_b
    c_kk = -w_b
    return tk, tt, kk, c_tk, c_tt, c_kk, t


def _best_q(x: np.ndarray, min_size: int) -> tuple[np.ndarray, np.ndarray]:
    """The largest Q of each row of `x` (rows: one segment's values, e.g. permutations) over
    splits t and right ends k, and its t; -inf and -1 for a segment too short to split."""
    rows, n = x.shape
    if n < 2 * min_size:
        return np.full(rows, -np.inf), np.full(rows, -1)
    tk, tt, kk, c_tk, c_tt, c_kk, t = _grid(n, min_size)
    d = np.abs(x[:, :, None] - x[:, None, :])
    p = np.zeros((rows, n + 1, n + 1))
    p[:, 1:, 1:] = d.cumsum(1).cumsum(2)
    flat = p.reshape(rows, -1)
    q = c_tk * flat[:, tk] + c_tt * flat[:, tt] + c_kk * flat[:, kk]
    best = q.argmax(axis=1)
    return q[np.arange(rows), best], t[best]


def _segments(bounds: Sequence[int]) -> list[tuple[int, int]]:
    return list(itertools.pairwise(bounds))


def _best_over(x: np.ndarray, bounds: Sequence[int], min_size: int) -> tuple[float, int]:
    """The segment split with the largest Q among the segments between `bounds`."""
    best, at = -np.inf, -1
    for s, e in _segments(bounds):
        q, t = _best_q(x[None, s:e], min_size)
        if q[0] > best:
            best, at = float(q[0]), s + int(t[0])
    return best, at


_BATCH = 40  # permutations computed at once (then the early stop is checked)


def _p_value(
    x: np.ndarray, bounds: Sequence[int], observed: float, min_size: int,
    permutations: int, alpha: float, rng: np.random.Generator,
) -> float:  # fmt: skip
    """Share of within-segment permutations whose best Q reaches `observed` (ecp's test).

    The permutations run in batches; once so many reached it that the p-value cannot fall
    below `alpha`, the test stops (the returned p-value is then over the permutations done).
    """
    hits = done = 0
    stop = alpha * (permutations + 1)  # once hits + 1 reach this, p >= alpha for sure
    # A tiny relative slack: a permutation that equals the observed order ties exactly.
    bar = observed - 1e-12 * abs(observed)
    while done < permutations:
        batch = min(_BATCH, permutations - done)
        best = np.full(batch, -np.inf)
        for s, e in _segments(bounds):
            if e - s < 2 * min_size:
                continue
            shuffled = rng.permuted(np.broadcast_to(x[s:e], (batch, e - s)), axis=1)
            best = np.maximum(best, _best_q(shuffled, min_size)[0])
        hits += int((best >= bar).sum())
        done += batch
        if hits + 1 >= stop:
            return (hits + 1) / (done + 1)
    return (hits + 1) / (permutations + 1)


def edivisive(
    values: Sequence[float] | np.ndarray, *, alpha: float = DEFAULT_ALPHA,
    permutations: int = DEFAULT_PERMUTATIONS, min_size: int = DEFAULT_MIN_SIZE, seed: int = 0,
) -> list[tuple[int, float]]:  # fmt: skip
    """E-Divisive means: the change point indices (first run after each) with their p-values,
    sorted by index. Deterministic for a given `seed`."""
    x = _finite(values)
    rng = np.random.default_rng(seed)
    bounds = [0, x.size]
    found: list[tuple[int, float]] = []
    while True:
        q, at = _best_over(x, bounds, min_size)
        if at < 0:
            break
        p = _p_value(x, bounds, q, min_size, permutations, alpha, rng)
        if p >= alpha:
            break
        found.append((at, p))
        bounds = sorted([*bounds, at])
    return sorted(found)


def pelt(
    values: Sequence[float] | np.ndarray, *, penalty: float = PELT_PENALTY,
    min_size: int = DEFAULT_MIN_SIZE, alpha: float = DEFAULT_ALPHA,
    permutations: int = DEFAULT_PERMUTATIONS, seed: int = 0,
) -> list[tuple[int, float]]:  # fmt: skip
    """PELT (``ruptures``, l2 cost) with a penalty of ``penalty * s^2 * log(n)``, s the noise
    estimated robustly from successive differences; each change point gets the permutation
    p-value of the split of its neighbouring segments (reported, not used to filter)."""
    from edgecheck._imports import require

    rpt = require("ruptures", "PELT change points (method='pelt')")
    x = _finite(values)
    if x.size < 2 * min_size:
        return []
    scale = float(np.median(x))
    y = x / scale if scale else x
    sigma = run_noise(x) or 1e-12
    algo = rpt.Pelt(model="l2", min_size=min_size, jump=1).fit(y.reshape(-1, 1))
    ends = [int(b) for b in algo.predict(pen=penalty * sigma**2 * np.log(x.size))][:-1]
    rng = np.random.default_rng(seed)
    bounds = [0, *ends, x.size]
    out = []
    for i, cp in enumerate(ends):
        s, e = bounds[i], bounds[i + 2]
        q = float(_best_q(x[None, s:e], min_size)[0][0])
        out.append((cp, _p_value(x[s:e], [0, e - s], q, min_size, permutations, 1.0, rng)))
    return out


def run_noise(values: Sequence[float] | np.ndarray) -> float:
    """The run-to-run noise of a series, relative to its median: the standard deviation of a
    normal noise that gives the same median absolute successive difference (times 1.4826 /
    sqrt 2). Robust: a few steps and outlier runs barely move it. 0 for fewer than 2 runs."""
    x = _finite(values)
    scale = float(np.median(x)) if x.size else 0.0
    if x.size < 2 or not scale:
        return 0.0
    return float(np.median(np.abs(np.diff(x))) * 1.4826 / np.sqrt(2) / abs(scale))


def _finite(values: Sequence[float] | np.ndarray) -> np.ndarray:
    x = np.asarray(values, dtype=np.float64).ravel()
    if not np.isfinite(x).all():
        raise ChangeError("the series holds NaN or infinite values; no change points.")
    return x


def change_points(
    values: Sequence[float] | np.ndarray, commits: Sequence[str], *,
    method: str = "edivisive", alpha: float = DEFAULT_ALPHA,
    permutations: int = DEFAULT_PERMUTATIONS, min_size: int = DEFAULT_MIN_SIZE, seed: int = 0,
) -> list[ChangePoint]:  # fmt: skip
    """The change points of a series of medians, each with its commits, step and p-value.

    Args:
        values: the metric's median per run, oldest first.
        commits: each run's commit (same length).
        method: ``"edivisive"`` (default) or ``"pelt"`` (needs ``ruptures``).
        alpha: significance of the permutation test (edivisive).
        permutations: permutations per test.
        min_size: fewest runs on either side of a change point.
        seed: of the permutations; the same series and seed give the same change points.

    Raises:
        ChangeError: non-finite values, commits of another length, an unknown method.
    """
    x = _finite(values)
    if len(commits) != x.size:
        raise ChangeError(f"{x.size} values but {len(commits)} commits; give one per run.")
    if method == "edivisive":
        found = edivisive(x, alpha=alpha, permutations=permutations, min_size=min_size,
                          seed=seed)  # fmt: skip
    elif method == "pelt":
        found = pelt(x, min_size=min_size, permutations=permutations, seed=seed)
    else:
        raise ChangeError(f"method {method!r} is not one of {', '.join(METHODS)}.")
    bounds = [0, *(i for i, _ in found), x.size]
    out = []
    for j, (index, p) in enumerate(found):
        before = float(np.median(x[bounds[j] : index]))
        after = float(np.median(x[index : bounds[j + 2]]))
        step = after / before - 1.0 if before else float("inf") if after > 0 else 0.0
        out.append(ChangePoint(index, commits[index - 1], commits[index], before, after,
                               step, p))  # fmt: skip
    return out

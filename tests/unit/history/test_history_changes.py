"""Change points of generated seeded series: where, which commits, how big, how sure."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from edgecheck.history import simulate as sim
from edgecheck.history.changes import ChangeError, _best_q, change_points, run_noise


def brute_q(x: np.ndarray, min_size: int) -> float:
    """Matteson & James's Q, maximised over splits and right ends, straight from its formula."""
    best = -np.inf
    n = x.size
    for t, k in itertools.product(range(n + 1), range(n + 1)):
        a, b = x[:t], x[t:k]
        if a.size < min_size or b.size < min_size:
            continue
        between = np.abs(a[:, None] - b[None, :]).mean()
        within_a = sum(abs(p - q) for p, q in itertools.combinations(a, 2)) / (
            a.size * (a.size - 1) / 2
        )
        within_b = sum(abs(p - q) for p, q in itertools.combinations(b, 2)) / (
            b.size * (b.size - 1) / 2
        )
        q = a.size * b.size / (a.size + b.size) * (2 * between - within_a - within_b)
        best = max(best, q)
    return best


@pytest.mark.parametrize("seed", range(3))
def test_q_by_prefix_sums_equals_the_formula(seed: int) -> None:
    x = np.random.default_rng(seed).normal(0.0, 1.0, 17)
    q, t = _best_q(x[None, :], 3)
    assert q[0] == pytest.approx(brute_q(x, 3), rel=1e-9)
    assert 3 <= t[0] <= 14


@pytest.mark.parametrize("seed", range(5))
def test_a_10_percent_step_is_found_with_its_commits_and_size(seed: int) -> None:
    s = sim.single_step(np.random.default_rng(seed), size=0.10)
    found = change_points(s.values, s.commits)
    assert len(found) == 1
    cp = found[0]
    assert abs(cp.index - s.steps[0]) <= 1
    assert cp.commit_range == f"{s.commits[cp.index - 1]}..{s.commits[cp.index]}"
    assert cp.step == pytest.approx(0.10, abs=0.03)
    assert cp.p_value < 0.01 and cp.worse("lower") and not cp.worse("higher")


@pytest.mark.parametrize("seed", range(3))
def test_several_steps_each_found(seed: int) -> None:
    steps = [(20, 0.08), (40, -0.06), (60, 0.10)]
    s = sim.make_series(sim.step_levels(80, steps), np.random.default_rng(100 + seed),
                        noise=0.015, steps=[20, 40, 60])  # fmt: skip
    found = change_points(s.values, s.commits)
    assert sim.match([c.index for c in found], s.steps) == 3 and len(found) == 3
    assert [round(c.step, 2) for c in found] == pytest.approx([0.08, -0.06, 0.10], abs=0.025)


def test_noise_alone_has_no_change_points() -> None:
    for seed in range(10):
        s = sim.no_change(np.random.default_rng(200 + seed))
        assert change_points(s.values, s.commits) == []


def test_same_seed_same_answer_and_bad_input() -> None:
    s = sim.several_steps(np.random.default_rng(7))
    assert change_points(s.values, s.commits) == change_points(s.values, s.commits)
    with pytest.raises(ChangeError, match="NaN"):
        change_points([1.0, float("nan"), 1.0], ["a", "b", "c"])
    with pytest.raises(ChangeError, match="3 values but 2 commits"):
        change_points([1.0, 1.0, 1.0], ["a", "b"])
    with pytest.raises(ChangeError, match="method 'cusum'"):
        change_points([1.0, 1.0, 1.0], ["a", "b", "c"], method="cusum")
    assert change_points([1.0, 2.0], ["a", "b"]) == []  # too short to split


def test_pelt_finds_the_step_too() -> None:
    pytest.importorskip("ruptures")
    s = sim.single_step(np.random.default_rng(3), size=0.10)
    found = change_points(s.values, s.commits, method="pelt")
    assert sim.match([c.index for c in found], s.steps) == 1
    assert all(0 < c.p_value <= 1 for c in found)


def test_run_noise_is_robust_to_a_step_and_outliers() -> None:
    s = sim.single_step(np.random.default_rng(11), n=200, size=0.10)
    plain = sim.make_series(np.ones(200), np.random.default_rng(12), noise=0.02, outlier_rate=0)
    assert run_noise(plain.values) == pytest.approx(0.02, rel=0.15)
    assert run_noise(s.values) == pytest.approx(s.noise, rel=0.25)
    assert run_noise([1.0]) == 0.0
    with pytest.raises(ChangeError):
        run_noise([1.0, float("nan")])

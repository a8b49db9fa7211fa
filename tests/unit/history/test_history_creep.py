"""The creep rule on generated seeded series: small steps add up, noise alone passes."""

from __future__ import annotations

import numpy as np
import pytest

from edgecheck.history import simulate as sim
from edgecheck.history.creep import CreepVerdict, judge_creep


def first_failure(
    values: np.ndarray, commits: tuple[str, ...], start: int = 10
) -> tuple[int | None, CreepVerdict | None]:
    """The first run, judged against those before it, that fails (and its verdict)."""
    for i in range(start, values.size):
        verdict = judge_creep(values[:i], commits[:i], values[i], commits[i])
        if not verdict:
            return i, verdict
    return None, None


@pytest.mark.parametrize("seed", range(3))
def test_ten_3_percent_steps_fail_once_the_loss_passes_5_percent(seed: int) -> None:
    s = sim.staircase(np.random.default_rng(seed), steps=10, size=0.03, every=10, noise=0.01)
    at, verdict = first_failure(s.values, s.commits)
    assert at is not None
    # Not before the cumulative loss passes the tolerance (1.03^2 = +6.1 % from run 20 on),
    # and before the step after that one is over.
    assert s.level[at] - 1.0 > 0.05 and at < 40
    assert verdict.status == "fail" and verdict.loss > 0.05
    assert verdict.contributors, verdict.message
    for cp in verdict.contributors:
        assert cp.commit_range in verdict.message
        assert cp.worse("lower")
    assert "CREEP" in verdict.message and "c0000" in verdict.message


@pytest.mark.parametrize("seed", range(4))
def test_noise_alone_passes(seed: int) -> None:
    s = sim.no_change(np.random.default_rng(50 + seed), n=100, noise=0.02)
    verdict = judge_creep(s.values[:-1], s.commits[:-1], s.values[-1], s.commits[-1])
    assert verdict.status == "pass", verdict.message
    assert verdict.contributors == ()


def test_noise_alone_passes_at_every_run() -> None:
    s = sim.no_change(np.random.default_rng(60), n=60, noise=0.015)
    assert first_failure(s.values, s.commits) == (None, None)


def test_higher_is_better_creeps_downward() -> None:
    level = sim.step_levels(60, [(20, -0.04), (40, -0.04)], start=100.0)
    s = sim.make_series(level, np.random.default_rng(5), noise=0.01, steps=[20, 40])
    verdict = judge_creep(s.values[:-1], s.commits[:-1], s.values[-1], s.commits[-1],
                          direction="higher", label="fps", unit="fps")  # fmt: skip
    assert verdict.status == "fail" and verdict.loss == pytest.approx(0.078, abs=0.02)
    assert "fps" in verdict.message and "higher is better" in verdict.message


def test_an_accepted_step_moves_the_reference() -> None:
    s = sim.make_series(sim.step_levels(60, [(20, 0.04), (40, 0.04)]),
                        np.random.default_rng(8), noise=0.01, steps=[20, 40])  # fmt: skip
    plain = judge_creep(s.values[:-1], s.commits[:-1], s.values[-1], s.commits[-1])
    assert plain.status == "fail" and len(plain.contributors) == 2
    first = plain.contributors[0]
    accepted = judge_creep(s.values[:-1], s.commits[:-1], s.values[-1], s.commits[-1],
                           accepted={first.commit})  # fmt: skip
    assert accepted.status == "pass" and accepted.reference_commit == first.commit
    assert accepted.loss == pytest.approx(0.04, abs=0.015)


def test_an_improvement_is_kept() -> None:
    # 10 % faster, then 7 % slower again: 7 % worse than the improved level fails.
    s = sim.make_series(sim.step_levels(60, [(20, -0.10), (40, 0.07)]),
                        np.random.default_rng(9), noise=0.01, steps=[20, 40])  # fmt: skip
    verdict = judge_creep(s.values[:-1], s.commits[:-1], s.values[-1], s.commits[-1])
    assert verdict.status == "fail"
    assert abs(s.commits.index(verdict.reference_commit) - 20) <= 1


def test_a_short_history_passes_as_too_short() -> None:
    verdict = judge_creep([1.0, 1.0, 1.1], ["a", "b", "c"], 1.5, "d")
    assert verdict.status == "too short" and verdict


def _three_small_steps(seed: int = 3) -> sim.Synthetic:
    """Like the pinned series of `benchmarks/history_real.py`: 0.3 % noise, no outliers,
    +2.4 % at run 8 and 16 (+4.9 % in all: within the tolerance), +3 % at run 24 (+8 %)."""
    level = sim.step_levels(30, [(8, 0.024), (16, 0.024), (24, 0.03)])
    return sim.make_series(level, np.random.default_rng(seed), noise=0.003, outlier_rate=0.0,
                           steps=[8, 16, 24])  # fmt: skip


@pytest.mark.parametrize("seed", range(3))
def test_a_new_level_fails_the_run_after_the_step(seed: int) -> None:
    s = _three_small_steps(seed)
    judged = {
        i: judge_creep(s.values[:i], s.commits[:i], s.values[i], s.commits[i])
        for i in range(10, 30)
    }
    # Within the tolerance until the third step; its first run alone is not enough.
    assert all(judged[i] for i in range(10, 25)), [judged[i].message for i in range(10, 25)]
    at25 = judged[25]
    assert at25.status == "fail" and at25.new_level == 2, at25.message
    assert "c0023..c0024" in at25.message and "too new to be a change point" in at25.message
    assert at25.loss == pytest.approx(0.08, abs=0.01)
    assert 0.001 < at25.noise < 0.006  # 0.3 % estimated from 25 successive differences
    assert all(not judged[i] for i in range(25, 30))


def test_one_slow_run_is_not_a_new_level() -> None:
    s = sim.make_series(np.ones(30), np.random.default_rng(4), noise=0.003, outlier_rate=0.0)
    values = s.values.copy()
    values[-1] *= 1.15  # another job on the machine slowed the newest run
    verdict = judge_creep(values[:-1], s.commits[:-1], values[-1], s.commits[-1])
    assert verdict.status == "pass" and verdict.new_level == 0, verdict.message
    values[-2] *= 1.15  # two in a row, each far past the tolerance: a new level
    verdict = judge_creep(values[:-1], s.commits[:-1], values[-1], s.commits[-1])
    assert verdict.status == "fail" and verdict.new_level == 2, verdict.message
    off = judge_creep(values[:-1], s.commits[:-1], values[-1], s.commits[-1], new_level_runs=0)
    assert off.status == "pass", off.message


def test_a_new_level_within_the_noise_margin_passes() -> None:
    # 6 % worse on two runs, but the runs scatter by 1 %: 5 % + 3 x 1 % is not passed.
    s = sim.make_series(np.ones(30), np.random.default_rng(6), noise=0.01, outlier_rate=0.0)
    values = s.values.copy()
    values[-2:] = 1.06 * np.median(values[:10])
    verdict = judge_creep(values[:-1], s.commits[:-1], values[-1], s.commits[-1])
    assert verdict.status == "pass" and verdict.noise == pytest.approx(0.01, rel=0.4)


def test_a_new_level_of_a_higher_is_better_metric() -> None:
    s = sim.make_series(np.full(30, 100.0), np.random.default_rng(7), noise=0.003,
                        outlier_rate=0.0)  # fmt: skip
    values = s.values.copy()
    values[-2:] *= 0.90
    verdict = judge_creep(values[:-1], s.commits[:-1], values[-1], s.commits[-1],
                          direction="higher", unit="fps")  # fmt: skip
    assert verdict.status == "fail" and verdict.new_level == 2
    assert verdict.loss == pytest.approx(0.10, abs=0.01) and verdict.ratio_low > 1.05
    assert "fps" in verdict.message and "higher is better" in verdict.message

"""The timing harness, driven by fake samplers and fake clocks: deterministic, no timings."""

from __future__ import annotations

import json

import numpy as np
import pytest

from edgecheck.backends import RunnerConfig
from edgecheck.bench.timing import (
    CallSampler,
    Measurement,
    Sampler,
    Target,
    TimingError,
    TimingPolicy,
    harness_overhead,
    measure,
    measure_interleaved,
    run_queue_wait_ns,
    speedup,
)

QUICK = TimingPolicy(warmup_rounds=2, warmup_time=0.0, min_rounds=3, min_time=0.0)


class Scripted:
    """A sampler returning fixed durations (ns), logging who was called, in order."""

    def __init__(self, name, log, ns=1_000_000):
        self.name, self.log, self.ns = name, log, ns

    def sample(self, n):
        self.log.extend([self.name] * n)
        return [self.ns] * n


class Noisy:
    """Seeded, heavy-tailed durations around `ns`: a measurement too noisy to decide on."""

    def __init__(self, ns=1_000_000, sigma=1.0, seed=0):
        self.rng = np.random.default_rng(seed)
        self.ns, self.sigma = ns, sigma

    def sample(self, n):
        return [int(self.ns * x) for x in self.rng.lognormal(0.0, self.sigma, n)]


class Ticking:
    """Fake clock: advances `step` ns per read."""

    def __init__(self, step):
        self.now, self.step = 0, step

    def __call__(self):
        self.now += self.step
        return self.now


def test_call_sampler_times_each_call_with_the_injected_clock():
    # one read before the loop and one after it (for the turn's wall time), two per call
    reads = iter([0, 10, 15, 100, 130, 1000, 1001, 2000])
    calls = []
    sampler = CallSampler(lambda: calls.append(1), clock=lambda: next(reads))
    assert isinstance(sampler, Sampler)
    assert sampler.sample(3) == [5, 30, 1]
    assert len(calls) == 3 and sampler.last_wall_ns == 2000


def test_interleaving_order_is_abab_for_warmup_and_timed_rounds():
    log = []
    a, b = Target("A", Scripted("A", log)), Target("B", Scripted("B", log))
    results = measure_interleaved([a, b], policy=QUICK)
    assert log == ["A", "B"] * (2 + 3)
    assert [r.name for r in results] == ["A", "B"]
    assert [r.rounds for r in results] == [3, 3] and results[0].warmup_rounds == 2


def test_three_targets_rotate_and_blocks_group_calls():
    log = []
    targets = [Target(n, Scripted(n, log)) for n in "ABC"]
    measure_interleaved(targets, policy=QUICK)
    assert log == list("ABC") * 5
    log.clear()
    measure_interleaved(targets[:2], policy=QUICK, block=2)
    assert log == ["A", "A", "B", "B"] * 5


class ColdFirst:
    """The first call of every turn is slow (a cold cache after a switch), the rest are not."""

    def __init__(self, name, log):
        self.name, self.log = name, log

    def sample(self, n):
        self.log.extend([self.name] * n)
        return [5_000_000] + [1_000_000] * (n - 1)


def test_settle_discards_the_first_call_of_each_turn():
    log = []
    a, b = Target("A", ColdFirst("A", log)), Target("B", ColdFirst("B", log))
    cold_a, cold_b = measure_interleaved([a, b], policy=QUICK)
    assert cold_a.median == cold_b.median == 5e-3  # strict ABAB: every call is the cold one

    log.clear()
    warm_a, warm_b = measure_interleaved([a, b], policy=QUICK, block=2, settle=1)
    assert warm_a.samples == warm_b.samples == [1e-3] * 6  # 3 rounds x 2 timed calls
    # 2 warm-up + 3 timed rounds; each turn is 1 settling call + 2 timed calls
    assert log == (["A"] * 3 + ["B"] * 3) * 5


def test_rounds_continue_until_min_time_and_min_rounds_for_every_target():
    log = []
    fast = Target("fast", Scripted("fast", log, ns=1_000_000))  # 1 ms
    slow = Target("slow", Scripted("slow", log, ns=5_000_000))  # 5 ms
    policy = TimingPolicy(warmup_rounds=0, warmup_time=0.0, min_rounds=5, min_time=0.05)
    fast_m, slow_m = measure_interleaved([fast, slow], policy=policy)
    # the fast target needs 50 rounds for 50 ms; the slow one would need 10; both get 50
    assert fast_m.rounds == slow_m.rounds == 50
    assert fast_m.median == 1e-3 and slow_m.median == 5e-3


def test_warmup_needs_both_its_count_and_its_time():
    log = []
    policy = TimingPolicy(warmup_rounds=2, warmup_time=0.01, min_rounds=1, min_time=0.0)
    m = measure_interleaved([Target("A", Scripted("A", log, ns=1_000_000))], policy=policy)[0]
    assert m.warmup_rounds == 10 and m.rounds == 1


def test_noisy_measurement_is_extended_up_to_the_cap_then_flagged_unstable():
    policy = TimingPolicy(warmup_rounds=0, warmup_time=0.0, min_rounds=20, min_time=0.0,
                          max_rel_ci_width=0.05)  # fmt: skip
    m = measure_interleaved([Target("noisy", Noisy(sigma=1.0))], policy=policy)[0]
    assert m.extended and m.unstable
    assert m.rounds == 80  # extend_up_to 4 x the first pass, a quarter at a time
    assert "above max_rel_ci_width 5.0% after extending (80 rounds)" in m.reason
    assert "measure longer" in m.reason
    assert m.stats.relative_ci_width > 0.05


def test_the_sample_size_follows_the_noise():
    """The same noise with a tighter or looser bound: rounds are added only until the
    median's interval fits (sigma 0.05: the minimum's interval is a few % wide)."""
    base = dict(warmup_rounds=0, warmup_time=0.0, min_rounds=20, min_time=0.0)
    loose = TimingPolicy(**base, max_rel_ci_width=0.10)
    tight = TimingPolicy(**base, max_rel_ci_width=0.03)
    a = measure_interleaved([Target("a", Noisy(sigma=0.05))], policy=loose)[0]
    b = measure_interleaved([Target("b", Noisy(sigma=0.05))], policy=tight)[0]
    assert a.rounds == 20 and not a.extended and not a.unstable
    assert 20 < b.rounds < 80 and b.extended and not b.unstable
    assert b.stats.relative_ci_width <= 0.03


def test_quiet_measurement_is_stable_and_not_extended():
    policy = TimingPolicy(warmup_rounds=0, warmup_time=0.0, min_rounds=20, min_time=0.0)
    m = measure_interleaved([Target("quiet", Noisy(sigma=0.001))], policy=policy)[0]
    assert not m.extended and not m.unstable and m.reason == ""
    assert m.rounds == 20


def test_one_noisy_target_extends_all_but_flags_only_itself():
    log = []
    policy = TimingPolicy(warmup_rounds=0, warmup_time=0.0, min_rounds=20, min_time=0.0)
    quiet, noisy = measure_interleaved(
        [Target("quiet", Scripted("q", log)), Target("noisy", Noisy(sigma=1.0))], policy=policy
    )
    assert quiet.rounds == noisy.rounds == 80  # still paired round by round
    assert quiet.extended and not quiet.unstable
    assert noisy.unstable


def test_extension_can_be_switched_off():
    policy = TimingPolicy(
        warmup_rounds=0, warmup_time=0.0, min_rounds=20, min_time=0.0, extend=False
    )
    m = measure_interleaved([Target("noisy", Noisy(sigma=1.0))], policy=policy)[0]
    assert not m.extended and m.unstable and m.rounds == 20
    assert "after extending" not in m.reason


def test_wall_clock_cap_stops_and_flags_a_short_measurement():
    log = []
    clock = Ticking(step=1_000_000_000)  # every check of the clock costs a "second"
    policy = TimingPolicy(warmup_rounds=0, warmup_time=0.0, min_rounds=10, min_time=0.0,
                          max_time=3.5)  # fmt: skip
    m = measure_interleaved([Target("A", Scripted("A", log))], policy=policy, clock=clock)[0]
    assert m.unstable and m.rounds < 10
    assert "stopped by max_time 3.5 s" in m.reason


def test_a_warm_up_that_eats_max_time_still_gives_one_round_flagged_short():
    """A machine so busy that the warm-up outlasts max_time: one timed round, flagged (a
    verdict of "not run here"), not an error for want of samples."""
    log = []
    clock = Ticking(step=1_000_000_000)
    policy = TimingPolicy(warmup_rounds=10, warmup_time=0.0, min_rounds=5, min_time=0.0,
                          max_time=3.5)  # fmt: skip
    m = measure_interleaved([Target("A", Scripted("A", log))], policy=policy, clock=clock)[0]
    assert m.warmup_rounds < 10 and m.rounds == 1
    assert m.unstable and "stopped by max_time 3.5 s after 1 round(s)" in m.reason


class Contended:
    """A sampler whose threads, together, waited `share` of its wall time for a CPU."""

    def __init__(self, share):
        self.share = share
        self.last_wait_ns, self.last_wall_ns = None, 0

    def sample(self, n):
        self.last_wall_ns = n * 1_000_000
        self.last_wait_ns = int(self.share * self.last_wall_ns)
        return [1_000_000] * n


def test_a_target_whose_cores_were_busy_is_flagged_with_its_contention():
    busy = Target("busy", Contended(0.4), cores=2)
    free = Target("free", Contended(0.02), cores=2)
    unknown = Target("unknown", Contended(0.9))  # cores not given: not judged
    b, f, u = measure_interleaved([busy, free, unknown], policy=QUICK)
    assert b.contention == 0.4 and b.unstable
    assert (
        "waited for a CPU for 40.0% of its wall time on 2 core(s), above max_contention 5.0%"
        in b.reason
    )
    assert f.contention == 0.02 and not f.unstable
    assert u.contention is None and not u.unstable
    assert b.as_dict()["contention"] == 0.4


def test_call_sampler_reports_run_queue_wait_from_its_wait_clock():
    waits = iter([100, 350])
    sampler = CallSampler(lambda: None, clock=Ticking(10), wait_clock=lambda: next(waits))
    sampler.sample(2)
    assert sampler.last_wait_ns == 250 and sampler.last_wall_ns > 0
    unknown = CallSampler(lambda: None, wait_clock=lambda: None)
    unknown.sample(1)
    assert unknown.last_wait_ns is None


def test_run_queue_wait_is_read_from_the_kernel_where_it_can_be():
    wait = run_queue_wait_ns()
    assert wait is None or wait >= 0


def test_results_record_config_environment_throughput_and_policy():
    log = []
    config = RunnerConfig("fqa", "onnxruntime", batch_size=4, threads=2)
    target = Target("fqa-b4-2c", Scripted("x", log, ns=2_000_000), batch_size=4, config=config,
                    extra={"cores": 2})  # fmt: skip
    env = {"device": "test-box", "cores": 2}
    m = measure_interleaved([target], policy=QUICK, environment=env)[0]
    assert isinstance(m, Measurement)
    assert m.latency == m.median == 2e-3
    assert m.throughput == pytest.approx(4 / 2e-3)
    assert m.environment == env and m.environment is not env
    assert m.config_dict() == config.as_dict()
    d = m.as_dict()
    json.dumps(d)
    assert d["config"]["threads"] == 2 and d["extra"]["cores"] == 2
    assert len(d["extra"]["load_average"]) == 2  # before and after, where the OS has one
    assert d["samples"] == [2e-3] * 3 and d["policy"]["min_rounds"] == 3
    assert "samples" not in m.as_dict(include_samples=False)


def test_measure_times_a_plain_callable_with_an_injected_clock():
    clock = Ticking(step=250)
    calls = []
    m = measure(lambda: calls.append(1), name="noop", policy=QUICK, clock=clock)
    assert m.name == "noop" and m.rounds == 3
    assert m.samples == [250e-9] * 3  # one tick between the two reads around each call
    assert len(calls) == 2 + 3


def test_speedup_is_a_paired_ratio_of_medians():
    log = []
    one = Target("1c", Scripted("1", log, ns=2_000_000), batch_size=4)
    two = Target("2c", Scripted("2", log, ns=1_250_000), batch_size=4)
    m1, m2 = measure_interleaved([one, two], policy=QUICK)
    s = speedup(m1, m2)
    assert s.value == pytest.approx(1.6) and s.method == "paired"
    assert s.contains(1.6)


def test_speedup_per_item_across_batch_sizes():
    log = []
    b1 = Target("b1", Scripted("1", log, ns=1_000_000), batch_size=1)
    b4 = Target("b4", Scripted("4", log, ns=2_000_000), batch_size=4)
    m1, m4 = measure_interleaved([b1, b4], policy=QUICK)
    assert speedup(m1, m4, per_item=True).value == pytest.approx(2.0)  # 1 ms vs 0.5 ms/item


def test_bad_arguments_are_refused():
    log = []
    with pytest.raises(TimingError, match="at least one target"):
        measure_interleaved([])
    with pytest.raises(TimingError, match="unique"):
        measure_interleaved([Target("A", Scripted("A", log)), Target("A", Scripted("A", log))])
    with pytest.raises(TimingError, match="max_rounds"):
        TimingPolicy(min_rounds=10, max_rounds=5)
    with pytest.raises(TimingError, match="min_time"):
        TimingPolicy(min_time=-1.0)

    class Broken:
        def sample(self, n):
            return []

    with pytest.raises(TimingError, match="returned 0 durations for 1 calls"):
        measure_interleaved([Target("broken", Broken())], policy=QUICK)


def test_on_round_reports_progress():
    log, seen = [], []
    measure_interleaved([Target("A", Scripted("A", log))], policy=QUICK, on_round=seen.append)
    assert seen == [1, 2, 3]


def test_harness_overhead_is_measured_as_an_empty_call():
    clock = Ticking(step=40)
    s = harness_overhead(rounds=100, clock=clock)
    assert s.n == 100 and s.median == 40e-9
    assert harness_overhead(rounds=200).median > 0  # the real clock: positive, no bound


def test_a_sequential_rule_adds_rounds_until_it_is_decided():
    log = []
    seen = []

    def until(seconds):
        seen.append(len(seconds[0]))
        assert len(seconds) == 2 and len(seconds[0]) == len(seconds[1])
        return len(seconds[0]) >= 10

    a, b = measure_interleaved(
        [Target("A", Scripted("A", log)), Target("B", Scripted("B", log, ns=2_000_000))],
        policy=QUICK,
        until=until,
    )
    assert seen == [3, 4, 5, 6, 7, 8, 10]  # checked after the minimum, then +25 % (at least 1)
    assert a.rounds == b.rounds == 10 and a.extended
    assert a.extra["sequential"] == {"rounds": 10, "decided": True}
    assert not a.unstable


def test_a_sequential_rule_stops_at_the_time_budget_undecided():
    clock = Ticking(step=100_000_000)  # every clock read costs 0.1 s
    policy = TimingPolicy(warmup_rounds=1, warmup_time=0.0, min_rounds=3, min_time=0.0,
                          max_time=5.0)  # fmt: skip
    (m,) = measure_interleaved(
        [Target("A", Scripted("A", []))], policy=policy, clock=clock, until=lambda s: False
    )
    assert m.extra["sequential"]["decided"] is False
    assert 3 < m.rounds < 50  # more than the minimum, cut by the budget
    assert not m.unstable  # the minimum was met: what stays open is the caller's verdict

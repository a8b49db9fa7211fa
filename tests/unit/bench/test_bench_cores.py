"""Core control: refusing cores that are not there, and workers that really are pinned.

The worker tests start real processes (spawn) and ask them about themselves; they assert on
affinity and thread counts, never on speed.
"""

from __future__ import annotations

import os

import pytest

import edgecheck.bench.affinity as affinity
import edgecheck.bench.cores as cores
from edgecheck.bench.cores import (
    BusyWorkload,
    CoresUnavailable,
    CoreWorker,
    DataParallel,
    MatmulWorkload,
    RunnerSpec,
    WorkerError,
    WorkerGroup,
    choose_cores,
    cores_unavailable_reason,
    parallel_ceiling,
    usable_cores,
)
from edgecheck.bench.timing import TimingPolicy, measure_interleaved
from edgecheck.testing import Slowdown

USABLE = len(usable_cores())
QUICK = TimingPolicy(warmup_rounds=1, warmup_time=0.0, min_rounds=3, min_time=0.0)


def test_more_cores_than_usable_is_refused_with_the_exact_reason():
    with pytest.raises(CoresUnavailable) as info:
        choose_cores(USABLE + 2)
    assert str(info.value) == f"needs {USABLE + 2} cores, this machine has {USABLE}"
    assert (info.value.needed, info.value.available) == (USABLE + 2, USABLE)
    assert (
        cores_unavailable_reason(USABLE + 2)
        == f"needs {USABLE + 2} cores, this machine has {USABLE}"
    )
    assert cores_unavailable_reason(1) is None


def test_the_paper_s_four_cores_on_a_two_core_list():
    with pytest.raises(CoresUnavailable, match="^needs 4 cores, this machine has 2$"):
        choose_cores(4, usable=[0, 1])


def test_worker_and_group_refuse_before_starting_any_process():
    with pytest.raises(CoresUnavailable):
        CoreWorker(BusyWorkload(), USABLE + 1)
    with pytest.raises(CoresUnavailable):
        WorkerGroup([(BusyWorkload(), 1), (BusyWorkload(), USABLE + 1)])


def test_distinct_physical_cores_come_before_smt_siblings(monkeypatch):
    # CPUs 0 and 1 are two threads of physical core 0; CPUs 2 and 3 of core 1.
    monkeypatch.setattr(affinity, "physical_core", lambda cpu: (0, cpu // 2))
    assert choose_cores(2, usable=[0, 1, 2, 3]) == (0, 2)
    assert choose_cores(3, usable=[0, 1, 2, 3]) == (0, 1, 2)
    monkeypatch.setattr(affinity, "physical_core", lambda cpu: None)  # topology unknown
    assert choose_cores(2, usable=[5, 7, 9]) == (5, 7)


def test_one_core_worker_is_pinned_to_one_cpu_and_times_on_request():
    with CoreWorker(BusyWorkload(200_000), 1, name="busy-1c") as worker:
        info = worker.info()
        assert info["pid"] != os.getpid()
        assert len(info["affinity"]) == 1 and info["affinity"] == list(worker.cpu_ids)
        assert info["thread_affinity"] == info["affinity"]  # every thread, not just the main one
        assert info["threads"] == 1 and info["pinned"] is True
        durations = worker.sample(3)
        assert len(durations) == 3 and all(d >= 200_000 for d in durations)  # a lower bound


@pytest.mark.skipif(USABLE < 2, reason="needs 2 cores, this machine has 1")
def test_runner_workers_get_their_cores_and_threads_and_interleave():
    specs = [(RunnerSpec("fqa", batch_size=2), 1), (RunnerSpec("fqa", batch_size=2), 2)]
    with WorkerGroup(specs) as (one, two):
        assert len(one.info()["thread_affinity"]) == 1
        info = two.info()
        assert len(info["thread_affinity"]) == 2 and info["threads"] == 2
        # one compute thread per core: the worker's own thread and onnxruntime's pool thread
        first, second = two.cpu_ids
        assert info["affinity"] == [first]
        assert [second] in info["per_thread_affinity"]
        a, b = measure_interleaved([one.target(), two.target()], policy=QUICK)
    assert (a.name, b.name) == ("fqa-onnxruntime-fp32-b2-1c", "fqa-onnxruntime-fp32-b2-2c")
    assert a.rounds == b.rounds and 3 <= a.rounds <= 12  # > 3: extended, too noisy at 3
    assert a.batch_size == 2
    assert a.config.describe() == "fqa on onnxruntime fp32, batch 2, 1 thread"
    assert b.extra["cores"] == 2 and len(b.extra["worker"]["thread_affinity"]) == 2


class FakeWorker:
    """Stands in for a started `CoreWorker`: fixed durations, wait and wall per request."""

    def __init__(self, ns, wait=0, cores=1, cpu=0):
        self.ns, self.wait, self.cores, self.cpu_ids = ns, wait, cores, (cpu,)
        self.name, self.workload, self.log = f"fake{cpu}", RunnerSpec("fqa", batch_size=4), []
        self.last_wait_ns, self.last_wall_ns = None, 0

    def start_sample(self, n):
        self.log.append(("start", n))
        self.n = n

    def finish_sample(self):
        self.log.append(("finish", self.n))
        self.last_wait_ns, self.last_wall_ns = self.wait, self.ns * self.n
        return [self.ns] * self.n


def test_data_parallel_starts_every_worker_before_collecting_and_sums_throughput():
    a, b = FakeWorker(1_000_000, wait=10, cpu=0), FakeWorker(3_000_000, wait=5, cpu=1)
    dp = DataParallel([a, b])
    order = []
    a.log, b.log = order, order
    durations = dp.sample(2)
    assert order == [("start", 2), ("start", 2), ("finish", 2), ("finish", 2)]  # concurrent
    # aggregate throughput 1/1 ms + 1/3 ms per call: 0.75 ms per batch
    assert durations == [750_000, 750_000]
    assert (dp.last_wait_ns, dp.last_wall_ns) == (15, 6_000_000)
    target = dp.target("fqa-b4-dp2x1c")
    assert (target.cores, target.batch_size) == (2, 4)
    assert target.extra["cpu_ids"] == [0, 1]
    b.wait = None
    dp.sample(1)
    assert dp.last_wait_ns is None  # one worker cannot tell: the group cannot either


@pytest.mark.skipif(USABLE < 2, reason="needs 2 cores, this machine has 1")
def test_group_items_may_name_their_cpus_and_run_data_parallel():
    cpus = choose_cores(2)
    items = [(BusyWorkload(100_000), 1, (cpus[0],)), (BusyWorkload(100_000), 1, (cpus[1],))]
    with WorkerGroup(items) as (first, second):
        assert first.info()["affinity"] == [cpus[0]]
        assert second.info()["affinity"] == [cpus[1]]
        durations = DataParallel([first, second]).sample(3)
    assert len(durations) == 3 and all(d > 0 for d in durations)


def test_a_configuration_that_cannot_build_fails_at_start_with_its_reason():
    with pytest.raises(WorkerError, match="unknown model 'no-such-model'"):
        CoreWorker(RunnerSpec("no-such-model"), 1).start()


def test_runner_spec_sessions_stop_spinning_between_runs():
    # Interleaved workers share cores: a pool spinning after its turn steals the next one's.
    runner = RunnerSpec("fqa").build(1)
    try:
        options = runner.session.get_session_options()
        assert options.get_session_config_entry("session.force_spinning_stop") == "1"
    finally:
        runner.deactivate()
    keep = RunnerSpec("fqa", backend_options={"spin_between_runs": True}).build(1)
    try:
        options = keep.session.get_session_options()
        assert options.get_session_config_entry("session.force_spinning_stop") == "0"
    finally:
        keep.deactivate()


def test_runner_spec_builds_in_process_and_labels_itself():
    spec = RunnerSpec("fqa", batch_size=1, wrap=Slowdown(1.3))
    assert spec.label(2) == "fqa-onnxruntime-fp32-b1-2c-slowed-x1.3"
    assert spec.config(2).threads == 2
    call = spec(1)  # what the worker does after pinning
    out = call()
    assert getattr(out, "shape", None) == (1, 1)


def test_worker_requests_need_a_started_worker():
    worker = CoreWorker(BusyWorkload(), 1)
    with pytest.raises(WorkerError, match="not running"):
        worker.sample(1)


@pytest.mark.parametrize("library", ["numpy", "torch", "onnxruntime"])
def test_matmul_reference_workload_counts_its_flops(library):
    work = MatmulWorkload(64, library)
    assert work.flops == 2 * 64**3
    call = work(1)
    call()
    with pytest.raises(ValueError, match="'numpy', 'torch' or 'onnxruntime'"):
        MatmulWorkload(8, "jax")(1)


def test_parallel_ceiling_refuses_missing_cores_and_measures_a_ratio():
    with pytest.raises(CoresUnavailable):
        parallel_ceiling(USABLE + 1)
    quick = TimingPolicy(warmup_rounds=1, warmup_time=0.0, min_rounds=5, min_time=0.0)
    ceiling = parallel_ceiling(USABLE, policy=quick, n=128)
    assert ceiling.value > 0 and ceiling.low <= ceiling.value <= ceiling.high  # no speed bound


def test_workers_are_named_by_their_workload():
    assert CoreWorker(BusyWorkload(200_000), 1).name == "busy200us-1c"
    assert MatmulWorkload(64, "torch").label(2) == "matmul64-torch-2c"
    group = WorkerGroup([(MatmulWorkload(64), 1), (MatmulWorkload(64), 1)])
    assert cores.unique_names(group.items) == ["matmul64-numpy-1c", "matmul64-numpy-1c#2"]


def test_one_definition_of_usable_cores_caps_by_the_cpu_quota(tmp_path, monkeypatch):
    """Device detection and `choose_cores` agree: a quota of one core makes 2 cores
    unavailable to both, though the affinity mask holds more (a `--cpus=1` container)."""
    import edgecheck.device.cpuinfo as device_module
    from edgecheck.bench.cores import CoresUnavailable, choose_cores
    from edgecheck.device import usable_core_count

    (tmp_path / "sys/fs/cgroup").mkdir(parents=True)
    (tmp_path / "sys/fs/cgroup/cpu.max").write_text("100000 100000\n")
    monkeypatch.setattr(device_module, "usable_cores", lambda: [0, 1, 2, 3])
    monkeypatch.setattr(affinity, "usable_cores", lambda: [0, 1, 2, 3])
    assert usable_core_count(tmp_path) == 1
    monkeypatch.setattr(affinity, "usable_core_count", lambda: usable_core_count(tmp_path))
    with pytest.raises(CoresUnavailable, match="needs 2 cores, this machine has 1"):
        choose_cores(2)
    assert choose_cores(1) == (0,)
    (tmp_path / "sys/fs/cgroup/cpu.max").write_text("max 100000\n")
    assert usable_core_count(tmp_path) == 4

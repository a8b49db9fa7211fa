"""Measurement: the timing harness, robust statistics, core control, benchmark JSON.

* `edgecheck.bench.stats`: pure statistics of samples (median, IQR, MAD, percentiles,
  bootstrap intervals, ratio of medians).
* `edgecheck.bench.timing`: warm-up, repeats, interleaved A/B timing, unstable flags; what it
  is asked and gives (`TimingPolicy`, `Target`, `Measurement`, `speedup`) in
  `edgecheck.bench.measurement`, the samplers that time one call in
  `edgecheck.bench.samplers` (all importable from `timing` too).
* `edgecheck.bench.cores`: run configurations on exactly N cores, each in a worker process
  (`affinity`: choosing and pinning cores; `workloads`: what a worker runs; `worker`: the
  process and its pipe protocol).
* `edgecheck.bench.benchmark_json`: results as pytest-benchmark-compatible JSON.
* `edgecheck.bench.calibration`: one-core sgemm GFLOP/s and memory read GB/s, the yardstick
  that tells whether a stored timing was measured on a machine of this speed.

The names below load on first use (PEP 562): worker processes import this package before
they pin themselves to their cores, and numpy's thread pools must not start before that.
"""

from __future__ import annotations

from edgecheck._lazy import lazy_exports

_EXPORTS = {
    "SampleStats": "stats",
    "Estimate": "stats",
    "StatsError": "stats",
    "bootstrap": "stats",
    "ratio_of_medians": "stats",
    "CallSampler": "timing",
    "Measurement": "timing",
    "Sampler": "timing",
    "Target": "timing",
    "TimingError": "timing",
    "TimingPolicy": "timing",
    "harness_overhead": "timing",
    "measure": "timing",
    "measure_interleaved": "timing",
    "speedup": "timing",
    "BusyWorkload": "workloads",
    "CoreWorker": "worker",
    "MatmulWorkload": "workloads",
    "CoresUnavailable": "affinity",
    "RunnerSpec": "workloads",
    "RunnerWrapper": "workloads",
    "WorkerError": "worker",
    "WorkerGroup": "cores",
    "choose_cores": "affinity",
    "parallel_ceiling": "cores",
    "cores_unavailable_reason": "affinity",
    "usable_cores": "affinity",
    "on_one_core": "affinity",
    # Not "benchmark_json" itself: once the submodule of that name is imported, Python binds
    # the package attribute to the module, so the name would mean a function only at first.
    "pytest_benchmark_document": "benchmark_json",
    "write_benchmark_json": "benchmark_json",
    "Calibration": "calibration",
    "calibrate_once": "calibration",
}

__all__ = sorted(_EXPORTS)


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

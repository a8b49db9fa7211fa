"""pytest-benchmark-compatible JSON: same stats as pytest-benchmark, readable by its CLI."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from edgecheck.backends import RunnerConfig
from edgecheck.bench.benchmark_json import (
    benchmark_json,
    commit_info,
    machine_id,
    machine_info,
    next_storage_path,
    pytest_benchmark_stats,
    write_benchmark_json,
)
from edgecheck.bench.timing import Target, TimingPolicy, measure_interleaved

pb_stats = pytest.importorskip("pytest_benchmark.stats")

QUICK = TimingPolicy(warmup_rounds=0, warmup_time=0.0, min_rounds=12, min_time=0.0)


class Jitter:
    def __init__(self, ns, seed):
        self.ns, self.rng = ns, random.Random(seed)

    def sample(self, n):
        return [int(self.ns * (1 + 0.02 * self.rng.random())) for _ in range(n)]


def _measurements():
    one = RunnerConfig("fqa", "onnxruntime", batch_size=4, threads=1)
    two = RunnerConfig("fqa", "onnxruntime", batch_size=4, threads=2)
    return measure_interleaved(
        [
            Target("fqa-b4-1c", Jitter(1_300_000, 1), 4, one),
            Target("fqa-b4-2c", Jitter(700_000, 2), 4, two),
        ],
        policy=QUICK,
        environment={"device": "unit-test", "usable_cores": 2},
    )


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7, 8, 9, 13, 50])
def test_stats_match_pytest_benchmark_definitions(n):
    rng = random.Random(n)
    data = [rng.uniform(1e-3, 2e-3) for _ in range(n)] + ([5e-3] if n > 4 else [])
    theirs = pb_stats.Stats()
    for x in data:
        theirs.update(x)
    ours = pytest_benchmark_stats(data)
    for field in pb_stats.Stats.fields:
        assert ours[field] == pytest.approx(getattr(theirs, field)), field
    assert ours["data"] == data and ours["iterations"] == 1


def test_document_has_the_saved_run_layout():
    doc = benchmark_json(_measurements(), group="parallel.fqa", commit={"id": "abc"})
    assert set(doc) == {"machine_info", "commit_info", "benchmarks", "datetime", "version"}
    assert doc["machine_info"]["edgecheck"] == {"device": "unit-test", "usable_cores": 2}
    for key in ("node", "machine", "python_implementation", "python_version", "system", "cpu"):
        assert key in doc["machine_info"]
    entry = doc["benchmarks"][0]
    assert set(entry) >= {"group", "name", "fullname", "params", "stats", "options", "extra_info"}
    assert entry["group"] == "parallel.fqa" and entry["name"] == "fqa-b4-1c"
    assert entry["fullname"] == "edgecheck::parallel.fqa::fqa-b4-1c"
    assert entry["params"]["threads"] == 1 and entry["stats"]["rounds"] == 12
    extra = entry["extra_info"]
    assert extra["unstable"] is False and extra["batch_size"] == 4
    assert extra["median_ci_low"] <= entry["stats"]["median"] <= extra["median_ci_high"]
    assert {"p90", "p99", "mad", "throughput", "environment"} <= set(extra)
    json.dumps(doc)


def test_pytest_benchmark_compare_reads_the_file(tmp_path):
    path = write_benchmark_json(tmp_path / "0001_edgecheck.json", _measurements(), group="g")
    assert json.loads(path.read_text())["benchmarks"][1]["name"] == "fqa-b4-2c"
    cli = Path(sys.executable).with_name("pytest-benchmark")
    if not cli.exists():
        pytest.skip(f"pytest-benchmark's CLI is not installed next to {sys.executable}")
    done = subprocess.run(
        [str(cli), "compare", str(path)], capture_output=True, text=True, cwd=tmp_path, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "fqa-b4-1c" in done.stdout and "fqa-b4-2c" in done.stdout
    assert "Failed to load" not in done.stdout + done.stderr


def test_storage_paths_follow_pytest_benchmark_numbering(tmp_path):
    first = next_storage_path(tmp_path, "parallel")
    assert first == tmp_path / machine_id() / "0001_parallel.json"
    first.parent.mkdir(parents=True)
    first.write_text("{}")
    assert next_storage_path(tmp_path, "parallel").name == "0002_parallel.json"


def test_commit_and_machine_info_degrade_gracefully(tmp_path):
    outside = commit_info(tmp_path, project="p")
    assert outside["id"] == "unknown" and outside["project"] == "p"
    here = commit_info(Path(__file__).parent)
    assert len(here["id"]) == 40 or here["id"] == "unknown"
    assert machine_info()["cpu"]["count"] >= 1


def test_the_package_name_of_the_document_function_does_not_change_meaning():
    """`edgecheck.bench.benchmark_json` is the module, before and after it is imported; the
    function is `pytest_benchmark_document` (an export named like its module would be
    replaced by the module the moment the module is imported)."""
    import edgecheck.bench
    import edgecheck.bench.benchmark_json as module

    assert edgecheck.bench.benchmark_json is module
    assert edgecheck.bench.pytest_benchmark_document is module.benchmark_json

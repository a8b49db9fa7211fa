"""``--benchmark-save`` / ``--benchmark-autosave``: the timings tests hand to the plugin's
``edgecheck_benchmark_json`` fixture become one pytest-benchmark run, which pytest-benchmark's
own loader and ``pytest-benchmark compare`` read; without those options (or without
pytest-benchmark) nothing is written. Serial runs in this process (``run_pytest``); the xdist
run in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("pytest_benchmark")

from edgecheck.bench.benchmark_json import machine_id

# A tiny edgecheck test: two timings of a made-up sampler (no model, no worker process),
# handed to the fixture by a module fixture, as tests/perf/test_parallel.py does.
TESTS = """
import random

import pytest

from edgecheck.bench.timing import Target, TimingPolicy, measure_interleaved

QUICK = TimingPolicy(warmup_rounds=0, warmup_time=0.0, min_rounds=8, min_time=0.0)


class Made:
    def __init__(self, ns, seed):
        self.ns, self.rng = ns, random.Random(seed)

    def sample(self, n):
        return [int(self.ns * (1 + 0.02 * self.rng.random())) for _ in range(n)]


@pytest.fixture(scope="module")
def timings(edgecheck_benchmark_json):
    measured = measure_interleaved(
        [Target("{prefix}fast", Made(1_000_000, 1), 4, {"threads": 2}),
         Target("{prefix}slow", Made(2_000_000, 2), 4, {"threads": 1})],
        policy=QUICK, environment={"device": "unit-test"},
    )
    edgecheck_benchmark_json.save([*measured, measured[0]], group="{group}")  # one twice
    return measured


def test_fast_is_faster(timings, edgecheck_benchmark_json):
    assert edgecheck_benchmark_json.enabled == {enabled}
    assert timings[0].median < timings[1].median
"""


def _tests(prefix: str = "", group: str = "demo", enabled: bool = True) -> str:
    return (
        TESTS.replace("{prefix}", prefix)
        .replace("{group}", group)
        .replace("{enabled}", str(enabled))
    )


def _saved(storage: Path) -> list[Path]:
    return sorted((storage / machine_id()).glob("*.json")) if storage.exists() else []


class _Quiet:
    def info(self, *args, **kwargs):
        pass

    warning = error = debug = info


def _load_with_pytest_benchmark(storage: Path) -> list[dict]:
    """pytest-benchmark's own loader, as ``--benchmark-compare`` and ``compare`` use it."""
    from pytest_benchmark.storage.file import FileStorage

    files = FileStorage(storage, logger=_Quiet(), default_machine_id=machine_id())
    return list(files.load_benchmarks())


def test_benchmark_save_writes_one_run_that_pytest_benchmark_reads(pytester, run_pytest, tmp_path):
    pytester.makepyfile(test_timed=_tests())
    storage = tmp_path / "storage"
    result = run_pytest("-p", "no:cacheprovider", "--benchmark-save=demo",
                        f"--benchmark-storage={storage}")  # fmt: skip
    result.assert_outcomes(passed=1)
    [path] = _saved(storage)
    assert path.name == "0001_demo.json"
    doc = json.loads(path.read_text())
    assert [b["name"] for b in doc["benchmarks"]] == ["fast", "slow"]  # the twin once
    assert {b["group"] for b in doc["benchmarks"]} == {"demo"}
    assert doc["machine_info"]["edgecheck"] == {"device": "unit-test"}
    assert len(doc["benchmarks"][0]["stats"]["data"]) == 8
    assert f"edgecheck timings saved for pytest-benchmark in {path}" in result.stdout.str()
    assert "Not saving anything" not in result.stdout.str()  # pytest-benchmark's own warning
    loaded = _load_with_pytest_benchmark(storage)
    assert [b["name"] for b in loaded] == ["fast", "slow"]
    assert loaded[0]["median"] < loaded[1]["median"]
    # the next run is the next number, as pytest-benchmark counts its runs
    run_pytest("-p", "no:cacheprovider", "--benchmark-save=demo", f"--benchmark-storage={storage}")
    assert [p.name for p in _saved(storage)] == ["0001_demo.json", "0002_demo.json"]


def test_pytest_benchmark_compare_lists_the_run(pytester, run_pytest, tmp_path):
    cli = Path(sys.executable).with_name("pytest-benchmark")
    if not cli.exists():
        pytest.skip(f"pytest-benchmark's CLI is not installed next to {sys.executable}")
    pytester.makepyfile(test_timed=_tests())
    storage = tmp_path / "storage"
    for _ in range(2):
        run_pytest("-p", "no:cacheprovider", "--benchmark-save=cmp",
                   f"--benchmark-storage=file://{storage}")  # fmt: skip
    for command in (["list"], ["compare"], ["compare", "0001", "0002"]):
        done = subprocess.run(
            [str(cli), "--storage", f"file://{storage}", *command],
            capture_output=True, text=True, cwd=tmp_path, timeout=120,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "Failed to load" not in done.stdout + done.stderr
        if command == ["list"]:
            assert "0001_cmp.json" in done.stdout and "0002_cmp.json" in done.stdout
        else:
            assert "fast" in done.stdout and "slow" in done.stdout, done.stdout


def test_autosave_names_the_run_as_pytest_benchmark_does(pytester, run_pytest, tmp_path):
    from pytest_benchmark.utils import get_tag

    pytester.makepyfile(test_timed=_tests())
    storage = tmp_path / "storage"
    run_pytest("-p", "no:cacheprovider", "--benchmark-autosave", f"--benchmark-storage={storage}")
    [path] = _saved(storage)
    tag = get_tag()  # the commit id (or "unknown") and the time: only the commit is compared
    assert path.name.startswith("0001_" + tag.split("_")[0] + "_"), (path.name, tag)


def test_without_the_options_nothing_is_written(pytester, run_pytest, monkeypatch):
    pytester.makepyfile(test_timed=_tests(enabled=False))
    monkeypatch.chdir(pytester.path)
    run_pytest("-p", "no:cacheprovider").assert_outcomes(passed=1)
    # pytest-benchmark not loaded: its options are absent, which is no error either
    result = run_pytest("-p", "no:cacheprovider", "-p", "no:benchmark")
    result.assert_outcomes(passed=1)
    assert not list(pytester.path.rglob("*.json"))  # (pytest-benchmark makes .benchmarks/)
    assert "pytest-benchmark" not in result.stdout.str()


def test_a_storage_that_is_not_a_folder_is_reported_not_written(tmp_path):
    # pytest-benchmark itself needs the elasticsearch package for such a storage; the plugin
    # writes folders only and says so.
    from edgecheck.plugin.benchmark_save import BenchmarkSaver

    saver = BenchmarkSaver("x", "elasticsearch+http://localhost:9/bench")
    saver.receive([{"name": "a"}, {"name": "b"}], None)
    saver.write(tmp_path)
    assert saver.outcome == (
        "2 edgecheck timings NOT saved: --benchmark-storage "
        "elasticsearch+http://localhost:9/bench is not a folder (edgecheck writes file:// "
        "storage only)"
    )
    assert not list(tmp_path.iterdir())
    assert BenchmarkSaver("x", "plain/folder").folder() == Path("plain/folder")
    assert BenchmarkSaver("x", "file:///abs/folder").folder() == Path("/abs/folder")


BENCHMARK_FIXTURE_TEST = """
def test_with_pytest_benchmark(benchmark):
    benchmark(sum, range(100))
"""


def test_a_run_pytest_benchmark_saves_itself_holds_the_edgecheck_timings(
    pytester, run_pytest, tmp_path
):
    pytester.makepyfile(test_timed=_tests(), test_theirs=BENCHMARK_FIXTURE_TEST)
    storage = tmp_path / "storage"
    result = run_pytest("-p", "no:cacheprovider", "--benchmark-save=both",
                        f"--benchmark-storage={storage}")  # fmt: skip
    result.assert_outcomes(passed=2)
    [path] = _saved(storage)  # one run, one file
    names = [b["name"] for b in json.loads(path.read_text())["benchmarks"]]
    assert names == ["test_with_pytest_benchmark", "fast", "slow"]
    assert "2 edgecheck timings saved in pytest-benchmark's run 'both'" in result.stdout.str()
    assert {b["name"] for b in _load_with_pytest_benchmark(storage)} == set(names)


def test_under_xdist_the_controller_writes_one_run_with_every_workers_timings(pytester, tmp_path):
    pytest.importorskip("xdist")
    pytester.makepyfile(
        test_one=_tests(prefix="one-", group="g1"), test_two=_tests(prefix="two-", group="g2")
    )
    storage = tmp_path / "storage"
    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "-n", "2", "--dist", "loadfile", "-v",
        "--benchmark-save=spread", f"--benchmark-storage={storage}",
    )  # fmt: skip
    result.assert_outcomes(passed=2)
    out = result.stdout.str()
    assert "[gw0]" in out and "[gw1]" in out  # one module on each worker
    [path] = _saved(storage)
    assert path.name == "0001_spread.json"
    entries = json.loads(path.read_text())["benchmarks"]
    assert sorted((b["group"], b["name"]) for b in entries) == [
        ("g1", "one-fast"), ("g1", "one-slow"), ("g2", "two-fast"), ("g2", "two-slow"),
    ]  # fmt: skip
    assert {b["name"] for b in _load_with_pytest_benchmark(storage)} == {
        "one-fast", "one-slow", "two-fast", "two-slow"
    }  # fmt: skip

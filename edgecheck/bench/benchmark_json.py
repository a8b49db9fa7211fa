"""Write edgecheck measurements as pytest-benchmark JSON.

The layout is pytest-benchmark 5.x's saved-run format (``machine_info``, ``commit_info``,
``benchmarks[...]``, ``datetime``, ``version``), with each benchmark's ``stats`` computed by
pytest-benchmark's own definitions (its quartile method, Tukey fences, ``ops = rounds /
total``), so ``pytest-benchmark compare`` and ``--benchmark-compare`` read edgecheck's files
like their own. What pytest-benchmark has no field for (percentiles, MAD, the median's
bootstrap interval, the unstable flag, throughput, the environment) goes into
``extra_info``, which it stores and shows but never compares.

`next_storage_path` follows pytest-benchmark's storage layout
(``.benchmarks/<machine id>/NNNN_<name>.json``), so ``pytest-benchmark compare 0001``
finds the file. `saved_run` builds a file from entries made earlier (`benchmark_entry`, made
plain by `plain_json`): the pytest plugin's ``--benchmark-save`` collects them that way, from
every test and every xdist worker of the session (`edgecheck.plugin.benchmark_save`).
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from edgecheck._atomic import write_atomic
from edgecheck.bench.timing import Measurement

# The saved-run format edgecheck writes; pytest-benchmark 4.x and 5.x read it.
FORMAT_VERSION = "5.1.0"


def _quartiles(data: Sequence[float]) -> tuple[float, float]:
    """pytest-benchmark's q1 and q3 (Wikipedia's methods 3 (odd n) and 2 (even n))."""
    n = len(data)
    if n == 1:
        return data[0], data[0]
    if n % 2:
        k, r = n // 4, n % 4
        if r == 1:
            q1 = 0.25 * data[k - 1] + 0.75 * data[k]
            q3 = 0.75 * data[3 * k] + 0.25 * data[3 * k + 1]
        else:
            q1 = 0.75 * data[k] + 0.25 * data[k + 1]
            q3 = 0.25 * data[3 * k + 1] + 0.75 * data[3 * k + 2]
        return q1, q3
    return statistics.median(data[: n // 2]), statistics.median(data[n // 2 :])


def pytest_benchmark_stats(
    samples: Sequence[float], *, include_data: bool = True
) -> dict[str, Any]:
    """The ``stats`` block of one pytest-benchmark entry, by pytest-benchmark's definitions.

    Pure. Args: `samples`: seconds per call (one call per round, ``iterations`` = 1);
    `include_data`: add the samples as ``data``. Returns a dict with min, max, mean, stddev,
    rounds, median, iqr, q1, q3, iqr_outliers, stddev_outliers, outliers, ld15iqr, hd15iqr,
    ops, total (and data), iterations.
    """
    if not samples:
        raise ValueError("pytest_benchmark_stats needs at least one sample.")
    data = [float(x) for x in samples]
    ordered = sorted(data)
    n = len(data)
    mean = statistics.mean(data)
    stddev = statistics.stdev(data) if n > 1 else 0.0
    q1, q3 = _quartiles(ordered)
    iqr = q3 - q1
    low_fence, high_fence = q1 - 1.5 * iqr, q3 + 1.5 * iqr
    iqr_outliers = sum(1 for x in data if x < low_fence or x > high_fence)
    stddev_outliers = sum(1 for x in data if x < mean - stddev or x > mean + stddev)
    if n == 1:
        ld15iqr = hd15iqr = data[0]
    else:
        ld15iqr = ordered[bisect_left(ordered, low_fence)]
        hd15iqr = ordered[bisect_right(ordered, high_fence) - 1]
    total = math.fsum(data)
    result: dict[str, Any] = {
        "min": ordered[0],
        "max": ordered[-1],
        "mean": mean,
        "stddev": stddev,
        "rounds": n,
        "median": statistics.median(data),
        "iqr": iqr,
        "q1": q1,
        "q3": q3,
        "iqr_outliers": iqr_outliers,
        "stddev_outliers": stddev_outliers,
        "outliers": f"{stddev_outliers};{iqr_outliers}",
        "ld15iqr": ld15iqr,
        "hd15iqr": hd15iqr,
        "ops": n / total if total else 0,
        "total": total,
    }
    if include_data:
        result["data"] = data
    result["iterations"] = 1
    return result


def machine_info(environment: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """pytest-benchmark's ``machine_info`` fields, plus edgecheck's environment if given.

    The ``cpu`` block is read from /proc/cpuinfo (py-cpuinfo, which pytest-benchmark uses,
    takes about a second); ``edgecheck`` holds `environment`.
    """
    info: dict[str, Any] = {
        "node": platform.node(),
        "processor": platform.processor(),
        "machine": platform.machine(),
        "python_compiler": platform.python_compiler(),
        "python_implementation": platform.python_implementation(),
        "python_implementation_version": platform.python_version(),
        "python_version": platform.python_version(),
        "python_build": list(platform.python_build()),
        "release": platform.release(),
        "system": platform.system(),
        "cpu": _cpu_info(),
    }
    if environment:
        info["edgecheck"] = dict(environment)
    return info


def _cpu_info() -> dict[str, Any]:
    brand = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                brand = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    return {
        "brand_raw": brand,
        "arch": platform.machine(),
        "count": os.cpu_count(),
        "usable": usable,
    }


def commit_info(path: str | os.PathLike[str] = ".", project: str | None = None) -> dict[str, Any]:
    """pytest-benchmark's ``commit_info`` for the git checkout at `path` ('unknown' outside one)."""

    def git(*args: str) -> str:
        out = subprocess.run(
            ["git", *args], cwd=path, capture_output=True, text=True, check=True, timeout=10
        )
        return out.stdout.strip()

    info: dict[str, Any] = {
        "id": "unknown",
        "time": None,
        "author_time": None,
        "dirty": False,
        "project": project or Path(path).resolve().name,
        "branch": "(unknown)",
    }
    try:
        info["id"] = git("rev-parse", "HEAD")
        info["time"] = git("show", "-s", "--pretty=format:%cI")
        info["author_time"] = git("show", "-s", "--pretty=format:%aI")
        info["dirty"] = bool(git("status", "--porcelain", "--untracked-files=no"))
        branch = git("rev-parse", "--abbrev-ref", "HEAD")
        info["branch"] = "(detached head)" if branch == "HEAD" else branch
        if project is None:
            info["project"] = Path(git("rev-parse", "--show-toplevel")).name
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def _extra_info(m: Measurement) -> dict[str, Any]:
    st = m.stats
    extra: dict[str, Any] = {
        "unit": "s",
        "batch_size": m.batch_size,
        "throughput": m.throughput,
        "throughput_unit": "items/s",
        "mad": st.mad,
        "cov": st.cov,
        **{f"p{p}": v for p, v in st.percentiles.items()},
        "median_ci_low": st.ci.low,
        "median_ci_high": st.ci.high,
        "confidence": st.ci.confidence,
        "relative_ci_width": st.relative_ci_width,
        "warmup_rounds": m.warmup_rounds,
        "extended": m.extended,
        "unstable": m.unstable,
        "unstable_reason": m.reason,
        "contention": m.contention,
        "config": m.config_dict(),
        "environment": dict(m.environment),
    }
    if m.extra:
        extra["measured_on"] = dict(m.extra)
    return extra


def benchmark_entry(
    m: Measurement,
    *,
    group: str | None = None,
    fullname: str | None = None,
    include_data: bool = True,
    extra_info: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """One element of ``benchmarks``: pytest-benchmark's fields for measurement `m`.

    Args:
        m: the measurement.
        group: pytest-benchmark group (rows of one comparison table). Default ``None``.
        fullname: unique id, like a pytest node id. Default ``"edgecheck::<group>::<name>"``.
        include_data: store the samples. Default True.
        extra_info: more keys for ``extra_info`` (override edgecheck's).
    """
    params = m.config_dict()
    return {
        "group": group,
        "name": m.name,
        "fullname": fullname or f"edgecheck::{group or 'default'}::{m.name}",
        "params": params,
        "param": m.name if params else None,
        "extra_info": {**_extra_info(m), **dict(extra_info or {})},
        "options": {
            "disable_gc": False,
            "timer": "perf_counter_ns",
            "min_rounds": m.policy.min_rounds,
            "max_time": m.policy.max_time,
            "min_time": m.policy.min_time,
            "warmup": m.warmup_rounds > 0,
            "warmup_rounds": m.policy.warmup_rounds,
            "max_rel_ci_width": m.policy.max_rel_ci_width,
        },
        "stats": pytest_benchmark_stats(m.samples, include_data=include_data),
    }


def saved_run(
    entries: Iterable[Mapping[str, Any]],
    *,
    environment: Mapping[str, Any] | None = None,
    machine: Mapping[str, Any] | None = None,
    commit: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A pytest-benchmark saved run holding `entries` (each from `benchmark_entry`).

    Args:
        entries: the ``benchmarks`` elements, in order.
        environment: recorded in ``machine_info["edgecheck"]``.
        machine: ``machine_info`` to use. Default `machine_info(environment)`.
        commit: ``commit_info`` to use. Default `commit_info()` of the current directory.
    """
    return {
        "machine_info": dict(machine) if machine is not None else machine_info(environment),
        "commit_info": dict(commit) if commit is not None else commit_info(),
        "benchmarks": [dict(e) for e in entries],
        "datetime": datetime.now(timezone.utc).isoformat(),
        "version": FORMAT_VERSION,
    }


def benchmark_json(
    measurements: Iterable[Measurement],
    *,
    group: str | None = None,
    environment: Mapping[str, Any] | None = None,
    machine: Mapping[str, Any] | None = None,
    commit: Mapping[str, Any] | None = None,
    include_data: bool = True,
) -> dict[str, Any]:
    """A pytest-benchmark saved run holding `measurements`.

    Args:
        measurements: the results, e.g. from `measure_interleaved`.
        group: the group of every entry (one table in ``pytest-benchmark compare``).
        environment: recorded in ``machine_info["edgecheck"]``. Default: the first
            measurement's environment.
        machine: ``machine_info`` to use. Default `machine_info(environment)`.
        commit: ``commit_info`` to use. Default `commit_info()` of the current directory.
        include_data: store every sample. Default True.
    """
    items = list(measurements)
    if environment is None and items:
        environment = items[0].environment
    entries = [benchmark_entry(m, group=group, include_data=include_data) for m in items]
    return saved_run(entries, environment=environment, machine=machine, commit=commit)


pytest_benchmark_document = benchmark_json  # its name in `edgecheck.bench`


def write_benchmark_json(
    path: str | os.PathLike[str], measurements: Iterable[Measurement], **options: Any
) -> Path:
    """Write `benchmark_json(measurements, **options)` to `path` atomically; return the path."""
    return write_saved_run(path, benchmark_json(measurements, **options))


def write_saved_run(path: str | os.PathLike[str], document: Mapping[str, Any]) -> Path:
    """Write a saved run (`saved_run`, `benchmark_json`) to `path` atomically; return the path."""
    text = json.dumps(document, indent=4, sort_keys=False, default=_json_default)
    return write_atomic(path, text + "\n")


def plain_json(value: Any) -> Any:
    """`value` as the plain JSON values (dicts, lists, strings, numbers, None) that reading
    the file back gives: what `write_saved_run` writes for it (numpy scalars as numbers,
    paths as strings, objects with ``as_dict()`` as that)."""
    return json.loads(json.dumps(value, default=_json_default))


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "as_dict"):
        return obj.as_dict()
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item"):  # numpy scalars
        return obj.item()
    return repr(obj)


def machine_id() -> str:
    """pytest-benchmark's storage folder name, e.g. ``"Linux-CPython-3.11-64bit"``."""
    return "-".join(
        (
            platform.system(),
            platform.python_implementation(),
            ".".join(platform.python_version_tuple()[:2]),
            platform.architecture()[0],
        )
    )


def next_storage_path(
    storage: str | os.PathLike[str] = ".benchmarks", name: str = "edgecheck"
) -> Path:
    """The next free ``<storage>/<machine id>/NNNN_<name>.json``, as pytest-benchmark numbers runs."""
    folder = Path(storage) / machine_id()
    numbers = []
    if folder.is_dir():
        for file in folder.glob("[0-9][0-9][0-9][0-9]_*.json"):
            numbers.append(int(file.name[:4]))
    return folder / f"{max(numbers, default=0) + 1:04d}_{name}.json"

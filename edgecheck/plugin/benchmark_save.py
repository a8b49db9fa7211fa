"""``--benchmark-save NAME`` / ``--benchmark-autosave`` (pytest-benchmark's options): the
session's edgecheck timings saved as one pytest-benchmark run.

A test or fixture hands its `edgecheck.bench.Measurement`s to the ``edgecheck_benchmark_json``
fixture (session scope, so module fixtures can use it too)::

    edgecheck_benchmark_json.save(table7.measurements(), group="prune-speed-vgg16")

and at the end of the session the plugin writes them all in ONE file, as pytest-benchmark
saves a run: ``<--benchmark-storage>/<machine id>/NNNN_<NAME>.json``, numbered after the
runs already there (`edgecheck.bench.benchmark_json`, pytest-benchmark's layout and
statistics), so ``pytest-benchmark compare`` lists it and ``--benchmark-compare`` compares
with it. ``--benchmark-autosave`` names the run as pytest-benchmark does (the commit and the
time). If pytest-benchmark saves a run of its own in the same session (tests that use its
``benchmark`` fixture), the entries join that file instead (its ``pytest_benchmark_update_json``
hook): one run, one file. Every sample is stored (``--benchmark-save-data`` or not: an
edgecheck timing has tens of rounds, not millions).

Without those options, or without pytest-benchmark installed, ``save`` keeps nothing and
nothing is written. A storage that is not a folder (``elasticsearch+...``) is not written to;
the summary says so.

Under pytest-xdist the workers measure and the controller writes: each worker's entries reach
the controller with its test reports (`edgecheck.plugin.relay`), and the controller writes the
one file at its session end. One file per worker would not do: each file is a numbered run, so
one session would read as several runs in ``pytest-benchmark compare``, and workers choosing
the next free number at once would pick the same one. (pytest-benchmark turns its own timings
off under xdist; edgecheck's ``perf`` tests run alone even there, `edgecheck.plugin.serial`.)
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from edgecheck.bench.measurement import Measurement

DEFAULT_STORAGE = "file://./.benchmarks"  # pytest-benchmark's default --benchmark-storage


class BenchmarkSaver:
    """The ``edgecheck_benchmark_json`` fixture: the session's timings for pytest-benchmark.

    Attributes:
        name: the saved run's name (``--benchmark-save``, or ``--benchmark-autosave``'s
            commit-and-time tag); None when the session saves nothing.
        storage: ``--benchmark-storage`` as given.
        entries: the ``benchmarks`` elements so far, plain JSON (`benchmark_entry`).
        environment: the first measurement's environment, for ``machine_info["edgecheck"]``.
        outcome: what the session end did, for the summary ('' when nothing).
        merged: the entries went into pytest-benchmark's own saved run.
    """

    def __init__(self, name: str | None, storage: str = DEFAULT_STORAGE) -> None:
        self.name = name
        self.storage = storage
        self.entries: list[dict[str, Any]] = []
        self.environment: dict[str, Any] | None = None
        self.outcome = ""
        self.merged = False

    @property
    def enabled(self) -> bool:
        """Whether this session saves a run (otherwise `save` does nothing)."""
        return self.name is not None

    def save(self, measurements: Iterable[Measurement], *, group: str | None = None) -> None:
        """Keep `measurements` as entries of the session's saved run (an object listed twice
        in one call, once).

        Args:
            measurements: `edgecheck.bench.Measurement` objects, e.g. from
                `measure_interleaved`.
            group: their group (one table in ``pytest-benchmark compare``), e.g.
                ``"parallel-fqa"``.
        """
        if not self.enabled:
            return
        from edgecheck.bench.benchmark_json import benchmark_entry, plain_json

        seen: set[int] = set()
        for m in measurements:
            if id(m) in seen:
                continue
            seen.add(id(m))
            self.entries.append(plain_json(benchmark_entry(m, group=group)))
            if self.environment is None and m.environment:
                self.environment = plain_json(dict(m.environment))

    def receive(self, entries: list[dict[str, Any]], environment: Mapping[str, Any] | None) -> None:
        """Controller: a worker's entries (already plain JSON)."""
        self.entries += entries
        if self.environment is None and environment:
            self.environment = dict(environment)

    def merge_into(self, output_json: dict[str, Any]) -> None:
        """pytest-benchmark is saving a run of its own: add the entries to it."""
        if self.enabled and self.entries:
            output_json.setdefault("benchmarks", []).extend(self.entries)
            self.merged = True

    def folder(self) -> Path | None:
        """The storage folder (``file://`` or a plain path), or None for another kind."""
        storage = self.storage
        if "://" not in storage:
            return Path(storage)
        if storage.startswith("file://"):
            return Path(storage.removeprefix("file://"))
        return None

    def write(self, rootpath: Path) -> None:
        """Session end: write the entries as the next numbered run (unless merged)."""
        if not self.enabled or not self.entries:
            return
        count = f"{len(self.entries)} edgecheck timing{'' if len(self.entries) == 1 else 's'}"
        if self.merged:
            self.outcome = f"{count} saved in pytest-benchmark's run '{self.name}'"
            return
        folder = self.folder()
        if folder is None:
            self.outcome = (
                f"{count} NOT saved: --benchmark-storage {self.storage} is not a folder "
                "(edgecheck writes file:// storage only)"
            )
            return
        from edgecheck.bench.benchmark_json import (
            commit_info,
            next_storage_path,
            saved_run,
            write_saved_run,
        )

        assert self.name is not None
        document = saved_run(
            self.entries, environment=self.environment, commit=commit_info(rootpath)
        )
        try:
            path = write_saved_run(next_storage_path(folder, self.name), document)
        except OSError as exc:
            self.outcome = f"{count} NOT saved: {exc}"
            return
        self.outcome = f"{count} saved for pytest-benchmark in {path}"


_SAVER = pytest.StashKey[BenchmarkSaver]()


def configure(config: pytest.Config) -> None:
    """Read pytest-benchmark's options (absent without it: nothing is saved)."""
    autosave = config.getoption("benchmark_autosave", None)
    name = config.getoption("benchmark_save", None) or (
        autosave if isinstance(autosave, str) else "edgecheck" if autosave else None
    )
    storage = config.getoption("benchmark_storage", None) or DEFAULT_STORAGE
    saver = config.stash[_SAVER] = BenchmarkSaver(name, str(storage))
    if saver.enabled:
        config.pluginmanager.register(_NotNothing(saver), "edgecheck-benchmark-save")


class _NotNothing:
    """pytest-benchmark warns "Not saving anything, no benchmarks have been run!" at the end
    of a session without its own ``benchmark`` tests; where edgecheck saves timings, that
    warning is silenced (the summary says what was saved)."""

    def __init__(self, saver: BenchmarkSaver) -> None:
        self.saver = saver

    @pytest.hookimpl(wrapper=True, tryfirst=True)  # around pytest-benchmark's, which saves
    def pytest_sessionfinish(self) -> Iterator[None]:
        with warnings.catch_warnings():
            if self.saver.entries:
                warnings.filterwarnings("ignore", message=_NOTHING_SAVED)
            return (yield)


_NOTHING_SAVED = "Not saving anything, no benchmarks have been run"


def saver_of(config: pytest.Config) -> BenchmarkSaver:
    """The session's `BenchmarkSaver` (made by `configure`)."""
    return config.stash[_SAVER]


def summary(terminalreporter: Any, config: pytest.Config) -> None:
    saver = saver_of(config)
    if saver.outcome:
        terminalreporter.section("edgecheck pytest-benchmark")
        terminalreporter.write_line(saver.outcome, yellow="NOT" in saver.outcome)


@pytest.fixture(scope="session")
def edgecheck_benchmark_json(request: pytest.FixtureRequest) -> BenchmarkSaver:
    """Hand timings to the session's ``--benchmark-save`` run; see `BenchmarkSaver`."""
    return saver_of(request.config)

"""Under pytest-xdist, a ``perf`` test runs alone: no other worker runs a test meanwhile.

A timing taken while another worker's test runs on the other cores measures the contention,
not the model: the harness then flags it "busy" and the claim is "not run here", or a ratio
is off. So that ``pytest -n N`` gives the verdicts of a serial run, the workers share one
readers-writer lock for the whole test run (files in a folder the controller makes for the
run, passed to each worker in its ``workerinput``, removed at the end): a perf test holds it
exclusively from its setup to its teardown, any other test shared. A turnstile lock in front of it keeps a waiting perf
test from being starved by the other workers' stream of short tests: a reader passes the
turnstile before taking its share, and a writer holds the turnstile while it waits.

``fcntl.flock`` locks belong to the open file, so they are released when a worker dies; off
POSIX (no fcntl) the tests run unserialized, as before.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

WORKERINPUT_KEY = "edgecheck_serial_dir"
_FOLDER = pytest.StashKey[Path]()


def configure_node(node: Any) -> None:
    """Controller: give each worker the run's lock folder (made with the first worker)."""
    config = node.config
    if _FOLDER not in config.stash:
        config.stash[_FOLDER] = Path(tempfile.mkdtemp(prefix="edgecheck-xdist-"))
    node.workerinput[WORKERINPUT_KEY] = str(config.stash[_FOLDER])


def cleanup(config: pytest.Config) -> None:
    """Controller: remove the run's lock folder."""
    folder = config.stash.get(_FOLDER, None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def held(folder: Path, *, exclusive: bool) -> Iterator[None]:
    """Hold the run's lock in `folder`, exclusively or shared, for the block."""
    try:
        import fcntl
    except ImportError:  # not POSIX: nothing to serialize with
        yield
        return
    with open(folder / "turnstile", "a+b") as turnstile, open(folder / "lock", "a+b") as lock:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        if exclusive:
            fcntl.flock(lock, fcntl.LOCK_EX)  # readers queue at the turnstile meanwhile
            fcntl.flock(turnstile, fcntl.LOCK_UN)
        else:
            fcntl.flock(turnstile, fcntl.LOCK_UN)
            fcntl.flock(lock, fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def lock_folder(config: pytest.Config) -> Path | None:
    """The run's lock folder in an xdist worker, else None (a serial run, the controller)."""
    workerinput = getattr(config, "workerinput", None)
    if workerinput is None or WORKERINPUT_KEY not in workerinput:
        return None
    return Path(workerinput[WORKERINPUT_KEY])


class Serializer:
    """Registered in xdist workers only: every test runs under the run's lock."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_protocol(self, item: pytest.Item, nextitem: pytest.Item | None) -> object:
        with held(self.folder, exclusive=item.get_closest_marker("perf") is not None):
            return (yield)

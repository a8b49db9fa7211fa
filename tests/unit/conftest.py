"""Fixtures shared by the unit tests.

``run_pytest``: the plugin's tests run pytest on small projects with pytester in THIS process
(`pytester.runpytest`), not in a fresh interpreter per run. Measured on the 2-core Xeon: a
subprocess run costs about 2.2 s (a new interpreter importing torch, onnxruntime and the
plugin), an in-process run about 0.1-0.3 s; tests/unit/plugin/test_plugin*.py make 30 runs.
Nothing those tests check needs a fresh interpreter: the plugin keeps its state on the pytest config
(one per run), ``EDGECHECK_PROFILE`` is read on every `detect_device` call, and the machine
probe and the calibration are per machine, so reusing this process's is what a fresh process
would measure again. ``pytest --runpytest=subprocess`` still runs them in subprocesses.
tests/unit/test_example_project.py keeps one subprocess run (it says why).
"""

from __future__ import annotations

import contextlib
import importlib
import sys
from collections.abc import Callable
from typing import Any

import pytest

# pytester restores sys.modules after every in-process run and after every test that uses it,
# dropping what was imported first inside; numpy and torch cannot be imported twice in one
# process. So everything an in-process run of the plugin may import lazily is imported here,
# before pytester takes its snapshot (a session fixture is set up before function ones).
PRELOAD = (
    "numpy", "scipy.stats", "torch", "onnxruntime",
    "edgecheck.plugin", "edgecheck.baselines", "edgecheck.bench.calibration",
    "edgecheck.bench.cores", "edgecheck.bench.stats", "edgecheck.claims", "edgecheck.config",
    "edgecheck.device", "edgecheck.identity", "edgecheck.models",
)  # fmt: skip
# Top-level packages with C extensions: a run that imports one of them first fails the test.
_NO_REIMPORT = frozenset({"numpy", "scipy", "torch", "onnx", "onnxruntime", "cv2"})


@pytest.fixture(scope="session")
def _preloaded() -> None:
    from edgecheck.device import detect_device

    for name in PRELOAD:
        # An optional package that is missing: the plugin does not import it either.
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    detect_device()  # the machine probe, cached for the process (torch's CUDA query included)


class _ImportWatch:
    """Records the C-extension packages a run imported for the first time (see PRELOAD)."""

    def __init__(self) -> None:
        self.before = set(sys.modules)
        self.first: set[str] = set()

    def pytest_unconfigure(self) -> None:
        new = set(sys.modules) - self.before
        self.first = {name.split(".")[0] for name in new} & _NO_REIMPORT


@pytest.fixture
def run_pytest(
    _preloaded: None,
    request: pytest.FixtureRequest,
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
) -> Callable[..., pytest.RunResult]:
    """``run_pytest(*args)``: pytest on `pytester`'s project, in this process (see above)."""
    monkeypatch.delenv("EDGECHECK_PROFILE", raising=False)
    # Tests rewrite a module between runs; without .pyc files every run reads the source.
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    # pytester's own option: --runpytest=subprocess runs every one of them in a subprocess.
    inprocess = request.config.getoption("--runpytest") == "inprocess"

    def run(*args: str) -> pytest.RunResult:
        if not inprocess:
            return pytester.runpytest(*args)
        watch = _ImportWatch()
        kwargs: dict[str, Any] = {"plugins": [watch]}
        result = pytester.runpytest(*args, **kwargs)
        assert not watch.first, (
            f"the in-process run imported {sorted(watch.first)} first; pytester drops it "
            f"afterwards and it cannot be imported again: add it to PRELOAD in {__file__}"
        )
        return result

    return run

"""Under pytest-xdist, what a worker records reaches the controller with its test reports.

The controller prints the summary and ends the session, but runs no test: the workers do,
and each records into its own `SessionState`. So a worker puts on every test report it sends
what it recorded since its previous report (claim verdicts, claims not run, timings handed to
``edgecheck_benchmark_json``) as one JSON text in the report attribute `REPORT_ATTR` (pytest
carries a report's own attributes between processes; xdist sends reports that way), and the
controller takes it off the report, before other plugins see it, into its own state, in the
order the reports arrive: its claims table and ``--benchmark-save`` file are then the
session's, as in a serial run.

Per report rather than once per worker at its end (xdist's ``workeroutput``): what a test
recorded travels with that test, so a worker that crashes afterwards loses nothing it had
reported, and the table lists the claims in the order their tests finished.

A board's verdicts (``--edgecheck-device-results``) are recorded when their items run on a
worker, not at collection as in a serial run: every worker collects every item, each runs
its share.

Not relayed: the baseline verdicts and measurements (``edgecheck_baseline``). A baseline
update and the timing and history gates are refused under xdist (see the plugin's
``pytest_configure``), the baselines section is printed in serial runs only, and an
``--edgecheck-results`` file written under xdist has the claims but no ``baselines`` or
``measured`` entries.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

import pytest

from edgecheck.plugin.benchmark_save import saver_of
from edgecheck.plugin.state import NotRun, state_of, under_xdist

if TYPE_CHECKING:
    from edgecheck.claims import ClaimRegistry, ClaimResult

REPORT_ATTR = "edgecheck_records"
_SENT = pytest.StashKey[dict[str, int]]()


def is_worker(config: pytest.Config) -> bool:
    """This process is an xdist worker."""
    return getattr(config, "workerinput", None) is not None


def is_controller(config: pytest.Config) -> bool:
    """This process is the controller of an xdist run (``-n N`` / ``--dist``)."""
    return not is_worker(config) and under_xdist(config)


def attach(report: pytest.TestReport, config: pytest.Config) -> None:
    """Worker: put on `report` what this worker recorded since its previous report."""
    state = state_of(config)
    saver = saver_of(config)
    sent = config.stash.setdefault(_SENT, {"results": 0, "not_run": 0, "benchmarks": 0})
    results = state.results[sent["results"] :]
    not_run = state.not_run[sent["not_run"] :]
    entries = saver.entries[sent["benchmarks"] :]
    if not (results or not_run or entries):
        return
    payload = {
        "results": [_result_fields(r) for r in results],
        "not_run": [asdict(n) for n in not_run],
        "benchmarks": entries,
        "environment": saver.environment,
        "device": state.device_if_detected is not None,
    }
    setattr(report, REPORT_ATTR, json.dumps(payload, default=_plain))
    sent.update(
        results=len(state.results), not_run=len(state.not_run), benchmarks=len(saver.entries)
    )


class Receiver:
    """Registered on the controller of an xdist run only: records what reports carry."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config

    @pytest.hookimpl(tryfirst=True)  # off the report before report logs serialize it
    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        text = report.__dict__.pop(REPORT_ATTR, None)
        if text is None:
            return
        payload = json.loads(text)
        state = state_of(self.config)
        if payload["results"]:
            registry = state.registry
            state.results += [_result(registry, fields) for fields in payload["results"]]
        state.not_run += [NotRun(**fields) for fields in payload["not_run"]]
        saver_of(self.config).receive(payload["benchmarks"], payload["environment"])
        if payload["device"] and state.device_if_detected is None:
            _ = state.device  # a worker's test needed it: the summary names it, as serially


def _result_fields(result: ClaimResult) -> dict[str, Any]:
    return {
        "claim": result.claim.id, "key": result.key, "measured": result.measured,
        "profile": result.profile, "threshold": result.threshold, "verdict": result.verdict,
        "message": result.message, "extra": dict(result.extra), "bound": result.bound,
        "reference": result.reference, "margin": result.margin,
    }  # fmt: skip


def _result(registry: ClaimRegistry, fields: dict[str, Any]) -> ClaimResult:
    from edgecheck.claims import ClaimResult

    claim = registry[fields.pop("claim")]
    return ClaimResult(claim=claim, **fields)


def _plain(value: Any) -> Any:
    """JSON for what a claim's extra fields may hold: numpy scalars, objects with as_dict."""
    if hasattr(value, "as_dict"):
        return value.as_dict()
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=repr)
    return str(value)

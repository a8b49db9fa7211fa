"""The plugin's fixtures: ``check_claim`` (judge a value against a claim), ``edgecheck_baseline``
(record a metric and compare it with its stored baseline), ``edgecheck_device``,
``edgecheck_claims`` and ``edgecheck_model``."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import pytest

from edgecheck.plugin.state import NotRun, SessionState, state_of

if TYPE_CHECKING:
    from edgecheck.baselines import Verdict
    from edgecheck.claims import ClaimRegistry, ClaimResult
    from edgecheck.device import DeviceInfo


class ClaimChecker:
    """The ``check_claim`` fixture: judge measured values against the claim registry.

    ``check_claim(id, measured, key=..., cores=...)`` records the verdict for the summary and
    fails the test at once when it fails. ``check_claim.expect(...)`` records without failing,
    and ``check_claim.assert_all()`` then fails with every failed check listed, so one test can
    report all the layers of a table that are off, not just the first.
    """

    def __init__(self, state: SessionState, nodeid: str = "") -> None:
        self._state = state
        self._nodeid = nodeid
        self._pending: list[ClaimResult] = []

    def expect(
        self, claim_id: str, measured: float, *, key: str = "", cores: int | None = None,
        reference: float | None = None, reference_name: str = "reference", **extra: Any,
    ) -> ClaimResult:  # fmt: skip
        claim = self._state.registry[claim_id]
        result = claim.check(
            float(measured), profile=self._state.device.profile, key=key, cores=cores,
            reference=reference, reference_name=reference_name,
        )  # fmt: skip
        if not math.isfinite(float(measured)) and result.verdict != "not applicable":
            result = replace(
                result,
                verdict="FAIL",
                message=f"{result.label}: the measurement is {measured}, not a finite number; "
                "the model or runtime produced NaN/Inf",
            )
        if extra:
            result = replace(result, extra=extra)
        if result.verdict == "not applicable":
            self._state.not_run.append(NotRun(claim_id, key, result.message))
            self._state.recorded.add(self._nodeid)
        else:
            self._state.results.append(result)
        self._pending.append(result)
        return result

    def __call__(
        self, claim_id: str, measured: float, *, key: str = "", cores: int | None = None,
        reference: float | None = None, reference_name: str = "reference", **extra: Any,
    ) -> ClaimResult:  # fmt: skip
        __tracebackhide__ = True
        result = self.expect(
            claim_id, measured, key=key, cores=cores, reference=reference,
            reference_name=reference_name, **extra,
        )  # fmt: skip
        if result.verdict == "not applicable":
            pytest.skip(result.message)
        if not result:
            pytest.fail(result.message, pytrace=False)
        return result

    def assert_all(self) -> None:
        """Fail listing every failed `expect` since the test started."""
        __tracebackhide__ = True
        failed = [r for r in self._pending if not r]
        if failed:
            lines = "\n".join(f"  - {r.message}" for r in failed)
            pytest.fail(
                f"{len(failed)} of {len(self._pending)} checks failed:\n{lines}", pytrace=False
            )


class BaselineRecorder:
    """The ``edgecheck_baseline`` fixture: record a metric and judge it against the baseline.

    ``record(metric, samples_or_value, unit=..., direction=..., kind=..., tolerance=...)``
    compares the measurement with what ``baselines/<profile>.json`` holds for this test and
    metric (see `edgecheck.baselines.BaselineCheck`), adds the verdict to the summary, keeps the
    measurement for ``--edgecheck-update-baselines``, and fails the test on a regression
    (unless the run updates the baselines). ``expect(...)`` does the same without failing and
    ``assert_all()`` then fails listing every regression.
    """

    def __init__(self, state: SessionState, nodeid: str) -> None:
        self._state = state
        self._nodeid = nodeid
        self._pending: list[Verdict] = []

    def expect(
        self,
        metric: str,
        samples_or_value: Any,
        *,
        unit: str = "",
        direction: str = "lower",
        kind: str = "exact",
        tolerance: float | None = None,
        confidence: float | None = None,
    ) -> Verdict:
        """Record and judge without failing; returns the `Verdict`.

        Args:
            metric: name within the test, e.g. ``"conv_macs"``.
            samples_or_value: one number (exact metrics) or the samples (timings, ratios).
            unit: shown in messages, e.g. ``"MACs"``, ``"s"``.
            direction: ``"lower"`` (default) or ``"higher"`` is better.
            kind: ``"exact"`` (default), ``"ratio"`` (portable across machines of the
                profile) or ``"timing"`` (compared only on this fingerprint and calibration;
                the first timing of a run that is compared or recorded measures the
                calibration, 2-3 s).
            tolerance: relative change that counts; default 1e-9 for exact, 5 % otherwise.
                A stored baseline's tolerance is used unless this is given.
            confidence: of the statistical decision; default 0.99.
        """
        __tracebackhide__ = True
        from edgecheck.baselines import DEFAULT_CONFIDENCE, BaselineCheck, Entry, compare
        from edgecheck.errors import BaselineError

        state = self._state
        device = state.device
        try:
            # A timing that will be stored carries the calibration it was measured under.
            calibration = state.calibration() if kind == "timing" and state.updates(kind) else None
            entry = Entry.measured(
                self._nodeid, metric, samples_or_value, kind=kind, direction=direction,
                unit=unit, tolerance=tolerance,
                confidence=DEFAULT_CONFIDENCE if confidence is None else confidence,
                fingerprint_id=device.fingerprint_id, calibration=calibration,
            )  # fmt: skip
            verdict = compare(
                state.baseline, entry, BaselineCheck(tolerance, confidence),
                here=device.fingerprint, calibration=state.calibration,
            )  # fmt: skip
        except BaselineError as exc:
            pytest.fail(f"edgecheck baselines: {exc}", pytrace=False)
        self._state.measured.append(entry)
        self._state.verdicts.append(verdict)
        self._pending.append(verdict)
        return verdict

    def record(self, metric: str, samples_or_value: Any, **kwargs: Any) -> Verdict:
        """`expect`, then fail the test at once on a regression (see the class docstring)."""
        __tracebackhide__ = True
        verdict = self.expect(metric, samples_or_value, **kwargs)
        if not verdict and not self._state.updates(verdict.kind):
            pytest.fail(verdict.message, pytrace=False)
        return verdict

    __call__ = record

    def assert_all(self) -> None:
        """Fail listing every regression recorded since the test started."""
        __tracebackhide__ = True
        failed = [v for v in self._pending if not v and not self._state.updates(v.kind)]
        if failed:
            lines = "\n".join(f"  - {v.message}" for v in failed)
            pytest.fail(
                f"{len(failed)} of {len(self._pending)} metrics regressed:\n{lines}",
                pytrace=False,
            )


@pytest.fixture
def edgecheck_baseline(request: pytest.FixtureRequest) -> BaselineRecorder:
    """Record a metric and compare it with the stored baseline; see `BaselineRecorder`."""
    return BaselineRecorder(state_of(request.config), request.node.nodeid)


@pytest.fixture(scope="session")
def edgecheck_device(request: pytest.FixtureRequest) -> DeviceInfo:
    """This machine's profile, capabilities and fingerprint (`edgecheck.device.DeviceInfo`)."""
    return state_of(request.config).device


@pytest.fixture(scope="session")
def edgecheck_claims(request: pytest.FixtureRequest) -> ClaimRegistry:
    """The claim registry, with the project's ``[tool.edgecheck.claims]`` overrides applied."""
    return state_of(request.config).registry


@pytest.fixture
def check_claim(request: pytest.FixtureRequest) -> ClaimChecker:
    """Judge a measured value against a claim; see `ClaimChecker`."""
    return ClaimChecker(state_of(request.config), request.node.nodeid)


@pytest.fixture(scope="session")
def edgecheck_model() -> Callable[..., Any]:
    """Build a registered model by name: ``edgecheck_model("vgg16", plan="paper")``."""
    from edgecheck.models import build_model

    return build_model

"""The pytest plugin (entry point ``edgecheck``): markers, options, fixtures, claim summary.

Kept thin on purpose: torch, onnxruntime and friends are imported only inside the fixtures
and hooks that need them, so ``pytest --help`` and unrelated test runs stay fast.

Markers:
    tx2, gpu        the test needs that device profile; skipped elsewhere with the reason
                    (tx2: any Jetson profile, tx2 or orin; the claim's rule for it judges);
                    a test with both runs where either is met
    cpu             runs on any machine (portable checks)
    perf, accuracy, slow   what kind of test it is (select with -m)
    claim(id)       the test checks claim `id`; a skip is listed as "not run here"
    needs(cores=, cuda=, tensorrt=, native_fp16=, int8_dot=)   capability requirements
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from edgecheck.options import add_baseline_options, add_profile_option

if TYPE_CHECKING:
    from edgecheck.baselines import BaselineFile, BaselineStore, Entry, Verdict
    from edgecheck.bench.calibration import Calibration
    from edgecheck.claims import ClaimRegistry, ClaimResult
    from edgecheck.config import ProjectConfig
    from edgecheck.device import DeviceInfo
    from edgecheck.devicerun.board_items import DeviceResults

MARKERS = {
    "tx2": (
        "needs a Jetson board with a profile (tx2, the paper's platform, or orin; the claim's "
        "rule for that profile judges); skipped elsewhere with the reason"
    ),
    "gpu": "needs a discrete CUDA GPU (the gpu profile); skipped elsewhere with the reason",
    "cpu": "portable check that runs on any machine",
    "perf": "measures time or throughput; run serially",
    "accuracy": "checks numbers that do not depend on speed (MACs, sizes, agreement)",
    "slow": "takes more than a few seconds",
    "claim(id)": "the test checks claim `id` of edgecheck's registry; it enters the summary",
    "needs(cores=None, cuda=False, tensorrt=False, native_fp16=False, int8_dot=False)": (
        "skip unless this machine has these capabilities; the reason names what is missing"
    ),
}
PROFILE_MARKERS = ("tx2", "gpu")
_NEEDS_KEYS = {"cores", "cuda", "tensorrt", "native_fp16", "int8_dot"}


@dataclass
class NotRun:
    claim_id: str
    key: str
    reason: str


@dataclass
class _State:
    """Per-session plugin state, kept in ``config.stash``."""

    config: pytest.Config
    _device: DeviceInfo | None = None
    _project: ProjectConfig | None = None
    results: list[ClaimResult] = field(default_factory=list)
    not_run: list[NotRun] = field(default_factory=list)
    recorded: set[str] = field(default_factory=set)  # node ids whose skip check_claim recorded
    verdicts: list[Verdict] = field(default_factory=list)  # baseline comparisons, in order
    measured: list[Entry] = field(default_factory=list)  # what an update would write
    update_outcome: str = ""  # what --edgecheck-update-baselines did, for the summary
    timing_gate: str = ""  # why --edgecheck-require-timing failed the run, for the summary
    _baseline: BaselineFile | None = None
    _calibration: Calibration | None = None  # measured by the first timing that needs it
    board: DeviceResults | None = None  # --edgecheck-device-results, judged at configure time

    @property
    def baseline_dir(self) -> Path:
        option = self.config.getoption("edgecheck_baselines", None)
        return Path(option) if option else Path(self.config.rootpath) / "baselines"

    @property
    def baseline_store(self) -> BaselineStore:
        from edgecheck.baselines import DirectoryStore

        return DirectoryStore(self.baseline_dir)

    @property
    def baseline(self) -> BaselineFile:
        """The stored file for this profile, read once (a bad file raises BaselineError)."""
        if self._baseline is None:
            self._baseline = self.baseline_store.fetch(self.device.profile)
        return self._baseline

    @property
    def project(self) -> ProjectConfig:
        if self._project is None:
            from edgecheck.config import find_pyproject, load_config

            self._project = load_config(find_pyproject(Path(self.config.rootpath)))
        return self._project

    @property
    def device(self) -> DeviceInfo:
        if self._device is None:
            from edgecheck.device import detect_device

            option = self.config.getoption("edgecheck_profile")
            self._device = detect_device(
                option or self.project.profile,
                profile_flag="--edgecheck-profile" if option else f"profile in {self.project.path}",
            )
        return self._device

    @property
    def registry(self) -> ClaimRegistry:
        return self.project.registry()

    @property
    def updating(self) -> bool:
        """Whether this run writes baselines (all metrics, or the timings only)."""
        option = self.config.getoption
        return bool(option("edgecheck_update_baselines", False)) or bool(
            option("edgecheck_update_timing_baselines", False)
        )

    def updates(self, kind: str) -> bool:
        """Whether this run writes metrics of `kind`: then their regressions are reported, not
        failed. ``--edgecheck-update-timing-baselines`` writes timings only; the others are
        judged as in any run."""
        if self.config.getoption("edgecheck_update_baselines", False):
            return True
        return kind == "timing" and self.updating

    @property
    def require_timing(self) -> bool:
        """--edgecheck-require-timing / --no-edgecheck-require-timing, else the project's
        ``require_timing``."""
        option = self.config.getoption("edgecheck_require_timing", None)
        return self.project.require_timing if option is None else bool(option)

    def calibration(self) -> Calibration:
        """This machine's calibration, measured (2-3 s) on the first call of the run only: by
        the first timing that is compared or recorded, never by a run without timings."""
        from edgecheck.bench.calibration import calibrate_once

        self._calibration = calibrate_once(self.device.fingerprint_id)
        return self._calibration


_STATE = pytest.StashKey[_State]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("edgecheck", "edgecheck: the paper's claims as tests")
    add_profile_option(group.addoption, "--edgecheck-")
    group.addoption(
        "--edgecheck-results",
        dest="edgecheck_results",
        default=None,
        metavar="PATH",
        help="write every claim verdict of this run (and the device fingerprint) as JSON",
    )
    group.addoption(
        "--edgecheck-device-results",
        dest="edgecheck_device_results",
        default=None,
        metavar="RESULTS.json",
        help="judge a board agent's results.json (as `edgecheck judge`): one test per verdict, "
        "marked with the board's profile (tx2 for tx2/orin); the local tests of that marker "
        "for the same claims are skipped instead of measuring here",
    )
    add_baseline_options(group.addoption, "--edgecheck-")


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    state = _State(config)
    config.stash[_STATE] = state
    from edgecheck.errors import ConfigError

    try:
        _ = state.project  # a broken [tool.edgecheck] table stops the run here, with its file
    except ConfigError as exc:
        raise pytest.UsageError(f"edgecheck: {exc}") from None
    _refuse_what_xdist_would_split(config, state)
    board_results = config.getoption("edgecheck_device_results", None)
    if board_results:
        from edgecheck.devicerun.board_items import load_device_results
        from edgecheck.devicerun.judge import ResultsError

        try:  # read and judged once per session; a bad file stops the run, naming the field
            state.board = load_device_results(board_results, state.registry)
        except ResultsError as exc:
            raise pytest.UsageError(f"edgecheck --edgecheck-device-results: {exc}") from None


def _under_xdist(config: pytest.Config) -> bool:
    """A pytest-xdist run: this is a worker, or the controller of ``-n N`` / ``--dist``."""
    if getattr(config, "workerinput", None) is not None:
        return True
    return config.pluginmanager.hasplugin("xdist") and config.getoption("dist", "no") != "no"


def _refuse_what_xdist_would_split(config: pytest.Config, state: _State) -> None:
    """Baseline updates and the timing gate are decided once per session from every test's
    outcome; under xdist each worker would decide from its own share (one writes its entries
    while another failed; no worker sees the whole count), so they are refused up front."""
    if not _under_xdist(config):
        return
    wants = [
        name
        for name, on in (
            ("--edgecheck-update-baselines", config.getoption("edgecheck_update_baselines", False)),
            ("--edgecheck-update-timing-baselines",
             config.getoption("edgecheck_update_timing_baselines", False)),
            ("--edgecheck-require-timing (or require_timing in pyproject.toml)",
             state.require_timing),
        )
        if on
    ]  # fmt: skip
    if wants:
        raise pytest.UsageError(
            f"edgecheck: {', '.join(wants)} needs the whole run in one process, and pytest-xdist "
            f"splits it between workers; run it without -n/--dist (or with -p no:xdist)."
        )


def _state(config: pytest.Config) -> _State:
    return config.stash[_STATE]


def pytest_report_header(config: pytest.Config) -> str:
    state = _state(config)
    device = state.device
    header = (
        f"edgecheck: profile {device.profile} ({device.profile_source}), "
        f"{device.capabilities.cores} usable cores, fingerprint {device.fingerprint_id}"
    )
    return header if state.board is None else f"{header}\nedgecheck: {state.board.describe()}"


def _unmet_reasons(item: pytest.Item, device: DeviceInfo) -> list[str]:
    reasons: list[str] = []
    # Several profile markers: the test runs where any of them is met.
    profiles = [p for p in PROFILE_MARKERS if item.get_closest_marker(p) is not None]
    if profiles:
        reasons += device.unmet(profile=profiles)
    for marker in item.iter_markers("needs"):
        unknown = set(marker.kwargs) - _NEEDS_KEYS
        if unknown or marker.args:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.needs takes keywords {', '.join(sorted(_NEEDS_KEYS))}; "
                f"got {', '.join(sorted(unknown)) or marker.args!r}"
            )
        reasons += device.unmet(**marker.kwargs)
    return list(dict.fromkeys(reasons))  # de-duplicated, in order


@pytest.hookimpl(tryfirst=True)  # before -m deselects: the board's items carry its marker
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    # A skip marker (rather than pytest.skip() at setup) makes pytest report the test's own
    # location, not this plugin's, next to the reason.
    state = _state(config)
    device, board = state.device, state.board
    for item in items:
        reasons = _unmet_reasons(item, device)
        if board is not None and _replaced_by_board(item, board):
            reasons = [f"judged from the board's results in {board.path}"]
            state.recorded.add(item.nodeid)  # its claims are in the summary, from the board
        if reasons:
            item.add_marker(pytest.mark.skip(reason="; ".join(reasons)))
    if board is not None:
        from edgecheck.devicerun.board_items import board_items

        items.extend(board_items(session, board))


def pytest_collection_finish(session: pytest.Session) -> None:
    # The board's verdicts are decided: those of the selected items enter the summary.
    state = _state(session.config)
    if state.board is None:
        return
    from edgecheck.devicerun.board_items import BoardVerdict

    for item in session.items:
        if isinstance(item, BoardVerdict):
            _record_board(state, item.result)


def _replaced_by_board(item: pytest.Item, board: DeviceResults) -> bool:
    from edgecheck.devicerun.board_items import replaced_by_board

    return replaced_by_board(item, board, _claim_ids(item))


def _record_board(state: _State, result: ClaimResult) -> None:
    """A board verdict into the claims summary, as `ClaimChecker.expect` records one."""
    from edgecheck.devicerun.board_items import NOT_RUN, not_run_reason

    if result.verdict in NOT_RUN:
        state.not_run.append(NotRun(result.claim.id, result.key, not_run_reason(result)))
    else:
        state.results.append(result)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    # The project's own models ([tool.edgecheck.models]) become parameters of every test that
    # takes the edgecheck_user_model fixture, one test id per model name.
    if "edgecheck_user_model" not in metafunc.fixturenames:
        return
    models = _state(metafunc.config).project.models
    metafunc.parametrize("edgecheck_user_model", list(models), ids=[m.name for m in models])


def _claim_ids(item: pytest.Item) -> list[str]:
    ids = []
    for marker in item.iter_markers("claim"):
        if len(marker.args) != 1 or not isinstance(marker.args[0], str):
            raise pytest.UsageError(f"{item.nodeid}: use @pytest.mark.claim('claim.id')")
        ids.append(marker.args[0])
    return ids


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    state = _state(item.config)
    if report.skipped and call.when in ("setup", "call") and item.nodeid not in state.recorded:
        reason = _skip_reason(report)
        key = getattr(getattr(item, "callspec", None), "id", "")
        for claim_id in _claim_ids(item):
            state.not_run.append(NotRun(claim_id, key, reason))
    return report


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


class ClaimChecker:
    """The ``check_claim`` fixture: judge measured values against the claim registry.

    ``check_claim(id, measured, key=..., cores=...)`` records the verdict for the summary and
    fails the test at once when it fails. ``check_claim.expect(...)`` records without failing,
    and ``check_claim.assert_all()`` then fails with every failed check listed, so one test can
    report all the layers of a table that are off, not just the first.
    """

    def __init__(self, state: _State, nodeid: str = "") -> None:
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

    def __init__(self, state: _State, nodeid: str) -> None:
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
    return BaselineRecorder(_state(request.config), request.node.nodeid)


@pytest.fixture(scope="session")
def edgecheck_device(request: pytest.FixtureRequest) -> DeviceInfo:
    """This machine's profile, capabilities and fingerprint (`edgecheck.device.DeviceInfo`)."""
    return _state(request.config).device


@pytest.fixture(scope="session")
def edgecheck_claims(request: pytest.FixtureRequest) -> ClaimRegistry:
    """The claim registry, with the project's ``[tool.edgecheck.claims]`` overrides applied."""
    return _state(request.config).registry


@pytest.fixture
def check_claim(request: pytest.FixtureRequest) -> ClaimChecker:
    """Judge a measured value against a claim; see `ClaimChecker`."""
    return ClaimChecker(_state(request.config), request.node.nodeid)


@pytest.fixture(scope="session")
def edgecheck_model() -> Callable[..., Any]:
    """Build a registered model by name: ``edgecheck_model("vgg16", plan="paper")``."""
    from edgecheck.models import build_model

    return build_model


def summary_rows(state: _State) -> list[dict[str, str]]:
    """One row per verdict: claim, source, paper, measured, threshold, verdict."""
    from edgecheck.formatting import significant

    rows: list[dict[str, str]] = []
    for r in state.results:
        paper_value = r.claim.paper_value(r.key)
        unit = r.claim.unit_for(r.key)
        rows.append({
            "claim": r.label,
            "source": r.claim.source,
            "paper": f"{significant(paper_value)}{unit}" if paper_value is not None else "-",
            "measured": f"{significant(r.measured)}{unit}" if r.measured is not None else "-",
            "threshold": r.threshold,
            "margin": f"{r.margin:+.1%}" if r.margin is not None else "-",
            "verdict": r.verdict,
        })  # fmt: skip
    from edgecheck.errors import ConfigError

    registry = state.registry
    for n in state.not_run:
        try:
            claim = registry[n.claim_id]
            source = claim.source
            paper_value = claim.paper_value(n.key)
            unit = claim.unit_for(n.key)
            paper = f"{significant(paper_value)}{unit}" if paper_value is not None else "-"
        except ConfigError:  # a claim id that only the test knows: still list the skip
            source, paper = "?", "-"
        rows.append({
            "claim": f"{n.claim_id}[{n.key}]" if n.key else n.claim_id,
            "source": source, "paper": paper, "measured": "-", "threshold": "-", "margin": "-",
            "verdict": f"not run here: {n.reason}",
        })  # fmt: skip
    return rows


def format_table(rows: list[dict[str, str]], columns: list[str]) -> str:
    """A plain-text table with aligned columns."""
    widths = {c: max([len(c)] + [len(r[c]) for r in rows]) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns).rstrip()]
    lines.append("  ".join("-" * widths[c] for c in columns))
    lines += ["  ".join(r[c].ljust(widths[c]) for c in columns).rstrip() for r in rows]
    return "\n".join(lines)


_BASELINE_ORDER = ("regression", "improvement", "undecided", "other device", "no baseline")
_BASELINE_HEADINGS = {
    "regression": "regressions",
    "improvement": "improvements beyond the tolerance (refresh the baseline)",
    "undecided": "undecided (too noisy to tell; measure longer)",
    "other device": "no baseline for this device",
    "no baseline": "no baseline stored",
}


def _not_compared_timings(state: _State) -> dict[str, list[Verdict]]:
    """This run's timing metrics that were not compared, by why (`Verdict.not_compared`):
    the causes for stored timings first, most metrics first, then "no baseline stored"."""
    groups: dict[str, list[Verdict]] = {}
    for v in state.verdicts:
        if v.kind == "timing" and v.status in ("other device", "no baseline"):
            groups.setdefault(v.not_compared, []).append(v)
    return dict(sorted(groups.items(), key=_group_order))


def _group_order(item: tuple[str, list[Verdict]]) -> tuple[bool, int, str]:
    why, verdicts = item
    return (verdicts[0].status == "no baseline", -len(verdicts), why)


def timing_line(state: _State) -> str:
    """The summary's first edgecheck line: how many timing metrics were compared, and how many
    were not and why, grouped by the identity field (or calibration) that differed, e.g.
    ``edgecheck: 12 timing metrics compared; 4 not compared: onnxruntime version differs
    (1.31.0 stored, 1.32.0 here); 2 not compared: no baseline stored``."""
    compared = sum(
        v.kind == "timing" and v.status not in ("other device", "no baseline")
        for v in state.verdicts
    )
    parts = [f"edgecheck: {compared} timing metric{'' if compared == 1 else 's'} compared"]
    groups = _not_compared_timings(state)
    parts += [f"{len(vs)} not compared: {why}" for why, vs in groups.items()]
    if not groups:
        parts.append("0 not compared")
    return "; ".join(parts)


def _baseline_summary(terminalreporter: Any, state: _State) -> None:
    if not state.verdicts and not state.update_outcome:
        return
    terminalreporter.section("edgecheck baselines")
    terminalreporter.write_line(timing_line(state))
    for line in state.timing_gate.splitlines():
        terminalreporter.write_line(line, red=True, bold=True)
    note = state._baseline.migration_note if state._baseline is not None else None
    if note:
        terminalreporter.write_line(f"warning: {note}", yellow=True)
    for status in _BASELINE_ORDER:
        chosen = [v for v in state.verdicts if v.status == status]
        if not chosen:
            continue
        terminalreporter.write_line(f"{_BASELINE_HEADINGS[status]}:")
        for v in chosen:
            terminalreporter.write_line(f"  {v.message}")
    counts = {
        s: sum(v.status == s for v in state.verdicts) for s in (*_BASELINE_ORDER, "unchanged")
    }
    terminalreporter.write_line(
        f"baselines ({state.baseline_dir / (state.device.profile + '.json')}): "
        f"{counts['unchanged']} unchanged, {counts['regression']} regressed, "
        f"{counts['improvement']} improved, {counts['undecided']} undecided, "
        f"{counts['other device']} with no baseline for this device, "
        f"{counts['no baseline']} not stored"
    )
    if state._calibration is not None:
        terminalreporter.write_line(
            f"calibration of this machine (fingerprint {state.device.fingerprint_id}): "
            f"{state._calibration.text()}"
        )
    if state.update_outcome:
        terminalreporter.write_line(state.update_outcome)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = _state(config)
    _baseline_summary(terminalreporter, state)
    rows = summary_rows(state)
    if not rows:
        return
    terminalreporter.section("edgecheck claims")
    columns = ["claim", "source", "paper", "measured", "threshold", "margin", "verdict"]
    for line in format_table(rows, columns).splitlines():
        terminalreporter.write_line(line)
    passed = sum(r.verdict == "pass" for r in state.results)
    failed = sum(r.verdict == "FAIL" for r in state.results)
    terminalreporter.write_line(
        f"claims: {passed} checks passed, {failed} failed, {len(state.not_run)} not run here"
    )


def _update_baselines(session: pytest.Session, exitstatus: int) -> None:
    """Write this run's measurements, unless any test failed or errored (or the run stopped)."""
    from edgecheck.errors import BaselineError

    state = _state(session.config)
    path = state.baseline_dir / f"{state.device.profile}.json"
    timing_only = not session.config.getoption("edgecheck_update_baselines", False)
    if exitstatus not in (pytest.ExitCode.OK, pytest.ExitCode.NO_TESTS_COLLECTED) or (
        session.testsfailed
    ):
        state.update_outcome = (
            f"baselines NOT updated: {session.testsfailed} test(s) failed or errored "
            f"(exit status {int(exitstatus)}); {path} is unchanged. Fix them and run again."
        )
        return
    # --edgecheck-update-timing-baselines: this machine's timings only; every exact and ratio
    # entry, and every other machine's timing, stays as stored.
    entries = [e for e in state.measured if e.kind == "timing"] if timing_only else state.measured
    what = "timing metric" if timing_only else "metric"
    if not entries:
        state.update_outcome = (
            f"baselines not updated: no test recorded a {what}; {path} unchanged."
        )
        return
    device = state.device
    try:
        written = state.baseline_store.save(
            device.profile, entries, {device.fingerprint_id: device.fingerprint}
        )
    except BaselineError as exc:
        state.update_outcome = f"baselines NOT updated: {exc}"
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        return
    state.update_outcome = (
        f"baselines updated: {len(entries)} metric(s) of this run written to {written}; "
        f"the other entries are kept"
    )
    if timing_only:
        state.update_outcome = (
            f"baselines updated: {len(entries)} timing metric(s) of this run written to "
            f"{written} for fingerprint {device.fingerprint_id}; every exact and ratio entry "
            f"and every other machine's timing are kept"
        )


def _require_timing(session: pytest.Session) -> None:
    """--edgecheck-require-timing: fail the run when a stored timing was not compared here."""
    state = _state(session.config)
    groups = {
        why: vs
        for why, vs in _not_compared_timings(state).items()
        if vs[0].status == "other device"  # stored, but not for this machine
    }
    if not groups:
        return
    count = sum(len(vs) for vs in groups.values())
    option = session.config.getoption("edgecheck_require_timing", None)
    source = "--edgecheck-require-timing" if option else f"require_timing in {state.project.path}"
    lines = [
        f"edgecheck: FAILED ({source}): {count} stored timing metric"
        f"{' was' if count == 1 else 's were'} not compared on this machine:"
    ]
    for why, vs in groups.items():
        lines.append(f"  {why}: {', '.join(v.test_id + ' :: ' + v.metric for v in vs)}")
    baselines = state.baseline_dir / f"{state.device.profile}.json"
    lines.append(
        f"  if the change is intended (a runtime upgrade, a new runner), re-record the timings "
        f"on this machine with 'edgecheck baselines rebase' (or 'pytest "
        f"--edgecheck-update-baselines') and commit {baselines}"
    )
    state.timing_gate = "\n".join(lines)
    if session.exitstatus == pytest.ExitCode.OK:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = _state(session.config)
    if state.updating:
        _update_baselines(session, exitstatus)
    elif state.require_timing:  # an update re-records what it would fail on
        _require_timing(session)
    path = session.config.getoption("edgecheck_results", None)
    if not path:
        return
    from edgecheck._atomic import write_atomic

    payload = {
        "device": state.device.as_dict(),
        "results": [r.as_dict() for r in state.results],
        "not_run": [{"claim": n.claim_id, "key": n.key, "reason": n.reason} for n in state.not_run],
        "baselines": [v.as_dict() for v in state.verdicts],
        "device_results": str(state.board.path) if state.board is not None else None,
    }
    write_atomic(path, json.dumps(payload, indent=2, sort_keys=True) + "\n")

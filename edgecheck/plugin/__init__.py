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

Modules: `state` (the per-session state in ``config.stash``), `fixtures` (``check_claim``,
``edgecheck_baseline`` and the others, re-exported here so pytest registers them with this
entry point), `summary` (what is printed after the run), `finish` (baseline updates, the
timing gate, ``--edgecheck-results``), `history` (``--edgecheck-history``: the creep gate and
the record of the main branch's runs), `benchmark_save` (``--benchmark-save``: the session's
timings as a pytest-benchmark run, the ``edgecheck_benchmark_json`` fixture), `relay` (under
pytest-xdist, the workers' records reach the controller with their reports), `serial` (under
pytest-xdist, a perf test runs alone).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest

from edgecheck.options import add_baseline_options, add_profile_option
from edgecheck.plugin import benchmark_save, finish, history, relay, serial, summary
from edgecheck.plugin.benchmark_save import BenchmarkSaver, edgecheck_benchmark_json
from edgecheck.plugin.fixtures import (
    BaselineRecorder,
    ClaimChecker,
    check_claim,
    edgecheck_baseline,
    edgecheck_claims,
    edgecheck_device,
    edgecheck_model,
)
from edgecheck.plugin.state import STATE, NotRun, SessionState, state_of, under_xdist
from edgecheck.plugin.summary import format_table, summary_rows

if TYPE_CHECKING:
    from edgecheck.claims import ClaimResult
    from edgecheck.device import DeviceInfo
    from edgecheck.devicerun.board_items import DeviceResults

__all__ = [
    "MARKERS", "BaselineRecorder", "BenchmarkSaver", "ClaimChecker", "check_claim",
    "edgecheck_baseline", "edgecheck_benchmark_json", "edgecheck_claims", "edgecheck_device",
    "edgecheck_model", "format_table", "summary_rows",
]  # fmt: skip

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
    history.add_options(group.addoption)


def pytest_configure(config: pytest.Config) -> None:
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    state = SessionState(config)
    config.stash[STATE] = state
    from edgecheck.errors import ConfigError

    try:
        _ = state.project  # a broken [tool.edgecheck] table stops the run here, with its file
    except ConfigError as exc:
        raise pytest.UsageError(f"edgecheck: {exc}") from None
    _refuse_what_xdist_would_split(config, state)
    history.check_store(config)
    benchmark_save.configure(config)
    if relay.is_controller(config):  # the workers' claims and timings come with their reports
        config.pluginmanager.register(relay.Receiver(config), "edgecheck-relay")
    folder = serial.lock_folder(config)
    if folder is not None:  # an xdist worker: perf tests run alone (plugin/serial.py)
        config.pluginmanager.register(serial.Serializer(folder), "edgecheck-serial")
    board_results = config.getoption("edgecheck_device_results", None)
    if board_results:
        from edgecheck.devicerun.board_items import load_device_results
        from edgecheck.devicerun.judge import ResultsError

        try:  # read and judged once per session; a bad file stops the run, naming the field
            state.board = load_device_results(board_results, state.registry)
        except ResultsError as exc:
            raise pytest.UsageError(f"edgecheck --edgecheck-device-results: {exc}") from None


def _refuse_what_xdist_would_split(config: pytest.Config, state: SessionState) -> None:
    """Baseline updates and the timing gate are decided once per session from every test's
    outcome; under xdist each worker would decide from its own share (one writes its entries
    while another failed; no worker sees the whole count), so they are refused up front."""
    if not under_xdist(config):
        return
    wants = [
        name
        for name, on in (
            ("--edgecheck-update-baselines", config.getoption("edgecheck_update_baselines", False)),
            ("--edgecheck-update-timing-baselines",
             config.getoption("edgecheck_update_timing_baselines", False)),
            ("--edgecheck-require-timing (or require_timing in pyproject.toml)",
             state.require_timing),
            ("--edgecheck-history", config.getoption("edgecheck_history", None)),
        )
        if on
    ]  # fmt: skip
    if wants:
        raise pytest.UsageError(
            f"edgecheck: {', '.join(wants)} needs the whole run in one process, and pytest-xdist "
            f"splits it between workers; run it without -n/--dist (or with -p no:xdist)."
        )


def device_line(device: DeviceInfo) -> str:
    return (
        f"edgecheck: profile {device.profile} ({device.profile_source}), "
        f"{device.capabilities.cores} usable cores, fingerprint {device.fingerprint_id}"
    )


def pytest_report_header(config: pytest.Config) -> str | None:
    # A session that does not ask for edgecheck up front (see `SessionState.in_use`) pays
    # nothing here; its device line comes in the summary if a test needed the device.
    state = state_of(config)
    if not state.in_use():
        return None
    state.header_shown = True
    header = device_line(state.device)
    return header if state.board is None else f"{header}\nedgecheck: {state.board.describe()}"


def _unmet_reasons(item: pytest.Item, state: SessionState) -> list[str]:
    reasons: list[str] = []
    # Several profile markers: the test runs where any of them is met.
    profiles = [p for p in PROFILE_MARKERS if item.get_closest_marker(p) is not None]
    if profiles:
        reasons += state.device.unmet(profile=profiles)
    for marker in item.iter_markers("needs"):
        unknown = set(marker.kwargs) - _NEEDS_KEYS
        if unknown or marker.args:
            raise pytest.UsageError(
                f"{item.nodeid}: @pytest.mark.needs takes keywords {', '.join(sorted(_NEEDS_KEYS))}; "
                f"got {', '.join(sorted(unknown)) or marker.args!r}"
            )
        reasons += state.device.unmet(**marker.kwargs)
    return list(dict.fromkeys(reasons))  # de-duplicated, in order


@pytest.hookimpl(tryfirst=True)  # before -m deselects: the board's items carry its marker
def pytest_collection_modifyitems(
    session: pytest.Session, config: pytest.Config, items: list[pytest.Item]
) -> None:
    # A skip marker (rather than pytest.skip() at setup) makes pytest report the test's own
    # location, not this plugin's, next to the reason.
    state = state_of(config)
    board = state.board
    for item in items:
        reasons = _unmet_reasons(item, state)  # detects the device at the first marker only
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
    state = state_of(session.config)
    if state.board is None or relay.is_worker(session.config):
        return  # a worker records a board verdict when it runs the item (plugin/relay.py)
    from edgecheck.devicerun.board_items import BoardVerdict

    for item in session.items:
        if isinstance(item, BoardVerdict):
            _record_board(state, item.result)


def _replaced_by_board(item: pytest.Item, board: DeviceResults) -> bool:
    from edgecheck.devicerun.board_items import replaced_by_board

    return replaced_by_board(item, board, _claim_ids(item))


def _record_board(state: SessionState, result: ClaimResult) -> None:
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
    models = state_of(metafunc.config).project.models
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
    state = state_of(item.config)
    if report.skipped and call.when in ("setup", "call") and item.nodeid not in state.recorded:
        reason = _skip_reason(report)
        key = getattr(getattr(item, "callspec", None), "id", "")
        for claim_id in _claim_ids(item):
            state.not_run.append(NotRun(claim_id, key, reason))
    if relay.is_worker(item.config):
        if state.board is not None and call.when == "setup":
            from edgecheck.devicerun.board_items import BoardVerdict

            if isinstance(item, BoardVerdict):
                _record_board(state, item.result)
        relay.attach(report, item.config)
    return report


def _skip_reason(report: pytest.TestReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2]).removeprefix("Skipped: ")
    return str(longrepr)


@pytest.hookimpl(optionalhook=True)  # pytest-xdist's hook, on the controller
def pytest_configure_node(node: Any) -> None:
    serial.configure_node(node)


@pytest.hookimpl(optionalhook=True)  # pytest-benchmark's, while it saves a run of its own
def pytest_benchmark_update_json(config: pytest.Config, output_json: dict[str, Any]) -> None:
    benchmark_save.saver_of(config).merge_into(output_json)


def pytest_unconfigure(config: pytest.Config) -> None:
    serial.cleanup(config)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    state = state_of(config)
    device = state.device_if_detected
    if device is not None and not state.header_shown:
        terminalreporter.section("edgecheck")
        terminalreporter.write_line(device_line(device))
    summary.baseline_summary(terminalreporter, state)
    history.summary(terminalreporter, state)
    benchmark_save.summary(terminalreporter, config)
    summary.claims_summary(terminalreporter, state)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = state_of(session.config)
    history.gate(session)  # a creep failure fails the run before anything is written
    if state.updating:
        finish.update_baselines(session, session.exitstatus)
    elif state.require_timing:  # an update re-records what it would fail on
        finish.require_timing(session)
    history.record(session)
    if relay.is_worker(session.config):
        return  # the controller writes the files, with what the workers relayed (relay.py)
    finish.write_results(session)
    benchmark_save.saver_of(session.config).write(session.config.rootpath)

"""The plugin's per-session state, kept in ``config.stash``: what every hook and fixture
shares (the device, the project's settings, the verdicts and measurements of the run)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from edgecheck.baselines import BaselineFile, BaselineStore, Entry, Verdict
    from edgecheck.bench.calibration import Calibration
    from edgecheck.claims import ClaimRegistry, ClaimResult
    from edgecheck.config import ProjectConfig
    from edgecheck.device import DeviceInfo
    from edgecheck.devicerun.board_items import DeviceResults
    from edgecheck.history.gate import MetricCreep


@dataclass
class NotRun:
    claim_id: str
    key: str
    reason: str


@dataclass
class SessionState:
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
    history_lines: list[str] = field(default_factory=list)  # --edgecheck-history, for the summary
    creep: list[MetricCreep] = field(default_factory=list)  # its verdicts, one per judged metric
    where: tuple[str, str, str] | None = None  # (commit, branch, main branch), found once
    header_shown: bool = False  # the device line was in the report header

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
    def device_if_detected(self) -> DeviceInfo | None:
        """The device if something in this run needed it, else None (never detects)."""
        return self._device

    def in_use(self) -> bool:
        """Whether this session asks for edgecheck up front: an edgecheck option on the
        command line, ``EDGECHECK_PROFILE``, or a ``[tool.edgecheck]`` table in the project.
        Otherwise the device is detected only when a test's marker or fixture needs it."""
        import os

        option = self.config.getoption
        names = ("edgecheck_profile", "edgecheck_results", "edgecheck_device_results",
                 "edgecheck_baselines", "edgecheck_update_baselines",
                 "edgecheck_update_timing_baselines", "edgecheck_require_timing",
                 "edgecheck_history")  # fmt: skip
        return (
            any(option(n, None) for n in names)
            or bool(os.environ.get("EDGECHECK_PROFILE"))
            or self.project.table_present
        )

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

    @property
    def calibration_if_measured(self) -> Calibration | None:
        """The calibration if a timing of this run measured it, else None (never measures)."""
        return self._calibration

    @property
    def baseline_if_read(self) -> BaselineFile | None:
        """The stored baseline file if a test of this run read it, else None (never reads)."""
        return self._baseline


STATE = pytest.StashKey[SessionState]()


def state_of(config: pytest.Config) -> SessionState:
    """The session's state (set up by ``pytest_configure``)."""
    return config.stash[STATE]


def under_xdist(config: pytest.Config) -> bool:
    """A pytest-xdist run: this is a worker, or the controller of ``-n N`` / ``--dist``."""
    if getattr(config, "workerinput", None) is not None:
        return True
    return config.pluginmanager.hasplugin("xdist") and config.getoption("dist", "no") != "no"

"""``pytest --edgecheck-device-results results.json``: a board's verdicts as pytest items.

A hosted CI job cannot measure a Jetson's claims; the board's agent did (`board_agent.pyz`,
``edgecheck remote``), and its results.json says what it measured. With the option the plugin
(`edgecheck.plugin`) reads and judges that file once, at configure time, with exactly
`edgecheck judge`'s code (`load_results`, `judge_results`: the registry's rules of the board's
``profile_hint``, pyproject overrides included); a file it cannot read stops the run with a
usage error naming the file and the field.

Each verdict becomes one collected item, ``<results file>::<claim>[<key>]``, marked with the
board's profile marker (``tx2`` for a tx2 or orin board, ``gpu``, ``cpu``) and ``perf``, so
``pytest -m tx2 --edgecheck-device-results r.json`` selects them. The item passes, fails with
the claim's message, or is skipped with the board's reason ("needs 4 cores, 2 online",
"unstable: ..."), and its verdict enters the run's claims summary and ``--edgecheck-results``
like a local measurement. The local tests of the same profile marker that check one of those
claims are skipped with "judged from the board's results in r.json" instead of measuring here.

Why items and not the local tests themselves: the local tx2 tests measure a table with
torch workers and judge cells from it; a board's results hold per-workload samples, judged
per (claim, key). One item per board verdict keeps one code path for the numbers (the judge)
and leaves the local tests as they are.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from edgecheck.claims import ClaimRegistry, ClaimResult

# the marker a board of each profile answers to (an Orin runs the tests marked tx2)
PROFILE_MARKERS = {"tx2": "tx2", "orin": "tx2", "gpu": "gpu", "cpu": "cpu"}


@dataclass(frozen=True)
class DeviceResults:
    """A board's results.json, judged.

    Attributes:
        path: the file.
        profile: whose rules judged it (the board's ``profile_hint``).
        board: the board, as the agent described it (model, SoC or machine).
        results: the verdicts, in the results' order.
    """

    path: Path
    profile: str
    board: str
    results: tuple[ClaimResult, ...]

    @property
    def marker(self) -> str:
        return PROFILE_MARKERS[self.profile]

    @property
    def claim_ids(self) -> set[str]:
        return {r.claim.id for r in self.results}

    def describe(self) -> str:
        return (
            f"board results {self.path}: {self.board}, rules of profile {self.profile}, "
            f"{len(self.results)} verdicts"
        )


def load_device_results(path: str | Path, registry: ClaimRegistry) -> DeviceResults:
    """Read and judge `path` as ``edgecheck judge`` does.

    Raises:
        ResultsError: unreadable, not JSON, wrong schema or field (the message names the file
            and the field), or a board hint that is no profile.
    """
    from edgecheck.devicerun.judge import judge_results, load_results, results_profile

    file = Path(path)
    doc = load_results(file)
    results = judge_results(doc, registry, where=str(file))
    board = doc.get("board") or {}
    name = board.get("model") or board.get("soc") or board.get("machine") or "unknown board"
    return DeviceResults(file, results_profile(doc, None, str(file)), str(name), tuple(results))


def not_run_reason(result: ClaimResult) -> str:
    """The reason of a "not run here" / "not applicable" verdict, without its label."""
    for marker in ("not run here: ", ": "):
        if marker in result.message:
            return result.message.split(marker, 1)[1]
    return result.message


NOT_RUN = ("not run here", "not applicable")


class BoardVerdict(pytest.Item):
    """One verdict of the board's results: passes, fails with the claim's message, or is
    skipped (a skip marker, so pytest reports the results file, not this module) with the
    board's reason. The plugin records the verdicts of the selected items for its summary."""

    def __init__(self, *, result: ClaimResult, source: DeviceResults, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.result = result
        self.source = source
        for marker in (source.marker, "perf"):
            self.add_marker(marker)
        if result.verdict in NOT_RUN:
            self.add_marker(pytest.mark.skip(reason=f"on the board: {not_run_reason(result)}"))

    def runtest(self) -> None:
        if self.result.verdict == "FAIL":
            pytest.fail(f"{self.result.message} (board results {self.source.path})", pytrace=False)

    def reportinfo(self) -> tuple[Path, int, str]:
        return self.source.path, 0, f"{self.source.path.name}::{self.result.label}"


def board_items(session: pytest.Session, source: DeviceResults) -> list[BoardVerdict]:
    """One `BoardVerdict` per verdict of `source`, under the session, reported as collected
    (pytest's "collected N items" line counts them)."""
    try:
        shown = source.path.resolve().relative_to(session.config.rootpath)
    except ValueError:
        shown = source.path
    items = [
        BoardVerdict.from_parent(
            session, name=r.label, nodeid=f"{shown.as_posix()}::{r.label}", path=source.path,
            result=r, source=source,
        )
        for r in source.results
    ]  # fmt: skip
    report = pytest.CollectReport(shown.as_posix(), "passed", None, list(items))
    session.ihook.pytest_collectreport(report=report)
    return items


def replaced_by_board(item: pytest.Item, source: DeviceResults, claim_ids: list[str]) -> bool:
    """Whether the local test `item` (checking `claim_ids`) is judged by the board instead: it
    carries the board's profile marker (tx2 or gpu, not the portable cpu one) and checks a
    claim the board's results judge; a parametrized test, whose id is the claim's key (as the
    plugin's summary reads it), only that key."""
    if source.marker == "cpu" or item.get_closest_marker(source.marker) is None:
        return False
    key = getattr(getattr(item, "callspec", None), "id", None)
    judged = {(r.claim.id, r.key) for r in source.results}
    return any((c, key) in judged if key else c in source.claim_ids for c in claim_ids)

"""Runs measured elsewhere, read for ``edgecheck history import``.

Three kinds of file, told apart by their content:

* a history export (JSON Lines, `store.parse_export`): runs as another store holds them;
* a pytest run's ``--edgecheck-results`` file: its ``measured`` entries (with their samples),
  its device (profile, fingerprint and id) and, where the run knew them, its commit and
  branch: one run, as `record.record_run` would have stored it on that machine;
* a board agent's ``results.json`` (`edgecheck.agent.board`, run as ``board_agent.pyz``): each
  workload that ran becomes a timing metric ``board::<workload>`` with its samples (seconds
  per batch). Its device identity is built from what the agent reports (CPU, ISA features, board model, L4T,
  power mode, online CPUs, runtimes), so its runs form their own series, apart from a pytest
  run's on the same board (which sees more: torch, memory).

The commit and branch of the last two come from the caller when the file has none.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from edgecheck.history.record import make_run
from edgecheck.history.store import EXPORT_HEADER, HistoryError, Run, parse_export
from edgecheck.identity import fingerprint_id_of

BOARD_TEST_ID = "board"


def runs_from_file(
    path: Path, *, commit: str | None = None, branch: str | None = None
) -> list[Run]:
    """The runs in `path` (any of the three kinds above).

    Raises:
        HistoryError: a missing or unreadable file, one of no known kind, or a run without a
            commit (name it with `commit`); the message names the file and the field.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise HistoryError(f"{path}: no such file.") from None
    except IsADirectoryError:
        raise HistoryError(f"{path}: is a folder; give the file to import.") from None
    except UnicodeDecodeError:
        raise HistoryError(f"{path}: not UTF-8 text; is it a history export?") from None
    first = text.lstrip().split("\n", 1)[0]
    if EXPORT_HEADER in first:
        return parse_export(text.splitlines(), where=str(path))
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise HistoryError(
            f"{path}: not JSON ({exc.msg}, line {exc.lineno}); import takes a history export "
            f"(.jsonl), a pytest --edgecheck-results file or a board agent's results.json."
        ) from None
    if isinstance(doc, dict) and "measured" in doc and "device" in doc:
        return [_pytest_run(doc, path, commit, branch)]
    if isinstance(doc, dict) and "agent_version" in doc and "workloads" in doc:
        return [_board_run(doc, path, commit, branch)]
    raise HistoryError(
        f"{path}: neither a history export, a pytest --edgecheck-results file (fields "
        f"'device' and 'measured') nor a board agent's results.json (fields 'agent_version' "
        f"and 'workloads')."
    )


def _commit_branch(doc: Mapping[str, Any], path: Path, commit: str | None,
                   branch: str | None) -> tuple[str, str]:  # fmt: skip
    chosen = commit or doc.get("commit") or ""
    if not isinstance(chosen, str) or not chosen:
        raise HistoryError(
            f"{path}: field 'commit' is missing; name the commit measured with --commit SHA."
        )
    name = branch if branch is not None else doc.get("branch") or ""
    return chosen, str(name)


def _field(doc: Mapping[str, Any], name: str, kind: type, path: Path) -> Any:
    value = doc.get(name)
    if not isinstance(value, kind):
        raise HistoryError(
            f"{path}: field '{name}' must be a {kind.__name__}, got {value!r}; pass the file "
            f"as written, unchanged."
        )
    return value


def _pytest_run(doc: Mapping[str, Any], path: Path, commit: str | None,
                branch: str | None) -> Run:  # fmt: skip
    from edgecheck.baselines import Entry
    from edgecheck.errors import BaselineError
    from edgecheck.identity import identity_of

    device = _field(doc, "device", dict, path)
    fingerprint = _field(device, "fingerprint", dict, path)
    measured = _field(doc, "measured", list, path)
    if not measured:
        raise HistoryError(f"{path}: field 'measured' is empty: the run recorded no metric.")
    try:
        entries = [Entry.from_dict(raw, where=f"{path} measured[{i}]")
                   for i, raw in enumerate(measured)]  # fmt: skip
    except BaselineError as exc:
        raise HistoryError(str(exc)) from None
    chosen, name = _commit_branch(doc, path, commit, branch)
    return make_run(
        entries, chosen, name, profile=str(_field(device, "profile", str, path)),
        fingerprint_id=str(_field(device, "fingerprint_id", str, path)),
        identity=identity_of({str(k): str(v) for k, v in fingerprint.items()}),
        time=_stamp(doc, path),
    )  # fmt: skip


def _stamp(doc: Mapping[str, Any], path: Path) -> str | None:
    """The file's ``finished`` time as the store stamps runs (UTC, ``Z``), None if absent."""
    from datetime import datetime, timezone

    value = doc.get("finished")
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(str(value))
    except ValueError:
        raise HistoryError(
            f"{path}: field 'finished' is {value!r}, not an ISO 8601 time."
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return when.astimezone(timezone.utc).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def _mapping(value: Any) -> Mapping[str, Any]:
    """`value` if it is a JSON object, else an empty one (a field the agent left out)."""
    return value if isinstance(value, Mapping) else {}


def board_identity(results: Mapping[str, Any]) -> dict[str, str]:
    """The identity fields of the board that wrote `results` (what the agent reports)."""
    board = _mapping(results.get("board"))
    cpu = _mapping(board.get("cpu"))
    runtimes = _mapping(results.get("runtimes"))
    clusters = cpu.get("clusters") or []
    if clusters:  # ARM: core types as implementer:part, as `identity.cpu_identity` writes them
        vendor = ",".join(sorted({str(c.get("implementer")) for c in clusters}))
        model = ", ".join(sorted(f"{c.get('implementer')}:{c.get('part')} x{len(c.get('cpus') or [])}"
                                 for c in clusters))  # fmt: skip
        stepping = ", ".join(sorted(f"{c.get('implementer')}:{c.get('part')} "
                                    f"r{c.get('variant')}p{c.get('revision')}" for c in clusters))  # fmt: skip
        family = "unknown"
    else:
        vendor, family = str(cpu.get("vendor")), str(cpu.get("family"))
        model, stepping = str(cpu.get("model")), str(cpu.get("stepping"))
    power = board.get("power_mode")
    return {
        "agent": "board_agent",  # not a pytest run's identity, even on the same board
        "cpu_vendor": vendor, "cpu_family": family, "cpu_model_code": model,
        "cpu_stepping": stepping, "isa": " ".join(cpu.get("isa") or []) or "none",
        "machine": str(board.get("machine")), "jetson_model": str(board.get("model")),
        "l4t": str(board.get("l4t")),
        "power_mode": str(power.get("name")) if isinstance(power, Mapping) else "none",
        "cpus_online": ",".join(str(c) for c in board.get("online_cpus") or []),
        "onnxruntime": str(runtimes.get("onnxruntime")),
        "tensorrt": str(runtimes.get("tensorrt")),
    }  # fmt: skip


def _board_run(doc: Mapping[str, Any], path: Path, commit: str | None,
               branch: str | None) -> Run:  # fmt: skip
    from edgecheck.baselines import Entry
    from edgecheck.errors import BaselineError

    identity = board_identity(doc)
    fid = fingerprint_id_of(identity)
    entries = []
    for i, w in enumerate(_field(doc, "workloads", list, path)):
        if not isinstance(w, Mapping) or w.get("status") != "ok" or not w.get("samples_s"):
            continue  # not run, or an error: nothing measured
        try:
            entries.append(Entry.measured(
                BOARD_TEST_ID, str(w.get("name") or f"workload{i}"), w["samples_s"],
                kind="timing", unit="s", direction="lower", fingerprint_id=fid,
            ))  # fmt: skip
        except BaselineError as exc:
            raise HistoryError(f"{path} workloads[{i}]: {exc}") from None
    if not entries:
        raise HistoryError(f"{path}: no workload has status 'ok' and samples; nothing to import.")
    chosen, name = _commit_branch(doc, path, commit, branch)
    hint = _mapping(doc.get("board")).get("profile_hint")
    return make_run(
        entries, chosen, name, profile=str(hint or "cpu"), fingerprint_id=fid,
        identity=identity, time=_stamp(doc, path),
    )  # fmt: skip

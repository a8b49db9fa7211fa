"""``edgecheck baselines show | diff | update | rebase``: read, compare and refresh the stored
baselines.

`add_parser` registers the command on the ``edgecheck`` sub-parsers; `run` executes it. Reading
and diffing never write; ``update`` runs pytest with ``--edgecheck-update-baselines`` and
``rebase`` with ``--edgecheck-update-timing-baselines`` (this machine's timings only), so the
plugin's rules apply (only measured metrics are written, nothing when a test fails).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from edgecheck import exitcodes
from edgecheck.bench.calibration import CALIBRATION_BAND
from edgecheck.errors import BaselineError
from edgecheck.options import add_baseline_options, add_profile_option

COMMANDS = ("baselines",)

DESCRIPTION = f"""\
Stored baselines are what the merge gate compares against: baselines/<profile>.json holds, per
test and metric, the value measured when the baseline was recorded, its spread and samples, the
unit, which direction is better, the tolerance, and the environment fingerprint.

Verdicts: exact metrics (MACs, parameters, bytes) compare with a tiny tolerance anywhere;
ratios (speedups, errors) compare on any machine of the profile; timings compare only on a
machine with the fingerprint id that recorded them (the device identity, see 'edgecheck
device') and a calibration (one-core sgemm GFLOP/s and memory read GB/s, stored with each
timing) within {CALIBRATION_BAND:.0%} of the stored one; elsewhere they are
"no baseline for this device", with the identity fields or the rates that differ. A schema 1
file (written before the identity) is read with a warning: its timings are not compared until
re-recorded.

With samples on both sides a regression needs the slowdown to exceed the tolerance with the
stated confidence (one-sided Mann-Whitney U against the stored samples scaled by 1 +
tolerance); an improvement beyond the tolerance is reported so that the baseline gets refreshed.

A runtime upgrade or a new runner leaves every stored timing uncompared. pytest's summary says
so in its first edgecheck line ("edgecheck: 12 timing metrics compared; 4 not compared:
onnxruntime version differs (1.31.0 stored, 1.32.0 here)"); --edgecheck-require-timing (or
require_timing = true in [tool.edgecheck]) fails such a run. 'edgecheck baselines rebase'
re-records the timings on this machine, and nothing else.
"""


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``baselines`` (with show / diff / update) on the ``edgecheck`` sub-parsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "baselines",
        help="show, diff, update or rebase the stored baselines (baselines/<profile>.json)",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples: edgecheck baselines show; edgecheck baselines diff old.json "
        "baselines/cpu.json; edgecheck baselines update -- tests/accuracy -m cpu; edgecheck "
        "baselines rebase -- tests/perf",
    )
    actions = parser.add_subparsers(dest="baselines_action", metavar="ACTION", required=True)

    show = actions.add_parser(
        "show",
        help="print the entries of a baseline file",
        description="Print every entry of FILE (default: DIR/<profile>.json for this "
        "machine's profile): test id and metric, kind, value with spread and sample count, "
        "tolerance, fingerprint id and when it was recorded.",
    )
    show.add_argument("file", nargs="?", type=Path, metavar="FILE", help="a baseline file")
    add_baseline_options(show.add_argument, "--", update=False)
    add_profile_option(show.add_argument, "--")
    show.add_argument("--json", action="store_true", help="print the parsed file as JSON")

    diff = actions.add_parser(
        "diff",
        help="what changed between two baseline files",
        description="List the entries added, removed and changed from OLD to NEW, each "
        "changed one with its old and new value, the relative change and the verdict the "
        "merge gate would give (regression, improvement, unchanged, undecided). Exits with "
        "status 1 when any change is a regression, else 3 when any is undecided.",
    )
    diff.add_argument("old", type=Path, metavar="OLD", help="the earlier baseline file")
    diff.add_argument("new", type=Path, metavar="NEW", help="the later baseline file")
    diff.add_argument("--json", action="store_true", help="print JSON")

    update = actions.add_parser(
        "update",
        help="run pytest and record what it measures into the baselines",
        description="Run 'pytest --edgecheck-update-baselines' with PYTEST_ARGS (after '--'). "
        "Only the metrics measured in that run are written, every other entry is kept; the "
        "file is written atomically under a lock and not at all when any test fails. "
        "pytest's exit status is mapped: tests failed 1, a collection or usage error or no "
        "tests 2, pytest's internal error 4.",
    )
    add_baseline_options(update.add_argument, "--", update=False)
    update.add_argument(
        "pytest_args", nargs=argparse.REMAINDER, metavar="PYTEST_ARGS",
        help="arguments for pytest, e.g. -- tests/accuracy -m cpu",
    )  # fmt: skip

    rebase = actions.add_parser(
        "rebase",
        help="re-record this machine's timing baselines (a runtime upgrade, a new runner)",
        description="Re-record the timing baselines (latency, fps) on this machine and "
        "runtime, after a torch or onnxruntime upgrade or on a new runner, when the summary "
        "says 'N not compared: onnxruntime version differs (...)'. First reads every "
        "<profile>.json in DIR (--baselines, else baselines/ next to the nearest "
        "pyproject.toml) and stops at a corrupt one, with one line naming the file and the "
        "field; then runs 'pytest --edgecheck-update-timing-baselines' with PYTEST_ARGS "
        "(after '--') in the current project. Only the timing metrics measured in that run "
        "are written, for this machine's fingerprint; exact and ratio entries and other "
        "machines' timings are kept as stored, exact and ratio metrics are judged as in any "
        "run. The file is replaced atomically (temp file + rename, under a lock), and not at "
        "all when any test fails (exit status 1). Review the change with 'git diff' and "
        "commit it.",
    )
    add_baseline_options(rebase.add_argument, "--", update=False)
    rebase.add_argument(
        "pytest_args", nargs=argparse.REMAINDER, metavar="PYTEST_ARGS",
        help="arguments for pytest, e.g. -- tests/perf -m cpu",
    )  # fmt: skip
    return parser


def _read(path: Path, profile: str | None = None) -> Any:
    from edgecheck.baselines import parse_baseline

    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise BaselineError(f"{path}: no such baseline file.") from None
    except UnicodeDecodeError:
        raise BaselineError(f"{path}: not UTF-8 text; is it a baseline file?") from None
    return parse_baseline(text, path=path, profile=profile)


def _value(entry: Any) -> str:
    from edgecheck.formatting import with_unit

    text = with_unit(entry.value, entry.unit)
    if entry.n > 1:
        text += f" (IQR {entry.spread:.3g}, n={entry.n})"
    return text


def _show(args: argparse.Namespace) -> int:
    if args.file is not None:
        stored = _read(args.file)
    else:
        from edgecheck.baselines import DirectoryStore
        from edgecheck.device import detect_device

        profile = detect_device(args.edgecheck_profile, profile_flag="--profile").profile
        store = DirectoryStore(args.edgecheck_baselines or "baselines")
        path = store.path(profile)
        if not path.exists():
            print(f"{path}: no baselines stored for profile {profile} yet.")
            return 0
        stored = _read(path, profile)
    entries = [stored.entries[k] for k in sorted(stored.entries)]
    if stored.migration_note:
        print(f"warning: {stored.migration_note}", file=sys.stderr)
    if args.json:
        payload = {
            "path": str(stored.path),
            "profile": stored.profile,
            "entries": [e.as_dict() for e in entries],
            "fingerprints": stored.fingerprints,
        }
        print(json.dumps(payload, indent=2))
        return 0
    print(f"{stored.path}: profile {stored.profile}, {len(entries)} entries")
    for e in entries:
        where = ""
        if e.kind == "timing":
            where = f", fingerprint {e.fingerprint_id}, " + (
                f"calibration {e.calibration.text()}"
                if e.calibration is not None
                else "no calibration (old identity: not compared)"
            )
        print(
            f"  {e.label}: {_value(e)}, {e.kind}, {e.direction} is better, tolerance "
            f"{e.tolerance:.3g}{where}, recorded {e.recorded}"
        )
    return 0


def _diff(args: argparse.Namespace) -> int:
    from edgecheck.baselines import BaselineCheck, diff_files

    old, new = _read(args.old), _read(args.new)
    rows = []
    regressions = undecided = 0
    for change, a, b in diff_files(old, new):
        either = a or b
        assert either is not None  # diff_files gives at least one side
        row: dict[str, Any] = {"change": change, "entry": either.label}
        if change == "changed" and a is not None and b is not None:
            verdict = BaselineCheck().check(a, b) if a.kind == b.kind else None
            row.update(old=a.as_dict(), new=b.as_dict())
            row["verdict"] = verdict.status if verdict is not None else "kind changed"
            row["message"] = verdict.message if verdict is not None else f"{a.kind} -> {b.kind}"
            regressions += row["verdict"] == "regression"
            undecided += row["verdict"] == "undecided"
        else:
            row["value"] = _value(either)
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
    elif not rows:
        print(f"{args.old} and {args.new} hold the same measurements.")
    else:
        for row in rows:
            if row["change"] == "changed":
                print(f"changed  {row['message']}")
            else:
                print(f"{row['change']:<8} {row['entry']}: {row['value']}")
        print(f"{len(rows)} change(s), {regressions} regression(s)")
    if regressions:
        return exitcodes.REGRESSION
    return exitcodes.UNDECIDED if undecided else exitcodes.OK


# pytest's exit statuses -> edgecheck's: tests failed is a regression; interrupted (a collection
# error), a usage error and no tests collected are input errors; pytest's internal error is one.
PYTEST_STATUS = {0: exitcodes.OK, 1: exitcodes.REGRESSION, 2: exitcodes.USAGE,
                 3: exitcodes.INTERNAL, 4: exitcodes.USAGE, 5: exitcodes.USAGE}  # fmt: skip


def _update(args: argparse.Namespace) -> int:
    pytest_args = [a for a in args.pytest_args if a != "--"]
    command = [sys.executable, "-m", "pytest", "--edgecheck-update-baselines"]
    if args.edgecheck_baselines:
        command += ["--edgecheck-baselines", args.edgecheck_baselines]
    return PYTEST_STATUS.get(subprocess.call(command + pytest_args), exitcodes.INTERNAL)


def _rebase_folder(args: argparse.Namespace) -> Path:
    """--baselines, else baselines/ next to the nearest pyproject.toml (the rootdir of most
    projects, where the plugin looks by default), else ./baselines."""
    if args.edgecheck_baselines:
        return Path(args.edgecheck_baselines)
    from edgecheck.config import find_pyproject

    pyproject = find_pyproject(Path.cwd())
    return (pyproject.parent if pyproject is not None else Path.cwd()) / "baselines"


def _read_all(folder: Path) -> dict[str, Any]:
    """Every ``<profile>.json`` in `folder`, parsed; a corrupt one raises `BaselineError`."""
    from edgecheck.baselines import DirectoryStore
    from edgecheck.device import PROFILES

    store = DirectoryStore(folder)
    return {p: store.fetch(p) for p in PROFILES if store.path(p).exists()}


def _rebase(args: argparse.Namespace) -> int:
    from edgecheck.baselines import diff_files

    folder = _rebase_folder(args)
    before = _read_all(folder)  # a corrupt file stops here: one line, nothing run or written
    pytest_args = [a for a in args.pytest_args if a != "--"]
    command = [sys.executable, "-m", "pytest", "--edgecheck-update-timing-baselines"]
    if args.edgecheck_baselines:
        command += ["--edgecheck-baselines", args.edgecheck_baselines]
    status = subprocess.call(command + pytest_args)
    code = PYTEST_STATUS.get(status, exitcodes.INTERNAL)
    if status != 0:
        print(
            f"edgecheck baselines rebase: refused: pytest exited with status {status} (a test "
            f"failed or could not run); no baseline was written. Fix it and run again.",
            file=sys.stderr,
        )
        return code
    after = _read_all(folder)
    changed = 0
    for profile, new in sorted(after.items()):
        old = before.get(profile)
        if old is None:
            print(f"edgecheck baselines rebase: {new.path}: new file, {len(new.entries)} entries")
            changed += 1
            continue
        changes = diff_files(old, new)
        if changes:
            added = sum(c == "added" for c, _, _ in changes)
            print(
                f"edgecheck baselines rebase: {new.path}: {len(changes)} timing entr"
                f"{'y' if len(changes) == 1 else 'ies'} written ({added} added, "
                f"{len(changes) - added} re-recorded), every other entry as it was"
            )
            changed += 1
    if not changed:
        print(f"edgecheck baselines rebase: no timing baseline in {folder} changed.")
    else:
        print(f"edgecheck baselines rebase: review with 'git diff {folder}' and commit it.")
    return code


def run(args: argparse.Namespace) -> int:
    """Execute ``edgecheck baselines ACTION``; returns the exit status."""
    actions = {"show": _show, "diff": _diff, "update": _update, "rebase": _rebase}
    return actions[args.baselines_action](args)

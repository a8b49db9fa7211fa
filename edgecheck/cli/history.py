"""``edgecheck history show | changes | check | plot | html | export | import``: the performance history.

`add_parser` registers the command on the ``edgecheck`` sub-parsers; `run` executes it. Only
``import`` writes to the store (and creates it); the others read it and never create it.
numpy, sqlite3 and matplotlib are imported inside `run`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgecheck import exitcodes
from edgecheck.errors import ConfigError

if TYPE_CHECKING:
    from edgecheck.history.changes import ChangePoint
    from edgecheck.history.store import HistoryStore, SeriesPoint

COMMANDS = ("history",)
DEFAULT_STORE = Path("edgecheck-history.sqlite")

DESCRIPTION = """\
The performance history is one SQLite file (--store, default edgecheck-history.sqlite) that
every recorded run is appended to: the commit, branch, time, device identity (fingerprint id
and its fields) and calibration, and per metric the median, its interval, n and the samples.
These commands read it (import also writes):

  show      a metric's series: one row per run, change points marked
  changes   a metric's change points: run, commit range, step, p-value
  check     the creep rule on the newest run: is the metric worse than its accepted level
            (the last improvement or accepted change point) beyond the tolerance? exit 1 if so
  plot      a PNG of a metric's series with its change points marked
  html      one static page (OUT/index.html) with a chart per metric, no server needed
  export    every run as JSON Lines (a header line, then one run per line)
  import    runs from such a file (runs already stored are skipped; the store is created)

METRIC is 'TEST_ID::METRIC' or, when only one test records it, the metric's name; without
METRIC, show lists the stored metrics. A timing compares only on one device: when a timing
was recorded on several fingerprints, pick one with --fingerprint.

Change points are found by E-Divisive means (Matteson & James 2014) with a permutation test
(edgecheck/history/changes.py says why not PELT, with the numbers).
"""


def _add_store(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store", type=Path, default=DEFAULT_STORE, metavar="PATH",
        help="the history file (default: %(default)s)",
    )  # fmt: skip


def _add_series(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    parser.add_argument(
        "metric", metavar="METRIC", nargs=None if required else "?",
        help="'TEST_ID::METRIC', or the metric's name when one test records it",
    )  # fmt: skip
    _add_store(parser)
    parser.add_argument("--fingerprint", metavar="ID", help="only this device's runs")
    parser.add_argument("--branch", metavar="NAME", help="only this branch's runs")


def _add_detection(parser: argparse.ArgumentParser, *, method: bool = True) -> None:
    parser.add_argument(
        "--alpha", type=_fraction, default=0.01, metavar="P",
        help="significance of a change point's permutation test (default: %(default)s)",
    )  # fmt: skip
    if not method:
        return
    parser.add_argument(
        "--method", choices=("edivisive", "pelt"), default="edivisive",
        help="change point method (pelt needs the 'ruptures' package; default: %(default)s)",
    )  # fmt: skip


def _fraction(text: str) -> float:
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        value = -1.0
    if not 0.0 < value < 1.0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a fraction in (0, 1), e.g. 0.05 or 5%")
    return value


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``history`` (show / changes / check / plot / export / import)."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "history",
        help="the performance history: series, change points, creep, plot, html, export",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Examples: edgecheck history show latency --store h.sqlite; "
        "edgecheck history changes 'tests/perf/test_x.py::test_fps::fps'; "
        "edgecheck history export --store h.sqlite > h.jsonl",
    )
    actions = parser.add_subparsers(dest="history_action", metavar="ACTION", required=True)

    show = actions.add_parser(
        "show", help="print a metric's series (or list the stored metrics)",
        description="Print one row per run of METRIC, oldest first: run number, commit, "
        "branch, time, median with its interval and n, and '<- change' where a change point "
        "starts (with its step and p-value). Without METRIC, list the stored metrics with "
        "their kind and number of runs.",
    )  # fmt: skip
    _add_series(show, required=False)
    _add_detection(show)
    show.add_argument("--json", action="store_true", help="print JSON")

    changes = actions.add_parser(
        "changes", help="list a metric's change points",
        description="List the change points of METRIC's series of medians: the first run at "
        "the new level, the commit range that holds the commit that caused it (previous "
        "run's commit .. this run's), the medians before and after, the relative step, and "
        "the p-value of the permutation test.",
    )  # fmt: skip
    _add_series(changes)
    _add_detection(changes)
    changes.add_argument("--json", action="store_true", help="print JSON")

    check = actions.add_parser(
        "check", help="judge the newest run by the creep rule (exit 1 on creep)",
        description="Judge METRIC's newest run against its accepted level: the level at the "
        "last change point that improved it or that --accept names (else the first runs). "
        "Exit status 1 when the current level is worse than that by more than --tolerance "
        "with --confidence (one-sided Mann-Whitney U on run medians, the baselines' rule); "
        "the message names the commit ranges whose steps made it worse.",
    )  # fmt: skip
    _add_series(check)
    _add_detection(check)
    check.add_argument(
        "--tolerance", type=_fraction, default=None, metavar="FRACTION",
        help="relative loss allowed, e.g. 5%% (default: the metric's recorded tolerance, at "
        "least 1%%)",
    )  # fmt: skip
    check.add_argument(
        "--confidence", type=_fraction, default=0.95, metavar="P",
        help="of the one-sided test (default: %(default)s)",
    )  # fmt: skip
    check.add_argument(
        "--accept", action="append", default=[], metavar="COMMIT",
        help="a commit whose slowdown was decided on: its change point becomes the "
        "reference (repeatable)",
    )  # fmt: skip
    check.add_argument("--json", action="store_true", help="print JSON")

    plot = actions.add_parser(
        "plot", help="write a PNG of a metric's series with its change points",
        description="Draw METRIC's medians per run with their intervals, the level between "
        "change points, and a dashed line with the step at each change point; write a PNG.",
    )  # fmt: skip
    _add_series(plot)
    _add_detection(plot)
    plot.add_argument(
        "--out", type=Path, metavar="FILE",
        help="the PNG to write (default: history-<metric>.png)",
    )  # fmt: skip

    page = actions.add_parser(
        "html", help="write one static page with a chart per metric",
        description="Write OUT/index.html: per metric (a timing once per device) an inline "
        "SVG chart of its medians with their intervals and change points, the change points "
        "as a table, and the creep rule's verdict on the newest run. One self-contained file: "
        "open it from disk, no server.",
    )  # fmt: skip
    page.add_argument("out", type=Path, metavar="OUT", help="the folder to write index.html into")
    _add_store(page)
    _add_detection(page, method=False)

    export = actions.add_parser(
        "export", help="write every run as JSON Lines",
        description="Write every stored run as JSON Lines: a header line "
        '{"edgecheck_history": SCHEMA}, then one run per line with its metrics and samples.',
    )  # fmt: skip
    export.add_argument("out", nargs="?", type=Path, metavar="FILE",
                        help="the file to write (default: standard output)")  # fmt: skip
    _add_store(export)

    imp = actions.add_parser(
        "import", help="add runs measured elsewhere to the store",
        description="Add the runs of FILE to the store, creating it when missing. FILE is a "
        "history export ('history export'), a pytest run's --edgecheck-results file (its "
        "metrics with their samples, device and commit: e.g. from a device runner), or a "
        "board agent's results.json (each workload that ran becomes the timing "
        "'board::<workload>'). Runs already stored (same run id) are skipped; a malformed "
        "file stops the import naming the line or field, and nothing is stored.",
    )  # fmt: skip
    imp.add_argument("file", type=Path, metavar="FILE",
                     help="a history export (.jsonl), results.json of pytest or the agent")  # fmt: skip
    imp.add_argument("--commit", default=None, metavar="SHA",
                     help="the commit measured, for a results file that does not name one")  # fmt: skip
    imp.add_argument("--branch", default=None, metavar="NAME",
                     help="the branch measured (default: the file's, else none)")  # fmt: skip
    _add_store(imp)
    return parser


# ------------------------------------------------------------------------------------ helpers


def _open(args: argparse.Namespace) -> HistoryStore:
    from edgecheck.history.store import HistoryStore

    return HistoryStore(args.store)


def _resolve(store: HistoryStore, name: str) -> tuple[str, str, str]:
    """(test id, metric, kind) of METRIC; an unknown or ambiguous one is a one-line error."""
    names = store.metric_names()
    test_id, sep, metric = name.rpartition("::")
    exact = [n for n in names if sep and (n[0], n[1]) == (test_id, metric)]
    matches = exact or [n for n in names if n[1] == name]
    if len({(t, m) for t, m, _, _ in matches}) == 1:
        return matches[0][0], matches[0][1], matches[0][2]
    if matches:
        listed = "; ".join(f"{t}::{m}" for t, m, _, _ in matches[:5])
        raise ConfigError(f"metric '{name}' is recorded by several tests ({listed}); name one "
                          f"as 'TEST_ID::METRIC'.")  # fmt: skip
    known = ", ".join(f"{t}::{m}" for t, m, _, _ in names[:5]) or "none"
    raise ConfigError(
        f"{store.path}: no metric '{name}' stored (stored: {known}"
        f"{', ...' if len(names) > 5 else ''}); 'edgecheck history show --store "
        f"{store.path}' lists them."
    )


def _series(store: HistoryStore, args: argparse.Namespace) -> tuple[str, list[SeriesPoint]]:
    test_id, metric, kind = _resolve(store, args.metric)
    fingerprint = args.fingerprint
    if fingerprint is None and kind == "timing":
        prints = store.fingerprints(test_id, metric)
        if len(prints) > 1:
            listed = ", ".join(f"{f} ({n} runs)" for f, n in sorted(prints.items()))
            raise ConfigError(
                f"{test_id}::{metric} is a timing recorded on {len(prints)} devices ({listed}); "
                f"a timing compares only on one: pick it with --fingerprint ID."
            )
    series = store.series(test_id, metric, fingerprint_id=fingerprint, branch=args.branch)
    if not series:
        raise ConfigError(f"{test_id}::{metric}: no runs match --fingerprint/--branch.")
    return f"{test_id}::{metric}", series


def _changes(series: list[SeriesPoint], args: argparse.Namespace) -> list[ChangePoint]:
    from edgecheck.history.changes import change_points

    return change_points([p.value for p in series], [p.commit for p in series],
                         method=args.method, alpha=args.alpha)  # fmt: skip


def _num(x: float) -> str:
    return f"{x:.5g}"


# ----------------------------------------------------------------------------------- commands


def _show(args: argparse.Namespace) -> int:
    with _open(args) as store:
        if args.metric is None:
            names = store.metric_names()
            if args.json:
                print(json.dumps([{"test_id": t, "metric": m, "kind": k, "runs": c}
                                  for t, m, k, c in names], indent=2))  # fmt: skip
                return exitcodes.OK
            print(f"{store.path}: {store.count()} runs, {len(names)} metrics")
            for t, m, k, c in names:
                print(f"  {t}::{m}  ({k}, {c} runs)")
            return exitcodes.OK
        label, series = _series(store, args)
    found = {c.index: c for c in _changes(series, args)}
    if args.json:
        rows = [dict(vars(p), change=found[i].as_dict() if i in found else None)
                for i, p in enumerate(series)]  # fmt: skip
        print(json.dumps({"metric": label, "runs": rows}, indent=2))
        return exitcodes.OK
    unit = series[-1].unit
    better = f"{series[-1].direction} is better"
    print(f"{label} ({series[-1].kind}, {unit or 'no unit'}, {better}): {len(series)} runs, "
          f"{len(found)} change point(s)")  # fmt: skip
    header = ("run", "commit", "branch", "time", "median", "interval", "n", "")
    table = [header] + [
        (str(i), p.commit[:12], p.branch, p.time, _num(p.value),
         f"[{_num(p.low)}, {_num(p.high)}]", str(p.n),
         f"<- change {found[i].step:+.1%} (p {found[i].p_value:.2g})" if i in found else "")
        for i, p in enumerate(series)
    ]  # fmt: skip
    widths = [max(len(row[c]) for row in table) for c in range(len(header))]
    for row in table:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return exitcodes.OK


def _cmd_changes(args: argparse.Namespace) -> int:
    with _open(args) as store:
        label, series = _series(store, args)
    found = _changes(series, args)
    if args.json:
        print(json.dumps({"metric": label, "changes": [c.as_dict() for c in found]}, indent=2))
        return exitcodes.OK
    direction = series[-1].direction
    print(f"{label}: {len(found)} change point(s) in {len(series)} runs "
          f"({args.method}, alpha {args.alpha:g}; {direction} is better)")  # fmt: skip
    for c in found:
        way = "worse" if c.worse(direction) else "better"
        print(f"  run {c.index}: {c.commit_range}: {_num(c.before)} -> {_num(c.after)} "
              f"{series[-1].unit}".rstrip()
              + f" ({c.step:+.1%}, {way}), p = {c.p_value:.2g}")  # fmt: skip
    return exitcodes.OK


def _check(args: argparse.Namespace) -> int:
    from edgecheck.history.creep import judge_creep

    with _open(args) as store:
        label, series = _series(store, args)
    newest = series[-1]
    tolerance = args.tolerance if args.tolerance is not None else max(newest.tolerance, 0.01)
    verdict = judge_creep(
        [p.value for p in series[:-1]], [p.commit for p in series[:-1]], newest.value,
        newest.commit, direction=newest.direction, tolerance=tolerance,
        confidence=args.confidence, accepted=set(args.accept), label=label, unit=newest.unit,
        alpha=args.alpha,
    )  # fmt: skip
    if args.json:
        payload = {
            "metric": label, "status": verdict.status, "reference": verdict.reference,
            "current": verdict.current, "loss": verdict.loss, "p_value": verdict.p_value,
            "reference_commit": verdict.reference_commit, "tolerance": verdict.tolerance,
            "contributors": [c.as_dict() for c in verdict.contributors],
            "new_level": verdict.new_level, "noise": verdict.noise,
            "message": verdict.message,
        }  # fmt: skip
        print(json.dumps(payload, indent=2))
    else:
        print(verdict.message)
    return exitcodes.OK if verdict else exitcodes.REGRESSION


def _plot(args: argparse.Namespace) -> int:
    from edgecheck._atomic import write_atomic
    from edgecheck.history.plot import series_png

    with _open(args) as store:
        label, series = _series(store, args)
    found = _changes(series, args)
    out = args.out or Path(f"history-{_safe(label.rpartition('::')[2])}.png")
    write_atomic(out, series_png(label, series, found))
    print(f"{out}: {label}, {len(series)} runs, {len(found)} change point(s)")
    return exitcodes.OK


def _html(args: argparse.Namespace) -> int:
    from edgecheck.history.html import write_page

    with _open(args) as store:
        path, count = write_page(store, args.out, alpha=args.alpha)
    print(f"{path}: {count} chart(s)")
    return exitcodes.OK


def _safe(name: str) -> str:
    return "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name) or "metric"


def _export(args: argparse.Namespace) -> int:
    import io

    from edgecheck._atomic import write_atomic

    with _open(args) as store:
        if args.out is None:
            count = store.export_jsonl(sys.stdout)
        else:
            buffer = io.StringIO()
            count = store.export_jsonl(buffer)
            write_atomic(args.out, buffer.getvalue())
    where = args.out or "standard output"
    print(f"exported {count} run(s) from {args.store} to {where}", file=sys.stderr)
    return exitcodes.OK


def _import(args: argparse.Namespace) -> int:
    from edgecheck.history.sources import runs_from_file
    from edgecheck.history.store import HistoryStore

    runs = runs_from_file(args.file, commit=args.commit, branch=args.branch)  # before creating
    with HistoryStore(args.store, create=True) as store:
        added = store.append_many(runs)
    print(f"imported {added} run(s) into {args.store}; {len(runs) - added} already stored")
    return exitcodes.OK


def run(args: argparse.Namespace) -> int:
    """Execute ``edgecheck history ACTION``; returns the exit status."""
    actions = {"show": _show, "changes": _cmd_changes, "check": _check, "plot": _plot,
               "html": _html, "export": _export, "import": _import}  # fmt: skip
    return actions[args.history_action](args)

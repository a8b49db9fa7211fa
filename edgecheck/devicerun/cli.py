"""``edgecheck bundle`` and ``edgecheck judge``: the host side of a device run.

`add_parser` registers both commands on the ``edgecheck`` sub-parsers; `run` executes one.
``judge`` exits 0 when every verdict passed or was not run, 1 on any FAIL, 2 on a results
file it cannot read (one line naming the file and the field).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

COMMANDS = ("bundle", "judge")

FLOW = """\
The flow (the host does the heavy work, the board only measures):
  1. edgecheck bundle --target tx2 --models fqa,vgg16 bundle/      (on the host)
  2. scp -r bundle/ board:                                          (copy the folder)
  3. python3 bundle/board_agent.py bundle --out results.json        (on the board)
  4. scp board:results.json . && edgecheck judge results.json --out judged/
board_agent.py needs only Python 3.6+ (onnxruntime for the CPU workloads, trtexec for the
GPU ones); it sets the power mode in the manifest and restores it (--no-power: leave it)."""


def _models(text: str) -> tuple[str, ...]:
    from edgecheck.devicerun.bundle import MODELS

    chosen = tuple(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))
    bad = [m for m in chosen if m not in MODELS]
    if bad or not chosen:
        raise argparse.ArgumentTypeError(
            f"models {text!r}: choose from {', '.join(MODELS)}, separated by commas"
        )
    return chosen


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``bundle`` and ``judge``; returns the ``judge`` parser."""
    from edgecheck.devicerun.bundle import TARGETS

    bundle: argparse.ArgumentParser = subparsers.add_parser(
        "bundle",
        help="write a bundle (models, inputs, agent, manifest) for a board to measure",
        description="Export the models at the target's opset (13 for tx2), convert FP16, "
        "quantize INT8 in TensorRT's form (orin, gpu), write the input blobs, copy the "
        "on-board agent (board_agent.py) and write manifest.json with every file's sha256 "
        "and the claims each workload serves. OUT must be empty unless --overwrite.",
        epilog=FLOW,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bundle.add_argument("out", type=Path, metavar="OUT", help="the bundle folder to write")
    bundle.add_argument("--target", required=True, choices=TARGETS, help="the board's profile")
    bundle.add_argument(
        "--models", type=_models, default=("fqa", "vgg16"), metavar="M[,M]",
        help="models to include: fqa, vgg16 (default: both; VGG16 adds about 1 GB on a GPU "
        "target, 530 MB on cpu)",
    )  # fmt: skip
    bundle.add_argument(
        "--overwrite", action="store_true",
        help="write into a non-empty OUT (the bundle's own files are replaced)",
    )  # fmt: skip
    judge: argparse.ArgumentParser = subparsers.add_parser(
        "judge",
        help="judge a board agent's results.json against the claims' rules",
        description="Turn the samples in RESULTS.json (written by board_agent.py) into claim "
        "verdicts with this project's rules (pyproject.toml overrides apply) and print them. "
        "Exit status 0: every verdict passed or was not run; 1: a claim FAILED; 2: the "
        "results file cannot be read.",
        epilog=FLOW,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    judge.add_argument("results", type=Path, metavar="RESULTS.json")
    judge.add_argument(
        "--profile", choices=TARGETS,
        help="whose rules (default: the board's profile_hint in the results)",
    )  # fmt: skip
    judge.add_argument(
        "--out", type=Path, metavar="DIR", help="also write report.md and results-judged.json"
    )
    return judge


def run(args: argparse.Namespace) -> int:
    from edgecheck.devicerun.judge import ResultsError

    if args.command == "bundle":
        return _bundle(args)
    try:
        return _judge(args)
    except ResultsError as exc:
        print(f"edgecheck judge: error: {exc}", file=sys.stderr)
        return 2


def _bundle(args: argparse.Namespace) -> int:
    from edgecheck.devicerun.bundle import write_bundle

    path = write_bundle(
        args.out, args.target, models=args.models, overwrite=args.overwrite,
        note=lambda line: print(line, file=sys.stderr, flush=True),
    )  # fmt: skip
    print(f"wrote {path}; next: copy {args.out}/ to the board and run")
    print(f"  python3 {args.out.name}/board_agent.py {args.out.name} --out results.json")
    return 0


def load_results(path: Path) -> dict[str, Any]:
    from edgecheck.devicerun.judge import FIX, ResultsError

    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ResultsError(f"{path}: cannot read it ({why}); {FIX}.") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ResultsError(f"{path}: not valid JSON ({exc}); {FIX}.") from None
    if not isinstance(doc, dict):
        raise ResultsError(f"{path}: must hold a JSON object; {FIX}.")
    return doc


def _rows(results: list[Any]) -> list[dict[str, str]]:
    from edgecheck.claims import _fmt

    rows = []
    for r in results:
        paper, unit = r.claim.paper_value(r.key), r.claim.unit_for(r.key)
        rows.append({
            "claim": r.label, "source": r.claim.source,
            "paper": f"{_fmt(paper)}{unit}" if paper is not None else "-",
            "measured": f"{_fmt(r.measured)}{unit}" if r.measured is not None else "-",
            "threshold": r.threshold or "-",
            "margin": f"{r.margin:+.1%}" if r.margin is not None else "-",
            "verdict": r.message.split(": ", 1)[1] if r.verdict == "not run here" else r.verdict,
        })  # fmt: skip
    return rows


def _workload_rows(doc: dict[str, Any]) -> list[dict[str, str]]:
    import statistics

    rows = []
    for w in doc["workloads"]:
        samples = w["samples_s"]
        rows.append({
            "workload": w["name"], "status": w["status"], "samples": str(len(samples)),
            "median": f"{statistics.median(samples) * 1e3:.3f} ms" if samples else "-",
            "stable": {True: "yes", False: "no", None: "-"}.get(w.get("stable"), "?"),
            "reason": w.get("reason") or "; ".join(w.get("unstable_reasons") or []) or "",
        })  # fmt: skip
    return rows


def _judge(args: argparse.Namespace) -> int:
    from edgecheck._atomic import write_atomic
    from edgecheck.config import find_pyproject, load_config
    from edgecheck.devicerun.judge import judge_results, results_profile
    from edgecheck.plugin import format_table
    from edgecheck.report import markdown_table, verdict_counts, verdict_table

    doc = load_results(args.results)
    registry = load_config(find_pyproject(Path.cwd())).registry()
    results = judge_results(doc, registry, profile=args.profile, where=str(args.results))
    profile = results_profile(doc, args.profile, str(args.results))
    columns = ["claim", "source", "paper", "measured", "threshold", "margin", "verdict"]
    board = doc.get("board") or {}
    print(
        f"{args.results}: target {doc.get('target')}, board {board.get('model') or board.get('soc') or board.get('machine')}, "
        f"rules of profile {profile}"
    )
    if results:
        print(format_table(_rows(results), columns))
    print(f"claims: {verdict_counts(results)}")
    if args.out is not None:
        wcols = [(k, k) for k in ("workload", "status", "samples", "median", "stable", "reason")]
        md = "\n".join([
            f"# Device run: {doc.get('target')} judged with the {profile} rules", "",
            f"Results: `{args.results}` (agent {doc.get('agent_version')}, manifest sha256 "
            f"`{doc.get('manifest_sha256')}`), board `{board.get('model')}` "
            f"(SoC {board.get('soc')}, L4T {board.get('l4t')}), power "
            f"{(doc.get('power') or {}).get('status')}, {doc.get('started')} - "
            f"{doc.get('finished')}.", "",
            verdict_table(results) if results else "No claim has a rule for this profile.", "",
            f"Claims: {verdict_counts(results)}.", "", "## Workloads", "",
            markdown_table(_workload_rows(doc), wcols), "",
        ])  # fmt: skip
        judged = {
            "results": str(args.results), "profile": profile,
            "manifest_sha256": doc.get("manifest_sha256"), "target": doc.get("target"),
            "counts": verdict_counts(results), "verdicts": [r.as_dict() for r in results],
        }  # fmt: skip
        write_atomic(args.out / "report.md", md)
        write_atomic(args.out / "results-judged.json", json.dumps(judged, indent=2) + "\n")
        print(f"report: {args.out / 'report.md'}, {args.out / 'results-judged.json'}")
    return 1 if any(r.verdict == "FAIL" for r in results) else 0

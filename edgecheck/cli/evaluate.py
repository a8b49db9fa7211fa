"""``edgecheck evaluate``: run the paper's evaluation on this machine and write a report.

`add_parser` registers the command; `run` executes it (the experiments import torch and
onnxruntime inside). Exit status 1 under ``--strict`` when a claim fails, else 0.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from edgecheck import exitcodes
from edgecheck.cli.args import EPILOG
from edgecheck.errors import EdgecheckError
from edgecheck.options import add_profile_option

COMMANDS = ("evaluate",)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``evaluate`` on the ``edgecheck`` command's sub-parsers."""
    ev: argparse.ArgumentParser = subparsers.add_parser(
        "evaluate",
        help="run the paper's evaluation on this machine and write a report",
        description="Measure every claim this machine can check and write report.md (the "
        "paper's tables side by side with the values measured here) and results.json.",
        epilog=EPILOG,
    )
    ev.add_argument(
        "--out", type=Path, default=Path("edgecheck-report"), metavar="DIR",
        help="folder for report.md and results.json (default: %(default)s)",
    )  # fmt: skip
    ev.add_argument(
        "--only", action="append", metavar="EXPERIMENT",
        help="run only this experiment (repeatable); see the list in the report",
    )  # fmt: skip
    ev.add_argument("--strict", action="store_true", help="exit with status 1 when any claim fails")
    ev.add_argument("--no-progress", action="store_true", help="do not show a progress bar")
    add_profile_option(ev.add_argument, "--")
    return ev


def run(args: argparse.Namespace) -> int:
    from edgecheck.config import find_pyproject, load_config
    from edgecheck.device import detect_device
    from edgecheck.evaluation import experiments
    from edgecheck.report import write_report

    project = load_config(find_pyproject(Path.cwd()))
    registry = project.registry()
    device = detect_device(
        args.edgecheck_profile or project.profile,
        profile_flag="--profile" if args.edgecheck_profile else f"profile in {project.path}",
    )
    available = experiments()
    chosen = args.only or list(available)
    unknown = [name for name in chosen if name not in available]
    if unknown:
        raise EdgecheckError(
            f"unknown experiment(s) {', '.join(unknown)}; available: {', '.join(available)}."
        )
    from edgecheck.progress import listening

    progress = _progress(chosen, disable=args.no_progress)
    sections = []
    # The bar counts experiments; its postfix shows the step inside one (timing rounds,
    # pruned layers), noted by the measuring code through edgecheck.progress.
    with listening(progress.set_postfix_str):
        for name in progress:
            progress.set_description(f"edgecheck evaluate: {name}")
            sections.append(available[name](registry, device))
    paths = write_report(sections, device, args.out)
    results = [r for s in sections for r in s.results]
    from edgecheck.report import verdict_counts

    failed = [r for r in results if r.verdict == "FAIL"]
    print(f"profile {device.profile}: {verdict_counts(results)}")
    for r in failed:
        print(f"  FAIL {r.message}")
    print("report: " + ", ".join(str(p) for p in paths))
    return exitcodes.REGRESSION if (failed and args.strict) else exitcodes.OK


def _progress(items: list[str], *, disable: bool) -> Any:
    from tqdm import tqdm

    return tqdm(items, unit="experiment", disable=disable or None, file=sys.stderr)

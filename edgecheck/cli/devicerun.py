"""``edgecheck bundle``, ``judge`` and ``remote``: the host side of a device run.

`add_parser` registers the three commands on the ``edgecheck`` sub-parsers; `run` executes
one. ``judge`` exits 0 when every verdict passed or was not run, 1 on any FAIL, 2 on a results
file it cannot read (one line naming the file and the field). ``remote`` does bundle, copy,
agent, fetch (`edgecheck.devicerun.remote`, over the system's ssh) and then ``judge``'s own
code, with the same exit statuses; a board it cannot reach or an agent that failed is 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

COMMANDS = ("bundle", "judge", "remote")

FLOW = """\
The flow (the host does the heavy work, the board only measures):
  1. edgecheck bundle --target tx2 --models fqa,vgg16 bundle/      (on the host)
  2. scp -r bundle/ board:                                          (copy the folder)
  3. python3 bundle/board_agent.pyz bundle --out results.json       (on the board)
  4. scp board:results.json . && edgecheck judge results.json --out judged/
board_agent.pyz needs only Python 3.6+ (onnxruntime for the CPU workloads, trtexec for the
GPU ones); it sets the power mode in the manifest and restores it (--no-power: leave it).
`edgecheck remote board --target tx2` does the four steps in one command, over ssh."""


def _models(text: str) -> tuple[str, ...]:
    from edgecheck.devicerun.bundle import MODELS

    chosen = tuple(dict.fromkeys(m.strip() for m in text.split(",") if m.strip()))
    bad = [m for m in chosen if m not in MODELS]
    if bad or not chosen:
        raise argparse.ArgumentTypeError(
            f"models {text!r}: choose from {', '.join(MODELS)}, separated by commas"
        )
    return chosen


def _add_plan_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--models", type=_models, metavar="M[,M]",
        help="models to include: fqa, vgg16 (default: both; VGG16 adds about 1 GB on a GPU "
        "target, 530 MB on cpu)",
    )  # fmt: skip
    parser.add_argument(
        "--workload", action="append", metavar="GLOB",
        help="keep only the workloads whose names match (repeatable; e.g. 'fqa.fp32.b4@*', "
        "'*.trt'); a claim that needs a workload left out is 'not run here'",
    )  # fmt: skip


def _add_judge_options(parser: argparse.ArgumentParser) -> None:
    from edgecheck.devicerun.bundle import TARGETS

    parser.add_argument(
        "--profile", choices=TARGETS,
        help="whose rules (default: the board's profile_hint in the results)",
    )  # fmt: skip
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="also write report.md and results-judged.json"
    )


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``bundle``, ``judge`` and ``remote``; returns the ``judge`` parser."""
    from edgecheck.devicerun.bundle import TARGETS

    bundle: argparse.ArgumentParser = subparsers.add_parser(
        "bundle",
        help="write a bundle (models, inputs, agent, manifest) for a board to measure",
        description="Export the models at the target's opset (13 for tx2), convert FP16, "
        "quantize INT8 in TensorRT's form (orin, gpu), write the input blobs, copy the "
        "on-board agent (board_agent.pyz) and write manifest.json with every file's sha256 "
        "and the claims each workload serves. OUT must be empty unless --overwrite.",
        epilog=FLOW,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    bundle.add_argument("out", type=Path, metavar="OUT", help="the bundle folder to write")
    bundle.add_argument("--target", required=True, choices=TARGETS, help="the board's profile")
    _add_plan_options(bundle)
    bundle.add_argument(
        "--overwrite", action="store_true",
        help="write into a non-empty OUT (the bundle's own files are replaced)",
    )  # fmt: skip
    judge: argparse.ArgumentParser = subparsers.add_parser(
        "judge",
        help="judge a board agent's results.json against the claims' rules",
        description="Turn the samples in RESULTS.json (written by board_agent.pyz) into claim "
        "verdicts with this project's rules (pyproject.toml overrides apply) and print them. "
        "Exit status 0: every verdict passed or was not run; 1: a claim FAILED; 2: the "
        "results file cannot be read.",
        epilog=FLOW,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    judge.add_argument("results", type=Path, metavar="RESULTS.json")
    _add_judge_options(judge)
    _add_remote_parser(subparsers)
    return judge


REMOTE_EPILOG = """\
Steps (a progress line each on stderr):
  1. connect: ssh HOST checks the board's python (3.6+) and makes a folder (mktemp -d)
  2. bundle:  edgecheck bundle --target T into a local temporary folder (or --bundle DIR)
  3. copy:    the bundle as a tar stream over ssh into the board's folder
  4. run:     python3 board_agent.pyz . --out results.json there (its lines shown as they come)
  5. fetch:   results.json back to --results (default results.json)
  then the board's folder is removed (unless --keep) and the results are judged exactly as
  `edgecheck judge RESULTS.json` does (same table, same exit status).
ssh is the system's OpenSSH client: ~/.ssh/config, ProxyJump, the ssh agent's keys and
known_hosts apply as to your own ssh. BatchMode=yes: it never asks for a password; set up
key login first (ssh-copy-id HOST) and check it with `ssh HOST true`."""


def _add_remote_parser(subparsers: Any) -> None:
    from edgecheck.devicerun.bundle import TARGETS

    remote: argparse.ArgumentParser = subparsers.add_parser(
        "remote",
        help="bundle, copy to a board over ssh, run the agent there, fetch and judge",
        description="Run the whole device flow against HOST in one command: write a bundle "
        "for --target, copy it to the board over ssh, run board_agent.pyz there with the "
        "board's Python, fetch results.json and judge it with this project's rules. Exit "
        "status as `edgecheck judge` (0 passed or not run, 1 a claim FAILED); 2 when the "
        "board cannot be reached, the agent fails or its results are missing.",
        epilog=REMOTE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    remote.add_argument("host", metavar="HOST", help="the board as ssh takes it (user@host, alias)")
    remote.add_argument(
        "--target", choices=TARGETS, default=None,
        help="the board's profile, for the bundle (default: from the board's SoC: tx2 on a "
        "tegra186, orin on a tegra234, else cpu; not with --bundle)",
    )  # fmt: skip
    _add_plan_options(remote)
    remote.add_argument(
        "--bundle", type=Path, metavar="DIR",
        help="copy this bundle (from `edgecheck bundle`) instead of writing one",
    )  # fmt: skip
    remote.add_argument(
        "--remote-dir", metavar="DIR",
        help="the folder on the board (created if missing; removed afterwards only if this "
        "run created it; default: a fresh mktemp -d)",
    )  # fmt: skip
    remote.add_argument(
        "--python", default="python3", metavar="PYTHON",
        help="the board's Python 3.6+, a command line (default: %(default)s; e.g. "
        "'sudo -n python3' to let the agent set the power mode)",
    )  # fmt: skip
    remote.add_argument(
        "--ssh-option", action="append", default=[], metavar="KEY=VALUE",
        help="an ssh -o option (repeatable), e.g. Port=2222, IdentityFile=~/.ssh/jetson, "
        "ProxyJump=gateway",
    )  # fmt: skip
    remote.add_argument(
        "-F", "--ssh-config", type=Path, metavar="FILE",
        help="an ssh config file instead of ~/.ssh/config (ssh -F)",
    )  # fmt: skip
    remote.add_argument(
        "--keep", action="store_true", help="leave the board's folder (bundle, results) in place"
    )
    remote.add_argument(
        "--no-power", action="store_true",
        help="tell the agent to leave the power state alone (no nvpmodel/jetson_clocks)",
    )  # fmt: skip
    remote.add_argument(
        "--results", type=Path, default=Path("results.json"), metavar="FILE",
        help="where to put the board's results.json (default: %(default)s)",
    )  # fmt: skip
    _add_judge_options(remote)


def run(args: argparse.Namespace) -> int:
    from edgecheck.devicerun.judge import ResultsError

    if args.command == "bundle":
        return _bundle(args)
    try:
        return _remote(args) if args.command == "remote" else _judge(args)
    except ResultsError as exc:
        print(f"edgecheck {args.command}: error: {exc}", file=sys.stderr)
        return 2


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _indented(line: str) -> None:
    _say(f"  {line}")


def _bundle(args: argparse.Namespace) -> int:
    from edgecheck.devicerun.bundle import MODELS, write_bundle

    path = write_bundle(
        args.out, args.target, models=args.models or MODELS, overwrite=args.overwrite, note=_say,
        workloads=args.workload,
    )  # fmt: skip
    print(f"wrote {path}; next: copy {args.out}/ to the board and run")
    print(f"  python3 {args.out.name}/board_agent.pyz {args.out.name} --out results.json")
    return 0


def _remote(args: argparse.Namespace) -> int:
    """connect -> bundle -> copy -> run -> fetch -> clean, then `_judge` on the results."""
    import tempfile

    from edgecheck.devicerun.bundle import MODELS, write_bundle
    from edgecheck.devicerun.remote import Board, RemoteError, Ssh, option_words

    if args.bundle is not None and (args.target or args.workload or args.models):
        raise RemoteError(
            "--bundle copies a bundle as it is; drop --target/--models/--workload, or drop "
            "--bundle to write a new one."
        )
    if args.bundle is not None and not (args.bundle / "manifest.json").is_file():
        raise RemoteError(
            f"--bundle {args.bundle}: no manifest.json in it; give a folder that "
            "`edgecheck bundle` wrote."
        )
    ssh = Ssh(args.host, option_words(args.ssh_option), args.ssh_config)

    def step(n: int, text: str) -> None:
        _say(f"edgecheck remote: [{n}/5] {text}")

    step(1, f"connect: {args.host} ({args.python}, folder {args.remote_dir or 'mktemp -d'})")
    board = Board.connect(ssh, python=args.python, remote_dir=args.remote_dir, say=_say)
    _say(
        f"  board: Python {board.python_version}, {board.soc or 'no device tree'}, folder {board.where}"
    )
    try:
        with tempfile.TemporaryDirectory(prefix="edgecheck-remote-") as tmp:
            bundle = args.bundle
            if bundle is None:
                target = args.target or board.target
                models = args.models or MODELS
                step(2, f"bundle: --target {target} --models {','.join(models)}")
                bundle = Path(tmp) / "bundle"
                write_bundle(bundle, target, models=models, workloads=args.workload, note=_indented)
            else:
                step(2, f"bundle: {bundle} (as it is)")
            step(3, f"copy: {bundle} -> {board.where}")
            size = board.copy(bundle)
            _say(f"  copied {size / 1e6:.1f} MB")
        step(4, f"run: {board.python} board_agent.pyz . --out results.json on {args.host}")
        code = board.run_agent(no_power=args.no_power)
        if code:
            _say(
                f"edgecheck remote: warning: board_agent.pyz exited {code} (a workload error or "
                "the power state; see its lines above); its results are judged"
            )
        step(5, f"fetch: {board.where}/results.json -> {args.results}")
        board.fetch(args.results)
    finally:
        board.clean(keep=args.keep)
    return _judge(argparse.Namespace(results=args.results, profile=args.profile, out=args.out))


def verdict_rows(results: list[Any]) -> list[dict[str, str]]:
    """One row per claim verdict, as `edgecheck judge` prints them (and the plugin test compares)."""
    from edgecheck.formatting import significant

    rows = []
    for r in results:
        paper, unit = r.claim.paper_value(r.key), r.claim.unit_for(r.key)
        rows.append({
            "claim": r.label, "source": r.claim.source,
            "paper": f"{significant(paper)}{unit}" if paper is not None else "-",
            "measured": f"{significant(r.measured)}{unit}" if r.measured is not None else "-",
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
    from edgecheck.devicerun.judge import judge_results, load_results, results_profile
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
        print(format_table(verdict_rows(results), columns))
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

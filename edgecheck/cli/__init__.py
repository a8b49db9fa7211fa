"""The ``edgecheck`` command: run the paper's evaluation, count MACs, describe the device.

One module per command in this package (`COMMAND_MODULES`), each with ``COMMANDS`` (the names
it registers), ``add_parser(subparsers)`` and ``run(args) -> int``; what their arguments share
is in `edgecheck.cli.args`. Feature packages hold no command-line code.

Every sub-command has ``--help``, which ends with the exit statuses (`edgecheck.exitcodes`).
Every error prints one line to stderr (what is wrong and what to do on the command line) and
never a traceback: a bad option or input exits with status 2, a regression or a failed claim
under ``evaluate --strict`` with 1, an undecidable A/B with 3, an unexpected error with 4.

Start-up imports no torch, numpy, onnx or onnxruntime: argparse setup is plain Python and the
commands import what they need inside `run` (`tests/unit/cli/test_cli_errors.py` checks it,
`benchmarks/cli_start.py` times it).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from edgecheck import __version__, exitcodes
from edgecheck.cli.args import EPILOG, Parser
from edgecheck.errors import EdgecheckError

# The command modules, in the order `edgecheck --help` lists their commands.
COMMAND_MODULES: tuple[str, ...] = (
    "edgecheck.cli.evaluate",
    "edgecheck.cli.macs",
    "edgecheck.cli.device",
    "edgecheck.cli.prune",
    "edgecheck.cli.train",
    "edgecheck.cli.baselines",
    "edgecheck.cli.ab",
    "edgecheck.cli.pipeline",
    "edgecheck.cli.devicerun",
    "edgecheck.cli.history",
    "edgecheck.cli.models",
)


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="edgecheck",
        description="Performance regression checks for deep learning on edge devices, "
        "built on the paper's claims (parallelism, quantization, pruning).",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"edgecheck {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in _command_modules():
        module.add_parser(sub)
    return parser


def _command_modules() -> list[Any]:
    import importlib

    return [importlib.import_module(name) for name in COMMAND_MODULES]


def _handler(command: str) -> Any:
    for module in _command_modules():
        if command in module.COMMANDS:
            return module.run
    raise EdgecheckError(f"no handler for command '{command}'")  # a wiring bug, not user input


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``edgecheck`` command; returns its exit status (`edgecheck.exitcodes`)."""
    # --help and --version raise SystemExit(0), a bad option SystemExit(2) (`Parser.error`).
    args = build_parser().parse_args(argv)
    try:
        status = int(_handler(args.command)(args))
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's last flush
        return status
    except EdgecheckError as exc:
        _error_line(args.command, "error", exc)
        return exitcodes.USAGE
    except KeyboardInterrupt:
        print(f"edgecheck {args.command}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # The reader of stdout stopped early (`edgecheck macs vgg16 | head`): no error of
        # edgecheck's. End quietly with the status a shell gives a tool ended by SIGPIPE;
        # stdout goes to /dev/null so the interpreter's final flush does not fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return exitcodes.BROKEN_PIPE
    except Exception as exc:
        if os.environ.get(exitcodes.TRACEBACK_VARIABLE, "").strip() not in ("", "0"):
            raise
        _error_line(
            args.command, "internal error", exc,
            f" (a bug in edgecheck, not a verdict: rerun with {exitcodes.TRACEBACK_VARIABLE}=1 "
            "and report the traceback)",
        )  # fmt: skip
        return exitcodes.INTERNAL


def _error_line(command: str, kind: str, exc: BaseException, suffix: str = "") -> None:
    """One line on stderr, whatever newlines the message holds."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    if kind != "error":
        text = f"{type(exc).__name__}: {text}"
    print(f"edgecheck {command}: {kind}: {text}{suffix}", file=sys.stderr)

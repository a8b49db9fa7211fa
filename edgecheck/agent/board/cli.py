"""The command line: ``python3 board_agent.pyz BUNDLE --out results.json``."""

# Python 3.6 compatibility: no `from __future__ import annotations`, no dataclasses, no walrus,
# no `capture_output=`/`text=` in subprocess, typing.List/Dict annotations.

import argparse
import signal
import sys
from typing import Any, Optional, Sequence

from edgecheck.agent.board.common import EXIT_BUNDLE, EXIT_INTERRUPTED, BundleError
from edgecheck.agent.board.workloads import run_agent

EPILOG = """\
the bundle:
  BUNDLE/manifest.json (schema 1) lists the files with their sha256, the power state
  (nvpmodel mode, jetson_clocks, settle time; or null) and the workloads (runtime onnxruntime
  or trtexec, model, raw little-endian input files, precision, cores, threads, warm-up,
  repeats). `edgecheck bundle` on the host writes it; the docstring of the package
  edgecheck.agent.board (its __init__.py, in this archive too) is the full contract.

what it does:
  verifies every file's sha256; probes the board (device tree, L4T, /proc/cpuinfo, online
  CPUs, cpufreq, thermal zones, nvpmodel -q, jetson_clocks --show); sets the power state and
  restores it on exit, error or Ctrl-C; pins each workload to CPUs of one core type; times it
  (onnxruntime in this process, or trtexec with an engine cached in BUNDLE/engines/); marks it
  unstable when clocks moved by > 5 %% or a thermal zone rose by > 10 C or above 80 C; writes
  --out atomically.

exit codes:
  0    every workload ran, or was "not run" for a stated reason
  1    a workload ended in "error", or the power state could not be set or restored
  2    the bundle is broken (manifest, missing file, sha256): nothing measured or written
  130  interrupted: power state restored, nothing written
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="board_agent.pyz",
        description="edgecheck's on-board agent: measure a bundle's workloads on this board "
        "and write results.json. Python 3.6+, standard library only (numpy and onnxruntime "
        "for onnxruntime workloads, trtexec for TensorRT ones).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("bundle", help="the bundle folder (holds manifest.json)")
    parser.add_argument("--out", help="where to write results.json (required unless --dry-run)")
    parser.add_argument(
        "--no-power",
        action="store_true",
        help="leave the power state as it is (no nvpmodel / jetson_clocks changes)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="verify the bundle, probe the board and print what would run; change nothing",
    )
    parser.add_argument(
        "--root",
        default="/",
        help="read the board's /proc, /sys and /etc files under this folder (for tests; default /)",
    )
    return parser


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt("signal %d" % signum)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.dry_run and not args.out:
        parser.error("--out is required (or use --dry-run)")
    # SIGTERM and SIGHUP (the ssh session to the board dropped) unwind like Ctrl-C, so the
    # power state is restored on the way out.
    caught = [s for s in (signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None]
    old_handlers = [(s, signal.signal(s, _raise_interrupt)) for s in caught]
    try:
        return run_agent(
            args.bundle, args.out, root=args.root, no_power=args.no_power, dry_run=args.dry_run
        )
    except BundleError as exc:
        sys.stderr.write("board_agent: bundle error: %s\n" % exc)
        return EXIT_BUNDLE
    except KeyboardInterrupt:
        sys.stderr.write(
            "board_agent: interrupted; the power state was restored (if it was changed), "
            "no results written\n"
        )
        return EXIT_INTERRUPTED
    finally:
        for signum, handler in old_handlers:
            signal.signal(signum, handler)

"""``edgecheck ab OLD NEW``: time two models interleaved on this machine and judge NEW.

`add_parser` registers the command; `run` executes it (onnxruntime/torch imported inside).
Before any timing both models' inputs (name, sizes, element type) are read and compared; a
mismatch, like any unreadable file, is one line and status 2. Exit status 1 when NEW is a
regression, 3 when the measurement cannot decide, 0 otherwise (`edgecheck.exitcodes`).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from edgecheck import exitcodes
from edgecheck.cli.args import input_shape, positive_int

COMMANDS = ("ab",)


def _tolerance(text: str) -> Any:
    from edgecheck.baselines import BaselineCheck
    from edgecheck.errors import BaselineError

    try:
        return BaselineCheck.parse(text)
    except BaselineError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be a positive number of seconds")
    return value


def max_time(args: argparse.Namespace) -> float:
    """The timing policy's wall-clock cap: --max-time, else max(300 s, 4 x --time)."""
    return args.max_time if args.max_time is not None else max(300.0, 4 * args.time)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``ab`` on the ``edgecheck`` sub-parsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "ab",
        help="time two models interleaved here and say whether NEW is slower than OLD",
        description="Measure OLD and NEW round by round (A B A B ...) on this machine, so drift "
        "hits both alike, then judge NEW against OLD with the baselines' rule: a regression "
        "when NEW is slower than OLD by more than the tolerance with the stated confidence "
        "(one-sided Mann-Whitney U against OLD's samples scaled by 1 + tolerance), an "
        "improvement the other way, unchanged when the ratio's interval lies inside the "
        "tolerance band, undecided otherwise. OLD and NEW are ONNX files or model names "
        "(see 'edgecheck models': built in, or the project's [tool.edgecheck.models]); both "
        "must take the same input (name, sizes, element type), checked before any timing. "
        "Exits 1 on a regression, 3 when too noisy to decide.",
        epilog="Example: edgecheck ab model_main.onnx model_pr.onnx --tolerance 3%% --time 20",
    )
    parser.add_argument("old", metavar="OLD", help="ONNX file or registered model (the reference)")
    parser.add_argument("new", metavar="NEW", help="ONNX file or registered model (the candidate)")
    parser.add_argument(
        "--backend", choices=("onnxruntime", "torch"), default="onnxruntime",
        help="runtime for both models (torch takes registered models only; default: %(default)s)",
    )  # fmt: skip
    parser.add_argument("--batch", type=positive_int, default=1, help="batch size (default: 1)")
    parser.add_argument("--threads", type=positive_int, default=1, help="threads (default: 1)")
    parser.add_argument(
        "--time", type=_positive_float, default=10.0, metavar="SECONDS",
        help="seconds of timed calls per model, at least (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--max-time", type=_positive_float, default=None, metavar="SECONDS",
        help="wall-clock cap for the whole measurement, warm-up included "
        "(default: the larger of 300 and 4 x --time)",
    )  # fmt: skip
    parser.add_argument(
        "--input-shape", type=input_shape, default=None, metavar="C,H,W",
        help="one example's shape without the batch axis, for ONNX files whose sizes are not "
        "fixed (default: the file's, or the registered model's)",
    )  # fmt: skip
    parser.add_argument(
        "--tolerance", type=_tolerance, default=None, metavar="TOL",
        help="slowdown that counts, with optional confidence: 5%%, 3%%@0.99, 0.05 "
        "(default: 5%%@0.99)",
    )  # fmt: skip
    parser.add_argument(
        "--slowdown", type=float, default=1.0, metavar="FACTOR",
        help="test the test: make NEW this factor slower by busy-waiting (e.g. 1.1)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print JSON")
    return parser


def run(args: argparse.Namespace) -> int:
    """Execute ``edgecheck ab``; returns 1 on a regression, 3 when undecided, else 0."""
    from pathlib import Path

    from edgecheck.ab import ab_compare, check_same_input, input_signature, is_model_file
    from edgecheck.baselines import BaselineCheck
    from edgecheck.bench.timing import TimingError, TimingPolicy
    from edgecheck.cli.args import model_argument
    from edgecheck.errors import ConfigError

    cap = max_time(args)
    if cap < 2 * args.time:
        raise ConfigError(
            f"--max-time {cap:g} s leaves no room for --time {args.time:g} s of calls of each "
            f"model; give --max-time {4 * args.time:g} or more, or a "
            f"smaller --time."
        )

    # A project model by name gives its file (or registered name) and input shape.
    (old, old_shape), (new, new_shape) = (
        model_argument(m, args.input_shape) for m in (args.old, args.new)
    )
    for model in (old, new):
        if is_model_file(model) and args.backend == "torch":
            raise ConfigError(
                f"{model}: --backend torch runs registered models only, not ONNX files; "
                f"drop --backend torch (onnxruntime runs both)."
            )
    # Inputs first: a mismatch is refused in a moment instead of after minutes of timing.
    old_input = input_signature(old, input_shape=old_shape)
    new_input = input_signature(new, input_shape=new_shape)
    check_same_input(old_input, new_input, batch_size=args.batch)

    from edgecheck.backends import make_runner
    from edgecheck.testing import Slowdown

    def runner(model: str, shape: tuple[int, ...] | None) -> Any:
        return make_runner(
            Path(model) if is_model_file(model) else model, args.backend,
            batch_size=args.batch, threads=args.threads, device="cpu", input_shape=shape,
        )  # fmt: skip

    try:
        result = ab_compare(
            runner(old, old_shape),
            Slowdown(args.slowdown)(runner(new, new_shape)),
            policy=TimingPolicy(min_time=args.time, max_time=cap),
            check=args.tolerance or BaselineCheck(),
        )
    except TimingError as exc:
        raise ConfigError(
            f"{exc} (on the command line: --max-time SECONDS, now {cap:g}; or a smaller --time)"
        ) from None
    if args.json:
        print(json.dumps(result.as_dict(), indent=2))
    else:
        v = result.verdict
        for m in (result.old, result.new):
            flag = f"  UNSTABLE: {m.reason}" if m.unstable else ""
            print(
                f"{m.name}: median {m.stats.median * 1e3:.4g} ms (IQR {m.stats.iqr * 1e3:.3g} ms, "
                f"{m.stats.n} rounds){flag}"
            )
        if v.ratio is not None and v.ci_low is not None and v.ci_high is not None:
            print(
                f"NEW/OLD time ratio {v.ratio:.4g} [{v.confidence:.0%} CI {v.ci_low:.4g}-"
                f"{v.ci_high:.4g}]: {v.status}"
            )
        print(v.message)
    return exit_status(result.verdict.status)


def exit_status(status: str) -> int:
    """The exit status for a verdict: regression 1, undecided 3, anything else 0."""
    if status == "regression":
        return exitcodes.REGRESSION
    if status == "undecided":
        return exitcodes.UNDECIDED
    return exitcodes.OK

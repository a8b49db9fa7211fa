"""``edgecheck ab OLD NEW``: time two models interleaved on this machine and judge NEW.

`add_parser` registers the command; `run` executes it (onnxruntime/torch imported inside).
Exit status 1 when NEW is a regression, 0 otherwise (unchanged, improvement, undecided).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from edgecheck.options import positive_int

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
        "(see 'edgecheck models': built in, or the project's [tool.edgecheck.models]). "
        "Exits 1 on a regression.",
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
    """Execute ``edgecheck ab``; returns 1 on a regression, else 0."""
    from edgecheck.ab import ab_compare
    from edgecheck.backends import make_runner
    from edgecheck.baselines import BaselineCheck
    from edgecheck.bench.timing import TimingPolicy
    from edgecheck.config import project_model

    def runner(model: str, slowdown: float) -> Any:
        user = project_model(model)  # a model of the project's [tool.edgecheck.models]
        source, shape = (user.source(), user.input_shape) if user is not None else (model, None)
        return make_runner(source, args.backend, batch_size=args.batch, threads=args.threads,
                           device="cpu", slowdown=slowdown, input_shape=shape)  # fmt: skip

    result = ab_compare(
        runner(args.old, 1.0),
        runner(args.new, args.slowdown),
        policy=TimingPolicy(min_time=args.time, max_time=max(300.0, 4 * args.time)),
        check=args.tolerance or BaselineCheck(),
    )
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
    return 0 if result else 1

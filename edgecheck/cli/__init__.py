"""The ``edgecheck`` command: run the paper's evaluation, count MACs, describe the device.

Every sub-command has ``--help``, which ends with the exit statuses (`edgecheck.exitcodes`).
Every error prints one line to stderr (what is wrong and what to do on the command line) and
never a traceback: a bad option or input exits with status 2, a regression or a failed claim
under ``evaluate --strict`` with 1, an undecidable A/B with 3, an unexpected error with 4.

Start-up imports no torch, numpy, onnx or onnxruntime: argparse setup is plain Python and the
commands import what they need inside (`tests/unit/test_cli_errors.py` checks it,
`benchmarks/cli_start.py` times it).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgecheck import __version__, exitcodes
from edgecheck.bench.calibration import CALIBRATION_BAND
from edgecheck.errors import EdgecheckError, ModelError
from edgecheck.options import add_profile_option

if TYPE_CHECKING:
    from edgecheck.macs import MACReport

EPILOG = "Claims come from Qi & Liu, 'Enabling Deep Learning on IoT Edge'; see README.md."


def _parse_shape(text: str) -> tuple[int, ...]:
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"input shape {text!r} must be sizes separated by commas, e.g. 3,224,224"
        ) from None
    if not shape or any(d <= 0 for d in shape):
        raise argparse.ArgumentTypeError(f"input shape {text!r} must have positive sizes")
    return shape


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, but a paragraph whose lines start with spaces keeps its lines."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n\n".join(
            "\n".join(indent + line for line in part.splitlines())
            if "\n " in part
            else super(HelpFormatter, self)._fill_text(part, width, indent)
            for part in text.split("\n\n")
        )


class Parser(argparse.ArgumentParser):
    """Every ``edgecheck`` (sub-)parser: exit statuses at the end of ``--help``, one-line errors.

    Sub-parsers are made with the parent's class, so every command gets both.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        epilog = kwargs.get("epilog")
        kwargs["epilog"] = (f"{epilog}\n\n" if epilog else "") + exitcodes.help_text()
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> Any:  # argparse's NoReturn, kept loose for subclasses
        """A bad option: one line, with where to read about the options, and status 2."""
        self.exit(exitcodes.USAGE, f"{self.prog}: error: {message}; see '{self.prog} --help'\n")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="edgecheck",
        description="Performance regression checks for deep learning on edge devices, "
        "built on the paper's claims (parallelism, quantization, pruning).",
        epilog=EPILOG,
    )
    parser.add_argument("--version", action="version", version=f"edgecheck {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    ev = sub.add_parser(
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

    mc = sub.add_parser(
        "macs",
        help="print a model's MACs per layer by Eq. 1 (Table VI style)",
        description="Count multiply-accumulates per conv/linear layer by the paper's Eq. 1 "
        "(H_f x W_f x N_in x N_out x H_k x W_k). MODEL is a registered model name or an "
        ".onnx file.",
        epilog="Example: edgecheck macs vgg16 --plan paper",
    )
    mc.add_argument(
        "model",
        metavar="MODEL",
        help="registered model (see 'edgecheck models') or path to an .onnx file",
    )
    mc.add_argument(
        "--plan", metavar="NAME",
        help="VGG16 channel plan to compare with the full model ('paper' = Table VI)",
    )  # fmt: skip
    mc.add_argument(
        "--onnx", action="store_true",
        help="export the registered model(s) to ONNX and count on the exported graph",
    )  # fmt: skip
    mc.add_argument(
        "--input-shape", type=_parse_shape, metavar="C,H,W",
        help="input shape without the batch axis (default: the model's own)",
    )  # fmt: skip
    mc.add_argument("--json", action="store_true", help="print JSON instead of a table")

    dv = sub.add_parser(
        "device",
        help="print this machine's profile, capabilities, identity and calibration",
        description="Detect the device profile (tx2, orin, gpu, cpu), what the hardware computes "
        "natively (FP16, BF16, INT8 dot products), the runtimes present, and the device "
        "identity that results and baselines record: the fingerprint fields that decide "
        "speed (CPU vendor, family, model, stepping, ISA features, cores, memory, runtime "
        "versions, CUDA device, Jetson release), hashed into the fingerprint id, and what is "
        "recorded beside them (OS, Python, CPU name). Then measure the calibration (one-core "
        "sgemm GFLOP/s and memory read GB/s, 2-3 s): a stored timing is compared only on a "
        "machine with the same fingerprint id and a calibration within "
        f"{CALIBRATION_BAND:.0%} of the one stored with it.",
    )
    dv.add_argument("--json", action="store_true", help="print JSON")
    dv.add_argument(
        "--no-calibration", action="store_true",
        help="do not measure the calibration (saves 2-3 s)",
    )  # fmt: skip
    add_profile_option(dv.add_argument, "--")

    for module in _extension_modules():
        module.add_parser(sub)
    sub.add_parser(
        "models", help="list the registered models",
        description="List the models edgecheck knows by name: the built-in ones and the "
        "project's own, from [tool.edgecheck.models] in the nearest pyproject.toml at or "
        "above the current directory.",
    )  # fmt: skip
    return parser


def _cmd_models(_: argparse.Namespace) -> int:
    from edgecheck.config import BUILTIN_MODELS, check_model_names, find_pyproject, load_config
    from edgecheck.models import available_models, get_model_spec

    project = load_config(find_pyproject(Path.cwd()))  # [tool.edgecheck.models], as pytest
    check_model_names(project)
    ours = {m.name for m in project.models}
    for name in available_models():
        if name in ours:
            continue  # a project factory model registered earlier in this process
        spec = get_model_spec(name)
        shape = "x".join(map(str, spec.input_shape))
        origin = "built in" if name in BUILTIN_MODELS else "registered"
        print(f"{name:<10} input {shape:<10} {spec.description} [{origin}: {spec.source}]")
    for model in project.models:
        shape = "x".join(map(str, model.input_shape))
        print(
            f"{model.name:<10} input {shape:<10} {model.description} [{model.origin(Path.cwd())}]"
        )
    return 0


def _is_onnx_file(model: str) -> bool:
    return model.lower().endswith(".onnx") or Path(model).is_file()


def _count(model: str, plan: str | None, onnx: bool, shape: tuple[int, ...] | None) -> MACReport:
    import tempfile

    from edgecheck.macs import count_macs, count_onnx_macs

    if _is_onnx_file(model):
        return count_onnx_macs(model)
    spec = registered_model(model)
    input_shape = shape or spec.input_shape
    options = {"plan": plan} if plan else {}
    if not onnx:
        return count_macs(spec.build(device="meta", **options), input_shape)
    from edgecheck.export import export_onnx

    with tempfile.TemporaryDirectory() as tmp:
        path = export_onnx(spec.build(**options), input_shape, Path(tmp) / f"{model}.onnx",
                           export_params=False)  # fmt: skip
        return count_onnx_macs(path)


def model_argument(
    model: str, input_shape: tuple[int, ...] | None = None
) -> tuple[str, tuple[int, ...] | None]:
    """What `edgecheck.backends.make_runner` takes for a command's MODEL argument, and the
    input shape: a project model (``[tool.edgecheck.models]``) by name gives its ONNX file or
    registered name and its shape (`input_shape`, from the command line, wins); an ONNX file or
    a built-in name is itself. An unknown name is a `ModelError` naming ``edgecheck models``.
    """
    from edgecheck.config import project_model

    user = project_model(model)
    if user is not None:
        return user.source(), input_shape or user.input_shape
    if not _is_onnx_file(model):
        registered_model(model)
    return model, input_shape


def registered_model(name: str) -> Any:
    """The registered model `name`; an unknown one is a `ModelError` with the CLI's remedy."""
    from edgecheck.models import get_model_spec

    try:
        return get_model_spec(name)
    except ModelError as exc:
        raise ModelError(
            f"{exc} Run `edgecheck models` to list them, or give the path of an .onnx file."
        ) from None


def _cmd_macs(args: argparse.Namespace) -> int:
    from edgecheck.config import project_model
    from edgecheck.macs import format_macs_table

    user = project_model(args.model)  # a model of the project's [tool.edgecheck.models]
    model = user.source() if user is not None else args.model
    # A project's ONNX model is its file: the graph fixes the shapes, as for a path.
    is_file = _is_onnx_file(model)
    if is_file and (args.plan or args.onnx or args.input_shape):
        used = [o for o, v in (("--plan", args.plan), ("--onnx", args.onnx),
                               ("--input-shape", args.input_shape)) if v]  # fmt: skip
        raise ModelError(
            f"{args.model}: {', '.join(used)} {'apply' if len(used) > 1 else 'applies'} to "
            f"registered models, not to an ONNX file "
            f"(its graph fixes the shapes); drop {', '.join(used)}."
        )
    if args.plan and args.model != "vgg16":
        raise EdgecheckError(
            f"--plan applies to vgg16 only (got model '{args.model}'); drop --plan or use vgg16."
        )
    base = _count(model, None, args.onnx, args.input_shape)
    after = _count(model, args.plan, args.onnx, args.input_shape) if args.plan else None
    if args.json:
        payload = {"model": args.model, "macs": base.as_dict()}
        if after is not None:
            payload["plan"] = args.plan
            payload["macs_after"] = after.as_dict()
        print(json.dumps(payload, indent=2))
        return exitcodes.OK
    # Say what was counted: the file's graph, an export of the torch model, or its forward.
    source = "ONNX graph" if is_file else ("exported ONNX graph" if args.onnx else "torch forward")
    if user is not None and user.onnx is not None:
        source = f"ONNX graph, {user.origin(Path.cwd()).removeprefix('onnx: ')}"
    title = f"{args.model}: MACs by Eq. 1 ({source})"
    if after is not None:
        title = f"{args.model}: full vs plan '{args.plan}', MACs by Eq. 1 ({source})"
    print(format_macs_table(base, compare=after, title=title))
    return exitcodes.OK


def _cmd_device(args: argparse.Namespace) -> int:
    from edgecheck.bench.calibration import calibrate_once
    from edgecheck.device import describe_device, detect_device

    info = detect_device(args.edgecheck_profile, profile_flag="--profile")
    if args.json:
        payload = info.as_dict()
        calibration = None if args.no_calibration else calibrate_once(info.fingerprint_id)
        payload["calibration"] = calibration.as_dict() if calibration else None
        print(json.dumps(payload, indent=2, default=str))
        return 0
    print(describe_device(info))
    if args.no_calibration:
        print("calibration: not measured (--no-calibration)")
        return 0
    print("calibration: measuring one-core sgemm and memory read (2-3 s) ...", flush=True)
    print(f"calibration: {calibrate_once(info.fingerprint_id).text()}")
    return 0


def _cmd_evaluate(args: argparse.Namespace) -> int:
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


COMMANDS = {
    "evaluate": _cmd_evaluate,
    "macs": _cmd_macs,
    "device": _cmd_device,
    "models": _cmd_models,
}


# Feature packages contribute whole sub-commands: each module has add_parser(subparsers),
# which registers one command, and run(args) -> int. Their heavy imports stay inside run().
EXTENSIONS: tuple[str, ...] = (
    "edgecheck.cli.prune",
    "edgecheck.cli.train",
    "edgecheck.cli.baselines",
    "edgecheck.cli.ab",
    "edgecheck.cli.pipeline",
    "edgecheck.cli.devicerun",
    "edgecheck.cli.history",
)


def _extension_modules() -> list[Any]:
    import importlib

    return [importlib.import_module(name) for name in EXTENSIONS]


def _handler(command: str) -> Any:
    if command in COMMANDS:
        return COMMANDS[command]
    for module in _extension_modules():
        if command in getattr(module, "COMMANDS", ()):
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


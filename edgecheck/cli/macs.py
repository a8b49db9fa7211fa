"""``edgecheck macs MODEL``: a model's MACs per layer by the paper's Eq. 1 (Table VI style).

`add_parser` registers the command; `run` executes it (torch, or onnx for a file, imported
inside). A registered model is counted on the meta device: no weights are built.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgecheck import exitcodes
from edgecheck.cli.args import input_shape, is_onnx_file, registered_model
from edgecheck.errors import EdgecheckError, ModelError

if TYPE_CHECKING:
    from edgecheck.macs import MACReport

COMMANDS = ("macs",)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``macs`` on the ``edgecheck`` command's sub-parsers."""
    mc: argparse.ArgumentParser = subparsers.add_parser(
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
        "--input-shape", type=input_shape, metavar="C,H,W",
        help="input shape without the batch axis (default: the model's own)",
    )  # fmt: skip
    mc.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return mc


def _count(model: str, plan: str | None, onnx: bool, shape: tuple[int, ...] | None) -> MACReport:
    import tempfile

    from edgecheck.macs import count_macs, count_onnx_macs

    if is_onnx_file(model):
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


def run(args: argparse.Namespace) -> int:
    from edgecheck.config import project_model
    from edgecheck.macs import format_macs_table

    user = project_model(args.model)  # a model of the project's [tool.edgecheck.models]
    model = user.source() if user is not None else args.model
    # A project's ONNX model is its file: the graph fixes the shapes, as for a path.
    is_file = is_onnx_file(model)
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

"""``edgecheck prune MODEL --plan PLAN``: He et al.'s channel pruning from the command line.

Prunes a registered model (deterministic weights, or ``--weights`` from a state dict) from
synthetic sampling images, writes the pruned model as ONNX, a torch state dict and a JSON
summary (each atomically), and prints the Table VI-style before/after MAC table measured on the
pruned model. `add_parser` registers the command; `run` executes it (heavy imports inside).
"""

from __future__ import annotations

import argparse
import io
import json
import sys
from pathlib import Path
from typing import Any

from edgecheck.cli.args import image_shape, positive_int
from edgecheck.errors import EdgecheckError, ModelError, PlanError

COMMANDS = ("prune",)
DEFAULT_IMAGES = 512


def _plan_arg(text: str) -> Any:
    from edgecheck.prune.plan import parse_plan

    try:
        return parse_plan(text)
    except PlanError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``prune`` on the ``edgecheck`` command's sub-parsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "prune",
        help="channel-prune a model (He et al.: LASSO selection + least squares)",
        description="Prune conv output channels with He, Zhang & Sun's method: per layer, "
        "front to back, LASSO picks the channels that best reconstruct the next layer's "
        "output on sampled feature-map points, then least squares refits the next layer. "
        "Writes DIR/MODEL-pruned.onnx, .pt (state dict) and .json, and prints the MACs "
        "before and after by Eq. 1 (Table VI).",
        epilog="Examples: edgecheck prune vgg16 --plan paper; edgecheck prune fqa --plan 0.5; "
        "edgecheck prune vgg16 --plan conv1_1=24,conv1_2=0.4 --method l1",
    )
    parser.add_argument("model", metavar="MODEL", help="registered model (see 'edgecheck models')")
    parser.add_argument(
        "--plan", type=_plan_arg, default="paper", metavar="PLAN",
        help="'paper' (Table VI, VGG16), one ratio for every prunable layer (0.5), or "
        "LAYER=COUNT|RATIO,... (conv1_1=24,conv2_1=0.5) (default: paper)",
    )  # fmt: skip
    parser.add_argument(
        "--method", choices=("lasso", "l1"), default="lasso",
        help="channel selection: He et al.'s LASSO, or largest filter L1 norm (default: lasso)",
    )  # fmt: skip
    parser.add_argument(
        "--no-reconstruct", action="store_true",
        help="skip the least-squares refit (the default refits for lasso, not for l1)",
    )  # fmt: skip
    parser.add_argument(
        "--reconstruct", action="store_true", help="refit by least squares also with --method l1"
    )
    parser.add_argument(
        "--images", type=positive_int, default=DEFAULT_IMAGES, metavar="N",
        help="synthetic images to sample feature maps from (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--samples-per-image", type=positive_int, default=10, metavar="S",
        help="sampled positions per image and layer, as He et al. (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--sample-shape", type=image_shape, metavar="C,H,W",
        help="size of the sampling images (default: the model's input); smaller is faster, "
        "the kept counts and MACs do not change",
    )  # fmt: skip
    parser.add_argument(
        "--weights", type=Path, metavar="FILE",
        help="state dict (torch.save) to load before pruning (default: deterministic init)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=0, help="sampling seed (default: 0)")
    parser.add_argument(
        "--out", type=Path, default=Path("edgecheck-pruned"), metavar="DIR",
        help="output folder (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument("--no-onnx", action="store_true", help="do not export ONNX")
    parser.add_argument(
        "--onnx-channel-multiple", type=positive_int, default=1, metavar="N",
        help="pad the ONNX file's pruned widths with zero filters up to a multiple of N: the "
        "same function, in the layout onnxruntime's fast x86 conv and pool kernels need "
        "(their NCHWc block: 16 with AVX-512, 8 with AVX2); Table VI's plan ran 7-10%% "
        "faster with 16 at batch 4 on AVX-512. The .pt state keeps the exact counts "
        "(default: 1, exact counts in both)",
    )  # fmt: skip
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    return parser


class _Bar:
    """tqdm over the pruning stages: sampling images, then one step per pruned layer."""

    def __init__(self, disable: bool) -> None:
        from tqdm import tqdm

        self._tqdm = tqdm
        self._disable = disable or None  # None: tqdm turns itself off when not a terminal
        self._bar: Any = None
        self._stage = ""

    def __call__(self, stage: str, done: int, total: int) -> None:
        kind = "sampling" if stage == "sampling" else "layers"
        if kind != self._stage:
            self.close()
            self._stage = kind
            self._bar = self._tqdm(
                total=total, unit="image" if kind == "sampling" else "layer",
                desc=f"edgecheck prune: {kind}", file=sys.stderr, disable=self._disable,
            )  # fmt: skip
        self._bar.set_postfix_str(stage.rsplit(".", 1)[-1] if kind == "layers" else "")
        self._bar.update(done - self._bar.n)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


def run(args: argparse.Namespace) -> int:
    """Execute ``edgecheck prune``; returns the exit status (errors raise EdgecheckError)."""
    import torch

    from edgecheck._atomic import write_atomic
    from edgecheck.macs import count_macs, format_macs_table
    from edgecheck.models import get_model_spec
    from edgecheck.prune.core import prune_model
    from edgecheck.prune.sampling import synthetic_images

    if args.reconstruct and args.no_reconstruct:
        raise EdgecheckError("--reconstruct and --no-reconstruct contradict each other; pick one.")
    spec = get_model_spec(args.model)
    model = spec.build(seed=0)
    if args.weights is not None:
        _load_weights(model, args.weights)
    shape = args.sample_shape or spec.input_shape
    if shape[0] != spec.input_shape[0]:
        raise ModelError(
            f"--sample-shape {shape} has {shape[0]} channels; {args.model} takes "
            f"{spec.input_shape[0]}."
        )
    reconstruct = True if args.reconstruct else (False if args.no_reconstruct else None)
    images = synthetic_images(args.images, shape, seed=args.seed)
    bar = _Bar(disable=args.no_progress)
    try:
        result = prune_model(
            model, args.plan, images, method=args.method, reconstruct=reconstruct,
            samples_per_image=args.samples_per_image, seed=args.seed, progress=bar,
        )  # fmt: skip
    finally:
        bar.close()

    before = count_macs(model, spec.input_shape)
    after = count_macs(result.model, spec.input_shape)
    stem = args.out / f"{args.model}-pruned"
    buffer = io.BytesIO()
    torch.save(result.model.state_dict(), buffer)
    files = [write_atomic(stem.with_suffix(".pt"), buffer.getvalue())]
    if not args.no_onnx:
        from edgecheck.export import export_onnx
        from edgecheck.prune.surgery import align_channels

        exported = align_channels(result.model, args.onnx_channel_multiple)
        files.append(export_onnx(exported, spec.input_shape, stem.with_suffix(".onnx")))
    summary = _summary(args, result, before, after, files)
    files.append(write_atomic(stem.with_suffix(".json"), json.dumps(summary, indent=2) + "\n"))
    summary["files"] = [str(f) for f in files]

    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    title = (
        f"{args.model}: before vs after pruning ({args.method}"
        f"{' + least squares' if result.reconstruct else ''}), MACs by Eq. 1 on the pruned model"
    )
    print(format_macs_table(before.select("conv"), compare=after.select("conv"), title=title))
    print()
    for layer in result.layers:
        errors = ""
        if layer.error_removed is not None:
            errors = f"; relative error on its samples {layer.error_removed:.4f} removed"
            if layer.error_reconstructed is not None:
                errors += f", {layer.error_reconstructed:.4f} refitted"
        print(f"  {layer.name}: {layer.channels_before} -> {layer.channels_after}{errors}")
    thin = [layer.name for layer in result.layers if layer.underdetermined]
    if thin and result.reconstruct:
        print(
            f"warning: {', '.join(thin)} had fewer sampled points than least-squares unknowns; "
            f"the refit fits its samples exactly and generalises poorly. Use more --images "
            f"or --samples-per-image.",
            file=sys.stderr,
        )
    print(
        f"pruned {len(result.layers)} layers in {result.seconds:.1f} s from {args.images} "
        f"images x {args.samples_per_image} points; wrote " + ", ".join(str(f) for f in files)
    )
    return 0


def _load_weights(model: Any, path: Path) -> None:
    import torch

    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ModelError(f"--weights {path}: no such file.") from None
    except Exception as exc:  # unpickling garbage raises anything (IndexError, EOFError, ...)
        raise ModelError(
            f"--weights {path}: not a file torch.save wrote, or cut short ({type(exc).__name__}"
            f"); give a state dict saved with torch.save(model.state_dict(), ...)."
        ) from None
    try:
        model.load_state_dict(state)
    except (RuntimeError, KeyError, TypeError, ValueError, AttributeError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(
            f"--weights {path} does not fit the model ({first}); give a state dict saved "
            f"with torch.save(model.state_dict(), ...) for the same architecture."
        ) from None


def _summary(
    args: argparse.Namespace, result: Any, before: Any, after: Any, files: list[Path]
) -> dict[str, Any]:
    return {
        "model": args.model,
        "method": result.method,
        "reconstruct": result.reconstruct,
        "plan": dict(result.plan.kept),
        "kept": result.kept(),
        "images": args.images,
        "samples_per_image": args.samples_per_image,
        "seed": args.seed,
        "seconds": result.seconds,
        "conv_macs_before": before.conv_total,
        "conv_macs_after": after.conv_total,
        "conv_ratio": before.conv_total / after.conv_total,
        "onnx_channel_multiple": None if args.no_onnx else args.onnx_channel_multiple,
        "layers": [
            {
                "name": layer.name,
                "channels_before": layer.channels_before,
                "channels_after": layer.channels_after,
                "error_removed": layer.error_removed,
                "error_reconstructed": layer.error_reconstructed,
                "lasso_alpha": layer.selection.alpha,
                "seconds": layer.seconds,
            }
            for layer in result.layers
        ],
        "files": [str(f) for f in files],
    }

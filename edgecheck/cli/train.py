"""``edgecheck train fqa``: re-create the shipped FQA weights (or train with other settings).

`add_parser` registers the command; `run` executes it; torch loads only inside `run`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from edgecheck.cli.args import positive_int

COMMANDS: tuple[str, ...] = ("train",)
MODELS: tuple[str, ...] = ("fqa",)
DEFAULT_OUT = Path("edgecheck-weights") / "fqa.pt"


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed {text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"seed {value} must be >= 0")
    return value


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``train`` on the ``edgecheck`` command's sub-parsers."""
    from edgecheck.training.defaults import DEFAULT_EPOCHS, DEFAULT_IMAGES_PER_EPOCH

    parser: argparse.ArgumentParser = subparsers.add_parser(
        "train",
        help="train a model shipped with edgecheck (the FQA CNN) reproducibly",
        description="Train the FQA CNN (Table I) on edgecheck's generated face-quality data "
        "with a fixed seed, write the weights (state_dict) and a provenance JSON next to them, "
        "and compare the held-out metrics (Spearman, MAE on the paper's 2573 test images) with "
        "the shipped weights'. The defaults re-create the shipped weights.",
        epilog="Example: edgecheck train fqa --out /tmp/fqa.pt",
    )
    parser.add_argument("model", choices=MODELS, help="the model to train")
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, metavar="PATH",
        help="weights file to write; PATH with .json is the provenance (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--epochs", type=positive_int, default=DEFAULT_EPOCHS, metavar="N",
        help="epochs (default: %(default)s, as shipped)",
    )  # fmt: skip
    parser.add_argument(
        "--seed", type=_seed, default=0, metavar="S", help="training seed (default: %(default)s)"
    )
    parser.add_argument(
        "--images-per-epoch", type=positive_int, default=DEFAULT_IMAGES_PER_EPOCH, metavar="N",
        help="fresh generated images per epoch (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--threads", type=positive_int, default=None, metavar="N",
        help="torch threads (default: torch's own setting)",
    )  # fmt: skip
    parser.add_argument("--no-progress", action="store_true", help="do not show a progress bar")
    return parser


def run(args: argparse.Namespace) -> int:
    """Train, save, print the metrics next to the shipped ones; returns the exit status."""
    from edgecheck.training.fqa import save_weights, train_fqa
    from edgecheck.weights import fqa_provenance

    result = train_fqa(
        seed=args.seed, epochs=args.epochs, images_per_epoch=args.images_per_epoch,
        threads=args.threads, progress=not args.no_progress,
    )  # fmt: skip
    weights, record = save_weights(result, args.out)
    m = result.metrics
    print(
        f"trained fqa: seed {result.seed}, {result.epochs} epochs x {result.images_per_epoch} "
        f"images, {result.seconds:.0f} s on {result.threads} thread(s)"
    )
    print(
        f"held-out ({int(m['n_test'])} test images): Spearman {m['spearman']:.4f}, "
        f"MAE {m['mae']:.4f}"
    )
    try:
        shipped = fqa_provenance()["metrics"]
    except Exception as exc:  # the comparison is informative; a missing record is not an error
        print(f"shipped weights' metrics unavailable ({exc})", file=sys.stderr)
    else:
        print(
            f"shipped weights:                     Spearman {shipped['spearman']:.4f}, "
            f"MAE {shipped['mae']:.4f}"
        )
    print(f"wrote {weights} and {record}")
    return 0

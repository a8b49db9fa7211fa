"""``edgecheck pipeline VIDEO``: run the FQA video pipeline, print fps per stage, write the chosen frames.

`add_parser` registers the command; `run` executes it (cv2 and onnxruntime imported inside).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from edgecheck.cli.args import positive_int

COMMANDS = ("pipeline",)
DEMO_FRAMES = 150


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``pipeline`` on the ``edgecheck`` sub-parsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "pipeline",
        help="pick the best face frames of a video (FQA pipeline of Table V) and time it",
        description="Decode VIDEO, find faces (OpenCV Haar cascade at a reduced scale, tracked "
        "between full passes), score each face crop with the shipped trained FQA CNN in "
        "batches, and keep the best frames of every face track. Prints the end-to-end fps "
        "(decoding included) and the busy milliseconds per frame of each stage, and writes "
        "the chosen frames (PNG, full frame and 64x64 crop) with selection.json to --out.",
        epilog="Examples: edgecheck pipeline clip.mp4 --precision int8 --top-k 3 --out best/\n"
        "          edgecheck pipeline demo.mp4 --demo walk:1080p   (writes edgecheck's "
        "synthetic clip first)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("video", metavar="VIDEO", type=Path, help="a video file OpenCV can read")
    parser.add_argument(
        "--backend", choices=("onnxruntime", "tensorrt", "torch"), default="onnxruntime",
        help="FQA runtime; torch runs the trained CNN itself (fp32 on the CPU, fp16 on CUDA: "
        "the GPU path without TensorRT) (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--device", choices=("auto", "cpu", "cuda"), default="auto",
        help="where --backend torch runs; auto: CUDA when torch sees a GPU (default: auto)",
    )  # fmt: skip
    parser.add_argument(
        "--precision", choices=("fp32", "fp16", "int8"), default="fp32",
        help="FQA precision (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--model", metavar="MODEL", default=None,
        help="the face-quality scorer: an ONNX file or a model name ('edgecheck models': "
        "built in, or the project's [tool.edgecheck.models]) taking N x 1 x 64 x 64 grey "
        "crops in [0, 1] and giving one score per crop, run as given (fp32) "
        "(default: the shipped trained FQA CNN at --precision)",
    )  # fmt: skip
    parser.add_argument("--batch", type=positive_int, default=16, help="FQA batch (default: 16)")
    parser.add_argument(
        "--top-k", type=positive_int, default=5, help="frames kept per face track (default: 5)"
    )
    parser.add_argument(
        "--every", type=positive_int, default=10,
        help="full detection pass every N frames, tracking in between (default: 10)",
    )  # fmt: skip
    parser.add_argument(
        "--detect-width", type=positive_int, default=480,
        help="frame width for full detection passes, pixels (default: 480)",
    )  # fmt: skip
    parser.add_argument(
        "--naive", action="store_true",
        help="the baseline: full-resolution Haar on every frame, one thread",
    )  # fmt: skip
    parser.add_argument("--max-frames", type=positive_int, default=None, help="stop after N frames")
    parser.add_argument(
        "--out", type=Path, default=Path("edgecheck-pipeline"), metavar="DIR",
        help="folder for the chosen frames (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument("--no-write", action="store_true", help="write no frames")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument(
        "--demo", metavar="SCENE:RES", type=_demo_spec, default=None,
        help="first write edgecheck's synthetic 150-frame clip to VIDEO (scene walk, approach "
        "or empty; resolution 1080p, 720p or 480p; its ground truth beside it as "
        "VIDEO.truth.json), then run on it; refused if VIDEO exists",
    )  # fmt: skip
    return parser


def _demo_spec(text: str) -> tuple[str, str]:
    from edgecheck.data.video import RESOLUTIONS, SCENES

    scene, _, res = text.partition(":")
    if scene not in SCENES or res not in RESOLUTIONS:
        raise argparse.ArgumentTypeError(
            f"{text!r}: expected SCENE:RES with SCENE one of {', '.join(SCENES)} and RES one "
            f"of {', '.join(RESOLUTIONS)}, e.g. walk:1080p"
        )
    return scene, res


def write_selection(result: Any, out: Path) -> list[Path]:
    """Write each chosen frame (full frame and FQA crop, PNG) and ``selection.json`` to `out`.

    Every file is written atomically; nothing is written for a video without faces except
    ``selection.json`` (an empty selection).
    """
    from edgecheck._atomic import write_atomic
    from edgecheck.data.video import require_cv2
    from edgecheck.pipeline.run import fqa_crop

    cv2 = require_cv2()
    written = []
    for track, chosen in sorted(result.selected.items()):
        for rank, sel in enumerate(chosen, start=1):
            if sel.image is None:
                continue
            stem = f"track{track}_rank{rank}_frame{sel.frame:06d}"
            crop = fqa_crop(cv2.cvtColor(sel.image, cv2.COLOR_BGR2GRAY), sel.box, cv2)
            for name, image in ((f"{stem}.png", sel.image), (f"{stem}_face64.png", crop)):
                ok, buf = cv2.imencode(".png", image)
                if not ok:  # pragma: no cover - PNG encoding of a uint8 array does not fail
                    raise OSError(f"could not encode {name}")
                written.append(write_atomic(out / name, buf.tobytes()))
    summary = json.dumps(result.summary(), indent=1, sort_keys=True) + "\n"
    written.append(write_atomic(out / "selection.json", summary))
    return written


def format_result(result: Any) -> str:
    """The fps, per-stage breakdown and selection as text."""
    lines = [
        f"{result.video}: {result.width}x{result.height}, {result.frames} frames, "
        f"{result.fps:.1f} fps end to end ({result.wall_seconds:.2f} s, decoding included; "
        f"{result.config.backend} {result.config.precision}, {result.config.finder} detection, "
        f"{result.full_passes} full passes)",
        "busy ms per frame by stage (stages overlap; decode and FQA run in their own threads):",
    ]
    for stage, ms in result.ms_per_frame().items():
        lines.append(f"  {stage:<7} {ms:8.2f} ms")
    lines.append(result.message)
    for track, chosen in sorted(result.selected.items()):
        best = ", ".join(f"frame {s.frame} ({s.score:.3f})" for s in chosen)
        lines.append(f"  track {track}: {best}")
    return "\n".join(lines)


def _device(args: argparse.Namespace) -> str:
    """--device, with auto resolved: CUDA for the torch backend where torch sees a GPU."""
    if args.device != "auto":
        return str(args.device)
    if args.backend != "torch":
        return "cpu"
    from edgecheck.backends.torch_backend import cuda_available

    return "cuda" if cuda_available() else "cpu"


def _scorer(args: argparse.Namespace) -> str | None:
    """The --model to score crops with (None: the shipped FQA CNN), its input checked first."""
    if args.model is None or args.model == "fqa":
        return None
    from edgecheck.ab import input_signature, is_model_file
    from edgecheck.backends.source import onnx_graph_input
    from edgecheck.cli.args import model_argument
    from edgecheck.errors import ConfigError
    from edgecheck.models import FQA_INPUT_SHAPE

    if args.precision != "fp32":
        raise ConfigError(
            f"--model {args.model} runs as given; --precision {args.precision} applies to the "
            f"shipped FQA CNN only: drop --precision, or pass a {args.precision} ONNX file."
        )
    source, shape = model_argument(args.model)
    if is_model_file(source):  # sizes not fixed in the file: the crops give them
        takes = onnx_graph_input(Path(source)).fixed_shape() or FQA_INPUT_SHAPE
    else:
        takes = tuple(input_signature(source, input_shape=shape).shape)
    if tuple(takes) != FQA_INPUT_SHAPE:
        raise ConfigError(
            f"--model {args.model} takes {'x'.join(map(str, takes))} inputs; the "
            f"pipeline scores 1x64x64 grey face crops: give a scorer of that input."
        )
    return source


def run(args: argparse.Namespace) -> int:
    """Execute ``edgecheck pipeline``; 0 on success (also when no face is found)."""
    from edgecheck.pipeline.run import PipelineConfig, run_pipeline

    if args.demo is not None:
        from edgecheck.data.video import write_clip
        from edgecheck.errors import ConfigError

        if args.video.exists():
            raise ConfigError(
                f"{args.video}: exists; --demo writes a new clip there and never overwrites a "
                "file: give a new path, or drop --demo to run on this video."
            )
        scene, res = args.demo
        write_clip(args.video, scene, res, DEMO_FRAMES)
        print(f"wrote the synthetic {scene} clip at {res} ({DEMO_FRAMES} frames) to {args.video}")
    model = _scorer(args)
    config = PipelineConfig(
        backend=args.backend, precision=args.precision, batch_size=args.batch,
        top_k=args.top_k, every=args.every, detect_width=args.detect_width,
        finder="naive" if args.naive else "tracking", concurrent=not args.naive,
        cv_threads=-1 if args.naive else 1, max_frames=args.max_frames,
        device=_device(args),
    )  # fmt: skip
    bar = None
    if not args.no_progress:
        from tqdm import tqdm

        bar = tqdm(unit="frame", desc="edgecheck pipeline", file=sys.stderr, disable=None)
    try:
        result = run_pipeline(
            args.video, config, model=model, keep_images=not args.no_write,
            progress=None if bar is None else bar.update,
        )  # fmt: skip
    finally:
        if bar is not None:
            bar.close()
    written = [] if args.no_write else write_selection(result, args.out)
    if args.json:
        print(json.dumps({**result.summary(), "written": [str(p) for p in written]}, indent=1))
    else:
        print(format_result(result))
        if written:
            print(f"wrote {len(written)} file(s) to {args.out}")
    return 0

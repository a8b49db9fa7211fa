#!/usr/bin/env python
"""The FQA video pipeline's frame rate (Table V) on this machine, and what each step buys.

Part 1, Table V: per resolution (1080p, 720p, 480p) x precision (FP32 and INT8 on onnxruntime;
FP16 only where the device computes it natively: onnxruntime's CPU provider casts FP16 to
FP32), the end-to-end fps of the pipeline over a synthetic clip (whole-clip wall time with
decoding, median and 95 % bootstrap interval of ``--repeats`` runs after a warm-up), the busy
ms per frame of each stage, recall (IoU >= 0.5) and the best frame's rank by true quality,
next to the naive baseline (full-resolution Haar on every frame, one thread), timed round
by round with the FP32 pipeline. This is `edgecheck.evaluation.pipeline.measure_table5`, the
code the report uses. Then, per rule of this profile (`judge_table5`): the measured value,
the same-run reference it is judged against (the naive detector's fps for the same-run
rule; none for a fixed bar), the bound and the margin.

Part 2, the engineering steps at ``--steps-resolution`` (1080p by default), one at a time, FP32:

1. naive: full-resolution ``detectMultiScale(1.1, 5)`` every frame, one thread, OpenCV's
   default threads;
2. reduced scale: full passes at 480 px wide with refinement, still every frame, one thread;
3. + tracking: full passes every 10 frames, local search in between, one thread;
4. + threads: decode and FQA in their own threads, bounded queues, ``cv2.setNumThreads(1)``
   (the pipeline's default).

Targets (issue 6, 2 CPU cores, no GPU): >= 30 fps at 1080p and >= 60 fps at 480p end to end,
with recall >= 95 % and the best frame in the best 5 %.

Usage::

    python benchmarks/pipeline.py                      # 90-frame clips, 3 repeats (~2 min)
    python benchmarks/pipeline.py --frames 150 --repeats 2 --no-steps
    python benchmarks/pipeline.py --comparison-frames 90  # the same-run rule is then not
                                                          # run: its factor is set for 270
    python benchmarks/pipeline.py --json pipeline.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

TARGETS = {"1080p": 30.0, "480p": 60.0}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    from edgecheck.evaluation.pipeline import CLIP_FRAMES, NAIVE_CLIP_FRAMES, NAIVE_FRAMES

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--frames", type=int, default=CLIP_FRAMES,
        help=f"Table V clip length (default {CLIP_FRAMES}, as the tests)",
    )  # fmt: skip
    parser.add_argument("--repeats", type=int, default=3, help="counted runs per cell (default 3)")
    parser.add_argument(
        "--naive-frames", type=int, default=NAIVE_FRAMES,
        help=f"frames for the naive baseline (default {NAIVE_FRAMES}, as the tests: the "
        "same-run rule's factor is set for it, and is not judged with another)",
    )  # fmt: skip
    parser.add_argument(
        "--comparison-frames", type=int, default=NAIVE_CLIP_FRAMES,
        help=f"length of the clip the pipeline runs over, interleaved with the naive baseline "
        f"(default {NAIVE_CLIP_FRAMES}, as the tests: the same-run rule's factor is set for it)",
    )  # fmt: skip
    parser.add_argument("--no-steps", action="store_true", help="skip part 2")
    parser.add_argument("--steps-resolution", default="1080p")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    return parser.parse_args(argv)


def rules(results: list[Any]) -> list[dict[str, Any]]:
    """Print one line per rule judged: measured, the same-run reference, bound, margin."""
    from edgecheck.formatting import significant

    print(
        "\nRules of this profile (fps; same-run ref: the naive detector's fps measured in the"
        " same rounds, '-' for a fixed bar)"
    )
    header = (
        f"{'rule':<34} {'measured':>9} {'same-run ref':>12} {'bound':>9} {'margin':>8}  "
        f"threshold / verdict"
    )
    print(header)
    print("-" * len(header))
    out = []
    for r in results:
        ref = "-" if r.reference is None else f"{significant(r.reference)}"
        measured = "-" if r.measured is None else f"{significant(r.measured)}"
        bound = "-" if r.bound is None else f"{significant(r.bound)}"
        margin = "-" if r.margin is None else f"{100 * r.margin:+.1f} %"
        verdict = (
            r.verdict if r.verdict != "not run here" else r.message.removeprefix(f"{r.label}: ")
        )
        print(
            f"{r.label:<34} {measured:>9} {ref:>12} {bound:>9} {margin:>8}  "
            f"{r.threshold or '-'}: {verdict}"
        )
        out.append(r.as_dict())
    return out


def table5(args: argparse.Namespace) -> dict[str, Any]:
    from edgecheck.config import find_pyproject, load_config
    from edgecheck.device import detect_device
    from edgecheck.evaluation.pipeline import RESOLUTION_KEYS, judge_table5, measure_table5

    device = detect_device()
    table = measure_table5(
        device, frames=args.frames, repeats=args.repeats, naive_frames=args.naive_frames,
        comparison_frames=args.comparison_frames,
        progress=lambda text: print(f"  measuring {text} ...", file=sys.stderr),
    )  # fmt: skip
    stages = ("decode", "gray", "detect", "track", "crop", "fqa")
    header = (
        f"{'res':<6} {'prec':<5} {'fps':>7} {'95% CI':>15} "
        + " ".join(f"{s:>7}" for s in stages)
        + f" {'recall':>7} {'rank':>6} {'naive':>6} {'gain':>6} {'target':>8}"
    )
    print(f"\nTable V here ({args.frames}-frame clips, scene 'walk'; ms per frame by stage)")
    print(header)
    print("-" * len(header))
    for res in RESOLUTION_KEYS:
        naive = table.naive.get(res, {}).get("fps")
        for r in (row for row in table.rows if row.resolution == res):
            target = TARGETS.get(res)
            verdict = "" if target is None else ("met" if r.fps >= target else "MISSED")
            gain = f"{r.fps / naive:5.1f}x" if naive else "-"
            print(
                f"{res:<6} {r.precision:<5} {r.fps:7.1f} [{r.fps_ci[0]:6.1f}, {r.fps_ci[1]:6.1f}] "
                + " ".join(f"{r.ms_per_frame[s]:7.2f}" for s in stages)
                + f" {100 * r.recall:6.1f}% {r.best_rank!s:>3}/{r.top_allowed:<2}"
                f" {naive or 0:6.1f} {gain:>6} {verdict:>8}"
            )
    if table.fp16_reasons:
        print("FP16: not native here: " + "; ".join(table.fp16_reasons))
    print("second scene ('approach'):", {
        res: f"recall {100 * a['recall']:.1f} %, rank {a['best_rank']}/{a['top_allowed']}, "
        f"{a['fps']:.1f} fps" for res, a in table.approach.items()
    })  # fmt: skip
    for res, v in table.versus_naive.items():
        print(
            f"{res} FP32 / naive detector, paired by round: {v.ratio.value:.2f}x "
            f"[{v.ratio.low:.2f}, {v.ratio.high:.2f}] ({v.fps:.1f} vs {v.naive_fps:.2f} fps)"
            + (f"; {v.noise}" if v.noise else "")
        )
    registry = load_config(find_pyproject(Path.cwd())).registry()
    return {**table.as_dict(), "rules": rules(judge_table5(table, registry, device))}


def steps(args: argparse.Namespace) -> list[dict[str, Any]]:
    from edgecheck.data.video import write_clip
    from edgecheck.pipeline import PipelineConfig, clip_accuracy
    from edgecheck.pipeline.measure import measure_fps
    from edgecheck.pipeline.scoring import prepare_fqa

    res = args.steps_resolution
    configs = [
        ("1 naive (full res, every frame, 1 thread)", PipelineConfig(
            finder="naive", concurrent=False, cv_threads=-1, max_frames=args.naive_frames)),
        ("2 reduced scale + refinement, every frame", PipelineConfig(
            every=1, concurrent=False)),
        ("3 + tracking (full pass every 10 frames)", PipelineConfig(concurrent=False)),
        ("4 + decode/FQA threads (default)", PipelineConfig()),
    ]  # fmt: skip
    out = []
    with tempfile.TemporaryDirectory(prefix="edgecheck-bench-") as tmp:
        clip = Path(tmp) / f"walk_{res}.mp4"
        truth = write_clip(clip, "walk", res, args.frames)
        model = prepare_fqa(Path(tmp) / "fqa", "fp32")
        print(f"\nEngineering steps at {res} (FP32, {args.frames}-frame clip; ms per frame)")
        header = f"{'step':<44} {'fps':>7} {'decode':>7} {'detect':>7} {'track':>7} {'fqa':>6} {'recall':>7}"
        print(header)
        print("-" * len(header))
        for name, cfg in configs:
            print(f"  measuring {name} ...", file=sys.stderr)
            warm = 0 if cfg.finder == "naive" else 1
            m = measure_fps(clip, cfg, model=model, repeats=args.repeats, warmup=warm)
            ms = m.last.ms_per_frame()
            acc = clip_accuracy(m.last, truth)
            print(
                f"{name:<44} {m.median:7.1f} {ms['decode']:7.2f} {ms['detect']:7.2f} "
                f"{ms['track']:7.2f} {ms['fqa']:6.2f} {100 * acc.recall:6.1f}%"
            )
            out.append({"step": name, **m.as_dict(), "recall": acc.recall})
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    result: dict[str, Any] = {"table5": table5(args)}
    if not args.no_steps:
        result["steps"] = steps(args)
    if args.json is not None:
        args.json.write_text(json.dumps(result, indent=1, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

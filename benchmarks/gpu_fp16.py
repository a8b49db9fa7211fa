#!/usr/bin/env python
"""The gpu profile's FP16 path on torch CUDA, for a machine with a GPU but without TensorRT.

One prepared run of a few minutes (issue 13): what the device tool's lent GPU machine can run
(torch with CUDA is there; TensorRT and its wheels cannot be brought):

1. VGG16 FP32 vs FP16 on torch CUDA at batch 1, 8 and 32, interleaved round by round
   (`edgecheck.bench.measure_interleaved`; every call returns its output to the host, so the
   GPU is synchronised), with the bootstrap interval of each FP16/FP32 speedup;
2. the FQA video pipeline (Table V) on a synthetic 1080p clip with ``--backend torch``: FP32
   and FP16 on CUDA, onnxruntime FP32 on the CPU beside them, fps end to end (decoding and
   detection on the CPU cores included), against the paper's 30 fps real-time bar.

The numbers are printed as a table and written as JSON (``--json``). Without CUDA it says so
and exits 2: nothing here is measured on a CPU as a stand-in.

Usage::

    python benchmarks/gpu_fp16.py --json gpu.json          # about 3-5 minutes
    python benchmarks/gpu_fp16.py --quick                  # a minute: batch 8, 120 frames
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REAL_TIME_FPS = 30.0  # the paper's bar for Table V (quant.fp16.fps, tx2 rule)


def vgg16_fp16_vs_fp32(batches: list[int], seconds: float) -> list[dict[str, Any]]:
    from edgecheck.backends import make_runner
    from edgecheck.bench import TimingPolicy, measure_interleaved, speedup
    from edgecheck.bench.timing import CallSampler, Target

    rows = []
    policy = TimingPolicy(warmup_rounds=5, warmup_time=1.0, min_rounds=20, min_time=seconds)
    for batch in batches:
        runners = [
            make_runner("vgg16", "torch", precision, batch_size=batch, device="cuda")
            for precision in ("fp32", "fp16")
        ]
        for runner in runners:
            runner.activate()
        try:
            targets = []
            for runner in runners:
                x = runner.example_input(0)
                targets.append(Target(runner.config.precision, CallSampler(
                    lambda r=runner, x=x: r.infer(x)), batch))  # fmt: skip
            fp32, fp16 = measure_interleaved(targets, policy=policy)
        finally:
            for runner in runners:
                runner.deactivate()
        est = speedup(fp32, fp16)
        rows.append({
            "batch": batch, "fp32_ms": fp32.median * 1e3, "fp16_ms": fp16.median * 1e3,
            "fp32_images_s": batch / fp32.median, "fp16_images_s": batch / fp16.median,
            "speedup": est.value, "low": est.low, "high": est.high, "rounds": fp32.rounds,
        })  # fmt: skip
        print(f"vgg16 b{batch}: fp32 {fp32.median * 1e3:.2f} ms, fp16 {fp16.median * 1e3:.2f} ms, "
              f"FP16/FP32 {est.value:.2f}x [{est.low:.2f}, {est.high:.2f}]", flush=True)  # fmt: skip
    return rows


def pipeline_fps(frames: int, repeats: int) -> list[dict[str, Any]]:
    from edgecheck.data.video import write_clip
    from edgecheck.pipeline import PipelineConfig, run_pipeline

    rows = []
    with tempfile.TemporaryDirectory(prefix="edgecheck-gpu-") as tmp:
        clip = Path(tmp) / "walk1080.mp4"
        write_clip(clip, "walk", "1080p", frames)
        arms = [
            ("onnxruntime", "fp32", "cpu"),
            ("torch", "fp32", "cuda"),
            ("torch", "fp16", "cuda"),
        ]
        fps: dict[tuple[str, str, str], list[float]] = {arm: [] for arm in arms}
        for _ in range(repeats):  # rotated rounds, so drift hits every arm alike
            for backend, precision, device in arms:
                config = PipelineConfig(backend=backend, precision=precision, device=device)
                result = run_pipeline(clip, config, keep_images=False, workdir=tmp)
                fps[(backend, precision, device)].append(result.fps)
        for (backend, precision, device), values in fps.items():
            values.sort()
            median = values[len(values) // 2]
            rows.append({"backend": backend, "precision": precision, "device": device,
                         "fps_median": median, "fps_runs": values,
                         "real_time": median >= REAL_TIME_FPS})  # fmt: skip
            print(f"pipeline 1080p {backend} {precision} on {device}: {median:.1f} fps "
                  f"(runs {', '.join(f'{v:.1f}' for v in values)})", flush=True)  # fmt: skip
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="batch 8 only, 120 frames, 2 rounds")
    parser.add_argument("--json", type=Path, help="also write the numbers to this file")
    args = parser.parse_args()
    from edgecheck.backends.torch_backend import cuda_available
    from edgecheck.device import detect_device

    if not cuda_available():
        print("gpu_fp16: torch sees no CUDA device here; this script measures the GPU path "
              "only (run it where `edgecheck device` shows a CUDA GPU).", file=sys.stderr)  # fmt: skip
        return 2
    device = detect_device()
    cap = device.capabilities
    print(
        f"device: {cap.cuda_device} (compute capability {cap.cuda_capability}), "
        f"{cap.cores} CPU cores, profile {device.profile}, fingerprint {device.fingerprint_id}"
    )
    batches = [8] if args.quick else [1, 8, 32]
    vgg = vgg16_fp16_vs_fp32(batches, seconds=2.0 if args.quick else 5.0)
    pipe = pipeline_fps(frames=120 if args.quick else 300, repeats=2 if args.quick else 3)
    print()
    print(
        f"{'VGG16 (torch CUDA)':<22} {'FP32 ms':>9} {'FP16 ms':>9} {'FP16/FP32':>10} {'95% CI':>16}"
    )
    for r in vgg:
        print(f"{'batch ' + str(r['batch']):<22} {r['fp32_ms']:9.2f} {r['fp16_ms']:9.2f} "
              f"{r['speedup']:9.2f}x [{r['low']:.2f}, {r['high']:.2f}]")  # fmt: skip
    print(f"\n{'pipeline 1080p':<34} {'fps':>7}  >= {REAL_TIME_FPS:g} fps (paper's bar)")
    for r in pipe:
        label = f"{r['backend']} {r['precision']} ({r['device']})"
        print(f"{label:<34} {r['fps_median']:7.1f}  {'yes' if r['real_time'] else 'no'}")
    if args.json:
        payload = {"device": device.as_dict(), "vgg16": vgg, "pipeline_1080p": pipe}
        args.json.write_text(json.dumps(payload, indent=1, default=str))
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Quantization on this machine: INT8 VGG16 speed-up, FQA INT8 error per calibration method.

Three measurements, each printed next to the issue's target for this machine:

1. VGG16 INT8 vs FP32 on onnxruntime (CPU), at batch 1 and 4 on 1 and 2 cores: the
   library's `edgecheck.evaluation.int8_speed.measure_int8_speed` (what the report and
   tests/perf use) times both in pinned worker processes, interleaved round by round, so
   drift on a shared machine cancels from the ratio. Target: >= 3.5x (Fig. 4's 3.48x was a Titan XP at
   batch 128; INT8 is fast here only with VNNI, see `edgecheck.quantize.speed_unmet`).
   In the same run: this CPU's INT8 / FP32 rate on VGG16's conv GEMMs as convolutions (the
   cpu rules' reference) and as explicit GEMMs (MatMulInteger, for information); then a
   table of the cpu rules: measured value, same-run reference, bound and margin.
2. The FQA CNN's INT8 error (mean relative difference vs FP32, the ``quant.error`` measure) for
   each calibration method, on the paper's split (100 calibration / 2573 test images), and the
   FP16 error. Target: <= 1.0 % (the paper: 1.005 %).
3. Calibration + quantization of VGG16 (16 calibration images): wall time and peak memory,
   measured in a separate process so the export's memory does not count. Target: < 2 minutes,
   < 8 GB.

Usage::

    python benchmarks/quantization.py           # about 6 minutes on 2 cores
    python benchmarks/quantization.py --quick   # about 3 minutes, fewer timing rounds
    python benchmarks/quantization.py --json out.json

VGG16's weights are random (seeded): speed does not depend on their values.
"""

from __future__ import annotations

import argparse
import json
import logging
import multiprocessing
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TARGET_SPEEDUP = 3.5
TARGET_ERROR_PERCENT = 1.0
TARGET_QUANT_SECONDS = 120.0
TARGET_QUANT_GB = 8.0
VGG_CALIBRATION_IMAGES = 16
BATCHES = (1, 4)
THREADS = (1, 2)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Measure INT8 vs FP32 VGG16 speed on onnxruntime, the FQA CNN's INT8/FP16 "
        "error per calibration method, and VGG16's quantization time and memory.",
    )
    parser.add_argument("--quick", action="store_true", help="fewer timing rounds (~3 minutes)")
    parser.add_argument(
        "--skip", action="append", default=[], choices=["speed", "error", "quantize"],
        help="leave out a measurement (repeatable)",
    )  # fmt: skip
    parser.add_argument("--json", metavar="PATH", help="also write all numbers as JSON")
    return parser.parse_args(argv)


def _quantize_worker(fp32: str, out: str, queue: Any) -> None:
    """Child process: calibrate and quantize VGG16; report seconds and peak RSS."""
    import numpy as np

    from edgecheck.quantize import quantize_int8

    logging.getLogger().setLevel(logging.ERROR)
    rng = np.random.default_rng(0)
    calibration = rng.random((VGG_CALIBRATION_IMAGES, 3, 224, 224), dtype=np.float32)
    start = time.perf_counter()
    q = quantize_int8(fp32, out, calibration, method="minmax", batch_size=4)
    seconds = time.perf_counter() - start
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # Linux: kilobytes
    queue.put({"seconds": seconds, "peak_gb": peak_kb / 1024**2, "reduce_range": q.reduce_range})


def quantize_vgg16(fp32: Path, out: Path) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_quantize_worker, args=(str(fp32), str(out), queue))
    proc.start()
    result = queue.get()
    proc.join()
    return dict(result)


def time_vgg16(
    fp32: Path, int8: Path, quantize_seconds: float, quick: bool
) -> list[dict[str, Any]]:
    """INT8 vs FP32 per thread count, timed by the library's `measure_int8_speed`, with the
    same-run INT8 / FP32 convolution and GEMM references; the cpu rules judged at 1 core."""
    from edgecheck.bench.timing import TimingPolicy
    from edgecheck.device import detect_device
    from edgecheck.evaluation.int8_speed import Int8Models, measure_int8_speed
    from edgecheck.quantize.settings import settings_for

    deployed = settings_for("onnxruntime", detect_device().capabilities)
    models = Int8Models(
        fp32, int8, VGG_CALIBRATION_IMAGES, quantize_seconds,
        activation_type=deployed.activation_type, weight_type=deployed.weight_type,
    )  # fmt: skip
    policy = TimingPolicy(
        warmup_rounds=1 if quick else 2, warmup_time=0.0, min_rounds=3 if quick else 6,
        min_time=0.0, max_time=120.0, max_rel_ci_width=0.10, extend=not quick,
    )  # fmt: skip
    rows = []
    for threads in THREADS:
        speed = measure_int8_speed(
            models, batches=BATCHES, cores=threads, policy=policy,
            reference_ops=("conv", "matmul"),
        )  # fmt: skip
        for cell in speed.cells:
            est = cell.speedup
            row = {"threads": threads, **cell.as_dict(), "ci": [est.low, est.high]}
            row["load_average"] = os.getloadavg()[0]
            rows.append(row)
            flag = " (unstable)" if cell.unstable else ""
            ok = "ok" if est.value >= TARGET_SPEEDUP else "BELOW TARGET"
            print(
                f"  batch {cell.batch}, {threads} core(s): FP32 {cell.fp32.median * 1e3:8.1f} ms, "
                f"INT8 {cell.int8.median * 1e3:7.1f} ms, speedup {est.value:.2f}x "
                f"[{est.low:.2f}, {est.high:.2f}]{flag}  target >= {TARGET_SPEEDUP}x: {ok}  "
                f"(load {row['load_average']:.1f})",
                flush=True,
            )
        for op, ref in speed.references.items():
            r = ref.ratio
            print(
                f"  same-run reference, VGG16 conv GEMMs as {op} ({ref.types}), {threads} "
                f"core(s): FP32 {ref.fp32.median * 1e3:.1f} ms, INT8 {ref.int8.median * 1e3:.1f} "
                f"ms, {r.value:.2f}x [{r.low:.2f}, {r.high:.2f}]",
                flush=True,
            )
        rows.append({"threads": threads, "references": speed.as_dict()["references"],
                     "trend": speed.trend.as_dict()})  # fmt: skip
        if threads == 1:
            print_rules(speed)
    return rows


def print_rules(speed: Any) -> None:
    """Per cpu rule of quant.int8.speedup: measured, same-run reference, bound, margin."""
    from edgecheck.claims import ClaimRegistry
    from edgecheck.evaluation.int8_speed import judge_int8_speed

    print("\n  quant.int8.speedup, cpu rules (1 core, this run):", flush=True)
    header = f"  {'rule':<8} {'measured':>9} {'reference':>24} {'bound':>8} {'margin':>8}  verdict"
    print(header)
    for result in judge_int8_speed(speed, ClaimRegistry(), "cpu"):
        if result.measured is None:
            print(f"  {result.key:<8} {'-':>9} {'-':>24} {'-':>8} {'-':>8}  {result.verdict}: "
                  f"{result.message}")  # fmt: skip
            continue
        ref = f"{result.reference:.3f} (conv GEMM)" if result.reference is not None else "-"
        bound = f"{result.bound:.3f}" if result.bound is not None else "-"
        margin = f"{result.margin:+.1%}" if result.margin is not None else "-"
        print(f"  {result.key:<8} {result.measured:>9.3f} {ref:>24} {bound:>8} {margin:>8}  "
              f"{result.verdict}", flush=True)  # fmt: skip


def fqa_errors(workdir: Path) -> list[dict[str, Any]]:
    from edgecheck.evaluation.quantization import FQAQuantization
    from edgecheck.quantize import CALIBRATION_METHODS

    exp = FQAQuantization(workdir, threads=2)
    rows = []
    for row in [*(exp.int8(m) for m in CALIBRATION_METHODS), exp.fp16()]:
        d = row.difference
        target = (
            f"target <= {TARGET_ERROR_PERCENT} %: "
            + ("ok" if d.mean_relative_percent <= TARGET_ERROR_PERCENT else "ABOVE TARGET")
            if row.precision == "int8"
            else ""
        )
        print(
            f"  {row.label:<16} {row.calibration:<26} mean rel. diff {d.mean_relative_percent:6.3f} %"
            f"  mean abs. diff {d.mean_absolute:.5f}  quantize {row.seconds:5.2f} s  {target}",
            flush=True,
        )
        rows.append(row.as_dict())
    return rows


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger().setLevel(logging.ERROR)  # onnxruntime's quantizer warns per model
    from edgecheck.device import detect_device
    from edgecheck.export import export_onnx
    from edgecheck.models import VGG16_INPUT_SHAPE, build_model
    from edgecheck.quantize import speed_unmet

    device = detect_device()
    cap = device.capabilities
    print(f"machine: {cap.cpu_model}, {cap.cores} cores, {platform.machine()}")
    reasons = speed_unmet("int8", device)
    print("INT8 dot products: " + ("native" if not reasons else "; ".join(reasons)))
    results: dict[str, Any] = {"machine": device.as_dict()}
    with tempfile.TemporaryDirectory(prefix="edgecheck-bench-quant-") as tmp:
        work = Path(tmp)
        if "error" not in args.skip:
            print("\nFQA CNN (shipped weights), 100 calibration / 2573 test images:", flush=True)
            results["fqa_errors"] = fqa_errors(work / "fqa")
        if {"speed", "quantize"} - set(args.skip):
            print("\nexporting VGG16 (528 MB) ...", flush=True)
            fp32 = export_onnx(build_model("vgg16", seed=0), VGG16_INPUT_SHAPE, work / "vgg16.onnx")
            int8 = work / "vgg16_int8.onnx"
            q = quantize_vgg16(fp32, int8)
            results["vgg16_quantization"] = q
            print(
                f"VGG16 calibration ({VGG_CALIBRATION_IMAGES} images) + quantization: "
                f"{q['seconds']:.1f} s (target < {TARGET_QUANT_SECONDS:.0f} s: "
                f"{'ok' if q['seconds'] < TARGET_QUANT_SECONDS else 'ABOVE'}), peak memory "
                f"{q['peak_gb']:.2f} GB (target < {TARGET_QUANT_GB:.0f} GB: "
                f"{'ok' if q['peak_gb'] < TARGET_QUANT_GB else 'ABOVE'})",
                flush=True,
            )
            if "speed" not in args.skip:
                print(
                    "\nVGG16 INT8 vs FP32, onnxruntime CPU (interleaved; 'load' is the 1-minute "
                    "load average: above cores - threads, other jobs share the timed cores):",
                    flush=True,
                )
                results["vgg16_speedup"] = time_vgg16(fp32, int8, q["seconds"], args.quick)
    if args.json:
        from edgecheck._atomic import write_atomic

        write_atomic(args.json, json.dumps(results, indent=2, default=str) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Channel pruning of VGG16 (Tables VI and VII of Qi & Liu), measured on this machine.

1. Prune VGG16 (deterministic weights) to Table VI's plan with He et al.'s method
   (`edgecheck.prune`: LASSO selection + least-squares reconstruction) from synthetic
   224x224 images: wall time and the process's peak memory (targets: < 10 min, < 8 GB).
2. What reconstruction buys: relative error of conv5_1's output (the last pruned layer's
   consumer) and of the logits on held-out images, He et al. vs L1 magnitude pruning
   without reconstruction at the same kept counts (``--ablation`` adds the two halves).
3. Table VII: full vs pruned VGG16 with onnxruntime FP32 at batch 1 and 4 on every core
   count present (worker processes pinned to their cores, interleaved rounds), against the
   Eq. 1 theory (4.525x conv-only; 4.40x with the FC head's MACs).
   Then the verdicts: per rule of ``prune.speedup`` (batch 1, the paper's setting; the cpu
   rule is a factor of the cell's ceiling), a table of the measured speedup, the same-run
   reference it is judged against (the ceiling), the bound and the margin, plus the 1-core
   pruned model timed 20 % slower in the same run (test-only `Slowdown`), which must fail.
4. Why the measured ratio stays below theory: the FC head timed alone (memory-bound), and a
   per-layer onnxruntime profile at batch 4 on one thread: each layer's GMAC/s in the full
   and the pruned model, and the milliseconds the pruned layers lose to lower efficiency;
   plus the same plan rounded up to multiples of 16 channels, to show what odd counts cost.

Usage::

    python benchmarks/pruning.py            # about 8 minutes on 2 cores
    python benchmarks/pruning.py --quick    # about 3 minutes: 112x112 sampling, short timing
    python benchmarks/pruning.py --json out.json

Heavy modules are imported inside `main`: timing workers ("spawn") re-import this file.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import resource
import sys
import time
from typing import Any

TARGET_PRUNE_SECONDS = 600.0
TARGET_PRUNE_BYTES = 8 * 2**30
TARGET_B4_SPEEDUP = 4.0


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Prune VGG16 to Table VI's plan (He et al.), time it, compare with L1 "
        "magnitude pruning, and measure Table VII's speedup with onnxruntime.",
    )
    parser.add_argument(
        "--quick", action="store_true",
        help="112x112 sampling (160 images x 32 points), short timing: about 3 minutes",
    )  # fmt: skip
    parser.add_argument(
        "--images", type=int, default=512,
        help="sampling images at 224x224 (default 512: 5,120 points per layer)",
    )  # fmt: skip
    parser.add_argument(
        "--samples-per-image", type=int, default=10, help="points per image (default 10)"
    )
    parser.add_argument("--eval-images", type=int, default=8, help="held-out images (default 8)")
    parser.add_argument(
        "--ablation", action="store_true",
        help="also LASSO without refit and L1 with refit (one more full pruning)",
    )  # fmt: skip
    parser.add_argument(
        "--no-timing", action="store_true", help="skip Table VII and the per-layer profile"
    )
    parser.add_argument("--json", metavar="PATH", help="also write every number as JSON")
    return parser.parse_args(argv)


def _rss_bytes() -> int:
    # ru_maxrss is in KiB on Linux: the process's high-water mark so far.
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _mark(ok: bool) -> str:
    return "ok" if ok else "MISSED"


# -- per-layer profile -------------------------------------------------------------------------

_LAYER = re.compile(r"/(features|classifier)/(conv|relu|pool|fc)(\d(?:_\d)?)/")


def _layer_of(node: str) -> str:
    """Group an onnxruntime node name by VGG16 layer: conv2_1, pool1, fc6, reorder, other."""
    match = _LAYER.search(node)
    if match:
        kind, index = match.group(2), match.group(3)
        return f"conv{index}" if kind in ("conv", "relu") else f"{kind}{index}"
    return "reorder" if node.startswith("Reorder") else "other"


def profile_layers(
    paths: dict[str, str], batch: int, rounds: int = 5
) -> dict[str, tuple[float, dict[str, float]]]:
    """Per model: median seconds per call and seconds per layer, onnxruntime on 1 thread.

    The models run interleaved, one profiled call each per round, and every node's time is
    its minimum over the rounds: another job that takes the core for a while then slows one
    round of every model, not one model's whole measurement.
    """
    import numpy as np
    import onnxruntime as ort

    sessions = {}
    for key, path in paths.items():
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.enable_profiling = True
        options.profile_file_prefix = os.path.join(os.path.dirname(path), f"profile-{key}")
        sessions[key] = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).random((batch, 3, 224, 224), dtype=np.float32)
    times: dict[str, list[float]] = {key: [] for key in sessions}
    for round_ in range(rounds + 1):  # round 0 warms up
        for key, session in sessions.items():
            start = time.perf_counter()
            session.run(None, {session.get_inputs()[0].name: x})
            if round_:
                times[key].append(time.perf_counter() - start)
    result = {}
    for key, session in sessions.items():
        with open(session.end_profiling()) as fh:
            events = json.load(fh)
        per_node: dict[str, list[float]] = {}
        for event in events:
            if event.get("cat") == "Node" and event["name"].endswith("_kernel_time"):
                per_node.setdefault(event["name"], []).append(event["dur"] / 1e6)
        per_layer: dict[str, float] = {}
        for node, durations in per_node.items():
            layer = _layer_of(node)
            per_layer[layer] = per_layer.get(layer, 0.0) + min(durations[1:] or durations)
        result[key] = (float(np.median(times[key])), per_layer)
    return result


def _nchwc_padding(in_channels: int, out_channels: int, block: int) -> float:
    """MACs a conv computes on NCHWc blocks over the MACs it needs: channels padded to `block`.

    The first conv reads the 3-channel NCHW input directly, so only its output is blocked.
    """

    def blocked(channels: int) -> int:
        return block * math.ceil(channels / block)

    padded_in = in_channels if in_channels < block else blocked(in_channels)
    return padded_in * blocked(out_channels) / (in_channels * out_channels)


def investigate(full: Any, pruned: Any, tmp: str, batch: int = 4) -> dict[str, Any]:
    """Where the pruned model's time goes, layer by layer, vs the full model's efficiency."""
    from edgecheck.backends import ModelArtifact
    from edgecheck.backends.onnxruntime_backend import nchwc_channel_multiple
    from edgecheck.bench.cores import on_one_core
    from edgecheck.macs import count_macs
    from edgecheck.models import VGG16_CONV_NAMES, VGG16_INPUT_SHAPE
    from edgecheck.prune import align_channels

    models = {"full": full, "pruned": pruned}
    # MACs are the ones each model needs (Eq. 1); "pruned" runs as Table VII times it, padded
    # with zero filters to onnxruntime's channel multiple, "exact" with the exact counts.
    macs = {k: count_macs(m, VGG16_INPUT_SHAPE) for k, m in models.items()}
    macs["exact"] = macs["pruned"]
    exports = {**models, "exact": pruned}
    multiple = nchwc_channel_multiple()
    exports["pruned"] = align_channels(pruned, multiple)
    paths = {
        key: str(
            ModelArtifact.from_module(model, VGG16_INPUT_SHAPE, name=key, cache=tmp).onnx_file()
        )
        for key, model in exports.items()
    }
    with on_one_core():  # one core, one thread: per-layer times
        profiles = profile_layers(paths, batch)
    layers = [*(n for n in VGG16_CONV_NAMES), "fc6", "fc7", "fc8"]
    channels = {
        name: (conv.in_channels, conv.out_channels)
        for name, conv in pruned.features.named_children()
        if name in VGG16_CONV_NAMES
    }
    rows = []
    lost_total = 0.0
    for layer in layers:
        path = f"features.{layer}" if layer.startswith("conv") else f"classifier.{layer}"
        m_full = macs["full"].by_name[path].macs * batch
        m_pruned = macs["pruned"].by_name[path].macs * batch
        t_full = profiles["full"][1].get(layer, 0.0)
        t_pruned = profiles["pruned"][1].get(layer, 0.0)
        rate_full = m_full / t_full if t_full else math.nan
        rate_pruned = m_pruned / t_pruned if t_pruned else math.nan
        # The time the pruned layer would take at the full layer's GMAC/s, and the excess.
        lost = t_pruned - m_pruned / rate_full if t_full else 0.0
        if layer.startswith("conv"):
            lost_total += lost
        rows.append({
            "layer": layer, "macs_full": m_full, "macs_pruned": m_pruned, "t_full": t_full,
            "t_pruned": t_pruned, "gmacs_full": rate_full / 1e9, "gmacs_pruned": rate_pruned / 1e9,
            "lost": lost,
            "padding": _nchwc_padding(*channels[layer], multiple) if layer in channels else 1.0,
        })  # fmt: skip
    other = {
        key: {k: v for k, v in prof[1].items() if not (k.startswith("conv") or k.startswith("fc"))}
        for key, prof in profiles.items()
    }
    return {
        "batch": batch,
        "rows": rows,
        # Sum of the per-node minima: the same basis as the per-layer rows (the median wall
        # time of a whole call, "wall", is printed too but moves with other jobs).
        "total": {k: sum(v[1].values()) for k, v in profiles.items()},
        "wall": {k: v[0] for k, v in profiles.items()},
        "conv_ratio": {k: macs["full"].conv_total / m.conv_total for k, m in macs.items()},
        "all_ratio": {k: macs["full"].total / m.total for k, m in macs.items()},
        "other": other,
        "lost_conv": lost_total,
        "channel_multiple": multiple,
    }


def print_investigation(inv: dict[str, Any]) -> None:
    b = inv["batch"]
    print(
        f"Per-layer profile (onnxruntime, 1 thread, batch {b}; ms per batch, each node's "
        f"minimum over 5 interleaved runs; pruned = exported with its widths padded by zero "
        f"filters to a multiple of {inv['channel_multiple']}, as Table VII times it):"
    )
    print(
        f"  {'layer':<8} {'GMAC full':>9} {'pruned':>7} | {'ms full':>8} {'pruned':>7} "
        f"{'MAC ratio':>9} {'time ratio':>10} | {'GMAC/s full':>11} {'pruned':>7} {'lost ms':>8} | "
        f"{'rate loss':>9} {'pad':>6}"
    )
    for r in inv["rows"]:
        mac_ratio = r["macs_full"] / r["macs_pruned"] if r["macs_pruned"] else math.nan
        t_ratio = r["t_full"] / r["t_pruned"] if r["t_pruned"] else math.nan
        print(
            f"  {r['layer']:<8} {r['macs_full'] / 1e9:>9.3f} {r['macs_pruned'] / 1e9:>7.3f} | "
            f"{r['t_full'] * 1e3:>8.2f} {r['t_pruned'] * 1e3:>7.2f} {mac_ratio:>9.2f} "
            f"{t_ratio:>10.2f} | {r['gmacs_full']:>11.1f} {r['gmacs_pruned']:>7.1f} "
            f"{r['lost'] * 1e3:>8.2f} | {r['gmacs_full'] / r['gmacs_pruned']:>9.2f} "
            f"{r['padding']:>6.2f}"
        )
    print(
        "  rate loss = full / pruned GMAC/s of the same layer; pad = the MACs the layer "
        f"computes with its channels padded to blocks of {inv['channel_multiple']} (NCHWc) "
        "over the MACs it needs: "
        "where they agree, the padding explains the loss"
    )
    other_full = sum(inv["other"]["full"].values())
    other_pruned = sum(inv["other"]["pruned"].values())
    fc_pruned = sum(r["t_pruned"] for r in inv["rows"] if r["layer"].startswith("fc"))
    total = inv["total"]
    print(
        f"  pools, reorders, other: {other_full * 1e3:.2f} ms full, {other_pruned * 1e3:.2f} ms "
        f"pruned ({', '.join(f'{k} {v * 1e3:.2f}' for k, v in sorted(inv['other']['pruned'].items()))})"
    )
    wall = inv["wall"]
    print(
        f"  total (sum of the rows): full {total['full'] * 1e3:.1f} ms, pruned "
        f"{total['pruned'] * 1e3:.1f} ms -> {total['full'] / total['pruned']:.2f}x (theory "
        f"{inv['conv_ratio']['pruned']:.3f}x conv, {inv['all_ratio']['pruned']:.2f}x all "
        f"layers); median wall time per call {wall['full'] * 1e3:.1f} / "
        f"{wall['pruned'] * 1e3:.1f} ms"
    )
    print(
        f"  the pruned model's time: FC head {fc_pruned * 1e3:.1f} ms "
        f"({fc_pruned / total['pruned']:.0%}), conv layers' loss of efficiency vs the full "
        f"model's same layers {inv['lost_conv'] * 1e3:.1f} ms "
        f"({inv['lost_conv'] / total['pruned']:.0%}), pools/reorders "
        f"{other_pruned * 1e3:.1f} ms"
    )
    ideal = total["pruned"] - inv["lost_conv"]
    print(
        f"  without that loss the pruned model would take {ideal * 1e3:.1f} ms: "
        f"{total['full'] / ideal:.2f}x; without the FC head too (conv only): "
        f"{(total['full'] - fc_pruned) / (ideal - fc_pruned):.2f}x"
    )
    print(
        f"  the same pruned model exported with its exact counts: {total['exact'] * 1e3:.1f} ms, "
        f"{total['full'] / total['exact']:.2f}x (convs whose input channels are not a multiple "
        f"of 4 leave onnxruntime's NCHWc kernels for im2col, pools of widths off the block for "
        f"reorders; padding to {inv['channel_multiple']} saves "
        f"{(total['exact'] - total['pruned']) * 1e3:.1f} ms)"
    )


# -- verdicts ----------------------------------------------------------------------------------


def _rule_text(rule: Any) -> str:
    """The rule itself, e.g. ``>= 0.82 x ceiling`` or ``>= 4.07x``."""
    if rule is None:
        return "-"
    if rule.reference_factor is not None:
        return f"{rule.op} {rule.reference_factor:g} x ceiling"
    if rule.paper_factor is not None:
        return f"{rule.op} {rule.paper_factor:g} x paper"
    if rule.per_core is not None:
        return f"{rule.op} {rule.per_core:g} x cores"
    return f"{rule.op} {rule.value:.3g}x"


def print_verdicts(table: Any) -> list[dict[str, Any]]:
    """Per rule of prune.speedup on this profile: measured, the same-run reference (the
    cell's ceiling), the bound, the margin and the verdict; the slowed copy last."""
    from edgecheck.claims import ClaimRegistry
    from edgecheck.device import detect_device
    from edgecheck.evaluation.pruning import CLAIM_ID, PAPER_BATCH, judge_cell
    from edgecheck.paper import PAPER_CORES
    from edgecheck.testing import TEETH_SLOWDOWN, Slowdown

    teeth = Slowdown(TEETH_SLOWDOWN)  # the 1-core pruned model timed 20 % slower: must fail

    profile = detect_device().profile
    claim = ClaimRegistry()[CLAIM_ID]
    judged = [(f"{c}c", judge_cell(table, claim, c, profile)) for c in PAPER_CORES]
    cell = table.cell(1, PAPER_BATCH)
    if cell is not None and teeth in cell.variants:
        slowed = judge_cell(table, claim, 1, profile, variant=teeth)
        judged.append((f"1c, pruned x{TEETH_SLOWDOWN:g} slower (test-only)", slowed))
    print(
        f"   verdicts, {CLAIM_ID} on the {profile} profile, batch {PAPER_BATCH} "
        f"(reference: the cell's ceiling, measured in this run):"
    )
    header = ("cell", "rule", "measured", "reference", "bound", "margin", "verdict")
    rows = []
    for name, r in judged:
        rule = claim.rule_for(profile, r.key)
        rows.append((
            name,
            _rule_text(rule),
            f"{r.measured:.3f}x" if r.measured is not None else "-",
            f"{r.reference:.3f}x" if r.reference is not None else "-",
            f"{r.bound:.3f}x" if r.bound is not None else "-",
            f"{r.margin:+.1%}" if r.margin is not None else "-",
            r.verdict if r.measured is not None else r.message.split(": ", 1)[1],
        ))  # fmt: skip
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows, strict=True)]
    for row in (header, *rows):
        print("   " + "  ".join(str(x).ljust(w) for x, w in zip(row, widths, strict=True)).rstrip())
    return [{"cell": name, **r.as_dict()} for name, r in judged]


# -- main --------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import tempfile

    import torch

    from edgecheck.bench.cores import usable_cores
    from edgecheck.bench.timing import TimingPolicy
    from edgecheck.evaluation.pruning import BATCHES, PAPER_BATCH, measure_table7, quick_policy
    from edgecheck.models import VGG16_INPUT_SHAPE, build_model
    from edgecheck.prune import ALL_VARIANTS, output_error, prune_model, synthetic_images
    from edgecheck.testing import TEETH_SLOWDOWN, Slowdown

    quick = args.quick
    shape = (3, 112, 112) if quick else VGG16_INPUT_SHAPE
    images_n = 160 if quick else args.images
    per_image = 32 if quick else args.samples_per_image
    usable = len(usable_cores())
    report: dict[str, Any] = {"mode": "quick" if quick else "full"}
    print("edgecheck: channel pruning of VGG16 (Tables VI and VII of Qi & Liu) on this machine")
    print(
        f"  {usable} usable core(s); torch {torch.__version__}, {torch.get_num_threads()} "
        f"threads; load average {os.getloadavg()[0]:.2f}; mode {report['mode']}"
    )
    print()

    # -- 1. prune ---------------------------------------------------------------------------
    full = build_model("vgg16")
    images = synthetic_images(images_n, shape, seed=0)
    held_out = synthetic_images(args.eval_images, shape, seed=1)
    rss_before = _rss_bytes()
    last = [time.perf_counter()]

    def progress(stage: str, done: int, total: int) -> None:
        if stage != "sampling" or done == total:
            now = time.perf_counter()
            print(f"    {stage} {done}/{total} (+{now - last[0]:.1f} s)", flush=True)
            last[0] = now

    print(
        f"1. Pruning VGG16 to Table VI's plan: {images_n} synthetic {shape[1]}x{shape[2]} "
        f"images x {per_image} points per layer"
    )
    started = time.perf_counter()
    result = prune_model(full, "paper", images, samples_per_image=per_image, progress=progress)
    seconds = time.perf_counter() - started
    peak = _rss_bytes()
    print(
        f"   time {seconds:.1f} s (target < {TARGET_PRUNE_SECONDS:.0f} s: "
        f"{_mark(seconds < TARGET_PRUNE_SECONDS)}); peak memory of the process "
        f"{peak / 2**30:.2f} GiB (before pruning {rss_before / 2**30:.2f} GiB; target < 8 GiB: "
        f"{_mark(peak < TARGET_PRUNE_BYTES)})"
    )
    for layer in result.layers:
        print(
            f"   {layer.name:<18} {layer.channels_before:>3} -> {layer.channels_after:<3} "
            f"error on its samples: removed {layer.error_removed:.4f}, refitted "
            f"{layer.error_reconstructed:.4f}  ({layer.points} points, {layer.unknowns} "
            f"unknowns, {layer.seconds:.1f} s)"
        )
    report["prune"] = {
        "seconds": seconds, "peak_rss_bytes": peak, "rss_before_bytes": rss_before,
        "images": images_n, "shape": shape, "samples_per_image": per_image,
        "layers": [
            {"name": r.name, "kept": r.channels_after, "error_removed": r.error_removed,
             "error_reconstructed": r.error_reconstructed, "seconds": r.seconds}
            for r in result.layers
        ],
    }  # fmt: skip
    print()

    # -- 2. reconstruction vs L1 ------------------------------------------------------------
    print(
        f"2. What reconstruction buys ({args.eval_images} held-out images; relative error vs "
        f"the original model)"
    )
    variants = ALL_VARIANTS if args.ablation else (("lasso+ls", "lasso", True), ("l1", "l1", False))
    errors = []
    for label, method, refit in variants:
        if label == "lasso+ls":
            pruned_result = result
        else:
            pruned_result = prune_model(
                full, "paper", images, method=method, reconstruct=refit,
                samples_per_image=per_image,
            )  # fmt: skip
        err = output_error(full, pruned_result.model, held_out, ("features.conv5_1",))
        errors.append({"variant": label, "conv5_1": err["layers"], "logits": err["output"],
                       "seconds": pruned_result.seconds})  # fmt: skip
        print(
            f"   {label:<9} conv5_1 {err['layers']:.4f}   logits {err['output']:.4f}   "
            f"(pruning {pruned_result.seconds:.1f} s)"
        )
    by = {e["variant"]: e for e in errors}
    beats = by["lasso+ls"]["conv5_1"] < by["l1"]["conv5_1"]
    print(
        f"   He et al. vs L1: {by['l1']['conv5_1'] / by['lasso+ls']['conv5_1']:.1f}x lower "
        f"conv5_1 error ({_mark(beats)})"
    )
    report["reconstruction"] = errors
    print()

    if args.no_timing:
        _write(args.json, report)
        return 0

    # -- 3. Table VII -----------------------------------------------------------------------
    print(
        "3. Table VII: onnxruntime FP32, full vs pruned interleaved, worker pinned per core count"
    )
    policy = (
        quick_policy()
        if quick
        else TimingPolicy(warmup_rounds=2, warmup_time=0.0, min_rounds=12, min_time=0.0,
                          max_rel_ci_width=0.03)
    )  # fmt: skip

    def show(cell: Any) -> None:
        head = cell.head.median if cell.head else math.nan
        print(
            f"   {cell.cores} core(s) b{cell.batch}: full {cell.full.median * 1e3:7.1f} ms, "
            f"pruned {cell.pruned.median * 1e3:6.1f} ms -> {cell.speedup.value:.3f}x "
            f"[{cell.speedup.low:.3f}, {cell.speedup.high:.3f}]; FC head {head * 1e3:.1f} ms "
            f"({head / cell.pruned.median:.0%} of pruned); conv part {cell.conv_speedup:.2f}x"
            f"{' UNSTABLE: ' + (cell.full.reason or cell.pruned.reason) if cell.unstable else ''}",
            flush=True,
        )

    table = measure_table7(
        full, result.model, batches=BATCHES, policy=policy, on_cell=show,
        variants=[(1, PAPER_BATCH, Slowdown(TEETH_SLOWDOWN))],
    )  # fmt: skip
    print(
        f"   theory (Eq. 1): {table.conv_ratio:.3f}x conv layers, {table.all_ratio:.3f}x with "
        f"the FC head's MACs; paper: 4.27x / 4.24x / 4.28x on 1 / 2 / 4 ARM cores (batch 1)"
    )
    for cell in table.cells:
        print(
            f"   {cell.cores}c b{cell.batch}: {cell.speedup.value:.2f}x = "
            f"{cell.speedup.value / table.conv_ratio:.0%} of the conv theory, "
            f"{cell.speedup.value / table.all_ratio:.0%} of the all-layer theory"
        )
    for cores, reason in table.missing.items():
        print(f"   {cores} cores: not run here: {reason}")
    for cores in sorted({c.cores for c in table.cells}):
        cell = table.cell(cores, 4)
        if cell is not None:
            ok = cell.speedup.value >= TARGET_B4_SPEEDUP
            ceiling = cell.ceiling(table.conv_ratio)
            print(
                f"   target b4 >= {TARGET_B4_SPEEDUP}x on {cores} core(s): {_mark(ok)} "
                f"(measured {cell.speedup.value:.2f}x; ceiling {ceiling:.2f}x if the pruned "
                f"convs took exactly 1/{table.conv_ratio:.3f} of the full convs' time, the FC "
                f"head as measured{': the target is above it' if ceiling < TARGET_B4_SPEEDUP else ''})"
            )
    report["table7"] = table.as_dict()
    report["verdicts"] = print_verdicts(table)
    print()

    # -- 4. why -----------------------------------------------------------------------------
    print("4. What holds the ratio back")
    with tempfile.TemporaryDirectory(prefix="edgecheck-prune-bench-") as tmp:
        inv = investigate(full, result.model, tmp)
    print_investigation(inv)
    report["investigation"] = {k: v for k, v in inv.items() if k != "other"}
    _write(args.json, report)
    return 0


def _write(path: str | None, report: dict[str, Any]) -> None:
    if path:
        from edgecheck._atomic import write_atomic

        write_atomic(path, json.dumps(report, indent=2, default=str) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    sys.exit(main())

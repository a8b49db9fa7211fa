"""Fig. 4: VGG16 INT8 vs FP32 throughput by batch size, measured live.

VGG16 (seeded random weights: speed does not depend on their values) is exported to ONNX and
quantized to INT8 QDQ (`edgecheck.quantize.quantize_int8`, MinMax over a few random images:
the calibration's quality does not change the speed). Then both models are timed in worker
processes pinned to the same cores (`edgecheck.bench.cores`), every (precision, batch) pair
in ONE interleaved run (`measure_interleaved`), so drift of a shared machine cancels from the
ratios and the ratios of different batch sizes are comparable with each other.

On the ``cpu`` profile onnxruntime's CPU provider runs both (fast INT8 needs VNNI or ARM dot
products, see `edgecheck.quantize.speed_unmet`), and the same run times this CPU's INT8 / FP32
rate on VGG16's conv GEMMs (`edgecheck.bench.gemm`), the reference the cpu rules scale
(`GemmReference`); tests may add a 20 % slower INT8 runner (``variant=``) and FP16
(``others=``) to the same run. Where a precision's speed claim does not apply, its ratio is
measured anyway at batch 1 and shown with the reason (`precision_line`). On the ``gpu``
profile TensorRT runs them in this process on the GPU, up to Fig. 4's batch 128. The report section
(`edgecheck.evaluation.quantization.section`) and ``tests/perf/test_quantization_speed.py``
call the same functions.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgecheck.progress import note

if TYPE_CHECKING:
    from edgecheck.bench.cores import RunnerWrapper
    from edgecheck.bench.stats import Estimate
    from edgecheck.bench.timing import Measurement, TimingPolicy
    from edgecheck.claims import Claim, ClaimRegistry, ClaimResult
    from edgecheck.device import DeviceInfo
    from edgecheck.report import Section

CLAIM_ID = "quant.int8.speedup"
CPU_BATCHES = (1, 2, 4)
# Fig. 4's x axis (Titan XP, TensorRT); batch 128 is the claim's point.
GPU_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128)
TREND_KEY = "trend"
# The rules' same-run reference: VGG16's conv GEMMs as convolutions (`edgecheck.bench.gemm`:
# the kernels the model's layers take; MatMulInteger takes AMX where the model does not).
REFERENCE_OP = "conv"
GEMM_REFERENCE_NAME = "conv GEMM int8/fp32"
CALIBRATION_IMAGES = 4


def batches_for(profile: str) -> tuple[int, ...]:
    """The batch sizes to measure on `profile`: up to 128 on ``gpu`` only.

    A CPU needs about a second per FP32 VGG16 image at batch 4 on one core, so batch 128
    would take minutes a round; Fig. 4's large batches are a GPU's regime.
    """
    return GPU_BATCHES if profile == "gpu" else CPU_BATCHES


def batch_key(batch: int) -> str:
    """The claim key of a batch size: ``"b4"``."""
    return f"b{batch}"


class _Pair:
    """An FP32 and an INT8 timing judged together."""

    fp32: Measurement
    int8: Measurement

    @property
    def unstable(self) -> bool:
        """Either timing too noisy (or disturbed) to decide on."""
        return self.fp32.unstable or self.int8.unstable

    @property
    def reason(self) -> str:
        """Why it is unstable ('' when stable)."""
        return self.fp32.reason or self.int8.reason


@dataclass
class Int8Cell(_Pair):
    """FP32 vs INT8 at one batch size.

    Attributes:
        batch: images per call.
        fp32: the FP32 model's timing.
        int8: the INT8 model's timing.
        speedup: median(FP32) / median(INT8) per call, with its paired bootstrap interval.
    """

    batch: int
    fp32: Measurement
    int8: Measurement
    speedup: Estimate

    def as_dict(self) -> dict[str, Any]:
        """The numbers, JSON-friendly."""
        return {
            "batch": self.batch,
            "fp32_s": self.fp32.median,
            "int8_s": self.int8.median,
            "speedup": self.speedup.value,
            "speedup_low": self.speedup.low,
            "speedup_high": self.speedup.high,
            "rounds": self.fp32.rounds,
            "unstable": self.unstable,
            "reason": self.reason,
        }


@dataclass
class GemmReference(_Pair):
    """This CPU's INT8 / FP32 GEMM rate ratio, timed in the run it is a reference for.

    Attributes:
        fp32: the FP32 GEMMs' timing (`edgecheck.bench.gemm.GemmWorkload`).
        int8: the INT8 GEMMs' timing, operand types as the deployed model's.
        ratio: median(FP32) / median(INT8), with its paired bootstrap interval.
        types: the INT8 operand types, e.g. ``"s8s8"``.
    """

    fp32: Measurement
    int8: Measurement
    ratio: Estimate
    types: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "types": self.types,
            "fp32_s": self.fp32.median,
            "int8_s": self.int8.median,
            "ratio": self.ratio.value,
            "ratio_low": self.ratio.low,
            "ratio_high": self.ratio.high,
            "unstable": self.unstable,
            "reason": self.reason,
        }


@dataclass
class Int8Speed:
    """Fig. 4 measured here.

    Attributes:
        cells: one `Int8Cell` per batch size, in increasing batch order.
        trend: speedup at the largest batch / speedup at the smallest, with its paired
            bootstrap interval over the four timings (1: flat; below 1: INT8 gains less at
            the larger batch).
        cores: cores (and runtime threads) each model ran on.
        backend: the runtime.
        device: ``"cpu"`` or ``"cuda"``.
        int8_variant: the tag of the wrapper the INT8 cells were timed with (`variant`
            swapped in by `with_variant_int8`); None for the real runners.
        references: INT8 / FP32 GEMM ratios timed in the same run, by `GemmWorkload` op
            (CPU only): ``"conv"`` is the rules' reference (`gemm`), ``"matmul"`` for
            information.
        variants: INT8 timings of runners wrapped by `variant` (the test-only
            `edgecheck.testing.Slowdown`), by batch, timed in the same run next to the real
            ones (see `with_variant_int8`).
        variant: the wrapper of `variants`.
        others: other precisions timed at the smallest batch in the same run (e.g. FP16
            where its speed claim does not apply), as `Int8Cell` with that precision's
            timing in place of INT8's, by precision.
    """

    cells: list[Int8Cell]
    trend: Estimate
    cores: int
    backend: str
    device: str
    int8_variant: str | None = None
    references: dict[str, GemmReference] = field(default_factory=dict)
    variants: dict[int, Measurement] = field(default_factory=dict)
    variant: RunnerWrapper | None = None
    others: dict[str, Int8Cell] = field(default_factory=dict)

    def cell(self, batch: int) -> Int8Cell | None:
        """The cell of `batch`, if measured."""
        return next((c for c in self.cells if c.batch == batch), None)

    @property
    def gemm(self) -> GemmReference | None:
        """The reference the cpu rules scale (`REFERENCE_OP`), if timed."""
        return self.references.get(REFERENCE_OP)

    @property
    def unstable(self) -> bool:
        """Any timing too noisy to decide on (the GEMM reference's included)."""
        return any(c.unstable for c in self.cells) or bool(self.gemm and self.gemm.unstable)

    @property
    def reason(self) -> str:
        """The first unstable timing's reason, naming it ('' when all are stable)."""
        cell = next((f"batch {c.batch}: {c.reason}" for c in self.cells if c.unstable), "")
        if cell:
            return cell
        return f"GEMM reference: {self.gemm.reason}" if self.gemm and self.gemm.unstable else ""

    def with_variant_int8(self, batches: Sequence[int] | None = None) -> Int8Speed:
        """This run with the wrapped INT8 timings in place of the real ones.

        The cells of `batches` (default: all in `variants`) pair the same FP32 timing with
        the wrapped INT8 one; the trend is recomputed (slow the largest batch only to see it
        drop); the GEMM reference stays as measured. Judging this copy shows what, e.g., a
        20 % slower INT8 runner would get, in the same run.
        """
        from edgecheck.bench.timing import speedup

        chosen = set(self.variants if batches is None else batches)
        if not self.variants or not chosen <= set(self.variants):
            raise ValueError(
                f"this run timed no wrapped INT8 runner at batch(es) {sorted(chosen)} "
                f"(measure with variant=... and variant_batches=...)."
            )
        wrapped = self.variants
        cells = [
            replace(c, int8=wrapped[c.batch], speedup=speedup(c.fp32, wrapped[c.batch]))
            if c.batch in chosen
            else c
            for c in self.cells
        ]
        policy = cells[0].fp32.policy
        return replace(
            self, cells=cells, trend=_trend(cells[0], cells[-1], policy), variants={},
            int8_variant=self.variant.tag if self.variant is not None else None, variant=None,
        )  # fmt: skip

    def as_dict(self) -> dict[str, Any]:
        """The numbers, JSON-friendly."""
        return {
            "backend": self.backend,
            "device": self.device,
            "cores": self.cores,
            "int8_variant": self.int8_variant,
            "cells": [c.as_dict() for c in self.cells],
            "trend": self.trend.as_dict(),
            "references": {op: r.as_dict() for op, r in self.references.items()},
            "others": {p: c.as_dict() for p, c in self.others.items()},
        }


@dataclass(frozen=True)
class Int8Models:
    """The FP32 and INT8 VGG16 files to time.

    Attributes:
        fp32: the exported FP32 ONNX file.
        int8: its INT8 QDQ quantization.
        calibration_images: random images the INT8 ranges were calibrated on.
        quantize_seconds: calibration + quantization time.
        activation_type, weight_type: the INT8 model's operand types (``"int8"`` or
            ``"uint8"``, from `edgecheck.quantize.settings.settings_for`): the GEMM reference
            uses the same.
        fp16: its FP16 conversion, where one was made (`with_fp16`).
    """

    fp32: Path
    int8: Path
    calibration_images: int
    quantize_seconds: float
    activation_type: str = "int8"
    weight_type: str = "int8"
    fp16: Path | None = None

    def with_fp16(self) -> Int8Models:
        """These models plus an FP16 conversion of the FP32 file next to it (about 10 s)."""
        from edgecheck.quantize import convert_fp16

        if self.fp16 is not None:
            return self
        note("converting VGG16 to FP16")
        return replace(self, fp16=convert_fp16(self.fp32, self.fp32.with_name("vgg16_fp16.onnx")))


def prepare_vgg16_int8(
    workdir: str | Path, *, calibration_images: int = CALIBRATION_IMAGES, seed: int = 0
) -> Int8Models:
    """Export VGG16 (seeded weights) to ONNX in `workdir` and quantize it to INT8 QDQ.

    About 30 s on 2 cores (8 s export, 20 s pre-processing and calibration). The calibration
    images are seeded uniform noise: INT8 speed depends on the graph, not on the ranges. The
    Q/DQ form is this CPU's deployable one (`edgecheck.quantize.settings.settings_for`).
    """
    import numpy as np

    from edgecheck.backends import ModelArtifact
    from edgecheck.models import VGG16_INPUT_SHAPE
    from edgecheck.quantize import quantize_int8

    folder = Path(workdir)
    note("exporting VGG16 to ONNX")
    fp32 = ModelArtifact.from_registered("vgg16", seed=seed).onnx_file(folder)
    note("calibrating and quantizing VGG16 to INT8")
    images = np.random.default_rng(seed).random(
        (calibration_images, *VGG16_INPUT_SHAPE), dtype=np.float32
    )
    # onnxruntime's quantizer logs a warning per model about pre-processing; it is done.
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)
    try:
        q = quantize_int8(
            fp32, folder / "vgg16_int8.onnx", images, method="minmax",
            batch_size=calibration_images,
        )  # fmt: skip
    finally:
        logging.getLogger().setLevel(level)
    return Int8Models(
        fp32, Path(q.path), calibration_images, q.seconds,
        activation_type=q.settings.activation_type, weight_type=q.settings.weight_type,
    )  # fmt: skip


def quick_policy() -> TimingPolicy:
    """Short timing for the report and the tests: 1 warm-up round, at least 8 timed rounds.

    VGG16's calls take 0.1-1 s here, so 8 rounds of all batch sizes (with the GEMM reference,
    the slowed and FP16 runners of the tests) are about 35 s; one extension when a median's
    interval is wider than 15 % of it. 15 % (not the harness's 5 %) because the rules judge
    ratios of timings paired round by round, where the shared machine's drift cancels: the
    speedups' paired intervals came out +-1-3 % wide after 8 rounds here (3 runs), against
    rule margins of 6-8 %, while the medians' own intervals were 7-24 % wide after 12 rounds
    on this project's shared 2-core machine.
    """
    from edgecheck.bench.timing import TimingPolicy

    return TimingPolicy(
        warmup_rounds=1, warmup_time=0.0, min_rounds=8, min_time=0.0, max_time=240.0,
        max_rel_ci_width=0.15, extend_up_to=2.0,  # the verdicts come from paired intervals
    )  # fmt: skip


def measure_int8_speed(
    models: Int8Models,
    *,
    batches: Sequence[int] = CPU_BATCHES,
    cores: int = 1,
    device: str = "cpu",
    policy: TimingPolicy | None = None,
    environment: Mapping[str, Any] | None = None,
    reference: bool | None = None,
    reference_ops: Sequence[str] = (REFERENCE_OP,),
    variant: RunnerWrapper | None = None,
    variant_batches: Sequence[int] = (),
    others: Sequence[str] = (),
) -> Int8Speed:
    """Time FP32 vs INT8 VGG16 at every batch size, all interleaved in one run.

    Args:
        models: from `prepare_vgg16_int8`.
        batches: batch sizes, e.g. `batches_for(profile)`. Default (1, 2, 4).
        cores: on the CPU, cores per worker process (= runtime threads). Default 1: one
            core is the steadiest on a shared machine, and INT8's gain is per core.
        device: ``"cpu"`` (onnxruntime, pinned workers) or ``"cuda"`` (TensorRT, in this
            process). Default ``"cpu"``.
        policy: timing policy; default `quick_policy()`.
        environment: recorded in every measurement.
        reference: CPU only: also time the INT8 / FP32 GEMM reference (`GemmReference`,
            `edgecheck.bench.gemm`) in the same run, on as many pinned cores. Default: on
            the CPU.
        reference_ops: the `GemmWorkload` ops to time when `reference` is on. Default
            ``("conv",)``, the rules' reference; ``"matmul"`` adds the explicit GEMMs.
        variant: CPU only: a runner wrapper (the test-only `edgecheck.testing.Slowdown`)
            for INT8 copies timed too, in the same run (`Int8Speed.with_variant_int8`).
        variant_batches: the batch sizes of those copies.
        others: CPU only: other precisions (``"fp16"``, from ``models.fp16``) to time at the
            smallest batch in the same run (`Int8Speed.others`).
    """
    from edgecheck.bench.timing import measure_interleaved, speedup

    order = sorted(set(batches))
    policy = policy or quick_policy()
    reference = device == "cpu" if reference is None else reference
    if device != "cpu" and (reference or variant_batches or others):
        raise ValueError("the GEMM reference, wrapped runners and other precisions are CPU only.")
    if variant_batches and variant is None:
        raise ValueError("variant_batches needs the variant (the runner wrapper) to time.")
    unknown = sorted(set(variant_batches) - set(order))
    if unknown:
        raise ValueError(f"variant batch sizes {unknown} are not among the batches {order}.")
    if "fp16" in others and models.fp16 is None:
        raise ValueError("others=('fp16',) needs models.fp16 (Int8Models.with_fp16()).")
    gemm_types: dict[str, str] = {}
    if device == "cpu":
        from edgecheck.bench.cores import RunnerSpec, WorkerGroup
        from edgecheck.bench.gemm import GemmWorkload

        specs: list[tuple[Any, int]] = []
        names: list[str] = []
        for batch in order:
            specs.append((RunnerSpec(str(models.fp32), batch_size=batch), cores))
            int8 = RunnerSpec(str(models.int8), precision="int8", batch_size=batch)
            specs.append((int8, cores))
            names += [f"fp32-b{batch}", f"int8-b{batch}"]
            if batch in variant_batches:
                specs.append((replace(int8, wrap=variant), cores))
                names.append(f"variant-b{batch}")
        for precision in others:
            path = {"fp16": models.fp16}.get(precision)
            if path is None:
                raise ValueError(f"other precision {precision!r} is not 'fp16'.")
            specs.append((RunnerSpec(str(path), precision=precision, batch_size=order[0]), cores))
            names.append(f"{precision}-b{order[0]}")
        if reference:
            # What onnxruntime runs a QDQ model's convolutions as: U8 activations on x86
            # (it converts S8 ones), the deployed weight type.
            act = "uint8" if _x86() else models.activation_type
            for op in reference_ops:
                for precision in ("fp32", "int8"):
                    gemm = GemmWorkload(
                        precision, op, activation_type=act, weight_type=models.weight_type
                    )
                    specs.append((gemm, cores))
                    names.append(f"{op}-{precision}")
                gemm_types[op] = gemm.types
        # share_exports=False: the specs name ready ONNX files.
        with WorkerGroup(specs, share_exports=False) as workers:
            measured = measure_interleaved(
                [w.target() for w in workers], policy=policy, environment=environment
            )
        results = dict(zip(names, measured, strict=True))
        backend = "onnxruntime"
    else:
        timed = _measure_in_process(models, order, policy, environment)
        results = {}
        for i, batch in enumerate(order):
            results[f"fp32-b{batch}"], results[f"int8-b{batch}"] = timed[2 * i], timed[2 * i + 1]
        backend = "tensorrt"
    cells = [
        Int8Cell(b, results[f"fp32-b{b}"], results[f"int8-b{b}"],
                 speedup(results[f"fp32-b{b}"], results[f"int8-b{b}"]))
        for b in order
    ]  # fmt: skip
    references = {}
    for op, types in gemm_types.items():
        g32, g8 = results[f"{op}-fp32"], results[f"{op}-int8"]
        references[op] = GemmReference(g32, g8, speedup(g32, g8), types)
    first = cells[0].fp32
    return Int8Speed(
        cells=cells, trend=_trend(cells[0], cells[-1], policy), cores=cores,
        backend=backend, device=device, references=references,
        variants={b: results[f"variant-b{b}"] for b in order if b in variant_batches},
        variant=variant if variant_batches else None,
        others={
            p: Int8Cell(order[0], first, results[f"{p}-b{order[0]}"],
                        speedup(first, results[f"{p}-b{order[0]}"]))
            for p in others
        },
    )  # fmt: skip


def _x86() -> bool:
    import platform

    return platform.machine().lower() in ("x86_64", "amd64", "i386", "i686")


def _measure_in_process(
    models: Int8Models,
    batches: Sequence[int],
    policy: TimingPolicy,
    environment: Mapping[str, Any] | None,
) -> list[Measurement]:
    """GPU: TensorRT engines in this process (a GPU is not shared by pinning cores)."""
    import contextlib
    import functools

    from edgecheck.backends import make_runner
    from edgecheck.bench.timing import CallSampler, Target, measure_interleaved

    with contextlib.ExitStack() as stack:
        targets = []
        for batch in batches:
            for precision, path in (("fp32", models.fp32), ("int8", models.int8)):
                runner = stack.enter_context(
                    make_runner(path, "tensorrt", precision, batch_size=batch, device="cuda")
                )
                x = runner.example_input(0)
                targets.append(
                    Target(
                        f"vgg16-{precision}-b{batch}",
                        CallSampler(functools.partial(runner.infer, x)),
                        batch,
                        runner.config,
                    )
                )
        return measure_interleaved(targets, policy=policy, environment=environment)


def _trend(first: Int8Cell, last: Int8Cell, policy: TimingPolicy) -> Estimate:
    """speedup(last batch) / speedup(first batch), bootstrapped over the paired rounds."""
    import numpy as np

    from edgecheck.bench.stats import bootstrap

    def statistic(f0: Any, i0: Any, f1: Any, i1: Any) -> Any:
        med = np.median
        return (med(f1, axis=-1) / med(i1, axis=-1)) / (med(f0, axis=-1) / med(i0, axis=-1))

    return bootstrap(
        [first.fp32.samples, first.int8.samples, last.fp32.samples, last.int8.samples],
        statistic, confidence=policy.confidence, n_boot=policy.n_boot, seed=policy.seed,
    )  # fmt: skip


def judge_int8_speed(speed: Int8Speed, registry: ClaimRegistry, profile: str) -> list[ClaimResult]:
    """Verdicts for every batch size that has a rule on `profile`, then the trend.

    A ``reference_factor`` rule (the cpu profile's) is judged against the INT8 / FP32 GEMM
    ratio timed in the same run (`Int8Speed.gemm`): without it, or with it too noisy, the
    verdict is "not run here". The trend is speedup(largest batch) / speedup(smallest),
    judged on its point value. A timing the harness flagged unstable is not judged: its
    verdict is "not run here" with the harness's reason.
    """
    claim = registry[CLAIM_ID]
    gemm = speed.gemm

    def judged(key: str, value: float, noisy: str, **extra: Any) -> ClaimResult:
        rule = claim.rule_for(profile, key)
        assert rule is not None
        reference = None
        if rule.reference_factor is not None:
            if gemm is None:
                return claim.not_run(
                    profile=profile, key=key,
                    reason="no INT8 / FP32 GEMM reference was timed in this run",
                )  # fmt: skip
            noisy = noisy or (f"GEMM reference: {gemm.reason}" if gemm.unstable else "")
            reference = gemm.ratio.value
        if noisy:
            return claim.not_run(
                profile=profile, key=key, reason=f"timing too noisy to decide: {noisy}"
            )
        result = claim.check(
            value, profile=profile, key=key, reference=reference,
            reference_name=GEMM_REFERENCE_NAME,
        )  # fmt: skip
        return replace(result, extra=extra) if extra else result

    results = []
    for c in speed.cells:
        key = batch_key(c.batch)
        if claim.rule_for(profile, key) is not None:
            results.append(judged(key, c.speedup.value, c.reason if c.unstable else ""))
    ends = (speed.cells[0], speed.cells[-1]) if speed.cells else ()
    if len(speed.cells) > 1 and claim.rule_for(profile, TREND_KEY) is not None:
        noisy = next((f"batch {c.batch}: {c.reason}" for c in ends if c.unstable), "")
        results.append(
            judged(TREND_KEY, speed.trend.value, noisy,
                   ci=[round(speed.trend.low, 3), round(speed.trend.high, 3)])
        )  # fmt: skip
    return results


def fig4_png(speed: Int8Speed, claim: Claim) -> bytes:
    """Fig. 4 as measured here: INT8 / FP32 speedup vs batch size, with the intervals, as PNG."""
    from edgecheck.plots import Series, line_figure

    cells = speed.cells
    series = [
        Series(
            f"measured here ({speed.backend}, {speed.device}, {speed.cores} core(s))",
            [c.batch for c in cells],
            [c.speedup.value for c in cells],
            low=[c.speedup.low for c in cells],
            high=[c.speedup.high for c in cells],
        )
    ]
    paper = {int(k[1:]): v for k, v in claim.paper.items() if k.startswith("b") and k[1:].isdigit()}
    for batch, value in sorted(paper.items()):
        series.append(Series(f"paper, b{batch} (Titan XP)", [batch], [value], dashed=True))
    return line_figure(
        series,
        title="VGG16 INT8 speedup vs batch (cf. Fig. 4)",
        xlabel="batch size",
        ylabel="INT8 / FP32 throughput",
        xticks=sorted({*(c.batch for c in cells), *paper}),
        reference={"1x": 1.0},
        log2_x=True,
    )


FIGURE_NAME = "fig4_int8_speedup.png"


def precision_line(precision: str, reasons: Sequence[str], cell: Int8Cell | None) -> str:
    """One line saying whether `precision`'s speed claims apply here, with what was measured.

    Where they do not apply, the ratio is measured anyway (once, at the smallest batch) and
    shown next to the reason, so a reader sees what the hardware gives instead of nothing::

        - INT8 speed claims: not applicable here: <reasons>; measured anyway: VGG16 INT8 /
          FP32 throughput at batch 1, 1 core: **1.04x** [1.01, 1.07].

    Args:
        precision: ``"int8"`` or ``"fp16"``.
        reasons: why its speed claims cannot hold here (`edgecheck.quantize.speed_unmet`);
            empty when they apply.
        cell: its timing against FP32, or None when nothing could be timed.
    """
    name = precision.upper()
    if not reasons:
        return f"- {name} speed claims: apply here; judged below."
    line = f"- {name} speed claims: not applicable here: {'; '.join(reasons)}"
    if cell is None:
        return line + "; not measured."
    est = cell.speedup
    cores = cell.fp32.extra.get("cores")
    where = f", {cores} core" + ("s" if cores != 1 else "") if cores else ""
    noisy = f" (noisy: {cell.reason})" if cell.unstable else ""
    return (
        f"{line}; measured anyway: VGG16 {name} / FP32 throughput at batch {cell.batch}{where}: "
        f"**{est.value:.2f}x** [{est.low:.2f}, {est.high:.2f}]{noisy}."
    )


def speed_part(registry: ClaimRegistry, device: DeviceInfo) -> Section:
    """The reduced-precision speed part of the quantization section: which speed claims apply
    here, INT8 vs FP32 by batch size judged against the same run's GEMM reference, Fig. 4.

    Where a precision's speed claims cannot hold (no INT8 dot products, no native FP16), its
    verdicts are "not run here" with the reason, and its VGG16 ratio is measured anyway at
    batch 1 and shown next to the reason (`precision_line`). Nothing is timed only where the
    runtime itself is missing.
    """
    import tempfile

    from edgecheck.backends import backend_unavailable_reason
    from edgecheck.bench.cores import usable_core_count
    from edgecheck.quantize import speed_unmet
    from edgecheck.report import Figure, Section

    claim = registry[CLAIM_ID]
    profile = device.profile
    gpu = profile == "gpu"
    runtime = "tensorrt" if gpu else "onnxruntime"
    batches = batches_for(profile)
    reasons = speed_unmet("int8", device, runtime=runtime)
    # FP16 measured anyway on the CPU only: a GPU with TensorRT has its own FP16 claims.
    fp16_reasons = [] if gpu else speed_unmet("fp16", device, runtime="onnxruntime")
    missing = backend_unavailable_reason(runtime)
    keys = [batch_key(b) for b in batches if claim.rule_for(profile, batch_key(b)) is not None]
    if claim.rule_for(profile, TREND_KEY) is not None:
        keys.append(TREND_KEY)
    title = "INT8 speed (IV-D-3, Fig. 4)"
    if missing or (reasons and gpu):
        why = "; ".join([*reasons, *([missing] if missing else [])])
        lines = [precision_line("int8", [why], None)]
        if fp16_reasons:
            lines.append(precision_line("fp16", fp16_reasons, None))
        return Section(
            title=title,
            body="\n".join([*lines, "", f"INT8 vs FP32 VGG16 speed: not measured here: {why}."]),
            results=[claim.not_run(profile=profile, key=k, reason=why) for k in keys],
        )
    others = ("fp16",) if fp16_reasons else ()
    with tempfile.TemporaryDirectory(prefix="edgecheck-int8-speed-") as tmp:
        models = prepare_vgg16_int8(tmp)
        if others:
            models = models.with_fp16()
        if reasons:
            # Not applicable: INT8 and FP16 measured anyway, once, at the smallest batch.
            speed = measure_int8_speed(
                models, batches=batches[:1], cores=1, reference=False, others=others,
                environment={"profile": profile},
            )  # fmt: skip
        else:
            speed = measure_int8_speed(
                models, batches=batches, cores=1, device="cuda" if gpu else "cpu",
                environment={"profile": profile}, others=others,
            )  # fmt: skip
    lines = [precision_line("int8", reasons, speed.cells[0] if reasons else None)]
    if fp16_reasons:
        lines.append(precision_line("fp16", fp16_reasons, speed.others.get("fp16")))
    data = {
        **speed.as_dict(),
        "calibration_images": models.calibration_images,
        "quantize_seconds": models.quantize_seconds,
        "int8_not_applicable": reasons,
        "fp16_not_applicable": fp16_reasons,
    }
    if reasons:
        why = "; ".join(reasons)
        return Section(
            title=title, body="\n".join(lines),
            results=[claim.not_run(profile=profile, key=k, reason=why) for k in keys],
            data=data,
        )  # fmt: skip
    results = judge_int8_speed(speed, registry, profile)
    body = "\n".join([*lines, "", speed_table(speed, claim, models, profile)])
    body += f" This machine has {usable_core_count()} usable core(s)."
    figure = Figure(FIGURE_NAME, fig4_png(speed, claim), "INT8 / FP32 speedup vs batch (Fig. 4)")
    return Section(title=title, body=body, results=results, figures=[figure], data=data)


def speed_table(speed: Int8Speed, claim: Claim, models: Int8Models, profile: str) -> str:
    """The measured INT8 / FP32 table by batch, with the GEMM reference and the trend (markdown)."""
    from edgecheck.report import markdown_table

    gemm = speed.gemm
    rows = []
    for c in speed.cells:
        key = batch_key(c.batch)
        rule = claim.rule_for(profile, key)
        bound = "-"
        if rule is not None and (rule.reference_factor is None or gemm is not None):
            ref = gemm.ratio.value if gemm is not None else None
            bound = f">= {rule.bound(claim.paper_value(key), None, ref):.2f}x"
        paper = claim.paper_value(key)
        rows.append({
            "batch": c.batch,
            "fp32": f"{c.fp32.median * 1e3:.1f} ms",
            "int8": f"{c.int8.median * 1e3:.1f} ms",
            "speedup": f"**{c.speedup.value:.2f}x** [{c.speedup.low:.2f}, {c.speedup.high:.2f}]",
            "bound": bound,
            "paper": "-" if paper is None else f"{paper:g}x",
            "note": "noisy: " + c.reason if c.unstable else "",
        })  # fmt: skip
    columns = [("batch", "batch"), ("fp32", "FP32 per batch"), ("int8", "INT8 per batch"),
               ("speedup", "INT8 / FP32 throughput [95 % CI]"), ("bound", "threshold"),
               ("paper", "paper (Titan XP)"), ("note", "")]  # fmt: skip
    gpu = speed.device == "cuda"
    where = (
        "TensorRT on the GPU"
        if gpu
        else f"onnxruntime's CPU provider, each model in a worker pinned to {speed.cores} core"
    )
    first, last = speed.cells[0].batch, speed.cells[-1].batch
    trend_rule = claim.rule_for(profile, TREND_KEY)
    lines = [
        f"VGG16 (seeded random weights) FP32 vs INT8 QDQ (MinMax, {models.calibration_images} "
        f"random calibration images, quantized in {models.quantize_seconds:.0f} s), timed on "
        f"{where}, all batch sizes interleaved in one run ({speed.cells[0].fp32.rounds} rounds). "
        f"The paper's Fig. 4 ran a Titan XP with TensorRT up to batch 128, where it reached "
        f"{claim.paper_value('b128'):g}x; batch 128 is measured on the gpu profile only.",
        "",
        markdown_table(rows, columns),
        "",
    ]
    if gemm is not None:
        ratio = gemm.ratio
        noisy = f" (noisy: {gemm.reason})" if gemm.unstable else ""
        lines.append(
            f"Same-run reference: this CPU's INT8 / FP32 rate on VGG16's conv3_2, conv4_2 and "
            f"conv5_2 GEMMs, run as convolutions ({gemm.types} QLinearConv vs FP32 Conv on "
            f"onnxruntime: the kernels the model's layers take), on the same pinned core(s), "
            f"interleaved with the models: **{ratio.value:.2f}x** [{ratio.low:.2f}, "
            f"{ratio.high:.2f}]{noisy}; the thresholds are a fixed factor of it "
            f"(`{CLAIM_ID}`'s rule)."
        )
    matmul = speed.references.get("matmul")
    if matmul is not None:
        lines.append(
            f"For information, the same GEMMs as explicit matrix products ({matmul.types} "
            f"MatMulInteger vs FP32 MatMul: MLAS's quantized GEMM, which takes AMX where the "
            f"CPU has it): **{matmul.ratio.value:.2f}x** [{matmul.ratio.low:.2f}, "
            f"{matmul.ratio.high:.2f}]."
        )
    trend = speed.trend
    bound = (
        f", threshold {trend_rule.op} {trend_rule.value:g}"
        if trend_rule and trend_rule.value is not None
        else ""
    )
    lines.append(
        f"Trend, speedup(b{last}) / speedup(b{first}): {trend.value:.3f} "
        f'[{trend.low:.3f}, {trend.high:.3f}]{bound}: Fig. 4\'s "grows with batch", read as '
        f'"does not drop" beyond the threshold.'
    )
    return "\n".join(lines)

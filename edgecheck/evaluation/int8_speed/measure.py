"""Fig. 4: the measuring half (see the package docstring).

`measure_int8_speed` (every (precision, batch) pair interleaved in one run) and what the
report measures (`measure_speed_part`: which precisions' speed claims apply here, and the
timings).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from edgecheck.evaluation.int8_speed.prepare import Int8Models, prepare_vgg16_int8
from edgecheck.evaluation.int8_speed.speed import (
    REFERENCE_OP,
    GemmReference,
    Int8Cell,
    Int8Speed,
    speedup_trend,
)

if TYPE_CHECKING:
    from edgecheck.bench.cores import RunnerWrapper
    from edgecheck.bench.timing import Measurement, TimingPolicy
    from edgecheck.device import DeviceInfo

CPU_BATCHES = (1, 2, 4)
# Fig. 4's x axis (Titan XP, TensorRT); batch 128 is the claim's point.
GPU_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128)


def batches_for(profile: str) -> tuple[int, ...]:
    """The batch sizes to measure on `profile`: up to 128 on ``gpu`` only.

    A CPU needs about a second per FP32 VGG16 image at batch 4 on one core, so batch 128
    would take minutes a round; Fig. 4's large batches are a GPU's regime.
    """
    return GPU_BATCHES if profile == "gpu" else CPU_BATCHES


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
        cells=cells, trend=speedup_trend(cells[0], cells[-1], policy), cores=cores,
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


@dataclass
class SpeedPart:
    """What the report's INT8 speed part measured here, and why speed claims do not apply.

    Attributes:
        profile: the device's profile.
        batches: the batch sizes of its claim keys (`batches_for`).
        reasons: why INT8's speed claims cannot hold here (empty: they apply).
        fp16_reasons: the same for FP16, on the CPU only (a GPU has its own FP16 claims).
        missing: why the runtime is not available, or None.
        speed: the timings; None where nothing was timed (`not_measured`).
        models: the files timed; None with `speed`.
    """

    profile: str
    batches: tuple[int, ...]
    reasons: list[str]
    fp16_reasons: list[str]
    missing: str | None = None
    speed: Int8Speed | None = None
    models: Int8Models | None = None

    @property
    def not_measured(self) -> str | None:
        """Why nothing was timed (the runtime is missing, or INT8 cannot be fast on this
        GPU), or None."""
        if self.missing or (self.reasons and self.profile == "gpu"):
            return "; ".join([*self.reasons, *([self.missing] if self.missing else [])])
        return None


def measure_speed_part(device: DeviceInfo) -> SpeedPart:
    """The report's INT8 speed timings on `device`: all its batch sizes where INT8's speed
    claims apply; where they do not, INT8 (and FP16, where its claims do not apply either)
    measured anyway, once, at the smallest batch; nothing where the runtime is missing."""
    import tempfile

    from edgecheck.backends import backend_unavailable_reason
    from edgecheck.quantize import speed_unmet

    profile = device.profile
    gpu = profile == "gpu"
    runtime = "tensorrt" if gpu else "onnxruntime"
    batches = batches_for(profile)
    reasons = speed_unmet("int8", device, runtime=runtime)
    # FP16 measured anyway on the CPU only: a GPU with TensorRT has its own FP16 claims.
    fp16_reasons = [] if gpu else speed_unmet("fp16", device, runtime="onnxruntime")
    part = SpeedPart(profile, batches, reasons, fp16_reasons, backend_unavailable_reason(runtime))
    if part.not_measured:
        return part
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
    return replace(part, speed=speed, models=models)

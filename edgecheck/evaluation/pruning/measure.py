"""Table VII: the measuring half (see the package docstring).

Full vs pruned VGG16 timed per core count and batch (`measure_table7`, `Table7`), and what
the report measures (`measure_report`: the reconstruction comparisons, then Table VII where
onnxruntime is installed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from edgecheck.evaluation.pruning.reconstruction import (
    VGG16_QUICK,
    FQAComparison,
    fqa_comparison,
    reconstruction_errors,
)
from edgecheck.paper import PAPER_CORES

if TYPE_CHECKING:
    from torch import nn

    from edgecheck.backends import ModelArtifact
    from edgecheck.bench.cores import RunnerWrapper
    from edgecheck.bench.stats import Estimate
    from edgecheck.bench.timing import Measurement, TimingPolicy
    from edgecheck.device import DeviceInfo
    from edgecheck.prune import MethodError, PruneResult

CLAIM_ID = "prune.speedup"
PAPER_BATCH = 1  # Table VII's 6.10 s on one core is Table IV's batch-1 time
BATCHES = (1, 4)


@dataclass
class SpeedCell:
    """Full vs pruned VGG16 at one core count and batch size.

    Attributes:
        cores: cores (and runtime threads).
        batch: images per call.
        full: the unpruned model's timing.
        pruned: the pruned model's timing.
        head: the FC head's timing (fc6-fc8 on a 25,088-wide input), if measured.
        speedup: median(full) / median(pruned) with its bootstrap interval.
        variants: wrapper -> the pruned model timed again in the same interleaved run with
            its runner wrapped (the test-only `edgecheck.testing.Slowdown`; ``TWIN``: an
            identical copy), to show that the verdict catches a slower pruned model.
    """

    cores: int
    batch: int
    full: Measurement
    pruned: Measurement
    head: Measurement | None
    speedup: Estimate
    variants: dict[RunnerWrapper, Measurement] = field(default_factory=dict)

    def variant_speedup(self, variant: RunnerWrapper) -> Estimate:
        """`speedup` with the pruned side replaced by its copy wrapped by `variant`."""
        from edgecheck.bench.timing import speedup

        return speedup(self.full, self.variants[variant])

    @property
    def conv_speedup(self) -> float | None:
        """The speedup with the FC head's time taken out of both (what Eq. 1 predicts)."""
        if self.head is None:
            return None
        return (self.full.median - self.head.median) / (self.pruned.median - self.head.median)

    def ceiling(self, conv_ratio: float) -> float | None:
        """The speedup if the pruned convs took exactly 1 / `conv_ratio` of the full convs' time.

        The FC head keeps its measured time in both models, so this is the most pruning
        the convs alone can give on this machine: the gap from here to `conv_ratio` is the
        head's, the gap from the measured speedup up to here is the pruned convs' lower
        efficiency (odd channel counts).
        """
        if self.head is None:
            return None
        conv_full = self.full.median - self.head.median
        return self.full.median / (conv_full / conv_ratio + self.head.median)

    @property
    def unstable(self) -> bool:
        """Any of the timings too noisy to decide on."""
        return self.full.unstable or self.pruned.unstable

    def noisy_reason(self, variant: RunnerWrapper | None = None) -> str | None:
        """Why the speedup's point estimate is not to be trusted on its own (a timing the
        harness flagged unstable), or None; the head counts too, as the ceiling uses it."""
        return _first_reason(self._timings(variant), contended=False)

    def contended_reason(self, variant: RunnerWrapper | None = None) -> str | None:
        """Why the times are biased (a worker's threads waited for a CPU: other jobs ran on
        its cores), or None. Unlike a wide interval, that bias does not average out."""
        return _first_reason(self._timings(variant), contended=True)

    def _timings(self, variant: RunnerWrapper | None) -> list[Measurement]:
        pruned = self.pruned if variant is None else self.variants[variant]
        return [m for m in (self.full, pruned, self.head) if m is not None]

    def as_dict(self) -> dict[str, Any]:
        """The numbers, JSON-friendly."""
        return {
            "cores": self.cores,
            "batch": self.batch,
            "full_s": self.full.median,
            "pruned_s": self.pruned.median,
            "head_s": self.head.median if self.head else None,
            "speedup": self.speedup.value,
            "speedup_low": self.speedup.low,
            "speedup_high": self.speedup.high,
            "conv_speedup": self.conv_speedup,
            "unstable": self.unstable,
            "reason": self.full.reason or self.pruned.reason,
            "variants": {
                v.tag: {"pruned_s": m.median, "speedup": self.variant_speedup(v).as_dict()}
                for v, m in self.variants.items()
            },
        }


def _first_reason(timings: Sequence[Measurement], *, contended: bool) -> str | None:
    for m in timings:
        if m.contended if contended else m.unstable:
            return f"{m.name} was unstable: {m.reason}"
    return None


@dataclass
class Table7:
    """Table VII measured here.

    Attributes:
        cells: one `SpeedCell` per (cores, batch) measured.
        conv_ratio: Eq. 1 conv MACs full / pruned (Table VI's 4.525x), counted on the models.
        all_ratio: the same with the FC head's MACs included.
        missing: core counts of the paper not measured here -> why (``"needs 4 cores, ..."``).
        backend: the runtime.
        channel_multiple: the exported models' widths were padded with zero filters to a
            multiple of this (1: exported with the exact counts).
        exported_conv_ratio: conv MACs full / pruned as exported, zero filters included
            (3.83x aligned to 16, 4.25x to 8); None when not counted.
    """

    cells: list[SpeedCell]
    conv_ratio: float
    all_ratio: float
    missing: dict[int, str] = field(default_factory=dict)
    backend: str = "onnxruntime"
    channel_multiple: int = 1
    exported_conv_ratio: float | None = None

    def cell(self, cores: int, batch: int) -> SpeedCell | None:
        """The cell for (cores, batch), if measured."""
        return next((c for c in self.cells if (c.cores, c.batch) == (cores, batch)), None)

    def measurements(self) -> list[Measurement]:
        """Every timing of the run: each cell's full, pruned and FC head model and its
        wrapped pruned copies (e.g. for a pytest-benchmark file)."""
        return [
            m
            for c in self.cells
            for m in (c.full, c.pruned, c.head, *c.variants.values())
            if m is not None
        ]

    def as_dict(self) -> dict[str, Any]:
        """The numbers, JSON-friendly."""
        return {
            "backend": self.backend,
            "channel_multiple": self.channel_multiple,
            "conv_ratio": self.conv_ratio,
            "exported_conv_ratio": self.exported_conv_ratio,
            "all_ratio": self.all_ratio,
            "cells": [c.as_dict() for c in self.cells],
            "missing": {str(k): v for k, v in self.missing.items()},
        }


def fc_head(model: nn.Module) -> ModelArtifact | None:
    """VGG16's FC head (``model.classifier``, fc6-fc8 on the flattened conv output) as its own
    model, to time the memory-bound part beside the whole model; None without one."""
    from edgecheck.backends import ModelArtifact

    head = getattr(model, "classifier", None)
    if head is None:
        return None
    return ModelArtifact.from_module(head, (head[0].in_features,), name="vgg16-head")


def quick_policy() -> TimingPolicy:
    """Short timing for the report: a few interleaved rounds, at most doubled when noisy."""
    from edgecheck.bench.timing import TimingPolicy

    return TimingPolicy(
        warmup_rounds=1,
        warmup_time=0.0,
        min_rounds=5,
        min_time=0.0,
        max_rel_ci_width=0.05,
        extend_up_to=2.0,  # the report's budget: at most as many rounds again
    )


def measure_table7(
    full: nn.Module,
    pruned: nn.Module,
    *,
    cores: Sequence[int] | None = None,
    batches: Sequence[int] = BATCHES,
    policy: TimingPolicy | None = None,
    environment: Mapping[str, Any] | None = None,
    on_cell: Callable[[SpeedCell], None] | None = None,
    channel_multiple: int | None = None,
    variants: Sequence[tuple[int, int, RunnerWrapper]] = (),
) -> Table7:
    """Time VGG16 `full` vs `pruned` with onnxruntime FP32 on each core count and batch.

    Args:
        full: the unpruned VGG16.
        pruned: the pruned VGG16 (e.g. `PruneResult.model`).
        cores: core counts to measure; default every count from 1 to the usable cores.
        batches: batch sizes. Default (1, 4).
        policy: timing policy; default `quick_policy()`.
        environment: recorded in every measurement.
        on_cell: called with each finished cell (progress).
        channel_multiple: pad both models' prunable widths with zero filters to a multiple
            of this before export (`align_channels`; the MACs of Eq. 1 are counted on the
            models as given). Default: `nchwc_channel_multiple()`, onnxruntime's block on
            this CPU (Table VI's plan on AVX-512, batch 4, 1 core: 2.96x with the exact
            counts, whose convs on 22, 41, 51, 89 or 111 input channels leave the blocked
            kernels for im2col, 3.25x aligned to 16). 1 exports the exact counts.
        variants: (cores, batch, wrapper): time that cell's pruned model again, in the
            same interleaved run, with its runner wrapped (the test-only
            `edgecheck.testing.Slowdown`; ``TWIN``: an identical copy), into
            `SpeedCell.variants`.

    Returns:
        `Table7` with the paper's core counts this machine lacks listed in ``missing``.
    """
    from edgecheck.backends import ModelArtifact
    from edgecheck.backends.onnxruntime_backend import nchwc_channel_multiple
    from edgecheck.bench.cores import (
        RunnerSpec,
        WorkerGroup,
        cores_unavailable_reason,
        usable_core_count,
    )
    from edgecheck.bench.timing import measure_interleaved, speedup
    from edgecheck.macs import count_macs
    from edgecheck.models import VGG16_INPUT_SHAPE
    from edgecheck.prune import align_channels

    if channel_multiple is None:
        channel_multiple = nchwc_channel_multiple()

    usable = usable_core_count()
    chosen = sorted(set(cores)) if cores is not None else list(range(1, usable + 1))
    missing = {c: r for c in PAPER_CORES if (r := cores_unavailable_reason(c)) and c not in chosen}
    before = count_macs(full, VGG16_INPUT_SHAPE)
    after = count_macs(pruned, VGG16_INPUT_SHAPE)
    aligned = {"vgg16-full": align_channels(full, channel_multiple),
               "vgg16-pruned": align_channels(pruned, channel_multiple)}  # fmt: skip
    exported = count_macs(aligned["vgg16-pruned"], VGG16_INPUT_SHAPE)
    cells = []
    artifacts = {
        name: ModelArtifact.from_module(model, VGG16_INPUT_SHAPE, name=name)
        for name, model in aligned.items()
    }
    del aligned  # the widened copy of the pruned model holds another 0.5 GB
    head = fc_head(full)
    if head is not None:
        artifacts["vgg16-head"] = head
    try:
        for n in chosen:
            for batch in batches:
                specs = [(RunnerSpec(a, batch_size=batch), n) for a in artifacts.values()]
                wraps = [w for c, b, w in variants if (c, b) == (n, batch)]
                pruned_model = artifacts["vgg16-pruned"]
                specs += [(RunnerSpec(pruned_model, batch_size=batch, wrap=v), n) for v in wraps]
                with WorkerGroup(specs) as workers:
                    targets = [w.target() for w in workers]
                    # settle=1: one untimed call per turn absorbs the switch between
                    # models (cold caches), so each sample is a steady-state inference.
                    results = measure_interleaved(
                        targets,
                        policy=policy or quick_policy(),
                        environment=environment,
                        settle=1,
                    )
                cell = SpeedCell(
                    cores=n, batch=batch, full=results[0], pruned=results[1],
                    head=results[2] if head is not None else None,
                    speedup=speedup(results[0], results[1]),
                    variants=dict(zip(wraps, results[len(artifacts):], strict=True)),
                )  # fmt: skip
                cells.append(cell)
                if on_cell is not None:
                    on_cell(cell)
    finally:
        for artifact in artifacts.values():  # 1.5 GB of exports, used by this table only
            artifact.discard()
    return Table7(
        cells=cells,
        conv_ratio=before.conv_total / after.conv_total,
        all_ratio=before.total / after.total,
        missing=missing,
        channel_multiple=channel_multiple,
        exported_conv_ratio=before.conv_total / exported.conv_total,
    )


@dataclass
class PruningReport:
    """What the report measures: both reconstruction comparisons and Table VII.

    Attributes:
        vgg_errors: VGG16 pruned to Table VI's plan both ways (`reconstruction_errors`).
        fqa: the FQA CNN's comparison (`fqa_comparison`).
        pruned: He et al.'s pruned VGG16 (the model timed).
        table: Table VII; None where onnxruntime is missing (`reason`).
        reason: why Table VII was not measured, or None.
    """

    vgg_errors: list[MethodError]
    fqa: FQAComparison
    pruned: PruneResult
    table: Table7 | None = None
    reason: str | None = None


def measure_report(device: DeviceInfo) -> PruningReport:
    """VGG16 pruned both ways (`VGG16_QUICK`), the FQA comparison (`FQA_QUICK`), then
    Table VII on the He et al. model where onnxruntime is installed."""
    from edgecheck.backends import backend_unavailable_reason
    from edgecheck.models import build_model

    vgg16 = build_model("vgg16")
    vgg_errors = reconstruction_errors(vgg16, "paper", VGG16_QUICK)
    fqa = fqa_comparison()
    pruned = next(e.result for e in vgg_errors if e.label == "lasso+ls")
    assert pruned is not None
    reason = backend_unavailable_reason("onnxruntime")
    if reason is not None:
        return PruningReport(vgg_errors, fqa, pruned, reason=reason)
    table = measure_table7(vgg16, pruned.model, environment={"profile": device.profile})
    return PruningReport(vgg_errors, fqa, pruned, table)

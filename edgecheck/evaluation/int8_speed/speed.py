"""Fig. 4: the measured data (FP32 vs INT8 timings by batch, the GEMM reference, the trend).

Filled by `measure.measure_int8_speed`, judged by `judge.judge_int8_speed`, rendered by
`render`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from edgecheck.bench.cores import RunnerWrapper
    from edgecheck.bench.stats import Estimate
    from edgecheck.bench.timing import Measurement, TimingPolicy

CLAIM_ID = "quant.int8.speedup"
TREND_KEY = "trend"
# The rules' same-run reference: VGG16's conv GEMMs as convolutions (`edgecheck.bench.gemm`:
# the kernels the model's layers take; MatMulInteger takes AMX where the model does not).
REFERENCE_OP = "conv"
GEMM_REFERENCE_NAME = "conv GEMM int8/fp32"


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
            self, cells=cells, trend=speedup_trend(cells[0], cells[-1], policy), variants={},
            int8_variant=self.variant.tag if self.variant is not None else None, variant=None,
        )  # fmt: skip

    def measurements(self) -> list[Measurement]:
        """Every timing of the run once: the cells (FP32, INT8), the wrapped INT8 runners,
        the other precisions, the GEMM references (e.g. for a pytest-benchmark file)."""
        found: dict[int, Measurement] = {}
        pairs: list[_Pair] = [*self.cells, *self.others.values(), *self.references.values()]
        for m in [*(x for p in pairs for x in (p.fp32, p.int8)), *self.variants.values()]:
            found.setdefault(id(m), m)
        return list(found.values())

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


def speedup_trend(first: Int8Cell, last: Int8Cell, policy: TimingPolicy) -> Estimate:
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

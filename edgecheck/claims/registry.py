"""The built-in claims, one `Claim` per row of the paper's evaluation, with a rule per device
profile (why each rule is what it is stands beside it), and `ClaimRegistry`: the claims in
force, a project's overrides applied. The paper's values come from `edgecheck.paper`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Any

from edgecheck.claims.claim import Claim, Rule, parse_rule
from edgecheck.errors import ConfigError
from edgecheck.paper import (
    TABLE3_PAPER,
    TABLE4_PAPER,
    TABLE5_FP16_FPS,
    TABLE5_FP32_FPS,
    TABLE6_GMACS_AFTER,
    TABLE6_GMACS_BEFORE,
    TABLE6_RATIO,
    TABLE6_ROUNDING,
    TABLE6_TOTAL_AFTER,
    TABLE6_TOTAL_BEFORE,
    TABLE7_PAPER,
)


def _frozen(d: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(d))


def speedup_key(batch: int, cores: int) -> str:
    """The key of a parallel claim's cell, e.g. ``"b4@2c"``."""
    return f"b{batch}@{cores}c"


def _speedup_keys(table: Mapping[tuple[int, int], tuple[Any, ...]]) -> dict[str, float]:
    """``{"b4@2c": 1.71, ...}`` from a printed table whose last column is the speedup."""
    return {speedup_key(b, c): row[-1] for (b, c), row in table.items() if row[-1] is not None}


# The cpu profile's 2-core rules for Tables III and IV: speedup >= F x S_dp, the data-parallel
# scaling of the same cores measured in the same run (see evaluation/parallel/), judged as
# q = speedup / S_dp (paired, round by round) >= F. F must pass the real 2-core runner with a
# margin and FAIL the same runner 20 % slower (q / 1.2), on every machine kind.
# Measured on 2 Intel Xeon vCPUs (AVX-512/AMX, 2026-12-03), 4 FQA runs and 2 VGG16 runs:
#   FQA b4: S_dp 1.94-1.97, speedup 1.61-1.65, q 0.818-0.850 (identical twins 0.836-0.845),
#     20 % slower 0.685-0.704. F = 0.78: +4.9 % margin at the lowest q, -10 % for the slowed.
#     A previous proposal, 0.82, is refuted: it fails the real runner here (q 0.818).
#     On the Zen4 EPYC the 2-thread worker was measured (before this rule) at 1.75-1.88x
#     with S_dp 1.94-2.0 (q 0.88-0.97) in its fast per-process mode: 20 % slower is then
#     0.73-0.81, caught by 0.78 up to q 0.936; on the AVX2 EPYC each call is about twice as
#     long, so the fixed cost of onnxruntime's split and join weighs less and q is expected
#     higher than here, not lower. Zen4's slow per-process mode (1.29-1.46x, q 0.66-0.75)
#     is itself a 25-35 % loss and FAILS this rule: nothing at 20 % can tell them apart,
#     so a cell's FAIL stands only when fresh worker processes reproduce it
#     (`evaluation.parallel.confirm_failure`): the mode is drawn per process, a regression
#     slows every process.
#   FQA b1 (q 0.655-0.665) and b2 (q 0.778-0.796): no rule, information only (S_dp and q
#     are still measured and reported): the light model leaves cores idle at small batches,
#     the paper's own point. b2 would need an F of its own (about 0.72 here, between 0.66
#     for 20 % slower and 0.78) with its own teeth, and its q on the EPYCs is unmeasured.
#   VGG16: S_dp 1.95-2.03; q b1 0.959-0.969 (twins 0.960-0.996), b2 0.990-0.993, b4
#     0.986-1.016; b1 20 % slower 0.811-0.813. F = 0.88: +9 % margin at the lowest q, -7.6 %
#     for the slowed. Zen4 (before this rule): 1.52-1.88x over S_dp about 1.94 (q 0.78-0.97);
#     its low end would fail.
FQA_B4_FACTOR = 0.78
VGG16_FACTOR = 0.88


_CLAIMS: tuple[Claim, ...] = (
    Claim(
        id="parallel.fqa.cores",
        source="Table III, Fig. 2",
        description="FQA CNN throughput speedup over 1 core, by batch size and core count",
        paper=_frozen(_speedup_keys(TABLE3_PAPER)),
        unit="x",
        direction="higher",
        rules=_frozen(
            {
                "tx2": Rule(">=", paper_factor=0.9),
                # A 25 M-MAC model leaves cores idle at batch 1 (the paper's own point), so the
                # portable check asks for efficiency only at the largest batch: the 2-core
                # speedup >= F x the cores' own data-parallel scaling S_dp, measured in the
                # same run (evaluation/parallel/). FQA_B4_FACTOR's comment: the numbers.
                "cpu:b4@2c": Rule(">=", reference_factor=FQA_B4_FACTOR),
                # 4 cores: not measurable on the 2-core machines this was tuned on; the old
                # scaling-efficiency rule stands, unverified.
                "cpu:b4@4c": Rule(">=", per_core=0.55),
            }
        ),
        note="keys are b<batch>@<cores>c; speedup = throughput(n cores) / throughput(1 core); "
        "cpu: judged against the cores' data-parallel scaling (n independent 1-core runners at "
        "once) measured in the same run",
    ),
    Claim(
        id="parallel.fqa.batch",
        source="Table III",
        description="a larger batch gives a higher multi-core speedup for the light model",
        paper=_frozen(
            {f"b4-b1@{c}c": TABLE3_PAPER[(4, c)][2] - TABLE3_PAPER[(1, c)][2] for c in (2, 4)}
        ),
        unit="x",
        direction="higher",
        rules=_frozen({"any": Rule(">=", value=0.0)}),
        note="measured: median over rounds of speedup(b4) - speedup(b1), each round's two "
        "speedups from the same interleaved round; decided when its 95 % interval lies wholly "
        "above 0 (pass) or below (FAIL), else too noisy to decide",
    ),
    Claim(
        id="parallel.vgg16.cores",
        source="Table IV, Fig. 3",
        description="VGG16 speedup over 1 core, by batch size and core count",
        paper=_frozen(_speedup_keys(TABLE4_PAPER)),
        unit="x",
        direction="higher",
        rules=_frozen(
            {
                "tx2": Rule(">=", paper_factor=0.9),
                "tx2:b1@4c": Rule(">=", value=2.4),  # the design card's threshold
                "tx2:b1@2c": Rule(">=", value=1.7),
                # Orin: the same core-scaling floors. VGG16 at batch 1 is compute-bound convs
                # (its FC head the memory-bound share); Orin's A78AE cores sit on LPDDR5 with
                # about 3x the TX2's memory bandwidth, so the head scales at least as well and
                # the convs as well as on the A57s. A speedup is a ratio on one board, so no
                # scaling for Orin's faster cores is needed. The tx2 paper_factor rules (the
                # TX2's own table values) are not carried over: they are a TX2's numbers.
                "orin:b1@4c": Rule(">=", value=2.4),
                "orin:b1@2c": Rule(">=", value=1.7),
                # 2 cores: speedup >= F x the data-parallel scaling S_dp of the same run, at
                # every batch; VGG16_FACTOR's comment: the numbers.
                "cpu": Rule(">=", reference_factor=VGG16_FACTOR),
                # 4 cores: not measurable on the 2-core machines this was tuned on; the old
                # scaling-efficiency rule stands, unverified.
                **{f"cpu:b{b}@4c": Rule(">=", per_core=0.65) for b in (1, 2, 4)},
            }
        ),
    ),
    Claim(
        id="quant.fp16.fps",
        source="Table V",
        description="FQA video pipeline frames/s with FP16, by resolution",
        paper=_frozen({**TABLE5_FP16_FPS, **{f"{r}-fp32": v for r, v in TABLE5_FP32_FPS.items()}}),
        unit=" fps",
        direction="higher",
        rules=_frozen(
            {
                "tx2": Rule(">=", value=30.0),
                # Orin: the same real-time bar, not scaled up. It is the application's
                # requirement (real-time video), not a TX2 measurement; Orin's GPU runs the
                # FP16 FQA CNN 5-8x faster and its cores run decoding and Haar detection faster
                # too, so 30 fps is a floor that catches a broken pipeline without guessing an
                # Orin number nobody has measured here.
                "orin": Rule(">=", value=30.0),
                # The real-time bar with FP32 on CPU cores (no native FP16 there), kept as a
                # floor: the engineered pipeline measured 120-150 fps at 1080p on 2 cores
                # here, so it catches a broken pipeline, not a 20 % slowdown.
                "cpu:1080p-fp32": Rule(">=", value=30.0),
                "cpu:720p-fp32": Rule(">=", value=30.0),
                "cpu:480p-fp32": Rule(">=", value=30.0),
                # The same-run rule, the one with teeth: 1080p FP32 fps >= 12 x the naive
                # detector's (full-resolution Haar on every frame of the first 5, one pipeline
                # thread), the two timed in the same 6 rotated rounds over a 270-frame clip and
                # judged on the median per-round fps ratio (paired bootstrap interval).
                # Measured here (Xeon family 6 model 167, AVX-512, 2 vCPUs), 4 runs of 6
                # rounds: ratio 13.21 [12.83, 13.76], 13.32 [12.59, 13.76], 12.89 [12.21,
                # 13.82], 13.03 [12.51, 13.98]; the same pipeline held 20 % slower in the same
                # rounds: 11.06 [10.26, 11.34], 10.58 [10.19, 11.38], 11.22 [10.52, 11.57],
                # 10.90 [10.48, 11.45]. 12.0 lies between the two in every run (over the
                # earlier 90-frame clip the unchanged pipeline once came out 11.78 [11.16,
                # 12.10], a false FAIL's point estimate: its passes spread twice as wide).
                # Other CPUs: OpenCV without its AVX-512 paths (OPENCV_CPU_DISABLE=AVX512-SKX)
                # gave the same ratio (Haar, decoding and resizing do not use them); only the
                # FQA CNN (onnxruntime, about 9 % of the pipeline's CPU time, a negligible
                # share of the naive detector's) scales with the vector width, so the AVX2
                # EPYC (Zen 1, 128-bit FMA units) may see the ratio up to 8 % lower: near the
                # bound, where the interval decides ("not run here" while it straddles), not
                # the point estimate. The Zen4 EPYC (AVX-512 VNNI) measured 14.1-17.5 with the
                # earlier 20-frame, non-interleaved baseline, this machine 14-18 the same way.
                "cpu:1080p-fp32-vs-naive": Rule(">=", reference_factor=12.0),
            }
        ),
        note="keys: <res> FP16 fps (tx2); <res>-fp32 FP32 fps against the real-time bar (cpu); "
        "1080p-fp32-vs-naive FP32 fps against 12 x the naive detector's fps timed in the same "
        "rounds over a 270-frame clip (the paired per-round ratio decides)",
    ),
    Claim(
        id="quant.fp16.speedup",
        source="Table V, IV-D-1",
        description="FP16 / FP32 frames/s of the FQA pipeline",
        paper=_frozen({r: TABLE5_FP16_FPS[r] / TABLE5_FP32_FPS[r] for r in TABLE5_FP16_FPS}),
        unit="x",
        direction="higher",
        rules=_frozen(
            {
                "tx2:1080p": Rule(">=", value=1.8),
                "tx2:720p": Rule(">=", value=1.8),
                "gpu:1080p": Rule(">=", value=1.8),
                "gpu:720p": Rule(">=", value=1.8),
                # No orin rule on purpose: this ratio is end to end, and FP16 speeds up only
                # the FQA CNN's share of a frame. On the TX2 that share was large at 1080p/720p
                # (2.1x) and small at 480p (1.36x, no rule either). Orin's GPU is 5-8x a TX2's
                # while its CPU stages (decode, Haar) gain far less, so the CNN's share, and
                # with it the ratio, shrinks, as at the TX2's 480p; and TensorRT's FP32
                # layers run as TF32 on Ampere's tensor cores by default. 1.8x would be a
                # guess that fails an unchanged pipeline: on orin the claim is "not run here"
                # until it is measured there.
            }
        ),
        note="applies only where the hardware computes FP16 natively",
    ),
    Claim(
        id="quant.error",
        source="IV-D-2",
        description="mean output difference, quantized vs FP32 FQA, 100 calibration / 2573 test images",
        paper=_frozen({"": 1.005}),
        unit=" %",
        direction="lower",
        rules=_frozen({"any": Rule("<=", value=1.5)}),
        note=(
            "'about 1 %': the paper measured 1.005 %; the threshold allows 1.5 %. Measured on "
            "the quantized model itself (Q/DQ evaluated exactly, edgecheck.quantize.exact), so "
            "the same on every machine; key 'deployed': this device's runtime with the "
            "settings chosen for it (edgecheck.quantize.settings)"
        ),
    ),
    Claim(
        id="quant.int8.fidelity",
        source="IV-D-2 (device side)",
        description=(
            "mean output difference, this runtime's INT8 kernels vs the same Q/DQ model "
            "evaluated exactly, FQA test images"
        ),
        paper=_frozen({}),
        unit=" %",
        direction="lower",
        # The paper's 1.005 % includes whatever its runtime added; here the runtime's share
        # is judged on its own. Faithful kernels differ from the exact function by round-off
        # (0.0007 % with VNNI, 0.0000 % with U8U8 on AVX2); a saturating u8s8 path by 25.6 %.
        # 0.3 % is 30 % of the claim's 1 % and far from both.
        rules=_frozen({"any:deployed": Rule("<=", value=0.3)}),
        note=(
            "mean relative difference of the runtime's INT8 outputs from the exact ones; keys: "
            "'deployed' (the settings chosen for this target), 'canonical' (the paper's S8S8, "
            "information: x86 without VNNI saturates it)"
        ),
    ),
    Claim(
        id="quant.int8.speedup",
        source="IV-D-3, Fig. 4",
        description="VGG16 INT8 / FP32 throughput by batch size (Fig. 4: a discrete GPU, 1-128)",
        paper=_frozen({"b128": 3.48}),
        unit="x",
        direction="higher",
        rules=_frozen(
            {
                "gpu:b128": Rule(">=", value=3.4),
                # A CPU with INT8 dot products (VNNI, AMX, ARM dotprod): VGG16's INT8 / FP32
                # speedup >= 0.89 x this CPU's INT8 / FP32 rate on VGG16's own conv GEMMs
                # (conv3_2, conv4_2, conv5_2 as u8s8 QLinearConv vs FP32 Conv,
                # `edgecheck.bench.gemm`), timed in the SAME interleaved run on the same pinned
                # core, so the bound follows the CPU. Measured on this project's AMX Xeon, 3
                # runs x 8 rounds: VGG16 3.44-3.51x at b1/b2/b4, reference 3.56-3.60x, ratio
                # 0.949-0.980 (0.952-0.987 in 3 more runs: perf module, report, benchmark);
                # the INT8 runner 20 % slower (the teeth test) 0.790-0.825. 0.89
                # sits between: >= 6.6 % to spare for the real runner, >= 7.3 % below for the
                # slowed one. Why a convolution and not MatMulInteger: the model's
                # convolutions run as NHWC QLinearConv on MLAS's symmetric-convolution kernels
                # (VNNI) and FP32 NCHWc convolutions; MLAS's quantized GEMM takes AMX tiles
                # when MLAS picks them (here u8s8 MatMulInteger: 3.4x on 1 pinned core, 6.5x
                # on 2, 9-12x in a plain process), which the model's layers never use (VGG16
                # and the conv reference stayed 3.3-3.6x on 1 and 2 cores); the same kernels keep
                # the ratio near 1 on a VNNI-only Zen 4 too (there VGG16 reached 3.67-3.89x vs
                # 3.22-3.30x for MatMulInteger GEMMs: 1.14-1.18, not measured with this
                # reference; the teeth test fails loudly on a machine where 0.89 stops
                # separating a 20 % slowdown). Without INT8 dot products the claim does not
                # apply (`speed_unmet`; the AVX2 EPYC): the ratio is measured anyway and shown.
                "cpu:b1": Rule(">=", reference_factor=0.89),
                "cpu:b2": Rule(">=", reference_factor=0.89),
                "cpu:b4": Rule(">=", reference_factor=0.89),
                # "grows with batch" (Fig. 4), read as "does not drop": speedup(largest batch)
                # / speedup(b1) of the same run, a ratio near 1 on a CPU. Measured here 0.993-
                # 1.022 (3 runs); INT8 20 % slower at b4 only: 0.827-0.860. 0.92 leaves >= 7.9 %
                # and >= 6.5 %. On a GPU Fig. 4 grows (about 2x from b1 to b128): >= 1.
                "gpu:trend": Rule(">=", value=1.0),
                "cpu:trend": Rule(">=", value=0.92),
            }
        ),
        note=(
            "keys b<batch>; cpu: >= 0.89 x the INT8/FP32 rate of VGG16's conv GEMMs timed in "
            "the same run; 'trend' = speedup(largest batch) / speedup(b1); on a CPU only where "
            "it has INT8 dot-product instructions (elsewhere measured anyway and shown)"
        ),
    ),
    Claim(
        id="quant.memory",
        source="II-B-2",
        description="parameter bytes at 16 / 8 bits relative to 32 bits",
        paper=_frozen({"fp16": 0.5, "int8": 0.25}),
        unit="",
        direction="lower",
        rules=_frozen({"any": Rule("~=", paper_factor=1.0, rel_tol=0.02)}),
        note="-50 % / -75 %; the tolerance covers scales and zero points",
    ),
    Claim(
        id="prune.macs",
        source="Table VI, Eq. 1",
        description="VGG16 conv GMACs by Eq. 1, per layer and total, before and after pruning",
        paper=_frozen(
            {
                **{f"before.{k}": v for k, v in TABLE6_GMACS_BEFORE.items()},
                **{f"after.{k}": v for k, v in TABLE6_GMACS_AFTER.items()},
                "before.total": TABLE6_TOTAL_BEFORE,
                "after.total": TABLE6_TOTAL_AFTER,
                "ratio": TABLE6_RATIO,
            }
        ),
        unit=" GMACs",
        direction="equal",
        rules=_frozen(
            {
                # Per layer: the printed value within half a unit of its last digit.
                "any": Rule("~=", paper_factor=1.0, abs_tol=TABLE6_ROUNDING),
                # Table VI prints 1.855; Eq. 1 gives 28*28*512*512*9 = 1.850 G, which is also the
                # value of every other 1.85 row with the same shape product. Checked against the
                # corrected value; tests/accuracy/test_macs.py shows the typo explicitly.
                "any:before.conv4_3": Rule("~=", value=1.850, abs_tol=TABLE6_ROUNDING),
                # The printed total (15.38) is 0.03 above both Eq. 1 (15.347) and the sum of its own
                # printed column (15.353), so totals and the ratio get a looser, stated tolerance.
                "any:before.total": Rule("~=", paper_factor=1.0, abs_tol=0.04),
                "any:after.total": Rule("~=", paper_factor=1.0, abs_tol=0.005),
                "any:ratio": Rule("~=", paper_factor=1.0, abs_tol=0.03),
            }
        ),
        note=(
            "Eq. 1 gives 15.347 G before and 3.392 G after (4.525x); the paper prints 15.38 and "
            "4.54, and its Conv4_3 row reads 1.855 where Eq. 1 gives 1.850"
        ),
        key_units=_frozen({"ratio": "x"}),
    ),
    Claim(
        id="prune.speedup",
        source="Table VII",
        description="pruned vs unpruned VGG16 speedup, by core count, vs the MAC ratio",
        paper=_frozen({f"{c}c": row[2] for c, row in TABLE7_PAPER.items()}),
        unit="x",
        direction="higher",
        rules=_frozen(
            {
                "any": Rule(">=", value=0.9 * 4.525),
                # On a CPU the FC head (fc6-fc8: 494 MB of weights read once per batch,
                # unchanged by pruning) is memory-bound, about 40 % of the pruned model's
                # batch-1 time, and the pruned convs compute their widths padded to
                # onnxruntime's channel block. So the bound is a factor of the cell's ceiling
                # (`SpeedCell.ceiling(4.525)`: the speedup if the pruned convs took exactly
                # 1 / 4.525 of the full convs' time, the head as measured), measured in the
                # same run: as strict on a slow CPU as on a fast one.
                # Measured 2026-12-03 on this project's Xeon (AVX-512, block 16; 2 vCPUs,
                # shared), tests/perf/test_pruning_speed.py, four runs, batch 1: speedup /
                # ceiling 0.894, 0.885, 0.887, 0.900 on 1 core and 0.878, 0.879, 0.870, 0.875
                # on 2; the 1-core pruned model 20 % slower (`SlowedRunner`, same run) 0.742,
                # 0.733, 0.740, 0.741, its twin 0.885, 0.887, 0.886, 0.888. 0.82 sits between:
                # 6-10 % to spare for the real model, the slowed one 10-11 % below it.
                # The ratio is the pruned convs' efficiency: their widths' padding (aligned to
                # 16 they compute 18 % more MACs than Eq. 1 counts; to 8, with AVX2, 6.5 %),
                # diluted by the head's share of the time (head / convs 0.19 here: 0.911),
                # times their rate per computed MAC vs the full convs' (0.95-0.98 here). On
                # the AVX2 EPYC (block 8; convs about 2x slower, so the head's share the same
                # or lower: 0.94-0.97) that gives 0.90-0.95, slowed 0.75-0.79: below 0.82. On
                # the AVX-512 EPYC (block 16, as here) a head share half of ours (0.89) would
                # bring the real one down to about 0.85: above. The 20 % window leaves about
                # 4 % each side in those worst cases.
                "cpu": Rule(">=", reference_factor=0.82),
            }
        ),
        note=(
            "0.9 x the Eq. 1 MAC ratio (15.347 / 3.392); the paper reached 94 % of 4.54x; on "
            "the cpu profile >= 0.82 x the cell's ceiling measured in the same run (the speedup "
            "if the pruned convs ran at exactly the MAC ratio, the memory-bound FC head as "
            "measured), which fails the same pruned model 20 % slower"
        ),
    ),
)

CLAIMS: Mapping[str, Claim] = MappingProxyType({c.id: c for c in _CLAIMS})


class ClaimRegistry:
    """The claims in force: the built-in ones with a project's overrides applied."""

    def __init__(self, claims: Mapping[str, Claim] = CLAIMS) -> None:
        self._claims = dict(claims)

    def __getitem__(self, claim_id: str) -> Claim:
        try:
            return self._claims[claim_id]
        except KeyError:
            raise ConfigError(
                f"unknown claim id '{claim_id}'; known claims: {', '.join(sorted(self._claims))}."
            ) from None

    def __iter__(self) -> Iterator[Claim]:
        return iter(self._claims.values())

    def __len__(self) -> int:
        return len(self._claims)

    def ids(self) -> list[str]:
        return list(self._claims)

    def with_overrides(self, overrides: Mapping[str, Any], *, origin: str) -> ClaimRegistry:
        """A registry with rules replaced from a ``[tool.edgecheck.claims]`` table.

        Args:
            overrides: claim id -> {``"profile"`` or ``"profile:key"`` -> rule table}.
            origin: where the table came from (a file path), named in every error.
        """
        claims = dict(self._claims)
        for claim_id, table in overrides.items():
            where = f'{origin}: [tool.edgecheck.claims."{claim_id}"]'
            if claim_id not in claims:
                raise ConfigError(
                    f"{where}: unknown claim id; known claims: {', '.join(sorted(claims))}."
                )
            if not isinstance(table, Mapping):
                raise ConfigError(f"{where} must be a table of profile = {{ op = ..., ... }}.")
            rules = dict(claims[claim_id].rules)
            for scope, spec in table.items():
                rules[scope] = parse_rule(spec, where=f"{where} {scope}")
            claims[claim_id] = replace(claims[claim_id], rules=_frozen(rules))
        return ClaimRegistry(claims)

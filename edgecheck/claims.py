"""The paper's claims as data: one registry, checked by tests that measure live.

Each `Claim` carries the paper's value(s), where they come from, and a `Rule` per device
profile that turns a measured number into a verdict. Tests refer to claims by id and never
restate the paper's numbers. A project overrides rules in its ``pyproject.toml``::

    [tool.edgecheck.claims."parallel.vgg16.cores"]
    cpu = { op = ">=", per_core = 0.6 }       # speedup >= 0.6 x cores present
    "tx2:b1@4c" = { op = ">=", value = 2.4 }  # one key on one profile

    [tool.edgecheck.claims."prune.speedup"]
    cpu = { op = ">=", reference_factor = 0.75 }  # >= 0.75 x the ceiling measured in the run

Rule lookup for (profile, key) takes the most specific entry: ``"profile:key"``, then
``"profile"``, then ``"any:key"``, then ``"any"``. No entry means the claim does not apply on
that profile, and its tests are reported as not run, with that reason.

The ``orin`` profile (Jetson Orin, not in the paper) has rules only where the tx2 profile has a
fixed value that carries over to a faster board; each says why. Orin's GPU runs FP16 inference
about 5-8x a TX2's (NVIDIA's published figures), its CPU cores (Cortex-A78AE) are faster per
clock with more memory bandwidth, so an absolute floor set for a TX2 is a conservative floor
there, and a core-scaling ratio, which depends on the cores' own balance of compute and memory,
travels better than any absolute time. Nothing of Orin has been measured for this registry.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any, Literal

from edgecheck.errors import ConfigError
from edgecheck.formatting import significant

Op = Literal[">=", "<=", "~="]
_OPS: tuple[str, ...] = (">=", "<=", "~=")
PROFILE_NAMES: tuple[str, ...] = ("tx2", "orin", "gpu", "cpu", "any")
_BOUND_FIELDS: tuple[str, ...] = ("value", "paper_factor", "per_core", "reference_factor")


@dataclass(frozen=True)
class Rule:
    """A threshold: ``measured OP bound``.

    The bound is exactly one of: a fixed `value`; `paper_factor` x the paper's value for the
    key; `per_core` x the cores the measurement used (scaling efficiency); or
    `reference_factor` x a reference measured in the same run on the same machine (e.g. the
    speedup pruning can give at most here), so that the rule is as strict on a slow machine
    as on a fast one. ``~=`` passes when ``|measured - bound| <= max(abs_tol, rel_tol x
    |bound|)``.
    """

    op: Op
    value: float | None = None
    paper_factor: float | None = None
    per_core: float | None = None
    reference_factor: float | None = None
    rel_tol: float = 0.0
    abs_tol: float = 0.0

    def __post_init__(self) -> None:
        if self.op not in _OPS:
            raise ConfigError(f"rule op {self.op!r} is not one of {', '.join(_OPS)}.")
        given = [n for n in _BOUND_FIELDS if getattr(self, n) is not None]
        if len(given) != 1:
            raise ConfigError(
                f"a rule needs exactly one of {', '.join(_BOUND_FIELDS)} "
                f"(got {', '.join(given) or 'none'})."
            )
        if self.rel_tol < 0 or self.abs_tol < 0:
            raise ConfigError("rel_tol and abs_tol of a rule must be >= 0.")

    def bound(
        self, paper_value: float | None, cores: int | None = None,
        reference: float | None = None,
    ) -> float:  # fmt: skip
        """The number a measurement is compared with."""
        if self.value is not None:
            return self.value
        if self.paper_factor is not None:
            if paper_value is None:
                raise ConfigError("a paper_factor rule needs the paper's value for this key.")
            return self.paper_factor * paper_value
        if self.reference_factor is not None:
            if reference is None:
                raise ConfigError(
                    "a reference_factor rule needs a reference measured in the same run; this "
                    "measurement has none (use value, paper_factor or per_core for it)."
                )
            return self.reference_factor * reference
        assert self.per_core is not None
        if cores is None:
            raise ConfigError("a per_core rule needs the number of cores the measurement used.")
        return self.per_core * cores

    def passes(self, measured: float, bound: float) -> bool:
        if math.isnan(measured):
            return False
        if self.op == ">=":
            return measured >= bound
        if self.op == "<=":
            return measured <= bound
        return abs(measured - bound) <= max(self.abs_tol, self.rel_tol * abs(bound))

    def margin(self, measured: float, bound: float) -> float:
        """How far `measured` is on the passing side of `bound`, relative to the bound
        (0.12: 12 % to spare; negative: failed by that much)."""
        scale = abs(bound) or 1.0
        if self.op == ">=":
            return (measured - bound) / scale
        if self.op == "<=":
            return (bound - measured) / scale
        return (max(self.abs_tol, self.rel_tol * abs(bound)) - abs(measured - bound)) / scale

    def describe(
        self, bound: float, unit: str = "", reference: float | None = None,
        reference_name: str = "reference",
    ) -> str:  # fmt: skip
        """The threshold as text, e.g. ``">= 2.40x"``, ``"~= 15.347 G ± 0.0005"`` or
        ``">= 2.70x (0.75 x ceiling 3.60x)"``."""
        text = f"{self.op} {significant(bound)}{unit}"
        if self.op == "~=":
            tol = max(self.abs_tol, self.rel_tol * abs(bound))
            text += f" ± {significant(tol)}"
        if self.per_core is not None:
            text += f" ({self.per_core:g} x cores)"
        if self.reference_factor is not None and reference is not None:
            text += (
                f" ({self.reference_factor:g} x {reference_name} {significant(reference)}{unit})"
            )
        return text


@dataclass(frozen=True)
class Claim:
    """One claim of the paper.

    Attributes:
        id: e.g. ``"prune.macs"``.
        source: where in the paper, e.g. ``"Table VI, Eq. 1"``.
        description: what is measured.
        paper: the paper's values by key (``""`` for a single value), e.g. ``{"b4@4c": 2.478}``.
        unit: unit of the measured value, e.g. ``"x"``, ``" fps"``, ``" GMACs"``, ``" %"``.
        direction: ``"higher"`` or ``"lower"`` is better, or ``"equal"`` for exact quantities.
        rules: threshold rules by ``"profile"`` or ``"profile:key"`` (see module docstring).
        note: what a reader should know (typos in the paper, what "about" means).
    """

    id: str
    source: str
    description: str
    paper: Mapping[str, float]
    unit: str
    direction: Literal["higher", "lower", "equal"]
    rules: Mapping[str, Rule]
    note: str = ""
    key_units: Mapping[str, str] = field(default_factory=dict)

    def paper_value(self, key: str = "") -> float | None:
        return self.paper.get(key)

    def unit_for(self, key: str = "") -> str:
        """The unit of values under `key` (a claim's ratio key may differ from its unit)."""
        return self.key_units.get(key, self.unit)

    def rule_for(self, profile: str, key: str = "") -> Rule | None:
        """The most specific rule for (profile, key), or None when the claim does not apply."""
        candidates = [f"{profile}:{key}", profile, f"any:{key}", "any"] if key else [profile, "any"]
        for name in candidates:
            if name in self.rules:
                return self.rules[name]
        return None

    def check(
        self, measured: float, *, profile: str, key: str = "", cores: int | None = None,
        reference: float | None = None, reference_name: str = "reference",
    ) -> ClaimResult:  # fmt: skip
        """Judge a measured value against this claim's rule for (profile, key).

        `reference` is the same-run number a `reference_factor` rule scales (named in the
        threshold as `reference_name`); other rules ignore it.
        """
        rule = self.rule_for(profile, key)
        paper = self.paper_value(key)
        if rule is None:
            return ClaimResult(
                claim=self, key=key, measured=measured, profile=profile, threshold="",
                verdict="not applicable",
                message=f"claim {self.id} has no threshold for the {profile} profile",
            )  # fmt: skip
        bound = rule.bound(paper, cores, reference)
        unit = self.unit_for(key)
        uses_reference = rule.reference_factor is not None
        threshold = rule.describe(
            bound, unit, reference if uses_reference else None, reference_name
        )
        ok = rule.passes(measured, bound)
        label = f"{self.id}[{key}]" if key else self.id
        message = (
            f"{label} ({self.source}): measured {significant(measured)}{unit}, "
            f"threshold {threshold} on {profile}"
            + (f", paper {significant(paper)}{unit}" if paper is not None else "")
        )
        return ClaimResult(
            claim=self, key=key, measured=measured, profile=profile, threshold=threshold,
            verdict="pass" if ok else "FAIL", message=message, bound=bound,
            reference=reference if uses_reference else None,
            margin=rule.margin(measured, bound) if not math.isnan(measured) else None,
        )  # fmt: skip

    def not_run(self, *, profile: str, key: str = "", reason: str) -> ClaimResult:
        """A "not run here" verdict: the measurement could not be made here, and why."""
        label = f"{self.id}[{key}]" if key else self.id
        return ClaimResult(
            claim=self, key=key, measured=None, profile=profile, threshold="",
            verdict="not run here", message=f"{label}: not run here: {reason}",
        )  # fmt: skip


@dataclass(frozen=True)
class ClaimResult:
    """A verdict with the numbers behind it; truthy when it passed (or does not apply)."""

    claim: Claim
    key: str
    measured: float | None
    profile: str
    threshold: str
    verdict: str  # "pass" | "FAIL" | "not applicable" | "not run here"
    message: str
    extra: Mapping[str, Any] = field(default_factory=dict)
    bound: float | None = None
    reference: float | None = None
    margin: float | None = None

    def __bool__(self) -> bool:
        return self.verdict != "FAIL"

    @property
    def label(self) -> str:
        return f"{self.claim.id}[{self.key}]" if self.key else self.claim.id

    def as_dict(self) -> dict[str, Any]:
        return {
            "claim": self.claim.id,
            "key": self.key,
            "source": self.claim.source,
            "paper": self.claim.paper_value(self.key),
            "measured": self.measured,
            "unit": self.claim.unit_for(self.key).strip(),
            "threshold": self.threshold,
            "profile": self.profile,
            "verdict": self.verdict,
            "message": self.message,
            "bound": self.bound,
            "reference": self.reference,
            "margin": self.margin,
            **({"extra": dict(self.extra)} if self.extra else {}),
        }


def _frozen(d: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(d))


# Table VI, GMACs "Before"/"After" columns, as printed (three decimals; Conv4_3 "Before" reads
# 1.855 where Eq. 1 gives 1.850: a typo that makes the printed total 15.38 instead of 15.35).
TABLE6_GMACS_BEFORE = _frozen({
    "conv1_1": 0.087, "conv1_2": 1.85, "conv2_1": 0.925, "conv2_2": 1.85, "conv3_1": 0.925,
    "conv3_2": 1.85, "conv3_3": 1.85, "conv4_1": 0.925, "conv4_2": 1.85, "conv4_3": 1.855,
    "conv5_1": 0.462, "conv5_2": 0.462, "conv5_3": 0.462,
})  # fmt: skip
TABLE6_GMACS_AFTER = _frozen({
    "conv1_1": 0.033, "conv1_2": 0.238, "conv2_1": 0.102, "conv2_2": 0.236, "conv3_1": 0.155,
    "conv3_2": 0.271, "conv3_3": 0.279, "conv4_1": 0.144, "conv4_2": 0.358, "conv4_3": 0.444,
    "conv5_1": 0.206, "conv5_2": 0.462, "conv5_3": 0.462,
})  # fmt: skip
# Half a unit in the last printed place, plus float slack: how far a correct Eq. 1 value may be
# from the printed one.
TABLE6_ROUNDING = 0.0005 + 1e-9
TABLE6_TYPO_LAYERS = frozenset({"conv4_3"})

# Table III (FQA CNN on the TX2's ARM cores): (batch, cores) -> (seconds for the fixed
# workload, faces/s, speedup over 1 core), as printed. The speedups are the claim's values.
# The core counts of the paper's parallel tables (III, IV) and of Table VII.
PAPER_CORES = (1, 2, 4)
TABLE3_PAPER: Mapping[tuple[int, int], tuple[Any, ...]] = MappingProxyType({
    (1, 1): (51.073, 52.4, None), (1, 2): (36.580, 73.1, 1.396), (1, 4): (33.326, 80.2, 1.533),
    (2, 1): (51.316, 52.1, None), (2, 2): (34.215, 78.1, 1.500), (2, 4): (23.432, 114.1, 2.190),
    (4, 1): (51.931, 51.5, None), (4, 2): (30.373, 88.0, 1.710), (4, 4): (20.957, 127.5, 2.478),
})  # fmt: skip
# The paper's fixed FQA workload: its 2,673 images (51.073 s x 52.4 faces/s = 2,676).
TABLE3_WORKLOAD = 2673
# Table IV (VGG16): (batch, cores) -> (seconds per batch, speedup over 1 core), as printed.
TABLE4_PAPER: Mapping[tuple[int, int], tuple[Any, ...]] = MappingProxyType({
    (1, 1): (6.10, None), (1, 2): (3.52, 1.73), (1, 4): (2.48, 2.46),
    (2, 1): (12.09, None), (2, 2): (6.525, 1.85), (2, 4): (4.711, 2.57),
    (4, 1): (24.22, None), (4, 2): (13.274, 1.82), (4, 4): (8.918, 2.72),
})  # fmt: skip


def speedup_key(batch: int, cores: int) -> str:
    """The key of a parallel claim's cell, e.g. ``"b4@2c"``."""
    return f"b{batch}@{cores}c"


def _speedup_keys(table: Mapping[tuple[int, int], tuple[Any, ...]]) -> dict[str, float]:
    """``{"b4@2c": 1.71, ...}`` from a printed table whose last column is the speedup."""
    return {speedup_key(b, c): row[-1] for (b, c), row in table.items() if row[-1] is not None}


# The cpu profile's 2-core rules for Tables III and IV: speedup >= F x S_dp, the data-parallel
# scaling of the same cores measured in the same run (see evaluation/parallel.py), judged as
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
                # same run (evaluation/parallel.py). FQA_B4_FACTOR's comment: the numbers.
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
        paper=_frozen(
            {
                "1080p": 34.25,
                "720p": 34.64,
                "480p": 37.23,
                "1080p-fp32": 16.17,
                "720p-fp32": 16.42,
                "480p-fp32": 27.3,
            }
        ),
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
        paper=_frozen({"1080p": 34.25 / 16.17, "720p": 34.64 / 16.42, "480p": 37.23 / 27.3}),
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
                "before.total": 15.38,
                "after.total": 3.39,
                "ratio": 4.54,
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
        paper=_frozen({"1c": 4.27, "2c": 4.24, "4c": 4.28}),
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


_RULE_FIELDS = {"op", *_BOUND_FIELDS, "rel_tol", "abs_tol"}


def parse_rule(spec: Any, *, where: str) -> Rule:
    """Build a Rule from a TOML table; every error names `where` and the bad field."""
    scope = where.rsplit(" ", 1)[-1]
    profile = scope.split(":", 1)[0]
    if profile not in PROFILE_NAMES:
        raise ConfigError(
            f"{where}: '{profile}' is not a profile; use one of {', '.join(PROFILE_NAMES)} "
            f"(optionally 'profile:key')."
        )
    if not isinstance(spec, Mapping):
        raise ConfigError(f'{where}: expected a table like {{ op = ">=", value = 2.4 }}.')
    unknown = set(spec) - _RULE_FIELDS
    if unknown:
        raise ConfigError(
            f"{where}: unknown field(s) {', '.join(sorted(unknown))}; "
            f"allowed: {', '.join(sorted(_RULE_FIELDS))}."
        )
    kwargs: dict[str, Any] = {}
    for name, raw in spec.items():
        if name == "op":
            kwargs[name] = raw
            continue
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise ConfigError(f"{where}: field '{name}' = {raw!r} must be a number.")
        kwargs[name] = float(raw)
    if "op" not in kwargs:
        raise ConfigError(f"{where}: missing field 'op' (one of {', '.join(_OPS)}).")
    try:
        return Rule(**kwargs)
    except ConfigError as exc:
        raise ConfigError(f"{where}: {exc}") from None

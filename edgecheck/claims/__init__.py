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

The package: `claim` holds what a claim is and how it judges (`Rule`, `Claim`, `ClaimResult`,
`parse_rule`); `registry` the built-in claims (`CLAIMS`) and `ClaimRegistry`. The paper's
printed tables that the claims' values come from are in `edgecheck.paper`.
"""

from __future__ import annotations

from edgecheck.claims.claim import PROFILE_NAMES, Claim, ClaimResult, Op, Rule, parse_rule
from edgecheck.claims.registry import (
    CLAIMS,
    FQA_B4_FACTOR,
    VGG16_FACTOR,
    ClaimRegistry,
    speedup_key,
)

__all__ = [
    "CLAIMS",
    "FQA_B4_FACTOR",
    "PROFILE_NAMES",
    "VGG16_FACTOR",
    "Claim",
    "ClaimRegistry",
    "ClaimResult",
    "Op",
    "Rule",
    "parse_rule",
    "speedup_key",
]

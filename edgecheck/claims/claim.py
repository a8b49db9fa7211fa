"""What a claim is and how it judges: a `Rule` per device profile (``measured OP bound``), the
`Claim` that holds the paper's values and its rules, the `ClaimResult` of one check, and
`parse_rule`, which reads a rule from a project's ``[tool.edgecheck.claims]`` table.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
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
        rules: threshold rules by ``"profile"`` or ``"profile:key"`` (see
            `edgecheck.claims`).
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

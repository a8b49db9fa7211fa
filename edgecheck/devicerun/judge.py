"""``edgecheck judge``: the board agent's results.json -> claim verdicts, with the registry's rules.

One code path: `derive_values` turns workloads (the agent's results, each with the
``claims`` entries the bundle put in its manifest, see `edgecheck.devicerun.bundle.
plan_workloads`) into one `Derived` per (claim, key): a value from the workloads' medians, or
the reason there is none; `verdicts` judges those with `Claim.check` / `Claim.not_run`.
`judge_results` validates a results document and does both; a local run of the agent on
this machine goes through the same two functions.

* A value is median(numerator samples) / median(denominator samples) per ratio (seconds per
  batch: 1-core over n-core is the speedup at that batch), combined as the entry says.
* A workload "not run" or "error" makes its claims "not run here" with the agent's reason; a
  workload whose clocks or temperatures moved (``"stable": false``) makes them "not run here:
  unstable: <reasons>".
* A rule the profile lacks is not judged (no verdict at all). A rule with
  ``reference_factor`` needs a same-run reference the agent does not measure (the cpu
  profile's): "not run here: the cpu rule needs <reference>, measured only by the local suite
  (tox -e cpu)".
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgecheck.errors import EdgecheckError

if TYPE_CHECKING:
    from edgecheck.claims import ClaimRegistry, ClaimResult

SCHEMA = 1
COMBINES = ("ratio", "difference", "quotient")
JUDGED_PROFILES = ("tx2", "orin", "gpu", "cpu")
# What a reference_factor rule scales, by claim (the local suite measures it in the same run).
REFERENCES = {
    "parallel.fqa.cores": "the cores' data-parallel scaling",
    "parallel.vgg16.cores": "the cores' data-parallel scaling",
    "quant.int8.speedup": "the INT8/FP32 rate of VGG16's conv GEMMs",
    "prune.speedup": "the cell's ceiling",
    "quant.fp16.fps": "the naive detector's fps",
}
FIX = "pass the results.json that board_agent.pyz wrote (schema 1), unchanged"


class ResultsError(EdgecheckError):
    """A results file that cannot be judged (missing, not JSON, wrong schema or field)."""


@dataclass(frozen=True)
class Derived:
    """One claim key's value from the workloads, or why there is none.

    Attributes:
        claim, key: the claim id and key.
        value: the derived number; None when `reason` says why not.
        cores: the cores of the measurement (per_core rules), or None.
        reason: why there is no value ("unstable: ...", the agent's own reason).
        workloads: the workload names it came from.
    """

    claim: str
    key: str
    value: float | None
    cores: int | None = None
    reason: str | None = None
    workloads: tuple[str, ...] = ()


def _strip(reason: str | None) -> str:
    text = (reason or "no reason given").strip()
    for prefix in ("not run here: ", "not run: "):
        if text.startswith(prefix):
            text = text[len(prefix) :]
    return text


def _median_or_reason(w: Mapping[str, Any] | None, name: str) -> tuple[float | None, str | None]:
    if w is None:
        return None, f"workload {name} is not in the results"
    status = w.get("status")
    if status == "error":
        return None, f"{name}: error: {_strip(w.get('reason'))}"
    if status != "ok":
        return None, f"{name}: {_strip(w.get('reason'))}"
    if w.get("stable") is False:
        reasons = "; ".join(str(r) for r in w.get("unstable_reasons") or []) or "no reason given"
        return None, f"unstable: {name}: {reasons}"
    samples = [float(s) for s in w.get("samples_s") or []]
    if not samples:
        return None, f"{name}: no samples"
    m = statistics.median(samples)
    if not (m > 0 and math.isfinite(m)):
        return None, f"{name}: median time {m!r} is not a positive time"
    return m, None


def derive_values(workloads: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], Derived]:
    """``{(claim, key): Derived}`` from workloads that carry ``claims`` entries."""
    by_name = {str(w.get("name")): w for w in workloads}
    out: dict[tuple[str, str], Derived] = {}
    for w in workloads:
        for entry in w.get("claims") or []:
            claim, key = str(entry["claim"]), str(entry.get("key", ""))
            ratios: list[float] = []
            reason = None
            names: list[str] = []
            for numerator, denominator in entry["ratios"]:
                names += [numerator, denominator]
                top, why_top = _median_or_reason(by_name.get(numerator), numerator)
                bottom, why_bottom = _median_or_reason(by_name.get(denominator), denominator)
                reason = reason or why_top or why_bottom
                if top is not None and bottom is not None:
                    ratios.append(top / bottom)
            value = None
            if reason is None:
                combine = entry.get("combine", "ratio")
                if combine == "difference":
                    value = ratios[0] - ratios[1]
                elif combine == "quotient":
                    value = ratios[0] / ratios[1]
                else:
                    value = ratios[0]
            out[(claim, key)] = Derived(
                claim, key, value, entry.get("cores"), reason, tuple(dict.fromkeys(names))
            )
    return out


def verdicts(
    derived: Mapping[tuple[str, str], Derived], registry: ClaimRegistry, profile: str
) -> list[ClaimResult]:
    """`Claim.check` (or `Claim.not_run`) per derived value whose claim has a rule for
    (`profile`, key); keys without a rule are left out."""
    from dataclasses import replace

    results = []
    for (claim_id, key), d in derived.items():
        claim = registry[claim_id]
        rule = claim.rule_for(profile, key)
        if rule is None:
            continue
        if d.reason is not None:
            result = claim.not_run(profile=profile, key=key, reason=d.reason)
        elif rule.reference_factor is not None:
            reference = REFERENCES.get(claim_id, "a reference measured in the same run")
            result = claim.not_run(
                profile=profile, key=key,
                reason=f"the {profile} rule needs {reference}, measured only by the local "
                "suite (tox -e cpu)",
            )  # fmt: skip
        else:
            assert d.value is not None
            result = claim.check(d.value, profile=profile, key=key, cores=d.cores)
        results.append(replace(result, extra={"workloads": list(d.workloads)}))
    return results


def _field(doc: Mapping[str, Any], name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if name not in doc:
        raise ResultsError(f"{where}: field '{name}' is missing; {FIX}.")
    value = doc[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise ResultsError(f"{where}: field '{name}' must be {names}, not {value!r}; {FIX}.")
    return value


def check_results(results: Any, where: str = "results") -> None:
    """Raise `ResultsError` naming `where` and the field when `results` is not schema 1."""
    if not isinstance(results, Mapping):
        raise ResultsError(f"{where}: must hold a JSON object; {FIX}.")
    if results.get("schema") != SCHEMA:
        raise ResultsError(
            f"{where}: field 'schema' is {results.get('schema')!r}, this edgecheck reads "
            f"schema {SCHEMA}; {FIX} (agent and edgecheck from the same version)."
        )
    workloads = _field(results, "workloads", list, where)
    for i, w in enumerate(workloads):
        wwhere = f"{where}: workloads[{i}]"
        if not isinstance(w, Mapping):
            raise ResultsError(f"{wwhere}: must be an object; {FIX}.")
        _field(w, "name", str, wwhere)
        _field(w, "status", str, wwhere)
        samples = _field(w, "samples_s", list, wwhere)
        if not all(isinstance(s, (int, float)) and not isinstance(s, bool) for s in samples):
            raise ResultsError(f"{wwhere}: field 'samples_s' must hold numbers; {FIX}.")
        for j, entry in enumerate(w.get("claims") or []):
            cwhere = f"{wwhere}: claims[{j}]"
            if not isinstance(entry, Mapping):
                raise ResultsError(f"{cwhere}: must be an object; rebuild the bundle.")
            _field(entry, "claim", str, cwhere)
            ratios = _field(entry, "ratios", list, cwhere)
            combine = entry.get("combine", "ratio")
            need = 1 if combine == "ratio" else 2
            if (
                combine not in COMBINES
                or len(ratios) < need
                or not all(isinstance(r, list) and len(r) == 2 for r in ratios)
            ):
                raise ResultsError(
                    f"{cwhere}: field 'ratios'/'combine' ({combine!r}) is malformed; rebuild "
                    "the bundle with `edgecheck bundle`."
                )


def results_profile(results: Mapping[str, Any], profile: str | None, where: str) -> str:
    """`profile` if given, else the board's ``profile_hint``; one of tx2, orin, gpu, cpu."""
    if profile is None:
        board = results.get("board")
        profile = board.get("profile_hint") if isinstance(board, Mapping) else None
        if profile not in JUDGED_PROFILES:
            raise ResultsError(
                f"{where}: field 'board.profile_hint' is {profile!r}, not one of "
                f"{', '.join(JUDGED_PROFILES)}; pass --profile to choose the rules."
            )
        return str(profile)
    if profile not in JUDGED_PROFILES:
        raise ResultsError(f"profile {profile!r} is not one of {', '.join(JUDGED_PROFILES)}.")
    return profile


def judge_results(
    results: Mapping[str, Any], registry: ClaimRegistry, *, profile: str | None = None,
    where: str = "results",
) -> list[ClaimResult]:  # fmt: skip
    """Claim verdicts for an agent's results (profile from ``board.profile_hint`` unless
    given).

    Raises:
        ResultsError: not a schema-1 results document, or no usable profile.
    """
    check_results(results, where)
    chosen = results_profile(results, profile, where)
    return verdicts(derive_values(results["workloads"]), registry, chosen)


def load_results(path: Path) -> dict[str, Any]:
    """The results document in `path`, a JSON object; else `ResultsError` naming the file."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ResultsError(f"{path}: cannot read it ({why}); {FIX}.") from None
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise ResultsError(f"{path}: not valid JSON ({exc}); {FIX}.") from None
    if not isinstance(doc, dict):
        raise ResultsError(f"{path}: must hold a JSON object; {FIX}.")
    return doc

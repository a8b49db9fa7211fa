"""What the plugin prints after the run: the baselines' verdicts (the timing line first), the
claims table and its counts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from edgecheck.plugin.state import SessionState

if TYPE_CHECKING:
    from edgecheck.baselines import Verdict


def summary_rows(state: SessionState) -> list[dict[str, str]]:
    """One row per verdict: claim, source, paper, measured, threshold, verdict."""
    if not state.results and not state.not_run:
        return []  # a session without claims reads no registry
    from edgecheck.formatting import significant

    rows: list[dict[str, str]] = []
    for r in state.results:
        paper_value = r.claim.paper_value(r.key)
        unit = r.claim.unit_for(r.key)
        rows.append({
            "claim": r.label,
            "source": r.claim.source,
            "paper": f"{significant(paper_value)}{unit}" if paper_value is not None else "-",
            "measured": f"{significant(r.measured)}{unit}" if r.measured is not None else "-",
            "threshold": r.threshold,
            "margin": f"{r.margin:+.1%}" if r.margin is not None else "-",
            "verdict": r.verdict,
        })  # fmt: skip
    from edgecheck.errors import ConfigError

    registry = state.registry
    for n in state.not_run:
        try:
            claim = registry[n.claim_id]
            source = claim.source
            paper_value = claim.paper_value(n.key)
            unit = claim.unit_for(n.key)
            paper = f"{significant(paper_value)}{unit}" if paper_value is not None else "-"
        except ConfigError:  # a claim id that only the test knows: still list the skip
            source, paper = "?", "-"
        rows.append({
            "claim": f"{n.claim_id}[{n.key}]" if n.key else n.claim_id,
            "source": source, "paper": paper, "measured": "-", "threshold": "-", "margin": "-",
            "verdict": f"not run here: {n.reason}",
        })  # fmt: skip
    return rows


def format_table(rows: list[dict[str, str]], columns: list[str]) -> str:
    """A plain-text table with aligned columns."""
    widths = {c: max([len(c)] + [len(r[c]) for r in rows]) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns).rstrip()]
    lines.append("  ".join("-" * widths[c] for c in columns))
    lines += ["  ".join(r[c].ljust(widths[c]) for c in columns).rstrip() for r in rows]
    return "\n".join(lines)


BASELINE_ORDER = ("regression", "improvement", "undecided", "other device", "no baseline")
BASELINE_HEADINGS = {
    "regression": "regressions",
    "improvement": "improvements beyond the tolerance (refresh the baseline)",
    "undecided": "undecided (too noisy to tell; measure longer)",
    "other device": "no baseline for this device",
    "no baseline": "no baseline stored",
}


def not_compared_timings(state: SessionState) -> dict[str, list[Verdict]]:
    """This run's timing metrics that were not compared, by why (`Verdict.not_compared`):
    the causes for stored timings first, most metrics first, then "no baseline stored"."""
    groups: dict[str, list[Verdict]] = {}
    for v in state.verdicts:
        if v.kind == "timing" and v.status in ("other device", "no baseline"):
            groups.setdefault(v.not_compared, []).append(v)
    return dict(sorted(groups.items(), key=_group_order))


def _group_order(item: tuple[str, list[Verdict]]) -> tuple[bool, int, str]:
    why, verdicts = item
    return (verdicts[0].status == "no baseline", -len(verdicts), why)


def timing_line(state: SessionState) -> str:
    """The summary's first edgecheck line: how many timing metrics were compared, and how many
    were not and why, grouped by the identity field (or calibration) that differed, e.g.
    ``edgecheck: 12 timing metrics compared; 4 not compared: onnxruntime version differs
    (1.31.0 stored, 1.32.0 here); 2 not compared: no baseline stored``."""
    compared = sum(
        v.kind == "timing" and v.status not in ("other device", "no baseline")
        for v in state.verdicts
    )
    parts = [f"edgecheck: {compared} timing metric{'' if compared == 1 else 's'} compared"]
    groups = not_compared_timings(state)
    parts += [f"{len(vs)} not compared: {why}" for why, vs in groups.items()]
    if not groups:
        parts.append("0 not compared")
    return "; ".join(parts)


def baseline_summary(terminalreporter: Any, state: SessionState) -> None:
    if not state.verdicts and not state.update_outcome:
        return
    terminalreporter.section("edgecheck baselines")
    terminalreporter.write_line(timing_line(state))
    for line in state.timing_gate.splitlines():
        terminalreporter.write_line(line, red=True, bold=True)
    note = stored.migration_note if (stored := state.baseline_if_read) is not None else None
    if note:
        terminalreporter.write_line(f"warning: {note}", yellow=True)
    for status in BASELINE_ORDER:
        chosen = [v for v in state.verdicts if v.status == status]
        if not chosen:
            continue
        terminalreporter.write_line(f"{BASELINE_HEADINGS[status]}:")
        for v in chosen:
            terminalreporter.write_line(f"  {v.message}")
    counts = {s: sum(v.status == s for v in state.verdicts) for s in (*BASELINE_ORDER, "unchanged")}
    terminalreporter.write_line(
        f"baselines ({state.baseline_dir / (state.device.profile + '.json')}): "
        f"{counts['unchanged']} unchanged, {counts['regression']} regressed, "
        f"{counts['improvement']} improved, {counts['undecided']} undecided, "
        f"{counts['other device']} with no baseline for this device, "
        f"{counts['no baseline']} not stored"
    )
    if state.calibration_if_measured is not None:
        terminalreporter.write_line(
            f"calibration of this machine (fingerprint {state.device.fingerprint_id}): "
            f"{state.calibration_if_measured.text()}"
        )
    if state.update_outcome:
        terminalreporter.write_line(state.update_outcome)


def claims_summary(terminalreporter: Any, state: SessionState) -> None:
    """The claims table and its count line."""
    rows = summary_rows(state)
    if not rows:
        return
    terminalreporter.section("edgecheck claims")
    columns = ["claim", "source", "paper", "measured", "threshold", "margin", "verdict"]
    for line in format_table(rows, columns).splitlines():
        terminalreporter.write_line(line)
    passed = sum(r.verdict == "pass" for r in state.results)
    failed = sum(r.verdict == "FAIL" for r in state.results)
    terminalreporter.write_line(
        f"claims: {passed} checks passed, {failed} failed, {len(state.not_run)} not run here"
    )

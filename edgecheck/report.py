"""The evaluation report: sections in, one Markdown file and one JSON file out.

Each paper experiment in `edgecheck.evaluation` returns a `Section` (Markdown body, the claim
verdicts, and any figures it drew, as PNG bytes); this module only assembles and writes them,
atomically, figures next to ``report.md``.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgecheck._atomic import write_atomic
from edgecheck.errors import EdgecheckError

if TYPE_CHECKING:
    from edgecheck.claims import ClaimResult
    from edgecheck.device import DeviceInfo


@dataclass(frozen=True)
class Figure:
    """A plot of a section, drawn in memory; `write_report` writes it next to report.md.

    Sections carry the bytes, not a path: an experiment does not know the output folder,
    and nothing is written until the whole report is.

    Attributes:
        name: file name, e.g. ``"fig4_int8_speedup.png"`` (a plain name, no folders).
        png: the PNG file's bytes.
        caption: the image's alt text in the Markdown.
    """

    name: str
    png: bytes
    caption: str = ""

    def __post_init__(self) -> None:
        if Path(self.name).name != self.name or not self.name.endswith(".png"):
            raise EdgecheckError(
                f"figure name {self.name!r} must be a plain file name ending in .png "
                "(it is written next to report.md)."
            )


@dataclass
class Section:
    """One experiment's part of the report."""

    title: str
    body: str
    results: list[ClaimResult] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[tuple[str, str]]) -> str:
    """A GitHub-flavoured Markdown table; `columns` is (key, header) pairs."""
    header = "| " + " | ".join(h for _, h in columns) + " |"
    rule = "|" + "|".join("---" for _ in columns) + "|"
    body = ["| " + " | ".join(str(row.get(k, "")) for k, _ in columns) + " |" for row in rows]
    return "\n".join([header, rule, *body])


def verdict_table(results: Sequence[ClaimResult]) -> str:
    """The verdicts of a section as a Markdown table."""
    from edgecheck.formatting import significant

    rows = []
    for r in results:
        paper = r.claim.paper_value(r.key)
        rows.append({
            "claim": f"`{r.label}`",
            "paper": "-" if paper is None else f"{significant(paper)}{r.claim.unit_for(r.key)}",
            "measured": "-" if r.measured is None else f"{significant(r.measured)}{r.claim.unit_for(r.key)}",
            "threshold": r.threshold or "-",
            "margin": "-" if r.margin is None else f"{r.margin:+.1%}",
            "verdict": "**FAIL**" if r.verdict == "FAIL" else r.verdict,
        })  # fmt: skip
    columns = [("claim", "claim"), ("paper", "paper"), ("measured", "measured here"),
               ("threshold", "threshold"), ("margin", "margin"),
               ("verdict", "verdict")]  # fmt: skip
    return markdown_table(rows, columns)


def verdict_counts(results: Sequence[ClaimResult]) -> str:
    """``"12 pass, 1 FAIL, 3 not run here or not applicable"``: a verdict that was not
    reached is never counted as a pass (the same words as the CLI's summary line)."""
    passed = sum(1 for r in results if r.verdict == "pass")
    failed = sum(1 for r in results if r.verdict == "FAIL")
    return (
        f"{passed} pass, {failed} FAIL, "
        f"{len(results) - passed - failed} not run here or not applicable"
    )


def render_markdown(sections: Sequence[Section], device: DeviceInfo) -> str:
    """The whole report as Markdown."""
    stamp = _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    results = [r for s in sections for r in s.results]
    lines = [
        "# edgecheck evaluation",
        "",
        "The claims of Qi & Liu, *Enabling Deep Learning on IoT Edge*, measured on this machine.",
        "",
        f"- date: {stamp}",
        f"- profile: **{device.profile}** ({device.profile_source})",
        f"- fingerprint: `{device.fingerprint_id}`",
        "- machine: " + ", ".join(f"{k} {v}" for k, v in sorted(device.fingerprint.items())),
        f"- verdicts: {verdict_counts(results)}",
        "",
    ]
    for section in sections:
        lines += [f"## {section.title}", "", section.body.rstrip(), ""]
        if section.results:
            lines += ["Verdicts:", "", verdict_table(section.results), ""]
        for figure in section.figures:
            lines += [f"![{figure.caption or Path(figure.name).stem}]({figure.name})", ""]
    return "\n".join(lines).rstrip() + "\n"


def write_report(sections: Sequence[Section], device: DeviceInfo, out_dir: Path) -> list[Path]:
    """Write ``report.md``, ``results.json`` and every section's figures into `out_dir`.

    Returns the paths written: report.md, results.json, then the figures.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    names = [f.name for s in sections for f in s.figures]
    if len(set(names)) != len(names):
        raise EdgecheckError(
            f"two sections name the same figure file: {sorted(names)}; give each a unique name."
        )
    # Figures first: once report.md appears, the images it links to are there.
    figures = [write_atomic(out_dir / f.name, f.png) for s in sections for f in s.figures]
    md = write_atomic(out_dir / "report.md", render_markdown(sections, device))
    payload = {
        "device": device.as_dict(),
        "sections": [
            {
                "title": s.title,
                "data": s.data,
                "results": [r.as_dict() for r in s.results],
                "figures": [f.name for f in s.figures],
            }
            for s in sections
        ],
    }
    js = write_atomic(
        out_dir / "results.json", json.dumps(payload, indent=2, sort_keys=True) + "\n"
    )
    return [md, js, *figures]

"""``edgecheck history html OUT/``: one static page of every metric's history.

``OUT/index.html`` holds, per series (a metric; a timing once per device), an inline SVG chart
(the medians with their intervals, the level between change points, the change points marked
and labelled with their step and commit range), the change points as a table, and the creep
rule's verdict on the newest run. No server, no external file, no network: the page opens
from disk. A few lines of script build the table of contents and count the charts
(``<body data-charts="N">``), which the headless-Chromium test reads.
"""

from __future__ import annotations

import html
import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from edgecheck._atomic import write_atomic
from edgecheck.history.changes import DEFAULT_ALPHA, ChangePoint, change_points
from edgecheck.history.creep import CreepVerdict, judge_creep
from edgecheck.history.store import HistoryStore, SeriesPoint, now_utc

WIDTH, HEIGHT = 760, 260
LEFT, RIGHT, TOP, BOTTOM = 70, 20, 30, 40


@dataclass(frozen=True)
class Chart:
    """One series of the page: its name, runs, change points and creep verdict."""

    label: str
    fingerprint: str | None
    series: Sequence[SeriesPoint]
    changes: Sequence[ChangePoint]
    creep: CreepVerdict | None

    @property
    def anchor(self) -> str:
        name = self.label + (f"-{self.fingerprint}" if self.fingerprint else "")
        return "m-" + "".join(ch if ch.isalnum() else "-" for ch in name)


def charts_of(store: HistoryStore, *, alpha: float = DEFAULT_ALPHA) -> list[Chart]:
    """Every series of the store: one per metric, a timing once per fingerprint."""
    out = []
    for test_id, metric, kind, _ in store.metric_names():
        prints = sorted(store.fingerprints(test_id, metric)) if kind == "timing" else [None]
        for fingerprint in prints:
            series = store.series(test_id, metric, fingerprint_id=fingerprint)
            values, commits = [p.value for p in series], [p.commit for p in series]
            changes = change_points(values, commits, alpha=alpha)
            creep = None
            if len(series) >= 2:
                newest = series[-1]
                creep = judge_creep(
                    values[:-1], commits[:-1], newest.value, newest.commit,
                    direction=newest.direction, tolerance=max(newest.tolerance, 0.01),
                    label=f"{test_id}::{metric}", unit=newest.unit, alpha=alpha,
                )  # fmt: skip
            out.append(Chart(f"{test_id}::{metric}", fingerprint, series, changes, creep))
    return out


def _fmt(x: float) -> str:
    return f"{x:.4g}"


def svg_chart(chart: Chart) -> str:
    """The chart as an inline ``<svg class="chart">`` (escaped text, no external reference)."""
    series = chart.series
    n = len(series)
    low = min(p.low for p in series)
    high = max(p.high for p in series)
    pad = (high - low) * 0.08 or abs(high) * 0.05 or 1.0
    low, high = low - pad, high + pad
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(i: float) -> float:
        return LEFT + (i + 0.5) * plot_w / max(n, 1)

    def y(v: float) -> float:
        return TOP + (high - v) / (high - low) * plot_h

    e = html.escape
    title = f"{chart.label}" + (f" on {chart.fingerprint}" if chart.fingerprint else "")
    unit = series[-1].unit
    parts = [
        f'<svg class="chart" data-metric="{e(title)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'width="{WIDTH}" height="{HEIGHT}" role="img" aria-label="{e(title)}" '
        'xmlns="http://www.w3.org/2000/svg">',
        f'<rect class="frame" x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}"/>',
    ]
    for v in (low + pad, (low + high) / 2, high - pad):
        parts.append(f'<text class="tick" x="{LEFT - 6}" y="{y(v) + 4:.1f}" '
                     f'text-anchor="end">{e(_fmt(v))}</text>')  # fmt: skip
    parts.append(f'<text class="axis" x="14" y="{TOP + plot_h / 2:.1f}" transform="rotate(-90 '
                 f'14 {TOP + plot_h / 2:.1f})" text-anchor="middle">{e(unit)} '
                 f'({e(series[-1].direction)} is better)</text>')  # fmt: skip
    parts.append(f'<text class="tick" x="{x(0):.1f}" y="{HEIGHT - 12}" text-anchor="start">'
                 f"{e(series[0].commit[:10])}</text>")  # fmt: skip
    parts.append(f'<text class="tick" x="{x(n - 1):.1f}" y="{HEIGHT - 12}" text-anchor="end">'
                 f"{e(series[-1].commit[:10])}</text>")  # fmt: skip
    bounds = [0, *(c.index for c in chart.changes), n]
    levels = [chart.changes[0].before] if chart.changes else []
    levels += [c.after for c in chart.changes]
    if not chart.changes:
        levels = [sorted(p.value for p in series)[n // 2]]
    for (start, end), level in zip(itertools.pairwise(bounds), levels, strict=True):
        parts.append(f'<line class="level" x1="{x(start - 0.4):.1f}" x2="{x(end - 0.6):.1f}" '
                     f'y1="{y(level):.1f}" y2="{y(level):.1f}"/>')  # fmt: skip
    direction = series[-1].direction
    for c in chart.changes:
        cx = x(c.index - 0.5)
        way = "worse" if c.worse(direction) else "better"
        parts.append(f'<line class="change {way}" x1="{cx:.1f}" x2="{cx:.1f}" y1="{TOP}" '
                     f'y2="{TOP + plot_h}"><title>{e(c.commit_range)}: {c.step:+.1%}, '
                     f"p = {c.p_value:.2g}</title></line>")  # fmt: skip
        parts.append(f'<text class="step {way}" x="{cx:.1f}" y="{TOP - 8}" '
                     f'text-anchor="middle">{c.step:+.1%}</text>')  # fmt: skip
    for i, p in enumerate(series):
        parts.append(f'<line class="ci" x1="{x(i):.1f}" x2="{x(i):.1f}" y1="{y(p.low):.1f}" '
                     f'y2="{y(p.high):.1f}"/>')  # fmt: skip
        parts.append(f'<circle class="run" cx="{x(i):.1f}" cy="{y(p.value):.1f}" r="3">'
                     f"<title>{e(p.commit)} ({e(p.branch)}, {e(p.time)}): "
                     f"{e(_fmt(p.value))} {e(unit)} [{e(_fmt(p.low))}, {e(_fmt(p.high))}], "
                     f"n = {p.n}</title></circle>")  # fmt: skip
    parts.append("</svg>")
    return "\n".join(parts)


_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 62em; }
h1 { font-size: 1.4em; } h2 { font-size: 1.05em; margin-top: 2em; word-break: break-all; }
.frame { fill: none; stroke: #bbb; } .tick, .axis { font-size: 11px; fill: #555; }
.ci { stroke: #999; stroke-width: 1; } .run { fill: #1f77b4; }
.level { stroke: #ff7f0e; stroke-width: 2.5; }
.change { stroke-width: 1.2; stroke-dasharray: 4 3; } .step { font-size: 11px; }
.change.worse { stroke: #d62728; } .change.better { stroke: #2ca02c; }
.step.worse { fill: #d62728; } .step.better { fill: #2ca02c; }
.verdict.fail { color: #b00; font-weight: bold; } .verdict.pass { color: #070; }
table { border-collapse: collapse; font-size: 0.9em; }
td, th { border: 1px solid #ddd; padding: 2px 8px; text-align: left; }
"""

_SCRIPT = """
document.addEventListener("DOMContentLoaded", function () {
  var charts = document.querySelectorAll("svg.chart");
  var toc = document.getElementById("toc");
  charts.forEach(function (svg) {
    var item = document.createElement("li");
    var link = document.createElement("a");
    link.href = "#" + svg.closest("section").id;
    link.textContent = svg.dataset.metric;
    item.appendChild(link);
    toc.appendChild(item);
  });
  document.body.dataset.charts = String(charts.length);
});
"""


def page(charts: Sequence[Chart], *, source: str) -> str:
    """The whole page's HTML."""
    e = html.escape
    runs = max((len(c.series) for c in charts), default=0)
    body = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8">',
        "<title>edgecheck performance history</title>", f"<style>{_STYLE}</style>",
        f"<script>{_SCRIPT}</script>", "</head>", "<body>",
        "<h1>edgecheck performance history</h1>",
        f"<p>{e(source)}: {len(charts)} series, up to {runs} runs each; generated "
        f"{e(now_utc())}. Change points: E-Divisive means with a permutation test; the "
        "verdict is the creep rule on the newest run.</p>",
        '<ul id="toc"></ul>',
    ]  # fmt: skip
    for chart in charts:
        title = chart.label + (f" (device {chart.fingerprint})" if chart.fingerprint else "")
        body.append(f'<section id="{chart.anchor}">')
        body.append(f"<h2>{e(title)}</h2>")
        if chart.creep is not None:
            status = "fail" if not chart.creep else "pass"
            body.append(f'<p class="verdict {status}">{e(chart.creep.message)}</p>')
        body.append(svg_chart(chart))
        if chart.changes:
            body.append("<table><tr><th>run</th><th>commits</th><th>before</th><th>after</th>"
                        "<th>step</th><th>p</th></tr>")  # fmt: skip
            for c in chart.changes:
                body.append(
                    f"<tr><td>{c.index}</td><td>{e(c.commit_range)}</td><td>{_fmt(c.before)}"
                    f"</td><td>{_fmt(c.after)}</td><td>{c.step:+.1%}</td>"
                    f"<td>{c.p_value:.2g}</td></tr>"
                )
            body.append("</table>")
        else:
            body.append("<p>No change point.</p>")
        body.append("</section>")
    body += ["</body>", "</html>"]
    return "\n".join(body) + "\n"


def write_page(
    store: HistoryStore, out_dir: str | Path, *, alpha: float = DEFAULT_ALPHA
) -> tuple[Path, int]:
    """Write ``out_dir/index.html``; returns its path and the number of charts."""
    charts = charts_of(store, alpha=alpha)
    path = Path(out_dir) / "index.html"
    write_atomic(path, page(charts, source=str(store.path)))
    return path, len(charts)

"""A metric's history as a PNG: medians with intervals, levels, change points marked.

matplotlib draws on its Agg canvas directly (no pyplot, no global backend switch), as
`edgecheck.plots` does, so it runs headless and leaves a caller's matplotlib state alone.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Sequence
from typing import TYPE_CHECKING

from edgecheck._imports import require

if TYPE_CHECKING:
    from edgecheck.history.changes import ChangePoint
    from edgecheck.history.store import SeriesPoint


def series_png(
    label: str, series: Sequence[SeriesPoint], changes: Sequence[ChangePoint], *,
    candidate: bool = False,
) -> bytes:  # fmt: skip
    """The PNG bytes of `series` with a dashed line and the step at each change point;
    `candidate`: the last point is the run being judged, drawn apart as "this run"."""
    require("matplotlib", "plotting the history")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9.0, 4.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    x = list(range(len(series)))
    y = [p.value for p in series]
    errors = [[p.value - p.low for p in series], [p.high - p.value for p in series]]
    if candidate and series:
        ax.plot([x[-1]], [y[-1]], marker="*", markersize=14, color="tab:red", linestyle="none",
                label=f"this run ({series[-1].commit[:8]})", zorder=5)  # fmt: skip
    ax.errorbar(x, y, yerr=errors, fmt="o", markersize=3, capsize=2, color="tab:blue",
                ecolor="tab:gray", elinewidth=0.8, label="median per run (interval)")  # fmt: skip
    bounds = [0, *(c.index for c in changes), len(series)]
    levels = [changes[0].before] if changes else []
    levels += [c.after for c in changes]
    if not changes and series:
        levels = [sorted(y)[len(y) // 2]]
    for i, ((start, end), level) in enumerate(zip(itertools.pairwise(bounds), levels, strict=True)):
        ax.hlines(level, start - 0.4, end - 0.6, colors="tab:orange", linewidth=2,
                  label="level (median between change points)" if i == 0 else "_nolegend_")  # fmt: skip
    direction = series[-1].direction if series else "lower"
    for c in changes:
        worse = c.worse(direction)
        ax.axvline(c.index - 0.5, color="tab:red" if worse else "tab:green", linestyle="--",
                   linewidth=1)  # fmt: skip
        ax.annotate(f"{c.step:+.1%}\n{c.commit[:8]}", (c.index - 0.5, 1.0),
                    xycoords=("data", "axes fraction"), fontsize=7, ha="center", va="bottom")  # fmt: skip
    if len(series) <= 30:
        ax.set_xticks(x)
        ax.set_xticklabels([p.commit[:7] for p in series], rotation=90, fontsize=7)
    unit = series[-1].unit if series else ""
    ax.set_xlabel("run (oldest first)")
    ax.set_ylabel(f"{unit} ({direction} is better)" if unit else f"{direction} is better")
    ax.set_title(f"{label}: {len(series)} runs, {len(changes)} change point(s)", fontsize=9,
                 pad=24)  # fmt: skip
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()

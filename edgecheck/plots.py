"""Figures for the report: speedup curves like the paper's Figs. 2, 3 and 4, as PNG bytes.

matplotlib is imported inside the function and drawn on its Agg canvas directly (no pyplot,
no global backend switch), so it works headless and leaves a caller's matplotlib state
alone. The report writes the bytes next to report.md.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from edgecheck._imports import require


@dataclass(frozen=True)
class Series:
    """One line of a figure: points with optional confidence bars.

    Attributes:
        label: legend text, e.g. ``"batch 4 (measured)"``.
        x, y: the points.
        low, high: the interval of each y (same length as `y`), or empty for none.
        dashed: draw dashed (the paper's values, against solid measured ones).
    """

    label: str
    x: Sequence[float]
    y: Sequence[float]
    low: Sequence[float] = field(default_factory=tuple)
    high: Sequence[float] = field(default_factory=tuple)
    dashed: bool = False


def line_figure(
    series: Sequence[Series],
    *,
    title: str,
    xlabel: str,
    ylabel: str,
    xticks: Sequence[float] | None = None,
    reference: Mapping[str, float] | None = None,
    log2_x: bool = False,
) -> bytes:
    """A line plot of `series` as PNG bytes.

    Args:
        series: the lines; measured ones solid with error bars, the paper's dashed.
        title, xlabel, ylabel: text.
        xticks: tick positions (e.g. the core counts). Default: matplotlib's.
        reference: horizontal lines by label, e.g. ``{"theory 4.52x": 4.52}``.
        log2_x: a base-2 logarithmic x axis (batch sizes 1 ... 128).
    """
    require("matplotlib", "the report's figures")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.0, 4.0), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    for s in series:
        style = "--" if s.dashed else "-"
        if s.low and s.high:
            errors = [
                [y - lo for y, lo in zip(s.y, s.low, strict=True)],
                [hi - y for y, hi in zip(s.y, s.high, strict=True)],
            ]
            ax.errorbar(s.x, s.y, yerr=errors, fmt="o" + style, capsize=3, label=s.label)
        else:
            ax.plot(s.x, s.y, "s" + style, label=s.label, alpha=0.7 if s.dashed else 1.0)
    for label, value in (reference or {}).items():
        ax.axhline(value, color="grey", linestyle=":", linewidth=1)
        ax.annotate(label, (0.01, value), xycoords=("axes fraction", "data"), fontsize=8)
    if log2_x:
        ax.set_xscale("log", base=2)
    if xticks is not None:
        ax.set_xticks(list(xticks))
        ax.get_xaxis().set_major_formatter("{x:g}")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()

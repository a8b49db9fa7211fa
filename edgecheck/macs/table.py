"""Table VI style output: `format_macs_table`, a plain-text per-layer table (before / after
pruning when given two reports), and `macs_rows`, its rows as data for other writers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from edgecheck.macs.report import GIGA, LayerMACs, MACReport


def _dims(sizes: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in sizes) if sizes else "-"


def _ratio(before: int | None, after: int | None) -> float | None:
    if before is None or not after:
        return None
    return before / after


def macs_rows(report: MACReport, compare: MACReport | None = None) -> list[dict[str, Any]]:
    """The rows of `format_macs_table`, as data for other writers (Markdown, JSON).

    Args:
        report: the model to list (Table VI's "before pruning").
        compare: optionally a second report (Table VI's "after pruning"), matched by layer
            name; its layers missing from `report` are appended at the end.

    Returns:
        One dict per layer with keys ``layer``, ``feature_map`` (e.g. ``"224x224"``, ``"-"``
        for linear layers), ``kernel`` (``"3x3"`` or ``"-"``), ``n_in``, ``n_out`` (ints) and
        ``gmacs`` (float, unrounded). With `compare` also ``n_in_after``, ``n_out_after``,
        ``gmacs_after`` and ``ratio`` (gmacs / gmacs_after). A value a report lacks is None.
        Totals are ``report.total`` and ``compare.total``.
    """
    other = compare.by_name if compare is not None else {}
    rows: list[dict[str, Any]] = []

    def row(before: LayerMACs | None, after: LayerMACs | None) -> dict[str, Any]:
        shown = before if before is not None else after
        assert shown is not None
        entry: dict[str, Any] = {
            "layer": shown.name,
            "feature_map": _dims(shown.output_size),
            "kernel": _dims(shown.kernel),
            "n_in": before.in_channels if before else None,
            "n_out": before.out_channels if before else None,
            "gmacs": before.gmacs if before else None,
        }
        if compare is not None:
            entry.update(
                n_in_after=after.in_channels if after else None,
                n_out_after=after.out_channels if after else None,
                gmacs_after=after.gmacs if after else None,
                ratio=_ratio(before.macs if before else None, after.macs if after else None),
            )
        return entry

    for layer in report.layers:
        rows.append(row(layer, other.get(layer.name)))
    if compare is not None:
        listed = report.by_name
        rows.extend(row(None, layer) for layer in compare.layers if layer.name not in listed)
    return rows


def _cell(value: Any, decimals: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{decimals}f}"
    return str(value)


def _render(
    header: Sequence[str], body: Iterable[Sequence[str]], totals: Sequence[Sequence[str]]
) -> str:
    table = [list(header), *[list(r) for r in body]]
    n_body = len(table) - 1
    table += [list(t) for t in totals]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        # Names left-aligned, numbers right-aligned, like a printed table.
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        return "  ".join((first, *rest)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    rows = [line(r) for r in table[1:]]
    return "\n".join([line(table[0]), rule, *rows[:n_body], rule, *rows[n_body:]])


def format_macs_table(
    report: MACReport, *, compare: MACReport | None = None, title: str | None = None
) -> str:
    """A plain-text per-layer table in the layout of the paper's Table VI.

    Columns: layer, feature map (output H x W), kernel, N_in, N_out, GMACs. With `compare`,
    before/after columns for N_in, N_out (the number of kernels) and GMACs plus the per-layer
    ratio. Totals rows: the convolutions alone (Table VI's total) and, when the model also has
    linear layers, all layers; ratios are before / after. MACs are printed in G (three
    decimals, as in the paper) for models of a billion MACs or more, else in M.

    Args:
        report: the model to list ("before").
        compare: another report to set beside it ("after"), matched by layer name.
        title: a line printed above the table.

    Returns:
        The table, lines joined by newlines, without a trailing newline.
    """
    scale, unit = (1e9, "GMACs") if report.total >= 1e9 else (1e6, "MMACs")
    rows = macs_rows(report, compare)
    for r in rows:
        for key in ("gmacs", "gmacs_after"):
            if r.get(key) is not None:
                r[key] = r[key] * GIGA / scale

    def totals(label: str, before: int, after: int | None) -> list[str]:
        cells = [label, "", "", "", "", _cell(before / scale)]
        if compare is None:
            return cells
        ratio = _ratio(before, after)
        return [label, "", "", "", "", "", "", _cell(before / scale),
                _cell(after / scale if after is not None else None),
                f"{_cell(ratio)}x" if ratio is not None else "-"]  # fmt: skip

    if compare is None:
        header = ["Layer", "Feature map", "Kernel", "N_in", "N_out", unit]
        keys = ["layer", "feature_map", "kernel", "n_in", "n_out", "gmacs"]
    else:
        header = [
            "Layer", "Feature map", "Kernel", "N_in before", "N_in after",
            "N_out before", "N_out after", f"{unit} before", f"{unit} after", "Ratio",
        ]  # fmt: skip
        keys = [
            "layer", "feature_map", "kernel", "n_in", "n_in_after",
            "n_out", "n_out_after", "gmacs", "gmacs_after", "ratio",
        ]  # fmt: skip
    total_rows = [totals("Conv total", report.conv_total,
                         compare.conv_total if compare is not None else None)]  # fmt: skip
    if report.linear_total or (compare is not None and compare.linear_total):
        total_rows.append(
            totals("All layers", report.total, compare.total if compare is not None else None)
        )
    body = [[_cell(r[k]) for k in keys] for r in rows]
    if compare is not None:
        for cells in body:
            if cells[-1] != "-":
                cells[-1] += "x"
    text = _render(header, body, total_rows)
    return f"{title}\n{text}" if title else text

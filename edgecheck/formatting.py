"""How numbers read in every message, table and report: one place for the two styles."""

from __future__ import annotations


def significant(x: float) -> str:
    """Five significant digits (15.347, 0.23839), whole numbers with separators from 100 000
    on: claim values and thresholds."""
    if abs(x) >= 1e5:
        return f"{x:,.0f}"
    return f"{x:.5g}"


def with_unit(x: float | None, unit: str = "") -> str:
    """Six significant digits, whole numbers of 1 000 and more with separators, then the unit;
    ``-`` for None: baseline values (``1,936,392,192 MACs``, ``0.0123 s``)."""
    if x is None:
        return "-"
    text = f"{x:,.0f}" if float(x).is_integer() and abs(x) >= 1000 else f"{x:.6g}"
    return f"{text} {unit}".rstrip() if unit else text

"""Stability: did the clocks or temperatures move while a workload ran."""

# Python 3.6 compatibility: no `from __future__ import annotations`, no dataclasses, no walrus,
# no `capture_output=`/`text=` in subprocess, typing.List/Dict annotations.

from typing import Any, Dict, List, Optional, Sequence

from edgecheck.agent.board.common import FREQ_TOLERANCE, TEMP_LIMIT_C, TEMP_RISE_C


def compare_snapshots(
    before: Dict[str, Any],
    after: Dict[str, Any],
    cpus: Optional[Sequence[int]] = None,
    devfreq: bool = True,
    freq_tolerance: float = FREQ_TOLERANCE,
    temp_limit_c: float = TEMP_LIMIT_C,
    temp_rise_c: float = TEMP_RISE_C,
) -> List[str]:
    """Why a workload's timings are not comparable, from snapshots before and after it.

    A current frequency that moved by more than `freq_tolerance` (cpufreq of the workload's
    CPUs when `cpus` is given; devfreq, i.e. the GPU on a Jetson, when `devfreq`), a thermal
    zone that rose by more than `temp_rise_c`, or one that rose to above `temp_limit_c`
    (only when it rose: a TX2's PMIC-Die zone reads a constant 100 C). Empty: stable.
    """
    reasons = []  # type: List[str]
    names = None if cpus is None else {"cpu%d" % c for c in cpus}
    groups = [("cpufreq", "kHz")] + ([("devfreq", "Hz")] if devfreq else [])
    for group, unit in groups:
        for name, b in sorted((before.get(group) or {}).items()):
            if group == "cpufreq" and names is not None and name not in names:
                continue
            a = (after.get(group) or {}).get(name)
            if a is None:
                reasons.append("%s %s: no frequency after the run (taken offline?)" % (group, name))
                continue
            if b.get("cur") and abs(a["cur"] - b["cur"]) > freq_tolerance * b["cur"]:
                reasons.append(
                    "%s %s moved %d -> %d %s (%+.1f %%, limit %g %%)"
                    % (group, name, b["cur"], a["cur"], unit,
                       100.0 * (a["cur"] - b["cur"]) / b["cur"], 100 * freq_tolerance)
                )  # fmt: skip
    for name, a in sorted((after.get("temps") or {}).items()):
        b = (before.get("temps") or {}).get(name)
        if b is None:
            continue
        label = "%s (%s)" % (name, a.get("type")) if a.get("type") else name
        rise = a["celsius"] - b["celsius"]
        if rise > temp_rise_c:
            reasons.append(
                "%s rose %.1f -> %.1f C (by more than %g C)"
                % (label, b["celsius"], a["celsius"], temp_rise_c)
            )
        elif a["celsius"] > temp_limit_c and rise > 0:
            reasons.append(
                "%s rose to %.1f C, above the %g C limit" % (label, a["celsius"], temp_limit_c)
            )
    return reasons

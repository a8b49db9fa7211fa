"""The board: what it is (device tree, L4T, /proc/cpuinfo) and its clocks and temperatures."""

# Python 3.6 compatibility: no `from __future__ import annotations`, no dataclasses, no walrus,
# no `capture_output=`/`text=` in subprocess, typing.List/Dict annotations.

import contextlib
import glob
import os
import platform
import re
import shutil
from typing import Any, Dict, List, Optional, Sequence, Tuple

from edgecheck.agent.board.common import (
    ARM_CORE_NAMES,
    ARM_LTD,
    SOC_PROFILES,
    SPEED_ISA_FEATURES,
    Runner,
    Which,
    read_int,
    read_text,
    run_command,
    tail,
)


def parse_compatible(text: Optional[str]) -> Optional[str]:
    """The SoC ("tegra186", "tegra234", ...) in a device-tree ``compatible`` text, or None."""
    for entry in (text or "").split("\0"):
        match = re.match(r"^nvidia,(tegra\d+)$", entry.strip())
        if match:
            return match.group(1)
    return None


def parse_l4t(text: Optional[str]) -> Optional[str]:
    """The L4T release "32.7.1" from /etc/nv_tegra_release ("# R32 (release), REVISION: 7.1")."""
    match = re.search(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text or "")
    if not match:
        return None
    return "%s.%s" % (match.group(1), match.group(2).rstrip("."))


def parse_cpu_list(text: Optional[str]) -> Optional[List[int]]:
    """CPUs in the kernel's list format ("0-3,5" -> [0, 1, 2, 3, 5]); None for no text."""
    if text is None or not text.strip():
        return None
    cpus = []  # type: List[int]
    for part in text.strip().split(","):
        if "-" in part:
            low, high = part.split("-", 1)
            cpus.extend(range(int(low), int(high) + 1))
        else:
            cpus.append(int(part))
    return sorted(set(cpus))


def parse_cpuinfo(text: Optional[str]) -> Dict[str, Any]:
    """The CPU identity from /proc/cpuinfo.

    x86: ``vendor``, ``family``, ``model``, ``stepping`` and the kernel-selecting ISA flags
    every core has. ARM: ``clusters``, one per core type (implementer, part): its name where
    known, variant, revision and its CPUs, ARM's own cores first (on a TX2 the four
    Cortex-A57 before the two Denver 2).
    """
    blocks = []  # type: List[Dict[str, str]]
    for chunk in re.split(r"\n\s*\n", text or ""):
        block = {}
        for line in chunk.splitlines():
            if ":" in line:
                key, _, value = line.partition(":")
                block[key.strip()] = value.strip()
        if block:
            blocks.append(block)
    processors = [b for b in blocks if "processor" in b]
    if any("vendor_id" in b for b in processors):
        first = processors[0]
        common = None  # type: Optional[set]
        for b in processors:
            flags = set(b.get("flags", "").split())
            common = flags if common is None else common & flags
        isa = [f for f in SPEED_ISA_FEATURES["x86"] if f in (common or set())]
        return {
            "arch": "x86",
            "vendor": first.get("vendor_id"),
            "family": first.get("cpu family"),
            "model": first.get("model"),
            "stepping": first.get("stepping"),
            "name": first.get("model name"),
            "isa": isa,
        }
    arm = [b for b in processors if "CPU part" in b]
    if arm:
        clusters = {}  # type: Dict[Tuple[str, str], Dict[str, Any]]
        common = None
        for b in arm:
            key = (b.get("CPU implementer", "?").lower(), b["CPU part"].lower())
            cluster = clusters.setdefault(
                key,
                {
                    "implementer": key[0],
                    "part": key[1],
                    "name": ARM_CORE_NAMES.get(key),
                    "variant": b.get("CPU variant"),
                    "revision": b.get("CPU revision"),
                    "cpus": [],
                },
            )
            with contextlib.suppress(ValueError):
                cluster["cpus"].append(int(b["processor"]))
            feats = set(b.get("Features", "").split())
            common = feats if common is None else common & feats
        ordered = sorted(
            clusters.values(),
            key=lambda c: (c["implementer"] != ARM_LTD, -len(c["cpus"]), min(c["cpus"] or [0])),
        )
        return {
            "arch": "arm",
            "clusters": ordered,
            "isa": [f for f in SPEED_ISA_FEATURES["arm"] if f in (common or set())],
        }
    return {"arch": platform.machine() or None}


def parse_nvpmodel(text: Optional[str]) -> Optional[Dict[str, Any]]:
    """The power mode in ``nvpmodel -q`` output ("NV Power Mode: MAXN\\n0") as {"id", "name"}."""
    lines = [line.strip() for line in (text or "").splitlines()]
    for i, line in enumerate(lines):
        match = re.match(r"^NV Power Mode\s*:\s*(.+)$", line)
        if match:
            mode_id = None
            for later in lines[i + 1 :]:
                if re.match(r"^\d+$", later):
                    mode_id = int(later)
                    break
                if later:
                    break
            return {"id": mode_id, "name": match.group(1).strip()}
    return None


def snapshot(root: str = "/") -> Dict[str, Any]:
    """Current clocks and temperatures: cpufreq per CPU (kHz), devfreq per device (Hz, the GPU
    on a Jetson), thermal zones (degrees C)."""
    cpufreq = {}  # type: Dict[str, Dict[str, Optional[int]]]
    base = os.path.join(root, "sys/devices/system/cpu")
    for folder in sorted(glob.glob(os.path.join(base, "cpu[0-9]*"))):
        name = os.path.basename(folder)
        rel = "/sys/devices/system/cpu/%s/cpufreq/" % name
        cur = read_int(root, rel + "scaling_cur_freq")
        if cur is not None:
            cpufreq[name] = {"cur": cur, "max": read_int(root, rel + "scaling_max_freq")}
    devfreq = {}  # type: Dict[str, Dict[str, Optional[int]]]
    for folder in sorted(glob.glob(os.path.join(root, "sys/class/devfreq/*"))):
        name = os.path.basename(folder)
        rel = "/sys/class/devfreq/%s/" % name
        cur = read_int(root, rel + "cur_freq")
        if cur is not None:
            devfreq[name] = {"cur": cur, "max": read_int(root, rel + "max_freq")}
    temps = {}  # type: Dict[str, Dict[str, Any]]
    for folder in sorted(glob.glob(os.path.join(root, "sys/class/thermal/thermal_zone*"))):
        name = os.path.basename(folder)
        rel = "/sys/class/thermal/%s/" % name
        milli = read_int(root, rel + "temp")
        if milli is not None:
            kind = (read_text(root, rel + "type") or "").strip() or None
            temps[name] = {"type": kind, "celsius": milli / 1000.0}
    return {"cpufreq": cpufreq, "devfreq": devfreq, "temps": temps}


def probe_board(
    root: str = "/", run: Runner = run_command, which: Which = shutil.which
) -> Dict[str, Any]:
    """What this board is and what state it is in; every file read under `root`."""
    compatible = read_text(root, "/proc/device-tree/compatible")
    soc = parse_compatible(compatible)
    release = read_text(root, "/etc/nv_tegra_release")
    model = read_text(root, "/proc/device-tree/model")
    cpu = parse_cpuinfo(read_text(root, "/proc/cpuinfo"))
    online = parse_cpu_list(read_text(root, "/sys/devices/system/cpu/online"))
    if online is None and cpu.get("clusters"):
        online = sorted(c for cl in cpu["clusters"] for c in cl["cpus"])
    tools = {}  # type: Dict[str, Any]
    power_mode = None
    nvpmodel = which("nvpmodel")
    if nvpmodel:
        rc, out = run([nvpmodel, "-q"], 60)
        tools["nvpmodel -q"] = {"rc": rc, "output": tail(out)}
        power_mode = parse_nvpmodel(out) if rc == 0 else None
    jetson_clocks = which("jetson_clocks")
    if jetson_clocks:
        rc, out = run([jetson_clocks, "--show"], 60)
        tools["jetson_clocks --show"] = {"rc": rc, "output": tail(out)}
    snap = snapshot(root)
    return {
        "soc": soc,
        "profile_hint": SOC_PROFILES.get(soc or "", "cpu"),
        "compatible": [e for e in (compatible or "").split("\0") if e.strip()],
        "l4t": parse_l4t(release),
        "l4t_release": (release or "").splitlines()[0].strip() if release else None,
        "model": model.replace("\0", "").strip() if model else None,
        "machine": platform.machine(),
        "cpu": cpu,
        "online_cpus": online,
        "power_mode": power_mode,
        "clocks": {"cpufreq": snap["cpufreq"], "devfreq": snap["devfreq"]},
        "temps": snap["temps"],
        "tools": tools,
    }


def choose_cpus(
    cores: int, board: Dict[str, Any], allowed: Optional[Sequence[int]] = None
) -> Tuple[Optional[List[int]], Optional[str]]:
    """The CPUs to pin `cores` cores to, or (None, why not).

    ARM: the CPUs of one core type, never two (a TX2's Denver and A57 cores differ in speed),
    ARM's own cores preferred, then the larger cluster. x86 and others: the first online CPUs.
    `allowed` (this process's affinity) narrows the online CPUs.
    """
    online = board.get("online_cpus")
    if online is None:
        online = sorted(allowed) if allowed is not None else []
    usable = [c for c in online if allowed is None or c in set(allowed)]
    if len(usable) < cores:
        return None, "needs %d cores, %d online" % (cores, len(usable))
    clusters = (board.get("cpu") or {}).get("clusters")
    if not clusters:
        return usable[:cores], None
    for cluster in clusters:
        cpus = [c for c in cluster["cpus"] if c in usable]
        if len(cpus) >= cores:
            return sorted(cpus)[:cores], None
    sizes = ", ".join(
        "%s %s:%s: %d" % (c.get("name") or "cores", c["implementer"], c["part"],
                          len([x for x in c["cpus"] if x in usable]))
        for c in clusters
    )  # fmt: skip
    return None, "needs %d cores of one core type, online: %s (core types are never mixed)" % (
        cores,
        sizes,
    )

"""This machine's CPU as ``/proc/cpuinfo`` describes it (name, architecture, the ISA flags
every core has) and the cores this process may use (its affinity mask, capped by a cgroup CPU
quota). Every read goes through a ``root`` directory, so tests can fake a machine.
"""

from __future__ import annotations

import os
import platform
import re
from pathlib import Path

# Precision support from /proc/cpuinfo flags. The x86 names come from the "flags" line, the ARM
# names from the "Features" line (Linux hwcaps); the two sets never overlap, so one lookup serves
# both architectures.
CPU_FP16_FLAGS = {"x86": ("avx512_fp16",), "arm": ("asimdhp", "fphp")}
CPU_BF16_FLAGS = {"x86": ("avx512_bf16", "amx_bf16"), "arm": ("bf16",)}
CPU_INT8_DOT_FLAGS = {"x86": ("avx512_vnni", "avx_vnni", "amx_int8"), "arm": ("asimddp",)}

# ARM "CPU implementer" / "CPU part" codes -> core names. On arm64 Linux /proc/cpuinfo has no
# useful "model name" (at best "ARMv8 Processor rev 3 (v8l)"), so the parts are the only way to
# tell a TX2 (Denver 2 + Cortex-A57) from an Orin (Cortex-A78AE). Only well-known codes are listed.
_ARM_PARTS: dict[tuple[str, str], str] = {
    ("0x41", "0xd03"): "Cortex-A53",
    ("0x41", "0xd05"): "Cortex-A55",
    ("0x41", "0xd07"): "Cortex-A57",
    ("0x41", "0xd08"): "Cortex-A72",
    ("0x41", "0xd09"): "Cortex-A73",
    ("0x41", "0xd0b"): "Cortex-A76",
    ("0x41", "0xd0c"): "Neoverse-N1",
    ("0x41", "0xd40"): "Neoverse-V1",
    ("0x41", "0xd41"): "Cortex-A78",
    ("0x41", "0xd42"): "Cortex-A78AE",
    ("0x41", "0xd4f"): "Neoverse-V2",
    ("0x4e", "0x003"): "NVIDIA Denver 2",
    ("0x4e", "0x004"): "NVIDIA Carmel",
}
_GENERIC_ARM_NAME = re.compile(r"^ARMv\d", re.IGNORECASE)


def read_text(path: Path) -> str | None:
    """The file's text with NULs removed and whitespace stripped, or None if unreadable."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    # Device-tree strings end in a NUL byte; it must not leak into names and hashes.
    return data.decode("utf-8", errors="replace").replace("\x00", "").strip()


def cpuinfo_blocks(root: Path) -> list[dict[str, str]]:
    """/proc/cpuinfo as one dict per blank-line-separated block (one per processor, mostly)."""
    text = read_text(root / "proc/cpuinfo")
    if not text:
        return []
    blocks: list[dict[str, str]] = []
    for chunk in re.split(r"\n\s*\n", text):
        entries: dict[str, str] = {}
        for line in chunk.splitlines():
            key, sep, value = line.partition(":")
            if sep:
                entries[key.strip()] = value.strip()
        if entries:
            blocks.append(entries)
    return blocks


def cpu_flags(blocks: list[dict[str, str]]) -> frozenset[str]:
    # Intersect over processors: a feature counts only if every core the test may run on has it.
    sets = [frozenset(b.get("flags", b.get("Features", "")).split()) for b in blocks]
    sets = [s for s in sets if s]
    return frozenset.intersection(*sets) if sets else frozenset()


def cpu_arch(blocks: list[dict[str, str]]) -> str:
    if any("flags" in b for b in blocks):
        return "x86"
    if any("Features" in b for b in blocks):
        return "arm"
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64", "i386", "i686"):
        return "x86"
    if machine.startswith(("arm", "aarch64")):
        return "arm"
    return machine or "unknown"


def cpu_model(blocks: list[dict[str, str]]) -> str:
    names = [b["model name"] for b in blocks if b.get("model name")]
    if names and not _GENERIC_ARM_NAME.match(names[0]):
        return names[0]
    # ARM: name the core types in order of appearance, with counts ("NVIDIA Denver 2 x2 + ...").
    counts: dict[str, int] = {}
    for b in blocks:
        if "CPU part" in b:
            implementer = b.get("CPU implementer", "?").lower()
            part = b["CPU part"].lower()
            core = _ARM_PARTS.get((implementer, part), f"ARM implementer {implementer} part {part}")
            counts[core] = counts.get(core, 0) + 1
    if counts:
        return " + ".join(f"{core} x{n}" for core, n in counts.items())
    if names:
        return names[0]
    hardware = next((b["Hardware"] for b in blocks if b.get("Hardware")), None)
    return hardware or platform.processor() or platform.machine() or "unknown"


def usable_cores() -> list[int]:
    """CPU ids this process may run on (its affinity mask), sorted. How many of them can
    run at once is `usable_core_count` (a CPU quota can allow fewer)."""
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return list(range(os.cpu_count() or 1))


def usable_core_count(root: Path = Path("/")) -> int:
    """Cores this process can use at once: its affinity mask, capped by a cgroup v2 CPU quota.

    The one definition of "usable cores" (device detection, `bench.cores.choose_cores`, the tables). A
    container limited with ``--cpus`` keeps every core in its affinity mask but is throttled
    to the quota; a "4 cores" measurement there would time the throttling.

    Args:
        root: the filesystem root to read ``sys/fs/cgroup/cpu.max`` under (a fake tree in
            tests; the affinity mask is always this process's).
    """
    cores = len(usable_cores())
    try:
        quota = (root / "sys/fs/cgroup/cpu.max").read_text().strip()
    except OSError:
        return cores
    limit, _, period = quota.partition(" ")
    if limit.isdigit() and period.strip().isdigit() and int(period) > 0:
        cores = min(cores, max(1, int(limit) // int(period)))
    return cores

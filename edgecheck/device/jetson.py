"""A Jetson board: whether this machine is one (device-tree model or ``compatible`` strings,
``/etc/nv_tegra_release``), its SoC (which picks its profile), and its power state for the
fingerprint (``nvpmodel -q``, cpufreq clocks).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from edgecheck.device.cpuinfo import read_text
from edgecheck.identity import cpu_clock_state, parse_cpu_list, parse_nvpmodel

# Jetson SoCs by device-tree "compatible" string: (board family, profile or None for none of
# its own). TX1 and Nano share tegra210.
TEGRA_SOCS: dict[str, tuple[str, str | None]] = {
    "nvidia,tegra210": ("TX1/Nano", None),
    "nvidia,tegra186": ("TX2", "tx2"),
    "nvidia,tegra194": ("Xavier", None),
    "nvidia,tegra234": ("Orin", "orin"),
}
# The same SoCs by their integrated GPU's compute capability, where the device tree is unreadable.
_TEGRA_GPUS: dict[tuple[int, int], str] = {
    (5, 3): "nvidia,tegra210",
    (6, 2): "nvidia,tegra186",
    (7, 2): "nvidia,tegra194",
    (8, 7): "nvidia,tegra234",
}

CommandRunner = Callable[[list[str]], "str | None"]
"""Runs a command (argv) and returns its stdout, None when it fails; `run_command` by default,
a stub returning a recorded output in tests."""

# Where JetPack installs nvpmodel, relative to the root.
_NVPMODEL_PATHS = ("usr/sbin/nvpmodel", "usr/bin/nvpmodel", "sbin/nvpmodel")


def jetson_source(model: str, soc: str | None, soc_evidence: str, model_evidence: str) -> str:
    """The profile source of a Jetson: its board family and the evidence, and where it has no
    profile of its own, that it uses the cpu rules."""
    if soc is None:
        return (
            f"detected: Jetson with an unknown SoC ({model_evidence}): "
            "no profile of its own, using cpu rules"
        )
    family, profile = TEGRA_SOCS[soc]
    text = f"detected: Jetson {family} ({soc_evidence}; model: {model})"
    return text if profile else f"{text}: no profile of its own, using cpu rules"


def run_command(argv: list[str]) -> str | None:
    """`argv`'s stdout, or None when it cannot run, fails or takes over 10 s."""
    import subprocess  # inside: only a Jetson runs a command

    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def power_state(root: Path, runner: CommandRunner) -> dict[str, str]:
    """A Jetson's power state for the fingerprint (`edgecheck.identity.POWER_KEYS`).

    ``nvpmodel -q`` runs only when the binary exists under `root`; the clock state is read
    from cpufreq in sysfs (`edgecheck.identity.cpu_clock_state`, whose jetson_clocks is a
    heuristic: min clock = max clock on every online CPU).
    """
    binary = next((root / p for p in _NVPMODEL_PATHS if (root / p).is_file()), None)
    mode = parse_nvpmodel(runner([str(binary), "-q"])) if binary is not None else "unknown"
    cpu_dir = root / "sys/devices/system/cpu"
    online = read_text(cpu_dir / "online")
    numbers = parse_cpu_list(online) or sorted(
        int(p.name[3:]) for p in cpu_dir.glob("cpu[0-9]*") if p.name[3:].isdigit()
    )
    max_khz = {n: read_text(cpu_dir / f"cpu{n}/cpufreq/scaling_max_freq") for n in numbers}
    min_khz = {n: read_text(cpu_dir / f"cpu{n}/cpufreq/scaling_min_freq") for n in numbers}
    return {"power_mode": mode, **cpu_clock_state(online, max_khz, min_khz)}


def read_jetson(root: Path) -> tuple[str | None, str | None, str | None, tuple[str, ...]]:
    """(jetson_model, evidence that it is a Jetson, L4T release line, device-tree compatible
    strings), the first three None when this is not a Jetson."""
    model = read_text(root / "proc/device-tree/model")
    compatible = _compatible(root)
    release_text = read_text(root / "etc/nv_tegra_release")
    l4t = None
    if release_text is not None:
        first = release_text.splitlines()[0] if release_text else ""
        l4t = first.lstrip("#").strip() or "unknown"
    tegra = next((c for c in compatible if c.startswith("nvidia,tegra")), None)
    if model and ("jetson" in model.lower() or "nvidia" in model.lower()):
        return model, f"/proc/device-tree/model: {model}", l4t, compatible
    if tegra is not None:
        # Older L4T device trees name the carrier board ("quill") rather than "Jetson".
        return model or "unknown Jetson", f"/proc/device-tree/compatible: {tegra}", l4t, compatible
    if release_text is not None:
        return model or "unknown Jetson", f"/etc/nv_tegra_release: {l4t}", l4t, compatible
    return None, None, None, compatible


def _compatible(root: Path) -> tuple[str, ...]:
    """The device tree's compatible strings (NUL-separated in the file), () when unreadable."""
    try:
        data = (root / "proc/device-tree/compatible").read_bytes()
    except OSError:
        return ()
    text = data.decode("utf-8", errors="replace")
    return tuple(s.strip() for s in text.split("\x00") if s.strip())


def jetson_soc(
    compatible: tuple[str, ...], capability: tuple[int, int] | None, l4t: str | None
) -> tuple[str | None, str]:
    """A Jetson's SoC (a key of `TEGRA_SOCS`) and where it was read, or (None, "")."""
    for entry in compatible:
        if entry in TEGRA_SOCS:
            return entry, f"/proc/device-tree/compatible: {entry}"
    if compatible:
        # A readable device tree that names no known SoC: nothing else is trusted over it.
        return None, ""
    if capability is not None and capability in _TEGRA_GPUS:
        return _TEGRA_GPUS[capability], f"GPU compute capability {capability[0]}.{capability[1]}"
    if l4t is not None and re.match(r"R36\b", l4t):
        return "nvidia,tegra234", f"/etc/nv_tegra_release: {l4t.split(',')[0]} (Orin only)"
    return None, ""

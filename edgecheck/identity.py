"""Device identity: the fingerprint fields that decide how fast a model runs here.

A timing baseline is compared only on a machine with the same identity (and, beyond it, the
same calibration, `edgecheck.bench.calibration`). The identity must be neither too coarse nor
too fine:

* too coarse was the CPU's *name*: hypervisors mask it ("AMD EPYC"), so a Zen 2 and a Zen 4 VM
  looked alike and a 2x faster machine's fps were judged here as regressions. The identity
  therefore holds what the kernels are chosen by and run at: CPU vendor, family, model number
  and stepping (ARM: implementer, part and revision per core type), the ISA features that
  select kernels (AVX2 vs AVX-512 vs VNNI vs AMX; dot product, SVE, FP16 on ARM), usable
  cores, memory size, the runtimes' versions, the CUDA device and the Jetson release;
* too fine was the kernel build string: a routine kernel update turned every stored timing
  into "other device". The OS string, the Python patch version and the CPU's name are still
  recorded beside the identity (for people), but they are not part of it.

On a Jetson the power state is part of the identity too (`POWER_KEYS`): the nvpmodel mode, the
CPU clock cap, the online CPUs and whether jetson_clocks pinned the clocks. A TX2 in MAXN runs
two Denver cores beside the four A57s at 2.0 GHz; in MAXQ the Denvers are off and the A57s
capped at 1.2 GHz: timings of one are no baseline for the other. Elsewhere those keys are
``"none"`` and left out of the id (`identity_of`), so adding them changed no stored id of a
machine that is not a Jetson.

Everything here is pure: it works on /proc/cpuinfo already split into blocks (one dict per
processor) and on file text, so tests feed it the texts of machines they do not run on.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

# The ISA features that decide which kernels onnxruntime, oneDNN/MKL, XNNPACK and the Arm
# Compute Library pick (and so how fast a model runs), by /proc/cpuinfo name. x86: the vector
# width (avx2, avx512f), INT8 dot products (avx512_vnni, avx_vnni, amx_int8), BF16/FP16
# arithmetic (avx512_bf16, amx_bf16, avx512_fp16), the AMX tiles. ARM: dot products (asimddp,
# i8mm), half precision (fphp/asimdhp), bf16, the scalable vectors (sve, sve2).
SPEED_ISA_FEATURES: dict[str, tuple[str, ...]] = {
    "x86": (
        "avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16",
        "amx_tile", "amx_int8", "amx_bf16",
    ),
    "arm": ("asimddp", "i8mm", "fphp", "asimdhp", "bf16", "sve", "sve2"),
}  # fmt: skip

# The fingerprint keys hashed into the fingerprint id, in the order `edgecheck device` shows
# them. `l4t` is in because a JetPack upgrade changes CUDA/cuDNN/TensorRT together, and
# TensorRT from JetPack may not expose a version to importlib.metadata.
IDENTITY_KEYS: tuple[str, ...] = (
    "cpu_vendor",
    "cpu_family",
    "cpu_model_code",
    "cpu_stepping",
    "isa",
    "cores",
    "memory_gib",
    "machine",
    "torch",
    "onnxruntime",
    "tensorrt",
    "cuda_device",
    "cuda_capability",
    "jetson_model",
    "l4t",
    "power_mode",
    "cpu_max_khz",
    "cpus_online",
    "jetson_clocks",
)

# The Jetson power state; "none" off a Jetson, and then not hashed (see `identity_of`).
POWER_KEYS: tuple[str, ...] = ("power_mode", "cpu_max_khz", "cpus_online", "jetson_clocks")

# The device profiles (`edgecheck.device`): here, at the bottom, because every option parser
# offers them (the plugin's and the CLI's), and importing the probe for a list costs ~10 ms.
PROFILES: tuple[str, ...] = ("tx2", "orin", "gpu", "cpu")
JETSON_PROFILES: tuple[str, ...] = ("tx2", "orin")
"""The Jetson profiles: a test that needs ``tx2`` (the paper's board) runs on either."""

UNKNOWN = "unknown"
NONE = "none"


def identity_of(fingerprint: Mapping[str, str]) -> dict[str, str]:
    """The identity fields of a fingerprint table: every `IDENTITY_KEYS` entry (``"absent"``
    when the table lacks it), except the `POWER_KEYS` that are ``"none"`` or absent.

    Leaving those out keeps the id of a machine that is not a Jetson what it was before the
    power state entered the identity: its baselines stay its own.
    """
    out = {}
    for key in IDENTITY_KEYS:
        value = fingerprint.get(key, "absent")
        if key in POWER_KEYS and value in (NONE, "absent"):
            continue
        out[key] = value
    return out


def fingerprint_id_of(identity: Mapping[str, str]) -> str:
    """A short stable id (12 hex chars) of identity fields: equal ids, same kind of machine."""
    return hashlib.sha256(json.dumps(sorted(identity.items())).encode()).hexdigest()[:12]


def parse_nvpmodel(text: str | None) -> str:
    """``nvpmodel -q`` output -> ``"MAXN (mode 0)"``; ``"unknown"`` when it names no mode.

    The output is the mode's name on a ``NV Power Mode:`` line and its id on the next line that
    is a number (older L4T prints ``NVPM WARN`` lines around them)::

        NV Power Mode: MAXN
        0
    """
    lines = [line.strip() for line in (text or "").splitlines()]
    for i, line in enumerate(lines):
        key, sep, name = line.partition(":")
        if sep and key.strip() == "NV Power Mode" and name.strip():
            mode = next((x for x in lines[i + 1 :] if x.isdigit()), None)
            return f"{name.strip()} (mode {mode})" if mode is not None else name.strip()
    return UNKNOWN


def parse_cpu_list(text: str | None) -> list[int] | None:
    """A sysfs CPU list (``"0-5"``, ``"0,3-5"``) -> [0, 3, 4, 5]; None when unreadable."""
    if not text or not text.strip():
        return None
    cpus: list[int] = []
    try:
        for part in text.strip().split(","):
            first, _, last = part.partition("-")
            cpus.extend(range(int(first), int(last or first) + 1))
    except ValueError:
        return None
    return cpus


def cpu_clock_state(
    online_text: str | None, max_khz: Mapping[int, str | None], min_khz: Mapping[int, str | None]
) -> dict[str, str]:
    """``cpu_max_khz``, ``cpus_online`` and ``jetson_clocks`` from sysfs texts.

    Args:
        online_text: /sys/devices/system/cpu/online (``"0-5"``).
        max_khz, min_khz: per CPU number, its cpufreq ``scaling_max_freq`` /
            ``scaling_min_freq`` text (None when unreadable).

    ``cpu_max_khz`` is the highest clock cap of the online CPUs (an offline core's cap runs
    nothing). ``jetson_clocks`` is a heuristic, not a record of the command: ``"yes"`` when every
    online CPU's minimum clock equals its maximum (what ``jetson_clocks`` sets; the governor
    can then not lower the clock), ``"no"`` when one is lower, ``"unknown"`` without cpufreq.
    """
    online = parse_cpu_list(online_text)
    cpus = online if online is not None else sorted(max_khz)
    caps = [int(v) for c in cpus if (v := max_khz.get(c)) and v.strip().isdigit()]
    pinned: bool | None = None
    for c in cpus:
        high, low = max_khz.get(c), min_khz.get(c)
        if not (high and low and high.strip().isdigit() and low.strip().isdigit()):
            pinned = None
            break
        pinned = int(low) >= int(high) if pinned is None else pinned and int(low) >= int(high)
    return {
        "cpu_max_khz": str(max(caps)) if caps else UNKNOWN,
        "cpus_online": online_text.strip() if online is not None and online_text else UNKNOWN,
        "jetson_clocks": UNKNOWN if pinned is None else ("yes" if pinned else "no"),
    }


def cpu_identity(
    blocks: Sequence[Mapping[str, str]], flags: frozenset[str], arch: str
) -> dict[str, str]:
    """``cpu_vendor``, ``cpu_family``, ``cpu_model_code``, ``cpu_stepping`` and ``isa``.

    Args:
        blocks: /proc/cpuinfo, one mapping per blank-line-separated block.
        flags: the ISA flags every core has (the intersection over the processors).
        arch: ``"x86"``, ``"arm"`` or anything else (then only ``isa`` is filled in).

    x86 reads ``vendor_id``, ``cpu family``, ``model`` and ``stepping``. ARM lists each core
    type as ``implementer:part`` with its count (a TX2 is ``0x41:0xd07 x4, 0x4e:0x003 x2``),
    its revision as ``rVpR`` from ``CPU variant`` and ``CPU revision``, and the architecture
    (``CPU architecture``, e.g. 8) as the family.
    """
    isa = " ".join(f for f in SPEED_ISA_FEATURES.get(arch, ()) if f in flags) or "none"
    ident = {
        "cpu_vendor": UNKNOWN,
        "cpu_family": UNKNOWN,
        "cpu_model_code": UNKNOWN,
        "cpu_stepping": UNKNOWN,
        "isa": isa,
    }
    processors = [b for b in blocks if "processor" in b] or list(blocks)
    if arch == "x86" and processors:
        first = processors[0]
        ident["cpu_vendor"] = first.get("vendor_id", UNKNOWN)
        ident["cpu_family"] = first.get("cpu family", UNKNOWN)
        ident["cpu_model_code"] = first.get("model", UNKNOWN)
        ident["cpu_stepping"] = first.get("stepping", UNKNOWN)
    elif arch == "arm":
        types: dict[str, int] = {}
        revisions: dict[str, str] = {}
        for b in processors:
            if "CPU part" not in b:
                continue
            core = f"{b.get('CPU implementer', '?').lower()}:{b['CPU part'].lower()}"
            types[core] = types.get(core, 0) + 1
            revisions[core] = f"r{_int(b.get('CPU variant'))}p{_int(b.get('CPU revision'))}"
        if types:
            # Sorted, not in cpuinfo order: the order of the cores is not an identity.
            ident["cpu_vendor"] = ",".join(sorted({c.split(":")[0] for c in types}))
            ident["cpu_model_code"] = ", ".join(f"{c} x{types[c]}" for c in sorted(types))
            ident["cpu_stepping"] = ", ".join(f"{c} {revisions[c]}" for c in sorted(types))
        archs = {b["CPU architecture"] for b in processors if b.get("CPU architecture")}
        if archs:
            ident["cpu_family"] = ",".join(sorted(archs))
    return ident


def _int(text: str | None) -> str:
    """``"0x1"`` -> ``"1"``; the text itself when it is not a number, ``"?"`` when absent."""
    if text is None:
        return "?"
    try:
        return str(int(text, 0))
    except ValueError:
        return text


def memory_gib(meminfo_text: str | None) -> str:
    """MemTotal of /proc/meminfo rounded to whole GiB, as text; ``"unknown"`` without it.

    Rounded because MemTotal moves by megabytes with the kernel's own reservations (a kernel
    update must not change the identity), and whole GiB still tell an 8 GB board from a 4 GB one.
    """
    for line in (meminfo_text or "").splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "MemTotal":
            parts = value.split()
            if parts and parts[0].isdigit():
                return str(round(int(parts[0]) / 2**20))  # the value is in kB (KiB)
    return UNKNOWN


def is_old_identity(table: Mapping[str, str]) -> bool:
    """True for a fingerprint table written before the identity fields existed (schema 1)."""
    return not {"cpu_family", "isa"} <= set(table)


def identity_diff(stored: Mapping[str, str], here: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """The identity fields that differ, as ``(field, stored value, value here)``, in
    `IDENTITY_KEYS` order; a field a table lacks reads ``"absent"``."""
    out = []
    for key in IDENTITY_KEYS:
        old, new = stored.get(key, "absent"), here.get(key, "absent")
        if key in POWER_KEYS and {old, new} <= {NONE, "absent"}:
            continue  # a table from before the power state, of a machine without one
        if old != new:
            out.append((key, old, new))
    return out


def identity_differences(stored: Mapping[str, str], here: Mapping[str, str]) -> list[str]:
    """The identity fields that differ, as ``"cpu_family 23 vs 25"`` (stored value first)."""
    out = []
    for key, old, new in identity_diff(stored, here):
        both = f"{old!r} vs {new!r}" if " " in old + new else f"{old} vs {new}"
        out.append(f"{key} {both}")
    return out


# Fields that hold a version: "onnxruntime version differs" reads better than "onnxruntime
# differs". l4t is the Jetson's release, which carries CUDA, cuDNN and TensorRT with it.
_VERSION_KEYS = {"torch": "version", "onnxruntime": "version", "tensorrt": "version",
                 "l4t": "release"}  # fmt: skip


def describe_difference(key: str, stored: str, here: str) -> str:
    """One identity field that differs, for people: ``"onnxruntime version differs (1.31.0
    stored, 1.32.0 here)"``, ``"cpu_family differs (23 stored, 25 here)"``."""
    name = f"{key} {_VERSION_KEYS[key]}" if key in _VERSION_KEYS else key
    return f"{name} differs ({stored} stored, {here} here)"

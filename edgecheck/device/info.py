"""The device profiles, what this machine can do (`Capabilities`), and the `DeviceInfo` a run
is judged by: its profile and where it came from, its fingerprint and the fingerprint's id,
the reasons a test's needs are not met here, and the text ``edgecheck device`` shows.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from edgecheck._imports import install_hint, is_available
from edgecheck.device.cpuinfo import CPU_BF16_FLAGS, CPU_FP16_FLAGS, CPU_INT8_DOT_FLAGS
from edgecheck.device.cuda import (
    capability_text,
    gpu_has_bf16,
    gpu_has_fast_fp16,
    gpu_has_fast_int8,
)
from edgecheck.device.jetson import TEGRA_SOCS
from edgecheck.errors import ConfigError
from edgecheck.identity import JETSON_PROFILES, PROFILES, fingerprint_id_of, identity_of

# What each profile stands for, in the words a skip reason uses; "tx2" as a test's need.
_PROFILE_MEANING = {
    "tx2": "a Jetson TX2 or Orin board",
    "orin": "a Jetson Orin board",
    "gpu": "a CUDA GPU",
    "cpu": "any CPU",
}


@dataclass(frozen=True)
class Capabilities:
    """What this machine can do, as far as the suite's tests care.

    Attributes:
        cores: CPU cores this process may use (its CPU affinity, capped by a cgroup CPU quota).
        cpu_model: the CPU's name ("AMD EPYC", "NVIDIA Denver 2 x2 + Cortex-A57 x4", ...).
        cpu_arch: "x86", "arm", or ``platform.machine()`` for anything else.
        cpu_flags: the ISA extensions every core reports (/proc/cpuinfo "flags" or "Features").
        cuda: a CUDA GPU is usable from torch.
        cuda_device: its name, or None.
        cuda_capability: its compute capability (major, minor), or None.
        tensorrt, polygraphy, onnxruntime: the package can be imported (checked without importing).
        onnxruntime_providers: onnxruntime's available execution providers, () when absent.
        jetson_model: the Jetson board's device-tree model, or None when not a Jetson.
        jetson_soc: the Jetson's SoC as its device-tree compatible string (``"nvidia,tegra186"``),
            None when unknown or not a Jetson.
    """

    cores: int
    cpu_model: str
    cpu_arch: str
    cpu_flags: frozenset[str]
    cuda: bool
    cuda_device: str | None
    cuda_capability: tuple[int, int] | None
    tensorrt: bool
    polygraphy: bool
    onnxruntime: bool
    jetson_model: str | None
    jetson_soc: str | None = None

    @property
    def onnxruntime_providers(self) -> tuple[str, ...]:
        """onnxruntime's available execution providers, () when absent. Asked on first use
        only: importing onnxruntime (and numpy) costs about 0.1 s, which a pytest session
        that never shows or needs the providers should not pay."""
        return probe_onnxruntime_providers() if self.onnxruntime else ()

    @property
    def cpu_fp16(self) -> bool:
        """The CPU has native FP16 arithmetic (x86 avx512_fp16; ARM asimdhp/fphp)."""
        return bool(self._cpu_flags_in(CPU_FP16_FLAGS))

    @property
    def cpu_bf16(self) -> bool:
        """The CPU has native BF16 arithmetic (x86 avx512_bf16/amx_bf16; ARM bf16)."""
        return bool(self._cpu_flags_in(CPU_BF16_FLAGS))

    @property
    def cpu_int8_dot(self) -> bool:
        """The CPU has INT8 dot-product instructions (x86 VNNI/AMX-INT8; ARM asimddp)."""
        return bool(self._cpu_flags_in(CPU_INT8_DOT_FLAGS))

    @property
    def gpu_fp16(self) -> bool:
        """The CUDA GPU does FP16 at full rate (see `gpu_has_fast_fp16`)."""
        return self.cuda and gpu_has_fast_fp16(self.cuda_capability)

    @property
    def gpu_bf16(self) -> bool:
        """The CUDA GPU has native BF16 (see `gpu_has_bf16`)."""
        return self.cuda and gpu_has_bf16(self.cuda_capability)

    @property
    def gpu_int8(self) -> bool:
        """The CUDA GPU has fast INT8 via dp4a (see `gpu_has_fast_int8`)."""
        return self.cuda and gpu_has_fast_int8(self.cuda_capability)

    def _cpu_flags_in(self, table: dict[str, tuple[str, ...]]) -> tuple[str, ...]:
        """The flags of `table` (any architecture) that this CPU has, in the table's order."""
        return tuple(f for names in table.values() for f in names if f in self.cpu_flags)

    def _wanted_flags(self, table: dict[str, tuple[str, ...]]) -> str:
        """The flag names that would give a feature on this CPU's architecture, for messages."""
        names = table.get(self.cpu_arch) or tuple(f for v in table.values() for f in v)
        return "/".join(names)


def native_precisions(cap: Capabilities) -> dict[str, dict[str, bool]]:
    """Which of fp16/bf16/int8 run natively, on the CPU and on the CUDA GPU.

    Returns ``{"cpu": {"fp16": .., "bf16": .., "int8": ..}, "gpu": {...}}``; "int8" means a
    dot-product instruction (VNNI / asimddp on CPUs, dp4a on GPUs). All GPU entries are False
    without a CUDA GPU.
    """
    return {
        "cpu": {"fp16": cap.cpu_fp16, "bf16": cap.cpu_bf16, "int8": cap.cpu_int8_dot},
        "gpu": {"fp16": cap.gpu_fp16, "bf16": cap.gpu_bf16, "int8": cap.gpu_int8},
    }


# --------------------------------------------------------------------------- device info


@dataclass(frozen=True)
class DeviceInfo:
    """The device profile chosen for this run, what the machine can do, and its fingerprint.

    Attributes:
        profile: one of `PROFILES`.
        profile_source: where the profile came from: ``"--edgecheck-profile"`` (or the CLI
            flag), ``"EDGECHECK_PROFILE"``, or ``"detected: ..."`` with the evidence.
        capabilities: what the machine can do.
        fingerprint: what results and baselines record about the environment (all strings).
    """

    profile: str
    profile_source: str
    capabilities: Capabilities
    # A dict cannot be hashed; leaving it out of the hash keeps DeviceInfo usable as a key.
    fingerprint: dict[str, str] = field(hash=False)

    @property
    def detected_profile(self) -> str:
        """The profile detection gives for this machine, whatever was forced."""
        return profile_of(self.capabilities)

    @property
    def identity(self) -> dict[str, str]:
        """The fingerprint fields that decide speed (`edgecheck.identity.identity_of`: the
        Jetson power state only on a Jetson)."""
        return identity_of(self.fingerprint)

    @property
    def fingerprint_id(self) -> str:
        """A short stable id (12 hex chars) of the `identity`: equal ids, same kind of machine."""
        return fingerprint_id_of(self.identity)

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: profile, source, capabilities, fingerprint and its id.

        Only the precision-relevant CPU flags are listed (the full set is over a hundred names
        on x86 and would bloat every stored result).
        """
        cap = self.capabilities
        relevant = (CPU_FP16_FLAGS, CPU_BF16_FLAGS, CPU_INT8_DOT_FLAGS)
        return {
            "profile": self.profile,
            "profile_source": self.profile_source,
            "detected_profile": self.detected_profile,
            "capabilities": {
                "cores": cap.cores,
                "cpu_model": cap.cpu_model,
                "cpu_arch": cap.cpu_arch,
                "cpu_precision_flags": sorted({f for t in relevant for f in cap._cpu_flags_in(t)}),
                "cuda": cap.cuda,
                "cuda_device": cap.cuda_device,
                "cuda_capability": list(cap.cuda_capability) if cap.cuda_capability else None,
                "native": native_precisions(cap),
                "tensorrt": cap.tensorrt,
                "polygraphy": cap.polygraphy,
                "onnxruntime": cap.onnxruntime,
                "onnxruntime_providers": list(cap.onnxruntime_providers),
                "jetson_model": cap.jetson_model,
                "jetson_soc": cap.jetson_soc,
            },
            "fingerprint": dict(self.fingerprint),
            "identity": self.identity,
            "fingerprint_id": self.fingerprint_id,
        }

    def unmet(
        self,
        *,
        profile: str | Sequence[str] | None = None,
        cores: int | None = None,
        cuda: bool = False,
        tensorrt: bool = False,
        native_fp16: bool = False,
        int8_dot: bool = False,
    ) -> list[str]:
        """Why a test with these needs cannot run here: one sentence per unmet need, [] if none.

        Args:
            profile: the profile the test is written for. ``"cpu"`` is met everywhere (its
                checks are portable); ``"tx2"`` on any Jetson profile (`JETSON_PROFILES`: the
                claim's rule for that profile judges); ``"orin"`` and ``"gpu"`` need exactly
                that profile. Several profiles: met when any one is (a test marked ``tx2`` and
                ``gpu`` runs on a Jetson and on a discrete GPU).
            cores: the number of usable CPU cores the test needs.
            cuda: needs a CUDA GPU.
            tensorrt: needs TensorRT, Polygraphy (the suite drives TensorRT through it) and a
                CUDA GPU to run the engines on.
            native_fp16: needs native FP16 arithmetic on the CPU or the GPU.
            int8_dot: needs INT8 dot-product instructions on the CPU or the GPU (dp4a).

        Raises:
            ConfigError: `profile` is not one of `PROFILES`.
        """
        cap = self.capabilities
        reasons: list[str] = []
        if profile is not None:
            names = [profile] if isinstance(profile, str) else list(profile)
            wanted = [check_profile(p, "profile") for p in names]
            if wanted and not any(_profile_meets(self.profile, w) for w in wanted):
                if len(wanted) == 1:
                    needs = f"{wanted[0]} profile ({_PROFILE_MEANING[wanted[0]]})"
                else:
                    needs = " or ".join(f"{w} ({_PROFILE_MEANING[w]})" for w in wanted) + " profile"
                reasons.append(
                    f"needs the {needs}, this machine is {self.profile} ({self.profile_source})"
                )
        if cores is not None and cores > cap.cores:
            reasons.append(f"needs {cores} cores, this machine has {cap.cores}")
        if cuda and not cap.cuda:
            reasons.append("needs a CUDA GPU, none found" + _no_cuda_hint(cap))
        if tensorrt:
            reasons.extend(_tensorrt_reasons(cap, cuda_reported=cuda))
        if native_fp16 and not (cap.cpu_fp16 or cap.gpu_fp16):
            reasons.append(
                f"needs native FP16 arithmetic, this CPU ({cap.cpu_model}) has none "
                f"(no {cap._wanted_flags(CPU_FP16_FLAGS)}) and "
                + _gpu_lack(cap, "fast FP16 (needs compute capability 5.3, 6.0, 6.2 or 7.0+)")
            )
        if int8_dot and not (cap.cpu_int8_dot or cap.gpu_int8):
            reasons.append(
                f"needs INT8 dot-product instructions, this CPU ({cap.cpu_model}) has none "
                f"(no {cap._wanted_flags(CPU_INT8_DOT_FLAGS)}) and "
                + _gpu_lack(cap, "fast INT8 (dp4a needs compute capability 6.1 or 7.0+)")
            )
        return reasons


def _profile_meets(have: str, wanted: str) -> bool:
    """Whether a machine of profile `have` may run a test written for profile `wanted`."""
    if wanted == "cpu" or wanted == have:
        return True
    return wanted == "tx2" and have in JETSON_PROFILES


def _no_cuda_hint(cap: Capabilities) -> str:
    # The usual reason a Jetson has "no CUDA" is a CPU-only torch wheel from PyPI.
    if cap.jetson_model is not None:
        return " (this is a Jetson: is the installed torch a JetPack build with CUDA?)"
    return ""


def _gpu_lack(cap: Capabilities, what: str) -> str:
    """The GPU half of a precision reason: no GPU at all, or a GPU without the feature."""
    if not cap.cuda:
        return "there is no CUDA GPU"
    return f"the CUDA GPU ({cap.cuda_device}, {capability_text(cap.cuda_capability)}) has no {what}"


def _tensorrt_reasons(cap: Capabilities, *, cuda_reported: bool) -> list[str]:
    reasons = []
    if not cap.tensorrt:
        reasons.append(f"needs TensorRT, which is not installed; {install_hint('tensorrt')}")
    if not cap.polygraphy:
        reasons.append(
            "needs Polygraphy (the suite drives TensorRT through it), which is not installed; "
            f"{install_hint('polygraphy')}"
        )
    # Without a GPU TensorRT cannot build or run an engine; say so unless `cuda` already did.
    if not cap.cuda and not cuda_reported:
        reasons.append("needs a CUDA GPU for TensorRT, none found" + _no_cuda_hint(cap))
    return reasons


def check_profile(value: str, where: str) -> str:
    normalized = value.strip().lower()
    if normalized not in PROFILES:
        raise ConfigError(
            f"{where}={value!r} is not a device profile; use one of {', '.join(PROFILES)} "
            f"(or leave it out to detect the machine)."
        )
    return normalized


def profile_of(cap: Capabilities) -> str:
    if cap.jetson_model is not None:
        # From the SoC only; a Jetson without a profile of its own gets the portable cpu rules
        # (the module docstring says why not tx2, orin or gpu).
        return TEGRA_SOCS.get(cap.jetson_soc or "", ("", None))[1] or "cpu"
    return "gpu" if cap.cuda else "cpu"


@functools.lru_cache(maxsize=1)
def probe_onnxruntime_providers() -> tuple[str, ...]:
    if not is_available("onnxruntime"):
        return ()
    try:
        import onnxruntime  # inside and guarded: optional, and a broken build must not stop detection
    except Exception:
        return ()
    return tuple(onnxruntime.get_available_providers())


def _yes(flag: bool, detail: str = "") -> str:
    text = "yes" if flag else "no"
    return f"{text} ({detail})" if detail else text


def describe_device(info: DeviceInfo) -> str:
    """A readable multi-line description of `info`, for ``edgecheck device``."""
    cap = info.capabilities
    lines = [f"profile: {info.profile} ({info.profile_source})"]
    if info.profile != info.detected_profile:
        lines.append(f"  (detection alone would give: {info.detected_profile})")

    def cpu_line(label: str, table: dict[str, tuple[str, ...]]) -> str:
        have = cap._cpu_flags_in(table)
        detail = ", ".join(have) if have else f"no {cap._wanted_flags(table)}"
        return f"  {label}: {_yes(bool(have), detail)}"

    gpu = f"{cap.cuda_device}, {capability_text(cap.cuda_capability)}" if cap.cuda else ""
    lines += [
        "capabilities:",
        f"  cores: {cap.cores}",
        f"  cpu: {cap.cpu_model} ({cap.cpu_arch})",
        cpu_line("cpu fp16", CPU_FP16_FLAGS),
        cpu_line("cpu bf16", CPU_BF16_FLAGS),
        cpu_line("cpu int8 dot product", CPU_INT8_DOT_FLAGS),
        f"  cuda: {_yes(cap.cuda, gpu)}",
        f"  gpu fp16 (full rate): {_yes(cap.gpu_fp16)}",
        f"  gpu bf16: {_yes(cap.gpu_bf16)}",
        f"  gpu int8 (dp4a): {_yes(cap.gpu_int8)}",
        f"  tensorrt: {_yes(cap.tensorrt)}",
        f"  polygraphy: {_yes(cap.polygraphy)}",
        f"  onnxruntime: {_yes(cap.onnxruntime, ', '.join(cap.onnxruntime_providers))}",
        f"  jetson: {_yes(cap.jetson_model is not None, cap.jetson_model or '')}",
    ]
    if cap.jetson_model is not None:
        fp = info.fingerprint
        lines.append(
            f"  power mode: {fp.get('power_mode', 'unknown')}, CPU clock cap "
            f"{fp.get('cpu_max_khz', 'unknown')} kHz, CPUs online {fp.get('cpus_online', '?')}, "
            f"jetson_clocks: {fp.get('jetson_clocks', 'unknown')} (heuristic: min clock = max "
            "clock on every online CPU)"
        )
    lines.append("identity (what decides speed; hashed into the fingerprint id):")
    lines += [f"  {key}: {value}" for key, value in info.identity.items()]
    lines.append("also recorded (not part of the id):")
    lines += [
        f"  {key}: {value}" for key, value in info.fingerprint.items() if key not in info.identity
    ]
    lines.append(f"fingerprint id: {info.fingerprint_id}")
    return "\n".join(lines)

"""Which device profile this machine is, what it can do, and a fingerprint of its environment.

Four profiles (their rules: `edgecheck.claims`):

- ``tx2``: a Jetson TX2 (the paper's platform, SoC tegra186);
- ``orin``: a Jetson Orin (SoC tegra234), with rules carried over from the TX2's where they travel;
- ``gpu``: a machine with a discrete CUDA GPU (the paper's Titan XP in Fig. 4);
- ``cpu``: anything else.

A Jetson's profile comes from its SoC, never from the word "Jetson": the device tree's
``compatible`` strings (``/proc/device-tree/compatible``: ``nvidia,tegra186`` = TX2,
``nvidia,tegra194`` = Xavier, ``nvidia,tegra234`` = Orin); where the device tree cannot be read
(a container that masks /sys/firmware), the GPU's compute capability (6.2 TX2, 7.2 Xavier, 8.7
Orin) or an L4T R36 release (JetPack 6 runs on Orin only). A Jetson whose SoC is none of TX2
and Orin (a Xavier, a Nano, or a board whose device tree names "Jetson" and no known SoC) has no
profile of its own: it gets ``cpu``, whose rules are all portable (same-run references), and the
profile source says so ("Jetson Xavier (...): no profile of its own, using cpu rules"). Not
``tx2``: the paper's absolute numbers are a TX2's; not ``orin``: its rules assume Orin's GPU;
not ``gpu``: those rules are a discrete GPU's (Fig. 4's Titan XP).

As a test's requirement (the ``tx2`` marker, ``unmet(profile="tx2")``), ``tx2`` means "a Jetson
with a profile": it is met on ``orin`` too, and the claim's rule for the profile judges there.

The profile is chosen by, in order: an explicit argument (the pytest option ``--edgecheck-profile``
or the CLI's ``--profile``), the environment variable ``EDGECHECK_PROFILE``, detection.

Detection never imports tensorrt, polygraphy or cv2 (only `is_available`, which finds the module
without running it), so it is safe and fast on machines where those are broken or absent. Every
filesystem read goes through a ``root`` directory so tests can fake a Jetson under ``tmp_path``.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import json
import os
import platform
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from edgecheck import envvars
from edgecheck._imports import install_hint, is_available
from edgecheck.errors import ConfigError
from edgecheck.identity import (
    POWER_KEYS,
    cpu_clock_state,
    cpu_identity,
    identity_of,
    memory_gib,
    parse_cpu_list,
    parse_nvpmodel,
)

__all__ = [
    "PROFILES",
    "Capabilities",
    "CommandRunner",
    "CudaProbe",
    "CudaState",
    "DeviceInfo",
    "clear_device_cache",
    "describe_device",
    "detect_device",
    "gpu_has_bf16",
    "gpu_has_fast_fp16",
    "gpu_has_fast_int8",
    "native_precisions",
    "run_command",
    "torch_cuda_probe",
]

PROFILES: tuple[str, ...] = ("tx2", "orin", "gpu", "cpu")
JETSON_PROFILES: tuple[str, ...] = ("tx2", "orin")
"""The Jetson profiles: a test that needs ``tx2`` (the paper's board) runs on either."""

# What each profile stands for, in the words a skip reason uses; "tx2" as a test's need.
_PROFILE_MEANING = {
    "tx2": "a Jetson TX2 or Orin board",
    "orin": "a Jetson Orin board",
    "gpu": "a CUDA GPU",
    "cpu": "any CPU",
}

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

# Precision support from /proc/cpuinfo flags. The x86 names come from the "flags" line, the ARM
# names from the "Features" line (Linux hwcaps); the two sets never overlap, so one lookup serves
# both architectures.
_CPU_FP16_FLAGS = {"x86": ("avx512_fp16",), "arm": ("asimdhp", "fphp")}
_CPU_BF16_FLAGS = {"x86": ("avx512_bf16", "amx_bf16"), "arm": ("bf16",)}
_CPU_INT8_DOT_FLAGS = {"x86": ("avx512_vnni", "avx_vnni", "amx_int8"), "arm": ("asimddp",)}

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

# (module, distributions to ask importlib.metadata, first found wins). onnxruntime and tensorrt
# ship under several distribution names (GPU builds, CUDA-major-specific wheels).
_VERSIONED: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("torch", "torch", ("torch",)),
    ("onnxruntime", "onnxruntime", ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino")),
    ("tensorrt", "tensorrt", ("tensorrt", "tensorrt-cu12", "tensorrt-cu11", "tensorrt-cu13")),
    ("polygraphy", "polygraphy", ("polygraphy",)),
)

CudaState = tuple[bool, str | None, tuple[int, int] | None]
"""What a CUDA probe reports: (available, device name, compute capability)."""

CudaProbe = Callable[[], CudaState]
"""A function that reports the CUDA state; `torch_cuda_probe` by default, a stub in tests."""

CommandRunner = Callable[[list[str]], "str | None"]
"""Runs a command (argv) and returns its stdout, None when it fails; `run_command` by default,
a stub returning a recorded output in tests."""

# Where JetPack installs nvpmodel, relative to the root.
_NVPMODEL_PATHS = ("usr/sbin/nvpmodel", "usr/bin/nvpmodel", "sbin/nvpmodel")


# --------------------------------------------------------------------------- GPU precision rules


def gpu_has_fast_fp16(capability: tuple[int, int] | None) -> bool:
    """True when a GPU of this compute capability does FP16 arithmetic at full (2x FP32) rate.

    That is 5.3 (Tegra X1), 6.0 (P100), 6.2 (Tegra X2) and everything from 7.0 (Volta) on.
    Consumer Pascal (6.1, the paper's Titan XP) runs FP16 at 1/64 of the FP32 rate, so FP16
    there is storage only, never a speed-up.
    """
    if capability is None:
        return False
    return capability in ((5, 3), (6, 0), (6, 2)) or capability >= (7, 0)


def gpu_has_fast_int8(capability: tuple[int, int] | None) -> bool:
    """True when a GPU of this compute capability has fast INT8 (the dp4a instruction at full rate).

    That is 6.1 (consumer Pascal, the paper's Titan XP) and 7.0 or later. 6.2 (Tegra X2) is
    excluded although it is numerically above 6.1: cuDNN rejects INT8 there ("This GPU doesn't
    support DP4A") and TensorRT reports ``platform_has_fast_int8`` False on a TX2, which is why
    the paper measured INT8 on the Titan XP only.
    """
    if capability is None:
        return False
    return capability == (6, 1) or capability >= (7, 0)


def gpu_has_bf16(capability: tuple[int, int] | None) -> bool:
    """True when a GPU of this compute capability has native BF16 arithmetic (Ampere, 8.0, on)."""
    return capability is not None and capability >= (8, 0)


# --------------------------------------------------------------------------- capabilities


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
        return _onnxruntime_providers() if self.onnxruntime else ()

    @property
    def cpu_fp16(self) -> bool:
        """The CPU has native FP16 arithmetic (x86 avx512_fp16; ARM asimdhp/fphp)."""
        return bool(self._cpu_flags_in(_CPU_FP16_FLAGS))

    @property
    def cpu_bf16(self) -> bool:
        """The CPU has native BF16 arithmetic (x86 avx512_bf16/amx_bf16; ARM bf16)."""
        return bool(self._cpu_flags_in(_CPU_BF16_FLAGS))

    @property
    def cpu_int8_dot(self) -> bool:
        """The CPU has INT8 dot-product instructions (x86 VNNI/AMX-INT8; ARM asimddp)."""
        return bool(self._cpu_flags_in(_CPU_INT8_DOT_FLAGS))

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
        return _profile_of(self.capabilities)

    @property
    def identity(self) -> dict[str, str]:
        """The fingerprint fields that decide speed (`edgecheck.identity.identity_of`: the
        Jetson power state only on a Jetson)."""
        return identity_of(self.fingerprint)

    @property
    def fingerprint_id(self) -> str:
        """A short stable id (12 hex chars) of the `identity`: equal ids, same kind of machine."""
        parts = sorted(self.identity.items())
        return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:12]

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready summary: profile, source, capabilities, fingerprint and its id.

        Only the precision-relevant CPU flags are listed (the full set is over a hundred names
        on x86 and would bloat every stored result).
        """
        cap = self.capabilities
        relevant = (_CPU_FP16_FLAGS, _CPU_BF16_FLAGS, _CPU_INT8_DOT_FLAGS)
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
            wanted = [_check_profile(p, "profile") for p in names]
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
                f"(no {cap._wanted_flags(_CPU_FP16_FLAGS)}) and "
                + _gpu_lack(cap, "fast FP16 (needs compute capability 5.3, 6.0, 6.2 or 7.0+)")
            )
        if int8_dot and not (cap.cpu_int8_dot or cap.gpu_int8):
            reasons.append(
                f"needs INT8 dot-product instructions, this CPU ({cap.cpu_model}) has none "
                f"(no {cap._wanted_flags(_CPU_INT8_DOT_FLAGS)}) and "
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
    return (
        f"the CUDA GPU ({cap.cuda_device}, {_capability_text(cap.cuda_capability)}) has no {what}"
    )


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


def _capability_text(capability: tuple[int, int] | None) -> str:
    if capability is None:
        return "compute capability unknown"
    return f"compute capability {capability[0]}.{capability[1]}"


# --------------------------------------------------------------------------- detection


def torch_cuda_probe() -> CudaState:
    """Ask torch whether a CUDA GPU is usable; report device 0 (after CUDA_VISIBLE_DEVICES).

    Without torch (a JetPack 6 board running onnxruntime-gpu and TensorRT only, say) the CUDA
    driver is asked directly (`cuda_driver_probe`). Without the driver library torch cannot
    see a GPU either, so torch is not imported then (1.2 s of every CLI start saved)."""
    if not cuda_driver_present():
        return (False, None, None)
    try:
        import torch  # inside: keeps `import edgecheck.device` cheap
    except ImportError:
        return cuda_driver_probe()
    try:
        if not torch.cuda.is_available():
            return (False, None, None)
        name = torch.cuda.get_device_name(0)
        major, minor = torch.cuda.get_device_capability(0)
    except Exception:
        # A broken driver or a half-installed CUDA is "no usable GPU" for the suite: tests that
        # need one skip with a reason instead of the whole session erroring out here.
        return (False, None, None)
    return (True, str(name), (int(major), int(minor)))


# CUdevice_attribute values of the compute capability (cuda.h; stable since CUDA 5).
_CU_COMPUTE_MAJOR, _CU_COMPUTE_MINOR = 75, 76


def cuda_driver_present(library: str = "libcuda.so.1") -> bool:
    """Whether the CUDA driver library loads (any CUDA use, torch's included, needs it)."""
    import ctypes

    try:
        ctypes.CDLL(library)
    except OSError:
        return False
    return True


def cuda_driver_probe(library: str = "libcuda.so.1") -> CudaState:
    """Ask the CUDA driver library (ctypes, no torch) for device 0's name and capability.

    Any failure (no driver library, no device, an error code) is "no usable GPU"."""
    import ctypes

    try:
        cuda = ctypes.CDLL(library)
        count, device = ctypes.c_int(0), ctypes.c_int(0)
        if cuda.cuInit(0) != 0 or cuda.cuDeviceGetCount(ctypes.byref(count)) != 0:
            return (False, None, None)
        if count.value < 1 or cuda.cuDeviceGet(ctypes.byref(device), 0) != 0:
            return (False, None, None)
        name = ctypes.create_string_buffer(256)
        major, minor = ctypes.c_int(0), ctypes.c_int(0)
        if cuda.cuDeviceGetName(name, 256, device) != 0:
            return (False, None, None)
        for value, attribute in ((major, _CU_COMPUTE_MAJOR), (minor, _CU_COMPUTE_MINOR)):
            if cuda.cuDeviceGetAttribute(ctypes.byref(value), attribute, device) != 0:
                return (False, None, None)
    except (OSError, AttributeError):
        return (False, None, None)
    return (True, name.value.decode(errors="replace"), (major.value, minor.value))


def detect_device(
    profile: str | None = None,
    *,
    root: Path = Path("/"),
    cuda_probe: CudaProbe | None = None,
    profile_flag: str = "--edgecheck-profile",
    command_runner: CommandRunner | None = None,
) -> DeviceInfo:
    """Detect this machine and choose its profile.

    Args:
        profile: an explicit profile (from ``--edgecheck-profile`` or the CLI's ``--profile``);
            beats ``EDGECHECK_PROFILE``, which beats detection. Case-insensitive.
        root: the filesystem root to read /proc, /etc and /sys under (a fake tree in tests).
        cuda_probe: reports (available, name, capability); `torch_cuda_probe` by default.
        profile_flag: the option name recorded as `profile_source` for an explicit profile.
        command_runner: runs ``nvpmodel -q`` on a Jetson where the binary exists under `root`
            (`run_command` by default; tests return a recorded output).

    The machine probe (cpuinfo, CUDA, package versions, onnxruntime providers) is cached per
    (root, cuda_probe), so calling this once per pytest session or per test is cheap; the
    profile choice is redone on every call so a changed ``EDGECHECK_PROFILE`` takes effect.
    Use `clear_device_cache` to re-probe.

    Raises:
        ConfigError: `profile` or ``EDGECHECK_PROFILE`` is not one of `PROFILES`.
    """
    if profile is not None:
        chosen: str | None = _check_profile(profile, profile_flag)
        source = profile_flag
    else:
        chosen = envvars.get_choice(envvars.PROFILE, PROFILES)
        source = envvars.PROFILE
    probe = _probe(root, cuda_probe or torch_cuda_probe, command_runner or run_command)
    if chosen is None:
        chosen, source = _profile_of(probe.capabilities), probe.detected_source
    return DeviceInfo(
        profile=chosen,
        profile_source=source,
        capabilities=probe.capabilities,
        # A fresh dict per call: callers may mutate theirs without touching the cache.
        fingerprint=dict(probe.fingerprint),
    )


def clear_device_cache() -> None:
    """Forget cached probes, so the next `detect_device` looks at the machine again."""
    _probe.cache_clear()
    _onnxruntime_providers.cache_clear()


def _check_profile(value: str, where: str) -> str:
    normalized = value.strip().lower()
    if normalized not in PROFILES:
        raise ConfigError(
            f"{where}={value!r} is not a device profile; use one of {', '.join(PROFILES)} "
            f"(or leave it out to detect the machine)."
        )
    return normalized


def _profile_of(cap: Capabilities) -> str:
    if cap.jetson_model is not None:
        # From the SoC only; a Jetson without a profile of its own gets the portable cpu rules
        # (the module docstring says why not tx2, orin or gpu).
        return TEGRA_SOCS.get(cap.jetson_soc or "", ("", None))[1] or "cpu"
    return "gpu" if cap.cuda else "cpu"


def _jetson_source(model: str, soc: str | None, soc_evidence: str, model_evidence: str) -> str:
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


class _Probe(NamedTuple):
    capabilities: Capabilities
    fingerprint: tuple[tuple[str, str], ...]
    detected_source: str


def run_command(argv: list[str]) -> str | None:
    """`argv`'s stdout, or None when it cannot run, fails or takes over 10 s."""
    import subprocess  # inside: only a Jetson runs a command

    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout if done.returncode == 0 else None


def _power_state(root: Path, runner: CommandRunner) -> dict[str, str]:
    """A Jetson's power state for the fingerprint (`edgecheck.identity.POWER_KEYS`).

    ``nvpmodel -q`` runs only when the binary exists under `root`; the clock state is read
    from cpufreq in sysfs (`edgecheck.identity.cpu_clock_state`, whose jetson_clocks is a
    heuristic: min clock = max clock on every online CPU).
    """
    binary = next((root / p for p in _NVPMODEL_PATHS if (root / p).is_file()), None)
    mode = parse_nvpmodel(runner([str(binary), "-q"])) if binary is not None else "unknown"
    cpu_dir = root / "sys/devices/system/cpu"
    online = _read_text(cpu_dir / "online")
    numbers = parse_cpu_list(online) or sorted(
        int(p.name[3:]) for p in cpu_dir.glob("cpu[0-9]*") if p.name[3:].isdigit()
    )
    max_khz = {n: _read_text(cpu_dir / f"cpu{n}/cpufreq/scaling_max_freq") for n in numbers}
    min_khz = {n: _read_text(cpu_dir / f"cpu{n}/cpufreq/scaling_min_freq") for n in numbers}
    return {"power_mode": mode, **cpu_clock_state(online, max_khz, min_khz)}


@functools.lru_cache(maxsize=16)
def _probe(root: Path, cuda_probe: CudaProbe, runner: CommandRunner) -> _Probe:
    jetson_model, jetson_evidence, l4t, compatible = _jetson(root)
    blocks = _cpuinfo_blocks(root)
    cuda, cuda_device, cuda_capability = cuda_probe()
    capability = (
        (int(cuda_capability[0]), int(cuda_capability[1])) if cuda and cuda_capability else None
    )
    soc, soc_evidence = _jetson_soc(compatible, capability, l4t) if jetson_model else (None, "")
    cap = Capabilities(
        cores=usable_core_count(root),
        cpu_model=_cpu_model(blocks),
        cpu_arch=_cpu_arch(blocks),
        cpu_flags=_cpu_flags(blocks),
        cuda=bool(cuda),
        cuda_device=cuda_device if cuda else None,
        cuda_capability=capability,
        tensorrt=is_available("tensorrt"),
        polygraphy=is_available("polygraphy"),
        onnxruntime=is_available("onnxruntime"),
        jetson_model=jetson_model,
        jetson_soc=soc,
    )
    if jetson_model is not None and jetson_evidence is not None:
        detected = _jetson_source(jetson_model, soc, soc_evidence, jetson_evidence)
    elif cap.cuda:
        detected = (
            f"detected: CUDA GPU {cap.cuda_device} ({_capability_text(cap.cuda_capability)}), "
            "no Jetson"
        )
    else:
        detected = "detected: no Jetson, no CUDA"
    fingerprint: dict[str, str] = {
        "cpu_model": cap.cpu_model,
        **cpu_identity(blocks, cap.cpu_flags, cap.cpu_arch),
        "cores": str(cap.cores),
        "memory_gib": memory_gib(_read_text(root / "proc/meminfo")),
        "machine": platform.machine() or "unknown",
        "os": platform.platform(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }
    for key, module, dists in _VERSIONED:
        fingerprint[key] = _version(module, dists)
    fingerprint["cuda_device"] = cap.cuda_device or "none"
    fingerprint["cuda_capability"] = (
        ".".join(map(str, cap.cuda_capability)) if cap.cuda_capability else "none"
    )
    fingerprint["jetson_model"] = cap.jetson_model or "none"
    # Recorded, not hashed: the model and the L4T release already tell the boards apart.
    fingerprint["jetson_soc"] = (cap.jetson_soc or "unknown") if cap.jetson_model else "none"
    fingerprint["l4t"] = l4t or "none"
    # The power state decides a Jetson's speed as much as its model; "none" elsewhere (and
    # then not hashed, so no other machine's id changed when it entered the identity).
    if cap.jetson_model is not None:
        fingerprint.update(_power_state(root, runner))
    else:
        fingerprint.update(dict.fromkeys(POWER_KEYS, "none"))
    return _Probe(cap, tuple(fingerprint.items()), detected)


def _read_text(path: Path) -> str | None:
    """The file's text with NULs removed and whitespace stripped, or None if unreadable."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    # Device-tree strings end in a NUL byte; it must not leak into names and hashes.
    return data.decode("utf-8", errors="replace").replace("\x00", "").strip()


def _jetson(root: Path) -> tuple[str | None, str | None, str | None, tuple[str, ...]]:
    """(jetson_model, evidence that it is a Jetson, L4T release line, device-tree compatible
    strings), the first three None when this is not a Jetson."""
    model = _read_text(root / "proc/device-tree/model")
    compatible = _compatible(root)
    release_text = _read_text(root / "etc/nv_tegra_release")
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


def _jetson_soc(
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


def _cpuinfo_blocks(root: Path) -> list[dict[str, str]]:
    """/proc/cpuinfo as one dict per blank-line-separated block (one per processor, mostly)."""
    text = _read_text(root / "proc/cpuinfo")
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


def _cpu_flags(blocks: list[dict[str, str]]) -> frozenset[str]:
    # Intersect over processors: a feature counts only if every core the test may run on has it.
    sets = [frozenset(b.get("flags", b.get("Features", "")).split()) for b in blocks]
    sets = [s for s in sets if s]
    return frozenset.intersection(*sets) if sets else frozenset()


def _cpu_arch(blocks: list[dict[str, str]]) -> str:
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


def _cpu_model(blocks: list[dict[str, str]]) -> str:
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


@functools.lru_cache(maxsize=1)
def _onnxruntime_providers() -> tuple[str, ...]:
    if not is_available("onnxruntime"):
        return ()
    try:
        import onnxruntime  # inside and guarded: optional, and a broken build must not stop detection
    except Exception:
        return ()
    return tuple(onnxruntime.get_available_providers())


def _version(module: str, dists: tuple[str, ...]) -> str:
    """The installed version of `module` without importing it; "absent" when not installed."""
    from importlib import metadata  # inside: it costs more to import than the rest of this module

    for dist in dists:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    if not is_available(module):
        return "absent"
    # JetPack installs TensorRT's Python bindings from a .deb, often without dist metadata;
    # read a literal __version__ from the source instead of importing the module.
    try:
        spec = importlib.util.find_spec(module)
        origin = spec.origin if spec else None
        source = Path(origin).read_text(errors="replace") if origin else ""
    except (ImportError, ValueError, OSError):
        source = ""
    match = re.search(r"^__version__\s*=\s*['\"]([^'\"]+)['\"]", source, re.MULTILINE)
    return match.group(1) if match else "installed (version unknown)"


# --------------------------------------------------------------------------- text


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

    gpu = f"{cap.cuda_device}, {_capability_text(cap.cuda_capability)}" if cap.cuda else ""
    lines += [
        "capabilities:",
        f"  cores: {cap.cores}",
        f"  cpu: {cap.cpu_model} ({cap.cpu_arch})",
        cpu_line("cpu fp16", _CPU_FP16_FLAGS),
        cpu_line("cpu bf16", _CPU_BF16_FLAGS),
        cpu_line("cpu int8 dot product", _CPU_INT8_DOT_FLAGS),
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

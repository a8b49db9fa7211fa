"""`detect_device`: probe this machine once (cpuinfo, CUDA, a Jetson, package versions) and
choose its profile: an explicit argument, else ``EDGECHECK_PROFILE``, else detection.

Detection never imports tensorrt, polygraphy or cv2 (only `is_available`, which finds the module
without running it), so it is safe and fast on machines where those are broken or absent.
"""

from __future__ import annotations

import functools
import importlib.util
import platform
import re
from pathlib import Path
from typing import NamedTuple

from edgecheck import envvars
from edgecheck._imports import is_available
from edgecheck.device.cpuinfo import (
    cpu_arch,
    cpu_flags,
    cpu_model,
    cpuinfo_blocks,
    read_text,
    usable_core_count,
)
from edgecheck.device.cuda import CudaProbe, capability_text, torch_cuda_probe
from edgecheck.device.info import (
    PROFILES,
    Capabilities,
    DeviceInfo,
    check_profile,
    probe_onnxruntime_providers,
    profile_of,
)
from edgecheck.device.jetson import (
    CommandRunner,
    jetson_soc,
    jetson_source,
    power_state,
    read_jetson,
    run_command,
)
from edgecheck.identity import POWER_KEYS, cpu_identity, memory_gib

# (module, distributions to ask importlib.metadata, first found wins). onnxruntime and tensorrt
# ship under several distribution names (GPU builds, CUDA-major-specific wheels).
_VERSIONED: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("torch", "torch", ("torch",)),
    ("onnxruntime", "onnxruntime", ("onnxruntime", "onnxruntime-gpu", "onnxruntime-openvino")),
    ("tensorrt", "tensorrt", ("tensorrt", "tensorrt-cu12", "tensorrt-cu11", "tensorrt-cu13")),
    ("polygraphy", "polygraphy", ("polygraphy",)),
)


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
        chosen: str | None = check_profile(profile, profile_flag)
        source = profile_flag
    else:
        chosen = envvars.get_choice(envvars.PROFILE, PROFILES)
        source = envvars.PROFILE
    probe = _probe(root, cuda_probe or torch_cuda_probe, command_runner or run_command)
    if chosen is None:
        chosen, source = profile_of(probe.capabilities), probe.detected_source
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
    probe_onnxruntime_providers.cache_clear()


class _Probe(NamedTuple):
    capabilities: Capabilities
    fingerprint: tuple[tuple[str, str], ...]
    detected_source: str


@functools.lru_cache(maxsize=16)
def _probe(root: Path, cuda_probe: CudaProbe, runner: CommandRunner) -> _Probe:
    jetson_model, jetson_evidence, l4t, compatible = read_jetson(root)
    blocks = cpuinfo_blocks(root)
    cuda, cuda_device, cuda_capability = cuda_probe()
    capability = (
        (int(cuda_capability[0]), int(cuda_capability[1])) if cuda and cuda_capability else None
    )
    soc, soc_evidence = jetson_soc(compatible, capability, l4t) if jetson_model else (None, "")
    cap = Capabilities(
        cores=usable_core_count(root),
        cpu_model=cpu_model(blocks),
        cpu_arch=cpu_arch(blocks),
        cpu_flags=cpu_flags(blocks),
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
        detected = jetson_source(jetson_model, soc, soc_evidence, jetson_evidence)
    elif cap.cuda:
        detected = (
            f"detected: CUDA GPU {cap.cuda_device} ({capability_text(cap.cuda_capability)}), "
            "no Jetson"
        )
    else:
        detected = "detected: no Jetson, no CUDA"
    fingerprint: dict[str, str] = {
        "cpu_model": cap.cpu_model,
        **cpu_identity(blocks, cap.cpu_flags, cap.cpu_arch),
        "cores": str(cap.cores),
        "memory_gib": memory_gib(read_text(root / "proc/meminfo")),
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
        fingerprint.update(power_state(root, runner))
    else:
        fingerprint.update(dict.fromkeys(POWER_KEYS, "none"))
    return _Probe(cap, tuple(fingerprint.items()), detected)


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

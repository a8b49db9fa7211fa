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

The package, one module per part (everything public is importable from here):

- `cpuinfo`: this machine's CPU from ``/proc/cpuinfo`` (name, architecture, ISA flags) and
  the cores this process may use;
- `cuda`: the CUDA probe (torch, else the driver library through ctypes) and what a compute
  capability can do (FP16 at full rate, INT8 dp4a, BF16);
- `jetson`: a Jetson board, its SoC and its power state (``nvpmodel -q``, cpufreq);
- `info`: the profiles, `Capabilities` and `DeviceInfo` (the fingerprint and its id, a test's
  unmet needs), `describe_device`;
- `detect`: `detect_device`, the cached machine probe that builds a `DeviceInfo`.
"""

from __future__ import annotations

from edgecheck.device.cpuinfo import usable_core_count, usable_cores
from edgecheck.device.cuda import (
    CudaProbe,
    CudaState,
    cuda_driver_present,
    cuda_driver_probe,
    gpu_has_bf16,
    gpu_has_fast_fp16,
    gpu_has_fast_int8,
    torch_cuda_probe,
)
from edgecheck.device.detect import clear_device_cache, detect_device
from edgecheck.device.info import (
    JETSON_PROFILES,
    PROFILES,
    Capabilities,
    DeviceInfo,
    describe_device,
    native_precisions,
)
from edgecheck.device.jetson import TEGRA_SOCS, CommandRunner, run_command

__all__ = [
    "JETSON_PROFILES",
    "PROFILES",
    "TEGRA_SOCS",
    "Capabilities",
    "CommandRunner",
    "CudaProbe",
    "CudaState",
    "DeviceInfo",
    "clear_device_cache",
    "cuda_driver_present",
    "cuda_driver_probe",
    "describe_device",
    "detect_device",
    "gpu_has_bf16",
    "gpu_has_fast_fp16",
    "gpu_has_fast_int8",
    "native_precisions",
    "run_command",
    "torch_cuda_probe",
    "usable_core_count",
    "usable_cores",
]

"""CUDA GPUs: whether one is usable (asked of torch, else of the driver library through
ctypes, never importing torch where no driver library loads) and what a compute capability can
do (FP16 at full rate, fast INT8, BF16).
"""

from __future__ import annotations

from collections.abc import Callable

CudaState = tuple[bool, str | None, tuple[int, int] | None]
"""What a CUDA probe reports: (available, device name, compute capability)."""

CudaProbe = Callable[[], CudaState]
"""A function that reports the CUDA state; `torch_cuda_probe` by default, a stub in tests."""


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


def capability_text(capability: tuple[int, int] | None) -> str:
    if capability is None:
        return "compute capability unknown"
    return f"compute capability {capability[0]}.{capability[1]}"


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

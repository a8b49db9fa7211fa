"""CUDA detection without torch: the driver library asked through ctypes.

The success path runs against a stand-in ``libcuda`` compiled here from C (the five driver
entry points the probe calls, answering like a Jetson TX2's driver), so the ctypes calls,
argument types and decoding are exercised for real; it is skipped where no C compiler exists.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from edgecheck.device import cuda

FAKE_DRIVER = r"""
#include <string.h>
int cuInit(unsigned int flags) { return 0; }
int cuDeviceGetCount(int *count) { *count = 1; return 0; }
int cuDeviceGet(int *device, int ordinal) { *device = ordinal; return 0; }
int cuDeviceGetName(char *name, int len, int device) {
    strncpy(name, "NVIDIA Tegra X2", len); return 0;
}
int cuDeviceGetAttribute(int *value, int attribute, int device) {
    if (attribute == 75) { *value = 6; return 0; }
    if (attribute == 76) { *value = 2; return 0; }
    return 1;
}
"""

NO_DEVICE_DRIVER = r"""
int cuInit(unsigned int flags) { return 100; }  /* CUDA_ERROR_NO_DEVICE */
"""


def _compile(tmp_path, source: str, name: str):
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("needs a C compiler (cc or gcc) to build a stand-in CUDA driver library")
    c_file, library = tmp_path / f"{name}.c", tmp_path / f"{name}.so"
    c_file.write_text(source)
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(library), str(c_file)], check=True)
    return str(library)


def test_the_driver_probe_reads_name_and_capability(tmp_path):
    library = _compile(tmp_path, FAKE_DRIVER, "libcuda_tx2")
    assert cuda.cuda_driver_probe(library) == (True, "NVIDIA Tegra X2", (6, 2))


def test_a_driver_without_a_device_is_no_gpu(tmp_path):
    library = _compile(tmp_path, NO_DEVICE_DRIVER, "libcuda_none")
    assert cuda.cuda_driver_probe(library) == (False, None, None)


def test_no_driver_library_is_no_gpu():
    assert cuda.cuda_driver_probe("libcuda-that-does-not-exist.so.1") == (False, None, None)


def test_without_torch_the_driver_is_asked(monkeypatch):
    asked = []
    monkeypatch.setitem(sys.modules, "torch", None)  # import torch raises ImportError
    monkeypatch.setattr(cuda, "cuda_driver_present", lambda: True)
    monkeypatch.setattr(cuda, "cuda_driver_probe", lambda: asked.append(1) or (False, None, None))
    assert cuda.torch_cuda_probe() == (False, None, None) and asked == [1]


def test_the_driver_library_is_looked_for_before_torch(tmp_path, monkeypatch):
    library = _compile(tmp_path, NO_DEVICE_DRIVER, "libcuda_present")
    assert cuda.cuda_driver_present(library) is True
    assert cuda.cuda_driver_present("libcuda-that-does-not-exist.so.1") is False
    monkeypatch.setitem(sys.modules, "torch", None)  # torch must not even be tried
    monkeypatch.setattr(cuda, "cuda_driver_present", lambda: False)
    assert cuda.torch_cuda_probe() == (False, None, None)

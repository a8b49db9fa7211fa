"""The one lazy-import helper for heavy optional dependencies.

`import edgecheck` must stay fast and must work where tensorrt, polygraphy, cv2 or
onnxruntime are absent, so those are only imported inside the function that
needs them, through `require()`. Nothing is ever installed automatically.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from edgecheck.errors import MissingDependencyError

# edgecheck's own name on the package index. The name "edgecheck" there belongs to an unrelated
# project, so the distribution is "pytest-edgecheck" (pytest's naming for plugins); the import
# name, the `edgecheck` command and the pytest11 entry point keep the short name.
DISTRIBUTION = "pytest-edgecheck"


def extra_install(extra: str) -> str:
    """The pip command installing edgecheck with `extra`, e.g. ``pip install pytest-edgecheck[trt]``."""
    return f"pip install {DISTRIBUTION}[{extra}]"


# module name -> (pip distribution, extra of edgecheck that installs it)
_KNOWN: dict[str, tuple[str, str]] = {
    "onnx": ("onnx", "cpu"),
    "onnxruntime": ("onnxruntime", "cpu"),
    "onnxconverter_common": ("onnxconverter-common", "cpu"),
    "sklearn": ("scikit-learn", "cpu"),
    "scipy": ("scipy", "cpu"),
    "matplotlib": ("matplotlib", "cpu"),
    "polygraphy": ("polygraphy", "trt"),
    "tensorrt": ("tensorrt", "trt"),
    "cv2": ("opencv-python-headless<5", "video"),
    "hypothesis": ("hypothesis", "test"),
}


def install_hint(module: str) -> str:
    """How to install `module`, as one sentence."""
    dist, extra = _KNOWN.get(module, (module, ""))
    if module == "tensorrt":
        return (
            "install TensorRT for this device (JetPack ships it on Jetson; "
            "'pip install tensorrt' on x86 with CUDA), then '" + extra_install("trt") + "'"
        )
    if extra:
        return f"'{extra_install(extra)}' (or 'pip install {dist}')"
    return f"'pip install {dist}'"


def is_available(module: str) -> bool:
    """True when `module` can be imported, without importing it."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(module: str, purpose: str) -> ModuleType:
    """Import `module` or raise one clear line saying what is missing and how to get it.

    Args:
        module: the importable name, e.g. ``"onnxruntime"``.
        purpose: what it is needed for, e.g. ``"counting MACs of an ONNX file"``.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{purpose} needs the '{module}' package, which is not installed "
            f"({exc.__class__.__name__}: {exc}). Install it with {install_hint(module)}."
        ) from exc

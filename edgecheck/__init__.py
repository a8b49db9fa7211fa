"""edgecheck: a pytest-driven performance regression suite for deep learning on edge devices.

Importing this package is cheap: torch-based submodules (models, macs) and heavy optional
runtimes (tensorrt, polygraphy, cv2, onnxruntime) load only when used.
"""

from __future__ import annotations

__version__ = "0.1.0"

from edgecheck.errors import EdgecheckError

__all__ = ["EdgecheckError", "__version__"]

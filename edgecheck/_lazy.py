"""Package names that load their module on first use (PEP 562), written once.

`edgecheck.bench`, `.prune`, `.training` and `.pipeline` export names from submodules that
import torch, numpy or OpenCV; the CLI and the plugin import the packages without paying for
that, and worker processes import `edgecheck.bench` before they pin themselves to their cores.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for `package`, whose name ``N`` lives in the submodule
    ``exports[N]`` (``"timing"`` for ``edgecheck.bench.timing``)."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{module}"), name)

    def __dir__() -> list[str]:
        return sorted(exports)

    return __getattr__, __dir__

"""Fixtures shared by tests/unit and tests/accuracy, which tox runs in one session: what
several modules would otherwise build again, built once and only read afterwards."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def vgg16_graph_onnx(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """``vgg16_graph_onnx(plan=None)``: VGG16 (``plan=None`` the full one, ``"paper"`` Table
    VI's) exported graph-only (weights as shaped graph inputs: kilobytes), once per session.

    Each export takes about 3.6 s on the 2-core Xeon (VGG16's 138 M random weights, then a
    traced 224x224 pass); tests/unit/macs/test_macs_counter.py and tests/accuracy/test_macs.py
    count MACs on the same two files. The files are made read-only: a test that changes one
    fails instead of changing what the others count.
    """
    from edgecheck.export import export_onnx
    from edgecheck.models import VGG16_INPUT_SHAPE, build_model

    cache: dict[str | None, Path] = {}

    def get(plan: str | None = None) -> Path:
        if plan not in cache:
            options = {"plan": plan} if plan else {}
            folder = tmp_path_factory.mktemp("vgg16-graph")
            path = export_onnx(build_model("vgg16", **options), VGG16_INPUT_SHAPE,
                               folder / f"vgg16-{plan or 'full'}.onnx", export_params=False)  # fmt: skip
            path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
            cache[plan] = path
        return cache[plan]

    return get

"""Fixtures shared by tests/unit, tests/accuracy and tests/perf, which tox runs in one session:
what several modules would otherwise build again, built once and only read afterwards.

Checked and left per module (measured on the 2-core Xeon, imports warm): the FQA ONNX files of
`prepare_fqa` (FP32 0.04 s, INT8 0.14 s, cached per folder), `measure_table6` (0.04 s, meta
tensors), the VGG16 INT8 models of tests/perf/test_quantization_speed.py (one module).
"""

from __future__ import annotations

import stat
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from torch import nn

    from edgecheck.prune import PruneResult


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


def _fingerprint(model: nn.Module) -> tuple[object, ...]:
    """The modules' modes and hook counts, and each tensor's name, shape and the sum of every
    101st value (numpy's, in float64: the same on every call, whatever torch's thread count):
    what a test that trained, loaded, pruned, hooked or switched the model would change, in
    milliseconds."""
    modes = tuple((m.training, len(m._forward_hooks), len(m._forward_pre_hooks))
                  for m in model.modules())  # fmt: skip
    tensors = tuple(
        (k, tuple(v.shape), float(v.detach().reshape(-1)[::101].double().numpy().sum()))
        for k, v in model.state_dict().items()
    )
    return modes, tensors


@pytest.fixture(scope="session")
def vgg16() -> Iterator[nn.Module]:
    """``build_model("vgg16")``, once per session (about 1.2 s and 528 MB: 138 M random
    weights, seeded, the same every call). READ-ONLY: tests share the object, so a test must
    not train it, load a state into it, prune it in place or change its mode; copy it first
    (`copy.deepcopy`). The session's teardown fails if its tensors changed."""
    from edgecheck.models import build_model

    model = build_model("vgg16")
    before = _fingerprint(model)
    yield model
    assert _fingerprint(model) == before, "a test changed the shared VGG16 (tests/conftest.py)"


@pytest.fixture(scope="session")
def pruned_vgg16(vgg16: nn.Module) -> Iterator[tuple[nn.Module, PruneResult]]:
    """``(original, result)``: `vgg16` and He et al.'s pruning of it to Table VI's plan from
    four 64x64 synthetic images (`prune_model(vgg16, "paper", synthetic_images(4, (3, 64, 64),
    seed=1))`), once per session: 2-3 s on the quiet 2-core Xeon, 8-9 s when other jobs share
    it, which tests/accuracy/test_pruning.py (the MACs and outputs of the surgery's model) and
    tests/perf/test_pruning_speed.py (Table VII's timing) each paid before, with a VGG16 each.
    Kept channel counts do not depend on the images, so both get the model the paper's plan
    describes.

    READ-ONLY, both models (see `vgg16`): a test that needs to change one copies it. The
    session's teardown fails if the pruned model's tensors changed."""
    from edgecheck.prune import prune_model, synthetic_images

    result = prune_model(vgg16, "paper", synthetic_images(4, (3, 64, 64), seed=1))
    before = _fingerprint(result.model)
    yield vgg16, result
    assert _fingerprint(result.model) == before, (
        "a test changed the shared pruned VGG16 (tests/conftest.py)"
    )

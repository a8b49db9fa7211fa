"""The paper's models (FQA CNN of Table I, VGG16 of Table II) and the model registry.

Importing this package imports no torch: the registry lists names, shapes and descriptions
(what ``edgecheck models`` prints in 0.1 s instead of 1.3 s); the torch modules load when a
model is built or one of their names is first used (PEP 562).
"""

from __future__ import annotations

import importlib
from typing import Any

from edgecheck.models.plans import (
    NAMED_PLANS,
    VGG16_CONV_NAMES,
    VGG16_FULL_PLAN,
    VGG16_PAPER_PLAN,
    resolve_plan,
)
from edgecheck.models.registry import (
    ModelSpec,
    available_models,
    get_model_spec,
    register_model,
)
from edgecheck.models.shapes import FQA_INPUT_SHAPE, VGG16_INPUT_SHAPE

# The torch-side names, loaded on first use: name -> module.
_LAZY = {
    "FQACNN": "edgecheck.models.fqa",
    "fqa_cnn": "edgecheck.models.fqa",
    "VGG16": "edgecheck.models.vgg",
    "vgg16": "edgecheck.models.vgg",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _factory(name: str) -> Any:
    """`name`'s builder, importing its torch module only when a model is built."""

    def build(**options: Any) -> Any:
        return __getattr__(name)(**options)

    build.__name__ = build.__qualname__ = name
    return build


register_model(
    ModelSpec(
        name="fqa",
        factory=_factory("fqa_cnn"),
        input_shape=FQA_INPUT_SHAPE,
        description="face-quality CNN, 64x64x1 -> quality in (0, 1)",
        source="Qi & Liu, Table I",
    )
)
register_model(
    ModelSpec(
        name="vgg16",
        factory=_factory("vgg16"),
        input_shape=VGG16_INPUT_SHAPE,
        description="VGG16, 224x224x3 -> 1000 classes; plan='paper' gives Table VI's pruned widths",
        source="Qi & Liu, Table II and Table VI (Simonyan & Zisserman 2014)",
        options=("plan", "num_classes"),
    )
)


def build_model(name: str, **options: Any) -> Any:
    """Build the registered model `name` (see `ModelSpec.build`)."""
    return get_model_spec(name).build(**options)


__all__ = [
    "FQACNN",
    "FQA_INPUT_SHAPE",
    "NAMED_PLANS",
    "VGG16",
    "VGG16_CONV_NAMES",
    "VGG16_FULL_PLAN",
    "VGG16_INPUT_SHAPE",
    "VGG16_PAPER_PLAN",
    "ModelSpec",
    "available_models",
    "build_model",
    "fqa_cnn",
    "get_model_spec",
    "register_model",
    "resolve_plan",
    "vgg16",
]

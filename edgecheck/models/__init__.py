"""The paper's models (FQA CNN of Table I, VGG16 of Table II) and the model registry."""

from __future__ import annotations

from typing import Any

from edgecheck.models.fqa import FQA_INPUT_SHAPE, FQACNN, fqa_cnn
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
from edgecheck.models.vgg import VGG16, VGG16_INPUT_SHAPE, vgg16

register_model(
    ModelSpec(
        name="fqa",
        factory=fqa_cnn,
        input_shape=FQA_INPUT_SHAPE,
        description="face-quality CNN, 64x64x1 -> quality in (0, 1)",
        source="Qi & Liu, Table I",
    )
)
register_model(
    ModelSpec(
        name="vgg16",
        factory=vgg16,
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

"""Table VII: what He et al.'s reconstruction buys, against L1 magnitude pruning (measured).

VGG16 and the trained FQA CNN pruned both ways at the same kept counts; errors of the last
pruned layer's consumer and of the model output on held-out images.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from torch import nn

    from edgecheck.prune import MethodError

FQA_PLAN: Mapping[str, int] = {"conv1": 8, "conv2": 48}


@dataclass(frozen=True)
class SamplingSettings:
    """How many images pruning samples from, and at what size.

    Attributes:
        images: sampling images (synthetic, seeded).
        shape: their ``(C, H, W)``; smaller than the model's input is faster and changes
            neither the kept counts nor the MACs.
        samples_per_image: sampled positions per image and layer.
        eval_images: held-out images (another seed) for the error comparison.
        seed: seed of the sampling images (held-out images use ``seed + 1``).
    """

    images: int
    shape: tuple[int, int, int]
    samples_per_image: int
    eval_images: int = 16
    seed: int = 0

    @property
    def points(self) -> int:
        """Sampled points per layer (fewer where a map has fewer positions)."""
        return self.images * self.samples_per_image


# About 5,000 points per layer, more than the largest refit's 2,485 unknowns (conv4_3's
# consumer: 276 kept channels x 9 + 1), at 112x112 so that `edgecheck evaluate` stays
# within a few minutes; He et al. use 50,000 points at 224x224.
VGG16_QUICK = SamplingSettings(images=160, shape=(3, 112, 112), samples_per_image=32)
FQA_QUICK = SamplingSettings(images=256, shape=(1, 64, 64), samples_per_image=10, eval_images=64)


def reconstruction_errors(
    model: nn.Module,
    plan: Any,
    settings: SamplingSettings,
    *,
    images: torch.Tensor | None = None,
    eval_images: torch.Tensor | None = None,
) -> list[MethodError]:
    """He et al. (LASSO + least squares) vs L1 magnitude without reconstruction.

    Same kept counts; errors of the last pruned layer's consumers and of the model output on
    held-out images. Each `MethodError` carries its `PruneResult`.

    Args:
        model: the model to prune.
        plan: the pruning plan.
        settings: sampling sizes; synthetic images are drawn from them unless given.
        images: sampling images (default: `settings.images` synthetic ones).
        eval_images: held-out images (default: synthetic ones with another seed).
    """
    from edgecheck.prune import compare_methods, synthetic_images

    if images is None:
        images = synthetic_images(settings.images, settings.shape, seed=settings.seed)
    if eval_images is None:
        eval_images = synthetic_images(settings.eval_images, settings.shape, seed=settings.seed + 1)
    return compare_methods(
        model, plan, images, eval_images,
        samples_per_image=settings.samples_per_image, seed=settings.seed,
    )  # fmt: skip


@dataclass
class FQAComparison:
    """He et al. vs L1 on the FQA CNN, with the task's own metrics.

    Attributes:
        errors: one `MethodError` per variant.
        metrics: variant label (and ``"unpruned"``) -> Spearman and MAE of the predicted
            quality scores on the paper's 2573 test faces.
        source: which weights and images were used.
    """

    errors: list[MethodError]
    metrics: dict[str, dict[str, float]]
    source: str


def fqa_comparison(
    settings: SamplingSettings = FQA_QUICK, plan: Any = FQA_PLAN, *, metric_faces: int | None = None
) -> FQAComparison:
    """Prune the trained FQA CNN (shipped weights) from generated training-stream faces.

    Errors are measured on held-out faces of the paper's test split, and the pruned models'
    Spearman / MAE on the test faces (all 2573, or the first `metric_faces`). Without usable
    shipped weights (e.g. trained on another data version) this falls back to the random-init
    model and says so.
    """
    import torch

    from edgecheck.data import generate_faces, test_faces
    from edgecheck.errors import ModelError
    from edgecheck.training.fqa import evaluate_fqa
    from edgecheck.weights import load_trained_fqa

    faces = test_faces()
    if metric_faces is not None:
        faces = faces[:metric_faces]
    try:
        model = load_trained_fqa()
    except ModelError as exc:
        from edgecheck.models import build_model

        model = build_model("fqa")
        source = f"random-init FQA CNN (shipped weights unusable: {exc})"
    else:
        source = "trained FQA CNN (edgecheck/weights/fqa.pt)"
    # Sampling from the training stream, evaluation on the paper's test split: disjoint.
    sample = generate_faces(settings.images, stream="train", seed=settings.seed + 7)
    held_out = faces[: settings.eval_images]
    errors = reconstruction_errors(
        model, plan, settings,
        images=torch.from_numpy(sample.inputs()), eval_images=torch.from_numpy(held_out.inputs()),
    )  # fmt: skip
    metrics = {"unpruned": evaluate_fqa(model, faces)}
    for e in errors:
        assert e.result is not None
        metrics[e.label] = evaluate_fqa(e.result.model, faces)
    source += (
        f", {settings.images} generated training-stream faces x {settings.samples_per_image} points"
    )
    return FQAComparison(errors=errors, metrics=metrics, source=source)

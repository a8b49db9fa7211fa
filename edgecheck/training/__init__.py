"""Training of the models edgecheck ships: the FQA CNN on the generated face-quality data.

`train_fqa` trains (seeded, deterministic for a given thread count), `save_weights` writes the
weights and their provenance atomically, `evaluate_fqa` measures Spearman and MAE on the
paper's held-out test images. The shipped result loads with
`edgecheck.weights.load_trained_fqa`. ``edgecheck train fqa`` (`edgecheck.training.cli`) is
the command line.
"""

from __future__ import annotations

from edgecheck.training.fqa import (
    DEFAULT_EPOCHS,
    DEFAULT_IMAGES_PER_EPOCH,
    TrainResult,
    evaluate_fqa,
    predict_scores,
    save_weights,
    score_metrics,
    train_fqa,
)

__all__ = [
    "DEFAULT_EPOCHS",
    "DEFAULT_IMAGES_PER_EPOCH",
    "TrainResult",
    "evaluate_fqa",
    "predict_scores",
    "save_weights",
    "score_metrics",
    "train_fqa",
]

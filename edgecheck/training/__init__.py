"""Training of the models edgecheck ships: the FQA CNN on the generated face-quality data.

`train_fqa` trains (seeded, deterministic for a given thread count), `save_weights` writes the
weights and their provenance atomically, `evaluate_fqa` measures Spearman and MAE on the
paper's held-out test images. The shipped result loads with
`edgecheck.weights.load_trained_fqa`. ``edgecheck train fqa`` (`edgecheck.cli.train`) is
the command line.

The names below load on first use (PEP 562), so that `edgecheck train --help` and the other
command-line starts do not import numpy and the data generator.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgecheck._lazy import lazy_exports

if TYPE_CHECKING:
    from edgecheck.training.defaults import DEFAULT_EPOCHS, DEFAULT_IMAGES_PER_EPOCH
    from edgecheck.training.fqa import (
        TrainResult,
        evaluate_fqa,
        predict_scores,
        save_weights,
        score_metrics,
        train_fqa,
    )

_EXPORTS = {
    "DEFAULT_EPOCHS": "defaults",
    "DEFAULT_IMAGES_PER_EPOCH": "defaults",
    "TrainResult": "fqa",
    "evaluate_fqa": "fqa",
    "predict_scores": "fqa",
    "save_weights": "fqa",
    "score_metrics": "fqa",
    "train_fqa": "fqa",
}

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


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

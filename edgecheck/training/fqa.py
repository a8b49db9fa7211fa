"""Train the FQA CNN on the generated face-quality data, reproducibly, in minutes on a CPU.

Recipe (all fixed by `seed` and `DATA_VERSION`):

* model: ``build_model("fqa", seed=seed)`` (Table I), trained in channels-last memory layout,
  which makes oneDNN's convolutions about 10x faster on a CPU than the default layout;
* data: every epoch draws `images_per_epoch` fresh images from the ``"train"`` stream
  (``generate_faces(n, stream="train", seed=seed, start=epoch * n)``), so the model never sees
  an image twice and never sees an evaluation image (stream ``"paper"``);
* loss: mean squared error between the sigmoid output and the known score; Adam, learning
  rate `lr` with a cosine decay to 5 % over all steps; batches shuffled by a seeded generator;
* metrics on the paper's 2573 held-out test images: Spearman rank correlation
  (``scipy.stats.spearmanr``) and mean absolute error of the predicted score.

Same seed, same thread count, same library versions: the same weights bit for bit. A different
thread count changes the order of floating-point sums, so the weights differ in the last bits
and the metrics within noise (``edgecheck train fqa`` reproduces the shipped metrics that way).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgecheck._imports import require
from edgecheck.data import DATA_VERSION, FaceSet, generate_faces, test_faces
from edgecheck.errors import ConfigError
from edgecheck.training.defaults import DEFAULT_EPOCHS, DEFAULT_IMAGES_PER_EPOCH

if TYPE_CHECKING:
    from edgecheck.models.fqa import FQACNN

DEFAULT_BATCH_SIZE = 64
DEFAULT_LR = 2e-3
RECIPE = "fqa-mse-adam-cosine-v1"


@dataclass(frozen=True)
class TrainResult:
    """A trained FQA CNN and how it was made.

    Attributes:
        model: the trained model, in eval mode, contiguous (NCHW) layout.
        seed: the training seed (weights, data stream, batch order).
        epochs, images_per_epoch, batch_size, lr: the recipe's settings.
        threads: torch threads used.
        metrics: on the held-out test images: ``spearman``, ``mae``, ``n_test``.
        history: one dict per epoch: ``epoch``, ``loss`` (mean training MSE), ``seconds``.
        seconds: wall time of the whole training.
    """

    model: FQACNN
    seed: int
    epochs: int
    images_per_epoch: int
    batch_size: int
    lr: float
    threads: int
    metrics: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: float = 0.0

    def provenance(self) -> dict[str, Any]:
        """What a weights file records next to it (JSON-serialisable)."""
        import torch

        return {
            "model": "fqa",
            "recipe": RECIPE,
            "seed": self.seed,
            "data_version": DATA_VERSION,
            "epochs": self.epochs,
            "images_per_epoch": self.images_per_epoch,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "threads": self.threads,
            "metrics": dict(self.metrics),
            "history": list(self.history),
            "train_seconds": round(self.seconds, 1),
            "torch": torch.__version__.split("+")[0],
            "numpy": np.__version__,
        }


def predict_scores(model: Any, faces: FaceSet, *, batch_size: int = 256) -> np.ndarray:
    """The model's predicted scores for `faces` (float32, shape (N,)), in eval mode, no grad."""
    import torch

    inputs = faces.inputs()
    was_training = model.training
    model.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(inputs), batch_size):
            out.append(model(torch.from_numpy(inputs[i : i + batch_size])).reshape(-1).numpy())
    model.train(was_training)
    return np.concatenate(out) if out else np.zeros(0, dtype=np.float32)


def score_metrics(predicted: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    """Spearman rank correlation and mean absolute error of predicted vs true scores.

    Returns:
        ``{"spearman": rho, "mae": mean |predicted - truth|, "n_test": N}``.
    """
    stats = require("scipy", "Spearman correlation of FQA predictions").stats
    if len(predicted) != len(truth) or len(truth) < 3:
        raise ConfigError(f"need >= 3 matching predictions and scores, got {len(predicted)}.")
    rho = float(stats.spearmanr(predicted, truth).statistic)
    mae = float(np.mean(np.abs(predicted.astype(np.float64) - truth.astype(np.float64))))
    return {"spearman": rho, "mae": mae, "n_test": float(len(truth))}


def evaluate_fqa(model: Any, faces: FaceSet | None = None) -> dict[str, float]:
    """`score_metrics` of `model` on `faces` (default: the paper's 2573 test images)."""
    faces = faces if faces is not None else test_faces()
    return score_metrics(predict_scores(model, faces), faces.require_scores())


def train_fqa(
    seed: int = 0,
    epochs: int = DEFAULT_EPOCHS,
    *,
    images_per_epoch: int = DEFAULT_IMAGES_PER_EPOCH,
    batch_size: int = DEFAULT_BATCH_SIZE,
    lr: float = DEFAULT_LR,
    threads: int | None = None,
    progress: bool = False,
    evaluate: bool = True,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
) -> TrainResult:
    """Train the FQA CNN from scratch (see the module docstring for the recipe).

    Args:
        seed: seeds the initial weights, the training images and the batch order. Default 0.
        epochs: passes, each over `images_per_epoch` fresh images. Default 12 (the shipped
            weights; about 2 minutes on 2 idle cores, up to 8 on a busy shared machine).
        images_per_epoch: images generated per epoch. Default 4096.
        batch_size: images per optimizer step. Default 64.
        lr: peak Adam learning rate. Default 2e-3.
        threads: torch intra-op threads during training (restored afterwards); default: leave
            torch's setting as it is.
        progress: show a tqdm progress bar on stderr. Default False.
        evaluate: measure the held-out metrics at the end (needs scipy). Default True;
            without it `TrainResult.metrics` is empty.
        on_epoch: called after each epoch with that epoch's history entry.

    Returns:
        A `TrainResult` with the model in eval mode.
    """
    import torch
    import torch.nn.functional as F

    from edgecheck.models import build_model

    for name, value in (("epochs", epochs), ("images_per_epoch", images_per_epoch),
                        ("batch_size", batch_size)):  # fmt: skip
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"train_fqa: {name}={value!r} must be a positive integer.")
    if not (lr > 0 and math.isfinite(lr)):
        raise ConfigError(f"train_fqa: lr={lr!r} must be a positive number.")
    previous_threads = torch.get_num_threads()
    if threads is not None:
        if threads < 1:
            raise ConfigError(f"train_fqa: threads={threads!r} must be >= 1.")
        torch.set_num_threads(threads)
    start = time.perf_counter()
    try:
        model = build_model("fqa", seed=seed).train().to(memory_format=torch.channels_last)
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        steps_per_epoch = math.ceil(images_per_epoch / batch_size)
        total_steps = epochs * steps_per_epoch
        schedule = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * s / total_steps))
        )
        shuffle = torch.Generator().manual_seed(seed)
        history: list[dict[str, float]] = []
        bar = _progress_bar(total_steps, disable=not progress)
        for epoch in range(epochs):
            t_epoch = time.perf_counter()
            faces = generate_faces(
                images_per_epoch, stream="train", seed=seed, start=epoch * images_per_epoch
            )
            x_all = torch.from_numpy(faces.inputs())
            y_all = torch.from_numpy(faces.require_scores()).reshape(-1, 1)
            order = torch.randperm(images_per_epoch, generator=shuffle)
            total = 0.0
            for i in range(steps_per_epoch):
                idx = order[i * batch_size : (i + 1) * batch_size]
                x = x_all[idx].contiguous(memory_format=torch.channels_last)
                loss = F.mse_loss(model(x), y_all[idx])
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                schedule.step()
                total += loss.item() * len(idx)
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{loss.item():.4f}")
            entry = {
                "epoch": float(epoch + 1),
                "loss": total / images_per_epoch,
                "seconds": round(time.perf_counter() - t_epoch, 2),
            }
            history.append(entry)
            if on_epoch is not None:
                on_epoch(entry)
        bar.close()
        model = model.to(memory_format=torch.contiguous_format).eval()
        metrics = evaluate_fqa(model) if evaluate else {}
    finally:
        torch.set_num_threads(previous_threads)
    return TrainResult(
        model=model, seed=seed, epochs=epochs, images_per_epoch=images_per_epoch,
        batch_size=batch_size, lr=lr, threads=threads or previous_threads, metrics=metrics,
        history=history, seconds=time.perf_counter() - start,
    )  # fmt: skip


def _progress_bar(total: int, *, disable: bool) -> Any:
    import sys

    from tqdm import tqdm

    return tqdm(total=total, unit="step", desc="train fqa", disable=disable, file=sys.stderr)


def save_weights(result: TrainResult, path: str | os.PathLike[str]) -> tuple[Path, Path]:
    """Write the trained weights (``state_dict``) and their provenance JSON, each atomically.

    Args:
        result: from `train_fqa`.
        path: the weights file (``.pt``); the provenance goes next to it (``.json``).

    Returns:
        (weights path, provenance path).
    """
    import io
    import json

    import torch

    from edgecheck._atomic import write_atomic
    from edgecheck.weights import provenance_path

    buffer = io.BytesIO()
    state = {k: v.detach().contiguous() for k, v in result.model.state_dict().items()}
    torch.save(state, buffer)
    weights = write_atomic(path, buffer.getvalue())
    record = json.dumps(result.provenance(), indent=2, sort_keys=True) + "\n"
    return weights, write_atomic(provenance_path(weights), record)

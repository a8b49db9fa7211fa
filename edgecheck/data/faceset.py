"""`FaceSet`: grayscale face images with optional quality scores, as the FQA CNN takes them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from edgecheck.errors import EdgecheckError


class DataError(EdgecheckError, ValueError):
    """Images or scores that cannot be used as asked (missing folder, wrong size, bad score)."""


@dataclass(frozen=True)
class FaceSet:
    """Face images (uint8, ``(N, H, W)``), their quality scores and names.

    Attributes:
        images: uint8 array ``(N, H, W)``; 64x64 for the FQA CNN.
        scores: float32 ``(N,)`` in [0, 1], or ``None`` when the images carry no scores.
        names: one name per image (a file name, or ``<version>/<stream>/<seed>/<index>``).
        source: where the images come from, for messages and reports.
        params: the generator's `FaceParams` per image (generated sets only), else ``()``.
    """

    images: np.ndarray
    scores: np.ndarray | None
    names: tuple[str, ...]
    source: str
    params: tuple[Any, ...] = ()

    def __post_init__(self) -> None:
        if self.images.ndim != 3 or self.images.dtype != np.uint8:
            raise DataError(
                f"{self.source}: images must be a uint8 array (N, H, W), got "
                f"{self.images.dtype} {self.images.shape}."
            )
        n = len(self.images)
        if len(self.names) != n or (self.scores is not None and len(self.scores) != n):
            raise DataError(f"{self.source}: images, names and scores differ in length.")

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: slice) -> FaceSet:
        """A contiguous part of the set (``faces[:100]``)."""
        if not isinstance(index, slice):
            raise TypeError("index a FaceSet with a slice, e.g. faces[:100]")
        return FaceSet(
            images=self.images[index],
            scores=None if self.scores is None else self.scores[index],
            names=self.names[index],
            source=self.source,
            params=self.params[index] if self.params else (),
        )

    @property
    def image_shape(self) -> tuple[int, int]:
        """(H, W) of one image."""
        return (int(self.images.shape[1]), int(self.images.shape[2]))

    def inputs(self) -> np.ndarray:
        """The images as the model's input: float32 ``(N, 1, H, W)`` scaled to [0, 1]."""
        return (self.images.astype(np.float32) / np.float32(255.0))[:, None, :, :]

    def require_scores(self) -> np.ndarray:
        """The scores, or a `DataError` saying the set has none and how to add them."""
        if self.scores is None:
            raise DataError(
                f"{self.source} has no quality scores; add a scores.csv (columns file,score) "
                f"next to the images."
            )
        return self.scores

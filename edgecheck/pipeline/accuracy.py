"""The pipeline against a synthetic clip's ground truth: detection recall and best-frame rank.

- *recall*: the fraction of frames showing a face in which the pipeline reports a box with
  IoU >= 0.5 against the true box (a tracked or coasted box counts: it is what the FQA
  stage scored);
- *false frames*: frames with a reported box that matches no true face;
- *best-frame rank*: the pipeline's top-1 frame (highest FQA score over all tracks), ranked
  by ground-truth quality among the clip's face frames: 1 + the number of face frames of
  strictly higher true quality (ties share the better rank). The target: within the best 5 %
  (rank <= max(1, ceil(0.05 n))). A clip without faces must select nothing.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from edgecheck.pipeline.detect import iou

RECALL_TARGET = 0.95
IOU_MIN = 0.5
TOP_FRACTION = 0.05


@dataclass(frozen=True)
class ClipAccuracy:
    """Recall and best-frame numbers of one pipeline run on one clip (see the module docstring)."""

    face_frames: int
    detected: int
    false_frames: int
    best_frame: int | None
    best_quality: float | None
    best_rank: int | None
    top_allowed: int
    selected_any: bool

    @property
    def recall(self) -> float:
        return self.detected / self.face_frames if self.face_frames else 1.0

    @property
    def best_ok(self) -> bool:
        if self.face_frames == 0:
            return not self.selected_any
        return self.best_rank is not None and self.best_rank <= self.top_allowed

    @property
    def passed(self) -> bool:
        return self.recall >= RECALL_TARGET and self.best_ok

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "recall": round(self.recall, 4), "best_ok": self.best_ok}


def clip_accuracy(result: Any, truth: Any, *, iou_min: float = IOU_MIN) -> ClipAccuracy:
    """Compare a `PipelineResult` with the clip's `ClipTruth` (same frames, in order)."""
    frames = truth.frames[: result.frames]
    face_frames = [f for f in frames if f.face]
    detected = 0
    false_frames = 0
    for f, found in zip(frames, result.faces, strict=False):
        hits = [iou(face.box, f.box) >= iou_min for face in found] if f.face else []
        if f.face and any(hits):
            detected += 1
        if found and (not f.face or not all(hits)):
            false_frames += 1
    best = result.best
    rank = quality = None
    if best is not None and face_frames:
        t = frames[best.frame]
        match = t.face and iou(best.box, t.box) >= iou_min
        quality = t.quality if match else 0.0
        rank = 1 + sum(1 for f in face_frames if f.quality > quality)
    n = len(face_frames)
    return ClipAccuracy(
        face_frames=n, detected=detected, false_frames=false_frames,
        best_frame=None if best is None else best.frame, best_quality=quality, best_rank=rank,
        top_allowed=max(1, math.ceil(TOP_FRACTION * n)), selected_any=best is not None,
    )  # fmt: skip

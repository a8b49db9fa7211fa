"""The face-quality video pipeline of Table V: decode, detect, crop, FQA, best frames per face.

`run_pipeline(video, PipelineConfig(...))` -> `PipelineResult` (faces per frame, FQA scores,
the top-k frames per face track, end-to-end fps and a per-stage time breakdown);
`clip_accuracy(result, truth)` compares it with a synthetic clip's ground truth
(`edgecheck.data.video`); `measure_fps` repeats a run for fps statistics (`measure.py`).
Importing this package loads numpy only; cv2 and the runtimes load when a pipeline runs.
"""

from __future__ import annotations

from edgecheck.pipeline.accuracy import ClipAccuracy, clip_accuracy
from edgecheck.pipeline.run import PipelineConfig, PipelineResult, Selected, run_pipeline

__all__ = [
    "ClipAccuracy",
    "PipelineConfig",
    "PipelineResult",
    "Selected",
    "clip_accuracy",
    "run_pipeline",
]

"""The face-quality video pipeline of Table V: decode, detect, crop, FQA, best frames per face.

`run_pipeline(video, PipelineConfig(...))` -> `PipelineResult` (faces per frame, FQA scores,
the top-k frames per face track, end-to-end fps and a per-stage time breakdown);
`clip_accuracy(result, truth)` compares it with a synthetic clip's ground truth
(`edgecheck.data.video`); `measure_fps` repeats a run for fps statistics (`measure.py`).
The names below load on first use (PEP 562): importing this package (as `edgecheck pipeline
--help` does) loads neither numpy nor cv2 nor a runtime.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from edgecheck._lazy import lazy_exports

if TYPE_CHECKING:
    from edgecheck.pipeline.accuracy import ClipAccuracy, clip_accuracy
    from edgecheck.pipeline.run import PipelineConfig, PipelineResult, Selected, run_pipeline

_EXPORTS = {
    "ClipAccuracy": "accuracy",
    "clip_accuracy": "accuracy",
    "PipelineConfig": "run",
    "PipelineResult": "run",
    "Selected": "run",
    "run_pipeline": "run",
}

__all__ = [
    "ClipAccuracy",
    "PipelineConfig",
    "PipelineResult",
    "Selected",
    "clip_accuracy",
    "run_pipeline",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

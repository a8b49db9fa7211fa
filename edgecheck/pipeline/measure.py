"""Frames per second of the pipeline, with statistics: whole-clip wall time over repeated runs.

One sample is one complete pass over a clip (open, decode, detect, FQA, select), so the fps
includes decoding and every start-up cost a user sees per video except building the FQA
runner's session, which is done once. The first pass is a warm-up (file cache, cascade and
session caches) and is not counted. The median fps and its bootstrap interval come from the
harness's statistics (`edgecheck.bench.stats.SampleStats`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from edgecheck.pipeline.run import PipelineConfig, PipelineResult, run_pipeline


@dataclass(frozen=True)
class FpsMeasurement:
    """Repeated pipeline runs over one clip.

    Attributes:
        fps: end-to-end fps per counted run.
        last: the last run's `PipelineResult` (faces, selection, per-stage times).
        config: the `PipelineConfig`.
    """

    fps: tuple[float, ...]
    last: PipelineResult
    config: PipelineConfig

    @property
    def stats(self) -> Any:
        from edgecheck.bench.stats import SampleStats

        return SampleStats(self.fps)

    @property
    def median(self) -> float:
        return float(self.stats.median)

    def as_dict(self) -> dict[str, Any]:
        ci = self.stats.ci
        return {
            "fps_median": round(self.median, 2), "fps_ci": [round(ci.low, 2), round(ci.high, 2)],
            "fps": [round(v, 2) for v in self.fps], **self.last.summary(),
        }  # fmt: skip


def measure_fps(
    video: str | os.PathLike[str],
    config: PipelineConfig | None = None,
    *,
    model: str | os.PathLike[str],
    repeats: int = 3,
    warmup: int = 1,
) -> FpsMeasurement:
    """Run the pipeline ``warmup + repeats`` times over `video`; fps of the last `repeats`.

    Args:
        video: the clip.
        config: how to run (default `PipelineConfig()`).
        model: the FQA ONNX file (`edgecheck.pipeline.scoring.prepare_fqa`).
        repeats: counted runs (>= 1). Default 3.
        warmup: uncounted runs first. Default 1.
    """
    cfg = config or PipelineConfig()
    for _ in range(warmup):
        run_pipeline(video, cfg, model=model, keep_images=False)
    samples = []
    result = None
    for _ in range(max(1, repeats)):
        result = run_pipeline(video, cfg, model=model, keep_images=False)
        samples.append(result.fps)
    assert result is not None
    return FpsMeasurement(tuple(samples), result, cfg)

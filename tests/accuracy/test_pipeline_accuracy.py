"""The FQA video pipeline against the synthetic clips' ground truth, at the three resolutions.

Per scene and resolution (60-frame clips, 2 s at 30 fps): detection recall >= 95 % of the
frames with a face (IoU >= 0.5 with the true box), and the pipeline's best frame among the
5 % best frames by true quality; a clip with no face selects nothing. The same numbers are
in the report (`edgecheck evaluate --only pipeline`) and in ``benchmarks/pipeline.py``.
"""

from __future__ import annotations

import pytest

pytest.importorskip("cv2")
pytest.importorskip("onnxruntime")

from edgecheck.data.video import RESOLUTIONS, write_clip
from edgecheck.pipeline import PipelineConfig, clip_accuracy, run_pipeline
from edgecheck.pipeline.accuracy import RECALL_TARGET
from edgecheck.pipeline.scoring import prepare_fqa

pytestmark = pytest.mark.accuracy
FRAMES = 60


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fqa")
    return {p: prepare_fqa(folder, p) for p in ("fp32", "int8")}


@pytest.mark.cpu
@pytest.mark.parametrize("resolution", list(RESOLUTIONS))
@pytest.mark.parametrize("scene", ["walk", "approach"])
def test_recall_and_best_frame(tmp_path, models, scene, resolution):
    path = tmp_path / f"{scene}_{resolution}.mp4"
    truth = write_clip(path, scene, resolution, FRAMES)
    result = run_pipeline(path, PipelineConfig(), model=models["fp32"], keep_images=False)
    acc = clip_accuracy(result, truth)
    assert acc.recall >= RECALL_TARGET, acc.as_dict()
    assert acc.best_ok, acc.as_dict()
    assert acc.false_frames <= 0.05 * FRAMES, acc.as_dict()


@pytest.mark.cpu
def test_int8_picks_a_best_frame_too(tmp_path, models):
    path = tmp_path / "walk.mp4"
    truth = write_clip(path, "walk", "480p", FRAMES)
    config = PipelineConfig(precision="int8")
    acc = clip_accuracy(run_pipeline(path, config, model=models["int8"]), truth)
    assert acc.recall >= RECALL_TARGET and acc.best_ok, acc.as_dict()


@pytest.mark.cpu
def test_a_clip_without_faces_selects_nothing(tmp_path, models):
    path = tmp_path / "empty.mp4"
    truth = write_clip(path, "empty", "480p", 20)
    result = run_pipeline(path, model=models["fp32"])
    assert result.selected == {} and "no face found" in result.message
    assert clip_accuracy(result, truth).passed

"""The synthetic video clips, the video reader's errors, and the pipeline's parts (small clips)."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("cv2")
pytest.importorskip("onnxruntime")

import cv2

from edgecheck.cli import main
from edgecheck.data import DataError
from edgecheck.data.video import (
    HAAR_BOX,
    load_truth,
    open_video,
    synthetic_frames,
    truth_path,
    write_clip,
)
from edgecheck.errors import ConfigError
from edgecheck.pipeline import PipelineConfig, clip_accuracy, run_pipeline
from edgecheck.pipeline.detect import iou, load_cascade
from edgecheck.pipeline.run import _Selector, fqa_crop
from edgecheck.pipeline.scoring import prepare_fqa

SMALL = (320, 240)


@pytest.fixture(scope="module")
def fqa_model(tmp_path_factory):
    return prepare_fqa(tmp_path_factory.mktemp("fqa"), "fp32")


def test_frames_are_deterministic_and_independent_of_the_clip_length():
    a = [f for f, _ in synthetic_frames("walk", SMALL, 12, seed=3)]
    b = [f for f, _ in synthetic_frames("walk", SMALL, 12, seed=3)]
    c = [f for f, _ in synthetic_frames("walk", SMALL, 12, seed=4)]
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not all(np.array_equal(x, y) for x, y in zip(a, c, strict=True))


def test_the_quality_schedule_has_one_clean_segment_and_the_rest_clearly_below():
    q = np.array([t.quality for _, t in synthetic_frames("walk", SMALL, 120)])
    assert (q == 1.0).sum() >= 6 and q[q < 1.0].max() <= 0.85 and q.min() < 0.4


def test_the_truth_box_matches_the_cascade_on_clean_frames():
    """HAAR_BOX's calibration: the cascade's box on a clean face is the truth box."""
    cascade = load_cascade()
    checked = 0
    for gray, truth in synthetic_frames("walk", (640, 480), 120):
        if truth.quality < 1.0:
            continue
        boxes = cascade.detectMultiScale(gray, 1.05, 5)
        assert max(iou(tuple(b), truth.box) for b in boxes) >= 0.75
        checked += 1
    assert checked >= 6
    assert HAAR_BOX[2] == pytest.approx(0.55)


def test_the_approach_scene_starts_without_a_face_and_empty_has_none():
    approach = [t.face for _, t in synthetic_frames("approach", SMALL, 30)]
    assert not approach[0] and approach[-1]
    assert not any(t.face for _, t in synthetic_frames("empty", SMALL, 5))


def test_write_clip_writes_the_video_and_its_truth(tmp_path):
    path = tmp_path / "clip.mp4"
    truth = write_clip(path, "walk", SMALL, 8)
    assert load_truth(path) == truth and truth_path(path).is_file()
    cap, info = open_video(path)
    cap.release()
    assert (info.width, info.height, info.frames) == (*SMALL, 8)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "clip.mp4.truth.json"]


def test_write_clip_mjpg(tmp_path):
    write_clip(tmp_path / "clip.avi", "walk", SMALL, 3, codec="MJPG")
    assert open_video(tmp_path / "clip.avi")[1].width == SMALL[0]


@pytest.mark.parametrize(
    "kwargs", [{"scene": "beach"}, {"resolution": "4k"}, {"frames": 0}, {"codec": "avc1"}]
)
def test_bad_clip_settings_are_config_errors(tmp_path, kwargs):
    with pytest.raises(ConfigError):
        write_clip(tmp_path / "x.mp4", **{"resolution": SMALL, **kwargs})
    assert not (tmp_path / "x.mp4").exists()


def test_a_missing_video_is_an_error_naming_it(tmp_path, fqa_model):
    with pytest.raises(DataError, match=r"nothere\.mp4: no such video file"):
        run_pipeline(tmp_path / "nothere.mp4", model=fqa_model)


def test_a_corrupt_video_is_an_error_naming_it(tmp_path, fqa_model):
    bad = tmp_path / "corrupt.mp4"
    bad.write_bytes(np.random.default_rng(0).integers(0, 256, 20_000, dtype=np.uint8).tobytes())
    with pytest.raises(DataError, match=r"corrupt\.mp4: not a video OpenCV can read"):
        run_pipeline(bad, model=fqa_model)


def test_a_video_of_zero_frames_is_an_error_naming_it(tmp_path, fqa_model):
    empty = tmp_path / "zero.mp4"
    writer = cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"mp4v"), 30, SMALL, True)
    writer.release()
    with pytest.raises(DataError, match=r"zero\.mp4: (the video has no frames|not a video)"):
        run_pipeline(empty, model=fqa_model)


def test_a_video_without_faces_selects_nothing(tmp_path, fqa_model):
    path = tmp_path / "empty.mp4"
    truth = write_clip(path, "empty", SMALL, 10)
    result = run_pipeline(path, model=fqa_model)
    assert result.frames == 10 and result.selected == {} and result.best is None
    assert "no face found in 10 frames" in result.message
    acc = clip_accuracy(result, truth)
    assert acc.face_frames == 0 and acc.best_ok and acc.passed


def test_naive_and_tracking_find_the_face_and_time_every_stage(tmp_path, fqa_model):
    path = tmp_path / "walk.mp4"
    truth = write_clip(path, "walk", (640, 480), 36)
    for config in (PipelineConfig(), PipelineConfig(finder="naive", concurrent=False)):
        result = run_pipeline(path, config, model=fqa_model)
        assert result.frames == 36 and result.fps > 0
        assert clip_accuracy(result, truth).recall >= 0.9
        ms = result.ms_per_frame()
        assert ms["decode"] > 0 and ms["detect"] > 0 and ms["fqa"] > 0
        best = result.best
        assert best is not None and best.image is not None and best.image.shape == (480, 640, 3)
        assert all(not np.isnan(s) for scores in result.scores for s in scores)


def test_fqa_crop_is_64x64_also_at_the_frame_edge():
    gray = np.arange(240 * 320, dtype=np.uint32).reshape(240, 320).astype(np.uint8)
    for box in [(100, 80, 60, 60), (0, 0, 80, 80), (290, 200, 40, 40)]:
        assert fqa_crop(gray, box, cv2).shape == (64, 64)


def test_selector_keeps_the_top_k_best_first_earlier_frame_on_ties():
    sel = _Selector(2)
    for frame, score in enumerate([0.1, 0.9, 0.5, 0.9, 0.3]):
        sel.offer(0, score, frame, (0, 0, 1, 1), None)
    assert [(s.frame, s.score) for s in sel.result()[0]] == [(1, 0.9), (3, 0.9)]


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 5, 5)) == 0.0
    assert iou((0, 0, 10, 10), (5, 0, 10, 10)) == pytest.approx(50 / 150)


def test_cli_pipeline_writes_the_chosen_frames(tmp_path, capsys):
    path = tmp_path / "walk.mp4"
    write_clip(path, "walk", SMALL, 20)
    out = tmp_path / "best"
    assert main(["pipeline", str(path), "--top-k", "2", "--out", str(out), "--no-progress"]) == 0
    text = capsys.readouterr().out
    assert "fps end to end" in text and "decode" in text and "fqa" in text
    summary = json.loads((out / "selection.json").read_text())
    assert summary["frames"] == 20 and summary["selected"]
    assert len(list(out.glob("track*_rank1_frame*_face64.png"))) >= 1


def test_cli_pipeline_errors_name_the_file(tmp_path, capsys):
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    assert main(["pipeline", str(bad), "--no-progress", "--out", str(tmp_path / "o")]) == 2
    assert "bad.mp4: not a video OpenCV can read" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_cli_demo_writes_the_synthetic_clip_then_runs_and_never_overwrites(
    tmp_path, capsys, monkeypatch
):
    from edgecheck.cli import pipeline as pipeline_cli

    monkeypatch.setattr(pipeline_cli, "DEMO_FRAMES", 20)
    video, out = tmp_path / "demo.mp4", tmp_path / "best"
    argv = ["pipeline", str(video), "--demo", "walk:480p", "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    assert "wrote the synthetic walk clip at 480p (20 frames)" in capsys.readouterr().out
    assert video.exists() and (tmp_path / "demo.mp4.truth.json").exists()
    before = video.read_bytes()
    assert main(argv) == 2
    assert "demo.mp4: exists; --demo writes a new clip there" in capsys.readouterr().err
    assert video.read_bytes() == before
    with pytest.raises(SystemExit):
        main(["pipeline", str(tmp_path / "x.mp4"), "--demo", "walk:4k"])
    assert "expected SCENE:RES" in capsys.readouterr().err


def test_the_report_section_says_what_is_missing_without_opencv(
    monkeypatch, edgecheck_claims, edgecheck_device
):
    import edgecheck._imports
    from edgecheck.evaluation import pipeline as section_module

    real = edgecheck._imports.is_available
    monkeypatch.setattr(edgecheck._imports, "is_available", lambda m: m != "cv2" and real(m))
    section = section_module.section(edgecheck_claims, edgecheck_device)
    assert "not installed" in section.body and "pytest-edgecheck[video]" in section.body
    assert {r.verdict for r in section.results} == {"not run here"}


def _row(resolution, precision, fps):
    from edgecheck.evaluation.pipeline import Table5Row

    return Table5Row(resolution, precision, "tensorrt", fps, (fps, fps), {}, 1.0, 1, 5, 9, 90)


@pytest.mark.parametrize(("fps16", "verdict"), [(34.0, "pass"), (20.0, "FAIL")])
def test_table5_judges_fp16_fps_against_30_on_the_tx2(edgecheck_claims, fps16, verdict):
    from types import SimpleNamespace

    from edgecheck.evaluation.pipeline import Table5, judge_table5

    rows = [_row(r, p, fps16 if p == "fp16" else 16.0) for r in ("1080p", "720p", "480p")
            for p in ("fp32", "fp16")]  # fmt: skip
    results = judge_table5(Table5(rows=rows), edgecheck_claims, SimpleNamespace(profile="tx2"))
    fps = [r for r in results if r.claim.id == "quant.fp16.fps"]
    assert [r.key for r in fps] == ["1080p", "720p", "480p"]
    assert {r.verdict for r in fps} == {verdict}


def test_fp16_speedup_divides_by_fp32_on_the_same_runtime(edgecheck_claims):
    """TensorRT FP16 against TensorRT FP32, not against onnxruntime's FP32 row."""
    from dataclasses import replace
    from types import SimpleNamespace

    from edgecheck.evaluation.pipeline import Table5, judge_table5

    ort = [replace(_row(r, "fp32", 100.0), backend="onnxruntime") for r in ("1080p", "720p")]
    trt = [_row(r, p, 40.0 if p == "fp16" else 20.0) for r in ("1080p", "720p")
           for p in ("fp32", "fp16")]  # fmt: skip
    tx2 = SimpleNamespace(profile="tx2")
    results = judge_table5(Table5(rows=ort + trt), edgecheck_claims, tx2)
    speedups = [r for r in results if r.claim.id == "quant.fp16.speedup"]
    assert [(r.key, r.measured, r.verdict) for r in speedups] == [
        ("1080p", 2.0, "pass"), ("720p", 2.0, "pass")
    ]  # fmt: skip
    only_fp16 = [_row(r, "fp16", 40.0) for r in ("1080p", "720p")]
    results = judge_table5(Table5(rows=ort + only_fp16), edgecheck_claims, tx2)
    speedups = [r for r in results if r.claim.id == "quant.fp16.speedup"]
    assert {r.verdict for r in speedups} == {"not run here"}
    assert "FP32 was not measured on tensorrt" in speedups[0].message


def test_an_opencv_without_haar_cascades_asks_for_4x(monkeypatch):
    from types import SimpleNamespace

    import edgecheck._imports
    from edgecheck.data import video
    from edgecheck.errors import MissingDependencyError

    fake = SimpleNamespace(__version__="5.0.0")
    monkeypatch.setattr(edgecheck._imports, "require", lambda module, purpose: fake)
    with pytest.raises(
        MissingDependencyError, match=r"OpenCV 5\.0\.0 has no CascadeClassifier.*<5"
    ):
        video.require_cv2()


@pytest.mark.parametrize(("fps32", "verdict"), [(45.0, "pass"), (25.0, "FAIL")])
def test_table5_judges_fp32_against_the_real_time_bar_on_cpu_only(edgecheck_claims, fps32, verdict):
    """cpu: FP32 (keys <res>-fp32) >= 30 fps, FP16 not run; tx2: FP32 is not judged."""
    from types import SimpleNamespace

    from edgecheck.evaluation.pipeline import Table5, judge_table5

    rows = [_row(r, "fp32", fps32) for r in ("1080p", "720p", "480p")]
    cpu = judge_table5(Table5(rows=rows), edgecheck_claims, SimpleNamespace(profile="cpu"))
    judged = [r for r in cpu if r.key.endswith("-fp32")]
    assert [r.key for r in judged] == ["1080p-fp32", "720p-fp32", "480p-fp32"]
    assert {r.verdict for r in judged} == {verdict}
    assert {r.verdict for r in cpu if not r.key.endswith("-fp32")} == {"not run here"}
    tx2 = judge_table5(Table5(rows=rows), edgecheck_claims, SimpleNamespace(profile="tx2"))
    assert not [r for r in tx2 if r.key.endswith("-fp32")]


def test_a_detector_error_near_the_clip_end_raises_instead_of_hanging(tmp_path, fqa_model,
                                                                    monkeypatch):  # fmt: skip
    """The decoder has read the whole clip and waits to queue its end marker on a full
    queue when the detector fails: the error must come out, not a hung join."""
    import threading
    import time

    import edgecheck.pipeline.run as run_module

    class FailingFinder(run_module.NaiveFinder):
        calls = 0

        def find(self, gray):
            FailingFinder.calls += 1
            if FailingFinder.calls == 10:
                time.sleep(1.0)  # the decoder reads frames 11-12 into the queue and waits
                raise RuntimeError("detector failed on frame 10")
            return super().find(gray)

    monkeypatch.setattr(run_module, "NaiveFinder", FailingFinder)
    path = tmp_path / "walk.mp4"
    write_clip(path, "walk", SMALL, 12)
    config = PipelineConfig(finder="naive", concurrent=True, queue_size=2)
    outcome: list[BaseException] = []

    def target() -> None:
        try:
            run_pipeline(path, config, model=fqa_model)
        except BaseException as exc:
            outcome.append(exc)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout=60)
    assert not thread.is_alive(), "run_pipeline hung after the detector failed"
    assert len(outcome) == 1 and "detector failed on frame 10" in str(outcome[0])


def test_the_torch_backend_scores_like_onnxruntime(tmp_path, fqa_model):
    """--backend torch runs the trained CNN itself (the GPU path without TensorRT; fp32 on
    the CPU here): the same frames, the same scores as onnxruntime's FP32 file."""
    path = tmp_path / "walk.mp4"
    write_clip(path, "walk", SMALL, 16)
    base = dict(finder="naive", concurrent=False)
    ort = run_pipeline(path, PipelineConfig(**base), model=fqa_model, keep_images=False)
    torch_run = run_pipeline(path, PipelineConfig(backend="torch", **base), keep_images=False)
    assert torch_run.frames == ort.frames == 16
    flat = [s for scores in ort.scores for s in scores]
    assert flat and np.allclose([s for sc in torch_run.scores for s in sc], flat, atol=1e-5)


@pytest.mark.parametrize(
    ("extra", "text"),
    [
        (["--precision", "fp16", "--device", "cpu"], "torch fp16 needs a CUDA device"),
        (["--model", "x.onnx"], "the torch backend runs the shipped trained FQA CNN"),
    ],
)
def test_the_torch_backend_refuses_what_it_cannot_run(tmp_path, monkeypatch, capsys, extra, text):
    path = tmp_path / "walk.mp4"
    write_clip(path, "walk", SMALL, 4)
    monkeypatch.chdir(tmp_path)
    if "--model" in extra:
        import shutil

        from edgecheck.pipeline.scoring import prepare_fqa

        shutil.copy(prepare_fqa(tmp_path / "fqa", "fp32"), tmp_path / "x.onnx")
    code = main(
        ["pipeline", str(path), "--backend", "torch", "--no-write", "--no-progress", *extra]
    )
    err = capsys.readouterr().err
    assert code == 2 and text in err and len(err.strip().splitlines()) == 1, err

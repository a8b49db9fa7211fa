"""The FQA video pipeline: decode -> grayscale -> detect/track -> crop 64x64 -> FQA -> best frames.

Three stages run concurrently, joined by bounded queues (so memory stays flat on any video
length, and a slow stage holds the others back instead of queueing frames without end):

1. *decode* (a thread): ``VideoCapture.read`` and the grayscale conversion; OpenCV releases
   the GIL in both, so decoding the next frames overlaps detection of this one;
2. *detect* (the calling thread): the `FaceFinder` (tracking by default, see `detect.py`),
   then the FQA crop of each face: the square the FQA CNN's training crops frame around a
   Haar box (`FQA_FRAME`), resized to 64x64 with area averaging;
3. *FQA* (a thread): crops in batches of ``batch_size`` through the backend's runner; each
   face track keeps its ``top_k`` best-scoring frames (a heap: only those frames stay in
   memory).

End-to-end fps is frames / wall time from opening the file to the last score, decoding
included. Each stage's busy time is recorded (``stage_seconds``: decode, gray, detect,
track, crop, fqa); since stages overlap, their sum may exceed the wall time.
"""

from __future__ import annotations

import heapq
import os
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgecheck.pipeline.detect import Box, Face, NaiveFinder, TrackingFinder

# How the FQA CNN's 64x64 training crops frame a face, relative to the frontal Haar box:
# the crop's side is box side / 0.55, its left edge 0.222 crop sides left of the box and its
# top 0.259 above (calibrated on the shipped crops; see edgecheck.data.video.HAAR_BOX).
FQA_FRAME = (0.222, 0.259, 0.55)
STAGES = ("decode", "gray", "detect", "track", "crop", "fqa")
_END = None


@dataclass(frozen=True)
class PipelineConfig:
    """How the pipeline runs.

    Attributes:
        backend: FQA runtime, ``"onnxruntime"``, ``"tensorrt"`` or ``"torch"`` (the trained
            CNN on torch: fp32 on the CPU, fp16 on CUDA). Default ``"onnxruntime"``.
        device: where the torch backend runs, ``"cpu"`` or ``"cuda"``. Default ``"cpu"``.
        precision: ``"fp32"``, ``"fp16"`` or ``"int8"``. Default ``"fp32"``.
        batch_size: crops per FQA call. Default 16.
        finder: ``"tracking"`` (default) or ``"naive"`` (full-frame cascade every frame).
        concurrent: decode and FQA in their own threads. Default True (the naive baseline
            runs everything in one thread).
        top_k: best frames kept per face track. Default 5.
        queue_size: bounded queue length between stages, frames. Default 8.
        cv_threads: ``cv2.setNumThreads`` while the pipeline runs (restored after); 1 keeps
            the pipeline's own threads from oversubscribing the cores; -1 is OpenCV's
            default (all cores; what the naive baseline uses), 0 disables OpenCV's threads.
            Default 1.
        fqa_threads: FQA runtime threads. Default 1.
        every, detect_width: `TrackingFinder` settings. Defaults 10, 480.
        max_frames: stop after this many frames (None: the whole video).
    """

    backend: str = "onnxruntime"
    precision: str = "fp32"
    batch_size: int = 16
    finder: str = "tracking"
    concurrent: bool = True
    top_k: int = 5
    queue_size: int = 8
    cv_threads: int = 1
    fqa_threads: int = 1
    every: int = 10
    detect_width: int = 480
    max_frames: int | None = None
    device: str = "cpu"

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Selected:
    """One chosen frame of a face track: frame index, FQA score, face box (and the frame)."""

    frame: int
    score: float
    box: Box
    image: np.ndarray | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class PipelineResult:
    """What one pass over a video found and how long it took.

    Attributes:
        video: the file.
        width, height: frame size.
        frames: frames processed.
        faces: per frame, the `Face` objects found (box, track, how) in order.
        scores: per frame, the FQA score of each face in `faces` (same order).
        selected: per track id, its best frames, best first.
        wall_seconds: open to last score.
        stage_seconds: busy seconds per stage (see the module docstring).
        full_passes: full-frame detection passes.
        config: the `PipelineConfig`.
    """

    video: Path
    width: int
    height: int
    frames: int
    faces: list[list[Face]]
    scores: list[list[float]]
    selected: dict[int, list[Selected]]
    wall_seconds: float
    stage_seconds: dict[str, float]
    full_passes: int
    config: PipelineConfig

    @property
    def fps(self) -> float:
        """End-to-end frames per second (decoding included)."""
        return self.frames / self.wall_seconds if self.wall_seconds > 0 else 0.0

    def ms_per_frame(self) -> dict[str, float]:
        """Busy milliseconds per frame, by stage (`STAGES` order)."""
        n = max(self.frames, 1)
        return {s: 1000.0 * self.stage_seconds.get(s, 0.0) / n for s in STAGES}

    @property
    def best(self) -> Selected | None:
        """The best frame over all tracks (highest score), or None when no face was found."""
        tops = [sel[0] for sel in self.selected.values() if sel]
        return max(tops, key=lambda s: (s.score, -s.frame), default=None)

    @property
    def message(self) -> str:
        if not self.selected:
            return f"{self.video}: no face found in {self.frames} frames; nothing selected."
        n = sum(len(v) for v in self.selected.values())
        return f"{self.video}: {len(self.selected)} face track(s), {n} frame(s) selected."

    def summary(self) -> dict[str, Any]:
        """JSON-ready numbers (no images)."""
        return {
            "video": str(self.video), "width": self.width, "height": self.height,
            "frames": self.frames, "fps": round(self.fps, 2),
            "wall_seconds": round(self.wall_seconds, 4),
            "ms_per_frame": {k: round(v, 3) for k, v in self.ms_per_frame().items()},
            "full_passes": self.full_passes,
            "frames_with_faces": sum(1 for f in self.faces if f),
            "selected": {
                str(t): [{"frame": s.frame, "score": round(s.score, 4), "box": list(s.box)}
                         for s in sel]
                for t, sel in sorted(self.selected.items())
            },
            "config": self.config.as_dict(),
        }  # fmt: skip


def fqa_crop(gray: np.ndarray, box: Box, cv2: Any) -> np.ndarray:
    """The 64x64 uint8 FQA input for a face box (edges replicated where the square leaves the frame)."""
    x, y, w, _ = box
    fx, fy, fs = FQA_FRAME
    side = max(8, round(w / fs))
    left = round(x - fx * side)
    top = round(y - fy * side)
    h, wd = gray.shape
    x0, y0, x1, y1 = max(0, left), max(0, top), min(wd, left + side), min(h, top + side)
    region = gray[y0:y1, x0:x1]
    if (x0, y0, x1, y1) != (left, top, left + side, top + side):
        region = cv2.copyMakeBorder(
            region, y0 - top, top + side - y1, x0 - left, left + side - x1, cv2.BORDER_REPLICATE
        )
    return cv2.resize(region, (64, 64), interpolation=cv2.INTER_AREA)


class _Selector:
    """Top-k frames per track by score (ties: the earlier frame)."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.heaps: dict[int, list[tuple[float, int, int, Box, Any]]] = {}
        self._n = 0

    def offer(self, track: int, score: float, frame: int, box: Box, image: Any) -> None:
        heap = self.heaps.setdefault(track, [])
        item = (score, -frame, self._n, box, image)
        self._n += 1
        if len(heap) < self.k:
            heapq.heappush(heap, item)
        elif item[:2] > heap[0][:2]:
            heapq.heapreplace(heap, item)

    def result(self) -> dict[int, list[Selected]]:
        out = {}
        for track, heap in self.heaps.items():
            ranked = sorted(heap, key=lambda it: (it[0], it[1]), reverse=True)
            out[track] = [Selected(-f, float(s), b, img) for s, f, _, b, img in ranked]
        return out


def run_pipeline(
    video: str | os.PathLike[str],
    config: PipelineConfig | None = None,
    *,
    model: str | os.PathLike[str] | None = None,
    workdir: str | os.PathLike[str] | None = None,
    keep_images: bool = True,
    progress: Callable[[int], None] | None = None,
) -> PipelineResult:
    """Run the FQA pipeline over one video file.

    Args:
        video: any video OpenCV can read (a synthetic clip from `write_clip` or a user's own).
        config: how to run; default `PipelineConfig()`.
        model: the FQA ONNX file; default: `prepare_fqa` of the shipped trained CNN in
            `workdir` (or a temporary folder) for the config's backend and precision.
        keep_images: keep the chosen frames' images (BGR) in `Selected.image`. Default True.
        progress: called with the number of frames done, now and then (e.g. a tqdm update).

    Returns:
        The `PipelineResult`; a video without faces gives an empty ``selected`` and a message.

    Raises:
        DataError: the file is missing, unreadable, or has no frames (the message names it).
    """
    import tempfile

    from edgecheck.data.video import open_video, require_cv2
    from edgecheck.pipeline.scoring import FQAScorer, prepare_fqa

    cfg = config or PipelineConfig()
    cv2 = require_cv2()
    if model is None and cfg.backend != "torch":
        if workdir is None:
            with tempfile.TemporaryDirectory(prefix="edgecheck-fqa-") as tmp:
                path = prepare_fqa(tmp, cfg.precision, cfg.backend)
                return run_pipeline(
                    video, cfg, model=path, keep_images=keep_images, progress=progress
                )
        model = prepare_fqa(workdir, cfg.precision, cfg.backend)
    previous_threads = cv2.getNumThreads()
    cv2.setNumThreads(cfg.cv_threads)
    try:
        with FQAScorer(
            model, cfg.backend, cfg.precision, cfg.batch_size, cfg.fqa_threads, cfg.device
        ) as scorer:
            return _run(video, cfg, scorer, cv2, open_video, keep_images, progress)
    finally:
        cv2.setNumThreads(previous_threads)


def _put_until(q: queue.Queue[Any], item: Any, stop: threading.Event) -> bool:
    """Put `item` on `q`, waiting while it is full, until `stop` is set; False if stopped."""
    while not stop.is_set():
        try:
            q.put(item, timeout=0.1)
            return True
        except queue.Full:
            continue
    return False


class _Failure:
    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _run(video: Any, cfg: PipelineConfig, scorer: Any, cv2: Any, open_video: Any,
         keep_images: bool, progress: Callable[[int], None] | None) -> PipelineResult:  # fmt: skip
    finder: NaiveFinder | TrackingFinder
    if cfg.finder == "naive":
        finder = NaiveFinder()
    elif cfg.finder == "tracking":
        finder = TrackingFinder(every=cfg.every, detect_width=cfg.detect_width)
    else:
        from edgecheck.errors import ConfigError

        raise ConfigError(f"finder {cfg.finder!r}: use 'tracking' or 'naive'.")
    stage: dict[str, float] = dict.fromkeys(STAGES, 0.0)
    start = time.perf_counter()
    cap, info = open_video(video)
    limit = cfg.max_frames if cfg.max_frames is not None else -1

    def frames_from_capture() -> Any:
        n = 0
        try:
            while n != limit:
                t = time.perf_counter()
                ok, bgr = cap.read()
                t2 = time.perf_counter()
                stage["decode"] += t2 - t
                if not ok:
                    return
                gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
                stage["gray"] += time.perf_counter() - t2
                yield n, bgr, gray
                n += 1
        finally:
            cap.release()

    faces_per_frame: list[list[Face]] = []
    scores: list[list[float]] = []
    selector = _Selector(cfg.top_k)
    pending: list[tuple[int, int, int, Box, Any]] = []  # frame, slot, track, box, image
    crops: list[np.ndarray] = []

    def score_batch(batch: list[np.ndarray], meta: list[tuple[int, int, int, Box, Any]]) -> None:
        t = time.perf_counter()
        values = scorer.score(np.stack(batch))
        stage["fqa"] += time.perf_counter() - t
        for value, (frame, slot, track, box, image) in zip(values, meta, strict=True):
            scores[frame][slot] = float(value)
            selector.offer(track, float(value), frame, box, image if keep_images else None)

    fqa_q: queue.Queue[Any] = queue.Queue(maxsize=4)
    fqa_thread: threading.Thread | None = None
    fqa_error: list[BaseException] = []
    if cfg.concurrent:

        def fqa_worker() -> None:
            while True:
                item = fqa_q.get()
                if item is _END:
                    return
                if fqa_error:
                    continue  # drain, so the producer never blocks on a dead consumer
                try:
                    score_batch(*item)
                except BaseException as exc:  # re-raised in the calling thread
                    fqa_error.append(exc)

        fqa_thread = threading.Thread(target=fqa_worker, name="edgecheck-fqa", daemon=True)
        fqa_thread.start()

    def flush() -> None:
        nonlocal crops, pending
        if not crops:
            return
        if fqa_thread is not None:
            fqa_q.put((crops, pending))
        else:
            score_batch(crops, pending)
        crops, pending = [], []

    source: Any = frames_from_capture()
    reader: threading.Thread | None = None
    stop = threading.Event()
    if cfg.concurrent:
        frame_q: queue.Queue[Any] = queue.Queue(maxsize=cfg.queue_size)

        def decode_worker() -> None:
            # Every put gives up once the consumer has stopped (an error in the detector,
            # say): a blocking put on a full queue would hang reader.join() instead.
            try:
                for item in frames_from_capture():
                    if not _put_until(frame_q, item, stop):
                        return
            except BaseException as exc:
                _put_until(frame_q, _Failure(exc), stop)
            _put_until(frame_q, _END, stop)

        def from_queue() -> Any:
            while True:
                item = frame_q.get()
                if item is _END:
                    return
                if isinstance(item, _Failure):
                    raise item.exc
                yield item

        reader = threading.Thread(target=decode_worker, name="edgecheck-decode", daemon=True)
        reader.start()
        source = from_queue()
    try:
        for index, bgr, gray in source:
            found = finder.find(gray)
            t = time.perf_counter()
            faces_per_frame.append(found)
            scores.append([float("nan")] * len(found))
            for slot, face in enumerate(found):
                crops.append(fqa_crop(gray, face.box, cv2))
                pending.append((index, slot, face.track, face.box, bgr))
                if len(crops) == cfg.batch_size:
                    stage["crop"] += time.perf_counter() - t
                    flush()
                    t = time.perf_counter()
            stage["crop"] += time.perf_counter() - t
            if progress is not None and index % 10 == 9:
                progress(10)
        flush()
    finally:
        stop.set()
        if reader is not None:
            reader.join()
        if fqa_thread is not None:
            fqa_q.put(_END)
            fqa_thread.join()
    if fqa_error:
        raise fqa_error[0]
    wall = time.perf_counter() - start
    for name, seconds in finder.clock.seconds.items():
        stage[name] = stage.get(name, 0.0) + seconds
    return PipelineResult(
        video=info.path, width=info.width, height=info.height, frames=len(faces_per_frame),
        faces=faces_per_frame, scores=scores, selected=selector.result(), wall_seconds=wall,
        stage_seconds=stage, full_passes=getattr(finder, "full_passes", len(faces_per_frame)),
        config=cfg,
    )  # fmt: skip

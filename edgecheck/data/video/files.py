"""Clip files: OpenCV (`require_cv2`), writing a clip with its truth file (`write_clip`),
reading the truth back (`load_truth`) and opening a user's video (`open_video`).
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgecheck._atomic import write_atomic
from edgecheck.data.faceset import DataError
from edgecheck.data.video.scene import (
    ClipTruth,
    FrameTruth,
    require_cv2,
    resolution_size,
    synthetic_frames,
)
from edgecheck.errors import ConfigError

CODECS = ("mp4v", "MJPG")
TRUTH_SUFFIX = ".truth.json"


def truth_path(video: str | os.PathLike[str]) -> Path:
    """Where `write_clip` puts the ground truth of `video`: ``<video>.truth.json``."""
    return Path(f"{os.fspath(video)}{TRUTH_SUFFIX}")


def write_clip(
    path: str | os.PathLike[str],
    scene: str = "walk",
    resolution: str | tuple[int, int] = "480p",
    frames: int = 90,
    *,
    fps: float = 30.0,
    seed: int = 0,
    codec: str = "mp4v",
) -> ClipTruth:
    """Write a synthetic clip to `path` and its ground truth to ``<path>.truth.json``.

    Both are written atomically (a temporary file in the same folder, then a rename): on an
    error `path` keeps whatever it held before.

    Args:
        path: the video file to write (``.mp4`` for mp4v, ``.avi`` for MJPG).
        scene, resolution, frames, seed: see `synthetic_frames`.
        fps: frame rate stored in the file. Default 30.
        codec: ``"mp4v"`` (default) or ``"MJPG"``.

    Returns:
        The clip's `ClipTruth`.

    Raises:
        ConfigError: an unknown scene, resolution or codec.
        DataError: OpenCV cannot write this codec/container here.
    """
    cv2 = require_cv2()
    if codec not in CODECS:
        raise ConfigError(f"codec {codec!r}: use one of {', '.join(CODECS)}.")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    width, height = resolution_size(resolution)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.stem}.", suffix=target.suffix, dir=target.parent)
    os.close(fd)
    truths: list[FrameTruth] = []
    try:
        writer = cv2.VideoWriter(tmp, cv2.VideoWriter_fourcc(*codec), fps, (width, height), True)
        if not writer.isOpened():
            raise DataError(
                f"{target}: OpenCV cannot write {codec} into a '{target.suffix}' file here; "
                f"use .mp4 with mp4v or .avi with MJPG."
            )
        try:
            for gray, truth in synthetic_frames(scene, (width, height), frames, seed=seed):
                writer.write(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR))
                truths.append(truth)
        finally:
            writer.release()
        clip = ClipTruth(scene, width, height, float(fps), seed, tuple(truths))
        os.replace(tmp, target)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    write_atomic(truth_path(target), json.dumps(clip.as_dict(), indent=1) + "\n")
    return clip


def load_truth(video: str | os.PathLike[str]) -> ClipTruth:
    """The ground truth that `write_clip` stored next to `video`."""
    path = truth_path(video)
    try:
        return ClipTruth.from_dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError:
        raise DataError(
            f"{path}: no ground truth for {video} (only write_clip makes one)."
        ) from None
    except (ValueError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: not a clip truth file ({exc}).") from exc


@dataclass(frozen=True)
class VideoInfo:
    """What a readable video file holds (the container's numbers; frames may differ)."""

    path: Path
    width: int
    height: int
    fps: float
    frames: int  # the container's frame count; 0 or negative when the container does not say


def open_video(path: str | os.PathLike[str]) -> tuple[Any, VideoInfo]:
    """Open a video for reading: ``(cv2.VideoCapture, VideoInfo)``, positioned at frame 0.

    Raises:
        DataError: the file is missing, is not a video OpenCV can decode, or has no frames;
            the message names the file.
    """
    cv2 = require_cv2()
    p = Path(path)
    if not p.is_file():
        raise DataError(f"{p}: no such video file.")
    cap = cv2.VideoCapture(str(p))
    ok, first = cap.read() if cap.isOpened() else (False, None)
    if not cap.isOpened():
        cap.release()
        raise DataError(
            f"{p}: not a video OpenCV can read (corrupt, or an unsupported container/codec)."
        )
    if not ok or first is None:
        cap.release()
        raise DataError(f"{p}: the video has no frames that can be decoded (empty or corrupt).")
    cap.release()  # reopen rather than seek back: seeking is inexact in some containers
    cap = cv2.VideoCapture(str(p))
    info = VideoInfo(
        path=p, width=int(first.shape[1]), height=int(first.shape[0]),
        fps=float(cap.get(cv2.CAP_PROP_FPS) or 0.0),
        frames=int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0),
    )  # fmt: skip
    return cap, info

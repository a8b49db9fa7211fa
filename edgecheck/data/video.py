"""Deterministic synthetic video clips for the FQA pipeline (Table V), and a user's own videos.

A clip is a static, textured background in which the shipped astronaut face crop
(``faces.npz``, see ``PROVENANCE.md``) moves, changes size and is degraded frame by frame with
the degradation model of `edgecheck.data.synthetic` (blur, noise, exposure, occlusion), so its
ground-truth quality is `quality_score` of the strengths and the trained FQA CNN's notion of
quality matches it. Only the astronaut crop is used: the other shipped crop (``camera``) is a
near-profile face that OpenCV's frontal Haar cascade does not detect at any size.

Scenes (`SCENES`), as in the paper's two test videos:

- ``"walk"``: the face drifts across the frame on a slow Lissajous path, its size swinging
  between about 0.22 and 0.38 of the frame height;
- ``"approach"``: the mirrored face is absent for the first 10 % of the frames, then enters
  and approaches (0.20 -> 0.42 of the height) on another background;
- ``"empty"``: the background alone (no face: the pipeline must select nothing).

Geometry is relative to the frame, so the three resolutions (`RESOLUTIONS`) show the same
scene. Degradations are piecewise constant over segments of `SEGMENT` frames (0.2 s at
30 fps, a lighting or focus change): per segment blur, noise and exposure are each present
with probability 1/2 at a moderate strength (0.15-0.55; over-exposure capped at +0.2, since the
bright face burns out of the cascade's reach beyond it), occlusion with probability 1/4 (up
to 0.3, a band over one cheek or the chin: over the eyes or mouth the cascade loses the face),
one segment in twelve has a heavy (0.8-1) blur, noise or under-exposure,
one segment of undegraded frames (quality 1) lies in the middle part of the clip, and every
other segment has quality <= 0.85, so "the best frame" is well defined. Strengths are in the
units of the 64x64 FQA crop (blur sigma ``2.5 b`` and noise on a 64x64 grid, both scaled to
the face's size in the frame), so a face crop resized to 64x64 is degraded like a training
image.

Ground truth per frame (`FrameTruth`): whether a face is present, its box in the Haar
cascade's convention and the quality. The box is calibrated on clean renders: the cascade's
box covers the inner face, at ``(0.222 S, 0.259 S)`` from the pasted crop's corner with side
``0.55 S`` for a crop of side ``S`` (`HAAR_BOX`; measured with
``detectMultiScale(scaleFactor=1.05, minNeighbors=5)`` for S = 100-420 px, plain and
mirrored, spread +-0.01 S). `write_clip` writes the clip (mp4v or MJPG; H.264 is not
available in the opencv-python wheels) and its truth as ``<clip>.truth.json``, both atomically.

Every frame is drawn from its own random stream (``SeedSequence([DATA_VERSION_KEY, 3, scene,
seed, frame])``), so frame ``i`` does not depend on which other frames were made. The mp4v
encoder's output may differ between OpenCV builds; the rendered frames and the truth do not.

`open_video` opens any video for reading (a user's own file too) and turns a missing,
unreadable or empty file into a `DataError` naming it. Needs OpenCV 4.x
(``pip install pytest-edgecheck[video]``).
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from edgecheck._atomic import write_atomic
from edgecheck.data.faceset import DataError
from edgecheck.data.synthetic import (
    DATA_VERSION,
    DATA_VERSION_KEY,
    IMAGE_SIZE,
    MAX_BLUR_SIGMA,
    MAX_EXPOSURE_STOPS,
    MAX_NOISE_STD,
    base_faces,
    quality_score,
)
from edgecheck.errors import ConfigError, MissingDependencyError

VIDEO_VERSION = "video-v1"
"""Changes whenever the clip generator changes (recorded in every truth file)."""

RESOLUTIONS: dict[str, tuple[int, int]] = {
    "1080p": (1920, 1080),
    "720p": (1280, 720),
    "480p": (640, 480),
}
SCENES: dict[str, int] = {"walk": 1, "approach": 2, "empty": 3}
CODECS = ("mp4v", "MJPG")
SEGMENT = 6  # frames per degradation segment
HAAR_BOX = (0.222, 0.259, 0.55)  # (x offset, y offset, side) of the Haar box, in units of S
FACE = "astronaut"
_VIDEO_STREAM = 3  # random-stream id, next to synthetic.STREAMS' 1 and 2
TRUTH_SUFFIX = ".truth.json"
# Stream indices of the per-clip draws, beyond any frame index.
_BACKGROUND_DRAW = 2**32
_SCHEDULE_DRAW = 2**32 + 1


def require_cv2() -> Any:
    """OpenCV 4.x, or a clear error (5.x ships no Haar cascades)."""
    import os

    from edgecheck._imports import require

    # FFmpeg's own log lines ("moov atom not found") would precede edgecheck's one-line error
    # on a corrupt video; it is read before cv2's import, and a user's setting wins.
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")
    cv2 = require("cv2", "the video pipeline (decoding, Haar face detection)")
    if not hasattr(cv2, "CascadeClassifier"):
        raise MissingDependencyError(
            f"OpenCV {getattr(cv2, '__version__', '?')} has no CascadeClassifier (OpenCV 5.x "
            f"dropped the Haar cascades); install 4.x: pip install 'opencv-python-headless>=4.8,<5'."
        )
    return cv2


@dataclass(frozen=True)
class FrameTruth:
    """What one frame shows.

    Attributes:
        index: frame number from 0.
        face: a face is present.
        box: the face's box ``(x, y, w, h)`` in frame pixels, Haar convention; zeros when absent.
        quality: the ground-truth quality (`quality_score`); 0 when no face.
        blur, noise, exposure, occlusion: the degradation strengths.
    """

    index: int
    face: bool
    box: tuple[int, int, int, int]
    quality: float
    blur: float = 0.0
    noise: float = 0.0
    exposure: float = 0.0
    occlusion: float = 0.0


@dataclass(frozen=True)
class ClipTruth:
    """A synthetic clip's description and per-frame ground truth."""

    scene: str
    width: int
    height: int
    fps: float
    seed: int
    frames: tuple[FrameTruth, ...]
    version: str = VIDEO_VERSION

    @property
    def face_frames(self) -> list[FrameTruth]:
        return [f for f in self.frames if f.face]

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["frames"] = [asdict(f) for f in self.frames]
        d["data_version"] = DATA_VERSION
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ClipTruth:
        frames = tuple(
            FrameTruth(**{**f, "box": tuple(int(v) for v in f["box"])}) for f in d["frames"]
        )
        return cls(
            scene=str(d["scene"]), width=int(d["width"]), height=int(d["height"]),
            fps=float(d["fps"]), seed=int(d["seed"]), frames=frames,
            version=str(d.get("version", "")),
        )  # fmt: skip


def resolution_size(resolution: str | tuple[int, int]) -> tuple[int, int]:
    """``"1080p"`` -> ``(1920, 1080)``; a ``(width, height)`` pair passes through (even sizes)."""
    if isinstance(resolution, str):
        try:
            return RESOLUTIONS[resolution]
        except KeyError:
            raise ConfigError(
                f"unknown resolution {resolution!r}; use one of {', '.join(RESOLUTIONS)} or "
                f"a (width, height) pair."
            ) from None
    width, height = (int(v) for v in resolution)
    if width < 64 or height < 64 or width % 2 or height % 2:
        raise ConfigError(f"frame size {width}x{height}: need even sizes of at least 64.")
    return width, height


def _rng(scene: str, seed: int, frame: int) -> np.random.Generator:
    entropy = [DATA_VERSION_KEY, _VIDEO_STREAM, SCENES[scene], seed, frame]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def _background(scene: str, seed: int, width: int, height: int) -> np.ndarray:
    """A static textured background in [0, 1]: gradient, smooth blotches, a few flat panels."""
    cv2 = require_cv2()
    rng = _rng(scene, seed, _BACKGROUND_DRAW)
    grid = rng.standard_normal((9, 16)).astype(np.float32)
    blotches = cv2.resize(grid, (width, height), interpolation=cv2.INTER_CUBIC)
    v, u = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * math.pi)
    ramp = math.cos(angle) * (u / width - 0.5) + math.sin(angle) * (v / height - 0.5)
    bg = 0.45 + 0.18 * ramp + 0.06 * blotches
    for _ in range(4):  # panels: a door, a window, a poster
        w, h = rng.uniform(0.08, 0.25) * width, rng.uniform(0.15, 0.6) * height
        x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
        bg[int(y) : int(y + h), int(x) : int(x + w)] += rng.uniform(-0.15, 0.15)
    return np.clip(bg, 0.05, 0.95).astype(np.float32)


def _segment_strengths(scene: str, seed: int, n_segments: int) -> list[dict[str, float]]:
    """Degradation strengths per segment (see the module docstring)."""
    rng = _rng(scene, seed, _SCHEDULE_DRAW)
    clean = int(rng.integers(n_segments // 4, max(n_segments // 4 + 1, (3 * n_segments) // 4)))
    out = []
    for k in range(n_segments):
        present = rng.random(4) < 0.5
        strength = rng.uniform(0.15, 0.55, size=4)
        heavy = rng.random() < 1 / 12
        which = int(rng.integers(3))
        sign = 1.0 if rng.random() < 0.5 else -1.0
        s = {
            name: float(strength[i]) if present[i] else 0.0
            for i, name in enumerate(("blur", "noise", "exposure", "occlusion"))
        }
        # Occlusion is rarer and smaller than in the image data, and covers a cheek or the chin
        # (a hand, a scarf): a patch over the eyes or mouth hides the face from the cascade.
        s["occlusion"] = min(s["occlusion"], 0.3) if rng.random() < 0.5 else 0.0
        if heavy:  # exposure: heavy under-exposure (sign forced below)
            s[("blur", "noise", "exposure")[which]] = float(rng.uniform(0.8, 1.0))
            sign = -1.0 if which == 2 else sign
        if sign > 0:  # over-exposure beyond +0.2 burns the bright face out of Haar's reach
            s["exposure"] = min(s["exposure"], 0.2)
        s["exposure"] *= sign
        if k == clean:
            s = dict.fromkeys(s, 0.0)
        elif quality_score(**s) > 0.85:  # every other segment clearly below the clean one
            s["blur"] = max(s["blur"], 0.25)
        out.append(s)
    return out


@dataclass(frozen=True)
class _Pose:
    present: bool
    x: int  # top-left of the pasted crop
    y: int
    size: int  # side S of the pasted crop
    flip: bool


def _pose(scene: str, i: int, n: int, width: int, height: int) -> _Pose:
    t = i / max(n - 1, 1)
    if scene == "empty":
        return _Pose(False, 0, 0, 0, False)
    if scene == "walk":
        size = height * (0.30 + 0.08 * math.sin(2 * math.pi * 1.3 * t))
        cx = width * (0.5 + 0.30 * math.sin(2 * math.pi * 0.9 * t))
        cy = height * (0.5 + 0.12 * math.sin(2 * math.pi * 1.7 * t + 0.6))
        flip = False
        present = True
    else:
        start = 0.1
        present = t >= start
        u = max(0.0, (t - start) / (1 - start))
        size = height * (0.20 + 0.22 * u)
        cx = width * (0.25 + 0.45 * u + 0.05 * math.sin(2 * math.pi * 2 * u))
        cy = height * (0.55 - 0.08 * u)
        flip = True
    s = round(size)
    x = int(np.clip(round(cx - s / 2), 0, width - s))
    y = int(np.clip(round(cy - s / 2), 0, height - s))
    return _Pose(present, x, y, s, flip)


def _face_patch(pose: _Pose, strengths: dict[str, float], rng: np.random.Generator) -> np.ndarray:
    """The degraded face crop of side S, float32 in [0, 1] (degradations in 64x64 units)."""
    cv2 = require_cv2()
    src = base_faces()[FACE].astype(np.float32) / np.float32(255.0)
    if pose.flip:
        src = np.ascontiguousarray(src[:, ::-1])
    s = pose.size
    k = s / IMAGE_SIZE  # frame pixels per FQA-crop pixel
    inter = cv2.INTER_AREA if s < src.shape[0] else cv2.INTER_LINEAR
    patch = cv2.resize(src, (s, s), interpolation=inter)
    occ = strengths["occlusion"]
    # Drawn always, so that turning one degradation off does not shift the others' numbers.
    where = int(rng.integers(3))  # 0: left cheek, 1: right cheek, 2: chin
    along = float(rng.uniform(0.0, 1.0))
    gray = float(rng.uniform(0.0, 1.0))
    noise64 = rng.standard_normal((IMAGE_SIZE, IMAGE_SIZE)).astype(np.float32)
    if occ > 0:
        # A hand or scarf at the side or the chin: a patch over the eyes, nose or mouth hides
        # the face from the frontal Haar cascade (measured), so these are the places it goes.
        area = 0.5 * occ * IMAGE_SIZE * IMAGE_SIZE  # in 64x64 pixels, as in the image data
        thick = 14.0
        length = min(IMAGE_SIZE, area / thick)
        if where < 2:  # a vertical band on one cheek, from row 22 down
            top64, h, w = (
                22.0 + along * (IMAGE_SIZE - 22.0 - length) if length < 42 else 22.0,
                length,
                thick,
            )
            left64 = 2.0 if where == 0 else IMAGE_SIZE - 2.0 - thick
        else:  # a horizontal band over the chin
            top64, h, w = IMAGE_SIZE - thick, thick, length
            left64 = along * (IMAGE_SIZE - length)
        top, left = round(top64 * k), round(left64 * k)
        patch[top : top + round(h * k), left : left + round(w * k)] = gray
    patch = np.clip(patch * np.float32(2.0 ** (MAX_EXPOSURE_STOPS * strengths["exposure"])), 0, 1)
    sigma = MAX_BLUR_SIGMA * strengths["blur"] * k
    if sigma >= 0.2:
        patch = cv2.GaussianBlur(patch, (0, 0), sigma)
    if strengths["noise"] > 0:
        noise = cv2.resize(noise64, (s, s), interpolation=cv2.INTER_NEAREST)
        patch = patch + np.float32(MAX_NOISE_STD * strengths["noise"]) * noise
    return np.clip(patch, 0.0, 1.0)


def synthetic_frames(
    scene: str = "walk",
    resolution: str | tuple[int, int] = "480p",
    frames: int = 90,
    *,
    seed: int = 0,
) -> Iterator[tuple[np.ndarray, FrameTruth]]:
    """Render a clip frame by frame, in memory: ``(gray uint8 (H, W), FrameTruth)`` pairs.

    Args:
        scene: one of `SCENES`. Default ``"walk"``.
        resolution: ``"1080p"``, ``"720p"``, ``"480p"`` or ``(width, height)``.
        frames: number of frames (>= 1). Default 90 (3 s at 30 fps).
        seed: selects another clip of the same scene. Default 0.
    """
    if scene not in SCENES:
        raise ConfigError(f"unknown scene {scene!r}; use one of {', '.join(SCENES)}.")
    if frames < 1:
        raise ConfigError(f"frames={frames}: a clip needs at least one frame.")
    width, height = resolution_size(resolution)
    background = _background(scene, seed, width, height)
    segments = _segment_strengths(scene, seed, math.ceil(frames / SEGMENT))
    bx, by, bs = HAAR_BOX
    for i in range(frames):
        pose = _pose(scene, i, frames, width, height)
        if not pose.present:
            img = background
            truth = FrameTruth(i, False, (0, 0, 0, 0), 0.0)
        else:
            rng = _rng(scene, seed, i)
            st = segments[i // SEGMENT]
            patch = _face_patch(pose, st, rng)
            img = background.copy()
            img[pose.y : pose.y + pose.size, pose.x : pose.x + pose.size] = patch
            ox = (1.0 - bx - bs) if pose.flip else bx  # the mirrored face's box, mirrored
            box = (
                round(pose.x + ox * pose.size), round(pose.y + by * pose.size),
                round(bs * pose.size), round(bs * pose.size),
            )  # fmt: skip
            truth = FrameTruth(
                i, True, box, round(quality_score(**st), 6),
                blur=st["blur"], noise=st["noise"], exposure=st["exposure"],
                occlusion=st["occlusion"],
            )  # fmt: skip
        yield np.round(img * 255.0).astype(np.uint8), truth


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

"""The synthetic clip generator: the scene, its degradation schedule and per-frame truth
(and `require_cv2`, OpenCV 4.x, which draws it).

`synthetic_frames` yields each frame (grayscale) with its `FrameTruth`; `files.write_clip`
encodes them with the truth file beside the video.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

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
SEGMENT = 6  # frames per degradation segment
HAAR_BOX = (0.222, 0.259, 0.55)  # (x offset, y offset, side) of the Haar box, in units of S
FACE = "astronaut"
_VIDEO_STREAM = 3  # random-stream id, next to synthetic.STREAMS' 1 and 2
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

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

Modules: `scene` (the generator: frames and their truth; `require_cv2`) and `files` (clip
files: `write_clip`, `load_truth`, `open_video`).
"""

from __future__ import annotations

from edgecheck.data.video.files import (
    CODECS,
    TRUTH_SUFFIX,
    VideoInfo,
    load_truth,
    open_video,
    truth_path,
    write_clip,
)
from edgecheck.data.video.scene import (
    FACE,
    HAAR_BOX,
    RESOLUTIONS,
    SCENES,
    SEGMENT,
    VIDEO_VERSION,
    ClipTruth,
    FrameTruth,
    require_cv2,
    resolution_size,
    synthetic_frames,
)

__all__ = [
    "CODECS", "FACE", "HAAR_BOX", "RESOLUTIONS", "SCENES", "SEGMENT", "TRUTH_SUFFIX",
    "VIDEO_VERSION", "ClipTruth", "FrameTruth", "VideoInfo", "load_truth", "open_video",
    "require_cv2", "resolution_size", "synthetic_frames", "truth_path", "write_clip",
]  # fmt: skip

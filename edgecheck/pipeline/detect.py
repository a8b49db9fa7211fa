"""Face detection and tracking for the pipeline: OpenCV's frontal-face Haar cascade.

Two strategies, one interface (`FaceFinder.find(gray) -> list[Face]`):

- `NaiveFinder`: the cascade over the whole full-resolution frame, every frame
  (``scaleFactor=1.1, minNeighbors=5``), the obvious implementation and the baseline.
- `TrackingFinder`: what makes 1080p real-time on two cores.

  * *Detection at a reduced scale*: a full-frame pass runs on the frame resized to
    ``detect_width`` pixels wide (480 by default: a quarter of 1080p's pixels per side), with a
    minimum face size matched to ``min_face`` (a fraction of the frame height).
  * *Refinement*: each detection of that pass is searched again in a region of interest
    around it at a higher scale (the face about ``roi_face`` pixels wide), which restores
    the box precision the reduced scale lost.
  * *Tracking in between*: full passes run only every ``every`` frames (and on every frame
    while no face is tracked); on the other frames each track is found again by the same
    local search around its last box, restricted to 0.7-1.4x its size. A track whose local
    search fails keeps its last box for up to ``coast`` frames (marked ``"coast"``) and is
    dropped after that, which brings back full passes.

A `Face` carries its box in frame pixels, the track id and how it was found
(``"detect"``, ``"track"`` or ``"coast"``). cv2 is imported when a finder is built.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from edgecheck.errors import ConfigError

Box = tuple[int, int, int, int]
CASCADE = "haarcascade_frontalface_default.xml"


def iou(a: Box, b: Box) -> float:
    """Intersection over union of two ``(x, y, w, h)`` boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    iw = min(ax + aw, bx + bw) - max(ax, bx)
    ih = min(ay + ah, by + bh) - max(ay, by)
    if iw <= 0 or ih <= 0:
        return 0.0
    inter = iw * ih
    return inter / float(aw * ah + bw * bh - inter)


def load_cascade() -> Any:
    """OpenCV's frontal-face cascade (needs opencv-python-headless 4.x)."""
    from edgecheck.data.video import require_cv2

    cv2 = require_cv2()
    path = os.path.join(cv2.data.haarcascades, CASCADE)
    cascade = cv2.CascadeClassifier(path)
    if cascade.empty():
        from edgecheck.data import DataError

        raise DataError(
            f"{path}: OpenCV could not load its Haar cascade; reinstall "
            f"'opencv-python-headless>=4.8,<5' (5.x does not ship the cascades)."
        )
    return cascade


@dataclass(frozen=True)
class Face:
    """One face in one frame: box ``(x, y, w, h)``, track id, and how it was found."""

    box: Box
    track: int
    how: str


@dataclass
class StageClock:
    """Busy seconds per stage name (what the per-stage breakdown reports)."""

    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, stage: str, since: float) -> float:
        now = time.perf_counter()
        self.seconds[stage] = self.seconds.get(stage, 0.0) + (now - since)
        return now


class NaiveFinder:
    """The whole full-resolution frame through the cascade, every frame (the baseline)."""

    name = "naive"

    def __init__(self, *, scale_factor: float = 1.1, min_neighbors: int = 5) -> None:
        self.cascade = load_cascade()
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.clock = StageClock()
        self._next_id = 0
        self._last: list[Face] = []

    def find(self, gray: np.ndarray) -> list[Face]:
        t = time.perf_counter()
        boxes = self.cascade.detectMultiScale(gray, self.scale_factor, self.min_neighbors)
        self.clock.add("detect", t)
        faces = []
        for x, y, w, h in boxes:
            box = (int(x), int(y), int(w), int(h))
            # Linking only: a detection overlapping a face of the previous frame continues it.
            prev = max(self._last, key=lambda f: iou(f.box, box), default=None)
            if prev is not None and iou(prev.box, box) >= 0.3:
                track = prev.track
            else:
                track, self._next_id = self._next_id, self._next_id + 1
            faces.append(Face(box, track, "detect"))
        self._last = faces
        return faces


@dataclass
class _Track:
    id: int
    box: Box
    misses: int = 0
    velocity: tuple[float, float] = (0.0, 0.0)  # box centre motion per frame, pixels

    def observe(self, box: Box, frames: int = 1) -> None:
        """A new measured box, `frames` frames after the previous measurement."""
        (x0, y0, w0, h0), (x1, y1, w1, h1) = self.box, box
        self.velocity = (
            (x1 + w1 / 2 - x0 - w0 / 2) / frames, (y1 + h1 / 2 - y0 - h0 / 2) / frames
        )  # fmt: skip
        self.box, self.misses = box, 0

    def predicted(self) -> Box:
        """The last box moved on by the velocity (constant-velocity coasting)."""
        x, y, w, h = self.box
        k = self.misses + 1
        return (round(x + k * self.velocity[0]), round(y + k * self.velocity[1]), w, h)


class TrackingFinder:
    """Reduced-scale detection with refinement every few frames, local tracking in between.

    Args:
        detect_width: width of the frame for full passes, pixels (frames narrower than this
            are used as they are). Default 480.
        every: a full pass every this many frames while faces are tracked. Default 10.
        min_face: smallest face found by full passes, as a fraction of the frame height
            (Haar box side). Default 0.08.
        roi_face: face width the local search works at, pixels. Default 48.
        roi_margin: the search region extends this many face widths beyond the last box on
            each side. Default 0.5.
        coast: frames a lost track keeps its last box. Default 2.
        min_neighbors: the cascade's minNeighbors for full passes and local searches.
            Default (4, 3).
    """

    name = "tracking"

    def __init__(
        self,
        *,
        detect_width: int = 480,
        every: int = 10,
        min_face: float = 0.08,
        roi_face: int = 48,
        roi_margin: float = 0.5,
        coast: int = 2,
        min_neighbors: tuple[int, int] = (4, 3),
    ) -> None:
        if detect_width < 64 or every < 1 or roi_face < 24 or coast < 0 or not 0 < min_face < 1:
            raise ConfigError(
                f"tracking settings out of range: detect_width={detect_width} (>= 64), "
                f"every={every} (>= 1), roi_face={roi_face} (>= 24), coast={coast} (>= 0), "
                f"min_face={min_face} (in (0, 1))."
            )
        from edgecheck.data.video import require_cv2

        self.cv2 = require_cv2()
        self.cascade = load_cascade()
        self.detect_width = detect_width
        self.every = every
        self.min_face = min_face
        self.roi_face = roi_face
        self.roi_margin = roi_margin
        self.coast = coast
        self.min_neighbors = min_neighbors
        self.clock = StageClock()
        self.tracks: list[_Track] = []
        self._lost: list[tuple[int, _Track]] = []
        self._next_id = 0
        self._frame = 0
        self.full_passes = 0

    def _full_pass(self, gray: np.ndarray) -> list[Box]:
        cv2 = self.cv2
        t = time.perf_counter()
        h, w = gray.shape
        scale = min(1.0, self.detect_width / w)
        small = (
            gray
            if scale == 1.0
            else cv2.resize(
                gray, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA
            )
        )
        m = max(24, int(self.min_face * h * scale))
        boxes = self.cascade.detectMultiScale(
            small, scaleFactor=1.1, minNeighbors=self.min_neighbors[0], minSize=(m, m)
        )
        self.full_passes += 1
        self.clock.add("detect", t)
        return [
            (int(x / scale), int(y / scale), int(bw / scale), int(bh / scale))
            for x, y, bw, bh in boxes
        ]

    def _local(self, gray: np.ndarray, box: Box, stage: str) -> Box | None:
        """The face near `box`, searched at ``roi_face`` scale; None when not found."""
        cv2 = self.cv2
        t = time.perf_counter()
        x, y, w, h = box
        fh, fw = gray.shape
        pad = int(self.roi_margin * w) + 2
        x0, y0 = max(0, x - pad), max(0, y - pad)
        x1, y1 = min(fw, x + w + pad), min(fh, y + h + pad)
        roi = gray[y0:y1, x0:x1]
        scale = min(1.0, self.roi_face / max(w, 1))
        if scale < 1.0:
            roi = cv2.resize(
                roi, (max(1, round(roi.shape[1] * scale)), max(1, round(roi.shape[0] * scale))),
                interpolation=cv2.INTER_AREA,
            )  # fmt: skip
        side = w * scale
        lo, hi = max(20, int(0.7 * side)), max(21, int(1.4 * side) + 1)
        found = self.cascade.detectMultiScale(
            roi, scaleFactor=1.08, minNeighbors=self.min_neighbors[1], minSize=(lo, lo),
            maxSize=(hi, hi),
        )  # fmt: skip
        self.clock.add(stage, t)
        if len(found) == 0:
            return None
        cand = [
            (x0 + int(bx / scale), y0 + int(by / scale), int(bw / scale), int(bh / scale))
            for bx, by, bw, bh in found
        ]
        return max(cand, key=lambda c: iou(c, box))

    def find(self, gray: np.ndarray) -> list[Face]:
        frame = self._frame
        self._frame += 1
        faces: list[Face] = []
        seen: set[int] = set()
        if not self.tracks or frame % self.every == 0:
            for det in self._full_pass(gray):
                refined = self._local(gray, det, "detect") or det
                match = max(self.tracks, key=lambda tr: iou(tr.predicted(), refined), default=None)
                if (
                    match is not None
                    and iou(match.predicted(), refined) >= 0.3
                    and match.id not in seen
                ):
                    match.observe(refined, match.misses + 1)
                    tr = match
                else:
                    tr = _Track(self._revived_id(refined, frame), refined)
                    self.tracks.append(tr)
                seen.add(tr.id)
                faces.append(Face(tr.box, tr.id, "detect"))
        for tr in list(self.tracks):
            if tr.id in seen:
                continue
            guess = tr.predicted()
            found = self._local(gray, guess, "track")
            if found is not None:
                tr.observe(found, tr.misses + 1)
                faces.append(Face(found, tr.id, "track"))
            elif tr.misses < self.coast:
                faces.append(Face(guess, tr.id, "coast"))
                tr.misses += 1
            else:
                self.tracks.remove(tr)
                self._lost.append((frame, tr))
        return faces

    def _revived_id(self, box: Box, frame: int) -> int:
        """The id of a track lost near `box` in the last ``2 * every`` frames, else a new id.

        A face that the cascade misses for a few frames (a heavy blur, a hand) and finds
        again is the same face: its frames compete for one selection.
        """
        self._lost = [(f, tr) for f, tr in self._lost if frame - f <= 2 * self.every]
        match = max(self._lost, key=lambda ft: iou(ft[1].box, box), default=None)
        if match is not None and iou(match[1].box, box) >= 0.3:
            self._lost.remove(match)
            return match[1].id
        self._next_id += 1
        return self._next_id - 1

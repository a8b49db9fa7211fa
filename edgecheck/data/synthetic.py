"""Deterministic face-quality data: real face crops, procedural variety, scored degradations.

Every image starts from one of the two real face crops shipped in ``faces.npz`` (see
``PROVENANCE.md``) and is drawn independently from its own random stream,
``SeedSequence([DATA_VERSION_KEY, stream, seed, index])``, so image ``i`` is the same whatever
else is generated, in whatever order, on any machine (numpy's PCG64 and the float64 arithmetic
below are platform independent; the final rounding to uint8 makes the images exact).

Per image, in this order:

1. **Variety that does not change the score**: which face, a horizontal flip, in-plane
   rotation (roll) within ±15°, scale 0.85-1.15, horizontal foreshortening 0.8-1.0 (a stand-in
   for yaw that one frontal photo allows), a crop offset within ±4 px, and illumination: a gain
   0.85-1.15 and a linear side-light gradient of up to ±12 %.
2. **Degradations**, each present with probability 1/2 and then with a strength drawn
   uniformly from [0, 1] (exposure also picks a sign, under or over):

   - occlusion ``o``: a flat rectangle of random gray level covering ``0.5 o`` of the image,
     of aspect ratio 0.5-2, placed so that it overlaps the middle of the face;
   - exposure ``e`` in [-1, 1]: the image is multiplied by ``2 ** (2.5 e)`` and clipped to
     [0, 1] (over-exposure burns highlights, under-exposure crushes the shadows into few levels);
   - blur ``b``: a Gaussian blur of sigma ``2.5 b`` pixels;
   - noise ``n``: additive Gaussian noise of standard deviation ``0.15 n`` (of full scale).

   The image is then rounded to 8 bits.
3. **The score** (`quality_score`) is the product of one factor per degradation::

       score = (1 - 0.75 b) (1 - 0.60 n) (1 - 0.70 |e|) (1 - 0.60 o)

   in [0.012, 1]: 1 for an undegraded face, and each degradation alone can take at most
   75 / 60 / 70 / 60 % off. About one image in sixteen is undegraded.

The paper's split (Section IV-D-2): 2673 images, of which 100 calibrate the quantization and
2573 measure it; `calibration_faces` and `test_faces` give them (stream ``"paper"``). Training
images come from stream ``"train"``, so no evaluation image is ever trained on.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

import numpy as np

from edgecheck.data.faceset import FaceSet
from edgecheck.errors import ConfigError

DATA_VERSION = "faces-v1"
"""Changes whenever the generator, its parameters or the shipped face crops change."""

DATA_VERSION_KEY = 1  # the integer form of DATA_VERSION that seeds the random streams
IMAGE_SIZE = 64
N_TOTAL = 2673
N_CALIBRATION = 100
N_TEST = N_TOTAL - N_CALIBRATION  # 2573
STREAMS: dict[str, int] = {"paper": 1, "train": 2}

# Score weights: how much quality each degradation at full strength takes away.
WEIGHTS: dict[str, float] = {"blur": 0.75, "noise": 0.60, "exposure": 0.70, "occlusion": 0.60}
MAX_BLUR_SIGMA = 2.5  # pixels at 64x64
MAX_NOISE_STD = 0.15  # fraction of full scale
MAX_EXPOSURE_STOPS = 2.5
MAX_OCCLUDED_AREA = 0.5
P_DEGRADATION = 0.5


@dataclass(frozen=True)
class FaceParams:
    """Everything that decides one generated image (see the module docstring for ranges).

    Attributes:
        face: which shipped face crop (``"astronaut"`` or ``"camera"``).
        flip: mirrored left-right.
        rotation: in-plane rotation, degrees.
        scale: zoom (> 1 shows the face larger).
        squeeze: horizontal foreshortening factor (1 = frontal).
        shift_x, shift_y: crop offset in output pixels.
        gain: illumination gain (not scored).
        gradient: side-light gradient amplitude, fraction of brightness (not scored).
        gradient_angle: direction of the gradient, radians.
        blur, noise, occlusion: degradation strengths in [0, 1].
        exposure: exposure error in [-1, 1] (negative: under-exposed).
        occluder: (top, left, height, width) in pixels and the gray level (0-1); zero size
            when there is no occlusion.
    """

    face: str
    flip: bool
    rotation: float
    scale: float
    squeeze: float
    shift_x: float
    shift_y: float
    gain: float
    gradient: float
    gradient_angle: float
    blur: float
    noise: float
    exposure: float
    occlusion: float
    occluder: tuple[int, int, int, int, float]

    @property
    def score(self) -> float:
        """The quality score of these degradations (`quality_score`)."""
        return quality_score(
            blur=self.blur, noise=self.noise, exposure=self.exposure, occlusion=self.occlusion
        )

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "score": self.score}


def quality_score(
    *, blur: float = 0.0, noise: float = 0.0, exposure: float = 0.0, occlusion: float = 0.0
) -> float:
    """The known quality score of an image with these degradation strengths.

    ``score = (1 - 0.75 blur) (1 - 0.60 noise) (1 - 0.70 |exposure|) (1 - 0.60 occlusion)``.

    Args:
        blur: blur strength in [0, 1] (sigma = 2.5 px at full strength). Default 0.
        noise: noise strength in [0, 1] (std = 0.15 of full scale at full strength). Default 0.
        exposure: exposure error in [-1, 1] (±2.5 stops at full strength). Default 0.
        occlusion: occlusion strength in [0, 1] (half the image at full strength). Default 0.

    Returns:
        The score in [0.012, 1]; 1 means undegraded.

    Raises:
        ConfigError: a strength outside its range.
    """
    for name, value, low in (
        ("blur", blur, 0.0), ("noise", noise, 0.0), ("exposure", exposure, -1.0),
        ("occlusion", occlusion, 0.0),
    ):  # fmt: skip
        if not (low <= value <= 1.0):
            raise ConfigError(f"degradation {name}={value!r} is outside [{low:g}, 1].")
    return (
        (1.0 - WEIGHTS["blur"] * blur)
        * (1.0 - WEIGHTS["noise"] * noise)
        * (1.0 - WEIGHTS["exposure"] * abs(exposure))
        * (1.0 - WEIGHTS["occlusion"] * occlusion)
    )


@functools.lru_cache(maxsize=1)
def base_faces() -> dict[str, np.ndarray]:
    """The shipped 128x128 uint8 face crops by name (read-only arrays; see PROVENANCE.md)."""
    ref = resources.files("edgecheck.data").joinpath("faces.npz")
    with ref.open("rb") as fh, np.load(fh, allow_pickle=False) as npz:
        faces = {name: np.array(npz[name]) for name in sorted(npz.files)}
    for array in faces.values():
        array.setflags(write=False)
    return faces


def _rng(stream: str, seed: int, index: int) -> np.random.Generator:
    if stream not in STREAMS:
        raise ConfigError(f"unknown data stream {stream!r}; use one of {', '.join(STREAMS)}.")
    entropy = [DATA_VERSION_KEY, STREAMS[stream], seed, index]
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(entropy)))


def draw_params(rng: np.random.Generator, faces: Sequence[str]) -> FaceParams:
    """Draw one image's parameters; the order of draws is part of `DATA_VERSION`."""
    face = faces[int(rng.integers(len(faces)))]
    flip = bool(rng.random() < 0.5)
    rotation = float(rng.uniform(-15.0, 15.0))
    scale = float(rng.uniform(0.85, 1.15))
    squeeze = float(rng.uniform(0.8, 1.0))
    shift_x, shift_y = (float(v) for v in rng.uniform(-4.0, 4.0, size=2))
    gain = float(rng.uniform(0.85, 1.15))
    gradient = float(rng.uniform(-0.12, 0.12))
    gradient_angle = float(rng.uniform(0.0, 2.0 * math.pi))
    # One draw of presence and one of strength per degradation, always made, so that turning
    # one degradation off does not shift the random numbers of the others.
    present = rng.random(4) < P_DEGRADATION
    strength = rng.random(4)
    sign = 1.0 if rng.random() < 0.5 else -1.0
    blur, noise, exposure, occlusion = (
        float(s) if p else 0.0 for p, s in zip(present, strength, strict=True)
    )
    exposure *= sign
    occ_aspect = float(np.exp(rng.uniform(math.log(0.5), math.log(2.0))))
    occ_center = rng.uniform(20.0, 44.0, size=2)
    occ_gray = float(rng.uniform(0.0, 1.0))
    area = MAX_OCCLUDED_AREA * occlusion * IMAGE_SIZE * IMAGE_SIZE
    height = min(IMAGE_SIZE, round(math.sqrt(area * occ_aspect)))
    width = min(IMAGE_SIZE, round(area / height)) if height else 0
    top = int(np.clip(round(occ_center[0] - height / 2), 0, IMAGE_SIZE - height))
    left = int(np.clip(round(occ_center[1] - width / 2), 0, IMAGE_SIZE - width))
    return FaceParams(
        face=face, flip=flip, rotation=rotation, scale=scale, squeeze=squeeze,
        shift_x=shift_x, shift_y=shift_y, gain=gain, gradient=gradient,
        gradient_angle=gradient_angle, blur=blur, noise=noise, exposure=exposure,
        occlusion=occlusion, occluder=(top, left, height, width, occ_gray),
    )  # fmt: skip


def _gaussian_kernel(sigma: float) -> np.ndarray:
    radius = max(1, math.ceil(3.0 * sigma))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    k = np.exp(-0.5 * (x / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(image: np.ndarray, sigma: float) -> np.ndarray:
    """Separable Gaussian blur with mirrored edges (float64 in, float64 out); sigma < 0.2 is a no-op."""
    if sigma < 0.2:
        return image
    k = _gaussian_kernel(sigma)
    r = len(k) // 2
    out = image
    for axis in (0, 1):
        pad = [(0, 0), (0, 0)]
        pad[axis] = (r, r)
        padded = np.pad(out, pad, mode="reflect")
        n = out.shape[axis]
        acc = np.zeros_like(out)
        for i, w in enumerate(k):
            acc += w * (padded[i : i + n] if axis == 0 else padded[:, i : i + n])
        out = acc
    return out


def _reflect(index: np.ndarray, n: int) -> np.ndarray:
    period = 2 * (n - 1)
    index = np.abs(index) % period
    return np.where(index >= n, period - index, index)


def _warp(source: np.ndarray, p: FaceParams) -> np.ndarray:
    """Sample the 64x64 view of `source` that `p`'s pose, scale, flip and offset describe."""
    n_src = source.shape[0]
    step = (n_src / IMAGE_SIZE) / p.scale  # source pixels per output pixel
    # Low-pass before sampling, as a camera's optics would, so that zooming out does not alias.
    smoothed = gaussian_blur(source, 0.5 * step)
    c_out = (IMAGE_SIZE - 1) / 2.0
    v, u = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(np.float64)
    x = (u - c_out - p.shift_x) * step / p.squeeze
    y = (v - c_out - p.shift_y) * step
    if p.flip:
        x = -x
    theta = math.radians(p.rotation)
    cos, sin = math.cos(theta), math.sin(theta)
    c_src = (n_src - 1) / 2.0
    xs = c_src + cos * x - sin * y
    ys = c_src + sin * x + cos * y
    x0 = np.floor(xs)
    y0 = np.floor(ys)
    fx = xs - x0
    fy = ys - y0
    x0i, y0i = x0.astype(np.int64), y0.astype(np.int64)
    xa, xb = _reflect(x0i, n_src), _reflect(x0i + 1, n_src)
    ya, yb = _reflect(y0i, n_src), _reflect(y0i + 1, n_src)
    top = smoothed[ya, xa] * (1 - fx) + smoothed[ya, xb] * fx
    bottom = smoothed[yb, xa] * (1 - fx) + smoothed[yb, xb] * fx
    return top * (1 - fy) + bottom * fy


def render(p: FaceParams, rng: np.random.Generator) -> np.ndarray:
    """Render one 64x64 uint8 image for `p`; `rng` supplies the sensor noise."""
    source = base_faces()[p.face].astype(np.float64) / 255.0
    img = _warp(source, p)
    top, left, height, width, gray = p.occluder
    if height and width:
        img[top : top + height, left : left + width] = gray
    v, u = np.mgrid[0:IMAGE_SIZE, 0:IMAGE_SIZE].astype(np.float64)
    ramp = (math.cos(p.gradient_angle) * (u - 31.5) + math.sin(p.gradient_angle) * (v - 31.5)) / 32
    img = img * p.gain * (1.0 + p.gradient * ramp)
    img = np.clip(img * 2.0 ** (MAX_EXPOSURE_STOPS * p.exposure), 0.0, 1.0)
    img = gaussian_blur(img, MAX_BLUR_SIGMA * p.blur)
    # Drawn even when noise is off, so every image consumes the same random numbers.
    noise = rng.standard_normal((IMAGE_SIZE, IMAGE_SIZE))
    img = img + MAX_NOISE_STD * p.noise * noise
    return np.clip(np.round(img * 255.0), 0, 255).astype(np.uint8)


def generate_faces(count: int, *, stream: str = "train", seed: int = 0, start: int = 0) -> FaceSet:
    """Generate `count` scored face images.

    Args:
        count: how many images.
        stream: ``"train"`` (training images) or ``"paper"`` (the 2673 evaluation images);
            the streams never share an image. Default ``"train"``.
        seed: selects an independent data set within the stream. Default 0.
        start: index of the first image; image ``i`` is the same whatever `start` and `count`
            (so ``generate_faces(10, start=5)`` equals images 5-14 of ``generate_faces(15)``).

    Returns:
        A `FaceSet` of uint8 images (N, 64, 64) with their scores and parameters.
    """
    if count < 0 or start < 0:
        raise ConfigError(f"count ({count}) and start ({start}) must be >= 0.")
    faces = sorted(base_faces())
    images = np.empty((count, IMAGE_SIZE, IMAGE_SIZE), dtype=np.uint8)
    params: list[FaceParams] = []
    for j in range(count):
        index = start + j
        rng = _rng(stream, seed, index)
        p = draw_params(rng, faces)
        images[j] = render(p, rng)
        params.append(p)
    scores = np.array([p.score for p in params], dtype=np.float32)
    names = tuple(f"{DATA_VERSION}/{stream}/{seed}/{start + j:05d}" for j in range(count))
    source = f"edgecheck {DATA_VERSION} stream '{stream}' seed {seed}"
    return FaceSet(images=images, scores=scores, names=names, source=source, params=tuple(params))


@functools.lru_cache(maxsize=2)
def paper_faces(seed: int = 0) -> FaceSet:
    """The paper's 2673 evaluation images (stream ``"paper"``), cached; read-only arrays."""
    faces = generate_faces(N_TOTAL, stream="paper", seed=seed)
    faces.images.setflags(write=False)
    if faces.scores is not None:
        faces.scores.setflags(write=False)
    return faces


def calibration_faces(seed: int = 0) -> FaceSet:
    """The 100 calibration images of the paper's split (the first 100 of `paper_faces`)."""
    return paper_faces(seed)[:N_CALIBRATION]


def test_faces(seed: int = 0) -> FaceSet:
    """The 2573 test images of the paper's split (the other 2573 of `paper_faces`)."""
    return paper_faces(seed)[N_CALIBRATION:]


# pytest would otherwise collect `test_faces` from any test module that imports it by name.
test_faces.__test__ = False  # type: ignore[attr-defined]

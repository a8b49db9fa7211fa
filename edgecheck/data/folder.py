"""Load a user's folder of face images (and their quality scores, where given).

A folder holds one image per file: ``.npy`` (a 2-D uint8 array, or float in [0, 1]) or, with
Pillow installed, ``.png``, ``.pgm``, ``.bmp``, ``.jpg``/``.jpeg``, ``.tif``/``.tiff`` (color
images are converted to grayscale with Pillow's ITU-R 601 luma). Every image must already have
the expected size (64x64 for the FQA CNN): nothing is resized silently, since resizing changes
exactly the sharpness a quality score measures.

Scores, when given, are in ``scores.csv`` in the same folder, with a header and the columns
``file,score``; every image needs a score in [0, 1] and every row must name an image.
"""

from __future__ import annotations

import csv
import math
import os
from pathlib import Path

import numpy as np

from edgecheck._imports import is_available
from edgecheck.data.faceset import DataError, FaceSet
from edgecheck.errors import MissingDependencyError

NPY_SUFFIXES = (".npy",)
PIL_SUFFIXES = (".png", ".pgm", ".bmp", ".jpg", ".jpeg", ".tif", ".tiff")
IMAGE_SUFFIXES = NPY_SUFFIXES + PIL_SUFFIXES
SCORES_FILE = "scores.csv"


def _what_is_expected(shape: tuple[int, int]) -> str:
    return (
        f"{shape[0]}x{shape[1]} grayscale images ({', '.join(IMAGE_SUFFIXES)}; the FQA CNN's "
        f"input is 1x{shape[0]}x{shape[1]})"
    )


def _read_npy(path: Path) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: not a readable .npy array ({exc}).") from exc
    if array.ndim == 3 and array.shape[0] == 1:
        array = array[0]
    if array.dtype == np.uint8:
        return np.asarray(array)
    if np.issubdtype(array.dtype, np.floating):
        if array.size and not (np.isfinite(array).all() and 0 <= array.min() <= array.max() <= 1):
            raise DataError(
                f"{path}: float images must hold finite values in [0, 1] "
                f"(got min {np.nanmin(array):g}, max {np.nanmax(array):g}); "
                f"save uint8 0-255 or scale to [0, 1]."
            )
        return np.round(array * 255.0).astype(np.uint8)
    raise DataError(f"{path}: dtype {array.dtype} is not an image; save uint8 or float in [0, 1].")


def _read_pil(path: Path) -> np.ndarray:
    if not is_available("PIL"):
        raise MissingDependencyError(
            f"reading {path} needs the Pillow package, which is not installed; install it "
            f"with 'pip install pillow', or save the images as .npy arrays."
        )
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            if im.mode not in ("L", "I;16", "I", "F"):
                im = im.convert("L")
            array = np.asarray(im)
    except (OSError, UnidentifiedImageError) as exc:
        raise DataError(f"{path}: not a readable image ({exc}).") from exc
    if array.dtype != np.uint8:
        raise DataError(
            f"{path}: a {array.dtype} image (16-bit or float); save it as 8-bit grayscale."
        )
    return array


def _read_scores(path: Path, names: list[str]) -> np.ndarray:
    wanted = set(names)
    scores: dict[str, float] = {}
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.DictReader(fh)
        if reader.fieldnames is None or not {"file", "score"} <= set(reader.fieldnames):
            raise DataError(
                f"{path}: needs a header with the columns 'file' and 'score' "
                f"(got {reader.fieldnames}); e.g. 'file,score' then 'face001.png,0.82'."
            )
        for line, row in enumerate(reader, start=2):
            name = (row["file"] or "").strip()
            raw = (row["score"] or "").strip()
            if name not in wanted:
                raise DataError(
                    f"{path}, line {line}: file {name!r} is not an image in {path.parent}; "
                    f"remove the row or add the image."
                )
            try:
                value = float(raw)
            except ValueError:
                value = math.nan
            if not (0.0 <= value <= 1.0):
                raise DataError(
                    f"{path}, line {line}: score {raw!r} for {name!r} must be a number in [0, 1]."
                )
            if name in scores:
                raise DataError(f"{path}, line {line}: a second score for {name!r}.")
            scores[name] = value
    missing = [n for n in names if n not in scores]
    if missing:
        shown = ", ".join(missing[:5]) + (" ..." if len(missing) > 5 else "")
        raise DataError(
            f"{path}: no score for {len(missing)} image(s) ({shown}); every image in "
            f"{path.parent} needs a row 'file,score', or remove {SCORES_FILE} to load without scores."
        )
    return np.array([scores[n] for n in names], dtype=np.float32)


def load_face_folder(
    folder: str | os.PathLike[str],
    *,
    shape: tuple[int, int] = (64, 64),
    scores: bool | None = None,
) -> FaceSet:
    """Load every image of `folder` (sorted by file name), with scores from ``scores.csv``.

    Args:
        folder: the folder; sub-folders and files of other types (and hidden files) are ignored.
        shape: the (height, width) every image must have. Default (64, 64), the FQA input.
        scores: ``True``: ``scores.csv`` must exist; ``False``: ignore it; ``None`` (default):
            use it when present.

    Returns:
        A `FaceSet` whose names are the file names.

    Raises:
        DataError: the folder is missing or holds no images, an image has the wrong size or
            cannot be read, or ``scores.csv`` is malformed or incomplete; every message names
            the folder (or the file) and the expected shape or format.
        MissingDependencyError: a non-.npy image and Pillow is not installed.
    """
    root = Path(folder)
    expected = _what_is_expected(shape)
    if not root.exists():
        raise DataError(f"image folder {root} does not exist; it should hold {expected}.")
    if not root.is_dir():
        raise DataError(f"{root} is not a folder; pass a folder that holds {expected}.")
    files = sorted(
        p for p in root.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_SUFFIXES
    )  # fmt: skip
    if not files:
        others = sorted(p.name for p in root.iterdir() if not p.name.startswith("."))
        found = f" (found only: {', '.join(others[:5])})" if others else " (it is empty)"
        raise DataError(f"image folder {root} holds no images{found}; it should hold {expected}.")
    images = []
    for path in files:
        array = _read_npy(path) if path.suffix.lower() in NPY_SUFFIXES else _read_pil(path)
        if array.shape != shape:
            got = "x".join(str(d) for d in array.shape)
            raise DataError(
                f"{path}: image is {got} but the folder {root} must hold {expected}; "
                f"crop or resize the images to {shape[0]}x{shape[1]} first."
            )
        images.append(array)
    names = [p.name for p in files]
    score_path = root / SCORES_FILE
    if scores is True and not score_path.is_file():
        raise DataError(
            f"{root} has no {SCORES_FILE}; add one with the columns file,score "
            f"(one row per image, scores in [0, 1])."
        )
    values = (
        _read_scores(score_path, names) if scores is not False and score_path.is_file() else None
    )
    return FaceSet(
        images=np.stack(images).astype(np.uint8, copy=False),
        scores=values,
        names=tuple(names),
        source=f"image folder {root}",
    )

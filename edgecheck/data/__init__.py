"""Face-quality data for the FQA CNN: a deterministic generator and a folder loader.

* `generate_faces` / `paper_faces` / `calibration_faces` / `test_faces`: 64x64 grayscale
  crops of real faces (shipped in ``faces.npz``, see ``PROVENANCE.md``) with procedural
  variety and scored degradations; the score formula is `quality_score`. The paper's split is
  2673 images: 100 for calibration, 2573 for testing (`N_CALIBRATION`, `N_TEST`).
* `load_face_folder`: a user's own folder of images, with ``scores.csv`` where given.
* `edgecheck.data.video` (not imported here): synthetic video clips for the FQA pipeline with
  per-frame ground truth (`write_clip`), and `open_video` for a user's own video files.

`DATA_VERSION` names the generator; weights trained on it record it in their provenance.
This package needs numpy only (Pillow for image files other than ``.npy``).
"""

from __future__ import annotations

from edgecheck.data.faceset import DataError, FaceSet
from edgecheck.data.folder import IMAGE_SUFFIXES, SCORES_FILE, load_face_folder
from edgecheck.data.synthetic import (
    DATA_VERSION,
    IMAGE_SIZE,
    N_CALIBRATION,
    N_TEST,
    N_TOTAL,
    FaceParams,
    base_faces,
    calibration_faces,
    generate_faces,
    paper_faces,
    quality_score,
    test_faces,
)

__all__ = [
    "DATA_VERSION",
    "IMAGE_SIZE",
    "IMAGE_SUFFIXES",
    "N_CALIBRATION",
    "N_TEST",
    "N_TOTAL",
    "SCORES_FILE",
    "DataError",
    "FaceParams",
    "FaceSet",
    "base_faces",
    "calibration_faces",
    "generate_faces",
    "load_face_folder",
    "paper_faces",
    "quality_score",
    "test_faces",
]

"""edgecheck.data: the deterministic face-quality generator and the folder loader."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from edgecheck.data import (
    DATA_VERSION,
    N_CALIBRATION,
    N_TEST,
    N_TOTAL,
    DataError,
    base_faces,
    generate_faces,
    load_face_folder,
    quality_score,
)
from edgecheck.data.synthetic import gaussian_blur
from edgecheck.errors import ConfigError, EdgecheckError


def test_paper_split_sizes():
    assert (N_TOTAL, N_CALIBRATION, N_TEST) == (2673, 100, 2573)
    assert DATA_VERSION == "faces-v1"


def test_shipped_faces_are_real_128px_grayscale_crops():
    faces = base_faces()
    assert sorted(faces) == ["astronaut", "camera"]
    for image in faces.values():
        assert image.shape == (128, 128) and image.dtype == np.uint8
        assert image.std() > 30  # a photograph, not a flat placeholder


def test_same_seed_same_images_and_images_independent_of_batching():
    a = generate_faces(12, seed=3)
    b = generate_faces(12, seed=3)
    np.testing.assert_array_equal(a.images, b.images)
    np.testing.assert_array_equal(a.scores, b.scores)
    tail = generate_faces(5, seed=3, start=7)
    np.testing.assert_array_equal(tail.images, a.images[7:])
    assert tail.names == a.names[7:]


def test_different_seeds_and_streams_differ():
    a = generate_faces(4, seed=0)
    assert not np.array_equal(a.images, generate_faces(4, seed=1).images)
    assert not np.array_equal(a.images, generate_faces(4, stream="paper").images)


def test_generated_images_and_scores_are_in_range():
    faces = generate_faces(64, stream="paper")
    assert faces.images.shape == (64, 64, 64) and faces.images.dtype == np.uint8
    assert faces.scores is not None
    assert ((faces.scores > 0) & (faces.scores <= 1)).all()
    assert faces.scores.std() > 0.1  # scores actually vary
    x = faces.inputs()
    assert x.shape == (64, 1, 64, 64) and x.dtype == np.float32 and 0 <= x.min() <= x.max() <= 1
    for p, s in zip(faces.params, faces.scores, strict=True):
        assert p.score == pytest.approx(float(s), abs=1e-6)


def test_score_formula():
    assert quality_score() == 1.0
    assert quality_score(blur=1.0) == pytest.approx(0.25)
    assert quality_score(exposure=-1.0) == quality_score(exposure=1.0) == pytest.approx(0.30)
    both = quality_score(noise=0.5, occlusion=0.5)
    assert both == pytest.approx((1 - 0.3) * (1 - 0.3))
    with pytest.raises(ConfigError, match="blur"):
        quality_score(blur=1.5)


@settings(max_examples=20)
@given(
    blur=st.floats(0, 1), noise=st.floats(0, 1), exposure=st.floats(-1, 1),
    occlusion=st.floats(0, 1), extra=st.floats(0, 1),
)  # fmt: skip
def test_score_decreases_with_every_degradation(blur, noise, exposure, occlusion, extra):
    base = quality_score(blur=blur, noise=noise, exposure=exposure, occlusion=occlusion)
    assert 0.012 - 1e-12 <= base <= 1.0
    worse = quality_score(
        blur=max(blur, extra), noise=noise, exposure=exposure, occlusion=occlusion
    )
    assert worse <= base + 1e-12


def test_blur_lowers_high_frequencies():
    rng = np.random.default_rng(0)
    image = rng.random((64, 64))
    blurred = gaussian_blur(image, 2.0)
    assert np.abs(np.diff(blurred, axis=1)).mean() < 0.2 * np.abs(np.diff(image, axis=1)).mean()
    assert gaussian_blur(image, 0.1) is image


def test_unknown_stream_is_an_error():
    with pytest.raises(ConfigError, match="stream"):
        generate_faces(1, stream="validation")


# --------------------------------------------------------------------------- folder loader


def _save_npy(folder, name, array):
    np.save(folder / name, array)


def test_folder_of_npy_images_with_scores(tmp_path):
    faces = generate_faces(3)
    for i, image in enumerate(faces.images):
        _save_npy(tmp_path, f"f{i}.npy", image)
    rows = "".join(f"f{i}.npy,{s:.4f}\n" for i, s in enumerate(faces.scores))
    (tmp_path / "scores.csv").write_text("file,score\n" + rows)
    (tmp_path / "notes.txt").write_text("ignored")
    loaded = load_face_folder(tmp_path)
    np.testing.assert_array_equal(loaded.images, faces.images)
    np.testing.assert_allclose(loaded.scores, faces.scores, atol=1e-4)
    assert loaded.names == ("f0.npy", "f1.npy", "f2.npy")


def test_folder_png_images_without_scores(tmp_path):
    pil = pytest.importorskip("PIL.Image")
    faces = generate_faces(2)
    for i, image in enumerate(faces.images):
        pil.fromarray(image).convert("RGB").save(tmp_path / f"{i}.png")
    loaded = load_face_folder(tmp_path)
    assert loaded.scores is None
    np.testing.assert_allclose(loaded.images.astype(int), faces.images.astype(int), atol=1)
    with pytest.raises(DataError, match=r"no quality scores.*scores\.csv"):
        loaded.require_scores()


def test_missing_folder_names_folder_and_expected_shape(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(DataError) as err:
        load_face_folder(missing)
    assert str(missing) in str(err.value) and "64x64" in str(err.value)
    assert isinstance(err.value, EdgecheckError)


def test_empty_folder_names_folder_and_expected_shape(tmp_path):
    with pytest.raises(DataError, match=r"holds no images \(it is empty\).*64x64") as err:
        load_face_folder(tmp_path)
    assert str(tmp_path) in str(err.value)


def test_wrong_size_image_names_file_folder_and_shape(tmp_path):
    _save_npy(tmp_path, "a.npy", np.zeros((64, 64), np.uint8))
    _save_npy(tmp_path, "b.npy", np.zeros((32, 48), np.uint8))
    with pytest.raises(DataError) as err:
        load_face_folder(tmp_path)
    message = str(err.value)
    assert "b.npy" in message and "32x48" in message and "64x64" in message
    assert str(tmp_path) in message


def test_bad_scores_are_named(tmp_path):
    _save_npy(tmp_path, "a.npy", np.zeros((64, 64), np.uint8))
    _save_npy(tmp_path, "b.npy", np.zeros((64, 64), np.uint8))
    scores = tmp_path / "scores.csv"
    scores.write_text("file,score\na.npy,0.5\n")
    with pytest.raises(DataError, match=r"no score for 1 image\(s\) \(b\.npy\)"):
        load_face_folder(tmp_path)
    scores.write_text("file,score\na.npy,0.5\nb.npy,1.7\n")
    with pytest.raises(DataError, match=r"line 3.*'1\.7'.*\[0, 1\]"):
        load_face_folder(tmp_path)
    scores.write_text("name,quality\n")
    with pytest.raises(DataError, match="'file' and 'score'"):
        load_face_folder(tmp_path)
    assert load_face_folder(tmp_path, scores=False).scores is None


def test_float_npy_outside_unit_range_is_rejected(tmp_path):
    _save_npy(tmp_path, "a.npy", np.full((64, 64), 3.0, np.float32))
    with pytest.raises(DataError, match=r"a\.npy.*\[0, 1\]"):
        load_face_folder(tmp_path)

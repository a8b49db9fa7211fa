"""edgecheck.bench.calibration: the one-core sgemm and memory-read yardstick of a machine."""

from __future__ import annotations

import pytest

from edgecheck.bench.calibration import (
    CALIBRATION_BAND,
    MIN_ROUNDS,
    Calibration,
    calibrate_once,
    clear_calibration_cache,
    differences,
    measure_read,
    measure_sgemm,
    robust_rate,
)


def test_differences_name_the_rates_beyond_the_band_stored_value_first():
    stored = Calibration(sgemm_gflops=101.0, read_gbps=22.0)
    assert differences(stored, Calibration(48.0, 21.0), 0.2) == ["sgemm 101 vs 48 GFLOP/s"]
    assert differences(stored, Calibration(101.0, 11.0), 0.2) == ["read 22 vs 11 GB/s"]
    # Symmetric: 20 % faster is as far as 20 % slower.
    assert differences(stored, Calibration(101.0 * 1.19, 22.0 / 1.19), 0.2) == []
    assert len(differences(stored, Calibration(101.0 * 1.21, 22.0 / 1.21), 0.2)) == 2
    assert 0.0 < CALIBRATION_BAND < 0.5


def test_robust_rate_is_the_median_of_the_fastest_half():
    # Two rounds disturbed by other jobs (1.0 and 4.0) do not move it.
    assert robust_rate([10.0, 9.0, 1.0, 10.5, 4.0, 9.5]) == pytest.approx(10.0)
    assert robust_rate([7.0]) == 7.0


@pytest.mark.parametrize(
    ("raw", "message"),
    [({"sgemm_gflops": 1.0}, "exactly 'sgemm_gflops' and 'read_gbps'"),
     ({"sgemm_gflops": "fast", "read_gbps": 1.0}, "'sgemm_gflops' must be a number"),
     ({"sgemm_gflops": 1.0, "read_gbps": 0}, "'read_gbps' must be > 0"),
     ([1.0, 2.0], "must be an object")],
)  # fmt: skip
def test_bad_stored_calibration_names_the_place_and_the_field(raw, message):
    with pytest.raises(ValueError, match=message) as info:
        Calibration.from_dict(raw, where="cpu.json, entry 3")
    assert str(info.value).startswith("cpu.json, entry 3: ")


def test_round_trip_keeps_four_digits():
    calibration = Calibration(sgemm_gflops=87.654321, read_gbps=22.345678)
    assert calibration.as_dict() == {"sgemm_gflops": 87.65, "read_gbps": 22.35}
    assert Calibration.from_dict(calibration.as_dict(), where="x") == Calibration(87.65, 22.35)
    assert calibration.text() == "sgemm 87.7 GFLOP/s, read 22.3 GB/s"


def test_short_real_measurements_give_plausible_rates():
    sgemm = measure_sgemm(seconds=0.05, size=256)
    read = measure_read(seconds=0.05, nbytes=32 * 2**20)
    assert len(sgemm) >= MIN_ROUNDS and len(read) >= MIN_ROUNDS
    # Any CPU of the last 15 years: one core between 0.5 and 1000 GFLOP/s, 0.5 and 500 GB/s.
    assert all(0.5 < r < 1000 for r in sgemm) and all(0.5 < r < 500 for r in read)


def test_calibrate_once_measures_once_per_fingerprint():
    clear_calibration_cache()
    first = calibrate_once("0123456789ab")
    assert calibrate_once("0123456789ab") is first
    assert first.sgemm_gflops > 0 and first.read_gbps > 0
    clear_calibration_cache()

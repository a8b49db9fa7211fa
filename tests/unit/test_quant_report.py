"""The quantization report section: its tables, verdicts and data, on a smaller test set."""

from __future__ import annotations

import logging

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxconverter_common")

logging.getLogger().setLevel(logging.ERROR)


def test_section_tables_verdicts_and_data(monkeypatch, edgecheck_claims, edgecheck_device):
    import edgecheck.data
    from edgecheck.evaluation import quantization

    full = edgecheck.data.test_faces
    # 300 of the 2573 test images keep this wiring test short; the accuracy tests use all.
    monkeypatch.setattr(edgecheck.data, "test_faces", lambda seed=0: full(seed)[:300])
    section = quantization.section(edgecheck_claims, edgecheck_device)
    assert "Quantization" in section.title and "IV-D-2" in section.title
    body = section.body
    for text in ("INT8 minmax", "INT8 entropy", "INT8 percentile", "FP16", "1.005 %",
                 "(expected: FAIL)", "parameter bytes"):  # fmt: skip
        assert text in body
    labels = [(r.claim.id, r.key) for r in section.results]
    assert labels == [
        ("quant.error", ""), ("quant.error", ""), ("quant.memory", "fp16"),
        ("quant.memory", "int8"),
    ]  # fmt: skip
    assert section.results[0].message.startswith("INT8 minmax")
    data = section.data
    assert [row["precision"] for row in data["errors"]] == ["int8", "int8", "int8", "fp16"]
    assert all(row["n_test"] == 300 and row["n_calibration"] in (0, 100) for row in data["errors"])
    assert data["control_blank_calibration"]["mean_relative_percent"] > 10
    assert data["memory_ratios"]["fp16"] == pytest.approx(0.5)
    assert 0.25 < data["memory_ratios"]["int8"] < 0.26

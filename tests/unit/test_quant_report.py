"""The quantization report section: its tables, verdicts and data, on a smaller test set.

The INT8 speed part is timed by tests/perf/test_quantization_speed.py; here it takes its
"not run here" branch (INT8 speed declared unsupported), which times nothing. Entropy
calibration uses a 512-bin histogram here (see the test)."""

from __future__ import annotations

import functools
import logging

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxconverter_common")

logging.getLogger().setLevel(logging.ERROR)


def test_experiments_run_in_report_order():
    from edgecheck.evaluation import (
        experiments,
        parallel,
        pipeline,
        pruning,
        quantization,
        table6,
    )  # fmt: skip

    assert experiments() == {
        "macs": table6.section, "parallel": parallel.section,
        "quantization": quantization.section, "pruning": pruning.section,
        "pipeline": pipeline.section,
    }  # fmt: skip


def test_section_tables_verdicts_and_data(monkeypatch, edgecheck_claims, edgecheck_device):
    import edgecheck.data
    import edgecheck.quantize
    from edgecheck.evaluation import quantization

    full = edgecheck.data.test_faces
    # 300 of the 2573 test images keep this wiring test short; the accuracy tests use all.
    monkeypatch.setattr(edgecheck.data, "test_faces", lambda seed=0: full(seed)[:300])
    real_unmet = edgecheck.quantize.speed_unmet

    def no_int8_dot(precision, device, **kw):
        return (
            ["no INT8 dot products (test)"]
            if precision == "int8"
            else real_unmet(precision, device, **kw)
        )

    monkeypatch.setattr(edgecheck.quantize, "speed_unmet", no_int8_dot)
    # Entropy calibration over 512 histogram bins instead of TensorRT's 2048 (the report's):
    # onnxruntime's KL threshold search is Python and grows with bins^2; on the FQA CNN with
    # the 100 calibration images it took 9.3 s at 2048 bins and 1.7 s at 512 (2-core Xeon).
    # The 2048-bin default runs in tests/unit/test_quant_metrics.py (entropy_ranges' tail
    # clipping, quantize_int8 from a folder); here only the section's wiring is checked.
    monkeypatch.setattr(edgecheck.quantize, "quantize_int8",
                        functools.partial(edgecheck.quantize.quantize_int8, entropy_bins=512))  # fmt: skip
    section = quantization.section(edgecheck_claims, edgecheck_device)
    assert (
        "Quantization" in section.title and "IV-D-2" in section.title and "Fig. 4" in section.title
    )
    body = section.body
    for text in ("INT8 minmax", "INT8 entropy", "INT8 percentile", "FP16", "1.005 %",
                 "(expected: FAIL)", "parameter bytes"):  # fmt: skip
        assert text in body
    labels = [(r.claim.id, r.key) for r in section.results]
    assert labels == [
        ("quant.error", ""), ("quant.error", ""), ("quant.int8.fidelity", "deployed"),
        ("quant.error", "deployed"), ("quant.memory", "fp16"),
        ("quant.memory", "int8"), ("quant.int8.speedup", "b1"), ("quant.int8.speedup", "b2"),
        ("quant.int8.speedup", "b4"), ("quant.int8.speedup", "trend"),
    ]  # fmt: skip
    speed = section.results[6:]
    assert all(r.verdict == "not run here" and "no INT8 dot products (test)" in r.message
               for r in speed)  # fmt: skip
    assert "INT8 speed (IV-D-3, Fig. 4)" in body and section.figures == []
    assert section.results[0].message.startswith("INT8 minmax")
    data = section.data
    assert [row["precision"] for row in data["errors"]] == ["int8", "int8", "int8", "fp16"]
    assert all(row["n_test"] == 300 and row["n_calibration"] in (0, 100) for row in data["errors"])
    assert data["control_blank_calibration"]["mean_relative_percent"] > 10
    fidelity = data["int8_fidelity"]
    assert "kernels vs the exact model" in body and "for TensorRT" in body
    assert fidelity["deployed"]["gap_percent"] < fidelity["deployed"]["exact_percent"]
    assert fidelity["tensorrt_exact_percent"] > 0
    assert data["memory_ratios"]["fp16"] == pytest.approx(0.5)
    assert 0.25 < data["memory_ratios"]["int8"] < 0.26

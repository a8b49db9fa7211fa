"""The quantization report section: its tables, verdicts and data, on a smaller test set.

The INT8 speed part is timed by tests/perf/test_quantization_speed.py; here it takes its
"not applicable" branch (INT8 speed declared unsupported), with VGG16's preparation and timing
replaced by fixed numbers (the real ones: the perf test). Entropy calibration uses a 512-bin
histogram here (see the test)."""

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


def _fixed_vgg16_timing(monkeypatch, tmp_path):
    """VGG16 measured anyway, as fixed timings: INT8 1.04x and FP16 0.93x over FP32."""
    from edgecheck.bench.stats import SampleStats
    from edgecheck.bench.timing import Measurement, speedup
    from edgecheck.evaluation import int8_speed

    def timing(name, seconds):
        return Measurement(name, 1, seconds, SampleStats(seconds), extra={"cores": 1})

    fp32 = [0.3 * (1 + 0.01 * k) for k in range(8)]
    f = timing("fp32-b1", fp32)
    cells = {
        p: timing(f"{p}-b1", [s / r for s in fp32]) for p, r in (("int8", 1.04), ("fp16", 0.93))
    }
    models = int8_speed.Int8Models(tmp_path / "a", tmp_path / "b", 4, 1.0, fp16=tmp_path / "c")

    def measure(models, *, batches, others=(), reference=None, **kw):
        assert tuple(batches) == (1,) and reference is False and tuple(others) == ("fp16",)
        cell = int8_speed.Int8Cell(1, f, cells["int8"], speedup(f, cells["int8"]))
        return int8_speed.Int8Speed(
            cells=[cell], trend=int8_speed.speedup_trend(cell, cell, int8_speed.quick_policy()), cores=1,
            backend="onnxruntime", device="cpu",
            others={"fp16": int8_speed.Int8Cell(1, f, cells["fp16"], speedup(f, cells["fp16"]))},
        )  # fmt: skip

    monkeypatch.setattr(int8_speed.measure, "prepare_vgg16_int8", lambda workdir: models)
    monkeypatch.setattr(int8_speed.measure, "measure_int8_speed", measure)


def test_section_tables_verdicts_and_data(
    monkeypatch, tmp_path, edgecheck_claims, edgecheck_device
):
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
    _fixed_vgg16_timing(monkeypatch, tmp_path)
    # Entropy calibration over 512 histogram bins instead of TensorRT's 2048 (the report's):
    # onnxruntime's KL threshold search is Python and grows with bins^2; on the FQA CNN with
    # the 100 calibration images it took 9.3 s at 2048 bins and 1.7 s at 512 (2-core Xeon).
    # The 2048-bin default runs in tests/unit/quantize/test_quant_metrics.py (entropy_ranges' tail
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
    # Not applicable, measured anyway: each ratio once, next to its reason.
    assert (
        "- INT8 speed claims: not applicable here: no INT8 dot products (test); measured "
        "anyway: VGG16 INT8 / FP32 throughput at batch 1, 1 core: **1.04x**"
    ) in body
    assert body.count("measured anyway: VGG16 INT8") == 1
    assert "- FP16 speed claims: not applicable here: " in body
    assert (
        "casting to FP32" in body and "FP16 / FP32 throughput at batch 1, 1 core: **0.93x**" in body
    )
    assert body.count("measured anyway: VGG16 FP16") == 1
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

"""Fig. 4's verdicts, trend and plot from fixed timings (the live timing: tests/perf/)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from edgecheck.bench.stats import SampleStats
from edgecheck.bench.timing import Measurement, speedup
from edgecheck.claims import ClaimRegistry
from edgecheck.evaluation.int8_speed import (
    FIGURE_NAME,
    GemmReference,
    Int8Cell,
    Int8Speed,
    batches_for,
    fig4_png,
    judge_int8_speed,
    precision_line,
    quick_policy,
    speedup_trend,
)
from edgecheck.report import Figure, Section, write_report
from edgecheck.testing import Slowdown


def timing(name: str, seconds: list[float], batch: int, **extra) -> Measurement:
    return Measurement(
        name=name, batch_size=batch, samples=seconds, stats=SampleStats(seconds), extra=extra
    )


def _pair(name: str, batch: int, ratio: float, seconds: float = 0.3):
    """FP32 at `seconds` an image (with a little spread), the other at `ratio` times less."""
    fp32 = [seconds * batch * (1 + 0.01 * k) for k in range(8)]
    f = timing(f"fp32-{name}", fp32, batch, cores=1)
    o = timing(f"{name}", [s / ratio for s in fp32], batch, cores=1)
    return f, o


def gemm(ratio: float) -> GemmReference:
    f, i = _pair("gemm", 1, ratio, seconds=0.05)
    return GemmReference(f, i, speedup(f, i), "u8s8")


def table(ratios: dict[int, float], *, gemm_ratio: float | None = 3.5, others=None) -> Int8Speed:
    """FP32 at 0.3 s an image, INT8 at `ratio` times less, a GEMM reference of `gemm_ratio`."""
    cells = []
    for batch, ratio in ratios.items():
        f, i = _pair(f"int8-b{batch}", batch, ratio)
        cells.append(Int8Cell(batch, f, i, speedup(f, i)))
    trend = speedup_trend(cells[0], cells[-1], quick_policy())
    extra = {}
    for precision, ratio in (others or {}).items():
        f, o = _pair(f"{precision}-b1", 1, ratio)
        extra[precision] = Int8Cell(1, f, o, speedup(f, o))
    return Int8Speed(
        cells=cells, trend=trend, cores=1, backend="onnxruntime", device="cpu",
        references={"conv": gemm(gemm_ratio)} if gemm_ratio else {}, others=extra,
    )  # fmt: skip


def _factor(key: str = "b1") -> float:
    rule = ClaimRegistry()["quant.int8.speedup"].rule_for("cpu", key)
    assert rule is not None and rule.reference_factor is not None
    return rule.reference_factor


def test_batches_by_profile():
    assert batches_for("cpu") == (1, 2, 4)
    assert batches_for("gpu")[-1] == 128 and 128 not in batches_for("tx2")


def test_cpu_verdicts_scale_with_the_same_run_gemm_reference():
    f = _factor()
    # The same speedups pass against a modest GEMM ratio and fail against a fast one.
    speed = table({1: 3.6, 2: 3.6, 4: 3.6}, gemm_ratio=3.6 / f / 1.1)
    results = judge_int8_speed(speed, ClaimRegistry(), "cpu")
    assert [r.key for r in results] == ["b1", "b2", "b4", "trend"]
    assert [r.verdict for r in results] == ["pass"] * 4
    b1 = results[0]
    assert b1.reference == pytest.approx(3.6 / f / 1.1, rel=1e-6)
    assert b1.bound == pytest.approx(3.6 / 1.1, rel=1e-6)
    assert "GEMM int8/fp32" in b1.threshold and b1.margin == pytest.approx(0.1, abs=1e-3)
    faster = judge_int8_speed(table({1: 3.6, 2: 3.6, 4: 3.6}, gemm_ratio=3.6 / f * 1.1),
                              ClaimRegistry(), "cpu")  # fmt: skip
    assert [r.verdict for r in faster] == ["FAIL", "FAIL", "FAIL", "pass"]


def test_a_20_percent_slower_int8_fails_where_its_twin_passes():
    """The unit form of the perf teeth test: the rule's margin sits inside a 20 % step."""
    f = _factor()
    # A model at the middle of the pass window (real / 1.2 .. real, in log terms).
    reference = 3.6 / f / 1.2**0.5
    twin = table({1: 3.6, 2: 3.6, 4: 3.6}, gemm_ratio=reference)
    slowed_int8 = {b: replace(c.int8, samples=[s * 1.2 for s in c.int8.samples])
                   for b, c in ((c.batch, c) for c in twin.cells) if b in (1, 4)}  # fmt: skip
    twin.variants, twin.variant = slowed_int8, Slowdown(1.2)
    before = judge_int8_speed(twin, ClaimRegistry(), "cpu")
    after = judge_int8_speed(twin.with_variant_int8(), ClaimRegistry(), "cpu")
    assert [r.verdict for r in before] == ["pass"] * 4
    # b1 and b4 both slowed: their rules fail, the trend (b4 / b1) is unchanged.
    assert [(r.key, r.verdict) for r in after] == [
        ("b1", "FAIL"), ("b2", "pass"), ("b4", "FAIL"), ("trend", "pass")
    ]  # fmt: skip
    # b4 alone slowed: INT8 gains 20 % less at the larger batch, the trend fails.
    b4_only = twin.with_variant_int8((4,))
    assert b4_only.trend.value == pytest.approx(1 / 1.2, rel=0.01)
    after = judge_int8_speed(b4_only, ClaimRegistry(), "cpu")
    assert [r.verdict for r in after] == ["pass", "pass", "FAIL", "FAIL"]
    assert b4_only.int8_variant == "slowed-x1.2" and twin.int8_variant is None
    with pytest.raises(ValueError, match="no wrapped INT8"):
        table({1: 3.6}).with_variant_int8()
    with pytest.raises(ValueError, match="batch"):
        twin.with_variant_int8((2,))


def test_trend_is_the_ratio_of_the_end_speedups():
    speed = table({1: 3.8, 2: 3.5, 4: 3.2})
    assert speed.trend.value == pytest.approx(3.2 / 3.8, rel=1e-3)
    results = judge_int8_speed(speed, ClaimRegistry(), "cpu")
    trend_rule = ClaimRegistry()["quant.int8.speedup"].rule_for("cpu", "trend")
    assert trend_rule is not None and trend_rule.value is not None
    # 3.2 / 3.8 = 0.84: a 16 % drop from b1 to b4 fails.
    trend = results[3]
    assert trend.verdict == "FAIL" and trend.measured == pytest.approx(3.2 / 3.8, rel=1e-3)
    assert trend.extra["ci"][0] <= round(trend.measured, 3) <= trend.extra["ci"][1]
    flat = judge_int8_speed(table({1: 3.6, 2: 3.6, 4: 3.6 * 0.96}), ClaimRegistry(), "cpu")
    assert flat[3].verdict == "pass"


def test_without_a_gemm_reference_the_cpu_rules_are_not_run():
    results = judge_int8_speed(
        table({1: 3.6, 2: 3.6, 4: 3.6}, gemm_ratio=None), ClaimRegistry(), "cpu"
    )
    assert [r.verdict for r in results[:3]] == ["not run here"] * 3
    assert "no INT8 / FP32 GEMM reference" in results[0].message
    assert results[3].verdict == "pass"  # the trend needs no reference


def test_a_noisy_gemm_reference_is_not_judged():
    speed = table({1: 3.6, 2: 3.6, 4: 3.6})
    assert speed.gemm is not None
    speed.gemm.int8 = replace(speed.gemm.int8, unstable=True, reason="its core was busy")
    results = judge_int8_speed(speed, ClaimRegistry(), "cpu")
    assert [r.verdict for r in results] == ["not run here"] * 3 + ["pass"]
    assert "GEMM reference: its core was busy" in results[0].message
    assert speed.unstable and speed.reason == "GEMM reference: its core was busy"


def test_gpu_judges_batch_128_and_tx2_nothing():
    speed = table({1: 1.5, 128: 3.5}, gemm_ratio=None)
    gpu = judge_int8_speed(speed, ClaimRegistry(), "gpu")
    assert [(r.key, r.verdict) for r in gpu] == [("b128", "pass"), ("trend", "pass")]
    assert judge_int8_speed(speed, ClaimRegistry(), "tx2") == []  # the TX2 has no fast INT8


AVX2_REASON = (
    "needs INT8 dot-product instructions, this CPU (AMD EPYC) has none (no avx512_vnni/"
    "avx_vnni/amx_int8) and there is no CUDA GPU"
)
FP16_REASON = "onnxruntime's CPU provider runs FP16 models by casting to FP32 (no FP16 speed-up)"


def test_not_applicable_precisions_show_the_ratio_measured_anyway():
    speed = table({1: 1.04}, gemm_ratio=None, others={"fp16": 0.93})
    line = precision_line("int8", [AVX2_REASON], speed.cells[0])
    assert line == (
        f"- INT8 speed claims: not applicable here: {AVX2_REASON}; measured anyway: VGG16 INT8 "
        f"/ FP32 throughput at batch 1, 1 core: **1.04x** [1.04, 1.04]."
    )
    line = precision_line("fp16", [FP16_REASON], speed.others["fp16"])
    assert line.endswith("measured anyway: VGG16 FP16 / FP32 throughput at batch 1, 1 core: "
                         "**0.93x** [0.93, 0.93].")  # fmt: skip
    assert FP16_REASON in line
    noisy = replace(speed.cells[0], int8=replace(speed.cells[0].int8, unstable=True,
                                                 reason="its core was busy"))  # fmt: skip
    assert "(noisy: its core was busy)." in precision_line("int8", [AVX2_REASON], noisy)
    assert precision_line("int8", [AVX2_REASON], None).endswith("; not measured.")
    assert precision_line("int8", [], speed.cells[0]) == (
        "- INT8 speed claims: apply here; judged below."
    )


def test_the_avx2_epyc_gets_the_measured_anyway_line(tmp_path):
    from fake_machines import fake_machine

    from edgecheck.device import detect_device
    from edgecheck.quantize import speed_unmet

    epyc = detect_device(root=fake_machine(tmp_path, "epyc-avx2"),
                         cuda_probe=lambda: (False, None, None))  # fmt: skip
    reasons = speed_unmet("int8", epyc)
    assert reasons == [AVX2_REASON]
    speed = table({1: 1.04}, gemm_ratio=None)
    assert "not applicable here: needs INT8 dot-product instructions" in precision_line(
        "int8", reasons, speed.cells[0]
    )


def test_speed_table_prints_reference_bound_and_trend():
    from edgecheck.evaluation.int8_speed import Int8Models, speed_table

    f = _factor()
    speed = table({1: 3.6, 2: 3.6, 4: 3.4}, gemm_ratio=3.0)
    models = Int8Models(Path("a.onnx"), Path("b.onnx"), 4, 12.0)
    text = speed_table(speed, ClaimRegistry()["quant.int8.speedup"], models, "cpu")
    assert f">= {f * 3.0:.2f}x" in text
    assert "Same-run reference" in text and "**3.00x**" in text and "u8s8" in text
    assert "speedup(b4) / speedup(b1): 0.944" in text


def test_fig4_png_is_written_next_to_the_report(tmp_path, edgecheck_device):
    pytest.importorskip("matplotlib")
    speed = table({1: 3.8, 2: 3.6, 4: 3.3})
    png = fig4_png(speed, ClaimRegistry()["quant.int8.speedup"])
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000
    section = Section("INT8", "body", figures=[Figure(FIGURE_NAME, png, "Fig. 4 here")])
    paths = write_report([section], edgecheck_device, tmp_path)
    assert paths[2] == tmp_path / FIGURE_NAME and paths[2].read_bytes() == png
    assert f"![Fig. 4 here]({FIGURE_NAME})" in (tmp_path / "report.md").read_text()
    assert not list(tmp_path.glob(".*.tmp"))


def test_figure_names_are_plain_and_unique(tmp_path, edgecheck_device):
    from edgecheck.errors import EdgecheckError

    with pytest.raises(EdgecheckError, match="plain file name"):
        Figure("../up.png", b"")
    twice = [Section("a", "", figures=[Figure("x.png", b"1")]),
             Section("b", "", figures=[Figure("x.png", b"2")])]  # fmt: skip
    with pytest.raises(EdgecheckError, match="same figure file"):
        write_report(twice, edgecheck_device, tmp_path)


def test_unstable_timings_are_not_judged():
    from dataclasses import replace

    speed = table({1: 3.8, 2: 3.6, 4: 3.4})
    noisy = replace(speed.cells[2].int8, unstable=True, reason="its core was busy")
    speed.cells[2] = replace(speed.cells[2], int8=noisy)
    results = judge_int8_speed(speed, ClaimRegistry(), "cpu")
    assert [r.verdict for r in results] == ["pass", "pass", "not run here", "not run here"]
    assert "too noisy to decide: its core was busy" in results[2].message
    assert "batch 4: its core was busy" in results[3].message

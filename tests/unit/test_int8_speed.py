"""Fig. 4's verdicts, trend and plot from fixed timings (the live timing: tests/perf/)."""

from __future__ import annotations

import pytest

from edgecheck.bench.stats import SampleStats
from edgecheck.bench.timing import Measurement, speedup
from edgecheck.claims import ClaimRegistry
from edgecheck.evaluation.int8_speed import (
    FIGURE_NAME,
    Int8Cell,
    Int8Speed,
    _trend,
    batches_for,
    fig4_png,
    judge_int8_speed,
    quick_policy,
)
from edgecheck.report import Figure, Section, write_report


def timing(name: str, seconds: list[float], batch: int) -> Measurement:
    return Measurement(name=name, batch_size=batch, samples=seconds, stats=SampleStats(seconds))


def table(ratios: dict[int, float]) -> Int8Speed:
    """FP32 at 0.3 s an image (with a little spread), INT8 at `ratio` times less."""
    cells = []
    for batch, ratio in ratios.items():
        fp32 = [0.3 * batch * (1 + 0.01 * k) for k in range(8)]
        int8 = [s / ratio for s in fp32]
        f, i = timing(f"fp32-b{batch}", fp32, batch), timing(f"int8-b{batch}", int8, batch)
        cells.append(Int8Cell(batch, f, i, speedup(f, i)))
    trend = _trend(cells[0], cells[-1], quick_policy())
    return Int8Speed(cells=cells, trend=trend, cores=1, backend="onnxruntime", device="cpu")


def test_batches_by_profile():
    assert batches_for("cpu") == (1, 2, 4)
    assert batches_for("gpu")[-1] == 128 and 128 not in batches_for("tx2")


def test_cpu_verdicts_per_batch_and_trend():
    results = judge_int8_speed(table({1: 3.8, 2: 3.5, 4: 3.2}), ClaimRegistry(), "cpu")
    assert [r.key for r in results] == ["b1", "b2", "b4", "trend"]
    assert [r.verdict for r in results[:3]] == ["pass"] * 3
    assert results[0].measured == pytest.approx(3.8)
    # b4 is below b1 by 0.6 with (near) noiseless timings: a drop beyond noise fails.
    assert results[3].verdict == "FAIL" and results[3].measured == pytest.approx(-0.6, abs=0.05)


def test_flat_trend_passes_and_a_lost_int8_kernel_fails():
    results = judge_int8_speed(table({1: 1.2, 2: 1.2, 4: 1.2}), ClaimRegistry(), "cpu")
    assert [r.verdict for r in results] == ["FAIL", "FAIL", "FAIL", "pass"]


def test_gpu_judges_batch_128_and_tx2_nothing():
    speed = table({1: 1.5, 128: 3.5})
    gpu = judge_int8_speed(speed, ClaimRegistry(), "gpu")
    assert [(r.key, r.verdict) for r in gpu] == [("b128", "pass"), ("trend", "pass")]
    assert judge_int8_speed(speed, ClaimRegistry(), "tx2") == []  # the TX2 has no fast INT8


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

"""The parallel experiment's judging and report pieces, on literal measurements.

The live measurement is tests/perf/test_parallel.py; here the tables are built from fixed
per-call times, so the verdicts, the batch-ordering statistic, the Markdown and the figures
are checked with known numbers.
"""

from __future__ import annotations

import numpy as np
import pytest

from edgecheck.bench.stats import SampleStats
from edgecheck.bench.timing import Measurement
from edgecheck.claims import CLAIMS, TABLE3_PAPER, TABLE4_PAPER
from edgecheck.evaluation.parallel import (
    FQA_CLAIM,
    VGG_CLAIM,
    ParallelTable,
    _table_markdown,
    batch_gain,
    judge_cores,
    speedup_figure,
)


def _measurement(name: str, batch: int, seconds: float, *, noise: float = 0.01) -> Measurement:
    rng = np.random.default_rng(len(name))
    samples = list(seconds * (1 + noise * rng.standard_normal(40)))
    return Measurement(name=name, batch_size=batch, samples=samples, stats=SampleStats(samples))


def _table(times: dict[tuple[int, int], float], model: str = "fqa") -> ParallelTable:
    cells = {(b, c): _measurement(f"{model}-b{b}-{c}c", b, t) for (b, c), t in times.items()}
    return ParallelTable(
        model=model,
        backend="onnxruntime",
        cores=tuple(sorted({c for _, c in times})),
        batches=tuple(sorted({b for b, _ in times})),
        cells=cells,
    )


# Batch 1 barely scales (1.25x on 2 cores), batch 4 nearly doubles (1.9x).
FQA_TIMES = {(1, 1): 1.0e-3, (1, 2): 0.8e-3, (2, 1): 2.0e-3, (2, 2): 1.25e-3,
             (4, 1): 3.8e-3, (4, 2): 2.0e-3}  # fmt: skip


def test_speedups_verdicts_follow_the_cpu_rules():
    table = _table(FQA_TIMES)
    assert table.speedup(4, 2).value == pytest.approx(1.9, rel=0.02)
    results = {r.key: r for r in judge_cores(table, CLAIMS[FQA_CLAIM], "cpu")}
    assert set(results) == {"b1@2c", "b2@2c", "b4@2c"}
    assert results["b4@2c"].verdict == "pass"  # 1.9 >= 0.6 x 2
    assert results["b1@2c"].verdict == "not applicable"  # no cpu rule at batch 1
    slow = _table({**FQA_TIMES, (4, 2): 3.5e-3})  # 1.09x < 1.2
    assert {r.key: r for r in judge_cores(slow, CLAIMS[FQA_CLAIM], "cpu")}[
        "b4@2c"
    ].verdict == "FAIL"


def test_paper_thresholds_on_tx2_are_the_paper_values_less_ten_percent():
    table = _table(FQA_TIMES)
    results = {r.key: r for r in judge_cores(table, CLAIMS[FQA_CLAIM], "tx2")}
    assert results["b4@2c"].verdict == "pass"  # 1.9 >= 0.9 x 1.71
    assert results["b1@2c"].verdict == "FAIL"  # 1.25 < 0.9 x 1.396


def test_batch_gain_is_positive_only_beyond_noise():
    assert batch_gain(_table(FQA_TIMES), 2) > 0.5
    same = {k: v * (4 if k[0] == 4 else 1) for k, v in FQA_TIMES.items() if k[0] == 1}
    same.update({(4, 1): 4.0e-3, (4, 2): 3.2e-3})  # batch 4 scales exactly like batch 1
    assert batch_gain(_table(same), 2) < 0


def test_tables_show_measured_paper_and_missing_cells():
    fqa = _table_markdown(_table(FQA_TIMES), TABLE3_PAPER, fqa=True)
    assert "paper faces/s" in fqa and "127.5" in fqa and "2.478" in fqa
    assert "1.90 [" in fqa  # the measured b4 2-core speedup with its interval
    assert f"{2673 / (4 / 3.8e-3):.3f}" in fqa  # time for the paper's workload at b4, 1 core
    vgg_times = {(b, c): 0.3 * b / (1.9 if c == 2 else 1) for b in (1, 2, 4) for c in (1, 2)}
    vgg = _table_markdown(_table(vgg_times, "vgg16"), TABLE4_PAPER, fqa=False)
    assert "latency per batch" in vgg and "6.100" in vgg
    if len(__import__("os").sched_getaffinity(0)) < 4:
        assert "not run here: needs 4 cores" in vgg


def test_speedup_figure_is_a_png():
    pytest.importorskip("matplotlib")
    png = speedup_figure(_table(FQA_TIMES), CLAIMS[VGG_CLAIM], "test")
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5000


def test_report_writes_figures_next_to_the_markdown(tmp_path, edgecheck_device):
    from edgecheck.report import Figure, Section, write_report

    section = Section(title="t", body="b", figures=[Figure("fig.png", b"\x89PNG fake")])
    paths = write_report([section], edgecheck_device, tmp_path)
    assert (tmp_path / "fig.png").read_bytes() == b"\x89PNG fake"
    assert tmp_path / "fig.png" in paths
    assert "![fig](fig.png)" in (tmp_path / "report.md").read_text()


def test_report_header_counts_pass_fail_and_not_run_separately(edgecheck_device):
    """A claim not run here is not a pass: the header counts the three kinds apart."""
    from edgecheck.report import Section, render_markdown

    claim = CLAIMS["quant.error"]
    results = [
        claim.check(0.9, profile="cpu"),
        claim.check(3.0, profile="cpu"),
        claim.not_run(profile="cpu", reason="too noisy"),
        claim.not_run(profile="cpu", key="deployed", reason="no onnxruntime"),
    ]
    assert [r.verdict for r in results] == ["pass", "FAIL", "not run here", "not run here"]
    md = render_markdown([Section(title="t", body="b", results=results)], edgecheck_device)
    assert "- verdicts: 1 pass, 1 FAIL, 2 not run here or not applicable" in md


def test_a_noisy_speedup_is_decided_only_when_its_interval_is_clear_of_the_threshold():
    from edgecheck.bench.stats import Estimate
    from edgecheck.evaluation.parallel import decide

    claim = CLAIMS[VGG_CLAIM]  # cpu: >= 0.65 x 2 = 1.3 on 2 cores

    def verdict(value, low, high, noisy):
        e = Estimate(value, low, high, 0.95, 2000, "paired")
        return decide(claim, e, profile="cpu", key="b1@2c", cores=2, noisy=noisy).verdict

    assert verdict(1.88, 1.57, 1.95, None) == "pass"
    assert verdict(1.88, 1.57, 1.95, "wide") == "pass"  # every value inside passes
    assert verdict(1.20, 1.10, 1.28, "wide") == "FAIL"  # every value inside fails
    assert verdict(1.40, 1.20, 1.60, "wide") == "not run here"  # straddles 1.3
    assert verdict(1.40, 1.20, 1.60, None) == "pass"  # stable: the point estimate decides

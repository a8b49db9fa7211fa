"""The Table VII report section: verdicts per core count, the tables, and its assembly
(with the timing replaced by fixed numbers; the real timing is benchmarks/pruning.py's)."""

from __future__ import annotations

import pytest

from edgecheck.bench.stats import SampleStats
from edgecheck.bench.timing import Measurement, speedup
from edgecheck.claims import ClaimRegistry
from edgecheck.evaluation import pruning
from edgecheck.evaluation.pruning import SamplingSettings, SpeedCell, Table7, judge_table7

TOY_VGG16_PLAN = {"conv1_1": 16, "conv1_2": 16}


def timing(name: str, seconds: float, batch: int = 1) -> Measurement:
    samples = [seconds] * 6
    return Measurement(name=name, batch_size=batch, samples=samples, stats=SampleStats(samples))


def cell(cores: int, batch: int, full: float, pruned: float, head: float) -> SpeedCell:
    f, p = timing("full", full, batch), timing("pruned", pruned, batch)
    return SpeedCell(cores, batch, f, p, timing("head", head, batch), speedup(f, p))


@pytest.fixture
def table() -> Table7:
    return Table7(
        cells=[
            cell(1, 1, 0.42, 0.10, 0.015), cell(1, 4, 1.60, 0.40, 0.020),
            cell(2, 1, 0.30, 0.10, 0.012), cell(2, 4, 0.90, 0.30, 0.015),
        ],
        conv_ratio=4.525, all_ratio=4.40, missing={4: "needs 4 cores, this machine has 2"},
    )  # fmt: skip


def test_batch_one_speedup_is_judged_per_core_count(table):
    results = judge_table7(table, ClaimRegistry(), "tx2")
    assert [r.key for r in results] == ["1c", "2c", "4c"]
    assert results[0].verdict == "pass" and results[0].measured == pytest.approx(4.2, rel=1e-3)
    assert results[1].verdict == "FAIL" and results[1].measured == pytest.approx(3.0, rel=1e-3)
    assert results[2].verdict == "not run here" and "needs 4 cores" in results[2].message
    assert table.cell(1, 1).conv_speedup == pytest.approx((0.42 - 0.015) / (0.10 - 0.015))


def test_the_cpu_rule_allows_for_the_memory_bound_head(table):
    """On the cpu profile 0.4 x the MAC ratio (1.81x): 3.0x passes, 1.5x does not."""
    assert [r.verdict for r in judge_table7(table, ClaimRegistry(), "cpu")[:2]] == ["pass"] * 2
    slow = Table7(cells=[cell(1, 1, 0.30, 0.20, 0.015)], conv_ratio=4.525, all_ratio=4.40)
    result = judge_table7(slow, ClaimRegistry(), "cpu")[0]
    assert result.verdict == "FAIL" and result.threshold == ">= 1.81x"


def test_table7_markdown_sets_the_paper_beside_the_measurement(table):
    text = pruning._table7_markdown(table, ClaimRegistry()["prune.speedup"])
    assert "6.10 / 1.43 s = 4.27x" in text and "2.48 / 0.58 s = 4.28x" in text
    assert "420.0 / 100.0 ms = **4.20x**" in text and "93% of theory" in text
    assert "needs 4 cores, this machine has 2" in text
    assert "conv part" in text
    # (1.60 - 0.02) / 4.525 + 0.02 = 0.3692 s at best: 1.60 / 0.3692 = 4.33x
    assert "ceiling 4.33x" in text


def test_the_ceiling_keeps_the_heads_time_and_scales_the_convs_by_theory(table):
    one = table.cell(1, 4)
    assert one.ceiling(4.525) == pytest.approx(1.60 / ((1.60 - 0.020) / 4.525 + 0.020))
    assert one.ceiling(1.0) == pytest.approx(1.0)
    no_head = SpeedCell(1, 1, one.full, one.pruned, None, one.speedup)
    assert no_head.ceiling(4.525) is None


@pytest.fixture(scope="module")
def tiny_errors():
    """The section's real reconstruction comparison, at toy sizes, computed once."""
    from edgecheck.models import build_model

    vgg = SamplingSettings(images=2, shape=(3, 32, 32), samples_per_image=10, eval_images=2)
    fqa = SamplingSettings(images=8, shape=(1, 64, 64), samples_per_image=10, eval_images=4)
    fqa_errors = pruning.reconstruction_errors(build_model("fqa"), pruning.FQA_PLAN, fqa)
    metrics = {"unpruned": {"spearman": 0.97, "mae": 0.04}}
    metrics.update({e.label: {"spearman": 0.9, "mae": 0.05} for e in fqa_errors})
    return {
        # Two layers are enough to check the assembly (Table VI's plan: tests/accuracy).
        "vgg16": pruning.reconstruction_errors(build_model("vgg16"), TOY_VGG16_PLAN, vgg),
        "fqa": pruning.FQAComparison(fqa_errors, metrics, "toy FQA"),
    }


@pytest.fixture
def fast_errors(monkeypatch, tiny_errors):
    monkeypatch.setattr(pruning, "reconstruction_errors", lambda *a, **k: tiny_errors["vgg16"])
    monkeypatch.setattr(pruning, "fqa_comparison", lambda *a, **k: tiny_errors["fqa"])


def test_section_assembles_reconstruction_and_table7(
    monkeypatch, fast_errors, table, edgecheck_device
):
    seen = {}

    def fake_table7(full, pruned, **kwargs):
        seen["widths"] = pruned.plan
        return table

    monkeypatch.setattr(pruning, "measure_table7", fake_table7)
    section = pruning.section(ClaimRegistry(), edgecheck_device)
    assert section.title.startswith("Table VII")
    assert [r.key for r in section.results] == ["1c", "2c", "4c"]
    assert seen["widths"]["conv1_2"] == 16  # the surgery's model is what gets timed
    assert "He et al.: LASSO + least squares" in section.body
    assert "L1 magnitude, no refit" in section.body and "FQA" in section.body
    labels = [e["label"] for e in section.data["reconstruction"]["vgg16"]]
    assert labels == ["lasso+ls", "l1"]
    assert section.data["table7"]["cells"][0]["speedup"] == pytest.approx(4.2, rel=1e-3)
    assert "| unpruned | 0.9700 | 0.0400 |" in section.body and "toy FQA" in section.body


def test_section_without_onnxruntime_says_why(monkeypatch, fast_errors, edgecheck_device):
    import edgecheck.backends

    monkeypatch.setattr(
        edgecheck.backends, "backend_unavailable_reason", lambda name: "onnxruntime missing"
    )
    section = pruning.section(ClaimRegistry(), edgecheck_device)
    assert all(r.verdict == "not run here" for r in section.results)
    assert "onnxruntime missing" in section.body


def test_an_unstable_cell_is_not_judged(table):
    from dataclasses import replace

    noisy = table.cell(2, 1)
    noisy.pruned = replace(noisy.pruned, unstable=True, reason="its cores were busy")
    results = judge_table7(table, ClaimRegistry(), "cpu")
    assert [r.verdict for r in results] == ["pass", "not run here", "not run here"]
    assert "too noisy to decide: its cores were busy" in results[1].message

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


def measured_here(pruned: float, head: float | None = 0.034) -> Table7:
    """A 1-core cell with this machine's times (2026-12-03, Xeon AVX-512): full 211 ms, FC
    head 34 ms, so the ceiling is 2.89x; `pruned` 82 ms gives the 2.58x measured."""
    f, p = timing("full", 0.211), timing("pruned", pruned)
    h = timing("head", head) if head is not None else None
    return Table7(
        cells=[SpeedCell(1, 1, f, p, h, speedup(f, p))], conv_ratio=4.525, all_ratio=4.4,
        missing={4: "needs 4 cores, this machine has 2"},
    )  # fmt: skip


def test_the_cpu_rule_is_a_factor_of_the_cells_ceiling():
    """On the cpu profile the bound scales the same cell's ceiling: the pruned model as
    measured passes, the same 20 % slower fails."""
    factor = ClaimRegistry()["prune.speedup"].rule_for("cpu", "1c").reference_factor
    real = measured_here(0.0817)
    ceiling = real.cell(1, 1).ceiling(4.525)
    assert ceiling == pytest.approx(0.211 / ((0.211 - 0.034) / 4.525 + 0.034))
    passed = judge_table7(real, ClaimRegistry(), "cpu")[0]
    assert passed.verdict == "pass", passed.message
    assert passed.reference == ceiling and passed.bound == pytest.approx(factor * ceiling)
    assert passed.threshold == f">= {passed.bound:.5g}x ({factor:g} x ceiling {ceiling:.5g}x)"
    assert passed.margin > 0.05
    failed = judge_table7(measured_here(0.0817 * 1.2), ClaimRegistry(), "cpu")[0]
    assert failed.verdict == "FAIL" and failed.reference == ceiling
    assert failed.margin < -0.05


def test_a_slower_machine_gets_a_lower_bound_from_its_own_ceiling():
    """Twice the conv time (an older CPU), the same head: a lower ceiling and bound, and the
    same pruned efficiency still passes (a fixed bound would judge the machine, not pruning)."""
    fast = judge_table7(measured_here(0.0817), ClaimRegistry(), "cpu")[0]
    f = timing("full", 2 * 0.211 - 0.034)
    p = timing("pruned", 2 * 0.0817 - 0.034)
    slow_table = Table7(
        cells=[SpeedCell(1, 1, f, p, timing("head", 0.034), speedup(f, p))],
        conv_ratio=4.525, all_ratio=4.4,
    )  # fmt: skip
    slow = judge_table7(slow_table, ClaimRegistry(), "cpu")[0]
    assert slow.reference > fast.reference  # the head weighs less beside slower convs
    assert slow.verdict == fast.verdict == "pass"


def test_a_cell_without_a_head_is_not_run():
    """No FC head timed, no ceiling: the cpu rule cannot be applied, and says why."""
    result = judge_table7(measured_here(0.0817, head=None), ClaimRegistry(), "cpu")[0]
    assert result.verdict == "not run here" and result.measured is None
    assert "no FC head" in result.message and "ceiling" in result.message
    # The tx2 rule is a fixed bound: it needs no ceiling, and still judges the cell.
    assert (
        judge_table7(measured_here(0.0817, head=None), ClaimRegistry(), "tx2")[0].verdict == "FAIL"
    )


def test_a_slowed_copy_is_judged_against_the_same_ceiling():
    from edgecheck.evaluation.pruning import judge_cell
    from edgecheck.testing import TWIN, Slowdown

    table = measured_here(0.0817)
    one = table.cell(1, 1)
    one.variants = {Slowdown(1.2): timing("slowed", 0.0817 * 1.2), TWIN: timing("twin", 0.0817)}
    claim = ClaimRegistry()["prune.speedup"]
    slowed = judge_cell(table, claim, 1, "cpu", variant=Slowdown(1.2))
    twin = judge_cell(table, claim, 1, "cpu", variant=TWIN)
    assert slowed.verdict == "FAIL" and twin.verdict == "pass"
    assert slowed.reference == twin.reference == one.ceiling(4.525)
    assert one.variant_speedup(Slowdown(1.2)).value == pytest.approx(one.speedup.value / 1.2)
    variants = table.as_dict()["cells"][0]["variants"]
    assert variants["slowed-x1.2"]["pruned_s"] == pytest.approx(0.098, 1e-3)


def test_table7_markdown_shows_the_ceiling_and_the_bound_per_row():
    table = measured_here(0.0817)
    results = judge_table7(table, ClaimRegistry(), "cpu")
    text = pruning.table7_markdown(table, ClaimRegistry()["prune.speedup"], results)
    row = next(line for line in text.splitlines() if line.startswith("| 1 |"))
    ceiling = table.cell(1, 1).ceiling(4.525)
    assert f"ceiling {ceiling:.2f}x" in row
    assert f"pass: >= {results[0].bound:.5g}x" in row and f"ceiling {ceiling:.5g}x)" in row
    row4 = next(line for line in text.splitlines() if line.startswith("| 4 |"))
    assert "not run here: needs 4 cores, this machine has 2" in row4
    assert "verdict b1: bound" in text


def test_table7_markdown_sets_the_paper_beside_the_measurement(table):
    text = pruning.table7_markdown(table, ClaimRegistry()["prune.speedup"])
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
def tiny_errors(vgg16):
    """The section's real reconstruction comparison, at toy sizes, computed once (on the
    session's `vgg16`, tests/conftest.py: pruning leaves its input alone)."""
    from edgecheck.models import build_model

    vgg = SamplingSettings(images=2, shape=(3, 32, 32), samples_per_image=10, eval_images=2)
    fqa = SamplingSettings(images=8, shape=(1, 64, 64), samples_per_image=10, eval_images=4)
    fqa_errors = pruning.reconstruction_errors(build_model("fqa"), pruning.FQA_PLAN, fqa)
    metrics = {"unpruned": {"spearman": 0.97, "mae": 0.04}}
    metrics.update({e.label: {"spearman": 0.9, "mae": 0.05} for e in fqa_errors})
    return {
        # Two layers are enough to check the assembly (Table VI's plan: tests/accuracy).
        "vgg16": pruning.reconstruction_errors(vgg16, TOY_VGG16_PLAN, vgg),
        "fqa": pruning.FQAComparison(fqa_errors, metrics, "toy FQA"),
    }


@pytest.fixture
def fast_errors(monkeypatch, tiny_errors):
    monkeypatch.setattr(
        pruning.measure, "reconstruction_errors", lambda *a, **k: tiny_errors["vgg16"]
    )
    monkeypatch.setattr(pruning.measure, "fqa_comparison", lambda *a, **k: tiny_errors["fqa"])


def test_section_assembles_reconstruction_and_table7(
    monkeypatch, fast_errors, table, edgecheck_device
):
    seen = {}

    def fake_table7(full, pruned, **kwargs):
        seen["widths"] = pruned.plan
        return table

    monkeypatch.setattr(pruning.measure, "measure_table7", fake_table7)
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


def test_a_contended_cell_is_not_judged(table):
    """Other jobs on the cells' cores bias the times: not run, whatever the interval says."""
    from dataclasses import replace

    busy = table.cell(2, 1)
    busy.pruned = replace(busy.pruned, unstable=True, reason="its cores were busy", contention=0.3)
    results = judge_table7(table, ClaimRegistry(), "cpu")
    assert [r.verdict for r in results] == ["pass", "not run here", "not run here"]
    assert "too noisy to decide: pruned was unstable: its cores were busy" in results[1].message


def noisy_cell(spread: float) -> Table7:
    """The 1-core cell as measured here, its pruned times alternating +-`spread` and flagged
    unstable by the harness (a wide interval, not other jobs on its cores)."""
    from dataclasses import replace

    table = measured_here(0.0817)
    one = table.cell(1, 1)
    samples = [0.0817 * (1 + spread * (-1) ** i) for i in range(6)]
    one.pruned = replace(
        timing("pruned", 0.0817), samples=samples, stats=SampleStats(samples), unstable=True,
        reason="median's interval too wide",
    )  # fmt: skip
    one.speedup = speedup(one.full, one.pruned)
    return table


def test_a_noisy_cell_is_decided_when_its_interval_clears_the_bound():
    """`decide`: flagged unstable, but the whole interval is above the bound: judged."""
    result = judge_table7(noisy_cell(0.02), ClaimRegistry(), "cpu")[0]
    assert result.verdict == "pass", result.message


def test_a_noisy_cell_straddling_the_bound_is_not_run():
    table = noisy_cell(0.3)
    e = table.cell(1, 1).speedup
    bound = judge_table7(measured_here(0.0817), ClaimRegistry(), "cpu")[0].bound
    assert e.low < bound < e.high
    result = judge_table7(table, ClaimRegistry(), "cpu")[0]
    assert result.verdict == "not run here"
    assert "straddles the threshold" in result.message and "ceiling" in result.message

"""prune.speedup (Table VII): pruned vs unpruned VGG16, timed live on every core count here.

VGG16 is pruned to Table VI's plan by He et al.'s method from four 64x64 synthetic images
(`pruned_vgg16`, once per session in tests/conftest.py, shared with
tests/accuracy/test_pruning.py): speed depends on the kept channel counts only, which do not
depend on the images. `measure_table7` (the code the report uses) exports both models and the
FC head and times them interleaved in worker processes pinned to 1, 2, ... cores at batch 1,
Table VII's setting; `judge_table7` gives the verdict per core count, each against its cell's
ceiling (the speedup if the pruned convs took exactly 1 / 4.525 of the full convs' time, the FC
head as measured in the same run). The paper's 4-core cell is skipped where the machine has
fewer cores, and a cell too noisy to decide is skipped with its reason.

Teeth: the 1-core cell's pruned model is timed twice more in the same interleaved run, once
20 % slower (`RunnerSpec(wrap=Slowdown(1.2))`, the test-only `edgecheck.testing`) and once as an
identical twin; the slowed one must FAIL the rule against the same ceiling, the twin pass.
One core because every machine has it, whatever its core count (the paper's 6.10 s -> 1.43 s
cell), and a single-threaded worker is the steadiest timing on a shared machine: no thread
barriers, one core for another job to take.
"""

from __future__ import annotations

import pytest

pytest.importorskip("onnxruntime")

from edgecheck.bench.cores import usable_cores
from edgecheck.bench.timing import TimingPolicy
from edgecheck.evaluation.pruning import (
    CLAIM_ID,
    PAPER_BATCH,
    judge_cell,
    judge_table7,
    measure_table7,
)
from edgecheck.paper import PAPER_CORES
from edgecheck.testing import TEETH_SLOWDOWN, TWIN, Slowdown

pytestmark = [pytest.mark.perf, pytest.mark.cpu, pytest.mark.slow]

TEETH_CORES = 1
SLOWDOWN = Slowdown(TEETH_SLOWDOWN)


@pytest.fixture(scope="module")
def table7(edgecheck_device, pruned_vgg16, edgecheck_benchmark_json):
    full, result = pruned_vgg16
    pruned = result.model
    # Batch 1 only (the verdict's batch); a few rounds: VGG16 takes 0.1-0.4 s a call here.
    policy = TimingPolicy(
        warmup_rounds=1, warmup_time=0.0, min_rounds=8, min_time=0.0, max_time=150.0,
        max_rel_ci_width=0.10,
    )  # fmt: skip
    cores = [n for n in PAPER_CORES if n <= len(usable_cores())]
    table = measure_table7(
        full, pruned, cores=cores, batches=(PAPER_BATCH,), policy=policy,
        environment={"profile": edgecheck_device.profile},
        variants=[(TEETH_CORES, PAPER_BATCH, f) for f in (SLOWDOWN, TWIN)],
    )  # fmt: skip
    edgecheck_benchmark_json.save(table.measurements(), group="prune-speed-vgg16")
    return table


def _decided(result) -> None:
    """Skip when the verdict was left open (other jobs on the cores, or a noisy interval
    across the bound): a verdict on it, either way, would be noise."""
    if result.verdict == "not run here":
        pytest.skip(result.message.split("not run here: ", 1)[1])


@pytest.mark.claim(CLAIM_ID)
@pytest.mark.parametrize(
    "cores",
    [pytest.param(n, marks=pytest.mark.needs(cores=n), id=f"{n}c") for n in PAPER_CORES],
)
def test_pruned_vgg16_speedup_per_core_count(table7, edgecheck_claims, edgecheck_device,
                                             check_claim, cores):  # fmt: skip
    cell = table7.cell(cores, PAPER_BATCH)
    assert cell is not None, f"{cores} core(s) not measured: {table7.missing.get(cores)}"
    assert cell.full.rounds == cell.pruned.rounds >= 8
    verdicts = {r.key: r for r in judge_table7(table7, edgecheck_claims, edgecheck_device.profile)}
    judged = verdicts[f"{cores}c"]
    _decided(judged)
    assert judged.measured == cell.speedup.value
    # The FC head is the same in both models: it cannot be faster than the pruned whole.
    assert cell.head is not None and cell.head.median < cell.pruned.median
    ceiling = cell.ceiling(table7.conv_ratio)
    assert ceiling is not None and judged.reference == ceiling
    check_claim(
        CLAIM_ID, judged.measured, key=f"{cores}c", reference=ceiling, reference_name="ceiling",
        ci=[round(cell.speedup.low, 3), round(cell.speedup.high, 3)],
        of_ceiling=round(cell.speedup.value / ceiling, 4),
        conv_part=round(cell.conv_speedup or 0.0, 3), conv_mac_ratio=round(table7.conv_ratio, 3),
        exported_ceiling=round(cell.ceiling(table7.exported_conv_ratio or 0.0) or 0.0, 3),
        head_ms=round(cell.head.median * 1e3, 2),
    )  # fmt: skip


def test_a_20_percent_slower_pruned_model_fails_and_its_twin_passes(
    table7, edgecheck_claims, edgecheck_device
):
    """The 1-core pruned model, 20 % slower in the same run, fails the rule against the same
    ceiling; its unchanged twin passes."""
    claim = edgecheck_claims[CLAIM_ID]
    profile = edgecheck_device.profile
    cell = table7.cell(TEETH_CORES, PAPER_BATCH)
    assert cell is not None
    slowed = judge_cell(table7, claim, TEETH_CORES, profile, variant=SLOWDOWN)
    twin = judge_cell(table7, claim, TEETH_CORES, profile, variant=TWIN)
    _decided(slowed)
    _decided(twin)
    ceiling = cell.ceiling(table7.conv_ratio)
    assert slowed.reference == twin.reference == ceiling
    # The slowdown shows up at its size: the speedup drops by the factor, within noise.
    s, t = cell.variant_speedup(SLOWDOWN), cell.variant_speedup(TWIN)
    print(
        f"\nteeth: ceiling {ceiling:.3f}x; real, twin, slowed: "
        + ", ".join(
            f"{e.value:.3f}x [{e.low:.3f}, {e.high:.3f}] = {e.value / ceiling:.3f} of it"
            for e in (cell.speedup, t, s)
        )
        + f"; rounds {cell.full.rounds}; {slowed.message}; {twin.message}"
    )
    assert s.value == pytest.approx(t.value / SLOWDOWN.factor, rel=0.08)
    assert slowed.verdict == "FAIL", slowed.message
    assert twin.verdict == "pass", twin.message


def test_missing_core_counts_say_why(table7):
    """Core counts of the paper this machine lacks are listed with the reason, not measured."""
    have = len(usable_cores())
    for n in PAPER_CORES:
        if n > have:
            assert table7.missing[n] == f"needs {n} cores, this machine has {have}"
            assert table7.cell(n, PAPER_BATCH) is None
    assert table7.conv_ratio == pytest.approx(4.525, abs=5e-4)

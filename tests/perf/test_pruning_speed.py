"""prune.speedup (Table VII): pruned vs unpruned VGG16, timed live on every core count here.

VGG16 is pruned to Table VI's plan by He et al.'s method from four 64x64 synthetic images
(about 4 s): speed depends on the kept channel counts only, which do not depend on the
images. `measure_table7` (the code the report uses) exports both models and the FC head and
times them interleaved in worker processes pinned to 1, 2, ... cores at batch 1, Table VII's
setting; `judge_table7` gives the verdict per core count. The paper's 4-core cell is skipped
where the machine has fewer cores, and a timing the harness flags unstable is skipped with its
reason.
"""

from __future__ import annotations

import pytest

pytest.importorskip("onnxruntime")

from edgecheck.bench.cores import usable_cores
from edgecheck.bench.timing import TimingPolicy
from edgecheck.evaluation.pruning import (
    CLAIM_ID,
    PAPER_BATCH,
    PAPER_CORES,
    judge_table7,
    measure_table7,
)

pytestmark = [pytest.mark.perf, pytest.mark.cpu, pytest.mark.slow]


@pytest.fixture(scope="module")
def table7(edgecheck_device):
    from edgecheck.models import build_model
    from edgecheck.prune import prune_model, synthetic_images

    full = build_model("vgg16")
    pruned = prune_model(full, "paper", synthetic_images(4, (3, 64, 64), seed=1)).model
    # Batch 1 only (the verdict's batch); a few rounds: VGG16 takes 0.1-0.4 s a call here.
    # Medians to +-7 % (intervals up to 15 % wide; 10-13 % came out here after 12 rounds on
    # the shared machine) still decide the cpu threshold, 1.81x, 20 % below the 2.3x measured.
    policy = TimingPolicy(
        warmup_rounds=1, warmup_time=0.0, min_rounds=6, min_time=0.0, max_time=120.0,
        max_rel_ci_width=0.15,
    )  # fmt: skip
    cores = [n for n in PAPER_CORES if n <= len(usable_cores())]
    return measure_table7(
        full, pruned, cores=cores, batches=(PAPER_BATCH,), policy=policy,
        environment={"profile": edgecheck_device.profile},
    )  # fmt: skip


@pytest.mark.claim(CLAIM_ID)
@pytest.mark.parametrize(
    "cores",
    [pytest.param(n, marks=pytest.mark.needs(cores=n), id=f"{n}c") for n in PAPER_CORES],
)
def test_pruned_vgg16_speedup_per_core_count(table7, edgecheck_claims, edgecheck_device,
                                             check_claim, cores):  # fmt: skip
    cell = table7.cell(cores, PAPER_BATCH)
    assert cell is not None, f"{cores} core(s) not measured: {table7.missing.get(cores)}"
    assert cell.full.rounds == cell.pruned.rounds >= 6
    verdicts = {r.key: r for r in judge_table7(table7, edgecheck_claims, edgecheck_device.profile)}
    judged = verdicts[f"{cores}c"]
    if cell.unstable:
        assert judged.verdict == "not run here"
        pytest.skip(judged.message.split("not run here: ", 1)[1])
    assert judged.measured == cell.speedup.value
    # The FC head is the same in both models: it cannot be faster than the pruned whole.
    assert cell.head is not None and cell.head.median < cell.pruned.median
    check_claim(
        CLAIM_ID, judged.measured, key=f"{cores}c",
        ci=[round(cell.speedup.low, 3), round(cell.speedup.high, 3)],
        conv_part=round(cell.conv_speedup or 0.0, 3), conv_mac_ratio=round(table7.conv_ratio, 3),
    )  # fmt: skip


def test_missing_core_counts_say_why(table7):
    """Core counts of the paper this machine lacks are listed with the reason, not measured."""
    have = len(usable_cores())
    for n in PAPER_CORES:
        if n > have:
            assert table7.missing[n] == f"needs {n} cores, this machine has {have}"
            assert table7.cell(n, PAPER_BATCH) is None
    assert table7.conv_ratio == pytest.approx(4.525, abs=5e-4)

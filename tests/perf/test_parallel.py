"""Tables III and IV (parallel.fqa.cores, parallel.fqa.batch, parallel.vgg16.cores), measured.

Each table is measured once per module, all its (batch, cores) cells interleaved in one run
by `edgecheck.evaluation.parallel`, the same code as the report. The tests then judge the
cells: `tx2`-marked ones with the paper's thresholds (skipped elsewhere), `cpu` ones with the
portable rules of the registry: on 2 cores, speedup >= F x the cores' own data-parallel
scaling S_dp (2 independent 1-core runners at once), measured in the same run. The run is
sequential: rounds are added, within the settings' time budget, until every judged interval
(paired, round by round) lies clear of its bound; a cell still open then is skipped as too
noisy to decide, never passed. Cells that need more cores than this machine has are skipped
with "needs 4 cores, this machine has 2".

The same runs time the 2-core cell three more times: as an identical twin, with a test-only
20 % slowdown and with a 30 % one (`edgecheck.testing.Slowdown`), to show that the checks catch them: the
reference rule FAILS the 20 % one and passes the twin; the timing gate (the baseline check,
`edgecheck.ab.judge_samples`) fails the 30 % one and passes the twin.

Each cell's times are also checked against the stored baseline for this device
(`edgecheck_baseline`); where none is stored for it, that test is skipped with the reason.

With ``--benchmark-autosave`` or ``--benchmark-save=NAME`` (pytest-benchmark's options) the
measurements are also saved in pytest-benchmark's storage, so ``pytest-benchmark compare``
reads them: each table hands its timings to the plugin's ``edgecheck_benchmark_json``, which
writes the session's run at its end (`edgecheck.plugin.benchmark_save`).
"""

from __future__ import annotations

from typing import Any

import pytest

pytest.importorskip("onnxruntime")

from edgecheck.claims import CLAIMS, speedup_key
from edgecheck.evaluation.parallel import (
    BATCH_CLAIM,
    BATCHES,
    FQA_CLAIM,
    REFERENCE_NAME,
    VGG_CLAIM,
    ParallelTable,
    batch_key,
    confirm_failure,
    fqa_settings,
    judge_batch,
    judge_cell,
    measure_table,
    measured_cores,
    remeasure_cell,
    vgg16_settings,
)
from edgecheck.paper import PAPER_CORES
from edgecheck.testing import TEETH_SLOWDOWN, TWIN, Slowdown

pytestmark = [pytest.mark.perf, pytest.mark.slow]

CORES = measured_cores()
# The injected slowdowns, on the 2-core cell: the reference rule (F x S_dp) must catch 20 %,
# the timing gate 30 %.
SLOWDOWN = Slowdown(TEETH_SLOWDOWN)
GATE_SLOWDOWN = Slowdown(1.3)
TEETH_CORES = 2


def _cells(claim_id: str, profile: str) -> list:
    """One param per multi-core cell of the claim, skipped where the cores are missing."""
    claim = CLAIMS[claim_id]
    return [
        pytest.param(
            b,
            c,
            id=speedup_key(b, c),
            marks=[getattr(pytest.mark, profile), pytest.mark.needs(cores=c)],
        )
        for b in BATCHES
        for c in PAPER_CORES
        if claim.paper_value(speedup_key(b, c)) is not None
    ]


def _stable(*measurements) -> None:
    """Skip when a measurement's interval is too wide or its cores were busy: a verdict on
    it (either way) would be noise."""
    for m in measurements:
        if m.unstable:
            pytest.skip(f"too noisy to decide: {m.name}: {m.reason}")


def _decided(result) -> None:
    """Skip when the verdict was left open (the interval straddles the threshold after the
    time budget, or other jobs took the cores)."""
    if result.verdict == "not run here":
        pytest.skip(result.message)


def _slowed(cores: tuple[int, ...], batch: int) -> list[tuple[int, int, Slowdown]]:
    factors = (TWIN, SLOWDOWN, GATE_SLOWDOWN)
    return [(batch, TEETH_CORES, f) for f in factors] if TEETH_CORES in cores else []


def _gate_verdicts(table: ParallelTable) -> dict[Any, Any]:
    """The baseline check (5 % tolerance, 99 % confidence) of the teeth cell's twin and of
    its 30 %-slower copy against the cell itself, both timed in the same run."""
    from edgecheck.ab import judge_samples
    from edgecheck.baselines import BaselineCheck

    check = BaselineCheck()
    verdicts = {}
    for (b, c, f), slowed in table.variants.items():
        if f in (TWIN, GATE_SLOWDOWN):
            real = table.cells[(b, c)]
            verdicts[f] = judge_samples(
                real.samples, slowed.samples, check=check, label=slowed.name
            )
    return verdicts


def _gate_decided(table: ParallelTable) -> bool:
    # Part of the sequential rule: at the minimum rounds (7 for VGG16) a 30 % slowdown was
    # once left undecided (ratio interval [0.86, 1.32]); rounds are added until it is not.
    return all(v.status != "undecided" for v in _gate_verdicts(table).values())


def _measure(saver, device, claims, model: str, settings, slowed_batch: int) -> ParallelTable:
    table = measure_table(
        model,
        settings,
        cores=CORES,
        variants=_slowed(CORES, slowed_batch),
        environment={"fingerprint": device.fingerprint_id},
        profile=device.profile,
        registry=claims,
        decided=_gate_decided,
    )
    saver.save([*table.cells.values(), *table.variants.values()], group=f"parallel-{model}")
    return table


# Time budgets of the sequential decisions (warm-up and timed rounds; the workers' start
# comes on top). Measured here, a quiet 2-vCPU Xeon decides every cell at the minimum: FQA
# 30 rounds (about 3 s timed, 31-35 s with the start of 12 workers), VGG16 6-7 rounds (about
# 25 s timed, 83-88 s with the start). The AVX2 EPYC takes about twice as long per round,
# within both budgets; a noisy machine gets more rounds until the budget ends.
FQA_BUDGET = 30.0
VGG16_BUDGET = 120.0


SETTINGS = {"fqa": fqa_settings(budget=FQA_BUDGET), "vgg16": vgg16_settings(budget=VGG16_BUDGET)}


@pytest.fixture(scope="module")
def fqa_table(edgecheck_benchmark_json, edgecheck_device, edgecheck_claims) -> ParallelTable:
    settings = SETTINGS["fqa"]
    return _measure(
        edgecheck_benchmark_json, edgecheck_device, edgecheck_claims, "fqa", settings,
        slowed_batch=4,
    )  # fmt: skip


@pytest.fixture(scope="module")
def vgg16_table(edgecheck_benchmark_json, edgecheck_device, edgecheck_claims) -> ParallelTable:
    settings = SETTINGS["vgg16"]
    return _measure(
        edgecheck_benchmark_json, edgecheck_device, edgecheck_claims, "vgg16", settings,
        slowed_batch=1,
    )  # fmt: skip


@pytest.fixture
def check_speedup(check_claim, edgecheck_claims, edgecheck_device):
    """``check_speedup(table, claim_id, batch, cores)``: skip when `judge_cell` cannot
    decide, else record its verdict with `check_claim` (with the same-run reference). A FAIL
    is re-measured in fresh worker processes first (`confirm_failure`)."""

    def check(table: ParallelTable, claim_id: str, b: int, c: int) -> None:
        claim = edgecheck_claims[claim_id]
        profile = edgecheck_device.profile
        result = confirm_failure(
            judge_cell(table, claim, b, c, profile),
            remeasure_cell(table, SETTINGS[table.model], b, c, profile=profile,
                           registry=edgecheck_claims),
            claim=claim, batch=b, cores=c, profile=profile,
        )  # fmt: skip
        if result.verdict == "not applicable":
            pytest.skip(result.message)
        _decided(result)
        e = table.speedup(b, c)
        check_claim(
            claim_id, result.measured, key=speedup_key(b, c), cores=c,
            reference=result.reference, reference_name=REFERENCE_NAME,
            interval=(e.low, e.high), **dict(result.extra),
        )  # fmt: skip

    return check


@pytest.mark.claim(FQA_CLAIM)
@pytest.mark.parametrize(("batch", "cores"), _cells(FQA_CLAIM, "tx2"))
def test_fqa_speedup_paper_thresholds(fqa_table, check_speedup, batch, cores):
    """Table III on a Jetson: each cell's speedup within 10 % of the paper's."""
    check_speedup(fqa_table, FQA_CLAIM, batch, cores)


@pytest.mark.claim(FQA_CLAIM)
@pytest.mark.parametrize(("batch", "cores"), _cells(FQA_CLAIM, "cpu"))
def test_fqa_speedup(fqa_table, check_speedup, batch, cores):
    """Table III anywhere: the rule of this profile (cpu, batch 4 on 2 cores: speedup >= F x
    the data-parallel scaling measured in the same run)."""
    check_speedup(fqa_table, FQA_CLAIM, batch, cores)


@pytest.mark.cpu
@pytest.mark.claim(BATCH_CLAIM)
@pytest.mark.parametrize(
    "cores", [pytest.param(c, id=batch_key(c), marks=pytest.mark.needs(cores=c)) for c in (2, 4)]
)
def test_fqa_larger_batch_gives_higher_speedup(
    fqa_table, check_claim, edgecheck_claims, edgecheck_device, cores
):
    """Table III's batch claim: speedup(b4) - speedup(b1), paired round by round, above 0
    with its whole interval."""
    result = judge_batch(fqa_table, edgecheck_claims[BATCH_CLAIM], cores, edgecheck_device.profile)
    _decided(result)
    e = fqa_table.batch_difference(cores)
    check_claim(BATCH_CLAIM, e.value, key=batch_key(cores), interval=(e.low, e.high))


@pytest.mark.claim(VGG_CLAIM)
@pytest.mark.parametrize(("batch", "cores"), _cells(VGG_CLAIM, "tx2"))
def test_vgg16_speedup_paper_thresholds(vgg16_table, check_speedup, batch, cores):
    """Table IV on a Jetson: 4-core b1 >= 2.4x (the design card), 2-core b1 >= 1.7x, others
    within 10 % of the paper's."""
    check_speedup(vgg16_table, VGG_CLAIM, batch, cores)


@pytest.mark.claim(VGG_CLAIM)
@pytest.mark.parametrize(("batch", "cores"), _cells(VGG_CLAIM, "cpu"))
def test_vgg16_speedup(vgg16_table, check_speedup, batch, cores):
    """Table IV anywhere: on cpu, 2 cores, speedup >= F x the data-parallel scaling measured
    in the same run (4 cores: >= 0.65 x cores)."""
    check_speedup(vgg16_table, VGG_CLAIM, batch, cores)


@pytest.mark.cpu
@pytest.mark.needs(cores=2)
@pytest.mark.parametrize(
    ("fixture", "claim_id", "batch"), [("fqa_table", FQA_CLAIM, 4), ("vgg16_table", VGG_CLAIM, 1)]
)
def test_injected_20_percent_slowdown_fails_the_reference_rule(
    request, edgecheck_claims, edgecheck_device, fixture, claim_id, batch
):
    """A 20 % slower 2-core runner, timed in the same run, FAILS speedup >= F x S_dp; the
    real cell and its identical twin (a second worker, same run) pass."""
    table: ParallelTable = request.getfixturevalue(fixture)
    cores = TEETH_CORES
    claim = edgecheck_claims[claim_id]
    key = speedup_key(batch, cores)
    profile = edgecheck_device.profile
    rule = claim.rule_for(profile, key)
    if rule is None or rule.reference_factor is None:
        pytest.skip(f"{claim_id} has no same-run reference rule for {key} on {profile}")
    judged = {
        f: judge_cell(table, claim, batch, cores, profile, variant=f) for f in (TWIN, SLOWDOWN)
    }
    judged[None] = judge_cell(table, claim, batch, cores, profile)
    for result in judged.values():
        _decided(result)
    real = table.relative(batch, cores)
    slowed = table.relative(batch, cores, SLOWDOWN)
    # The slowdown shows up at its size: the speedup drops by the factor, within noise.
    assert slowed.value == pytest.approx(real.value / SLOWDOWN.factor, rel=0.1)
    assert judged[SLOWDOWN].verdict == "FAIL", judged[SLOWDOWN].message
    assert judged[None].verdict == "pass", judged[None].message
    assert judged[TWIN].verdict == "pass", judged[TWIN].message


@pytest.mark.cpu
@pytest.mark.needs(cores=2)
@pytest.mark.parametrize(("fixture", "batch"), [("fqa_table", 4), ("vgg16_table", 1)])
def test_injected_30_percent_slowdown_fails_the_timing_gate(request, fixture, batch):
    """The baseline check (5 % tolerance, 99 % confidence) on the N-core cell: its twin,
    timed in the same run, passes; the same runner 30 % slower is a regression."""
    table: ParallelTable = request.getfixturevalue(fixture)
    cores = TEETH_CORES
    real = table.cells[(batch, cores)]
    twin, slowed = (table.variants[(batch, cores, f)] for f in (TWIN, GATE_SLOWDOWN))
    _stable(real, twin, slowed)
    same, worse = (_gate_verdicts(table)[f] for f in (TWIN, GATE_SLOWDOWN))
    if "undecided" in (same.status, worse.status):
        pytest.skip(
            f"too noisy to decide within the time budget ({table.rounds} rounds): "
            f"{worse.message if worse.status == 'undecided' else same.message}"
        )
    assert slowed.median == pytest.approx(real.median * GATE_SLOWDOWN.factor, rel=0.1)
    assert worse.status == "regression", worse.message
    assert same, same.message


@pytest.mark.parametrize("fixture", ["fqa_table", "vgg16_table"])
def test_cell_times_against_the_stored_baseline(request, edgecheck_baseline, fixture):
    """Every cell's times against baselines/<profile>.json, on a matching device only."""
    table: ParallelTable = request.getfixturevalue(fixture)
    verdicts = [
        edgecheck_baseline.expect(
            f"{table.model}.{speedup_key(b, c)}.latency", m.samples, kind="timing", unit="s"
        )
        for (b, c), m in table.cells.items()
    ]
    if all(v.status in ("no baseline", "other device") for v in verdicts):
        pytest.skip(
            f"no stored {table.model} timings for this device ({verdicts[0].message}); "
            "record them with --edgecheck-update-baselines"
        )
    edgecheck_baseline.assert_all()

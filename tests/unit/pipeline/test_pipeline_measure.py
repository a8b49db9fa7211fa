"""The pipeline fps tests' noise guard and same-run rule, decided on injected numbers.

No timing: CPU snapshots, fps samples and measurements are made up, so the decisions (busy
machine -> not run; too wide and straddling -> not run; the rule's pass and FAIL) are checked
exactly; the interleaved runs' stopping rule is checked by counting rounds over a tiny real
clip. The measured side lives in ``tests/perf/test_pipeline_fps.py``.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

from edgecheck.bench.stats import StatsError
from edgecheck.claims import CLAIMS
from edgecheck.errors import ConfigError
from edgecheck.evaluation.pipeline import (
    CLAIM_ID,
    CLIP_FRAMES,
    NAIVE_CLIP_FRAMES,
    NAIVE_FRAMES,
    NaiveComparison,
    Table5,
    Table5Row,
    judge_table5,
    naive_key,
)
from edgecheck.pipeline.measure import (
    MAX_OTHERS_SHARE,
    MAX_REL_CI_WIDTH,
    CpuSnapshot,
    FpsMeasurement,
    FpsTarget,
    cpu_snapshot,
    measure_fps_interleaved,
    noise_reason,
    others_share,
    paired_ratio,
)
from edgecheck.pipeline.run import PipelineConfig, PipelineResult

KEY = naive_key("1080p")
CLAIM = CLAIMS[CLAIM_ID]
FACTOR = CLAIM.rules[f"cpu:{KEY}"].reference_factor


def _result() -> PipelineResult:
    return PipelineResult(
        video=Path("clip.mp4"), width=1920, height=1080, frames=90, faces=[], scores=[],
        selected={}, wall_seconds=1.0, stage_seconds={}, full_passes=9, config=PipelineConfig(),
    )  # fmt: skip


def _fps(values, others=0.0, name="pipeline") -> FpsMeasurement:
    return FpsMeasurement(tuple(values), _result(), PipelineConfig(), others=others, name=name)


# --- other processes' CPU share --------------------------------------------------------------


def test_others_share_is_the_machine_busy_time_not_spent_by_this_process():
    before = CpuSnapshot(busy=100.0, cpus=2, own=10.0, wall=50.0)
    after = CpuSnapshot(busy=102.0, cpus=2, own=11.5, wall=51.0)  # 2 CPU-s busy, 1.5 ours
    assert others_share(before, after) == 0.25
    alone = CpuSnapshot(busy=101.5, cpus=2, own=11.5, wall=51.0)
    assert others_share(before, alone) == 0.0


def test_others_share_clamps_tick_rounding_and_is_unknown_without_snapshots():
    before = CpuSnapshot(busy=100.0, cpus=2, own=10.0, wall=50.0)
    after = CpuSnapshot(busy=101.49, cpus=2, own=11.5, wall=51.0)  # /proc/stat ticks lag
    assert others_share(before, after) == 0.0
    assert others_share(None, after) is None and others_share(before, None) is None
    assert others_share(after, after) is None  # no wall time


def test_cpu_snapshot_reads_proc_stat(tmp_path):
    import os

    tick = os.sysconf("SC_CLK_TCK")
    stat = tmp_path / "stat"
    # user nice system idle iowait irq softirq steal: busy = 300 + 20 + 100 + 5 + 5 + 70
    stat.write_text(
        "cpu  300 20 100 9000 50 5 5 70 0 0\ncpu0 150 10 50 4500 25 2 2 35 0 0\n"
        "cpu1 150 10 50 4500 25 3 3 35 0 0\nintr 1 2 3\n"
    )
    snap = cpu_snapshot(str(stat))
    assert snap is not None and snap.cpus == 2
    assert snap.busy == pytest.approx(500 / tick)
    assert cpu_snapshot(str(tmp_path / "missing")) is None


# --- the guard's decision ----------------------------------------------------------------------


def test_a_busy_machine_is_too_noisy_with_the_share_and_the_limit_in_the_reason():
    reason = noise_reason(MAX_OTHERS_SHARE + 0.01, what="pipeline's runs")
    assert reason is not None
    assert f"{MAX_OTHERS_SHARE + 0.01:.1%}" in reason and f"{MAX_OTHERS_SHARE:.0%}" in reason
    assert "pipeline's runs" in reason
    assert noise_reason(MAX_OTHERS_SHARE) is None
    assert noise_reason(None) is None  # unknown (no /proc/stat) is not held against it


def test_an_interval_too_wide_is_too_noisy():
    assert noise_reason(0.0, MAX_REL_CI_WIDTH) is None
    assert "interval" in (noise_reason(0.0, MAX_REL_CI_WIDTH + 0.01) or "")
    assert noise_reason(0.0, float("inf")) is not None


def test_a_measurement_reports_its_own_noise():
    assert _fps([100.0] * 5, others=0.02).noise() is None
    assert "machine was busy" in (_fps([100.0] * 5, others=0.3).noise() or "")
    spread = _fps([60.0, 140.0, 80.0, 120.0, 100.0])
    assert spread.noise() is None and "interval" in (spread.noise(rel_width=True) or "")


def test_a_slowdown_below_one_is_refused_before_anything_runs(tmp_path):
    target = FpsTarget("too fast", PipelineConfig(), slowdown=0.8)
    with pytest.raises(ConfigError, match="at least 1.0"):
        measure_fps_interleaved(tmp_path / "none.mp4", [target], model=tmp_path / "none.onnx")


@pytest.fixture(scope="module")
def tiny_clip(tmp_path_factory):
    """A real 6-frame 480p clip and the FQA model: enough to run the pipeline, quickly."""
    pytest.importorskip("cv2")
    pytest.importorskip("onnxruntime")
    from edgecheck.data.video import write_clip
    from edgecheck.pipeline.scoring import prepare_fqa

    folder = tmp_path_factory.mktemp("tiny")
    write_clip(folder / "walk.mp4", "walk", "480p", 6)
    return folder / "walk.mp4", prepare_fqa(folder / "fqa", "fp32")


def test_the_stopping_rule_adds_whole_rotations_until_it_is_satisfied(tiny_clip):
    video, model = tiny_clip
    targets = [
        FpsTarget("a", PipelineConfig(), warmup=0),
        FpsTarget("b", PipelineConfig(), warmup=0),
    ]
    asked = []

    def until(measured):
        asked.append([len(m.fps) for m in measured])
        return len(asked) == 2

    a, b = measure_fps_interleaved(video, targets, model=model, rounds=3, until=until, max_rounds=9)
    # Asked after the first 3 rounds and after one rotation (2 rounds) more, then stopped.
    assert asked == [[3, 3], [5, 5]] and len(a.fps) == len(b.fps) == 5


def test_the_stopping_rule_ends_at_max_rounds_and_without_it_rounds_are_fixed(tiny_clip):
    video, model = tiny_clip
    target = [FpsTarget("a", PipelineConfig(), warmup=0)]
    never = measure_fps_interleaved(video, target, model=model, rounds=2, until=lambda m: False,
                                    max_rounds=4)  # fmt: skip
    fixed = measure_fps_interleaved(video, target, model=model, rounds=2, max_rounds=4)
    assert len(never[0].fps) == 4 and len(fixed[0].fps) == 2


# --- the paired ratio and the same-run rule -----------------------------------------------------


def test_the_paired_ratio_cancels_drift_common_to_both_sides():
    drift = [1.0, 0.8, 1.1, 0.7, 0.95, 1.05]
    pipeline = _fps([150.0 * d for d in drift])
    naive = _fps([10.0 * d for d in drift], name="naive detector")
    r = paired_ratio(pipeline, naive)
    assert (r.value, r.low, r.high) == pytest.approx((15.0, 15.0, 15.0))
    with pytest.raises(StatsError, match="interleaved"):
        paired_ratio(pipeline, _fps([10.0] * 5))


def _comparison(ratios, others=0.0) -> NaiveComparison:
    naive = [8.0, 8.4, 7.9, 8.2, 8.1, 8.3]
    return NaiveComparison.of(
        _fps([r * n for r, n in zip(ratios, naive, strict=True)], others=others),
        _fps(naive, name="naive detector"),
    )


def test_the_same_run_rule_passes_above_the_factor_and_fails_below():
    ok = _comparison([FACTOR * 1.1] * 6).judge(CLAIM, profile="cpu", key=KEY)
    slow = _comparison([FACTOR * 1.1 / 1.2] * 6).judge(CLAIM, profile="cpu", key=KEY)
    assert ok.verdict == "pass" and slow.verdict == "FAIL"
    assert "naive detector" in ok.threshold and f"{FACTOR:g} x" in ok.threshold
    assert ok.reference == pytest.approx(ok.measured / (FACTOR * 1.1))
    assert ok.bound == pytest.approx(FACTOR * ok.reference)


def test_the_same_run_rule_is_not_run_on_a_busy_machine_never_failed():
    busy = _comparison([FACTOR * 0.5] * 6, others=MAX_OTHERS_SHARE * 2)
    result = busy.judge(CLAIM, profile="cpu", key=KEY)
    assert result.verdict == "not run here" and "machine was busy" in result.message


def test_a_wide_ratio_interval_is_decided_only_when_it_lies_on_one_side():
    straddles = [FACTOR * f for f in (0.8, 1.25, 0.85, 1.2, 0.9, 1.15)]
    below = [FACTOR * f for f in (0.5, 0.8, 0.55, 0.75, 0.6, 0.7)]
    wide = _comparison(straddles)
    assert wide.ratio.relative_width > MAX_REL_CI_WIDTH
    assert wide.judge(CLAIM, profile="cpu", key=KEY).verdict == "not run here"
    assert _comparison(below).judge(CLAIM, profile="cpu", key=KEY).verdict == "FAIL"


def test_a_narrow_interval_across_the_bound_is_not_run_either():
    """Narrow (2-3 %) but across the bound: no point-estimate verdict near the bound."""
    near = _comparison([FACTOR * f for f in (0.99, 1.01, 1.0, 1.02, 0.98, 1.005)])
    assert near.ratio.relative_width < MAX_REL_CI_WIDTH
    result = near.judge(CLAIM, profile="cpu", key=KEY)
    assert result.verdict == "not run here" and "straddles" in result.message


def _row(res, precision, fps, noise=""):
    return Table5Row(res, precision, "onnxruntime", fps, (fps, fps), {}, 1.0, 1, 5, 9, 90, noise)


REGISTRY = {CLAIM_ID: CLAIM, "quant.fp16.speedup": CLAIMS["quant.fp16.speedup"]}


def _table(naive_frames: int = NAIVE_FRAMES, clip_frames: int = NAIVE_CLIP_FRAMES) -> Table5:
    rows = [_row(r, "fp32", 120.0) for r in ("1080p", "720p", "480p")]
    naive = {"fps": 9.0, "frames": naive_frames, "clip_frames": clip_frames}
    return Table5(
        rows=rows, naive={"1080p": naive}, frames=CLIP_FRAMES,
        versus_naive={"1080p": _comparison([FACTOR * 1.1] * 6)},
    )  # fmt: skip


def test_table5_judges_the_same_run_rule_on_cpu_only():
    on_cpu = judge_table5(_table(), REGISTRY, SimpleNamespace(profile="cpu"))
    assert [r.verdict for r in on_cpu if r.key == KEY] == ["pass"]
    on_tx2 = judge_table5(_table(), REGISTRY, SimpleNamespace(profile="tx2"))
    assert not [r for r in on_tx2 if r.key == KEY]


@pytest.mark.parametrize(
    ("naive_frames", "clip_frames"),
    [(NAIVE_FRAMES * 2, NAIVE_CLIP_FRAMES), (NAIVE_FRAMES, CLIP_FRAMES)],
)
def test_table5_does_not_judge_the_same_run_rule_with_other_lengths(naive_frames, clip_frames):
    table = _table(naive_frames, clip_frames)
    results = judge_table5(table, REGISTRY, SimpleNamespace(profile="cpu"))
    judged = [r for r in results if r.key == KEY]
    assert [r.verdict for r in judged] == ["not run here"]
    assert f"over {naive_frames} and {clip_frames}" in judged[0].message


def test_table5_does_not_judge_the_real_time_bar_on_a_noisy_row():
    rows = [_row("1080p", "fp32", 10.0, noise="other processes took 40.0 % ...")]
    results = judge_table5(Table5(rows=rows), REGISTRY, SimpleNamespace(profile="cpu"))
    bar = [r for r in results if r.key == "1080p-fp32"]
    assert [r.verdict for r in bar] == ["not run here"] and "40.0 %" in bar[0].message

"""quant.int8.speedup (IV-D-3, Fig. 4) and quant.fp16.speedup (Table V), measured live.

INT8: VGG16 exported and quantized to INT8 QDQ once per module (about 30 s), then FP32 and
INT8 at batch 1, 2 and 4 timed in worker processes pinned to one core each, in ONE
interleaved run (`edgecheck.evaluation.int8_speed`, the code the report uses) with:

* the same-run reference the cpu rules scale: this CPU's INT8 / FP32 GEMM rate ratio
  (`edgecheck.bench.gemm`, VGG16's conv GEMMs, the INT8 model's operand types);
* the teeth: an INT8 runner 20 % slower (`edgecheck.testing.Slowdown`, `TEETH_SLOWDOWN`) at batch 1 and 4,
  which must FAIL the rules where the real runner (its twin) passes;
* FP16 VGG16 at batch 1, measured anyway where FP16 speed claims do not apply (no native
  FP16 in onnxruntime's CPU provider), for the report's "not applicable" line.

A timing the harness flags unstable (too noisy, or its core busy with another job) is
skipped with the harness's reason, never passed or failed. Fig. 4's batch-128 point needs a
discrete GPU with TensorRT, and FP16 speed needs hardware and a runtime that compute FP16
natively: on other machines those tests are skipped with what is missing and listed as "not
run here".

With ``--benchmark-save`` / ``--benchmark-autosave`` every timing (the GEMM reference and the
slowed runners included) also goes into the session's pytest-benchmark run, through the
plugin's ``edgecheck_benchmark_json``.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")

from edgecheck.evaluation.int8_speed import (
    CLAIM_ID,
    CPU_BATCHES,
    GEMM_REFERENCE_NAME,
    GPU_BATCHES,
    TREND_KEY,
    batch_key,
    judge_int8_speed,
    measure_int8_speed,
    precision_line,
    prepare_vgg16_int8,
)
from edgecheck.quantize import speed_unmet
from edgecheck.testing import TEETH_SLOWDOWN, Slowdown

pytestmark = [pytest.mark.perf, pytest.mark.slow]

# Batches at which a 20 % slower INT8 runner is timed next to the real one: b1 for the
# per-batch rule, b4 for the per-batch rule and the trend (b4 / b1) at once.
SLOWED_BATCHES = (1, 4)


@pytest.fixture(scope="module")
def int8_models(tmp_path_factory, edgecheck_device):
    runtime = "tensorrt" if edgecheck_device.profile == "gpu" else "onnxruntime"
    reasons = speed_unmet("int8", edgecheck_device, runtime=runtime)
    if reasons:
        pytest.skip("; ".join(reasons))
    return prepare_vgg16_int8(tmp_path_factory.mktemp("int8-speed"))


@pytest.fixture(scope="module")
def cpu_speed(int8_models, edgecheck_device, edgecheck_benchmark_json):
    others = ("fp16",) if speed_unmet("fp16", edgecheck_device) else ()
    models = int8_models.with_fp16() if others else int8_models
    speed = measure_int8_speed(
        models, batches=CPU_BATCHES, cores=1, device="cpu",
        variant=Slowdown(TEETH_SLOWDOWN), variant_batches=SLOWED_BATCHES,
        others=others,
    )  # fmt: skip
    edgecheck_benchmark_json.save(speed.measurements(), group="int8-speed-cpu")
    return speed


def _decided(cell_or_speed):
    if cell_or_speed.unstable:
        pytest.skip(f"timing too noisy to decide: {cell_or_speed.reason}")


def _gemm_ratio(speed):
    assert speed.gemm is not None
    _decided(speed.gemm)
    return speed.gemm.ratio.value


@pytest.mark.cpu
@pytest.mark.claim(CLAIM_ID)
@pytest.mark.parametrize("batch", CPU_BATCHES, ids=[batch_key(b) for b in CPU_BATCHES])
def test_int8_speedup_by_batch_on_the_cpu(cpu_speed, check_claim, batch):
    """INT8 / FP32 VGG16 >= F x this CPU's INT8 / FP32 GEMM ratio of the same run."""
    cell = cpu_speed.cell(batch)
    assert cell is not None and cell.fp32.rounds == cell.int8.rounds >= 8
    _decided(cell)
    check_claim(
        CLAIM_ID, cell.speedup.value, key=batch_key(batch), reference=_gemm_ratio(cpu_speed),
        reference_name=GEMM_REFERENCE_NAME,
        ci=[round(cell.speedup.low, 3), round(cell.speedup.high, 3)],
    )  # fmt: skip


@pytest.mark.cpu
@pytest.mark.claim(CLAIM_ID)
@pytest.mark.parametrize("key", [TREND_KEY])  # the id is the claim key in the summary
def test_int8_speedup_does_not_drop_with_batch(cpu_speed, check_claim, key):
    """Fig. 4's shape: speedup(b4) / speedup(b1) of the same run must not drop below the bound."""
    _decided(cpu_speed)
    trend = cpu_speed.trend
    assert trend.low <= trend.value <= trend.high
    check_claim(CLAIM_ID, trend.value, key=key, ci=[round(trend.low, 3), round(trend.high, 3)])


@pytest.mark.cpu
@pytest.mark.parametrize("key", ["b1", "b4", TREND_KEY])
def test_a_20_percent_slower_int8_runner_fails_the_claim(cpu_speed, edgecheck_claims, key):
    """Teeth: in the same run, INT8 20 % slower (`Slowdown`) FAILS each rule that its
    unchanged twin (the real runner) passes, against the same GEMM reference."""
    assert cpu_speed.variant == Slowdown(TEETH_SLOWDOWN) and TEETH_SLOWDOWN == 1.2
    _decided(cpu_speed)
    for batch in SLOWED_BATCHES:
        _decided(cpu_speed.variants[batch])
    # The trend's teeth: INT8 slowed at the largest batch only (b4 / b1 drops by 1.2).
    slowed = cpu_speed.with_variant_int8((4,) if key == TREND_KEY else None)
    twin = {r.key: r for r in judge_int8_speed(cpu_speed, edgecheck_claims, "cpu")}
    after = {r.key: r for r in judge_int8_speed(slowed, edgecheck_claims, "cpu")}
    assert twin[key].verdict == "pass", twin[key].message
    assert after[key].verdict == "FAIL", after[key].message
    assert after["b2"].verdict == "pass"  # not slowed: the same verdict as its twin
    if key == TREND_KEY:
        assert after["b1"].verdict == "pass"
    # The injected factor, not noise, made the difference.
    batch = 1 if key == "b1" else 4
    expected = cpu_speed.cell(batch).speedup.value / TEETH_SLOWDOWN
    assert slowed.cell(batch).speedup.value == pytest.approx(expected, rel=0.08)


def _fake_device(tmp_path, name):
    """`edgecheck.device.detect_device` of a fake machine (tests/unit/fake_machines.py)."""
    from edgecheck.device import detect_device

    spec = importlib.util.spec_from_file_location(
        "fake_machines", Path(__file__).parents[1] / "unit" / "fake_machines.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return detect_device(
        root=module.fake_machine(tmp_path, name), cuda_probe=lambda: (False, None, None)
    )


@pytest.mark.cpu
def test_not_applicable_precisions_are_measured_anyway(cpu_speed, edgecheck_device, tmp_path):
    """Where a speed claim does not apply, the report shows the ratio measured anyway next to
    the reason: INT8 on a CPU without dot products (the AVX2 EPYC, injected), and FP16 on
    onnxruntime's CPU provider (here)."""
    epyc = _fake_device(tmp_path, "epyc-avx2")
    reasons = speed_unmet("int8", epyc)
    assert reasons and "dot-product" in reasons[0]
    cell = cpu_speed.cell(1)
    line = precision_line("int8", reasons, cell)
    assert line.startswith("- INT8 speed claims: not applicable here: needs INT8 dot-product")
    assert "measured anyway: VGG16 INT8 / FP32 throughput at batch 1, 1 core: " in line
    assert f"**{cell.speedup.value:.2f}x**" in line
    fp16_reasons = speed_unmet("fp16", edgecheck_device)
    assert fp16_reasons  # onnxruntime's CPU provider casts FP16 to FP32
    fp16 = cpu_speed.others["fp16"]
    assert fp16.int8.rounds == fp16.fp32.rounds and "fp16" in fp16.int8.name
    line = precision_line("fp16", fp16_reasons, fp16)
    assert "casting to FP32" in line and f"**{fp16.speedup.value:.2f}x**" in line
    # Measured, not assumed: FP16 by casting is no faster than FP32 (within noise).
    assert 0.3 < fp16.speedup.value < 1.3


@pytest.mark.gpu
@pytest.mark.needs(cuda=True, tensorrt=True, int8_dot=True)
@pytest.mark.claim(CLAIM_ID)
@pytest.mark.parametrize("key", ["b128"])  # the claim's point; the trend is checked too
def test_int8_speedup_fig4_batch_1_to_128_on_a_gpu(
    int8_models, check_claim, edgecheck_claims, edgecheck_benchmark_json, key
):
    """Fig. 4 itself: TensorRT on a discrete GPU, batch 1 to 128, >= 3.4x at 128."""
    speed = measure_int8_speed(int8_models, batches=GPU_BATCHES, device="cuda")
    edgecheck_benchmark_json.save(speed.measurements(), group="int8-speed-gpu")
    _decided(speed)
    results = judge_int8_speed(speed, edgecheck_claims, "gpu")
    assert key in [r.key for r in results]
    for result in results:
        check_claim.expect(CLAIM_ID, result.measured, key=result.key)
    check_claim.assert_all()


# Its claim has rules on tx2 and gpu (none on orin, where it is listed as not run): selected by
# -m tx2 and by -m gpu, and run where either profile is met.
@pytest.mark.tx2
@pytest.mark.gpu
@pytest.mark.claim("quant.fp16.speedup")
@pytest.mark.parametrize("resolution", ["1080p", "720p"])
def test_fp16_speedup_where_fp16_is_native(edgecheck_device, check_claim, tmp_path, resolution):
    """Table V's FP16 / FP32 fps ratio applies only where FP16 runs natively."""
    runtime = "tensorrt" if edgecheck_device.capabilities.cuda else "onnxruntime"
    reasons = speed_unmet("fp16", edgecheck_device, runtime=runtime)
    if reasons:
        pytest.skip("; ".join(reasons))
    from edgecheck.data.video import write_clip
    from edgecheck.pipeline import PipelineConfig
    from edgecheck.pipeline.measure import measure_fps
    from edgecheck.pipeline.scoring import prepare_fqa

    pytest.importorskip("cv2")
    clip = tmp_path / f"walk_{resolution}.mp4"
    write_clip(clip, "walk", resolution, 90)
    fps = {}
    for precision in ("fp32", "fp16"):
        model = prepare_fqa(tmp_path / "fqa", precision, runtime)
        config = PipelineConfig(backend=runtime, precision=precision)
        fps[precision] = measure_fps(clip, config, model=model, repeats=3).median
    check_claim("quant.fp16.speedup", fps["fp16"] / fps["fp32"], key=resolution, **fps)

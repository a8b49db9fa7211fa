"""`Int8Speed.measurements`: every timing of a Fig. 4 run once, what the perf test hands to
``--benchmark-save`` (tests/perf/test_quantization_speed.py)."""

from __future__ import annotations

from edgecheck.bench.stats import SampleStats
from edgecheck.bench.timing import Measurement, speedup
from edgecheck.evaluation.int8_speed import GemmReference, Int8Cell, Int8Speed, quick_policy
from edgecheck.evaluation.int8_speed.speed import speedup_trend


def _timing(name: str, seconds: float, batch: int = 1) -> Measurement:
    samples = [seconds * (1 + 0.01 * k) for k in range(8)]
    return Measurement(name=name, batch_size=batch, samples=samples, stats=SampleStats(samples))


def _cell(batch: int, fp32: Measurement | None = None, other: str = "int8") -> Int8Cell:
    fp32 = fp32 or _timing(f"fp32-b{batch}", 0.3 * batch, batch)
    faster = _timing(f"{other}-b{batch}", 0.1 * batch, batch)
    return Int8Cell(batch, fp32, faster, speedup(fp32, faster))


def test_every_timing_once_in_run_order():
    cells = [_cell(1), _cell(4)]
    g32, g8 = _timing("conv-fp32", 0.05), _timing("conv-int8", 0.02)
    speed = Int8Speed(
        cells=cells, trend=speedup_trend(cells[0], cells[-1], quick_policy()), cores=1,
        backend="onnxruntime", device="cpu",
        references={"conv": GemmReference(g32, g8, speedup(g32, g8), "u8s8")},
        variants={1: _timing("variant-b1", 0.12)},
        others={"fp16": _cell(1, fp32=cells[0].fp32, other="fp16")},  # the same FP32 timing
    )  # fmt: skip
    names = [m.name for m in speed.measurements()]
    assert names == [
        "fp32-b1", "int8-b1", "fp32-b4", "int8-b4", "fp16-b1", "conv-fp32", "conv-int8",
        "variant-b1",
    ]  # fmt: skip

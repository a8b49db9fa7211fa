"""The merge gate for the team's ONNX models: size, agreement and speed against the baselines.

Every model of [tool.edgecheck.models] in pyproject.toml is a parameter of these tests (test
id = its name). What is compared where (edgecheck's baseline rules):

* MACs and parameter bytes: on any machine, against baselines/<profile>.json, within
  SIZE_TOLERANCE;
* the output on the stored reference input: on any machine, against reference/<name>.output.npy
  within RTOL / ATOL;
* p50 and p99 latency and throughput at each of BATCH_SIZES: only on the machine that recorded
  them (same fingerprint, calibration within 25 %); on any other machine they are reported as
  "no baseline for this device" and pass. While other jobs hold the CPU the test is skipped
  (conftest.py's MAX_CONTENTION), and the p99 is not judged above P99_MAX_CONTENTION.

Record or refresh the baselines with ``pytest --edgecheck-update-baselines`` and commit
baselines/.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "reference"

BATCH_SIZES = (1, 4)  # the batch sizes the team deploys
THREADS = 1  # onnxruntime intra-op threads, as deployed
SIZE_TOLERANCE = 0.01  # MACs / parameter bytes may change by 1 % before the gate fails
RTOL, ATOL = 1e-4, 1e-5  # agreement with the reference output
LATENCY_TOLERANCE = 0.10  # p50 latency and throughput: slower by more than 10 % fails
P99_TOLERANCE = 0.25  # p99 latency (the tail is noisier)
P99_BLOCK = 100  # the p99 is taken per block of this many consecutive calls
# The p99 is judged only when the test's thread waited for a CPU (other jobs running) at most
# this share of its time: each such wait lands in the tail. The p50 holds up to conftest.py's
# MAX_CONTENTION, beyond which the test is skipped.
P99_MAX_CONTENTION = 0.05


def onnx_file(model) -> Path:
    if model.onnx is None:
        pytest.fail(f"model '{model.name}' is a torch factory; this gate measures ONNX files "
                    f"(onnx = \"models/{model.name}.onnx\" in pyproject.toml)", pytrace=False)  # fmt: skip
    return model.onnx


@pytest.mark.accuracy
def test_macs_and_parameter_bytes(edgecheck_user_model, edgecheck_baseline):
    """Eq. 1 MACs of the graph (Conv, Gemm, MatMul) per example, and the bytes of its weights."""
    from edgecheck.quantize import onnx_parameter_bytes

    path = onnx_file(edgecheck_user_model)
    macs = edgecheck_user_model.count_macs().total
    edgecheck_baseline.expect("macs", macs, unit="MACs", tolerance=SIZE_TOLERANCE)
    size = onnx_parameter_bytes(path).total
    edgecheck_baseline.expect("parameter_bytes", size, unit="B", tolerance=SIZE_TOLERANCE)
    edgecheck_baseline.assert_all()


@pytest.mark.accuracy
def test_output_matches_reference(edgecheck_user_model):
    """onnxruntime's output on the stored input agrees with the stored reference output."""
    from edgecheck.backends import make_runner

    path = onnx_file(edgecheck_user_model)
    name = edgecheck_user_model.name
    files = [REFERENCE / f"{name}.{kind}.npy" for kind in ("input", "output")]
    missing = [str(f.relative_to(ROOT)) for f in files if not f.is_file()]
    if missing:
        pytest.fail(f"model '{name}': no reference {' or '.join(missing)}; write them from the "
                    f"accepted model (make_model.py does for the example)", pytrace=False)  # fmt: skip
    batch, expected = (np.load(f) for f in files)
    with make_runner(path, "onnxruntime", batch_size=len(batch), device="cpu") as runner:
        got = runner.infer(batch)
    np.testing.assert_allclose(
        got, expected, rtol=RTOL, atol=ATOL,
        err_msg=f"model '{name}': output on {files[0].name} differs from {files[1].name}",
    )  # fmt: skip


def measure_latency(model: str | Path, batch: int, policy):
    """Time one call of `model` at `batch` on onnxruntime with THREADS threads (a Measurement)."""
    from edgecheck.backends import make_runner
    from edgecheck.bench.timing import CallSampler, Target, measure

    with make_runner(
        Path(model), "onnxruntime", batch_size=batch, threads=THREADS, device="cpu"
    ) as runner:
        x = runner.example_input()
        # cores=THREADS: the harness checks that no other job took this test's CPU meanwhile
        target = Target(f"b{batch}", CallSampler(lambda: runner.infer(x)), batch, cores=THREADS)
        return measure(target, policy=policy)


def block_p99(samples: list[float], block: int = P99_BLOCK) -> list[float]:
    """The p99 of every block of `block` consecutive calls: samples of the p99, to compare."""
    n = len(samples) // block
    return [float(np.percentile(samples[i * block : (i + 1) * block], 99)) for i in range(n)]


@pytest.mark.perf
@pytest.mark.parametrize("batch", BATCH_SIZES, ids=[f"b{b}" for b in BATCH_SIZES])
def test_latency_and_throughput(edgecheck_user_model, batch, timing_policy, edgecheck_baseline):
    """p50 / p99 latency and throughput; compared only on the machine that recorded them."""
    result = measure_latency(onnx_file(edgecheck_user_model), batch, timing_policy)
    if result.contended:
        # Other jobs took this test's core: a slowdown that says nothing about the model.
        pytest.skip(f"not timed here: {result.reason}")
    samples = result.samples
    edgecheck_baseline.expect("p50_latency", samples, unit="s", kind="timing",
                              tolerance=LATENCY_TOLERANCE)  # fmt: skip
    busy = result.contention or 0.0
    if busy <= P99_MAX_CONTENTION:
        edgecheck_baseline.expect("p99_latency", block_p99(samples), unit="s", kind="timing",
                                  tolerance=P99_TOLERANCE)  # fmt: skip
    else:
        warnings.warn(f"{edgecheck_user_model.name} b{batch}: p99_latency not judged: its "
                      f"thread waited for a CPU {busy:.1%} of the time (other jobs), above "
                      f"P99_MAX_CONTENTION {P99_MAX_CONTENTION:.0%}", stacklevel=1)  # fmt: skip
    edgecheck_baseline.expect("throughput", [batch / s for s in samples], unit="items/s",
                              direction="higher", kind="timing", tolerance=LATENCY_TOLERANCE)  # fmt: skip
    edgecheck_baseline.assert_all()

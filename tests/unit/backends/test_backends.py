"""Backends: the runner contract, the torch and onnxruntime runners, the TensorRT skip line,
and the test-only slowdown hook. No test here asserts on how fast anything runs."""

from __future__ import annotations

import time

import numpy as np
import pytest

import edgecheck.backends as backends
import edgecheck.backends.tensorrt_backend as trt_backend
from edgecheck.backends import (
    BackendError,
    Runner,
    RunnerConfig,
    backend_unavailable_reason,
    fastest_cpu_backend,
    make_runner,
)
from edgecheck.export import export_onnx
from edgecheck.models import build_model
from edgecheck.testing import TWIN, Slowdown, SlowedRunner

# -- RunnerConfig ----------------------------------------------------------------------------


def test_describe_is_one_readable_line():
    config = RunnerConfig("fqa", "onnxruntime", "fp32", batch_size=4, threads=2)
    assert config.describe() == "fqa on onnxruntime fp32, batch 4, 2 threads"
    assert RunnerConfig("vgg16", "torch").describe() == "vgg16 on torch fp32, batch 1, 1 thread"
    gpu = RunnerConfig("fqa", "tensorrt", "fp16", 8, device="cuda")
    assert gpu.describe() == "fqa on tensorrt fp16, batch 8, cuda"


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"precision": "fp8"}, ["fp8", "fp32, fp16, int8"]),
        ({"batch_size": 0}, ["batch_size 0", "positive integer"]),
        ({"threads": -1}, ["threads -1"]),
        ({"device": "tpu"}, ["'tpu'", "cpu, cuda"]),
    ],
)
def test_config_rejects_bad_values_with_the_value_and_the_choices(kwargs, words):
    with pytest.raises(BackendError) as info:
        RunnerConfig("fqa", "torch", **kwargs)
    for word in words:
        assert word in str(info.value)


# -- the Runner contract, with fake runtimes --------------------------------------------------


class FakeRunner(Runner):
    """A runtime whose output, or crash, the test chooses."""

    def __init__(self, config, input_shape=(1, 4, 4), output=None, crash=None, crash_on_start=None):
        super().__init__(config, input_shape)
        self.output = output
        self.crash = crash
        self.crash_on_start = crash_on_start
        self.calls = 0

    def _activate_impl(self):
        if self.crash_on_start is not None:
            raise self.crash_on_start

    def _infer_impl(self, batch):
        self.calls += 1
        if self.crash is not None:
            raise self.crash
        return self.output if self.output is not None else batch.reshape(len(batch), -1)[:, :1]


CONFIG = RunnerConfig("fqa", "onnxruntime", batch_size=4, threads=2)


def test_wrong_input_shape_names_model_config_shapes_and_fix():
    with FakeRunner(CONFIG) as runner, pytest.raises(BackendError) as info:
        runner.infer(np.zeros((2, 1, 4, 4), np.float32))
    text = str(info.value)
    assert "'fqa'" in text
    assert CONFIG.describe() in text
    assert "(4, 1, 4, 4)" in text and "(2, 1, 4, 4)" in text
    assert "batch_size=2" in text  # the fix


def test_wrong_example_shape_and_dtype_say_how_to_fix():
    with FakeRunner(CONFIG) as runner:
        with pytest.raises(BackendError, match=r"resize or reshape the input to \(4, 1, 4, 4\)"):
            runner.infer(np.zeros((4, 3, 4, 4), np.float32))
        with pytest.raises(BackendError, match=r"dtype float64.*astype\(np.float32\)"):
            runner.infer(np.zeros((4, 1, 4, 4), np.float64))
        with pytest.raises(BackendError, match="numpy array"):
            runner.infer([[0.0]])  # type: ignore[arg-type]
        assert runner.calls == 0  # nothing bad reached the runtime


def test_nan_output_names_model_config_and_count():
    output = np.array([[0.5], [np.nan], [np.inf], [0.1]], dtype=np.float32)
    with FakeRunner(CONFIG, output=output) as runner, pytest.raises(BackendError) as info:
        runner.infer(runner.example_input())
    text = str(info.value)
    assert "'fqa'" in text and CONFIG.describe() in text
    assert "2 non-finite value(s)" in text and "out of 4" in text


def test_runtime_crash_is_wrapped_with_the_config_and_the_cause_kept():
    boom = RuntimeError("segment exploded")
    with FakeRunner(CONFIG, crash=boom) as runner, pytest.raises(BackendError) as info:
        runner.infer(runner.example_input())
    assert info.value.__cause__ is boom
    assert CONFIG.describe() in str(info.value) and "segment exploded" in str(info.value)


def test_crash_while_starting_is_wrapped_too():
    boom = OSError("no such library")
    runner = FakeRunner(CONFIG, crash_on_start=boom)
    with pytest.raises(BackendError, match="could not start fqa on onnxruntime") as info:
        runner.activate()
    assert info.value.__cause__ is boom
    assert not runner.is_active


def test_infer_before_activate_says_what_to_do():
    with pytest.raises(BackendError, match="before activate"):
        FakeRunner(CONFIG).infer(np.zeros((4, 1, 4, 4), np.float32))


def test_example_input_is_deterministic_and_fits():
    runner = FakeRunner(CONFIG)
    a, b = runner.example_input(3), runner.example_input(3)
    assert a.shape == runner.expected_shape == (4, 1, 4, 4) and a.dtype == np.float32
    assert np.array_equal(a, b)


# -- torch and onnxruntime on the paper's FQA CNN ---------------------------------------------


@pytest.mark.parametrize("batch_size", [1, 4])
def test_torch_and_onnxruntime_agree_on_fqa(batch_size):
    with (
        make_runner("fqa", "torch", batch_size=batch_size, device="cpu") as torch_runner,
        make_runner("fqa", "onnxruntime", batch_size=batch_size, device="cpu") as ort_runner,
    ):
        batch = torch_runner.example_input(seed=batch_size)
        expected = torch_runner.infer(batch)
        got = ort_runner.infer(batch)
    assert expected.shape == got.shape == (batch_size, 1)
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-5)
    assert torch_runner.config.backend == "torch" and ort_runner.config.backend == "onnxruntime"


def test_onnxruntime_session_uses_the_configured_threads_and_cpu_provider():
    runner = make_runner("fqa", "onnxruntime", batch_size=2, threads=2, device="cpu")
    with runner:
        assert runner.providers[-1] == "CPUExecutionProvider"  # type: ignore[attr-defined]
        options = runner.session.get_session_options()  # type: ignore[attr-defined]
        assert options.intra_op_num_threads == 2 and options.inter_op_num_threads == 1
        assert options.get_session_config_entry("session.intra_op.allow_spinning") == "1"
        assert options.get_session_config_entry("session.force_spinning_stop") == "0"


def test_onnxruntime_spinning_options_reach_the_session():
    options = {"spinning": True, "spin_between_runs": False}
    with make_runner("fqa", "onnxruntime", device="cpu", backend_options=options) as runner:
        session_options = runner.session.get_session_options()  # type: ignore[attr-defined]
        assert session_options.get_session_config_entry("session.force_spinning_stop") == "1"
    pinned = {"thread_affinities": [0]}
    with make_runner("fqa", "onnxruntime", threads=2, device="cpu", backend_options=pinned) as r:
        entry = r.session.get_session_options().get_session_config_entry(  # type: ignore[attr-defined]
            "session.intra_op_thread_affinities"
        )
        assert entry == "1"  # onnxruntime counts processors from 1
    with pytest.raises(BackendError, match="threads - 1 = 1 CPU"):
        make_runner("fqa", "onnxruntime", threads=2, device="cpu",
                    backend_options={"thread_affinities": [0, 1]}).activate()  # fmt: skip
    with pytest.raises(BackendError, match="unknown onnxruntime backend_options \\['spin'\\]"):
        make_runner("fqa", "onnxruntime", device="cpu", backend_options={"spin": False})


def test_provider_choice_prefers_gpu_providers_and_keeps_the_cpu_fallback():
    from edgecheck.backends.onnxruntime_backend import choose_providers

    everything = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    assert choose_providers("cuda", everything) == everything
    assert choose_providers("cpu", everything) == ["CPUExecutionProvider"]
    assert choose_providers("cpu", ["ACLExecutionProvider", "CPUExecutionProvider"]) == [
        "ACLExecutionProvider",
        "CPUExecutionProvider",
    ]
    with pytest.raises(BackendError, match="no GPU execution provider.*onnxruntime-gpu"):
        choose_providers("cuda", ["CPUExecutionProvider"])


def test_onnx_file_runs_with_its_own_input_shape(tmp_path):
    path = export_onnx(build_model("fqa", seed=0), (1, 64, 64), tmp_path / "fqa.onnx")
    with (
        make_runner(path, "onnxruntime", batch_size=2, device="cpu") as from_file,
        make_runner("fqa", "onnxruntime", batch_size=2, device="cpu") as from_name,
    ):
        assert from_file.input_shape == (1, 64, 64)
        assert from_file.config.model == "fqa"
        batch = from_file.example_input()
        np.testing.assert_allclose(from_file.infer(batch), from_name.infer(batch), rtol=1e-6)


def test_torch_runner_gives_the_thread_count_back():
    import torch

    before = torch.get_num_threads()
    with make_runner("fqa", "torch", threads=1, device="cpu") as runner:
        assert torch.get_num_threads() == 1
        runner.infer(runner.example_input())
    assert torch.get_num_threads() == before


def test_torch_fp16_on_cpu_is_refused_with_the_reason():
    with pytest.raises(BackendError) as info:
        make_runner("fqa", "torch", precision="fp16", device="cpu")
    assert "CUDA" in str(info.value) and "fp32" in str(info.value)


def test_reduced_precision_needs_a_matching_onnx_file(tmp_path):
    with pytest.raises(BackendError, match="quantize_static"):
        make_runner("fqa", "onnxruntime", precision="int8", device="cpu")
    path = export_onnx(build_model("fqa", seed=0), (1, 64, 64), tmp_path / "fqa.onnx")
    with pytest.raises(BackendError, match="no quantization nodes"):
        make_runner(path, "onnxruntime", precision="int8", device="cpu")
    with pytest.raises(BackendError, match="no float16 weights"):
        make_runner(path, "onnxruntime", precision="fp16", device="cpu")


def test_unknown_backend_missing_file_and_onnx_on_torch_are_clear(tmp_path):
    with pytest.raises(
        BackendError, match="unknown backend 'tflite'.*torch, onnxruntime, tensorrt"
    ):
        make_runner("fqa", "tflite")
    with pytest.raises(BackendError, match="does not exist"):
        make_runner(tmp_path / "missing.onnx", "onnxruntime")
    path = export_onnx(build_model("fqa", seed=0), (1, 64, 64), tmp_path / "fqa.onnx")
    with pytest.raises(BackendError, match="registered models only"):
        make_runner(path, "torch", device="cpu")
    assert backend_unavailable_reason("torch") is None


# -- availability -----------------------------------------------------------------------------


def test_tensorrt_reason_is_one_line_naming_what_is_missing_and_the_extra(monkeypatch):
    monkeypatch.setattr(trt_backend, "is_available", lambda m: m == "tensorrt")
    assert backend_unavailable_reason("tensorrt") == (
        "tensorrt backend: needs TensorRT and Polygraphy; polygraphy is not installed "
        "(pip install pytest-edgecheck[trt])"
    )
    monkeypatch.setattr(trt_backend, "is_available", lambda m: False)
    reason = backend_unavailable_reason("tensorrt")
    assert reason is not None and "\n" not in reason
    assert (
        "tensorrt and polygraphy are not installed" in reason and "pytest-edgecheck[trt]" in reason
    )


def test_tensorrt_absent_here_gives_the_line_and_make_runner_raises_it():
    reason = backend_unavailable_reason("tensorrt")
    if reason is None:
        pytest.skip("TensorRT and Polygraphy are installed here")
    assert "\n" not in reason and "polygraphy" in reason
    with pytest.raises(BackendError) as info:
        make_runner("fqa", "tensorrt")
    assert str(info.value) == reason


def test_fastest_cpu_backend_prefers_onnxruntime(monkeypatch):
    assert fastest_cpu_backend() == "onnxruntime"
    monkeypatch.setattr(backends, "is_available", lambda m: m not in ("onnxruntime", "onnx"))
    assert fastest_cpu_backend() == "torch"
    reason = backend_unavailable_reason("onnxruntime")
    assert reason == (
        "onnxruntime backend: needs onnxruntime and onnx; onnxruntime and onnx are not "
        "installed (pip install pytest-edgecheck[cpu])"
    )


# -- the test-only slowdown (edgecheck.testing) ----------------------------------------------


class FakeClock:
    """Advances 1 ns per read; a fake runtime advances it by its 'run time'."""

    def __init__(self):
        self.now = 0

    def __call__(self):
        value = self.now
        self.now += 1
        return value


class ClockedRunner(FakeRunner):
    def __init__(self, config, clock, cost_ns):
        super().__init__(config)
        self.clock, self.cost_ns = clock, cost_ns

    def _infer_impl(self, batch):
        self.clock.now += self.cost_ns
        return super()._infer_impl(batch)


def test_slowed_runner_busy_waits_the_extra_fraction_of_the_real_call():
    clock = FakeClock()
    inner = ClockedRunner(CONFIG, clock, cost_ns=1000)
    slowed = SlowedRunner(inner, 1.3, clock=clock)
    with slowed:
        out = slowed.infer(slowed.example_input())
    # The start read gives 0, the call costs 1000 ns, so the end read gives 1001; the
    # deadline is int(1001 * 1.3) = 1301 and the loop reads 1002, 1003, ..., 1301.
    assert out.shape == (4, 1)
    assert inner.calls == 1 and slowed.calls == 1
    assert slowed.waited_ns == 300
    assert slowed.spins == 300
    assert slowed.config == inner.config and not inner.is_active


def test_slowed_runner_with_factor_one_does_not_wait_and_rejects_speedups():
    clock = FakeClock()
    slowed = SlowedRunner(ClockedRunner(CONFIG, clock, 1000), 1.0, clock=clock)
    with slowed:
        slowed.infer(slowed.example_input())
    assert slowed.spins == 0 and slowed.waited_ns == 0
    with pytest.raises(BackendError, match="at least 1.0"):
        SlowedRunner(FakeRunner(CONFIG), 0.7)


class SleepyRunner(FakeRunner):
    def _infer_impl(self, batch):
        time.sleep(0.002)
        return super()._infer_impl(batch)


def test_slowed_runner_really_takes_longer_on_the_real_clock():
    # A lower bound only: noise can make a call slower, never faster than its busy-wait.
    slowed = SlowedRunner(SleepyRunner(CONFIG), 1.5)
    with slowed:
        start = time.perf_counter_ns()
        slowed.infer(slowed.example_input())
        elapsed = time.perf_counter_ns() - start
    assert elapsed >= 1.5 * 2_000_000
    assert slowed.waited_ns >= 0.5 * 2_000_000


def test_slowdown_wraps_the_real_runner_and_its_twin_is_the_runner_itself():
    real = make_runner("fqa", "onnxruntime", batch_size=1, device="cpu")
    assert TWIN(real) is real and TWIN.tag == "twin" and str(Slowdown(1.3)) == "x1.3"
    runner = Slowdown(1.3)(real)
    assert isinstance(runner, SlowedRunner) and runner.factor == 1.3
    assert Slowdown(1.3).tag == "slowed-x1.3" and Slowdown(1.3) == Slowdown(1.3)
    with runner:
        runner.infer(runner.example_input())
    assert (
        runner.calls == 1
        and runner.config.describe() == "fqa on onnxruntime fp32, batch 1, 1 thread"
    )


# --- TensorRT: builder settings by version and the engine cache key (pure, no TensorRT) -------


@pytest.mark.parametrize(
    ("precision", "version", "plan"),
    [
        # The TX2's JetPack 4.6 (8.2) and JetPack 5 (8.5): weakly typed, precision flags.
        ("fp16", "8.2.1.8", trt_backend.BuildPlan(False, fp16=True)),
        ("int8", "8.5.2", trt_backend.BuildPlan(False, int8=True)),
        ("fp32", "8.2.1", trt_backend.BuildPlan(False)),
        # JetPack 6 / desktops (10.x): Q/DQ strongly typed, FP16 still by flag.
        ("int8", "10.3.0", trt_backend.BuildPlan(True)),
        ("fp16", "10.3.0", trt_backend.BuildPlan(False, fp16=True)),
        # TensorRT 11 drops the implicit precision flags: strongly typed throughout.
        ("fp16", "11.0.0", trt_backend.BuildPlan(True)),
        ("int8", "11.1", trt_backend.BuildPlan(True)),
    ],
)
def test_build_plan_follows_the_tensorrt_version(precision, version, plan):
    assert trt_backend.build_plan(precision, version) == plan


def test_build_plan_refuses_an_unknown_precision_or_version():
    with pytest.raises(trt_backend.BackendError, match="bf8"):
        trt_backend.build_plan("bf8", "10.3")
    with pytest.raises(trt_backend.BackendError, match="not a version"):
        trt_backend.build_plan("fp16", "unknown")


def test_engine_cache_key_changes_with_everything_an_engine_is_valid_for():
    base = dict(
        tensorrt_version="8.2.1", gpu="NVIDIA Tegra X2 (6, 2)", precision="fp16",
        batch_size=1, input_shape=(3, 224, 224), l4t="R32 (release), REVISION: 7.1",
        power_mode="MAXN (0)",
    )  # fmt: skip
    key = trt_backend.engine_cache_key(b"onnx", **base)
    assert key == trt_backend.engine_cache_key(b"onnx", **base)
    assert trt_backend.engine_cache_key(b"onnx2", **base) != key
    for field, other in [
        ("tensorrt_version", "8.2.2"), ("gpu", "Orin (8, 7)"), ("precision", "int8"),
        ("batch_size", 4), ("input_shape", (3, 112, 112)), ("l4t", "R32.7.2"),
        ("power_mode", "MAXQ (1)"),
    ]:  # fmt: skip
        assert trt_backend.engine_cache_key(b"onnx", **{**base, field: other}) != key, field


def test_engine_cache_dir_is_configurable(monkeypatch, tmp_path):
    monkeypatch.setenv("EDGECHECK_ENGINE_CACHE", str(tmp_path / "engines"))
    assert trt_backend.engine_cache_dir() == tmp_path / "engines"
    monkeypatch.delenv("EDGECHECK_ENGINE_CACHE")
    assert trt_backend.engine_cache_dir().parts[-3:] == (".cache", "edgecheck", "engines")

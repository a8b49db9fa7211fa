"""`ModelArtifact`: one picklable handle from a name, a factory, a module or a file; exported
once per content; what `make_runner` and `RunnerSpec` take."""

from __future__ import annotations

import functools
import pickle

import numpy as np
import pytest

from edgecheck.backends import BackendError, ModelArtifact, make_runner
from edgecheck.bench.cores import RunnerSpec, WorkerGroup
from edgecheck.errors import ModelError
from edgecheck.models import build_model


def test_a_registered_artifact_is_picklable_and_equal_after_the_trip():
    artifact = ModelArtifact.from_registered("vgg16", options={"plan": "paper"}, seed=3)
    back = pickle.loads(pickle.dumps(artifact))
    assert back == artifact
    assert (back.name, back.input_shape, back.precision) == ("vgg16", (3, 224, 224), "fp32")
    assert back.onnx_path is None and back.has_torch


def test_the_same_content_is_exported_once_and_other_content_apart(tmp_path):
    fqa = ModelArtifact.from_registered("fqa")
    first = fqa.exported(tmp_path)
    mtime = first.onnx_path.stat().st_mtime_ns
    again = ModelArtifact.from_registered("fqa").exported(tmp_path)
    assert again.onnx_path == first.onnx_path and again.onnx_path.stat().st_mtime_ns == mtime
    assert first.onnx_path.stem == "fqa"  # runners given the path are named after the model
    other = ModelArtifact.from_registered("fqa", seed=1).exported(tmp_path)
    assert other.onnx_path != first.onnx_path
    module = ModelArtifact.from_module(build_model("fqa", seed=0), (1, 64, 64), name="fqa")
    assert module.onnx_path is not None and not module.has_torch
    assert first.exported() is first  # it has its file: nothing to do


def test_a_module_artifact_runs_like_its_registered_twin_and_can_be_discarded(tmp_path):
    module = ModelArtifact.from_module(build_model("fqa", seed=0), (1, 64, 64), name="mine")
    with make_runner(module, device="cpu") as a, make_runner("fqa", device="cpu") as b:
        x = a.example_input(0)
        np.testing.assert_allclose(a.infer(x), b.infer(x), rtol=1e-5, atol=1e-6)
        assert a.config.model == "mine"
    with pytest.raises(BackendError, match="registered models only"):
        make_runner(module, "torch", device="cpu")
    module.discard()
    assert module.onnx_path is not None and not module.onnx_path.exists()
    given = ModelArtifact.from_onnx(
        ModelArtifact.from_registered("fqa").exported(tmp_path).onnx_path
    )
    given.discard()  # never a file edgecheck did not make
    assert given.onnx_path is not None and given.onnx_path.exists()


def test_a_factory_artifact_runs_on_torch_and_keeps_its_name():
    factory = functools.partial(build_model, "fqa", seed=0)
    artifact = ModelArtifact.from_factory("my-fqa", factory, (1, 64, 64))
    other = ModelArtifact.from_factory("my-fqa", functools.partial(build_model, "fqa"), (1, 64, 64))
    assert artifact != other  # a worker group must not share one's export with the other
    with make_runner(pickle.loads(pickle.dumps(artifact)), "torch", device="cpu") as runner:
        assert runner.config.model == "my-fqa"
        assert runner.infer(runner.example_input(0)).shape == (1, 1)


def test_precision_comes_from_the_artifact_unless_given(tmp_path):
    fp32 = ModelArtifact.from_registered("fqa").exported(tmp_path)
    claimed = ModelArtifact.from_onnx(fp32.onnx_path, precision="int8")
    with pytest.raises(BackendError, match="no quantization nodes"):
        make_runner(claimed, device="cpu")
    assert make_runner(claimed, precision="fp32", device="cpu").config.precision == "fp32"
    assert RunnerSpec(claimed).config(1).precision == "int8"
    with pytest.raises(BackendError, match="precision 'int4'"):
        ModelArtifact("x", (1,), "int4")


def test_options_belong_to_the_artifact_not_to_the_call():
    artifact = ModelArtifact.from_registered("fqa")
    with pytest.raises(BackendError, match="its options, seed and input shape are its own"):
        make_runner(artifact, model_options={"plan": "paper"})
    with pytest.raises(ModelError, match="unknown model"):
        ModelArtifact.of("no-such-model")


def test_a_worker_group_exports_each_model_once_for_all_its_workers(monkeypatch):
    calls: list[str] = []
    real = ModelArtifact.exported

    def counting(self: ModelArtifact, cache: object = None) -> ModelArtifact:
        calls.append(self.name)
        return real(self, cache)  # type: ignore[arg-type]

    monkeypatch.setattr(ModelArtifact, "exported", counting)
    group = WorkerGroup([(RunnerSpec("fqa", batch_size=b), 1) for b in (1, 2, 4)])
    shared = group._with_shared_exports()
    assert calls == ["fqa"]
    paths = {spec.model.onnx_path for spec, _ in shared}  # type: ignore[union-attr]
    assert len(paths) == 1 and next(iter(paths)).is_file()

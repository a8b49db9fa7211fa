"""The CLI reads the project's [tool.edgecheck.models], found from the current directory up."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from edgecheck.cli import main

onnx = pytest.importorskip("onnx")

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "tinynet"


def _tiny_onnx(path: Path) -> Path:
    """A 1 -> 2 channel 3x3 conv (same padding) on 1x4x4: 4 x 4 x 1 x 2 x 3 x 3 = 288 MACs."""
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(np.ones((2, 1, 3, 3), np.float32), "w")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["x", "w"], ["y"], pads=[1, 1, 1, 1], name="conv")],
        "tiny",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1, 4, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2, 4, 4])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path


@pytest.fixture
def project(tmp_path: Path) -> Path:
    _tiny_onnx(tmp_path / "models" / "tiny.onnx")
    (tmp_path / "pyproject.toml").write_text(
        '[tool.edgecheck.models.ourmodel]\nonnx = "models/tiny.onnx"\n'
        'input_shape = [1, 4, 4]\ndescription = "our tiny conv"\n'
    )
    (tmp_path / "src" / "deep").mkdir(parents=True)
    return tmp_path


@pytest.fixture
def isolated_registry(monkeypatch):
    """Registrations and sys.path entries made by a test end with it."""
    from edgecheck.models import registry

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    monkeypatch.setattr(sys, "path", list(sys.path))


def test_models_lists_the_projects_models_with_their_source(project, monkeypatch, capsys):
    monkeypatch.chdir(project)
    assert main(["models"]) == 0
    lines = capsys.readouterr().out.splitlines()
    ours = [line for line in lines if line.startswith("ourmodel ")]
    assert len(ours) == 1
    assert "input 1x4x4" in ours[0] and "our tiny conv" in ours[0]
    assert ours[0].endswith("[onnx: models/tiny.onnx (pyproject.toml)]")
    assert any(line.startswith("vgg16 ") and "[built in: " in line for line in lines)
    assert any(line.startswith("fqa ") and "[built in: " in line for line in lines)


def test_models_found_from_a_subfolder(project, monkeypatch, capsys):
    monkeypatch.chdir(project / "src" / "deep")
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "[onnx: models/tiny.onnx (../../pyproject.toml)]" in out


def test_macs_counts_a_project_onnx_model_by_name(project, monkeypatch, capsys):
    monkeypatch.chdir(project / "src")
    assert main(["macs", "ourmodel", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["model"] == "ourmodel"
    assert payload["macs"]["total"] == 4 * 4 * 1 * 2 * 3 * 3
    assert main(["macs", "ourmodel"]) == 0
    # What was counted: the project's file, not a torch forward.
    out = capsys.readouterr().out
    assert "ourmodel: MACs by Eq. 1 (ONNX graph, models/tiny.onnx (../pyproject.toml))" in out
    # Its graph fixes the shapes, as for a path: --input-shape is refused, not ignored.
    assert main(["macs", "ourmodel", "--input-shape", "1,8,8"]) == 2
    assert "ourmodel: --input-shape applies to registered models" in capsys.readouterr().err


def test_macs_and_models_of_a_factory_model(isolated_registry, monkeypatch, capsys):
    pytest.importorskip("torch")
    monkeypatch.chdir(EXAMPLE)
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert "[factory: tinynet.model:build (pyproject.toml)]" in out
    assert main(["macs", "tinynet", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["macs"]["total"] > 0
    assert main(["models"]) == 0  # registered now, still listed once, as the project's
    assert capsys.readouterr().out.count("tinynet ") == 1


def test_ab_takes_project_models_by_name(project, monkeypatch, capsys):
    pytest.importorskip("onnxruntime")
    import edgecheck.ab

    seen = []
    real_compare = edgecheck.ab.ab_compare

    def spy_compare(old, new, **kw):  # the real comparison; the spy keeps the runners
        seen.extend([old, new])
        return real_compare(old, new, **kw)

    monkeypatch.setattr(edgecheck.ab, "ab_compare", spy_compare)
    monkeypatch.chdir(project)
    # The same file twice: unchanged, or undecided (3) on a noisy machine; never 1, 2 or 4.
    assert main(["ab", "ourmodel", "models/tiny.onnx", "--json", "--time", "0.2"]) in (0, 3)
    old, new = seen
    assert old.config.model == new.config.model == "tiny"  # the project's file, by name
    with old:
        assert old.infer(np.ones((1, 1, 4, 4), np.float32)).shape == (1, 2, 4, 4)
    assert main(["ab", "ourmodel", "theirmodel"]) == 2
    assert "unknown model 'theirmodel'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("table", "field"),
    [
        (
            '[tool.edgecheck.models.ourmodel]\nonnx = "m.onnx"\ninput_shape = [0, 4]\n',
            "input_shape",
        ),
        ('[tool.edgecheck.models.ourmodel]\nonnx = "m.onnx"\nshape = [1]\n', "shape"),
        ("[tool.edgecheck.models.ourmodel]\ninput_shape = [1]\n", "onnx"),
        ("[tool.edgecheck]\nmodel = {}\n", "model"),
        ('[tool.edgecheck.models.vgg16]\nonnx = "m.onnx"\ninput_shape = [1]\n', "vgg16"),
    ],
)
@pytest.mark.parametrize("command", [["models"], ["macs", "ourmodel"]])
def test_a_broken_table_is_one_line_naming_the_file_and_field(
    tmp_path, monkeypatch, capsys, table, field, command
):
    (tmp_path / "pyproject.toml").write_text(table)
    monkeypatch.chdir(tmp_path)
    assert main(command) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert f"edgecheck {command[0]}: error: {tmp_path / 'pyproject.toml'}" in err
    assert field in err


def test_an_onnx_file_argument_reads_no_pyproject(tmp_path, monkeypatch, capsys):
    (tmp_path / "pyproject.toml").write_text("[tool.edgecheck]\nbroken = 1\n")
    path = _tiny_onnx(tmp_path / "tiny.onnx")
    monkeypatch.chdir(tmp_path)
    assert main(["macs", str(path), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["macs"]["total"] == 288


def test_builtin_names_match_the_registry():
    from edgecheck.config import BUILTIN_MODELS
    from edgecheck.models import available_models, get_model_spec

    builtin = [n for n in available_models() if get_model_spec(n).source.startswith("Qi & Liu")]
    assert tuple(builtin) == BUILTIN_MODELS


def _scorer_onnx(path: Path, size: int = 64, outputs: int = 1) -> Path:
    """A face-quality scorer stand-in: the crop's mean brightness (N x 1 x S x S -> N x K)."""
    from onnx import TensorProto, helper, numpy_helper

    nodes = [
        helper.make_node("ReduceMean", ["x"], ["m"], axes=[1, 2, 3], keepdims=0),
        helper.make_node("Unsqueeze", ["m", "one"], ["y1"]),
        helper.make_node("Tile", ["y1", "reps"], ["y"]),
    ]
    inits = [
        numpy_helper.from_array(np.array([1], np.int64), "one"),
        numpy_helper.from_array(np.array([1, outputs], np.int64), "reps"),
    ]
    graph = helper.make_graph(
        nodes, "scorer",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 1, size, size])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", outputs])], inits,
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path


@pytest.fixture
def scorer_project(tmp_path: Path) -> Path:
    pytest.importorskip("cv2")
    pytest.importorskip("onnxruntime")
    from edgecheck.data.video import write_clip

    _scorer_onnx(tmp_path / "models" / "bright.onnx")
    _scorer_onnx(tmp_path / "models" / "big.onnx", size=32)
    _scorer_onnx(tmp_path / "models" / "two.onnx", outputs=2)
    (tmp_path / "pyproject.toml").write_text(
        '[tool.edgecheck.models.brightness]\nonnx = "models/bright.onnx"\n'
        "input_shape = [1, 64, 64]\n"
    )
    write_clip(tmp_path / "walk.mp4", "walk", (320, 240), 12)
    return tmp_path


def test_pipeline_scores_with_a_project_model_by_name(scorer_project, monkeypatch, capsys):
    monkeypatch.chdir(scorer_project)
    argv = ["pipeline", "walk.mp4", "--no-write", "--no-progress", "--json", "--top-k", "1"]
    assert main([*argv, "--model", "brightness"]) == 0
    ours = json.loads(capsys.readouterr().out)
    assert main(argv) == 0  # the shipped FQA CNN on the same clip
    shipped = json.loads(capsys.readouterr().out)
    assert ours["frames"] == shipped["frames"] == 12

    def scores(summary):
        return [s["score"] for track in summary["selected"].values() for s in track]

    # The brightness stand-in gives the crop's mean in [0, 1], not the CNN's quality.
    assert scores(ours) and all(0.0 <= s <= 1.0 for s in scores(ours))
    assert scores(ours) != scores(shipped)


@pytest.mark.parametrize(
    ("extra", "text"),
    [
        (["--model", "models/big.onnx"], "takes 1x32x32 inputs; the pipeline scores 1x64x64"),
        (["--model", "brightness", "--precision", "int8"], "runs as given; --precision int8"),
        (["--model", "models/two.onnx"], "gives 2 values per crop"),
        (["--model", "theirs"], "unknown model 'theirs'"),
    ],
)
def test_pipeline_refuses_a_scorer_that_does_not_fit(scorer_project, monkeypatch, capsys,
                                                     extra, text):  # fmt: skip
    monkeypatch.chdir(scorer_project)
    assert main(["pipeline", "walk.mp4", "--no-write", "--no-progress", *extra]) == 2
    err = capsys.readouterr().err
    assert text in err and len(err.strip().splitlines()) == 1

"""``edgecheck prune``: parsing, the files it writes, the table it prints, and its errors."""

from __future__ import annotations

import argparse
import json

import pytest
import torch

from edgecheck.cli import prune as cli
from edgecheck.errors import EdgecheckError, ModelError, PlanError
from edgecheck.macs import count_macs
from edgecheck.models import FQA_INPUT_SHAPE, build_model


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="edgecheck")
    sub = parser.add_subparsers(dest="command", required=True)
    cli.add_parser(sub)
    return parser.parse_args(["prune", *argv])


def test_help_names_the_method_and_the_options(capsys):
    with pytest.raises(SystemExit) as info:
        parse("--help")
    assert info.value.code == 0
    out = capsys.readouterr().out
    for word in ("LASSO", "least squares", "--plan", "--method", "--images", "--out", "paper"):
        assert word in out
    assert cli.COMMANDS == ("prune",)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["fqa", "--plan", "conv1="], "LAYER=COUNT"),
        (["fqa", "--images", "0"], "must be a whole number >= 1"),
        (["fqa", "--sample-shape", "1,32"], "C,H,W"),
        (["fqa", "--method", "random"], "invalid choice"),
    ],
)
def test_bad_arguments_are_one_line_usage_errors(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        parse(*argv)
    assert info.value.code == 2
    assert message in capsys.readouterr().err


def test_prune_fqa_writes_onnx_state_dict_and_summary(tmp_path, capsys):
    args = parse(
        "fqa", "--plan", "conv1=8,conv2=0.5", "--images", "40", "--out", str(tmp_path),
        "--no-progress",
    )  # fmt: skip
    assert cli.run(args) == 0
    out = capsys.readouterr().out
    assert "features.conv2" in out and "Conv total" in out and "2.000x" in out
    assert "12 -> 8" in out and "96 -> 48" in out
    summary = json.loads((tmp_path / "fqa-pruned.json").read_text())
    assert summary["kept"]["features.conv1"] == 8 and summary["kept"]["features.conv2"] == 48
    state = torch.load(tmp_path / "fqa-pruned.pt", weights_only=True)
    assert state["features.conv2.weight"].shape == (48, 56, 3, 3)
    assert state["features.conv3.weight"].shape == (128, 48, 3, 3)
    assert state["features.inception.branch5x5.weight"].shape == (8, 8, 5, 5)
    full = count_macs(build_model("fqa"), FQA_INPUT_SHAPE).conv_total
    assert summary["conv_macs_before"] == full
    assert summary["conv_ratio"] == pytest.approx(full / summary["conv_macs_after"])

    import onnxruntime

    session = onnxruntime.InferenceSession(
        str(tmp_path / "fqa-pruned.onnx"), providers=["CPUExecutionProvider"]
    )
    x = torch.rand(3, *FQA_INPUT_SHAPE).numpy()
    assert session.run(None, {session.get_inputs()[0].name: x})[0].shape == (3, 1)


def test_json_output_and_l1_without_onnx(tmp_path, capsys):
    args = parse(
        "fqa", "--plan", "0.5", "--method", "l1", "--images", "4", "--out", str(tmp_path),
        "--no-onnx", "--json", "--no-progress",
    )  # fmt: skip
    assert cli.run(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["method"] == "l1" and summary["reconstruct"] is False
    assert not (tmp_path / "fqa-pruned.onnx").exists()
    assert [f.rsplit("/", 1)[-1] for f in summary["files"]] == ["fqa-pruned.pt", "fqa-pruned.json"]


def test_onnx_channel_multiple_pads_the_onnx_file_only(tmp_path, capsys):
    """The ONNX file gets zero filters up to the multiple and gives the same outputs as the
    exact-count torch model; the state dict keeps Table VI-style exact counts."""
    args = parse(
        "fqa", "--plan", "conv1=7,conv2=45", "--images", "20", "--out", str(tmp_path),
        "--onnx-channel-multiple", "4", "--no-progress", "--json",
    )  # fmt: skip
    assert cli.run(args) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["onnx_channel_multiple"] == 4
    state = torch.load(tmp_path / "fqa-pruned.pt", weights_only=True)
    assert state["features.conv2.weight"].shape[0] == 45

    import onnx
    import onnxruntime

    widths = {
        init.name: tuple(init.dims)
        for init in onnx.load(str(tmp_path / "fqa-pruned.onnx")).graph.initializer
    }
    assert widths["features.conv2.weight"][0] == 48 and widths["features.conv1.weight"][0] == 8
    model = build_model("fqa")
    from edgecheck.prune import find_prunable_layers, remove_channels

    layers = find_prunable_layers(model)
    remove_channels(model, layers["features.conv1"], range(7))
    remove_channels(model, layers["features.conv2"], range(45))
    model.load_state_dict(state)
    x = torch.rand(3, *FQA_INPUT_SHAPE)
    session = onnxruntime.InferenceSession(
        str(tmp_path / "fqa-pruned.onnx"), providers=["CPUExecutionProvider"]
    )
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    with torch.no_grad():
        want = model.eval()(x).numpy()
    assert abs(got - want).max() < 1e-5


def test_plan_errors_name_the_layer(tmp_path):
    with pytest.raises(PlanError, match="features.conv3.*flatten"):
        cli.run(parse("fqa", "--plan", "conv3=64", "--images", "2", "--out", str(tmp_path)))
    with pytest.raises(PlanError, match="conv1_1"):
        cli.run(parse("fqa", "--images", "2", "--out", str(tmp_path)))  # 'paper' is VGG16's
    assert not list(tmp_path.iterdir())  # nothing half-written


def test_weights_errors_say_what_to_give(tmp_path):
    with pytest.raises(ModelError, match="no such file"):
        cli.run(parse("fqa", "--weights", str(tmp_path / "none.pt"), "--out", str(tmp_path)))
    torch.save({"wrong": torch.zeros(1)}, tmp_path / "wrong.pt")
    with pytest.raises(ModelError, match="does not fit the model"):
        cli.run(parse("fqa", "--weights", str(tmp_path / "wrong.pt"), "--out", str(tmp_path)))
    with pytest.raises(EdgecheckError, match="contradict"):
        cli.run(parse("fqa", "--reconstruct", "--no-reconstruct", "--out", str(tmp_path)))

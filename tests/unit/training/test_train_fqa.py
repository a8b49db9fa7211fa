"""edgecheck.training and edgecheck.weights: deterministic training, saving, loading, the CLI."""

from __future__ import annotations

import argparse
import json

import numpy as np
import pytest
import torch

from edgecheck.data import DATA_VERSION, generate_faces
from edgecheck.errors import ConfigError, ModelError
from edgecheck.training import evaluate_fqa, save_weights, score_metrics, train_fqa
from edgecheck.weights import fqa_provenance, load_trained_fqa

TINY = {"epochs": 1, "images_per_epoch": 96, "batch_size": 32, "threads": 1, "evaluate": False}


@pytest.fixture(scope="module")
def tiny_result():
    return train_fqa(seed=5, **TINY)


def test_training_is_deterministic_for_a_seed(tiny_result):
    again = train_fqa(seed=5, **TINY)
    a, b = tiny_result.model.state_dict(), again.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    other = train_fqa(seed=6, **TINY).model.state_dict()
    assert not all(torch.equal(a[k], other[k]) for k in a)


def test_training_restores_thread_setting_and_reports_history(tiny_result):
    before = torch.get_num_threads()
    result = train_fqa(seed=1, **{**TINY, "threads": 1})
    assert torch.get_num_threads() == before
    assert result.threads == 1 and len(result.history) == 1
    assert result.history[0]["loss"] > 0 and not result.model.training
    with pytest.raises(ConfigError, match="epochs=0"):
        train_fqa(epochs=0)


def test_save_and_load_round_trip(tiny_result, tmp_path):
    weights, record = save_weights(tiny_result, tmp_path / "w" / "fqa.pt")
    assert record == tmp_path / "w" / "fqa.json"
    provenance = json.loads(record.read_text())
    assert provenance["seed"] == 5 and provenance["data_version"] == DATA_VERSION
    assert provenance["epochs"] == 1 and provenance["torch"]
    assert sorted(p.name for p in weights.parent.iterdir()) == ["fqa.json", "fqa.pt"]
    loaded = load_trained_fqa(weights)
    x = torch.from_numpy(generate_faces(4).inputs())
    with torch.no_grad():
        assert torch.equal(loaded(x), tiny_result.model(x))


def test_load_errors_name_the_file_and_the_fix(tiny_result, tmp_path):
    with pytest.raises(ModelError, match=r"missing\.pt.*edgecheck train fqa"):
        load_trained_fqa(tmp_path / "missing.pt")
    weights, record = save_weights(tiny_result, tmp_path / "fqa.pt")
    record.write_text(json.dumps({"data_version": "faces-v0"}))
    with pytest.raises(ModelError, match=r"data version 'faces-v0'.*'faces-v1'"):
        load_trained_fqa(weights)
    assert load_trained_fqa(weights, check_data=False) is not None
    torch.save({"nonsense": torch.zeros(1)}, tmp_path / "bad.pt")
    (tmp_path / "bad.json").write_text(json.dumps({"data_version": DATA_VERSION}))
    with pytest.raises(ModelError, match=r"bad\.pt does not hold FQA CNN weights"):
        load_trained_fqa(tmp_path / "bad.pt")


def test_shipped_weights_load_and_their_provenance_is_complete():
    model = load_trained_fqa()
    record = fqa_provenance()
    assert record["data_version"] == DATA_VERSION and record["model"] == "fqa"
    for key in ("seed", "epochs", "images_per_epoch", "torch", "recipe"):
        assert key in record
    assert record["metrics"]["spearman"] >= 0.9 and record["metrics"]["n_test"] == 2573
    faces = generate_faces(64, stream="paper", start=2000)
    rho = score_metrics(
        model(torch.from_numpy(faces.inputs())).detach().numpy().ravel(), faces.scores
    )["spearman"]
    assert rho > 0.85  # a slice of the held-out set; the full set is in the accuracy tests


def test_score_metrics_with_literal_numbers():
    m = score_metrics(np.array([0.1, 0.2, 0.3, 0.4]), np.array([0.15, 0.25, 0.3, 0.5]))
    assert m["spearman"] == pytest.approx(1.0)
    assert m["mae"] == pytest.approx((0.05 + 0.05 + 0 + 0.1) / 4)
    assert m["n_test"] == 4


def test_evaluate_on_a_small_set(tiny_result):
    metrics = evaluate_fqa(tiny_result.model, generate_faces(16, stream="paper"))
    assert set(metrics) == {"spearman", "mae", "n_test"} and metrics["n_test"] == 16


def test_cli_parses_trains_and_writes(tmp_path, capsys):
    from edgecheck.cli import train as cli

    parser = argparse.ArgumentParser(prog="edgecheck")
    sub = parser.add_subparsers(dest="command")
    cli.add_parser(sub)
    assert "train" in cli.COMMANDS
    out = tmp_path / "cli" / "fqa.pt"
    args = parser.parse_args(
        ["train", "fqa", "--out", str(out), "--epochs", "1", "--images-per-epoch", "64",
         "--seed", "2", "--threads", "1", "--no-progress"]
    )  # fmt: skip
    assert cli.run(args) == 0
    text = capsys.readouterr().out
    assert "Spearman" in text and "shipped weights" in text and str(out) in text
    assert out.is_file() and out.with_suffix(".json").is_file()
    for bad in (
        ["train", "fqa", "--epochs", "0"],
        ["train", "vgg16"],
        ["train", "fqa", "--seed", "x"],
    ):
        with pytest.raises(SystemExit):
            parser.parse_args(bad)

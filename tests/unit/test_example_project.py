"""examples/tinynet: a team's project registering its own model in [tool.edgecheck.models],
gated by its committed baselines. Run with pytester on a copy, as a pull request would."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "tinynet"


@pytest.fixture
def project(pytester, monkeypatch):
    monkeypatch.delenv("EDGECHECK_PROFILE", raising=False)
    shutil.copytree(EXAMPLE, pytester.path, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("__pycache__", "*.lock"))  # fmt: skip
    return pytester


def run(pytester, *args):
    # A subprocess on purpose, unlike the plugin's other pytester tests (tests/unit/conftest.py):
    # the project's [tool.edgecheck.models] table registers "tinynet" in edgecheck's process-wide
    # model registry and puts the project on sys.path, and a test edits tinynet/model.py between
    # runs; in this process the first run's registration would be the one every later run sees.
    # It is also the check that the pytest11 entry point loads the plugin in a fresh
    # interpreter, as in a user's CI.
    return pytester.runpytest_subprocess("-p", "no:cacheprovider", "-m", "accuracy", *args)


def test_unchanged_model_passes_against_the_committed_baseline(project):
    result = run(project)
    result.assert_outcomes(passed=1, deselected=1)
    assert "2 unchanged, 0 regressed" in result.stdout.str()


def test_a_pull_request_that_adds_a_conv_layer_fails_with_the_numbers(project):
    model = project.path / "tinynet" / "model.py"
    model.write_text(model.read_text().replace("CONVS = [(16, 3), (32, 3)]",
                                               "CONVS = [(16, 3), (32, 3), (32, 3)]"))  # fmt: skip
    baseline = (project.path / "baselines" / "cpu.json").read_text()
    result = run(project)
    result.assert_outcomes(failed=1, deselected=1)
    out = result.stdout.str()
    assert "1 of 2 metrics regressed" in out
    # conv3 adds 16 x 16 x 32 x 32 x 9 / 4 = 589,824 MACs; the linear layer after the extra
    # pool shrinks by 15,360; the parameters drop (reported as an improvement).
    assert (
        "tests/test_tinynet.py::test_macs_and_parameters[tinynet] :: macs: REGRESSION: "
        "1,642,496 MACs -> 2,216,960 MACs (+35 %; lower is better)" in out
    )
    assert "tolerance 1e-09 (exact comparison)" in out
    assert "parameters: improvement (refresh the baseline): 25,578 parameters -> 19,466" in out
    assert (project.path / "baselines" / "cpu.json").read_text() == baseline


def test_models_table_errors_name_the_file_the_model_and_the_field(project):
    pyproject = project.path / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace("input_shape = [3, 32, 32]", "input_shape = [3, -1]")
    )
    result = run(project)
    assert result.ret != 0
    text = result.stdout.str() + result.stderr.str()
    assert "[tool.edgecheck.models.tinynet]: input_shape = [3, -1] must be positive sizes" in text

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


ARGS = ("-p", "no:cacheprovider", "-m", "accuracy")


def run_fresh(pytester, *args):
    # A fresh interpreter on purpose, for the plain pull request: the check that the pytest11
    # entry point loads the plugin, the project's model registers and its baseline compares
    # exactly as in a user's CI.
    return pytester.runpytest_subprocess(*ARGS, *args)


@pytest.fixture
def run(project, run_pytest, monkeypatch):
    """``run(*args)``: the other cases in this process (tests/unit/conftest.py), one run per
    test. The project's [tool.edgecheck.models] table registers "tinynet" in edgecheck's
    process-wide model registry, so each test gets its own copy of it (as models/test_models.py
    does): a later test then imports its own, edited tinynet/model.py (pytester drops the
    imported tinynet modules and restores sys.path after every run)."""
    import sys

    from edgecheck.models import registry

    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    # Another test module may have imported the example's tinynet already (the CLI's project
    # models): drop it, so this run imports the copy under pytester's folder.
    for name in [n for n in sys.modules if n == "tinynet" or n.startswith("tinynet.")]:
        monkeypatch.delitem(sys.modules, name)
    return lambda *args: run_pytest(*ARGS, *args)


def test_unchanged_model_passes_against_the_committed_baseline(project):
    result = run_fresh(project)
    result.assert_outcomes(passed=1, deselected=1)
    assert "2 unchanged, 0 regressed" in result.stdout.str()


def test_a_pull_request_that_adds_a_conv_layer_fails_with_the_numbers(project, run):
    model = project.path / "tinynet" / "model.py"
    model.write_text(model.read_text().replace("CONVS = [(16, 3), (32, 3)]",
                                               "CONVS = [(16, 3), (32, 3), (32, 3)]"))  # fmt: skip
    baseline = (project.path / "baselines" / "cpu.json").read_text()
    result = run()
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


def test_models_table_errors_name_the_file_the_model_and_the_field(project, run):
    pyproject = project.path / "pyproject.toml"
    pyproject.write_text(
        pyproject.read_text().replace("input_shape = [3, 32, 32]", "input_shape = [3, -1]")
    )
    result = run()
    assert result.ret != 0
    text = result.stdout.str() + result.stderr.str()
    assert "[tool.edgecheck.models.tinynet]: input_shape = [3, -1] must be positive sizes" in text

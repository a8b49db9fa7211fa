"""[tool.edgecheck] in a project's pyproject.toml."""

from __future__ import annotations

import pytest

from edgecheck.config import find_pyproject, load_config
from edgecheck.errors import ConfigError


def write(tmp_path, text):
    path = tmp_path / "pyproject.toml"
    path.write_text(text)
    return path


def test_no_table_gives_defaults(tmp_path):
    config = load_config(write(tmp_path, "[project]\nname = 'x'\n"))
    assert config.claims == {} and config.profile is None
    assert config.registry()["quant.error"].rule_for("cpu") is not None


def test_overrides_are_applied(tmp_path):
    path = write(
        tmp_path,
        '[tool.edgecheck]\nprofile = "cpu"\n'
        '[tool.edgecheck.claims."quant.error"]\nany = { op = "<=", value = 3.0 }\n',
    )
    config = load_config(path)
    assert config.profile == "cpu"
    assert config.registry()["quant.error"].check(2.5, profile="cpu")


def test_find_pyproject_walks_up(tmp_path):
    path = write(tmp_path, "")
    nested = tmp_path / "a" / "b"
    nested.mkdir(parents=True)
    assert find_pyproject(nested) == path


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("[tool.edgecheck\n", "not valid TOML"),
        ("[tool.edgecheck]\nclaimz = 1\n", "unknown key.*claimz"),
        ('[tool.edgecheck.claims."quant.error"]\nany = { op = ">=" }\n', "exactly one of"),
        (
            '[tool.edgecheck.claims."quant.eror"]\nany = { op = ">=", value = 1 }\n',
            "unknown claim id",
        ),
    ],
)
def test_bad_config_names_the_file(tmp_path, text, fragment):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=fragment) as info:
        load_config(path)
    assert str(path) in str(info.value)


def test_models_table_is_parsed_with_paths_relative_to_the_file(tmp_path):
    config = load_config(write(tmp_path, (
        "[tool.edgecheck.models.a]\nonnx = 'm/a.onnx'\ninput_shape = [1, 64, 64]\n"
        "[tool.edgecheck.models.b]\nfactory = 'pkg.mod:build'\ninput_shape = [3, 32, 32]\n"
    )))  # fmt: skip
    a, b = config.models
    assert (a.name, a.onnx, a.input_shape) == ("a", tmp_path / "m" / "a.onnx", (1, 64, 64))
    assert (b.name, b.factory, b.onnx, b.root) == ("b", "pkg.mod:build", None, tmp_path)
    assert a.source() == str(tmp_path / "m" / "a.onnx")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("onnx = 'a.onnx'\nfactory = 'p:f'\ninput_shape = [1]", "give exactly one of onnx"),
        ("factory = 'nocolon'\ninput_shape = [1]", "must read 'package.module:function'"),
        ("onnx = 'a.onnx'", "input_shape = None must be positive sizes"),
        ("onnx = 'a.onnx'\ninput_shape = [1]\nshape = 2", "unknown key(s) shape"),
    ],
)  # fmt: skip
def test_bad_model_tables_name_file_model_and_field(tmp_path, table, message):
    path = write(tmp_path, f"[tool.edgecheck.models.mine]\n{table}\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert f"{path}: [tool.edgecheck.models.mine]" in str(info.value)
    assert message in str(info.value)


def test_factory_that_cannot_be_imported_is_a_clear_error(tmp_path):
    config = load_config(write(tmp_path, (
        "[tool.edgecheck.models.ghost]\nfactory = 'nowhere_pkg.mod:build'\ninput_shape = [1, 8, 8]\n"
    )))  # fmt: skip
    with pytest.raises(ConfigError, match="factory 'nowhere_pkg.mod:build' cannot be imported"):
        config.models[0].build()

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

"""``edgecheck models``: list the registered models, built-in and the project's own.

`add_parser` registers the command; `run` executes it (no torch: the registry is read only).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

COMMANDS = ("models",)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``models`` on the ``edgecheck`` command's sub-parsers."""
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "models", help="list the registered models",
        description="List the models edgecheck knows by name: the built-in ones and the "
        "project's own, from [tool.edgecheck.models] in the nearest pyproject.toml at or "
        "above the current directory.",
    )  # fmt: skip
    return parser


def run(_: argparse.Namespace) -> int:
    from edgecheck.config import BUILTIN_MODELS, check_model_names, find_pyproject, load_config
    from edgecheck.models import available_models, get_model_spec

    project = load_config(find_pyproject(Path.cwd()))  # [tool.edgecheck.models], as pytest
    check_model_names(project)
    ours = {m.name for m in project.models}
    for name in available_models():
        if name in ours:
            continue  # a project factory model registered earlier in this process
        spec = get_model_spec(name)
        shape = "x".join(map(str, spec.input_shape))
        origin = "built in" if name in BUILTIN_MODELS else "registered"
        print(f"{name:<10} input {shape:<10} {spec.description} [{origin}: {spec.source}]")
    for model in project.models:
        shape = "x".join(map(str, model.input_shape))
        print(
            f"{model.name:<10} input {shape:<10} {model.description} [{model.origin(Path.cwd())}]"
        )
    return 0

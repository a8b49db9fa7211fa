"""What every ``edgecheck`` command's arguments share: the parser class, the argparse
``type=`` functions that more than one command uses, and what a MODEL argument names.

The options the pytest plugin spells too (``--profile``, ``--baselines``) stay in
`edgecheck.options`, so that both front ends parse them the same way. Nothing here
imports torch, numpy or onnxruntime: each command imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from edgecheck import exitcodes
from edgecheck.errors import ModelError

EPILOG = "Claims come from Qi & Liu, 'Enabling Deep Learning on IoT Edge'; see README.md."


class HelpFormatter(argparse.HelpFormatter):
    """argparse's formatter, but a paragraph whose lines start with spaces keeps its lines."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        return "\n\n".join(
            "\n".join(indent + line for line in part.splitlines())
            if "\n " in part
            else super(HelpFormatter, self)._fill_text(part, width, indent)
            for part in text.split("\n\n")
        )


class Parser(argparse.ArgumentParser):
    """Every ``edgecheck`` (sub-)parser: exit statuses at the end of ``--help``, one-line errors.

    Sub-parsers are made with the parent's class, so every command gets both.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        epilog = kwargs.get("epilog")
        kwargs["epilog"] = (f"{epilog}\n\n" if epilog else "") + exitcodes.help_text()
        super().__init__(*args, **kwargs)

    def error(self, message: str) -> Any:  # argparse's NoReturn, kept loose for subclasses
        """A bad option: one line, with where to read about the options, and status 2."""
        self.exit(exitcodes.USAGE, f"{self.prog}: error: {message}; see '{self.prog} --help'\n")


def positive_int(text: str) -> int:
    """argparse `type=` for a count: a whole number >= 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be a whole number >= 1")
    return value


def _sizes(text: str) -> tuple[int, ...]:
    """Positive sizes separated by commas (or ``x``); () when `text` is not that."""
    try:
        shape = tuple(int(part) for part in text.replace("x", ",").split(","))
    except ValueError:
        return ()
    return shape if shape and min(shape) >= 1 else ()


def input_shape(text: str) -> tuple[int, ...]:
    """argparse `type=` for a model's input shape without the batch axis (``3,224,224``)."""
    shape = _sizes(text)
    if not shape:
        raise argparse.ArgumentTypeError(
            f"input shape {text!r} must be positive sizes separated by commas, e.g. 3,224,224"
        )
    return shape


def image_shape(text: str) -> tuple[int, ...]:
    """argparse `type=` for one image's shape: exactly C,H,W (``3,112,112``)."""
    shape = _sizes(text)
    if len(shape) != 3:
        raise argparse.ArgumentTypeError(
            f"{text!r} must be C,H,W with positive sizes, e.g. 3,112,112"
        )
    return shape


def is_onnx_file(model: str) -> bool:
    """Whether a MODEL argument names an ONNX file rather than a registered model."""
    return model.lower().endswith(".onnx") or Path(model).is_file()


def model_argument(
    model: str, input_shape: tuple[int, ...] | None = None
) -> tuple[str, tuple[int, ...] | None]:
    """What `edgecheck.backends.make_runner` takes for a command's MODEL argument, and the
    input shape: a project model (``[tool.edgecheck.models]``) by name gives its ONNX file or
    registered name and its shape (`input_shape`, from the command line, wins); an ONNX file or
    a built-in name is itself. An unknown name is a `ModelError` naming ``edgecheck models``.
    """
    from edgecheck.config import project_model

    user = project_model(model)
    if user is not None:
        return user.source(), input_shape or user.input_shape
    if not is_onnx_file(model):
        registered_model(model)
    return model, input_shape


def registered_model(name: str) -> Any:
    """The registered model `name`; an unknown one is a `ModelError` with the CLI's remedy."""
    from edgecheck.models import get_model_spec

    try:
        return get_model_spec(name)
    except ModelError as exc:
        raise ModelError(
            f"{exc} Run `edgecheck models` to list them, or give the path of an .onnx file."
        ) from None

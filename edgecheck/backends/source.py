"""Where a runner's model comes from: a registered model name or an ONNX file.

Both paths end in the same two things a runner needs: the per-example input shape and, for
the ONNX runtimes, a file to load. A registered model is exported to a temporary ONNX file
on demand (and the file removed once the session holds the graph).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from edgecheck._imports import require
from edgecheck.backends.base import BackendError
from edgecheck.export import INPUT_NAME
from edgecheck.onnx_file import GraphInput, graph_inputs, load_onnx

QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})
QOPERATOR_OPS = frozenset({"QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger"})


@dataclass(frozen=True)
class ModelSource:
    """A resolved model reference.

    Attributes:
        name: the registered name, or the ONNX file's stem.
        input_shape: one example's shape without the batch axis.
        onnx_path: the ONNX file, when the model was given as one; else ``None``.
        options: build options for a registered model (e.g. ``{"plan": "paper"}``).
        seed: weight seed for a registered model (same seed, same weights).
        input_name: the ONNX graph's input name (``"input"`` for edgecheck's own exports).
    """

    name: str
    input_shape: tuple[int, ...]
    onnx_path: Path | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    input_name: str = INPUT_NAME

    @property
    def is_onnx(self) -> bool:
        """True when the model was given as an ONNX file."""
        return self.onnx_path is not None

    def build_torch(self) -> Any:
        """Build the registered torch model in eval mode (not possible for an ONNX file)."""
        if self.onnx_path is not None:
            raise BackendError(
                f"the torch backend runs registered models only; '{self.onnx_path}' is an "
                f"ONNX file. Use backend='onnxruntime' (or 'tensorrt') for ONNX files, or "
                f"register the torch model with edgecheck.models.register_model()."
            )
        from edgecheck.models import build_model

        model = build_model(self.name, seed=self.seed, **dict(self.options))
        model.eval()
        return model


def looks_like_onnx_path(model: str | os.PathLike[str]) -> bool:
    """True for a path-like object or a string naming a ``.onnx`` file."""
    return not isinstance(model, str) or model.lower().endswith(".onnx")


def resolve_model(
    model: str | os.PathLike[str],
    *,
    options: Mapping[str, Any] | None = None,
    seed: int = 0,
    input_shape: tuple[int, ...] | None = None,
) -> ModelSource:
    """Resolve a registered model name or an ONNX path into a `ModelSource`.

    Args:
        model: a registered name (``"fqa"``) or a path to an ``.onnx`` file.
        options: build options for a registered model. Default: none.
        seed: weight seed for a registered model. Default 0.
        input_shape: override the per-example input shape; for ONNX files it is read from
            the file's first input when omitted (its batch axis dropped).

    Raises:
        BackendError: the file does not exist or its input shape is not fixed; an unknown
            model name raises `edgecheck.errors.ModelError` from the registry.
    """
    if looks_like_onnx_path(model):
        path = Path(model)
        if not path.is_file():
            raise BackendError(
                f"ONNX file '{path}' does not exist; give an existing .onnx file or a "
                f"registered model name (`edgecheck models` lists them; "
                f"edgecheck.models.available_models() in Python)."
            )
        if options:
            raise BackendError(
                f"model options {sorted(options)} apply to registered models only, not to "
                f"the ONNX file '{path}'; drop them."
            )
        name, file_shape = onnx_input(path, need_shape=not input_shape)
        shape = tuple(input_shape) if input_shape else file_shape
        return ModelSource(
            name=path.stem, input_shape=shape, onnx_path=path, seed=seed, input_name=name
        )
    from edgecheck.models import get_model_spec

    spec = get_model_spec(str(model))
    shape = tuple(input_shape) if input_shape else tuple(spec.input_shape)
    return ModelSource(name=spec.name, input_shape=shape, options=dict(options or {}), seed=seed)


def onnx_input(path: Path, *, need_shape: bool = True) -> tuple[str, tuple[int, ...]]:
    """The first graph input's name and shape without the batch axis.

    With `need_shape`, every axis after the batch axis must have a fixed size; without it
    the shape comes back empty when it is not fixed.
    """
    first = onnx_graph_input(path)
    shape = first.fixed_shape()
    if shape is None:
        if not need_shape:
            return first.name, ()
        raise BackendError(
            f"{path}: {first.describe()}; edgecheck needs a batch axis followed by fixed "
            f"sizes: give them (input_shape=(...) in Python, --input-shape C,H,W on the "
            f"command line)."
        )
    return first.name, shape


def onnx_graph_input(path: Path) -> GraphInput:
    """The ONNX file's first data input (name, sizes, element type), the one runners feed.

    Raises:
        ModelError: the file is missing or not a readable ONNX model (`load_onnx`).
        BackendError: the graph has no data input.
    """
    inputs = graph_inputs(load_onnx(path, purpose="reading an ONNX model's input shape"))
    if not inputs:
        raise BackendError(f"ONNX file '{path}' has no graph input; it cannot be run.")
    return inputs[0]


def onnx_quantization_format(path: Path) -> str | None:
    """``"qdq"`` for Q/DQ (explicit) quantization, ``"qoperator"``, or ``None`` for neither."""
    ops = {node.op_type for node in load_onnx(path, purpose="inspecting quantization").graph.node}
    if ops & QDQ_OPS:
        return "qdq"
    if ops & QOPERATOR_OPS:
        return "qoperator"
    return None


def onnx_has_fp16(path: Path) -> bool:
    """True when any weight (initializer) of the ONNX file is stored as float16."""
    onnx = require("onnx", "inspecting an ONNX model's precision")
    graph = load_onnx(path, purpose="inspecting an ONNX model's precision").graph
    return any(init.data_type == onnx.TensorProto.FLOAT16 for init in graph.initializer)


class TemporaryOnnx:
    """Loader: export a registered model to an ONNX file in a private temporary folder.

    Calling it returns the file's path; `cleanup` removes the folder. The file holds the
    weights (VGG16: about 528 MB), so runners call `cleanup` as soon as their session has
    loaded it.
    """

    def __init__(self, source: ModelSource) -> None:
        self.source = source
        self._dir: str | None = None
        self._path: Path | None = None

    def __call__(self) -> Path:
        if self._path is None:
            from edgecheck.export import export_onnx

            self._dir = tempfile.mkdtemp(prefix=f"edgecheck-{self.source.name}-")
            model = self.source.build_torch()
            self._path = export_onnx(
                model, self.source.input_shape, Path(self._dir) / f"{self.source.name}.onnx"
            )
        return self._path

    def cleanup(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None
        self._path = None

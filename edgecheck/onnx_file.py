"""Reading a user's ONNX file: every way it can be unusable becomes one `ModelError` line.

`load_onnx(path)` is the one place that opens an ONNX file for its graph (MAC counting, a
runner's input shape, quantization and precision checks): a missing or unreadable file,
protobuf's ``DecodeError`` (truncated, corrupt, or not ONNX at all), onnx's checker
``ValidationError``, and a file that parses but holds no model (an empty file parses as an
empty ``ModelProto``) each raise `ModelError` naming the file, what is wrong and what to do.
`graph_inputs` describes the data inputs (name, sizes, element type) without onnxruntime.
Cross-cutting: it imports only `errors` and `_imports`; onnx loads inside the functions.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgecheck._imports import require
from edgecheck.errors import ModelError

REEXPORT = "re-export or re-download the model and check it with `edgecheck macs FILE`"


@dataclass(frozen=True)
class GraphInput:
    """One data input of an ONNX graph.

    Attributes:
        name: the input's name.
        dims: per axis, the fixed size (int) or the symbol (str, ``"?"`` when unnamed).
        elem_type: the element type's name in lower case, e.g. ``"float"``, ``"float16"``.
    """

    name: str
    dims: tuple[int | str, ...]
    elem_type: str

    def fixed_shape(self) -> tuple[int, ...] | None:
        """The sizes after the batch axis, when all of them are fixed; else ``None``."""
        rest = self.dims[1:]
        if not rest or not all(isinstance(d, int) for d in rest):
            return None
        return tuple(int(d) for d in rest)

    def describe(self) -> str:
        """E.g. ``input 'x' float [batch,3,224,224]``."""
        return f"input '{self.name}' {self.elem_type} [{','.join(str(d) for d in self.dims)}]"


def load_onnx(path: str | os.PathLike[str], *, purpose: str = "reading an ONNX model") -> Any:
    """The graph of the ONNX file at `path` (external weight files are not loaded).

    Raises:
        ModelError: the file is missing, unreadable, truncated, corrupt or not an ONNX model.
        MissingDependencyError: the ``onnx`` package is not installed.
    """
    onnx = require("onnx", purpose)
    source = Path(path)
    if not source.exists():
        raise ModelError(f"{source}: no such file; give the path of an existing .onnx file.")
    if source.is_dir():
        raise ModelError(f"{source}: is a folder, not an ONNX file; give the .onnx file in it.")
    try:
        # Only the graph is needed: skipping external data keeps this instant for big models.
        model = onnx.load(str(source), load_external_data=False)
    except OSError as exc:
        raise ModelError(
            f"{source}: cannot be read ({exc.strerror or exc}); check its permissions."
        ) from None
    except Exception as exc:  # protobuf's DecodeError (onnx does not export its class)
        raise ModelError(
            f"{source}: not a readable ONNX model ({_one_line(exc)}): truncated, corrupt or "
            f"not ONNX at all; {REEXPORT}."
        ) from exc
    if model.ir_version <= 0 or not model.HasField("graph") or not model.graph.node:
        raise ModelError(
            f"{source}: not an ONNX model (no IR version, or a graph without nodes; "
            f"{source.stat().st_size} bytes); {REEXPORT}."
        )
    return model


def check_onnx(path: str | os.PathLike[str]) -> Any:
    """`load_onnx` plus onnx's structural checker; its ``ValidationError`` becomes `ModelError`."""
    onnx = require("onnx", "checking an ONNX model")
    model = load_onnx(path)
    try:
        onnx.checker.check_model(model)
    except Exception as exc:  # onnx.onnx_cpp2py_export.checker.ValidationError, and kin
        raise ModelError(f"{path}: an invalid ONNX graph ({_one_line(exc)}); {REEXPORT}.") from None
    return model


def graph_inputs(model: Any) -> list[GraphInput]:
    """The graph's data inputs (inputs that are not initializers), in order."""
    onnx = require("onnx", "reading an ONNX model's inputs")
    initializers = {init.name for init in model.graph.initializer}
    found = []
    for value in model.graph.input:
        if value.name in initializers:
            continue
        tensor = value.type.tensor_type
        dims: tuple[int | str, ...] = tuple(
            int(d.dim_value) if d.HasField("dim_value") else (d.dim_param or "?")
            for d in tensor.shape.dim
        )
        try:
            elem = onnx.TensorProto.DataType.Name(tensor.elem_type).lower()
        except ValueError:
            elem = f"type {tensor.elem_type}"
        found.append(GraphInput(value.name, dims, elem))
    return found


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if len(text) > 200:
        text = text[:197] + "..."
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__

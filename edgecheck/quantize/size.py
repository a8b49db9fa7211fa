"""Parameter bytes of a model at each precision (the ``quant.memory`` claim, Section II-B-2).

The paper: parameters at 16 / 8 bits take 50 % / 75 % less memory than at 32 bits. For an
ONNX file, the parameter bytes are the bytes of every initializer in the graph, as stored:
weights and biases, and for a quantized model also its scales and zero points (a QDQ model
keeps int32 biases and one float scale per weight channel and activation, which is why the
INT8 ratio is a little above 0.25). The graph structure (node protos, names) is not counted:
it is metadata, the same at every precision.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass
from typing import Any

from edgecheck._imports import require


@dataclass(frozen=True)
class ParameterBytes:
    """Bytes of a model's stored parameters.

    Attributes:
        total: all parameter bytes.
        by_dtype: bytes per element type (``"float32"``, ``"float16"``, ``"int8"``, ...).
        tensors: how many parameter tensors.
    """

    total: int
    by_dtype: dict[str, int]
    tensors: int

    def ratio_to(self, reference: ParameterBytes) -> float:
        """``self.total / reference.total`` (e.g. INT8 vs FP32: about 0.25)."""
        return self.total / reference.total


def onnx_parameter_bytes(model: str | os.PathLike[str] | Any) -> ParameterBytes:
    """The parameter bytes of an ONNX model (a path or a loaded ``ModelProto``).

    Initializers stored as external data are counted at their stored size too.
    """
    onnx = require("onnx", "measuring an ONNX model's parameter bytes")
    from onnx import numpy_helper

    proto = onnx.load(str(model)) if isinstance(model, (str, os.PathLike)) else model
    by_dtype: Counter[str] = Counter()
    count = 0
    for tensor in proto.graph.initializer:
        array = numpy_helper.to_array(tensor)
        by_dtype[str(array.dtype)] += int(array.nbytes)
        count += 1
    return ParameterBytes(total=sum(by_dtype.values()), by_dtype=dict(by_dtype), tensors=count)


def torch_parameter_bytes(module: Any) -> ParameterBytes:
    """The parameter and buffer bytes of a torch module (e.g. after ``.half()``)."""
    by_dtype: Counter[str] = Counter()
    count = 0
    for tensor in [*module.parameters(), *module.buffers()]:
        by_dtype[str(tensor.dtype).removeprefix("torch.")] += tensor.numel() * tensor.element_size()
        count += 1
    return ParameterBytes(total=sum(by_dtype.values()), by_dtype=dict(by_dtype), tensors=count)

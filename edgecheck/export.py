"""ONNX export of torch models, with a dynamic batch axis.

Uses the legacy TorchScript exporter (``dynamo=False``): it needs only the ``onnx`` package,
while the dynamo exporter also needs ``onnxscript``.
"""

from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Any

from edgecheck._imports import require

INPUT_NAME = "input"
OUTPUT_NAME = "output"
DEFAULT_OPSET = 17


def export_onnx(
    model: Any,
    input_shape: tuple[int, ...],
    path: str | os.PathLike[str],
    *,
    opset: int = DEFAULT_OPSET,
    dynamic_batch: bool = True,
    export_params: bool = True,
) -> Path:
    """Export `model` (an ``nn.Module``) to `path` and return the path.

    Args:
        model: the torch module; exported in eval mode on the CPU.
        input_shape: one example's shape without the batch axis, e.g. ``(3, 224, 224)``.
        path: where to write the ``.onnx`` file. Written to a temporary file in the same
            folder and renamed, so a failed export never leaves a half-written file.
        opset: ONNX opset version.
        dynamic_batch: make axis 0 of the input and output symbolic (``"batch"``).
        export_params: store the weights in the file. ``False`` writes the graph alone (the
            weights become graph inputs with their shapes): enough for MAC counting, and
            small and fast where the full file would be large (VGG16: 528 MB).
    """
    import torch

    require("onnx", "exporting a model to ONNX")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    example = torch.zeros((1, *input_shape), dtype=torch.float32)
    dynamic_axes = {INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}} if dynamic_batch else None
    was_training = model.training
    model.eval()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    # mkstemp creates the file 0600; give the export the permissions a plain open() would.
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_name, 0o666 & ~umask)
    try:
        with torch.no_grad(), warnings.catch_warnings():
            # The legacy exporter is chosen on purpose (see the module docstring); its
            # deprecation notices would only clutter every test run and CLI call.
            warnings.filterwarnings("ignore", category=DeprecationWarning)
            torch.onnx.export(
                model,
                (example,),
                tmp_name,
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes=dynamic_axes,
                opset_version=opset,
                export_params=export_params,
                dynamo=False,
            )
        os.replace(tmp_name, target)
    finally:
        if os.path.exists(tmp_name):
            os.unlink(tmp_name)
        model.train(was_training)
    return target

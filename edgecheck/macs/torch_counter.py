"""`count_macs`: the Eq. 1 MACs of a torch module, from one forward pass with hooks on its
``nn.Conv*``, ``nn.ConvTranspose*`` and ``nn.Linear`` modules.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from edgecheck.errors import ModelError
from edgecheck.macs.report import (
    CONV,
    CONV_TRANSPOSE,
    LINEAR,
    LayerMACs,
    LayerNames,
    MACReport,
    check_batch_size,
    per_example,
)

_CONV_MODULES = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONV_TRANSPOSE_MODULES = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def _module_layer(
    module: nn.Module, name: str, inputs: Sequence[Any], output: Any, batch_size: int
) -> LayerMACs | None:
    if not isinstance(output, torch.Tensor):
        return None
    if isinstance(module, nn.Linear):
        # Every leading dimension of the output is one row that needs in x out MACs.
        total = output.numel() * module.in_features
        return LayerMACs(
            name=name,
            kind=LINEAR,
            in_channels=module.in_features,
            out_channels=module.out_features,
            kernel=(),
            output_size=(),
            groups=1,
            macs=per_example(total, batch_size, name),
        )
    if not isinstance(module, _CONV_MODULES + _CONV_TRANSPOSE_MODULES):
        return None
    kernel = tuple(int(k) for k in module.kernel_size)
    # Indexing from the end also covers unbatched (C, *spatial) input, which torch accepts.
    output_size = tuple(int(d) for d in output.shape[-len(kernel) :])
    in_channels, out_channels, groups = module.in_channels, module.out_channels, module.groups
    if isinstance(module, _CONV_MODULES):
        total = output.numel() * (in_channels // groups) * math.prod(kernel)
        kind = CONV
    else:
        # Every input element is scattered through one group's kernels, so the work follows
        # the input's size (output_padding enlarges the output without adding MACs).
        total = inputs[0].numel() * (out_channels // groups) * math.prod(kernel)
        kind = CONV_TRANSPOSE
    return LayerMACs(
        name=name,
        kind=kind,
        in_channels=in_channels,
        out_channels=out_channels,
        kernel=kernel,
        output_size=output_size,
        groups=groups,
        macs=per_example(total, batch_size, name),
    )


def _model_device_and_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    for tensor in (*model.parameters(), *model.buffers()):
        dtype = tensor.dtype if tensor.is_floating_point() else torch.float32
        return tensor.device, dtype
    return torch.device("cpu"), torch.float32


def count_macs(model: nn.Module, input_shape: Sequence[int], *, batch_size: int = 1) -> MACReport:
    """Count the Eq. 1 MACs of every convolution and linear layer of `model`.

    Runs one forward pass on zeros, on the model's own device (a ``"meta"`` model counts
    without allocating anything), in eval mode and under ``torch.no_grad()``; the model's
    train/eval flags are restored afterwards. Only ``nn.Conv*``, ``nn.ConvTranspose*`` and
    ``nn.Linear`` modules are counted: functional calls (``F.conv2d``) are invisible to the
    forward hooks this relies on.

    Args:
        model: the ``nn.Module`` to count.
        input_shape: one example's shape without the batch axis, e.g. ``(3, 224, 224)``.
        batch_size: the batch of the counting pass; counts are divided by it, so the report
            is per example whatever the batch.

    Returns:
        A `MACReport` with one entry per layer call, in execution order.

    Raises:
        ModelError: `input_shape` or `batch_size` is not valid, or the forward pass fails
            (the message names the model class, the shape given and the original error).
    """
    shape = tuple(input_shape)
    if not shape or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape):
        raise ModelError(
            f"count_macs: input_shape {input_shape!r} must be a non-empty tuple of positive "
            f"sizes without the batch axis, e.g. (3, 224, 224)."
        )
    check_batch_size(batch_size)
    names = {module: name for name, module in model.named_modules()}
    layers: list[LayerMACs] = []
    unique = LayerNames()

    def hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> None:
        inputs = args or tuple(kwargs.values())
        # The root module has the empty path; its class name reads better in a table.
        path = names[module] or type(module).__name__
        layer = _module_layer(module, unique.next(path), inputs, output, batch_size)
        if layer is not None:
            layers.append(layer)

    counted = _CONV_MODULES + _CONV_TRANSPOSE_MODULES + (nn.Linear,)
    handles = [
        module.register_forward_hook(hook, with_kwargs=True)
        for module in names
        if isinstance(module, counted)
    ]
    # Eval mode so that counting never updates batch-norm statistics or draws dropout masks;
    # each module's own flag is restored, not just the root's.
    training = {module: module.training for module in names}
    device, dtype = _model_device_and_dtype(model)
    try:
        model.eval()
        example = torch.zeros((batch_size, *shape), device=device, dtype=dtype)
        with torch.no_grad():
            model(example)
    except ModelError:
        raise  # from the hooks, already explicit (ModelError is a ValueError)
    except (RuntimeError, ValueError, IndexError) as exc:
        raise ModelError(
            f"count_macs: {type(model).__name__} failed on an input of shape {shape} "
            f"(as a batch: {(batch_size, *shape)}): {type(exc).__name__}: {exc}. "
            f"input_shape must be one example's shape without the batch axis."
        ) from exc
    finally:
        for handle in handles:
            handle.remove()
        for module, flag in training.items():
            module.training = flag
    return MACReport(tuple(layers))

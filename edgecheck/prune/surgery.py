"""Surgery: remove channels physically, so the pruned model is smaller and dense.

Removing output channel i of a conv B deletes B's filter i (weight and bias), entry i of every
batch norm between B and its consumers (weight, bias, running mean and variance), and input
channel i of every consumer conv. The layers keep their types; only tensor shapes and the
``in_channels`` / ``out_channels`` / ``num_features`` attributes change, so the model runs,
saves and exports to ONNX like the original.

Removing input channel i of a consumer is exactly the same as feeding it zeros there;
`mask_channels` does the latter on an unpruned model, which is how the tests check surgery.
"""

from __future__ import annotations

import contextlib
import copy
from collections.abc import Iterator, Mapping, Sequence

import torch
from torch import nn

from edgecheck.errors import PlanError
from edgecheck.prune.graph import PrunableLayer, find_prunable_layers
from edgecheck.prune.reconstruct import Reconstruction


def _conv(model: nn.Module, name: str) -> nn.Conv2d:
    module = model.get_submodule(name)
    if not isinstance(module, nn.Conv2d):
        raise PlanError(f"layer {name} is a {type(module).__name__}, not an nn.Conv2d")
    return module


def _keep_index(
    layer: PrunableLayer, kept: Sequence[int] | torch.Tensor, width: int
) -> torch.Tensor:
    index = torch.as_tensor(kept, dtype=torch.long).flatten()
    if index.numel() == 0:
        raise PlanError(f"{layer.name}: cannot keep zero channels; keep at least one.")
    if index.min() < 0 or index.max() >= width or index.unique().numel() != index.numel():
        raise PlanError(
            f"{layer.name}: kept channels must be distinct indices below its width {width}; "
            f"got {index.tolist()}."
        )
    return torch.sort(index).values


def _param(tensor: torch.Tensor, like: torch.Tensor) -> nn.Parameter:
    return nn.Parameter(
        tensor.detach().to(device=like.device, dtype=like.dtype).clone(),
        requires_grad=like.requires_grad,
    )


def remove_channels(
    model: nn.Module,
    layer: PrunableLayer,
    kept: Sequence[int] | torch.Tensor,
    *,
    reconstructions: Mapping[str, Reconstruction] | None = None,
) -> None:
    """Keep only output channels `kept` of `layer` in `model` (in place).

    Args:
        model: the model to change; its structure must be the one `layer` was found in.
        layer: the layer and its consumers and batch norms (`find_prunable_layers`).
        kept: output channel indices to keep (any order; stored ascending).
        reconstructions: consumer path -> new weights and bias change (least squares); a
            consumer without one keeps its old weights for the kept channels.

    Raises:
        PlanError: the layer cannot be pruned, or `kept` is empty or out of range.
    """
    if not layer.prunable:
        raise PlanError(f"cannot remove channels of {layer.name}: {layer.reason}.")
    producer = _conv(model, layer.name)
    index = _keep_index(layer, kept, producer.out_channels)
    reconstructions = reconstructions or {}

    producer.weight = _param(producer.weight[index.to(producer.weight.device)], producer.weight)
    if producer.bias is not None:
        producer.bias = _param(producer.bias[index.to(producer.bias.device)], producer.bias)
    producer.out_channels = index.numel()

    for name in layer.norms:
        norm = model.get_submodule(name)
        assert isinstance(norm, nn.BatchNorm2d)
        if norm.weight is not None:
            norm.weight = _param(norm.weight[index], norm.weight)
        if norm.bias is not None:
            norm.bias = _param(norm.bias[index], norm.bias)
        if norm.running_mean is not None and norm.running_var is not None:
            norm.running_mean = norm.running_mean[index].clone()
            norm.running_var = norm.running_var[index].clone()
        norm.num_features = index.numel()

    for name in layer.consumers:
        consumer = _conv(model, name)
        new = reconstructions.get(name)
        if new is None:
            consumer.weight = _param(consumer.weight[:, index], consumer.weight)
        else:
            if new.weight.shape != (consumer.out_channels, index.numel(), *consumer.kernel_size):
                raise PlanError(
                    f"reconstructed weight for {name} has shape {tuple(new.weight.shape)}, "
                    f"expected {(consumer.out_channels, index.numel(), *consumer.kernel_size)}."
                )
            consumer.weight = _param(new.weight, consumer.weight)
            if consumer.bias is None:
                consumer.bias = _param(new.bias_delta, consumer.weight)
            else:
                consumer.bias = _param(
                    consumer.bias + new.bias_delta.to(consumer.bias), consumer.bias
                )
        consumer.in_channels = index.numel()


@contextlib.contextmanager
def mask_channels(
    model: nn.Module, layer: PrunableLayer, dropped: Sequence[int] | torch.Tensor
) -> Iterator[nn.Module]:
    """Within the block, `layer`'s consumers see zeros in input channels `dropped`.

    The unpruned equivalent of `remove_channels(model, layer, kept)` without reconstruction:
    both give the same outputs up to float32 rounding.
    """
    index = torch.as_tensor(dropped, dtype=torch.long)

    def zero(_module: nn.Module, args: tuple[torch.Tensor, ...]) -> tuple[torch.Tensor, ...]:
        x = args[0].clone()
        x[:, index.to(x.device)] = 0
        return (x, *args[1:])

    handles = [_conv(model, name).register_forward_pre_hook(zero) for name in layer.consumers]
    try:
        yield model
    finally:
        for handle in handles:
            handle.remove()


def add_zero_channels(model: nn.Module, layer: PrunableLayer, width: int) -> None:
    """Widen `layer`'s output to `width` channels with zero filters (in place).

    The inverse of removal for channels that carry nothing: the new filters and their bias
    are zero, their batch-norm entries map zero to zero, and every consumer reads them with
    zero weights, so the model computes the same function. What it buys is a layout: a
    runtime whose fast kernels need channel counts in multiples of 4 or 16 can use them.

    Raises:
        PlanError: the layer cannot change width, or `width` is below its current width.
    """
    if not layer.prunable:
        raise PlanError(f"cannot add channels to {layer.name}: {layer.reason}.")
    producer = _conv(model, layer.name)
    extra = width - producer.out_channels
    if extra < 0:
        raise PlanError(
            f"{layer.name}: cannot widen {producer.out_channels} channels to {width}; "
            f"use remove_channels to narrow a layer."
        )
    if extra == 0:
        return

    def grown(tensor: torch.Tensor, dim: int, fill: float = 0.0) -> torch.Tensor:
        shape = list(tensor.shape)
        shape[dim] = extra
        return torch.cat([tensor.detach(), tensor.new_full(shape, fill)], dim=dim)

    producer.weight = _param(grown(producer.weight, 0), producer.weight)
    if producer.bias is not None:
        producer.bias = _param(grown(producer.bias, 0), producer.bias)
    producer.out_channels = width
    for name in layer.norms:
        norm = model.get_submodule(name)
        assert isinstance(norm, nn.BatchNorm2d)
        # gamma 0, beta 0, mean 0, var 1: the new channels stay exactly zero through the norm.
        if norm.weight is not None:
            norm.weight = _param(grown(norm.weight, 0), norm.weight)
        if norm.bias is not None:
            norm.bias = _param(grown(norm.bias, 0), norm.bias)
        if norm.running_mean is not None and norm.running_var is not None:
            norm.running_mean = grown(norm.running_mean, 0)
            norm.running_var = grown(norm.running_var, 0, fill=1.0)
        norm.num_features = width
    for name in layer.consumers:
        consumer = _conv(model, name)
        consumer.weight = _param(grown(consumer.weight, 1), consumer.weight)
        consumer.in_channels = width


def align_channels(model: nn.Module, multiple: int) -> nn.Module:
    """`model` with its prunable convs' output widths rounded up to `multiple`.

    A copy; `model` itself when every width is already a multiple.

    Same function (up to float32 rounding), more channels: the extra ones are zero filters
    (`add_zero_channels`). onnxruntime's CPU provider runs a conv in its blocked NCHWc
    layout only when the input channel count is below 16 or a multiple of 4 (measured with
    onnxruntime 1.32 on Table VI's plan: inputs of 22, 41, 51, 89 and 111 channels fell back
    to im2col and ran at about half the rate), and a pool only on whole blocks. Its blocked
    conv pads channels to the block (16 with AVX-512: `onnxruntime_backend.
    nchwc_channel_multiple`) itself, so rounding up to the block costs no extra arithmetic
    there. Layers that cannot change width (their output reaches a flatten or a
    concatenation) keep theirs.

    Raises:
        PlanError: `multiple` is not a positive whole number.
    """
    if isinstance(multiple, bool) or not isinstance(multiple, int) or multiple < 1:
        raise PlanError(f"channel alignment must be a positive whole number, got {multiple!r}.")
    widths = {
        name: -(-layer.out_channels // multiple) * multiple
        for name, layer in find_prunable_layers(model).items()
        if layer.prunable and layer.out_channels % multiple
    }
    if not widths:
        return model  # nothing to widen: no copy of a 528 MB VGG16
    aligned = copy.deepcopy(model)
    layers = find_prunable_layers(aligned)
    for name, width in widths.items():
        add_zero_channels(aligned, layers[name], width)
    return aligned

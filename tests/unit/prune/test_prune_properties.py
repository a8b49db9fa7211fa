"""Properties of pruning on random small conv stacks (channels, kernels, padding, stride,
dilation, batch norm, ReLU and pooling between the convs): surgery is exact where it must be,
reconstruction never hurts on its own samples, and the plan's counts are hit exactly."""

from __future__ import annotations

import copy
from collections import OrderedDict
from dataclasses import dataclass

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from edgecheck.errors import PlanError
from edgecheck.prune import (
    add_zero_channels,
    align_channels,
    find_prunable_layers,
    mask_channels,
    prune_model,
    remove_channels,
    synthetic_images,
)


@dataclass
class Stack:
    model: nn.Module
    images: torch.Tensor

    def run(self, model: nn.Module | None = None) -> torch.Tensor:
        with torch.no_grad():
            return (model or self.model)(self.images)


@st.composite
def conv_stacks(draw: st.DrawFn, min_convs: int = 2) -> Stack:
    """A random nn.Sequential of 2-4 convs whose shapes fit a random input size."""
    seed = draw(st.integers(0, 2**16))
    in_channels = draw(st.integers(1, 3))
    size = draw(st.integers(9, 14))
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    channels, current = in_channels, size
    convs = draw(st.integers(min_convs, 4))
    torch.manual_seed(seed)
    for i in range(convs):
        kernel = draw(st.sampled_from([1, 2, 3]))
        dilation = draw(st.integers(1, 2)) if kernel > 1 else 1
        stride = draw(st.integers(1, 2))
        padding = draw(st.integers(0, (kernel * dilation) // 2))
        extent = dilation * (kernel - 1) + 1
        if current + 2 * padding < extent:
            padding = (extent - current + 1) // 2
        out = draw(st.integers(2, 7))
        layers[f"conv{i}"] = nn.Conv2d(
            channels, out, kernel, stride=stride, padding=padding, dilation=dilation,
            bias=draw(st.booleans()),
        )  # fmt: skip
        current = (current + 2 * padding - extent) // stride + 1
        if i < convs - 1:
            if draw(st.booleans()):
                bn = nn.BatchNorm2d(out)
                bn.running_mean.uniform_(-0.5, 0.5)
                bn.running_var.uniform_(0.5, 2.0)
                nn.init.uniform_(bn.weight, 0.5, 1.5)
                nn.init.uniform_(bn.bias, -0.2, 0.2)
                layers[f"bn{i}"] = bn
            if draw(st.booleans()):
                layers[f"relu{i}"] = nn.ReLU()
            if current >= 4 and draw(st.booleans()):
                layers[f"pool{i}"] = nn.MaxPool2d(2)
                current //= 2
        channels = out
    model = nn.Sequential(layers).eval()
    images = synthetic_images(3, (in_channels, size, size), seed=seed)
    return Stack(model, images)


def close(a: torch.Tensor, b: torch.Tensor) -> bool:
    scale = float(b.abs().max()) + 1e-6
    return bool((a - b).abs().max() <= 1e-5 * scale)


def prunable(stack: Stack) -> list[str]:
    return [n for n, layer in find_prunable_layers(stack.model).items() if layer.prunable]


@settings(max_examples=25)
@given(stack=conv_stacks())
def test_keeping_every_channel_is_exact(stack):
    layers = find_prunable_layers(stack.model)
    full = {name: layer.out_channels for name, layer in layers.items()}
    result = prune_model(stack.model, full, stack.images)
    assert torch.equal(stack.run(result.model), stack.run())
    for name in prunable(stack):  # surgery that keeps every channel changes nothing either
        model = copy.deepcopy(stack.model)
        remove_channels(model, layers[name], range(layers[name].out_channels))
        assert torch.equal(stack.run(model), stack.run())


@settings(max_examples=25)
@given(stack=conv_stacks(), data=st.data())
def test_surgery_equals_masking_the_same_channels(stack, data):
    layers = find_prunable_layers(stack.model)
    name = data.draw(st.sampled_from(prunable(stack)))
    width = layers[name].out_channels
    kept = sorted(data.draw(st.sets(st.integers(0, width - 1), min_size=1, max_size=width)))
    dropped = [i for i in range(width) if i not in kept]
    pruned = copy.deepcopy(stack.model)
    remove_channels(pruned, layers[name], kept)
    with mask_channels(stack.model, layers[name], dropped):
        masked = stack.run()
    assert close(stack.run(pruned), masked)
    assert pruned.get_submodule(name).weight.shape[0] == len(kept)
    for consumer in layers[name].consumers:
        assert pruned.get_submodule(consumer).weight.shape[1] == len(kept)


@settings(max_examples=25)
@given(stack=conv_stacks(), data=st.data())
def test_pruning_channels_whose_outgoing_weights_are_zero_is_exact(stack, data):
    layers = find_prunable_layers(stack.model)
    name = data.draw(st.sampled_from(prunable(stack)))
    width = layers[name].out_channels
    zero = sorted(data.draw(st.sets(st.integers(0, width - 1), min_size=1, max_size=width - 1)))
    with torch.no_grad():
        for consumer in layers[name].consumers:
            stack.model.get_submodule(consumer).weight[:, zero] = 0.0
    reference = stack.run()
    # Surgery alone: exact on any input.
    pruned = copy.deepcopy(stack.model)
    remove_channels(pruned, layers[name], [i for i in range(width) if i not in zero])
    assert close(stack.run(pruned), reference)
    # He et al.'s selection finds them: every position sampled, so exact on these images.
    result = prune_model(
        stack.model, {name: width - len(zero)}, stack.images, reconstruct=False,
        samples_per_image=None,
    )  # fmt: skip
    assert close(stack.run(result.model), reference)


@settings(max_examples=25)
@given(stack=conv_stacks(), method=st.sampled_from(["lasso", "l1"]), data=st.data())
def test_reconstruction_never_increases_the_error_on_its_samples(stack, method, data):
    layers = find_prunable_layers(stack.model)
    plan = {
        name: data.draw(st.integers(1, layers[name].out_channels), label=name)
        for name in prunable(stack)
    }
    result = prune_model(
        stack.model, plan, stack.images, method=method, reconstruct=True,
        samples_per_image=data.draw(st.sampled_from([3, None])),
    )  # fmt: skip
    for layer in result.layers:
        assert layer.error_removed is not None and layer.error_reconstructed is not None
        assert layer.error_reconstructed <= layer.error_removed * (1 + 1e-6) + 1e-7


@settings(max_examples=25)
@given(stack=conv_stacks(), data=st.data())
def test_plans_are_hit_exactly_and_results_reproduce(stack, data):
    layers = find_prunable_layers(stack.model)
    plan = {
        name: data.draw(st.integers(1, layers[name].out_channels), label=name)
        for name in prunable(stack)
    }
    first = prune_model(stack.model, plan, stack.images, seed=7)
    kept = first.kept()
    for name, count in plan.items():
        assert kept[name] == count
    for name, layer in layers.items():
        for consumer in layer.consumers:
            assert first.model.get_submodule(consumer).in_channels == kept[name]
    second = prune_model(stack.model, plan, stack.images, seed=7)
    for key, value in first.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[key]), key
    assert stack.run(first.model).shape == stack.run().shape


@settings(max_examples=25)
@given(stack=conv_stacks(), multiple=st.sampled_from([1, 3, 4, 16]))
def test_aligning_channels_computes_the_same_function(stack, multiple):
    """Zero filters added up to a multiple change no output, and every prunable width is
    rounded up (the others stay as they were)."""
    aligned = align_channels(stack.model, multiple)
    assert close(stack.run(aligned), stack.run())
    if multiple == 1:
        assert aligned is stack.model  # nothing to widen, nothing copied
    for name, layer in find_prunable_layers(stack.model).items():
        width = aligned.get_submodule(name).out_channels
        if layer.prunable:
            assert width % multiple == 0 and 0 <= width - layer.out_channels < multiple
            for consumer in layer.consumers:
                assert aligned.get_submodule(consumer).in_channels == width
        else:
            assert width == layer.out_channels
    # the original is untouched
    assert all(
        stack.model.get_submodule(n).out_channels == layer.out_channels
        for n, layer in find_prunable_layers(stack.model).items()
    )


@settings(max_examples=10)
@given(stack=conv_stacks())
def test_aligning_then_removing_the_zero_channels_gives_the_model_back(stack):
    name = prunable(stack)[0]
    layer = find_prunable_layers(stack.model)[name]
    widened = copy.deepcopy(stack.model)
    add_zero_channels(widened, layer, layer.out_channels + 5)
    remove_channels(widened, find_prunable_layers(widened)[name], range(layer.out_channels))
    for key, value in stack.model.state_dict().items():
        assert torch.equal(widened.state_dict()[key], value), key


def test_alignment_refuses_a_narrower_width_or_a_bad_multiple():
    model = nn.Sequential(nn.Conv2d(3, 6, 3), nn.ReLU(), nn.Conv2d(6, 2, 3)).eval()
    layer = find_prunable_layers(model)["0"]
    with pytest.raises(PlanError, match="cannot widen 6 channels to 4"):
        add_zero_channels(model, layer, 4)
    for bad in (0, -4, 2.5, True):
        with pytest.raises(PlanError, match="positive whole number"):
            align_channels(model, bad)  # type: ignore[arg-type]

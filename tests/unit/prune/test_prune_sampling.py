"""Sampling for He et al.'s regression: patches equal F.unfold's, Y is the original output."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from edgecheck.errors import ModelError
from edgecheck.models import build_model
from edgecheck.prune import extract_patches, prune_model, synthetic_images
from edgecheck.prune.sampling import (
    collect_samples,
    collect_targets,
    conv_output_size,
    sample_positions,
)


@settings(max_examples=40)
@given(
    channels=st.integers(1, 3),
    size=st.integers(5, 11),
    kernel=st.integers(1, 4),
    stride=st.integers(1, 3),
    padding=st.integers(0, 2),
    dilation=st.integers(1, 2),
    per_image=st.integers(1, 6),
    seed=st.integers(0, 2**16),
)
def test_patches_equal_unfold(channels, size, kernel, stride, padding, dilation, per_image, seed):
    conv = nn.Conv2d(channels, 2, kernel, stride=stride, padding=padding, dilation=dilation)
    out_h, out_w = conv_output_size(conv, size, size + 1)
    if out_h < 1 or out_w < 1:
        return
    x = torch.randn(2, channels, size, size + 1, generator=torch.Generator().manual_seed(seed))
    assert conv(x).shape[2:] == (out_h, out_w)
    positions = sample_positions("c", 2, out_h * out_w, per_image, seed)
    unfolded = F.unfold(x, kernel, dilation=dilation, padding=padding, stride=stride)
    expected = torch.cat([unfolded[b, :, positions[b]].T for b in range(2)])
    assert torch.equal(extract_patches(x, conv, positions), expected)


def test_positions_are_distinct_seeded_and_per_layer():
    a = sample_positions("features.conv2", 3, 100, 10, seed=0)
    assert a.shape == (3, 10) and all(len(set(row.tolist())) == 10 for row in a)
    assert torch.equal(a, sample_positions("features.conv2", 3, 100, 10, seed=0))
    assert not torch.equal(a, sample_positions("features.conv2", 3, 100, 10, seed=1))
    assert not torch.equal(a, sample_positions("features.conv3", 3, 100, 10, seed=0))
    every = sample_positions("x", 2, 7, None, seed=0)
    assert every.tolist() == [list(range(7))] * 2


def test_synthetic_images_are_deterministic_smooth_and_normalised():
    images = synthetic_images(3, (2, 32, 32), seed=5)
    assert images.shape == (3, 2, 32, 32) and images.dtype == torch.float32
    assert torch.equal(images, synthetic_images(3, (2, 32, 32), seed=5))
    assert not torch.equal(images, synthetic_images(3, (2, 32, 32), seed=6))
    flat = images.flatten(2)
    assert torch.allclose(flat.mean(-1), torch.zeros(3, 2), atol=1e-5)
    assert torch.allclose(flat.std(-1), torch.ones(3, 2), atol=1e-4)
    # Smooth: neighbouring pixels are strongly correlated (white noise would give ~0).
    left, right = images[..., :-1].flatten(), images[..., 1:].flatten()
    assert torch.corrcoef(torch.stack([left, right]))[0, 1] > 0.8
    with pytest.raises(ValueError):
        synthetic_images(0, (1, 8, 8))


def test_targets_are_original_outputs_minus_bias_and_inputs_are_patches():
    model = build_model("fqa")
    images = synthetic_images(3, (1, 64, 64), seed=0)
    name = "features.conv3"
    positions, targets = collect_targets(model, [name], images, samples_per_image=4, seed=0)
    conv = model.get_submodule(name)
    captured = {}
    handle = conv.register_forward_hook(lambda m, a, out: captured.update(x=a[0], y=out.clone()))
    with torch.no_grad():
        model(images)
    handle.remove()
    out = captured["y"].flatten(2)
    expected_y = torch.cat([out[b][:, positions[name][b]].T for b in range(3)]) - conv.bias
    assert torch.allclose(targets[name], expected_y, atol=1e-6)
    [samples] = collect_samples(model, targets, positions, [name], images)
    assert torch.allclose(samples.inputs, extract_patches(captured["x"], conv, positions[name]))
    # On the unpruned model, X W^T reproduces Y exactly: the regression starts from zero error.
    fit = samples.inputs @ samples.weight.reshape(samples.weight.shape[0], -1).T
    assert torch.allclose(fit, samples.targets, atol=1e-4)


def test_images_must_fit_the_model():
    model = build_model("fqa")
    with pytest.raises(ModelError, match=r"\(N, 1, H, W\)"):
        prune_model(model, {"conv2": 48}, synthetic_images(2, (3, 64, 64)))
    with pytest.raises(ModelError, match="pass images"):
        prune_model(model, {"conv2": 48}, None)
    # Magnitude pruning without reconstruction needs no images at all.
    assert prune_model(model, {"conv2": 48}, None, method="l1").kept()["features.conv2"] == 48

"""Channel selection (LASSO with an exact count, L1) and least-squares reconstruction."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from edgecheck.prune import ConsumerSamples, least_squares, select_l1, select_lasso
from edgecheck.prune.lasso import contribution_statistics
from edgecheck.prune.reconstruct import relative_error


def make_samples(
    seed: int, points: int = 60, channels: int = 6, outputs: int = 3, area: int = 4,
    zero: tuple[int, ...] = (),
) -> ConsumerSamples:  # fmt: skip
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(points, channels * area, generator=gen)
    weight = torch.randn(outputs, channels, 2, area // 2, generator=gen)
    weight[:, list(zero)] = 0.0
    y = x @ weight.reshape(outputs, -1).T + 0.1 * torch.randn(points, outputs, generator=gen)
    return ConsumerSamples(name="c", inputs=x, targets=y, weight=weight)


def test_statistics_equal_the_explicit_contribution_matrix():
    a, b = make_samples(0), make_samples(1)
    gram, zty, yty = contribution_statistics([a, b])
    z_parts, y_parts = [], []
    for s in (a, b):
        x = s.inputs.double().reshape(s.inputs.shape[0], s.in_channels, s.kernel_area)
        w = s.weight.double().reshape(s.weight.shape[0], s.in_channels, s.kernel_area)
        z = torch.einsum("pca,nca->pnc", x, w)  # Z_i = X_i W_i^T, one column per channel
        z_parts.append(z.reshape(-1, s.in_channels))
        y_parts.append(s.targets.double().reshape(-1))
    z, y = torch.cat(z_parts), torch.cat(y_parts)
    # W^T W is taken in float32 (it only ranks channels): agreement to float32 precision.
    assert torch.allclose(gram, z.T @ z, rtol=1e-5, atol=1e-5 * float(gram.abs().max()))
    assert torch.allclose(zty, z.T @ y, rtol=1e-5, atol=1e-5 * float(zty.abs().max()))
    assert yty == pytest.approx(float(y @ y))


@settings(max_examples=25)
@given(seed=st.integers(0, 2**16), channels=st.integers(2, 12), data=st.data())
def test_lasso_keeps_exactly_the_requested_count(seed, channels, data):
    keep = data.draw(st.integers(1, channels))
    samples = make_samples(seed, channels=channels)
    selection = select_lasso([samples], keep)
    assert selection.kept.numel() == keep
    assert selection.kept.unique().numel() == keep and int(selection.kept.max()) < channels
    assert torch.equal(selection.kept, torch.sort(selection.kept).values)
    assert torch.equal(selection.kept, select_lasso([samples], keep).kept)  # deterministic


def test_lasso_drops_channels_that_contribute_nothing():
    samples = make_samples(3, channels=8, zero=(1, 4, 6))
    selection = select_lasso([samples], 5)
    assert selection.kept.tolist() == [0, 2, 3, 5, 7]
    # Asking for more than the contributing channels fills with zero-contribution ones.
    more = select_lasso([samples], 6)
    assert more.kept.numel() == 6 and more.filled == 1


def test_lasso_prefers_the_channels_that_carry_the_output():
    samples = make_samples(4, channels=6)
    samples.weight[:, 2] *= 10.0
    samples.weight[:, 5] *= 10.0
    samples.targets = samples.inputs @ samples.weight.reshape(3, -1).T
    assert select_lasso([samples], 2).kept.tolist() == [2, 5]


def test_l1_keeps_the_largest_filters_and_breaks_ties_by_index():
    weight = torch.ones(5, 2, 1, 1)
    weight[3] *= 4
    weight[1] *= 2
    assert select_l1(weight, 2).kept.tolist() == [1, 3]
    assert select_l1(torch.ones(4, 1, 1, 1), 2).kept.tolist() == [0, 1]
    with pytest.raises(ValueError, match="keep 1 to 4"):
        select_l1(torch.ones(4, 1, 1, 1), 0)


def test_least_squares_recovers_exact_weights_and_intercept():
    samples = make_samples(5, channels=4, points=80)
    kept = torch.tensor([0, 2])
    true_w = torch.randn(3, 2, 2, 2, generator=torch.Generator().manual_seed(9))
    x = samples.inputs[:, samples.columns(kept)]
    samples.targets = x @ true_w.reshape(3, -1).T + torch.tensor([0.5, -1.0, 2.0])
    fit = least_squares(samples, kept)
    assert torch.allclose(fit.weight, true_w, atol=1e-4)
    assert torch.allclose(fit.bias_delta, torch.tensor([0.5, -1.0, 2.0]), atol=1e-4)


@settings(max_examples=25)
@given(seed=st.integers(0, 2**16), points=st.integers(3, 80), data=st.data())
def test_least_squares_never_does_worse_than_plain_removal(seed, points, data):
    samples = make_samples(seed, points=points, channels=5)
    kept = torch.tensor(sorted(data.draw(st.sets(st.integers(0, 4), min_size=1))))
    removed, total = relative_error(samples, kept)
    refit, total2 = relative_error(samples, kept, least_squares(samples, kept))
    assert total == total2
    assert refit <= removed * (1 + 1e-7) + 1e-9 * total


def test_least_squares_with_constant_or_zero_inputs_stays_finite():
    """A kept channel that is constant on every sample (dead, behind batch norm) centres to
    zero: its weights go to zero and the intercept takes its constant contribution."""
    samples = make_samples(6, channels=3, points=40)
    samples.inputs[:, samples.columns(torch.tensor([1]))] = 0.7
    kept = torch.tensor([1])
    fit = least_squares(samples, kept)
    assert torch.isfinite(fit.weight).all() and torch.isfinite(fit.bias_delta).all()
    removed, _ = relative_error(samples, kept)
    refit, _ = relative_error(samples, kept, fit)
    assert refit <= removed
    dead = ConsumerSamples("c", torch.zeros_like(samples.inputs), samples.targets, samples.weight)
    zero = least_squares(dead, kept)
    assert torch.equal(zero.weight, torch.zeros_like(zero.weight))
    assert torch.allclose(zero.bias_delta, samples.targets.mean(0), atol=1e-6)

"""Least-squares reconstruction: refit the consumer conv on the channels that stay.

After selection, He et al. solve ``min ||Y - X_kept W'^T - b'||`` over all sampled points (not
only the rows the LASSO saw): the consumer's remaining weights absorb what the removed channels
contributed, as far as the kept channels can express it, and make up for the error of the
already-pruned earlier layers (X is taken from the current model). The intercept ``b'`` is
added to the consumer's bias; the reference code discards it, we keep it because it is free
and strictly helps (a constant part of the removed channels' contribution is recovered).

Solved through the normal equations in float64 from the statistics `ConsumerSamples` caches
(``X^T X`` is shared with the LASSO), with the intercept handled by centring.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from edgecheck.prune.sampling import ConsumerSamples

# Keeps the normal equations solvable when a kept channel is zero on every sample (dead after
# ReLU) or there are fewer points than unknowns; it moves the solution by a relative ~1e-10.
_RIDGE = 1e-10


@dataclass(frozen=True)
class Reconstruction:
    """New weights for one consumer conv.

    Attributes:
        weight: ``(n, kept, kh, kw)``: replaces the consumer's weight.
        bias_delta: ``(n,)``: added to the consumer's bias (created if it has none).
    """

    weight: torch.Tensor
    bias_delta: torch.Tensor


def least_squares(samples: ConsumerSamples, kept: torch.Tensor) -> Reconstruction:
    """Refit `samples`' consumer on input channels `kept` (with intercept), over every point.

    Args:
        samples: the consumer's X (current model) and Y (original model, bias removed).
        kept: kept input channel indices.

    Returns:
        The `Reconstruction`; its error on these samples is never above that of keeping the
        old weights of the kept channels (both fit the same columns; least squares is optimal).
    """
    cols = samples.columns(kept)
    count = samples.inputs.shape[0]
    mean_x = samples.x_sum[cols] / count
    mean_y = samples.y_sum / count
    sxx = samples.xtx[cols][:, cols] - count * torch.outer(mean_x, mean_x)
    sxy = samples.xty[cols] - count * torch.outer(mean_x, mean_y)
    # The ridge is scaled by the raw second moments: a column that is constant on every sample
    # (a dead channel behind batch norm) centres to zero, and must then get weight ~0, not NaN.
    raw_scale = float(samples.xtx[cols, cols].mean())  # mean of the uncentred diagonal
    solution = _solve_psd(sxx, sxy, raw_scale)  # (kept * area, n)
    bias = mean_y - mean_x @ solution
    n, _, kh, kw = samples.weight.shape
    weight = solution.T.reshape(n, kept.numel(), kh, kw)
    return Reconstruction(weight=weight.float(), bias_delta=bias.float())


def _solve_psd(a: torch.Tensor, b: torch.Tensor, scale: float) -> torch.Tensor:
    if not scale > 0.0:  # every kept input is zero on every sample: nothing to fit
        return torch.zeros((a.shape[0], b.shape[1]), dtype=a.dtype)
    ridge = _RIDGE
    for _ in range(6):
        shifted = a.clone()
        shifted.diagonal().add_(ridge * scale)
        chol, info = torch.linalg.cholesky_ex(shifted)
        if int(info) == 0:
            solution = torch.cholesky_solve(b, chol)
            if bool(torch.isfinite(solution).all()):
                return solution
        ridge *= 100.0
    return torch.linalg.lstsq(a, b, driver="gelsd").solution


def relative_error(
    samples: ConsumerSamples,
    kept: torch.Tensor,
    reconstruction: Reconstruction | None = None,
) -> tuple[float, float]:
    """``(squared residual, squared target)`` sums of the consumer's fit on its own samples.

    Without `reconstruction`: the old weights of the kept channels and no bias change (plain
    removal). ``sqrt(residual / target)`` is the relative error; sums add across consumers.
    """
    # Float64: the two errors are compared with each other, so rounding must not decide.
    x = samples.inputs[:, samples.columns(kept)].double()
    n = samples.weight.shape[0]
    if reconstruction is None:
        weight = samples.weight[:, kept].reshape(n, -1).double()
        bias = torch.zeros(n, dtype=torch.float64)
    else:
        weight = reconstruction.weight.reshape(n, -1).double()
        bias = reconstruction.bias_delta.double()
    targets = samples.targets.double()
    residual = targets - (x @ weight.T + bias)
    return float(residual.square().sum()), float(targets.square().sum())

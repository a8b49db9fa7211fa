"""Channel selection: He et al.'s LASSO over per-channel contributions, and an L1 baseline.

He et al. write the consumer conv's output at the sampled points as a sum of per-input-channel
contributions, ``Y ~ sum_i beta_i Z_i`` with ``Z_i = X_i W_i^T`` (channel i's patch columns
times its slice of the weights), and solve a LASSO for ``beta``: channels whose ``beta`` the L1
penalty drives to zero contribute least to what the next layer computes and are removed.
``beta`` only selects; the weights are refitted afterwards by least squares (reconstruct.py).

Everything needed comes from sufficient statistics, never from the ``(N * n) x c`` matrix Z
itself (for VGG16's conv4_3 and 5,000 points that would be 2.6 G numbers):

* ``G = Z^T Z`` is ``G[i, j] = sum over channel i's and j's column blocks of
  (X^T X) * (W^T W)``, and ``Z^T y`` is ``sum over channel i's block of (X^T Y) * W^T``;
* a consumer list (a layer read by several convs, e.g. an inception block's branches) adds up
  each consumer's G and ``Z^T y``: one beta per channel, judged on all consumers at once;
* scikit-learn then solves the same LASSO on a ``c x c`` design ``A`` with ``A^T A = G`` and
  ``A^T b = Z^T y`` (from G's eigendecomposition), which has the same minimiser.

The penalty is searched as He et al.'s code does (double it until fewer than the target
survive, then bisect the last doubling), but until the count is exact; if no penalty splits a
tie, the smallest ``|beta|`` of the larger set are trimmed. The reference stops anywhere
within 10 % above the target. Each stage is one warm-started scikit-learn ``lasso_path`` over
its penalties (the doubling sequence; 15 points inside the bracket per bisection round), which
costs about what one cold fit does.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from edgecheck._imports import require
from edgecheck.prune.sampling import ConsumerSamples

# Penalties from alpha_max * 2^-24 up to alpha_max; then rounds of 2^16-fold narrowing.
_DOUBLINGS = 24
_SECTIONS = 15
_SECTION_ROUNDS = 4


@dataclass(frozen=True)
class Selection:
    """Which input channels of the consumers (= output channels of the pruned layer) stay.

    Attributes:
        kept: the kept channel indices, ascending.
        method: ``"lasso"`` or ``"l1"``.
        alpha: the LASSO penalty whose solution gave `kept` (scikit-learn's scaling), if any.
        beta: the LASSO coefficients at `alpha` (one per channel), if any.
        fits: LASSO fits the penalty search took.
        trimmed: channels dropped by smallest ``|beta|`` because no penalty gave the exact count.
        filled: channels added (largest ``||Z_i||``) because even a tiny penalty kept too few,
            e.g. channels that are zero on every sample.
    """

    kept: torch.Tensor
    method: str
    alpha: float | None = None
    beta: torch.Tensor | None = None
    fits: int = 0
    trimmed: int = 0
    filled: int = 0


def _check_keep(keep: int, channels: int) -> None:
    if not 1 <= keep <= channels:
        raise ValueError(f"cannot keep {keep} of {channels} channels; keep 1 to {channels}")


def contribution_statistics(
    samples: Sequence[ConsumerSamples],
) -> tuple[torch.Tensor, torch.Tensor, float]:
    """``(G, Z^T y, y^T y)`` of He et al.'s LASSO, summed over the consumers, in float64."""
    if not samples:
        raise ValueError("channel selection needs the samples of at least one consumer")
    channels = samples[0].in_channels
    gram = torch.zeros((channels, channels), dtype=torch.float64)
    zty = torch.zeros(channels, dtype=torch.float64)
    yty = 0.0
    for s in samples:
        if s.in_channels != channels:
            raise ValueError(
                f"consumer {s.name} reads {s.in_channels} channels, another {channels}"
            )
        area = s.kernel_area
        w = s.weight.reshape(s.weight.shape[0], -1)  # (n, c * area)
        # W^T W in float32 (then widened): G only ranks channels, and for VGG16's conv5_1
        # this product is 10^10 multiply-adds, the largest single cost of a selection.
        wtw = (w.T @ w).double()
        blocks = (s.xtx * wtw).reshape(channels, area, channels, area)
        gram += blocks.sum(dim=(1, 3))
        zty += (s.xty * w.double().T).reshape(channels, area, -1).sum(dim=(1, 2))
        yty += float(s.targets.double().square().sum())
    return gram, zty, yty


def _square_design(gram: torch.Tensor, zty: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """A (c x c) and b (c) with A^T A = G (+ a 1e-10 relative ridge) and A^T b = Z^T y.

    Through the Cholesky factor ``G + eps I = L L^T``: ``A = L^T``, ``b = L^-1 Z^T y``. The
    ridge keeps G positive definite when channels are zero on every sample or collinear; it
    changes the objective by ``eps ||beta||^2``, 10^-10 of its scale. (An eigendecomposition
    avoids the ridge but is slow under thread contention: seconds for 512 x 512 here.)
    """
    channels = gram.shape[0]
    scale = float(gram.diagonal().mean())
    if scale <= 0.0:
        return torch.zeros((1, channels), dtype=torch.float64), torch.zeros(1, dtype=torch.float64)
    ridge = 1e-10
    for _ in range(6):
        shifted = gram.clone()
        shifted.diagonal().add_(ridge * scale)
        chol, info = torch.linalg.cholesky_ex(shifted)
        if int(info) == 0:
            b = torch.linalg.solve_triangular(chol, zty[:, None], upper=False)[:, 0]
            return chol.T.contiguous(), b
        ridge *= 100.0
    raise ValueError("the channel contribution matrix is not positive semi-definite")


def select_lasso(samples: Sequence[ConsumerSamples], keep: int) -> Selection:
    """Keep exactly `keep` input channels of the consumers, chosen by He et al.'s LASSO.

    Args:
        samples: one `ConsumerSamples` per consumer conv of the pruned layer.
        keep: channels to keep (1 to the consumers' input channels).

    Returns:
        The `Selection`; ``kept`` has exactly `keep` entries.
    """
    gram, zty, _ = contribution_statistics(samples)
    channels = gram.shape[0]
    _check_keep(keep, channels)
    if keep == channels:
        return Selection(kept=torch.arange(channels), method="lasso")
    require("sklearn", "LASSO channel selection (He et al.)")
    from sklearn.linear_model import lasso_path

    design, target = _square_design(gram, zty)
    a, b = design.numpy(), target.numpy()
    strength = gram.diagonal()  # ||Z_i||^2: how much channel i contributes at all
    fits = 0

    def path(alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Solutions at `alphas`, ascending; one warm-started coordinate-descent path."""
        nonlocal fits
        fits += len(alphas)
        with warnings.catch_warnings():
            # Only which coefficients are zero matters here; a loose last digit does not.
            warnings.simplefilter("ignore")
            done, coefs, _ = lasso_path(a, b, alphas=alphas, max_iter=20_000, tol=1e-7)
        order = np.argsort(done)
        return done[order], coefs[:, order]

    # Above alpha_max every coefficient is zero (scikit-learn divides the loss by the rows).
    alpha_max = float(zty.abs().max()) / a.shape[0]
    if alpha_max == 0.0:
        return _fill(torch.zeros(channels, dtype=torch.float64), keep, strength, None, fits)
    # Doubling from a tiny penalty: the whole doubling sequence is one path computation.
    alphas, coefs = path(alpha_max * 2.0 ** -np.arange(_DOUBLINGS, -1, -1, dtype=np.float64))
    for _ in range(_SECTION_ROUNDS + 1):
        counts = (coefs != 0).sum(axis=0)
        if counts[0] < keep:  # too few even at the smallest penalty: nothing to bisect
            return _fill(torch.from_numpy(coefs[:, 0].copy()), keep, strength, alphas[0], fits)
        exact = np.flatnonzero(counts == keep)
        if exact.size:
            i = int(exact[-1])  # the largest penalty that keeps exactly `keep`
            return _selection(torch.from_numpy(coefs[:, i].copy()), float(alphas[i]), fits)
        high = int(np.flatnonzero(counts < keep)[0])  # first penalty that keeps too few
        low = high - 1  # the last that keeps too many
        # Bisect the bracket, several points at a time (each round shrinks it 2^16 times).
        inner = np.geomspace(alphas[low], alphas[high], _SECTIONS + 2)[1:-1]
        more_alphas, more_coefs = path(inner)
        alphas = np.concatenate([alphas[low : low + 1], more_alphas, alphas[high : high + 1]])
        coefs = np.concatenate([coefs[:, low : low + 1], more_coefs, coefs[:, high : high + 1]], 1)
    # Channels leave the active set together (ties): trim the weakest of the larger set.
    counts = (coefs != 0).sum(axis=0)
    low = int(np.flatnonzero(counts < keep)[0]) - 1
    beta = torch.from_numpy(coefs[:, low].copy())
    order = sorted(range(channels), key=lambda i: (-abs(float(beta[i])), -float(strength[i]), i))
    return Selection(
        kept=torch.tensor(sorted(order[:keep])), method="lasso", alpha=float(alphas[low]),
        beta=beta, fits=fits, trimmed=int(counts[low]) - keep,
    )  # fmt: skip


def _selection(beta: torch.Tensor, alpha: float, fits: int) -> Selection:
    kept = torch.nonzero(beta != 0).flatten()
    return Selection(kept=kept, method="lasso", alpha=alpha, beta=beta, fits=fits)


def _fill(
    beta: torch.Tensor, keep: int, strength: torch.Tensor, alpha: float | None, fits: int
) -> Selection:
    """Too few non-zero betas even at a tiny penalty: add the strongest remaining channels."""
    chosen = [i for i in range(beta.shape[0]) if beta[i] != 0]
    rest = sorted(
        (i for i in range(beta.shape[0]) if beta[i] == 0), key=lambda i: (-float(strength[i]), i)
    )
    filled = keep - len(chosen)
    kept = torch.tensor(sorted(chosen + rest[:filled]))
    return Selection(kept=kept, method="lasso", alpha=alpha, beta=beta, fits=fits, filled=filled)


def select_l1(weight: torch.Tensor, keep: int) -> Selection:
    """Keep the `keep` filters of the pruned layer with the largest L1 norm (Li et al. 2017).

    The simple data-free baseline: a filter's magnitude stands in for its importance.

    Args:
        weight: the pruned layer's own weight ``(out_channels, in, kh, kw)``.
        keep: filters to keep.
    """
    channels = int(weight.shape[0])
    _check_keep(keep, channels)
    norms = weight.detach().abs().reshape(channels, -1).sum(1).double().cpu()
    order = torch.argsort(-norms, stable=True)  # ties: the lower index first
    return Selection(kept=torch.sort(order[:keep]).values, method="l1")

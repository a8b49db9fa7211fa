"""How far a reduced-precision model's outputs are from the FP32 model's (pure numpy).

Definitions, for reference outputs ``r`` (FP32) and candidate outputs ``q`` (INT8 or FP16) of
the same N inputs, flattened to M = N x outputs-per-input values ``r_j, q_j``:

* mean absolute difference: ``MAD = (1/M) sum_j |q_j - r_j|`` (in the output's unit; for the
  FQA CNN, quality-score points in [0, 1]);
* mean relative difference, in percent: ``MRD = 100 (1/M) sum_j |q_j - r_j| / |r_j|``. This is
  the paper's "average difference with the original FP32 version" (Section IV-D-2, 1.005 %),
  and the measured value of the ``quant.error`` claim. It needs every ``|r_j| > 0`` (the FQA
  CNN's sigmoid output always is);
* max absolute difference: ``max_j |q_j - r_j|``.

A NaN or Inf anywhere, in either array, is an error (`QuantizationError`), never a number: a
broken scale or an FP16 overflow must not pass as a small mean.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from edgecheck.errors import EdgecheckError


class QuantizationError(EdgecheckError, ValueError):
    """A quantization that cannot be done or measured as asked (bad calibration, NaN output, ...)."""


# Below this a reference value is treated as zero: a relative difference to it is meaningless.
_TINY = 1e-12


@dataclass(frozen=True)
class OutputDifference:
    """Reduced-precision vs FP32 outputs (see the module docstring for the definitions).

    Attributes:
        mean_relative_percent: MRD, percent.
        mean_absolute: MAD, in the output's unit.
        max_absolute: the largest absolute difference.
        count: M, the number of output values compared.
    """

    mean_relative_percent: float
    mean_absolute: float
    max_absolute: float
    count: int

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_finite(name: str, values: np.ndarray, what: str) -> None:
    if not np.isfinite(values).all():
        bad = int(values.size - np.count_nonzero(np.isfinite(values)))
        raise QuantizationError(
            f"{what}: the {name} outputs hold {bad} NaN/Inf value(s) out of {values.size}; "
            f"an overflow or a broken quantization scale, not a small difference. Check the "
            f"calibration data (range, scaling) and the model's value ranges."
        )


def output_difference(
    reference: np.ndarray, candidate: np.ndarray, *, what: str = "quantized model"
) -> OutputDifference:
    """Compare `candidate` outputs with FP32 `reference` outputs of the same inputs.

    Args:
        reference: FP32 outputs, any shape (first axis: the inputs).
        candidate: the reduced-precision outputs, same shape.
        what: names the comparison in error messages. Default ``"quantized model"``.

    Returns:
        An `OutputDifference`.

    Raises:
        QuantizationError: shapes differ, nothing to compare, a NaN/Inf in either array, or a
            reference value of zero (relative difference undefined).
    """
    ref = np.asarray(reference, dtype=np.float64)
    cand = np.asarray(candidate, dtype=np.float64)
    if ref.shape != cand.shape:
        raise QuantizationError(
            f"{what}: output shapes differ (FP32 {ref.shape}, candidate {cand.shape}); "
            f"compare outputs of the same inputs."
        )
    if ref.size == 0:
        raise QuantizationError(f"{what}: no outputs to compare; pass at least one input.")
    _check_finite("FP32 reference", ref, what)
    _check_finite("candidate", cand, what)
    zero = np.abs(ref) <= _TINY
    if zero.any():
        raise QuantizationError(
            f"{what}: {int(zero.sum())} FP32 output(s) are 0, where a relative difference is "
            f"undefined; use mean_absolute for such outputs."
        )
    diff = np.abs(cand - ref)
    return OutputDifference(
        mean_relative_percent=float(100.0 * np.mean(diff / np.abs(ref))),
        mean_absolute=float(np.mean(diff)),
        max_absolute=float(np.max(diff)),
        count=int(ref.size),
    )

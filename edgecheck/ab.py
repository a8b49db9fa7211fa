"""A/B on one machine: time two runners interleaved and judge NEW against OLD.

The same statistical check as the stored baselines (`edgecheck.baselines.BaselineCheck`), on
samples measured round by round (A B A B ...) by `edgecheck.bench.timing.measure_interleaved`,
so drift on a shared machine hits both sides alike. Judge layer: it uses the runners and the
timing harness, and nothing above it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgecheck.baselines import BaselineCheck, Entry, Verdict
from edgecheck.errors import ModelError

if TYPE_CHECKING:
    from edgecheck.backends.base import Runner
    from edgecheck.bench.timing import Measurement, TimingPolicy


@dataclass(frozen=True)
class ABResult:
    """Both measurements and the verdict on NEW against OLD (truthy unless a regression)."""

    old: Measurement
    new: Measurement
    verdict: Verdict

    def __bool__(self) -> bool:
        return bool(self.verdict)

    @property
    def ratios(self) -> np.ndarray:
        """Each round's NEW time over the same round's OLD time (the sides are timed round by
        round, one call each). Drift common to both sides of a round cancels from it: with
        OLD a pinned build of the model, it is the metric to keep in a performance history
        on a shared runner (``edgecheck_baseline.record(name, result.ratios, kind="ratio")``;
        docs/measurements.md: 0.07-0.17 % run-to-run noise beside 1-20 % for the raw time)."""
        from edgecheck.bench.stats import per_round

        return per_round(self.new.samples) / per_round(self.old.samples)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the verdict, and each side's statistics (no samples)."""
        return {
            "verdict": self.verdict.as_dict(),
            "old": {"name": self.old.name, **self.old.stats.as_dict(), "unstable": self.old.unstable,
                    "reason": self.old.reason},
            "new": {"name": self.new.name, **self.new.stats.as_dict(), "unstable": self.new.unstable,
                    "reason": self.new.reason},
        }  # fmt: skip


@dataclass(frozen=True)
class InputSignature:
    """What one side of an A/B takes: checked on both sides before any timing.

    Attributes:
        model: the model as given (file path or registered name).
        name: the graph input's name (``"input"`` for registered models).
        shape: one example's shape, without the batch axis.
        elem_type: the element type (``"float"`` for registered models).
        batch: the file's batch axis: a fixed size, a symbol, or ``None`` (registered model).
    """

    model: str
    name: str
    shape: tuple[int, ...]
    elem_type: str
    batch: int | str | None = None

    def describe(self) -> str:
        """E.g. ``main.onnx takes 'input' float [batch,3,224,224]``."""
        batch = "N" if self.batch is None else str(self.batch)
        sizes = ",".join(map(str, (batch, *self.shape)))
        return f"{self.model} takes '{self.name}' {self.elem_type} [{sizes}]"


def is_model_file(model: str | os.PathLike[str]) -> bool:
    """True when `model` names a file (an ``.onnx`` path, or any existing file), not a name."""
    return not isinstance(model, str) or model.lower().endswith(".onnx") or Path(model).is_file()


def input_signature(
    model: str | os.PathLike[str], *, input_shape: tuple[int, ...] | None = None
) -> InputSignature:
    """`model`'s input, read from the ONNX graph or the registry; nothing is built or run.

    Args:
        model: an ONNX file or a registered model name.
        input_shape: the shape without the batch axis for a file whose sizes are not fixed
            (must agree with a file's fixed sizes), or another size for a registered model.

    Raises:
        ModelError: the file is missing or unreadable, its sizes are not fixed and
            `input_shape` is not given, or they differ from `input_shape`.
    """
    if not is_model_file(model):
        from edgecheck.export import INPUT_NAME
        from edgecheck.models import get_model_spec

        spec = get_model_spec(str(model))
        return InputSignature(
            str(model), INPUT_NAME, tuple(input_shape or spec.input_shape), "float"
        )
    from edgecheck.backends.source import onnx_graph_input

    graph_input = onnx_graph_input(Path(model))
    fixed = graph_input.fixed_shape()
    wanted = tuple(input_shape) if input_shape else None
    if fixed is not None and wanted is not None and fixed != wanted:
        raise ModelError(
            f"{model}: {graph_input.describe()} fixes the sizes to {_x(fixed)}, not "
            f"--input-shape {','.join(map(str, wanted))}; drop --input-shape or give "
            f"{','.join(map(str, fixed))}."
        )
    shape = fixed or wanted
    if shape is None:
        raise ModelError(
            f"{model}: {graph_input.describe()} has sizes that are not fixed; give them with "
            f"--input-shape C,H,W (input_shape= in Python)."
        )
    batch = graph_input.dims[0] if graph_input.dims else None
    return InputSignature(str(model), graph_input.name, shape, graph_input.elem_type, batch)


def check_same_input(old: InputSignature, new: InputSignature, *, batch_size: int) -> None:
    """Refuse, before any timing, an A/B of models that take different inputs.

    Raises:
        ModelError: one line naming both sides and what differs (name, sizes, element type),
            or a side whose fixed batch axis is not `batch_size`.
    """
    differ = [
        what
        for what, a, b in (
            ("input name", old.name, new.name),
            ("shape", old.shape, new.shape),
            ("element type", old.elem_type, new.elem_type),
        )
        if a != b
    ]
    if differ:
        verb = "differ" if len(differ) > 1 else "differs"
        raise ModelError(
            f"OLD {old.describe()} but NEW {new.describe()} ({' and '.join(differ)} {verb}); "
            f"an A/B times two versions of one model on the same input: export NEW for OLD's "
            f"input ({_x(old.shape)}) or compare it with a model that takes {_x(new.shape)}."
        )
    for side in (old, new):
        if isinstance(side.batch, int) and side.batch != batch_size:
            raise ModelError(
                f"{side.describe()}: its batch axis is fixed at {side.batch}, not --batch "
                f"{batch_size}; use --batch {side.batch}."
            )


def _x(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape))


def judge_samples(
    old: Any, new: Any, *, check: BaselineCheck, metric: str = "latency", unit: str = "s",
    label: str = "ab",
) -> Verdict:  # fmt: skip
    """The verdict on timing samples `new` against `old` (lower is better), every sample kept."""
    fp = "this-machine"  # one machine, one run: the fingerprints match by construction
    kw: dict[str, Any] = {"kind": "timing", "unit": unit, "fingerprint_id": fp, "max_samples": None}
    return check.check(
        Entry.measured(label, metric, old, **kw), Entry.measured(label, metric, new, **kw)
    )


def ab_compare(
    old: Runner,
    new: Runner,
    *,
    policy: TimingPolicy | None = None,
    check: BaselineCheck | None = None,
    seed: int = 0,
) -> ABResult:
    """Time `old` and `new` interleaved on one batch and judge `new` against `old`.

    Args:
        old, new: inactive runners (activated and deactivated here).
        policy: how long to measure at least, and the cap (``max_time``) of the rounds
            added until the verdict is decided; default ``TimingPolicy(min_time=5.0)``.
        check: the rule; default `BaselineCheck()` (5 % tolerance, 99 % confidence).
        seed: of the example batch.

    Returns:
        An `ABResult`.

    Raises:
        ModelError: the two runners take different input shapes (checked before timing).
    """
    from edgecheck.bench.timing import CallSampler, Target, TimingPolicy, measure_interleaved

    policy = policy or TimingPolicy(min_time=5.0)
    check = check or BaselineCheck()
    if tuple(old.input_shape) != tuple(new.input_shape):
        raise ModelError(
            f"OLD {old.config.model} takes {_x(old.input_shape)} but NEW {new.config.model} "
            f"takes {_x(new.input_shape)}; an A/B times two models on the same input."
        )
    with old, new:
        batch_old = old.example_input(seed)
        batch_new = new.example_input(seed)
        targets = [
            Target("old", CallSampler(lambda: old.infer(batch_old)), old.config.batch_size),
            Target("new", CallSampler(lambda: new.infer(batch_new)), new.config.batch_size),
        ]
        label = f"{old.config.model} -> {new.config.model}"

        def decided(seconds: list[list[float]]) -> bool:
            return judge_samples(*seconds, check=check, label=label).status != "undecided"

        # settle=1: the first call after switching models pays a cold cache; that cost is
        # the switching's, not the model's, and would blur a small slowdown. The sample
        # size follows the noise: rounds are added until the verdict is decided or
        # policy.max_time ends.
        m_old, m_new = measure_interleaved(targets, policy=policy, settle=1, until=decided)
    verdict = judge_samples(m_old.samples, m_new.samples, check=check, label=label)
    return ABResult(m_old, m_new, verdict)

"""The backend contract: a frozen `RunnerConfig` and the `Runner` every runtime implements.

Runners follow Polygraphy's loader + runner shape: a loader (a lazy callable) builds the
session or engine, and a runner has ``activate() / infer() / deactivate()`` and is a context
manager. The public `Runner.infer` checks what goes in and what comes out and leaves the work
to `Runner._infer_impl`, so every runtime gets the same, clear failures: a wrong input shape,
a NaN in the output, or a crash inside the runtime all become a `BackendError` that names the
model and the configuration.

This module imports numpy only; torch, onnxruntime and TensorRT stay in their own modules.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import Any

import numpy as np

from edgecheck.errors import EdgecheckError

PRECISIONS = ("fp32", "fp16", "int8")
DEVICES = ("cpu", "cuda")


class BackendError(EdgecheckError, RuntimeError):
    """A runner that cannot be built, was fed the wrong input, or produced bad output."""


@dataclass(frozen=True)
class RunnerConfig:
    """What one runner runs: model, runtime, precision, batch size and threads.

    Attributes:
        model: registered model name (``"fqa"``) or the ONNX file's name.
        backend: ``"torch"``, ``"onnxruntime"`` or ``"tensorrt"``.
        precision: ``"fp32"``, ``"fp16"`` or ``"int8"``. Default ``"fp32"``.
        batch_size: examples per `Runner.infer` call. Default 1.
        threads: CPU threads the runtime may use (torch ``set_num_threads``, onnxruntime
            ``intra_op_num_threads``); ignored by GPU runtimes. Default 1.
        device: ``"cpu"`` or ``"cuda"``. Default ``"cpu"``.
    """

    model: str
    backend: str
    precision: str = "fp32"
    batch_size: int = 1
    threads: int = 1
    device: str = "cpu"

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise BackendError(
                f"precision {self.precision!r} for model '{self.model}' is not one of "
                f"{', '.join(PRECISIONS)}; pick one of those."
            )
        if self.device not in DEVICES:
            raise BackendError(
                f"device {self.device!r} for model '{self.model}' is not one of "
                f"{', '.join(DEVICES)}; pick one of those."
            )
        for field_name in ("batch_size", "threads"):
            value = getattr(self, field_name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise BackendError(
                    f"{field_name} {value!r} for model '{self.model}' must be a positive "
                    f"integer, e.g. 1."
                )

    def describe(self) -> str:
        """One line for messages and reports, e.g. ``"fqa on onnxruntime fp32, batch 4, 2 threads"``.

        GPU configurations name the device instead of the thread count, which a GPU ignores.
        """
        head = f"{self.model} on {self.backend} {self.precision}, batch {self.batch_size}"
        if self.device == "cpu":
            return f"{head}, {self.threads} thread{'s' if self.threads != 1 else ''}"
        return f"{head}, {self.device}"

    def as_dict(self) -> dict[str, Any]:
        """The fields as a plain dict (for JSON results)."""
        return asdict(self)


class Runner(ABC):
    """Runs one model under one `RunnerConfig`; use as a context manager.

    Subclasses implement `_activate_impl`, `_infer_impl` and `_deactivate_impl`; the public
    methods add the checks and the error wrapping. `infer` takes one batch of shape
    ``(batch_size, *input_shape)`` and dtype float32 and returns the output as a numpy array.

    Args:
        config: what this runner runs.
        input_shape: one example's shape without the batch axis, e.g. ``(1, 64, 64)``.
    """

    def __init__(self, config: RunnerConfig, input_shape: tuple[int, ...]) -> None:
        self.config = config
        self.input_shape = tuple(int(d) for d in input_shape)
        self.is_active = False

    @property
    def expected_shape(self) -> tuple[int, ...]:
        """The shape `infer` accepts: ``(batch_size, *input_shape)``."""
        return (self.config.batch_size, *self.input_shape)

    def example_input(self, seed: int = 0) -> np.ndarray:
        """A deterministic float32 batch of `expected_shape` (uniform in [0, 1))."""
        rng = np.random.default_rng(seed)
        return rng.random(self.expected_shape, dtype=np.float32)

    # -- lifecycle ---------------------------------------------------------------------------

    def activate(self) -> None:
        """Build the session or engine (idempotent). Runtime failures become `BackendError`."""
        if self.is_active:
            return
        try:
            self._activate_impl()
        except EdgecheckError:
            raise
        except Exception as exc:
            raise BackendError(
                f"could not start {self.config.describe()}: {type(exc).__name__}: {exc}"
            ) from exc
        self.is_active = True

    def deactivate(self) -> None:
        """Release the session or engine (idempotent)."""
        if not self.is_active:
            return
        self.is_active = False
        self._deactivate_impl()

    def __enter__(self) -> Runner:
        self.activate()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.deactivate()

    # -- inference ---------------------------------------------------------------------------

    def infer(self, batch: np.ndarray) -> np.ndarray:
        """Run one batch and return the output.

        Args:
            batch: float32 array of shape ``(batch_size, *input_shape)``.

        Returns:
            The model's output as a numpy array (first axis: the batch).

        Raises:
            BackendError: the runner is not active, the input has the wrong shape or dtype,
                the runtime raised (kept as ``__cause__``), or the output holds NaN or Inf.
        """
        if not self.is_active:
            raise BackendError(
                f"{self.config.describe()}: infer() called before activate(); "
                f"use 'with runner:' or call runner.activate() first."
            )
        if not isinstance(batch, np.ndarray):
            raise BackendError(
                f"model '{self.config.model}' ({self.config.describe()}): expected a numpy "
                f"array of shape {self.expected_shape}, got {type(batch).__name__}; "
                f"convert it with np.asarray(x, dtype=np.float32)."
            )
        if batch.shape != self.expected_shape or batch.dtype != np.float32:
            raise BackendError(self._input_mismatch_message(batch))
        try:
            output = self._infer_impl(batch)
        except EdgecheckError:
            raise
        except Exception as exc:
            raise BackendError(
                f"model '{self.config.model}' crashed inside the runtime "
                f"({self.config.describe()}): {type(exc).__name__}: {exc}"
            ) from exc
        # A finite check costs microseconds and is the only way a silently broken precision
        # mode (fp16 overflow, a bad quantization scale) shows up before a timing is trusted.
        if not np.isfinite(output).all():
            bad = int(output.size - np.count_nonzero(np.isfinite(output)))
            raise BackendError(
                f"model '{self.config.model}' returned {bad} non-finite value(s) (NaN or Inf) "
                f"out of {output.size} ({self.config.describe()}); check the model's weights "
                f"and, for fp16/int8, its value ranges or quantization scales."
            )
        return output

    def _input_mismatch_message(self, batch: np.ndarray) -> str:
        expected = self.expected_shape
        fix = []
        if batch.shape != expected:
            if batch.shape[1:] == self.input_shape:
                fix.append(
                    f"this runner was built for batch size {self.config.batch_size}; build "
                    f"another with batch_size={batch.shape[0]} or split the batch"
                )
            else:
                fix.append(
                    f"resize or reshape the input to {expected} (one example is {self.input_shape})"
                )
        if batch.dtype != np.float32:
            fix.append("convert it with batch.astype(np.float32)")
        return (
            f"model '{self.config.model}' ({self.config.describe()}) expects input of shape "
            f"{expected} and dtype float32, got shape {tuple(batch.shape)} and dtype "
            f"{batch.dtype}; {'; '.join(fix)}."
        )

    # -- what a runtime implements ---------------------------------------------------------

    @abstractmethod
    def _activate_impl(self) -> None:
        """Build the session/engine; may raise anything (wrapped by `activate`)."""

    @abstractmethod
    def _infer_impl(self, batch: np.ndarray) -> np.ndarray:
        """Run one already-checked batch; may raise anything (wrapped by `infer`)."""

    def _deactivate_impl(self) -> None:  # noqa: B027 - optional hook, empty by design
        """Release resources; the default does nothing."""

    def __repr__(self) -> str:
        state = "active" if self.is_active else "inactive"
        return f"<{type(self).__name__} {self.config.describe()} ({state})>"

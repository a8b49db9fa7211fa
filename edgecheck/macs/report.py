"""What both MAC counters return, `LayerMACs` per layer call and `MACReport` per model, and
the rules they share: unique names for a layer called twice, counts per example.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from edgecheck.errors import ModelError

CONV = "conv"
CONV_TRANSPOSE = "conv_transpose"
LINEAR = "linear"
MATMUL = "matmul"
_CONV_KINDS = frozenset({CONV, CONV_TRANSPOSE})
_LINEAR_KINDS = frozenset({LINEAR, MATMUL})

GIGA = 1e9  # the G of GMACs, as the paper's Table VI prints them


@dataclass(frozen=True)
class LayerMACs:
    """The Eq. 1 count of one call of one layer.

    Attributes:
        name: the module path (``"features.conv1_1"``); a module called again in the same
            forward pass gets ``"#2"``, ``"#3"``, ... appended.
        kind: ``"conv"``, ``"conv_transpose"``, ``"linear"`` (``nn.Linear``, ONNX Gemm) or
            ``"matmul"`` (ONNX MatMul).
        in_channels: input channels (convolutions) or input features (linear, matmul).
        out_channels: output channels or output features; Table VI's "number of kernels".
        kernel: the kernel's spatial size, e.g. ``(3, 3)``; ``()`` for linear and matmul.
        output_size: the output's spatial size, e.g. ``(224, 224)``; ``()`` for linear and
            matmul.
        groups: convolution groups; 1 for linear and matmul.
        macs: multiply-accumulates for one example.
    """

    name: str
    kind: str
    in_channels: int
    out_channels: int
    kernel: tuple[int, ...]
    output_size: tuple[int, ...]
    groups: int
    macs: int

    @property
    def gmacs(self) -> float:
        """`macs` in units of 10^9, as the paper's Table VI prints them."""
        return self.macs / GIGA


@dataclass(frozen=True)
class MACReport:
    """Per-layer MAC counts of one model, in execution order.

    Attributes:
        layers: one `LayerMACs` per call of a counted layer.
    """

    layers: tuple[LayerMACs, ...]

    @property
    def total(self) -> int:
        """MACs of all counted layers for one example."""
        return sum(layer.macs for layer in self.layers)

    @property
    def conv_total(self) -> int:
        """MACs of convolutions (ordinary and transposed): the quantity of Table VI."""
        return sum(layer.macs for layer in self.layers if layer.kind in _CONV_KINDS)

    @property
    def linear_total(self) -> int:
        """MACs of linear layers and matrix products (the fully connected head)."""
        return sum(layer.macs for layer in self.layers if layer.kind in _LINEAR_KINDS)

    @property
    def by_name(self) -> dict[str, LayerMACs]:
        """The layers keyed by name (names are unique within a report)."""
        return {layer.name: layer for layer in self.layers}

    def gmacs(self, name: str) -> float:
        """GMACs (10^9 MACs) of the layer called `name`.

        Args:
            name: a layer name of this report, e.g. ``"features.conv4_3"``.

        Returns:
            That layer's MACs divided by 10^9.

        Raises:
            KeyError: no layer has that name; the message lists the names there are.
        """
        try:
            return self.by_name[name].gmacs
        except KeyError:
            known = ", ".join(layer.name for layer in self.layers) or "(none)"
            raise KeyError(f"no layer named '{name}' in this MAC report; layers: {known}") from None

    def select(self, *kinds: str) -> MACReport:
        """A report with only the layers of the given kinds, e.g. ``select("conv")``.

        Table VI lists convolutions only, so its totals come from ``report.select("conv")``.

        Args:
            kinds: layer kinds to keep (``"conv"``, ``"conv_transpose"``, ``"linear"``,
                ``"matmul"``).

        Returns:
            A new `MACReport` with the matching layers in their original order.
        """
        unknown = set(kinds) - _CONV_KINDS - _LINEAR_KINDS
        if unknown:
            raise ValueError(
                f"unknown layer kind(s) {', '.join(sorted(unknown))}; "
                f"kinds are {', '.join(sorted(_CONV_KINDS | _LINEAR_KINDS))}."
            )
        return MACReport(tuple(layer for layer in self.layers if layer.kind in kinds))

    def as_dict(self) -> dict[str, Any]:
        """The report as plain JSON-ready data: the layers (tuples as lists) and the totals."""
        return {
            "layers": [
                {
                    "name": layer.name,
                    "kind": layer.kind,
                    "in_channels": layer.in_channels,
                    "out_channels": layer.out_channels,
                    "kernel": list(layer.kernel),
                    "output_size": list(layer.output_size),
                    "groups": layer.groups,
                    "macs": layer.macs,
                }
                for layer in self.layers
            ],
            "total": self.total,
            "conv_total": self.conv_total,
            "linear_total": self.linear_total,
        }


class LayerNames:
    """Hands out unique layer names: a second call of the same layer becomes ``name#2``."""

    def __init__(self) -> None:
        self._calls: dict[str, int] = {}

    def next(self, name: str) -> str:
        count = self._calls.get(name, 0) + 1
        self._calls[name] = count
        return name if count == 1 else f"{name}#{count}"


def per_example(total: int, batch_size: int, name: str) -> int:
    """Layer `name`'s `total` MACs at `batch_size`, divided by the batch; raises `ModelError`
    when the total is not a multiple of the batch (a fixed batch axis)."""
    count, remainder = divmod(total, batch_size)
    if remainder:
        raise ModelError(
            f"layer '{name}' does {total} MACs at batch size {batch_size}, which is not a "
            f"multiple of the batch size: its work does not scale with the batch (a fixed "
            f"batch axis?). Count at the batch the model really runs at, or at batch_size=1."
        )
    return count


def check_batch_size(batch_size: int) -> None:
    """Raise `ModelError` unless `batch_size` is a positive whole number."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ModelError(f"batch_size must be a positive whole number, got {batch_size!r}.")

"""Which conv layers of a model can lose output channels, and which layers that touches.

Removing output channel ``i`` of a conv B is only a local change when everything between B and
the layers that read its output works channel by channel (ReLU, pooling, batch norm, dropout):
then channel ``i`` of B becomes channel ``i`` of each consumer conv C's input, and removing it
means deleting B's filter ``i``, entry ``i`` of every batch norm on the way, and input channel
``i`` of every C. He et al. judge B's channels through C's output, so C must be a convolution.

The model is traced with ``torch.fx`` to find, for every ``nn.Conv2d``, its consumers. Anything
else on the path (a concatenation, an addition, ``flatten`` into a linear head, a layer called
twice) makes the layer not prunable, with the reason recorded, so a plan that asks to prune it
gets an error that says why.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import fx, nn

from edgecheck.errors import ModelError

# Modules that act on every channel separately (in eval mode), so channel i in is channel i out.
_CHANNELWISE_MODULES: tuple[type[nn.Module], ...] = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Sigmoid, nn.Tanh, nn.Hardswish,
    nn.Hardtanh, nn.PReLU, nn.Mish,
    nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d,
    nn.Dropout, nn.Dropout2d, nn.Identity,
)  # fmt: skip
_NORM_MODULES: tuple[type[nn.Module], ...] = (nn.BatchNorm2d,)
_CHANNELWISE_FUNCTIONS = frozenset({
    torch.relu, torch.relu_, F.relu, F.relu6, F.leaky_relu, F.elu, F.gelu, F.silu, torch.sigmoid,
    F.sigmoid, torch.tanh, F.tanh, F.hardswish, F.hardtanh, F.max_pool2d, F.avg_pool2d,
    F.adaptive_avg_pool2d, F.adaptive_max_pool2d, F.dropout, F.dropout2d,
})  # fmt: skip
_CHANNELWISE_METHODS = frozenset({"relu", "relu_", "sigmoid", "tanh", "contiguous", "clone"})


@dataclass(frozen=True)
class PrunableLayer:
    """A conv layer of a model and what removing its output channels touches.

    Attributes:
        name: the conv's module path, e.g. ``"features.conv1_1"``.
        out_channels: its output channels in the model that was analysed.
        consumers: module paths of the convs that read its output (through channel-wise
            layers only), in execution order; He et al. reconstruct these.
        norms: module paths of the batch norms between it and its consumers; their entries
            are removed with the channels.
        reason: ``None`` when the layer can be pruned, else why not (e.g. ``"its output
            reaches flatten"``).
    """

    name: str
    out_channels: int
    consumers: tuple[str, ...]
    norms: tuple[str, ...]
    reason: str | None = None

    @property
    def prunable(self) -> bool:
        """True when the layer's output channels can be removed."""
        return self.reason is None


def _trace(model: nn.Module) -> fx.GraphModule:
    try:
        return fx.symbolic_trace(model)
    except Exception as exc:  # fx raises many kinds (TraceError, TypeError, ...)
        raise ModelError(
            f"channel pruning needs to follow the data flow of {type(model).__name__} with "
            f"torch.fx, which failed ({exc.__class__.__name__}: {exc}). Make forward() "
            f"traceable (no data-dependent control flow), or prune a traceable copy."
        ) from exc


def _describe(node: fx.Node, modules: dict[str, nn.Module]) -> str:
    if node.op == "call_module":
        return f"{node.target} ({type(modules[str(node.target)]).__name__})"
    if node.op == "call_function":
        return getattr(node.target, "__name__", str(node.target))
    if node.op == "output":
        return "the model's output"
    return f"{node.op} {node.target}"


def find_prunable_layers(model: nn.Module) -> dict[str, PrunableLayer]:
    """Every ``nn.Conv2d`` of `model` (in execution order) with its consumers, or why not.

    Args:
        model: a torch module whose ``forward`` ``torch.fx`` can trace.

    Returns:
        Conv module path -> `PrunableLayer`.

    Raises:
        ModelError: the model cannot be traced.
    """
    traced = _trace(model)
    modules = dict(model.named_modules())
    calls: dict[str, int] = {}
    for node in traced.graph.nodes:
        if node.op == "call_module":
            calls[str(node.target)] = calls.get(str(node.target), 0) + 1

    layers: dict[str, PrunableLayer] = {}
    for node in traced.graph.nodes:
        if node.op != "call_module" or not isinstance(modules[str(node.target)], nn.Conv2d):
            continue
        name = str(node.target)
        conv = modules[name]
        assert isinstance(conv, nn.Conv2d)
        consumers: list[str] = []
        norms: list[str] = []
        reason = None
        if calls[name] > 1:
            reason = "it is called more than once in forward() (shared weights)"
        elif conv.groups != 1:
            reason = f"it is a grouped convolution (groups={conv.groups})"
        else:
            reason = _walk(node, modules, calls, consumers, norms)
        if reason is None and not consumers:
            reason = "no convolution reads its output"
        layers[name] = PrunableLayer(
            name=name,
            out_channels=conv.out_channels,
            consumers=tuple(consumers),
            norms=tuple(norms),
            reason=reason,
        )
    return layers


def _walk(
    start: fx.Node,
    modules: dict[str, nn.Module],
    calls: dict[str, int],
    consumers: list[str],
    norms: list[str],
) -> str | None:
    """Follow `start`'s output through channel-wise nodes; None if only convs read it."""
    todo = list(start.users)
    seen: set[fx.Node] = set()
    while todo:
        node = todo.pop(0)
        if node in seen:
            continue
        seen.add(node)
        what = _describe(node, modules)
        if node.op == "call_module":
            target = str(node.target)
            module = modules[target]
            if calls[target] > 1:
                return f"its output reaches {what}, which forward() calls more than once"
            if isinstance(module, nn.Conv2d):
                if module.groups != 1:
                    return f"its output reaches the grouped convolution {what}"
                if module.padding_mode != "zeros":
                    # Input patches are sampled with zero padding (as He et al. do).
                    return f"its output reaches {what}, which pads with {module.padding_mode!r}"
                consumers.append(target)
                continue
            if isinstance(module, _NORM_MODULES):
                norms.append(target)
            elif not isinstance(module, _CHANNELWISE_MODULES):
                return f"its output reaches {what}, which mixes or reshapes channels"
        elif node.op == "call_function":
            if node.target not in _CHANNELWISE_FUNCTIONS:
                return f"its output reaches {what}, which mixes or reshapes channels"
            if _other_tensor_args(node):
                return f"its output reaches {what} together with another tensor"
        elif node.op == "call_method":
            if node.target not in _CHANNELWISE_METHODS:
                return f"its output reaches the tensor method .{node.target}()"
        else:
            return f"its output reaches {what}"
        todo.extend(node.users)
    return None


def _other_tensor_args(node: fx.Node) -> bool:
    args = list(node.args[1:]) + list(node.kwargs.values())
    return any(isinstance(a, fx.Node) for a in args)

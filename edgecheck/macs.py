"""Multiply-accumulate (MAC) counting by the paper's Eq. 1, for torch modules and ONNX files.

Eq. 1 of Qi & Liu counts one convolution as ``H_f x W_f x N_in x N_out x H_k x W_k`` MACs.
This module applies it in general:

* the spatial size is the convolution's *output* size, so stride, padding and dilation are
  accounted for (for the paper's same-padded stride-1 convolutions it equals the input size);
* ``N_in`` is ``in_channels / groups`` (each output channel sees one group of inputs);
* Conv1d/2d/3d multiply over all of their spatial dimensions;
* a transposed convolution scatters every *input* position through the whole kernel, so its
  count is ``input spatial size x C_in x C_out / groups x kernel``;
* a linear layer is ``in_features x out_features`` per row, times every leading dimension of
  its input except the batch.

Bias additions, activations, pooling and normalisation are not counted: Eq. 1 does not count
them. With that convention ``2 x MACs`` equals what ``torch.utils.flop_counter.FlopCounterMode``
reports for models made only of these layers (it counts two FLOPs per MAC and ignores bias).

All counts are per example (batch 1), whatever batch the counting pass ran at.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NoReturn

import torch
from torch import nn

from edgecheck._imports import require
from edgecheck.errors import ModelError

CONV = "conv"
CONV_TRANSPOSE = "conv_transpose"
LINEAR = "linear"
MATMUL = "matmul"
_CONV_KINDS = frozenset({CONV, CONV_TRANSPOSE})
_LINEAR_KINDS = frozenset({LINEAR, MATMUL})

_CONV_MODULES = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CONV_TRANSPOSE_MODULES = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)

_GIGA = 1e9


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
        return self.macs / _GIGA


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


class _LayerNames:
    """Hands out unique layer names: a second call of the same layer becomes ``name#2``."""

    def __init__(self) -> None:
        self._calls: dict[str, int] = {}

    def next(self, name: str) -> str:
        count = self._calls.get(name, 0) + 1
        self._calls[name] = count
        return name if count == 1 else f"{name}#{count}"


def _per_example(total: int, batch_size: int, name: str) -> int:
    per_example, remainder = divmod(total, batch_size)
    if remainder:
        raise ModelError(
            f"layer '{name}' does {total} MACs at batch size {batch_size}, which is not a "
            f"multiple of the batch size: its work does not scale with the batch (a fixed "
            f"batch axis?). Count at the batch the model really runs at, or at batch_size=1."
        )
    return per_example


def _check_batch_size(batch_size: int) -> None:
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ModelError(f"batch_size must be a positive whole number, got {batch_size!r}.")


# ---------------------------------------------------------------------------------------------
# torch modules


def _module_layer(
    module: nn.Module, name: str, inputs: Sequence[Any], output: Any, batch_size: int
) -> LayerMACs | None:
    if not isinstance(output, torch.Tensor):
        return None
    if isinstance(module, nn.Linear):
        # Every leading dimension of the output is one row that needs in x out MACs.
        total = output.numel() * module.in_features
        return LayerMACs(
            name=name,
            kind=LINEAR,
            in_channels=module.in_features,
            out_channels=module.out_features,
            kernel=(),
            output_size=(),
            groups=1,
            macs=_per_example(total, batch_size, name),
        )
    if not isinstance(module, _CONV_MODULES + _CONV_TRANSPOSE_MODULES):
        return None
    kernel = tuple(int(k) for k in module.kernel_size)
    # Indexing from the end also covers unbatched (C, *spatial) input, which torch accepts.
    output_size = tuple(int(d) for d in output.shape[-len(kernel) :])
    in_channels, out_channels, groups = module.in_channels, module.out_channels, module.groups
    if isinstance(module, _CONV_MODULES):
        total = output.numel() * (in_channels // groups) * math.prod(kernel)
        kind = CONV
    else:
        # Every input element is scattered through one group's kernels, so the work follows
        # the input's size (output_padding enlarges the output without adding MACs).
        total = inputs[0].numel() * (out_channels // groups) * math.prod(kernel)
        kind = CONV_TRANSPOSE
    return LayerMACs(
        name=name,
        kind=kind,
        in_channels=in_channels,
        out_channels=out_channels,
        kernel=kernel,
        output_size=output_size,
        groups=groups,
        macs=_per_example(total, batch_size, name),
    )


def _model_device_and_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    for tensor in (*model.parameters(), *model.buffers()):
        dtype = tensor.dtype if tensor.is_floating_point() else torch.float32
        return tensor.device, dtype
    return torch.device("cpu"), torch.float32


def count_macs(model: nn.Module, input_shape: Sequence[int], *, batch_size: int = 1) -> MACReport:
    """Count the Eq. 1 MACs of every convolution and linear layer of `model`.

    Runs one forward pass on zeros, on the model's own device (a ``"meta"`` model counts
    without allocating anything), in eval mode and under ``torch.no_grad()``; the model's
    train/eval flags are restored afterwards. Only ``nn.Conv*``, ``nn.ConvTranspose*`` and
    ``nn.Linear`` modules are counted: functional calls (``F.conv2d``) are invisible to the
    forward hooks this relies on.

    Args:
        model: the ``nn.Module`` to count.
        input_shape: one example's shape without the batch axis, e.g. ``(3, 224, 224)``.
        batch_size: the batch of the counting pass; counts are divided by it, so the report
            is per example whatever the batch.

    Returns:
        A `MACReport` with one entry per layer call, in execution order.

    Raises:
        ModelError: `input_shape` or `batch_size` is not valid, or the forward pass fails
            (the message names the model class, the shape given and the original error).
    """
    shape = tuple(input_shape)
    if not shape or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in shape):
        raise ModelError(
            f"count_macs: input_shape {input_shape!r} must be a non-empty tuple of positive "
            f"sizes without the batch axis, e.g. (3, 224, 224)."
        )
    _check_batch_size(batch_size)
    names = {module: name for name, module in model.named_modules()}
    layers: list[LayerMACs] = []
    unique = _LayerNames()

    def hook(module: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], output: Any) -> None:
        inputs = args or tuple(kwargs.values())
        # The root module has the empty path; its class name reads better in a table.
        path = names[module] or type(module).__name__
        layer = _module_layer(module, unique.next(path), inputs, output, batch_size)
        if layer is not None:
            layers.append(layer)

    counted = _CONV_MODULES + _CONV_TRANSPOSE_MODULES + (nn.Linear,)
    handles = [
        module.register_forward_hook(hook, with_kwargs=True)
        for module in names
        if isinstance(module, counted)
    ]
    # Eval mode so that counting never updates batch-norm statistics or draws dropout masks;
    # each module's own flag is restored, not just the root's.
    training = {module: module.training for module in names}
    device, dtype = _model_device_and_dtype(model)
    try:
        model.eval()
        example = torch.zeros((batch_size, *shape), device=device, dtype=dtype)
        with torch.no_grad():
            model(example)
    except ModelError:
        raise  # from the hooks, already explicit (ModelError is a ValueError)
    except (RuntimeError, ValueError, IndexError) as exc:
        raise ModelError(
            f"count_macs: {type(model).__name__} failed on an input of shape {shape} "
            f"(as a batch: {(batch_size, *shape)}): {type(exc).__name__}: {exc}. "
            f"input_shape must be one example's shape without the batch axis."
        ) from exc
    finally:
        for handle in handles:
            handle.remove()
        for module, flag in training.items():
            module.training = flag
    return MACReport(tuple(layers))


# ---------------------------------------------------------------------------------------------
# ONNX graphs


def _load_onnx(onnx: Any, path_or_model: Any) -> tuple[Any, str]:
    if isinstance(path_or_model, (str, os.PathLike)):
        from edgecheck.onnx_file import load_onnx

        # Weights are never needed, only shapes: load_onnx skips external data files.
        return load_onnx(path_or_model, purpose="counting MACs of an ONNX model"), str(
            Path(path_or_model)
        )
    if isinstance(path_or_model, onnx.ModelProto):
        return path_or_model, f"<ONNX model '{path_or_model.graph.name}'>"
    raise ModelError(
        f"count_onnx_macs takes a path or an onnx.ModelProto, got {type(path_or_model).__name__}."
    )


Dims = tuple[int | None, ...]  # None: a size ONNX shape inference could not determine


def _graph_shapes(graph: Any, batch_size: int) -> dict[str, Dims]:
    """The shape of every tensor that inference could name, batch symbols set to `batch_size`.

    The batch is the symbol on axis 0 of the graph's data inputs (``"batch"`` in edgecheck's
    exports). Any other symbol is an unknown size: inference invents symbols (``"unk__0"``)
    where it cannot compute a size, e.g. behind torch's Flatten, which exports as a Reshape
    of a runtime Shape.
    """
    stored = {init.name for init in graph.initializer}
    batch_symbols = {
        info.type.tensor_type.shape.dim[0].dim_param
        for info in graph.input
        if info.name not in stored
        and info.type.tensor_type.HasField("shape")
        and len(info.type.tensor_type.shape.dim) > 0
        and info.type.tensor_type.shape.dim[0].HasField("dim_param")
    }
    shapes: dict[str, Dims] = {}
    for info in (*graph.input, *graph.value_info, *graph.output):
        tensor_type = info.type.tensor_type
        if not tensor_type.HasField("shape"):
            continue
        dims: list[int | None] = []
        for dim in tensor_type.shape.dim:
            if dim.HasField("dim_value"):
                dims.append(int(dim.dim_value))
            elif dim.HasField("dim_param") and dim.dim_param in batch_symbols:
                dims.append(batch_size)
            else:
                dims.append(None)
        shapes[info.name] = tuple(dims)
    # Initializers last: their stored dims are authoritative.
    for init in graph.initializer:
        shapes[init.name] = tuple(int(d) for d in init.dims)
    return shapes


def _onnx_layer_path(node: Any, weight: str | None, index: int) -> str:
    # torch names a parameter input after its module ("features.conv1_1.weight"): the exact
    # path that count_macs reports, also when the module is called twice (the exporter gives
    # the second call the node scope "/conv_1/", which is ambiguous with a module "conv_1").
    if weight and weight.endswith(".weight"):
        return weight.removesuffix(".weight")
    # Otherwise the node's scope "/features/conv1_1/Conv" holds the path.
    parts = node.name.split("/")
    if node.name.startswith("/") and len(parts) > 2:
        return ".".join(parts[1:-1])
    return node.name or f"{node.op_type}_{index}"


def _at(dims: Dims, index: int) -> int | None:
    return dims[index] if -len(dims) <= index < len(dims) else None


class _NodeShapes:
    """The shapes around one node, and the one place that gives up when a size is unknown.

    A size may be readable from more than one tensor (a MatMul's depth from either operand,
    a Gemm's rows from its output), so each lookup takes candidates in order of preference.
    """

    def __init__(self, node: Any, shapes: Mapping[str, Dims], source: str) -> None:
        self._node = node
        self._shapes = shapes
        self._source = source

    def dims(self, tensor: str) -> Dims:
        """The shape of `tensor`; only its rank is required to be known."""
        found = self._shapes.get(tensor)
        if found is None:
            self._fail(f"the shape of '{tensor}'")
        return found

    def need(self, *candidates: int | None, what: str) -> int:
        """The first known candidate."""
        for value in candidates:
            if value is not None:
                return value
        self._fail(what)

    def _fail(self, what: str) -> NoReturn:
        node = self._node
        around = ", ".join(
            f"{name}: {list(self._shapes.get(name, ())) or 'unknown'}"
            for name in (*node.input, *node.output)
            if name
        )
        raise ModelError(
            f"{self._source}: node '{node.name or node.op_type}' ({node.op_type}): {what} is "
            f"unknown after ONNX shape inference ({around}; None is an unknown size), so its "
            f"MACs cannot be counted. Export with static shapes apart from the batch axis."
        )


def _onnx_conv(
    node: Any, attrs: Mapping[str, Any], name: str, at: _NodeShapes
) -> tuple[LayerMACs, int]:
    x, w, y = at.dims(node.input[0]), at.dims(node.input[1]), at.dims(node.output[0])
    groups = int(attrs.get("group", 1))
    kernel = tuple(at.need(k, what="a kernel size") for k in w[2:])
    spatial = range(2, 2 + len(kernel))
    output_size = tuple(at.need(_at(y, i), what="an output size") for i in spatial)
    batch = at.need(_at(y, 0), _at(x, 0), what="the batch size")
    if node.op_type == "Conv":
        # W is (C_out, C_in / group, *kernel).
        per_group_in = at.need(w[1], what="the input channels")
        out_channels = at.need(w[0], _at(y, 1), what="the output channels")
        in_channels = per_group_in * groups
        total = batch * out_channels * math.prod(output_size) * per_group_in * math.prod(kernel)
        kind = CONV
    else:
        # W is (C_in, C_out / group, *kernel); the work follows the input (see count_macs).
        per_group_out = at.need(w[1], what="the output channels")
        in_channels = at.need(w[0], _at(x, 1), what="the input channels")
        out_channels = per_group_out * groups
        input_size = tuple(at.need(_at(x, i), what="an input size") for i in spatial)
        total = batch * in_channels * math.prod(input_size) * per_group_out * math.prod(kernel)
        kind = CONV_TRANSPOSE
    layer = LayerMACs(name, kind, in_channels, out_channels, kernel, output_size, groups, 0)
    return layer, total


def _onnx_matrix(
    node: Any, attrs: Mapping[str, Any], name: str, at: _NodeShapes
) -> tuple[LayerMACs, int]:
    a, b, y = at.dims(node.input[0]), at.dims(node.input[1]), at.dims(node.output[0])
    if node.op_type == "Gemm":
        a_rows, a_depth = (1, 0) if attrs.get("transA", 0) else (0, 1)
        b_depth, b_cols = (1, 0) if attrs.get("transB", 0) else (0, 1)
        rows = at.need(_at(a, a_rows), _at(y, 0), what="the rows of A")
        depth = at.need(_at(a, a_depth), _at(b, b_depth), what="the inner dimension")
        cols = at.need(_at(b, b_cols), _at(y, 1), what="the columns of B")
        layer = LayerMACs(name, LINEAR, depth, cols, (), (), 1, 0)
        return layer, rows * depth * cols
    # MatMul, with numpy semantics: a 1-D operand is a vector, leading dims broadcast.
    depth = at.need(_at(a, -1), _at(b, -2 if len(b) > 1 else 0), what="the inner dimension")
    cols = 1 if len(b) == 1 else at.need(_at(b, -1), _at(y, -1), what="the columns of B")
    if all(d is not None for d in y):
        # Every output element is one dot product of length `depth`.
        products = math.prod(d for d in y if d is not None)
    else:
        rows = 1 if len(a) == 1 else at.need(_at(a, -2), what="the rows of A")
        stacks = _broadcast(a[:-2], b[:-2])
        products = math.prod(at.need(d, what="a stacked dimension") for d in stacks) * rows * cols
    return LayerMACs(name, MATMUL, depth, cols, (), (), 1, 0), products * depth


def _broadcast(a: Dims, b: Dims) -> Dims:
    width = max(len(a), len(b))
    padded_a = (1,) * (width - len(a)) + a
    padded_b = (1,) * (width - len(b)) + b
    out: list[int | None] = []
    for x, y in zip(padded_a, padded_b, strict=True):
        if x is not None and y is not None:
            out.append(max(x, y))
        else:
            # A size broadcast against an unknown one is known only when it is not 1.
            known = x if x is not None else y
            out.append(known if known is not None and known != 1 else None)
    return tuple(out)


_ONNX_COUNTED = ("Conv", "ConvTranspose", "Gemm", "MatMul")


def count_onnx_macs(
    path_or_model: str | os.PathLike[str] | Any, *, batch_size: int = 1
) -> MACReport:
    """Count the Eq. 1 MACs of the Conv, ConvTranspose, Gemm and MatMul nodes of an ONNX graph.

    Weight shapes come from initializers or, for graph-only exports
    (``export_onnx(..., export_params=False)``), from the graph inputs. Layer names are the
    torch module paths where the graph records them (weight ``features.conv1_1.weight`` or
    node ``/features/conv1_1/Conv`` gives ``features.conv1_1``), else the node name, so a
    report lines up with `count_macs` of the exported model. Gemm counts as ``"linear"``; a
    torch Linear applied to inputs of more than two dimensions exports as MatMul and counts as
    ``"matmul"``.

    Args:
        path_or_model: an ``.onnx`` file or a loaded ``onnx.ModelProto``.
        batch_size: the value of the batch symbol (the symbolic axis 0 of the graph's data
            inputs); counts are divided by it. For a graph with a fixed batch axis, pass that
            batch. Other symbolic sizes count as unknown.

    Returns:
        A `MACReport` with one entry per counted node, in graph order.

    Raises:
        MissingDependencyError: the ``onnx`` package is not installed.
        ModelError: the file cannot be read, shape inference fails, or a counted node's
            shapes remain unknown; the message names the file and the node.
    """
    onnx = require("onnx", "counting MACs of an ONNX model")
    _check_batch_size(batch_size)
    model, source = _load_onnx(onnx, path_or_model)
    try:
        inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
    except Exception as exc:  # onnx's InferenceError and the C++ errors it wraps
        raise ModelError(
            f"ONNX shape inference failed for {source}: {type(exc).__name__}: {exc}"
        ) from exc
    graph = inferred.graph
    if not graph.node:
        # protobuf parses an empty or truncated file as an empty model without complaint.
        raise ModelError(
            f"{source} holds an ONNX graph without nodes: an empty or truncated file? "
            f"Re-export the model."
        )
    shapes = _graph_shapes(graph, batch_size)
    unique = _LayerNames()
    layers: list[LayerMACs] = []
    for index, node in enumerate(graph.node):
        if node.op_type not in _ONNX_COUNTED or node.domain not in ("", "ai.onnx"):
            continue
        weight = node.input[1] if len(node.input) > 1 else None
        name = unique.next(_onnx_layer_path(node, weight, index))
        attrs = {attr.name: onnx.helper.get_attribute_value(attr) for attr in node.attribute}
        at = _NodeShapes(node, shapes, source)
        count = _onnx_conv if node.op_type.startswith("Conv") else _onnx_matrix
        layer, total = count(node, attrs, name, at)
        layers.append(replace(layer, macs=_per_example(total, batch_size, name)))
    return MACReport(tuple(layers))


# ---------------------------------------------------------------------------------------------
# Table VI style output


def _dims(sizes: tuple[int, ...]) -> str:
    return "x".join(str(s) for s in sizes) if sizes else "-"


def _ratio(before: int | None, after: int | None) -> float | None:
    if before is None or not after:
        return None
    return before / after


def macs_rows(report: MACReport, compare: MACReport | None = None) -> list[dict[str, Any]]:
    """The rows of `format_macs_table`, as data for other writers (Markdown, JSON).

    Args:
        report: the model to list (Table VI's "before pruning").
        compare: optionally a second report (Table VI's "after pruning"), matched by layer
            name; its layers missing from `report` are appended at the end.

    Returns:
        One dict per layer with keys ``layer``, ``feature_map`` (e.g. ``"224x224"``, ``"-"``
        for linear layers), ``kernel`` (``"3x3"`` or ``"-"``), ``n_in``, ``n_out`` (ints) and
        ``gmacs`` (float, unrounded). With `compare` also ``n_in_after``, ``n_out_after``,
        ``gmacs_after`` and ``ratio`` (gmacs / gmacs_after). A value a report lacks is None.
        Totals are ``report.total`` and ``compare.total``.
    """
    other = compare.by_name if compare is not None else {}
    rows: list[dict[str, Any]] = []

    def row(before: LayerMACs | None, after: LayerMACs | None) -> dict[str, Any]:
        shown = before if before is not None else after
        assert shown is not None
        entry: dict[str, Any] = {
            "layer": shown.name,
            "feature_map": _dims(shown.output_size),
            "kernel": _dims(shown.kernel),
            "n_in": before.in_channels if before else None,
            "n_out": before.out_channels if before else None,
            "gmacs": before.gmacs if before else None,
        }
        if compare is not None:
            entry.update(
                n_in_after=after.in_channels if after else None,
                n_out_after=after.out_channels if after else None,
                gmacs_after=after.gmacs if after else None,
                ratio=_ratio(before.macs if before else None, after.macs if after else None),
            )
        return entry

    for layer in report.layers:
        rows.append(row(layer, other.get(layer.name)))
    if compare is not None:
        listed = report.by_name
        rows.extend(row(None, layer) for layer in compare.layers if layer.name not in listed)
    return rows


def _cell(value: Any, decimals: int = 3) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{decimals}f}"
    return str(value)


def _render(
    header: Sequence[str], body: Iterable[Sequence[str]], totals: Sequence[Sequence[str]]
) -> str:
    table = [list(header), *[list(r) for r in body]]
    n_body = len(table) - 1
    table += [list(t) for t in totals]
    widths = [max(len(r[i]) for r in table) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        # Names left-aligned, numbers right-aligned, like a printed table.
        first = cells[0].ljust(widths[0])
        rest = (cell.rjust(width) for cell, width in zip(cells[1:], widths[1:], strict=True))
        return "  ".join((first, *rest)).rstrip()

    rule = "  ".join("-" * w for w in widths)
    rows = [line(r) for r in table[1:]]
    return "\n".join([line(table[0]), rule, *rows[:n_body], rule, *rows[n_body:]])


def format_macs_table(
    report: MACReport, *, compare: MACReport | None = None, title: str | None = None
) -> str:
    """A plain-text per-layer table in the layout of the paper's Table VI.

    Columns: layer, feature map (output H x W), kernel, N_in, N_out, GMACs. With `compare`,
    before/after columns for N_in, N_out (the number of kernels) and GMACs plus the per-layer
    ratio. Totals rows: the convolutions alone (Table VI's total) and, when the model also has
    linear layers, all layers; ratios are before / after. MACs are printed in G (three
    decimals, as in the paper) for models of a billion MACs or more, else in M.

    Args:
        report: the model to list ("before").
        compare: another report to set beside it ("after"), matched by layer name.
        title: a line printed above the table.

    Returns:
        The table, lines joined by newlines, without a trailing newline.
    """
    scale, unit = (1e9, "GMACs") if report.total >= 1e9 else (1e6, "MMACs")
    rows = macs_rows(report, compare)
    for r in rows:
        for key in ("gmacs", "gmacs_after"):
            if r.get(key) is not None:
                r[key] = r[key] * _GIGA / scale

    def totals(label: str, before: int, after: int | None) -> list[str]:
        cells = [label, "", "", "", "", _cell(before / scale)]
        if compare is None:
            return cells
        ratio = _ratio(before, after)
        return [label, "", "", "", "", "", "", _cell(before / scale),
                _cell(after / scale if after is not None else None),
                f"{_cell(ratio)}x" if ratio is not None else "-"]  # fmt: skip

    if compare is None:
        header = ["Layer", "Feature map", "Kernel", "N_in", "N_out", unit]
        keys = ["layer", "feature_map", "kernel", "n_in", "n_out", "gmacs"]
    else:
        header = [
            "Layer", "Feature map", "Kernel", "N_in before", "N_in after",
            "N_out before", "N_out after", f"{unit} before", f"{unit} after", "Ratio",
        ]  # fmt: skip
        keys = [
            "layer", "feature_map", "kernel", "n_in", "n_in_after",
            "n_out", "n_out_after", "gmacs", "gmacs_after", "ratio",
        ]  # fmt: skip
    total_rows = [totals("Conv total", report.conv_total,
                         compare.conv_total if compare is not None else None)]  # fmt: skip
    if report.linear_total or (compare is not None and compare.linear_total):
        total_rows.append(
            totals("All layers", report.total, compare.total if compare is not None else None)
        )
    body = [[_cell(r[k]) for k in keys] for r in rows]
    if compare is not None:
        for cells in body:
            if cells[-1] != "-":
                cells[-1] += "x"
    text = _render(header, body, total_rows)
    return f"{title}\n{text}" if title else text

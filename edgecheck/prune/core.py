"""`prune_model`: He et al.'s channel pruning of a whole model, front to back.

For every layer the plan shrinks, in execution order: sample X in the current model (Y was
sampled once, in the original), select the channels to keep, refit the consumers by least
squares, remove the channels. Each step therefore sees the earlier layers already pruned and
reconstructs towards the original model's outputs, which is what keeps the error from
compounding through 13 layers. The input layer's input (the image) is never pruned: only
output channels of convs are, and the first conv's inputs are nobody's outputs.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch
from torch import nn

from edgecheck.errors import ModelError
from edgecheck.progress import note
from edgecheck.prune.graph import PrunableLayer, find_prunable_layers
from edgecheck.prune.lasso import Selection, select_l1, select_lasso
from edgecheck.prune.plan import PrunePlan, resolve_prune_plan
from edgecheck.prune.reconstruct import Reconstruction, least_squares, relative_error
from edgecheck.prune.sampling import collect_samples, collect_targets
from edgecheck.prune.surgery import remove_channels

Method = Literal["lasso", "l1"]
# progress(stage, done, total): stage is "sampling" or a layer's module path.
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class LayerReport:
    """What pruning one layer did.

    Attributes:
        name: the pruned conv's module path.
        consumers: the convs refitted (or narrowed) with it.
        channels_before: its output channels before.
        kept: the kept channel indices, ascending.
        error_removed: relative error of the consumers' outputs on the layer's samples when the
            channels are simply removed (old weights), or None when nothing was sampled.
        error_reconstructed: the same after least squares, or None without reconstruction.
        selection: the `Selection` (penalty, fits, trimmed/filled counts).
        seconds: wall time for this layer.
        points: sampled points per consumer (0 when nothing was sampled).
        unknowns: the largest least-squares problem's unknowns per output (kept channels x
            kernel area + 1); with fewer `points` the refit interpolates its samples and
            generalises poorly: sample more.
    """

    name: str
    consumers: tuple[str, ...]
    channels_before: int
    kept: tuple[int, ...]
    error_removed: float | None
    error_reconstructed: float | None
    selection: Selection
    seconds: float
    points: int = 0
    unknowns: int = 0

    @property
    def underdetermined(self) -> bool:
        """True when least squares had fewer points than unknowns (see `unknowns`)."""
        return 0 < self.points < self.unknowns

    @property
    def channels_after(self) -> int:
        """Output channels kept."""
        return len(self.kept)


@dataclass
class PruneResult:
    """A pruned model and how it was made.

    Attributes:
        model: the pruned model (a deep copy; the input model is unchanged).
        plan: the resolved plan (every conv layer, full module paths).
        layers: one `LayerReport` per pruned layer, in order.
        method: ``"lasso"`` or ``"l1"``.
        reconstruct: whether least squares refitted the consumers.
        samples_per_layer: sampled points per consumer (0 when nothing was sampled).
        seconds: total wall time.
    """

    model: nn.Module
    plan: PrunePlan
    layers: list[LayerReport] = field(default_factory=list)
    method: str = "lasso"
    reconstruct: bool = True
    samples_per_layer: int = 0
    seconds: float = 0.0

    def kept(self) -> dict[str, int]:
        """Conv module path -> output channels of the pruned model (measured on it)."""
        return {
            name: int(module.out_channels)
            for name, module in self.model.named_modules()
            if isinstance(module, nn.Conv2d)
        }


def _check_images(model: nn.Module, images: torch.Tensor) -> None:
    if not isinstance(images, torch.Tensor) or images.ndim != 4 or images.shape[0] < 1:
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise ModelError(
            f"channel pruning samples feature maps from images: pass a float tensor "
            f"(N, C, H, W) with N >= 1, got {shape}."
        )
    first = next((m for m in model.modules() if isinstance(m, nn.Conv2d)), None)
    if first is not None and images.shape[1] != first.in_channels:
        raise ModelError(
            f"the images have {images.shape[1]} channels, the model's first conv expects "
            f"{first.in_channels}; pass images shaped (N, {first.in_channels}, H, W)."
        )


def _sync_plan_attribute(model: nn.Module) -> None:
    # edgecheck's VGG16 records its channel plan; keep it true so vgg16(plan=model.plan)
    # builds a model that load_state_dict() accepts.
    from edgecheck.models.vgg import VGG16

    if isinstance(model, VGG16):
        convs = dict(model.features.named_children())
        model.plan = {
            name: conv.out_channels
            for name, conv in convs.items()
            if isinstance(conv, nn.Conv2d) and name in model.plan
        }


def prune_model(
    model: nn.Module,
    plan: str | float | Mapping[str, int | float] | PrunePlan,
    images: torch.Tensor | None = None,
    *,
    method: Method = "lasso",
    reconstruct: bool | None = None,
    samples_per_image: int | None = 10,
    seed: int = 0,
    batch_size: int = 8,
    progress: Progress | None = None,
) -> PruneResult:
    """Prune `model`'s conv output channels to `plan` with He, Zhang & Sun's method.

    Args:
        model: the model to prune (left unchanged; pruning works on a deep copy, in eval mode).
        plan: kept channels per layer: a named plan (``"paper"``: Table VI, for VGG16), one
            ratio for every prunable layer, a mapping of layer names to counts or ratios, or a
            `PrunePlan` (see `resolve_prune_plan`).
        images: ``(N, C, H, W)`` images to sample feature maps from (e.g. `synthetic_images`
            or real data); keep them apart from the images the result is evaluated on. Only
            ``method="l1"`` without reconstruction needs none.
        method: ``"lasso"`` (He et al.'s selection) or ``"l1"`` (largest filter L1 norms).
        reconstruct: refit the consumers by least squares; default True for ``"lasso"`` and
            False for ``"l1"`` (the plain magnitude-pruning baseline).
        samples_per_image: random output positions sampled per image and consumer (He et al.
            use 10); ``None`` takes every position.
        seed: seed of the position sampling.
        batch_size: images per forward pass while sampling (bounds memory).
        progress: called as ``progress(stage, done, total)`` while sampling and per layer.

    Returns:
        A `PruneResult` whose ``model`` has exactly the plan's channel counts.

    Raises:
        PlanError: the plan does not fit the model (the message names the layer).
        ModelError: the model cannot be traced or the images do not fit it.
    """
    if method not in ("lasso", "l1"):
        raise ValueError(f"unknown pruning method {method!r}; use 'lasso' or 'l1'")
    do_reconstruct = method == "lasso" if reconstruct is None else bool(reconstruct)
    started = time.perf_counter()
    layers = find_prunable_layers(model)
    resolved = resolve_prune_plan(model, plan, layers=layers)
    to_prune = resolved.pruned()
    sample = bool(to_prune) and (method == "lasso" or do_reconstruct)

    def report(stage: str, done: int, total: int) -> None:
        note(f"pruning {stage}: {done}/{total}")
        if progress is not None:
            progress(stage, done, total)

    was_training = model.training
    model.eval()
    try:
        current = copy.deepcopy(model).eval()
        positions: dict[str, torch.Tensor] = {}
        targets: dict[str, torch.Tensor] = {}
        if sample:
            if images is None:
                raise ModelError(
                    f"method {method!r} with reconstruct={do_reconstruct} samples feature maps: "
                    f"pass images (e.g. edgecheck.prune.synthetic_images(...))."
                )
            _check_images(model, images)
            consumers = [c for name in to_prune for c in layers[name].consumers]
            positions, targets = collect_targets(
                model, consumers, images, samples_per_image=samples_per_image, seed=seed,
                batch_size=batch_size,
                on_batch=lambda done, total: report("sampling", done, total),
            )  # fmt: skip
        reports = []
        for index, name in enumerate(to_prune):
            reports.append(
                _prune_layer(
                    current, layers[name], resolved.kept[name], images, positions, targets,
                    method=method, reconstruct=do_reconstruct, sample=sample,
                    batch_size=batch_size,
                )
            )  # fmt: skip
            report(name, index + 1, len(to_prune))
    finally:
        model.train(was_training)
    _sync_plan_attribute(current)
    points = next(iter(targets.values())).shape[0] if targets else 0
    return PruneResult(
        model=current, plan=resolved, layers=reports, method=method,
        reconstruct=do_reconstruct, samples_per_layer=points,
        seconds=time.perf_counter() - started,
    )  # fmt: skip


def _prune_layer(
    current: nn.Module,
    layer: PrunableLayer,
    keep: int,
    images: torch.Tensor | None,
    positions: Mapping[str, torch.Tensor],
    targets: Mapping[str, torch.Tensor],
    *,
    method: Method,
    reconstruct: bool,
    sample: bool,
    batch_size: int,
) -> LayerReport:
    started = time.perf_counter()
    samples = []
    if sample:
        assert images is not None
        samples = collect_samples(
            current, targets, positions, layer.consumers, images, batch_size=batch_size
        )
    if method == "lasso":
        selection = select_lasso(samples, keep)
    else:
        producer = current.get_submodule(layer.name)
        assert isinstance(producer, nn.Conv2d)
        selection = select_l1(producer.weight, keep)
    fits: dict[str, Reconstruction] = {}
    error_removed = error_fit = None
    if samples:
        error_removed = _joint_error([relative_error(s, selection.kept) for s in samples])
    if reconstruct:
        fits = {s.name: least_squares(s, selection.kept) for s in samples}
        error_fit = _joint_error([relative_error(s, selection.kept, fits[s.name]) for s in samples])
    remove_channels(current, layer, selection.kept, reconstructions=fits)
    return LayerReport(
        name=layer.name, consumers=layer.consumers, channels_before=layer.out_channels,
        kept=tuple(int(i) for i in selection.kept), error_removed=error_removed,
        error_reconstructed=error_fit, selection=selection,
        seconds=time.perf_counter() - started,
        points=min((s.inputs.shape[0] for s in samples), default=0),
        unknowns=max((int(selection.kept.numel()) * s.kernel_area + 1 for s in samples), default=0),
    )  # fmt: skip


def _joint_error(parts: Sequence[tuple[float, float]]) -> float:
    residual = sum(p[0] for p in parts)
    target = sum(p[1] for p in parts)
    return (residual / target) ** 0.5 if target > 0 else 0.0


def output_error(
    reference: nn.Module,
    candidate: nn.Module,
    images: torch.Tensor,
    layers: Sequence[str] = (),
    *,
    batch_size: int = 8,
) -> dict[str, float]:
    """Relative error ``||candidate - reference|| / ||reference||`` of layer outputs.

    Args:
        reference: the original model.
        candidate: e.g. the pruned model (same module paths).
        images: evaluation images, ideally not the ones pruning sampled from.
        layers: module paths whose full outputs are compared (together, as one error);
            the model's final output is always compared too.
        batch_size: images per forward pass.

    Returns:
        ``{"layers": ..., "output": ...}`` (``"layers"`` only when `layers` is given).
    """
    sums = {"layers": [0.0, 0.0], "output": [0.0, 0.0]}
    for start in range(0, images.shape[0], batch_size):
        chunk = images[start : start + batch_size]
        ref_out, ref_maps = _forward_with(reference, chunk, layers)
        cand_out, cand_maps = _forward_with(candidate, chunk, layers)
        sums["output"][0] += float((cand_out - ref_out).double().square().sum())
        sums["output"][1] += float(ref_out.double().square().sum())
        for name in layers:
            sums["layers"][0] += float((cand_maps[name] - ref_maps[name]).double().square().sum())
            sums["layers"][1] += float(ref_maps[name].double().square().sum())
    keys = ["layers", "output"] if layers else ["output"]
    return {k: (sums[k][0] / sums[k][1]) ** 0.5 if sums[k][1] > 0 else 0.0 for k in keys}


def _forward_with(
    model: nn.Module, images: torch.Tensor, layers: Sequence[str]
) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
    maps: dict[str, torch.Tensor] = {}

    def keep(name: str) -> Callable[..., None]:
        def hook(_module: nn.Module, _args: Any, output: torch.Tensor) -> None:
            maps[name] = output.detach().clone()  # before any in-place ReLU changes it

        return hook

    handles = [model.get_submodule(n).register_forward_hook(keep(n)) for n in layers]
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            out = model(images)
    finally:
        model.train(was_training)
        for handle in handles:
            handle.remove()
    return out, maps


@dataclass(frozen=True)
class MethodError:
    """How far one pruning variant lands from the original model.

    Attributes:
        label: e.g. ``"lasso+ls"``, ``"l1"``.
        method: selection criterion.
        reconstruct: least squares on or off.
        layer_error: relative error of the last pruned layer's consumers' outputs.
        output_error: relative error of the model's output.
        seconds: pruning time.
        result: the `PruneResult` (pruned model and per-layer reports).
    """

    label: str
    method: str
    reconstruct: bool
    layer_error: float
    output_error: float
    seconds: float
    result: PruneResult | None = field(default=None, repr=False, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly fields (without the pruned model)."""
        return {k: v for k, v in self.__dict__.items() if k != "result"}


# (label, method, reconstruct): He et al. vs plain magnitude pruning, and the two halves.
DEFAULT_VARIANTS: tuple[tuple[str, Method, bool], ...] = (
    ("lasso+ls", "lasso", True),
    ("l1", "l1", False),
)
ALL_VARIANTS: tuple[tuple[str, Method, bool], ...] = (
    ("lasso+ls", "lasso", True),
    ("l1+ls", "l1", True),
    ("lasso", "lasso", False),
    ("l1", "l1", False),
)


def compare_methods(
    model: nn.Module,
    plan: str | float | Mapping[str, int | float] | PrunePlan,
    images: torch.Tensor,
    eval_images: torch.Tensor,
    *,
    variants: Sequence[tuple[str, Method, bool]] = DEFAULT_VARIANTS,
    samples_per_image: int | None = 10,
    seed: int = 0,
    batch_size: int = 8,
) -> list[MethodError]:
    """Prune `model` to `plan` with each variant; measure errors on `eval_images`.

    The compared layer is the last pruned layer's consumers (e.g. VGG16's conv5_1 for Table
    VI's plan): the first full-width output after all the pruning, where the kept counts are
    the same for every variant and only the choice of channels and the refit differ.
    """
    results = []
    last: tuple[str, ...] = ()
    for label, method, reconstruct in variants:
        result = prune_model(
            model, plan, images, method=method, reconstruct=reconstruct,
            samples_per_image=samples_per_image, seed=seed, batch_size=batch_size,
        )  # fmt: skip
        if not result.layers:
            raise ModelError("the plan prunes nothing; there is no error to compare")
        last = result.layers[-1].consumers
        errors = output_error(model, result.model, eval_images, last, batch_size=batch_size)
        results.append(
            MethodError(
                label=label, method=method, reconstruct=reconstruct,
                layer_error=errors["layers"], output_error=errors["output"],
                seconds=result.seconds, result=result,
            )
        )  # fmt: skip
    return results

"""Pruning plans: how many output channels each conv layer of a model keeps.

A plan is written by layer name (the module path, ``"features.conv1_1"``, or its last part,
``"conv1_1"``, when that is unique) and either a channel count or a ratio of the layer's width.
The named plans of `edgecheck.models.plans` (``"paper"`` = Table VI, ``"full"``) are VGG16's.
`resolve_prune_plan` checks a plan against the model it is applied to: an unknown or ambiguous
layer, a count below 1 or above the layer's width, and pruning a layer whose channels cannot be
removed (see `edgecheck.prune.graph`) are `PlanError`s that name the layer and the fix.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from torch import nn

from edgecheck.errors import PlanError
from edgecheck.models.plans import NAMED_PLANS
from edgecheck.prune.graph import PrunableLayer, find_prunable_layers


@dataclass(frozen=True)
class PrunePlan:
    """Output channels kept by every conv layer of one model.

    Attributes:
        kept: conv module path -> output channels to keep, for every conv of the model in
            execution order (layers the plan does not name keep their width).
        widths: conv module path -> output channels before pruning.
    """

    kept: Mapping[str, int]
    widths: Mapping[str, int]

    def pruned(self) -> list[str]:
        """The layers that lose channels, in execution order."""
        return [name for name, kept in self.kept.items() if kept < self.widths[name]]

    def short(self) -> dict[str, int]:
        """``kept`` keyed by the last part of each module path (``"conv1_1"``)."""
        return {name.rsplit(".", 1)[-1]: kept for name, kept in self.kept.items()}

    def as_dict(self) -> dict[str, dict[str, int]]:
        """JSON-friendly ``{"kept": {...}, "widths": {...}}``."""
        return {"kept": dict(self.kept), "widths": dict(self.widths)}


def _lookup(name: str, layers: Mapping[str, PrunableLayer]) -> str:
    if name in layers:
        return name
    matches = [full for full in layers if full.rsplit(".", 1)[-1] == name]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise PlanError(
            f"pruning plan: layer name '{name}' is ambiguous ({', '.join(matches)}); "
            f"write the full module path."
        )
    raise PlanError(
        f"pruning plan names layer '{name}', which is not a conv layer of this model; "
        f"its conv layers are {', '.join(layers) or '(none)'}."
    )


def _count(name: str, value: object, width: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PlanError(
            f"pruning plan: {name} = {value!r}; give a whole number of output channels "
            f"(1 to {width}) or a ratio of its width in (0, 1]."
        )
    if isinstance(value, float):
        if not 0.0 < value <= 1.0 or not math.isfinite(value):
            raise PlanError(
                f"pruning plan: {name} = {value!r} as a ratio must be in (0, 1] "
                f"(the share of its {width} output channels to keep)."
            )
        # Round half up, never below one channel: a ratio names a share, not zero channels.
        return max(1, math.floor(value * width + 0.5))
    if not 1 <= value <= width:
        what = "zero channels" if value == 0 else f"{value} channels"
        raise PlanError(
            f"pruning plan asks {name} to keep {what}, but it has {width} output channels; "
            f"give a count from 1 to {width}."
        )
    return value


def resolve_prune_plan(
    model: nn.Module,
    plan: str | float | Mapping[str, int | float] | PrunePlan,
    *,
    layers: Mapping[str, PrunableLayer] | None = None,
) -> PrunePlan:
    """Check `plan` against `model` and spell it out for every conv layer.

    Args:
        model: the model the plan applies to.
        plan: a named plan (``"paper"``, ``"full"``: VGG16's), one ratio in (0, 1] for every
            prunable layer, a mapping of layer names to counts (int) or ratios (float), or a
            `PrunePlan` (checked again, e.g. against a different model).
        layers: the result of `find_prunable_layers(model)` when the caller has it already.

    Returns:
        The plan with full module paths and every conv layer listed.

    Raises:
        PlanError: an unknown or ambiguous layer, a count out of range, or a layer that cannot
            lose channels; the message names the layer and what to do.
    """
    layers = find_prunable_layers(model) if layers is None else layers
    widths = {name: layer.out_channels for name, layer in layers.items()}
    spec: Mapping[str, int | float]
    if isinstance(plan, PrunePlan):
        spec = plan.kept
    elif isinstance(plan, str):
        if plan not in NAMED_PLANS:
            raise PlanError(
                f"unknown pruning plan '{plan}'; named plans: {', '.join(NAMED_PLANS)} "
                f"(VGG16's), or give a ratio such as 0.5 or counts such as conv1_1=24."
            )
        spec = NAMED_PLANS[plan]
    elif isinstance(plan, (int, float)) and not isinstance(plan, bool):
        ratio = float(plan)
        spec = {name: ratio for name, layer in layers.items() if layer.prunable}
    elif isinstance(plan, Mapping):
        spec = plan
    else:
        raise PlanError(
            f"a pruning plan must be a plan name, a ratio or a mapping of layer names to "
            f"channel counts; got {type(plan).__name__}."
        )

    kept = dict(widths)
    for key, value in spec.items():
        name = _lookup(str(key), layers)
        count = _count(name, value, widths[name])
        layer = layers[name]
        if count < layer.out_channels and not layer.prunable:
            raise PlanError(
                f"pruning plan asks {name} to keep {count} of {layer.out_channels} channels, "
                f"but its channels cannot be removed: {layer.reason}. Keep it at "
                f"{layer.out_channels} (leave it out of the plan)."
            )
        kept[name] = count
    return PrunePlan(kept=MappingProxyType(kept), widths=MappingProxyType(widths))


def parse_plan(text: str) -> str | float | dict[str, int | float]:
    """Parse a plan from the command line: a name, a ratio, or ``layer=N,layer=R,...``.

    ``"paper"`` -> ``"paper"``; ``"0.5"`` -> ``0.5``; ``"conv1_1=24,conv2_1=0.5"`` ->
    ``{"conv1_1": 24, "conv2_1": 0.5}``. Values with a decimal point are ratios.

    Raises:
        PlanError: the text is none of these forms.
    """
    text = text.strip()
    if "=" not in text:
        try:
            return float(text)
        except ValueError:
            return text
    spec: dict[str, int | float] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        name, sep, value = part.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise PlanError(
                f"pruning plan item {part!r} must look like LAYER=COUNT or LAYER=RATIO, "
                f"e.g. conv1_1=24 or conv1_1=0.4."
            )
        try:
            number: int | float = float(value) if "." in value else int(value)
        except ValueError:
            raise PlanError(
                f"pruning plan item {part!r}: {value.strip()!r} is not a channel count or ratio."
            ) from None
        spec[name.strip()] = number
    return spec

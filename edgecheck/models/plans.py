"""Channel plans: how many output channels each conv layer of VGG16 keeps.

The paper's Table VI plan (24, 22, 41, 51, 108, 89, 111, 184, 276, 228, 512, 512, 512) is the
released configuration of He, Zhang & Sun's channel pruning of VGG16.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from edgecheck.errors import PlanError

VGG16_CONV_NAMES: tuple[str, ...] = (
    "conv1_1", "conv1_2",
    "conv2_1", "conv2_2",
    "conv3_1", "conv3_2", "conv3_3",
    "conv4_1", "conv4_2", "conv4_3",
    "conv5_1", "conv5_2", "conv5_3",
)  # fmt: skip

VGG16_FULL_PLAN: Mapping[str, int] = MappingProxyType(
    dict(
        zip(
            VGG16_CONV_NAMES,
            (64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512),
            strict=True,
        )
    )
)

# Table VI, "Number of Kernels, After Pruning".
VGG16_PAPER_PLAN: Mapping[str, int] = MappingProxyType(
    dict(
        zip(
            VGG16_CONV_NAMES,
            (24, 22, 41, 51, 108, 89, 111, 184, 276, 228, 512, 512, 512),
            strict=True,
        )
    )
)

NAMED_PLANS: Mapping[str, Mapping[str, int]] = MappingProxyType(
    {"full": VGG16_FULL_PLAN, "paper": VGG16_PAPER_PLAN}
)


def resolve_plan(plan: str | Mapping[str, int] | None) -> dict[str, int]:
    """Turn a plan name, a partial mapping or None into a full, validated VGG16 plan.

    A mapping may name only some layers; the others keep VGG16's full width.
    """
    if plan is None:
        return dict(VGG16_FULL_PLAN)
    if isinstance(plan, str):
        try:
            return dict(NAMED_PLANS[plan])
        except KeyError:
            raise PlanError(
                f"unknown channel plan '{plan}'; named plans: {', '.join(NAMED_PLANS)}."
            ) from None
    unknown = sorted(set(plan) - set(VGG16_CONV_NAMES))
    if unknown:
        raise PlanError(
            f"channel plan names layer(s) {', '.join(unknown)} that VGG16 does not have; "
            f"its conv layers are {', '.join(VGG16_CONV_NAMES)}."
        )
    resolved = dict(VGG16_FULL_PLAN)
    for name, kept in plan.items():
        full = VGG16_FULL_PLAN[name]
        if isinstance(kept, bool) or not isinstance(kept, int) or not 1 <= kept <= full:
            raise PlanError(
                f"channel plan: {name} = {kept!r}, but it must be a whole number of output "
                f"channels between 1 and {full} (VGG16's full width for that layer)."
            )
        resolved[name] = kept
    return resolved

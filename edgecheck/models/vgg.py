"""VGG16 (Table II of the paper), at full width or built from a per-layer channel plan.

Layer names follow the paper (conv1_1 ... conv5_3, fc6 ... fc8) so that per-layer reports
line up with Table VI. The layout is torchvision's ``vgg16`` (no batch norm), including the
adaptive 7x7 average pool, which is the identity at 224x224.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping

import torch
from torch import nn

from edgecheck.models._build import seeded_construction
from edgecheck.models.plans import VGG16_CONV_NAMES, resolve_plan
from edgecheck.models.shapes import VGG16_INPUT_SHAPE

_BLOCK_ENDS = {"conv1_2", "conv2_2", "conv3_3", "conv4_3", "conv5_3"}


class VGG16(nn.Module):
    """VGG16 whose conv widths come from `plan` (layer name -> output channels)."""

    def __init__(self, plan: Mapping[str, int], num_classes: int = 1000) -> None:
        super().__init__()
        self.plan = dict(plan)
        layers: OrderedDict[str, nn.Module] = OrderedDict()
        in_channels = VGG16_INPUT_SHAPE[0]
        for name in VGG16_CONV_NAMES:
            out_channels = self.plan[name]
            layers[name] = nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1)
            layers[name.replace("conv", "relu")] = nn.ReLU(inplace=True)
            if name in _BLOCK_ENDS:
                layers[f"pool{name[4]}"] = nn.MaxPool2d(kernel_size=2, stride=2)
            in_channels = out_channels
        self.features = nn.Sequential(layers)
        self.avgpool = nn.AdaptiveAvgPool2d((7, 7))
        self.classifier = nn.Sequential(
            OrderedDict(
                [
                    ("fc6", nn.Linear(in_channels * 7 * 7, 4096)),
                    ("relu6", nn.ReLU(inplace=True)),
                    ("drop6", nn.Dropout()),
                    ("fc7", nn.Linear(4096, 4096)),
                    ("relu7", nn.ReLU(inplace=True)),
                    ("drop7", nn.Dropout()),
                    ("fc8", nn.Linear(4096, num_classes)),
                ]
            )
        )
        self._init_weights()

    def _init_weights(self) -> None:
        # torchvision's VGG initialisation, so activations keep a sane scale through 13 convs.
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.Linear):
                nn.init.normal_(module.weight, 0, 0.01)
                nn.init.zeros_(module.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x)
        x = self.avgpool(x)
        return self.classifier(torch.flatten(x, 1))


def vgg16(
    plan: str | Mapping[str, int] | None = None,
    num_classes: int = 1000,
    device: str | torch.device | None = None,
    seed: int | None = 0,
) -> VGG16:
    """Build VGG16 in eval mode.

    Args:
        plan: ``None`` or ``"full"`` for the original widths, ``"paper"`` for Table VI's
            pruned widths, or a mapping of some conv layer names to output channel counts.
        num_classes: width of fc8 (ImageNet's 1000 by default).
        device: where to allocate; ``"meta"`` allocates nothing (shapes only).
        seed: seed of the deterministic random initialisation (no pretrained weights ship).
    """
    resolved = resolve_plan(plan)
    with seeded_construction(device, seed):
        model = VGG16(resolved, num_classes=num_classes)
    return model.eval()

"""The face-quality-assessment (FQA) CNN of the paper's Table I.

Table I fixes: a 64x64x1 input; CONV1 3x3x12; an inception block of four paths (1x1, 3x3,
5x5 convolutions and max pooling); CONV2 3x3x96; CONV3 3x3x128; FC1 128; FC2 64; a sigmoid
output. The paper does not give the inception path widths or where the network pools, so
edgecheck chooses (and documents here and in ARCHITECTURE.md):

* every convolution is "same"-padded and followed by ReLU;
* a 2x2 max pool after CONV1, after the inception block, after CONV2 and after CONV3
  (64 -> 32 -> 16 -> 8 -> 4), so FC1 sees 4x4x128 = 2048 features;
* inception paths (GoogLeNet style, without the 1x1 reductions, which a 12-channel input
  does not need): 1x1 -> 16, 3x3 -> 24, 5x5 -> 8, 3x3 max pool (stride 1) + 1x1 -> 8;
  concatenated: 56 channels;
* a final linear layer 64 -> 1 before the sigmoid (Table I's "sigmoid" needs one output).

That is 25.6 M MACs per image by Eq. 1 (convolutions 25.3 M, linear layers 0.27 M), "light"
in the paper's sense and near the 25 M the foundation issue asks for.
"""

from __future__ import annotations

from collections import OrderedDict

import torch
from torch import nn

from edgecheck.models._build import seeded_construction

INCEPTION_WIDTHS = {"branch1x1": 16, "branch3x3": 24, "branch5x5": 8, "branch_pool": 8}


class Inception(nn.Module):
    """Four parallel paths over the same input, concatenated along channels."""

    def __init__(self, in_channels: int, widths: dict[str, int] = INCEPTION_WIDTHS) -> None:
        super().__init__()
        self.branch1x1 = nn.Conv2d(in_channels, widths["branch1x1"], kernel_size=1)
        self.branch3x3 = nn.Conv2d(in_channels, widths["branch3x3"], kernel_size=3, padding=1)
        self.branch5x5 = nn.Conv2d(in_channels, widths["branch5x5"], kernel_size=5, padding=2)
        self.branch_pool = nn.Sequential(
            OrderedDict(
                [
                    ("pool", nn.MaxPool2d(kernel_size=3, stride=1, padding=1)),
                    ("proj", nn.Conv2d(in_channels, widths["branch_pool"], kernel_size=1)),
                ]
            )
        )
        self.out_channels = sum(widths.values())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        paths = [self.branch1x1(x), self.branch3x3(x), self.branch5x5(x), self.branch_pool(x)]
        return torch.relu(torch.cat(paths, dim=1))


class FQACNN(nn.Module):
    """Table I's FQA CNN: one 64x64 grayscale face in, one quality score in (0, 1) out."""

    def __init__(self) -> None:
        super().__init__()
        inception = Inception(12)
        self.features = nn.Sequential(
            OrderedDict(
                [
                    ("conv1", nn.Conv2d(1, 12, kernel_size=3, padding=1)),
                    ("relu1", nn.ReLU(inplace=True)),
                    ("pool1", nn.MaxPool2d(2)),
                    ("inception", inception),
                    ("pool2", nn.MaxPool2d(2)),
                    ("conv2", nn.Conv2d(inception.out_channels, 96, kernel_size=3, padding=1)),
                    ("relu2", nn.ReLU(inplace=True)),
                    ("pool3", nn.MaxPool2d(2)),
                    ("conv3", nn.Conv2d(96, 128, kernel_size=3, padding=1)),
                    ("relu3", nn.ReLU(inplace=True)),
                    ("pool4", nn.MaxPool2d(2)),
                ]
            )
        )
        self.head = nn.Sequential(
            OrderedDict(
                [
                    ("fc1", nn.Linear(128 * 4 * 4, 128)),
                    ("relu_fc1", nn.ReLU(inplace=True)),
                    ("fc2", nn.Linear(128, 64)),
                    ("relu_fc2", nn.ReLU(inplace=True)),
                    ("score", nn.Linear(64, 1)),
                    ("sigmoid", nn.Sigmoid()),
                ]
            )
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.flatten(self.features(x), 1))


def fqa_cnn(device: str | torch.device | None = None, seed: int | None = 0) -> FQACNN:
    """Build the FQA CNN in eval mode with deterministic random weights.

    Args:
        device: where to allocate; ``"meta"`` allocates nothing.
        seed: seed of the initialisation.
    """
    with seeded_construction(device, seed):
        model = FQACNN()
    return model.eval()

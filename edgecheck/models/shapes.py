"""The paper's models' input shapes (without the batch axis), importable without torch."""

from __future__ import annotations

FQA_INPUT_SHAPE = (1, 64, 64)  # Table I: 64x64 grey face crops
VGG16_INPUT_SHAPE = (3, 224, 224)  # Table II: 224x224 RGB

"""The shipped weights' training settings, importable without numpy or torch (the CLI's help)."""

from __future__ import annotations

DEFAULT_EPOCHS = 12
DEFAULT_IMAGES_PER_EPOCH = 4096

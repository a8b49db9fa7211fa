"""Options shared by the pytest plugin and the CLI, defined once.

`add_profile_option(addoption, prefix)` is called with ``"--edgecheck-"`` by the plugin and
``"--"`` by the CLI, so both spell, parse and document the option the same way.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

PROFILE_CHOICES = ("tx2", "gpu", "cpu")


def parse_profile(value: str) -> str:
    """argparse `type=` for a device profile; rejects anything but tx2, gpu, cpu."""
    lowered = value.strip().lower()
    if lowered not in PROFILE_CHOICES:
        raise argparse.ArgumentTypeError(
            f"profile {value!r} is not one of {', '.join(PROFILE_CHOICES)}"
        )
    return lowered


def add_profile_option(addoption: Callable[..., Any], prefix: str) -> None:
    addoption(
        f"{prefix}profile",
        dest="edgecheck_profile",
        type=parse_profile,
        default=None,
        metavar="{tx2,gpu,cpu}",
        help=(
            "device profile to judge claims against, overriding detection and the "
            "EDGECHECK_PROFILE variable (tx2: Jetson; gpu: discrete CUDA GPU; cpu: anything)"
        ),
    )

"""Options shared by the pytest plugin and the CLI, defined once.

`add_profile_option(addoption, prefix)` is called with ``"--edgecheck-"`` by the plugin and
``"--"`` by the CLI, so both spell, parse and document the option the same way.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

from edgecheck.identity import PROFILES as PROFILE_CHOICES


def parse_profile(value: str) -> str:
    """argparse `type=` for a device profile; rejects anything but tx2, orin, gpu, cpu."""
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
        metavar="{" + ",".join(PROFILE_CHOICES) + "}",
        help=(
            "device profile to judge claims against, overriding detection and the "
            "EDGECHECK_PROFILE variable (tx2: Jetson TX2; orin: Jetson Orin; gpu: discrete "
            "CUDA GPU; cpu: anything)"
        ),
    )


def parse_directory(value: str) -> str:
    """argparse `type=` for a folder that may not exist yet; rejects an existing file."""
    from pathlib import Path

    if not value.strip():
        raise argparse.ArgumentTypeError("the baselines folder must not be empty")
    if Path(value).is_file():
        raise argparse.ArgumentTypeError(
            f"{value!r} is a file; give the folder that holds <profile>.json baseline files"
        )
    return value


def add_baseline_options(
    addoption: Callable[..., Any], prefix: str, *, update: bool = True
) -> None:
    """``{prefix}baselines DIR`` and (with `update`) ``{prefix}update-baselines``,
    ``{prefix}update-timing-baselines`` and ``{prefix}require-timing``.

    The plugin calls it with ``"--edgecheck-"``, the CLI with ``"--"`` and ``update=False``
    (``edgecheck baselines update`` is its own sub-command).
    """
    addoption(
        f"{prefix}baselines",
        dest="edgecheck_baselines",
        type=parse_directory,
        default=None,
        metavar="DIR",
        help=(
            "folder of the stored baselines, one <profile>.json per device profile "
            "(default: baselines/ under the rootdir, or the current folder for the CLI)"
        ),
    )
    if not update:
        return
    addoption(
        f"{prefix}update-baselines",
        dest="edgecheck_update_baselines",
        action="store_true",
        default=False,
        help=(
            "write the metrics measured in this run into the baseline file (others are kept); "
            "refused when any test failed or errored. Regressions are reported, not failed"
        ),
    )
    addoption(
        f"{prefix}update-timing-baselines",
        dest="edgecheck_update_timing_baselines",
        action="store_true",
        default=False,
        help=(
            "like --edgecheck-update-baselines, but write only the timing metrics (latency, "
            "fps) measured in this run, for this machine; exact and ratio metrics are judged "
            "as usual and not written ('edgecheck baselines rebase' runs pytest with it)"
        ),
    )
    addoption(
        f"{prefix}require-timing",
        dest="edgecheck_require_timing",
        action=argparse.BooleanOptionalAction,
        default=None,
        help=(
            "fail the run when a stored timing metric could not be compared here (another "
            "fingerprint: a runtime upgrade, another runner; or another calibration); the "
            "summary names the metrics and the field that differs. Default: require_timing "
            "in [tool.edgecheck], else off (--no-edgecheck-require-timing turns it off)"
        ),
    )

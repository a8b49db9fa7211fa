"""Environment variables that edgecheck reads, parsed in one typed place."""

from __future__ import annotations

import os

from edgecheck.errors import ConfigError

PROFILE = "EDGECHECK_PROFILE"  # force the device profile: tx2 | orin | gpu | cpu
ENGINE_CACHE = "EDGECHECK_ENGINE_CACHE"  # folder for built TensorRT engines


def get_choice(name: str, choices: tuple[str, ...]) -> str | None:
    """The value of variable `name` if set and non-empty, checked against `choices`."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return None
    value = raw.lower()
    if value not in choices:
        raise ConfigError(
            f"environment variable {name}={raw!r} is not one of {', '.join(choices)}; "
            f"set it to one of those or unset it."
        )
    return value

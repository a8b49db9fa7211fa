"""A project's ``[tool.edgecheck]`` table in its ``pyproject.toml``.

Today it holds claim overrides (``[tool.edgecheck.claims."<id>"]``, see `edgecheck.claims`).
Unknown keys are an error naming the file, so a typo never silently disables a check.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from edgecheck.errors import ConfigError

if TYPE_CHECKING:
    from edgecheck.claims import ClaimRegistry

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on 3.10 only
    import tomli as tomllib

KNOWN_KEYS = frozenset({"claims", "profile"})


@dataclass(frozen=True)
class ProjectConfig:
    """What ``[tool.edgecheck]`` says; empty when there is no such table."""

    path: Path | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)
    profile: str | None = None

    def registry(self) -> ClaimRegistry:
        """The claim registry with this project's overrides applied."""
        from edgecheck.claims import ClaimRegistry

        registry = ClaimRegistry()
        if self.claims:
            registry = registry.with_overrides(self.claims, origin=str(self.path))
        return registry


def find_pyproject(start: Path) -> Path | None:
    """The nearest ``pyproject.toml`` at or above `start`."""
    start = start.resolve()
    for folder in (start, *start.parents):
        candidate = folder / "pyproject.toml"
        if candidate.is_file():
            return candidate
    return None


def load_config(path: Path | None) -> ProjectConfig:
    """Read ``[tool.edgecheck]`` from `path` (a pyproject.toml); None gives the defaults."""
    if path is None:
        return ProjectConfig()
    try:
        with open(path, "rb") as fh:
            data = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc}); fix the syntax there.") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror}).") from None
    table = data.get("tool", {}).get("edgecheck", {})
    if not isinstance(table, Mapping):
        raise ConfigError(f"{path}: [tool.edgecheck] must be a table.")
    unknown = set(table) - KNOWN_KEYS
    if unknown:
        raise ConfigError(
            f"{path}: unknown key(s) in [tool.edgecheck]: {', '.join(sorted(unknown))}; "
            f"known keys: {', '.join(sorted(KNOWN_KEYS))}."
        )
    claims = table.get("claims", {})
    if not isinstance(claims, Mapping):
        raise ConfigError(f"{path}: [tool.edgecheck.claims] must be a table of claim ids.")
    profile = table.get("profile")
    if profile is not None and not isinstance(profile, str):
        raise ConfigError(f"{path}: [tool.edgecheck] profile = {profile!r} must be a string.")
    config = ProjectConfig(path=path, claims=dict(claims), profile=profile)
    config.registry()  # validate the overrides now, so errors surface at start-up
    return config

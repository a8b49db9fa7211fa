"""A registry of models by name, so tests, the CLI and users' own projects share one lookup.

The paper's two models are registered when `edgecheck.models` is imported; a team adds its
own with `register_model()` or under ``[tool.edgecheck.models]`` in its pyproject.toml, which
the pytest plugin and the CLI read (`edgecheck.config`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from edgecheck.errors import ModelError

ModelFactory = Callable[..., Any]  # (**options) -> torch.nn.Module


@dataclass(frozen=True)
class ModelSpec:
    """What edgecheck needs to know about a model besides its code.

    Attributes:
        name: registry key, e.g. ``"vgg16"``.
        factory: builds an ``nn.Module``; accepts ``device=`` and the model's own options.
        input_shape: one example's shape without the batch axis, e.g. ``(3, 224, 224)``.
        description: one line for listings.
        source: where the architecture comes from (paper table, user project).
        options: option names the factory accepts besides ``device`` (e.g. ``("plan",)``).
    """

    name: str
    factory: ModelFactory
    input_shape: tuple[int, ...]
    description: str = ""
    source: str = ""
    options: tuple[str, ...] = field(default=())

    def build(self, **options: Any) -> Any:
        """Build the model; unknown options are an error naming the accepted ones."""
        unknown = set(options) - set(self.options) - {"device", "seed"}
        if unknown:
            accepted = ", ".join(("device", "seed", *self.options))
            raise ModelError(
                f"model '{self.name}' does not take option(s) {', '.join(sorted(unknown))}; "
                f"it accepts: {accepted}."
            )
        return self.factory(**options)


_REGISTRY: dict[str, ModelSpec] = {}


def register_model(spec: ModelSpec, *, replace: bool = False) -> ModelSpec:
    """Add `spec` to the registry. Re-registering a name needs ``replace=True``."""
    if spec.name in _REGISTRY and not replace:
        raise ModelError(
            f"a model named '{spec.name}' is already registered; pick another name "
            f"or pass replace=True to override it."
        )
    if not spec.input_shape or any(int(d) <= 0 for d in spec.input_shape):
        raise ModelError(
            f"model '{spec.name}': input_shape {spec.input_shape!r} must be a non-empty "
            f"tuple of positive sizes without the batch axis, e.g. (3, 224, 224)."
        )
    _REGISTRY[spec.name] = spec
    return spec


def get_model_spec(name: str) -> ModelSpec:
    """The spec registered as `name`; an unknown name lists the known ones."""
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY)) or "(none)"
        raise ModelError(f"unknown model '{name}'; registered models: {known}.") from None


def available_models() -> list[str]:
    """Names of all registered models, sorted."""
    return sorted(_REGISTRY)

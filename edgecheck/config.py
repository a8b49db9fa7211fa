"""A project's ``[tool.edgecheck]`` table in its ``pyproject.toml``.

It holds claim overrides (``[tool.edgecheck.claims."<id>"]``, see `edgecheck.claims`), the
profile, ``require_timing`` (fail a pytest run whose stored timings could not be compared on
this machine, as ``--edgecheck-require-timing``), ``history_branch`` (the branch whose
passing runs ``--edgecheck-history`` records and judges against; default ``main``) and
``history_accept`` (commits whose slowdown was decided on: the creep rule's level restarts
there), and the project's own models
(``[tool.edgecheck.models.<name>]``: an ONNX file or a ``module:function`` torch factory, and
the input shape), over which the plugin parametrizes tests that take the
``edgecheck_user_model`` fixture, and which the CLI lists and takes by name
(`project_model`). Unknown keys are an error naming the file, so a typo never silently
disables a check.
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

KNOWN_KEYS = frozenset(
    {"claims", "profile", "models", "require_timing", "history_branch", "history_accept"}
)
# The models `edgecheck.models` registers on import, named here without importing torch (a
# unit test keeps the two in step); a project model may not take one of these names.
BUILTIN_MODELS = ("fqa", "vgg16")
MODEL_KEYS = frozenset({"onnx", "factory", "input_shape", "description"})


@dataclass(frozen=True)
class UserModel:
    """One model of ``[tool.edgecheck.models.<name>]``.

    Attributes:
        name: the table's name, used as the test parameter id.
        input_shape: one example's shape without the batch axis.
        onnx: the ONNX file (resolved against the pyproject's folder), or None.
        factory: ``"package.module:function"`` returning a torch module, or None.
        root: the pyproject's folder (put on ``sys.path`` to import the factory).
        description: free text.
    """

    name: str
    input_shape: tuple[int, ...]
    onnx: Path | None = None
    factory: str | None = None
    root: Path = Path(".")
    description: str = ""

    def source(self) -> str:
        """What `edgecheck.backends.make_runner` takes: the ONNX path or the registered name."""
        if self.onnx is not None:
            return str(self.onnx)
        self._register()
        return self.name

    def origin(self, cwd: Path | None = None) -> str:
        """Where it comes from, for listings: ``onnx: models/x.onnx (pyproject.toml)``.

        The ONNX path as written (relative to the pyproject), the pyproject relative to `cwd`.
        """
        import os

        pyproject = self.root / "pyproject.toml"
        where = os.path.relpath(pyproject, cwd) if cwd is not None else str(pyproject)
        if self.onnx is None:
            return f"factory: {self.factory} ({where})"
        onnx = (
            self.onnx.relative_to(self.root) if self.onnx.is_relative_to(self.root) else self.onnx
        )
        return f"onnx: {onnx} ({where})"

    def build(self, **options: Any) -> Any:
        """The torch module (factory models only)."""
        if self.factory is None:
            raise ConfigError(
                f"model '{self.name}' is an ONNX file ({self.onnx}); it has no torch factory."
            )
        from edgecheck.models import build_model

        self._register()
        return build_model(self.name, **options)

    def count_macs(self) -> Any:
        """MACs by Eq. 1 (`edgecheck.macs.MACReport`), of the ONNX graph or the torch forward."""
        from edgecheck.macs import count_macs, count_onnx_macs

        if self.onnx is not None:
            return count_onnx_macs(self.onnx)
        return count_macs(self.build(), self.input_shape)

    def _register(self) -> None:
        import importlib

        from edgecheck.errors import ModelError
        from edgecheck.models import ModelSpec, get_model_spec, register_model

        try:
            get_model_spec(self.name)
            return
        except ModelError:
            pass
        module_name, _, function = (self.factory or "").partition(":")
        if str(self.root) not in sys.path:
            sys.path.insert(0, str(self.root))
        try:
            fn = getattr(importlib.import_module(module_name), function)
        except (ImportError, AttributeError) as exc:
            raise ConfigError(
                f"model '{self.name}': factory '{self.factory}' cannot be imported from "
                f"{self.root} ({exc}); give 'package.module:function'."
            ) from None

        def factory(device: str = "cpu", seed: int = 0, **options: Any) -> Any:
            import torch

            torch.manual_seed(seed)
            return fn(**options).to(device).eval()

        register_model(ModelSpec(self.name, factory, self.input_shape, self.description,
                                 source=f"{self.root / 'pyproject.toml'}"))  # fmt: skip


def _parse_models(raw: Any, path: Path) -> tuple[UserModel, ...]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{path}: [tool.edgecheck.models] must be a table of model names.")
    models = []
    for name, table in raw.items():
        where = f"{path}: [tool.edgecheck.models.{name}]"
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where} must be a table with onnx or factory, and input_shape.")
        unknown = sorted(set(table) - MODEL_KEYS)
        if unknown:
            raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}; known: "
                              f"{', '.join(sorted(MODEL_KEYS))}.")  # fmt: skip
        if ("onnx" in table) == ("factory" in table):
            raise ConfigError(f"{where}: give exactly one of onnx = \"model.onnx\" or "
                              f"factory = \"package.module:function\".")  # fmt: skip
        factory = table.get("factory")
        if factory is not None and (not isinstance(factory, str) or ":" not in factory):
            raise ConfigError(
                f"{where}: factory = {factory!r} must read 'package.module:function'."
            )
        onnx = table.get("onnx")
        if onnx is not None and not isinstance(onnx, str):
            raise ConfigError(f"{where}: onnx = {onnx!r} must be a path to an .onnx file.")
        shape = table.get("input_shape")
        if not (isinstance(shape, list) and shape and all(
            isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape
        )):  # fmt: skip
            raise ConfigError(f"{where}: input_shape = {shape!r} must be positive sizes without "
                              f"the batch axis, e.g. [3, 224, 224].")  # fmt: skip
        models.append(UserModel(
            name=str(name), input_shape=tuple(shape),
            onnx=(path.parent / onnx) if onnx is not None else None, factory=factory,
            root=path.parent, description=str(table.get("description", "")),
        ))  # fmt: skip
    return tuple(models)


@dataclass(frozen=True)
class ProjectConfig:
    """What ``[tool.edgecheck]`` says; empty when there is no such table."""

    path: Path | None = None
    claims: Mapping[str, Any] = field(default_factory=dict)
    profile: str | None = None
    models: tuple[UserModel, ...] = ()
    require_timing: bool = False
    history_branch: str = "main"
    history_accept: tuple[str, ...] = ()
    table_present: bool = False  # the pyproject has a [tool.edgecheck] table

    def registry(self) -> ClaimRegistry:
        """The claim registry with this project's overrides applied."""
        from edgecheck.claims import ClaimRegistry

        registry = ClaimRegistry()
        if self.claims:
            registry = registry.with_overrides(self.claims, origin=str(self.path))
        return registry


def project_model(name: str, start: Path | None = None) -> UserModel | None:
    """The model `name` of the project the CLI runs in, or None (a built-in name, a file).

    The project is the nearest pyproject.toml at or above `start` (default: the current
    directory), as pytest walks up to its rootdir. A name that is an existing file or ends in
    ``.onnx`` is a file, and no pyproject is read. A project model with a built-in model's name
    is an error (the listing and the lookups would disagree on which one it means).
    """
    if name.endswith(".onnx") or Path(name).is_file():
        return None
    project = load_config(find_pyproject(start or Path.cwd()))
    check_model_names(project)
    return next((m for m in project.models if m.name == name), None)


def check_model_names(project: ProjectConfig) -> None:
    """Raise `ConfigError` when a project model takes a built-in model's name."""
    for model in project.models:
        if model.name in BUILTIN_MODELS:
            raise ConfigError(
                f"{project.path}: [tool.edgecheck.models.{model.name}] has the name of a "
                f"built-in model; rename the table (built-in: {', '.join(BUILTIN_MODELS)})."
            )


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
    models = _parse_models(table.get("models", {}), path)
    require_timing = table.get("require_timing", False)
    if not isinstance(require_timing, bool):
        raise ConfigError(
            f"{path}: [tool.edgecheck] require_timing = {require_timing!r} must be true or false."
        )
    history_branch = table.get("history_branch", "main")
    if not isinstance(history_branch, str) or not history_branch:
        raise ConfigError(
            f"{path}: [tool.edgecheck] history_branch = {history_branch!r} must be a branch "
            f'name, e.g. "main".'
        )
    accept = table.get("history_accept", [])
    if not isinstance(accept, list) or not all(isinstance(c, str) and c for c in accept):
        raise ConfigError(
            f"{path}: [tool.edgecheck] history_accept = {accept!r} must be a list of commits, "
            f'e.g. ["3f2a9c1"].'
        )
    config = ProjectConfig(path=path, claims=dict(claims), profile=profile, models=models,
                           require_timing=require_timing, history_branch=history_branch,
                           history_accept=tuple(accept), table_present="edgecheck" in
                           data.get("tool", {}))  # fmt: skip
    config.registry()  # validate the overrides now, so errors surface at start-up
    return config

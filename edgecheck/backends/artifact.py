"""`ModelArtifact`: the one handle a runner is built from.

A model reaches a runner as "this model, this precision, this input shape", whatever it came
from: a registered name (`edgecheck.models`), a torch factory (a picklable callable returning
an ``nn.Module``), an ``nn.Module`` in hand, or an ONNX file. The handle is a frozen,
picklable dataclass, so worker processes (`edgecheck.bench.cores.RunnerSpec`) receive the
same object the caller built.

The ONNX runtimes need a file. `ModelArtifact.exported` writes it once per content, keyed by a
hash of the module's structure, weights and input shape, into a cache folder: the caller's,
or one temporary folder per process (removed at exit). Several runners or workers of one
model then load one file instead of exporting it each (VGG16: 8 s and 528 MB an export).
`make_runner` given an artifact that has no file yet keeps the lighter path: a private
export that is deleted as soon as the session has loaded it (`TemporaryOnnx`).

Nothing heavy is imported here: torch and onnx load inside the functions that need them.
"""

from __future__ import annotations

import atexit
import functools
import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from edgecheck.backends.base import PRECISIONS, BackendError
from edgecheck.backends.source import onnx_input
from edgecheck.export import DEFAULT_OPSET, INPUT_NAME


@dataclass(frozen=True)
class ModelArtifact:
    """A model as runners take it; build one with the class methods, or `ModelArtifact.of`.

    Attributes:
        name: the registered name, the factory's given name, or the ONNX file's stem; runner
            configurations and timing labels carry it.
        input_shape: one example's shape without the batch axis.
        precision: the precision its weights are stored in: ``"fp32"``, or ``"fp16"`` /
            ``"int8"`` for a converted or quantized ONNX file. `make_runner` runs this
            precision unless told another (torch runs a fp32 model as fp16 on CUDA).
        onnx_path: the ONNX file: the one it was built from, or its cached export; ``None``
            until `exported`.
        registered: True when `name` is a registered model built with `options` and `seed`.
        options: build options for a registered model (e.g. ``{"plan": "paper"}``).
        seed: weight seed for a registered model (same seed, same weights).
        factory: builds the torch module of a factory artifact; picklable (a module-level
            function or a `functools.partial` of one).
        input_name: the ONNX graph's input name (``"input"`` for edgecheck's own exports).
        cached: True when `onnx_path` is an export edgecheck made (`discard` may delete it).
    """

    name: str
    input_shape: tuple[int, ...]
    precision: str = "fp32"
    onnx_path: Path | None = None
    registered: bool = False
    options: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    factory: Callable[[], Any] | None = None
    input_name: str = INPUT_NAME
    cached: bool = False

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise BackendError(
                f"model {self.name!r}: precision {self.precision!r}; use one of "
                f"{', '.join(PRECISIONS)}."
            )

    # -- building one ------------------------------------------------------------------------

    @classmethod
    def from_registered(
        cls,
        name: str,
        *,
        options: Mapping[str, Any] | None = None,
        seed: int = 0,
        input_shape: tuple[int, ...] | None = None,
    ) -> ModelArtifact:
        """A registered model; an unknown name raises the registry's `ModelError`."""
        from edgecheck.models import get_model_spec

        spec = get_model_spec(name)
        shape = tuple(input_shape) if input_shape else tuple(spec.input_shape)
        return cls(spec.name, shape, registered=True, options=dict(options or {}), seed=seed)

    @classmethod
    def from_factory(
        cls, name: str, factory: Callable[[], Any], input_shape: tuple[int, ...]
    ) -> ModelArtifact:
        """A torch model that `factory` builds on demand (e.g. `load_trained_fqa`)."""
        return cls(name, tuple(input_shape), factory=factory)

    @classmethod
    def from_module(
        cls,
        module: Any,
        input_shape: tuple[int, ...],
        *,
        name: str,
        cache: str | os.PathLike[str] | None = None,
    ) -> ModelArtifact:
        """An ``nn.Module`` in hand, exported now (the artifact does not keep the module).

        The module may be changed or dropped afterwards (a transform's 0.5 GB copy, say);
        the artifact runs on the ONNX runtimes. For the torch backend use `from_factory`.
        """
        return _export_cached(module, tuple(input_shape), name, cache)

    @classmethod
    def from_onnx(
        cls,
        path: str | os.PathLike[str],
        *,
        precision: str = "fp32",
        input_shape: tuple[int, ...] | None = None,
        name: str | None = None,
    ) -> ModelArtifact:
        """An existing ONNX file, stored in `precision` (`make_runner` checks the file).

        Raises:
            BackendError: the file does not exist, or its input shape is not fixed and
                `input_shape` is not given.
        """
        file = Path(path)
        if not file.is_file():
            raise BackendError(
                f"ONNX file '{file}' does not exist; give an existing .onnx file or a "
                f"registered model name (`edgecheck models` lists them; "
                f"edgecheck.models.available_models() in Python)."
            )
        input_name, file_shape = onnx_input(file, need_shape=not input_shape)
        shape = tuple(input_shape) if input_shape else file_shape
        return cls(name or file.stem, shape, precision, file, input_name=input_name)

    @classmethod
    def of(
        cls,
        model: str | os.PathLike[str] | ModelArtifact,
        *,
        options: Mapping[str, Any] | None = None,
        seed: int = 0,
        input_shape: tuple[int, ...] | None = None,
    ) -> ModelArtifact:
        """`model` as an artifact: an artifact itself, an ONNX path, or a registered name.

        Raises:
            BackendError: options or an input shape given with an artifact, options given
                with an ONNX file, or the file is missing; an unknown name raises the
                registry's `ModelError`.
        """
        if isinstance(model, ModelArtifact):
            if options or input_shape or seed:
                raise BackendError(
                    f"model {model.name!r} is a ModelArtifact: its options, seed and input "
                    f"shape are its own; build it with them instead of passing them here."
                )
            return model
        if looks_like_onnx_path(model):
            if options:
                raise BackendError(
                    f"model options {sorted(options)} apply to registered models only, not "
                    f"to the ONNX file '{model}'; drop them."
                )
            return cls.from_onnx(model, input_shape=input_shape)
        return cls.from_registered(str(model), options=options, seed=seed, input_shape=input_shape)

    # -- using one ---------------------------------------------------------------------------

    @property
    def has_torch(self) -> bool:
        """True when the torch module can be built (a registered or factory model)."""
        return self.registered or self.factory is not None

    def build_torch(self) -> Any:
        """A fresh torch module in eval mode (only for registered and factory models)."""
        if self.factory is not None:
            model = self.factory()
        elif self.registered:
            from edgecheck.models import build_model

            model = build_model(self.name, seed=self.seed, **dict(self.options))
        else:
            raise BackendError(
                f"the torch backend runs registered models only (or a "
                f"ModelArtifact.from_factory); '{self.onnx_path}' is an ONNX file. Use "
                f"backend='onnxruntime' (or 'tensorrt') for ONNX files, or register the torch "
                f"model with edgecheck.models.register_model()."
            )
        model.eval()
        return model

    def exported(self, cache: str | os.PathLike[str] | None = None) -> ModelArtifact:
        """This artifact with its ONNX file, exported once per content into `cache`.

        Args:
            cache: the folder for the file; default: this process's temporary folder.
        """
        if self.onnx_path is not None and self.onnx_path.is_file():
            return self
        done = _export_cached(self.build_torch(), self.input_shape, self.name, cache)
        return replace(self, onnx_path=done.onnx_path, cached=True)

    def onnx_file(self, cache: str | os.PathLike[str] | None = None) -> Path:
        """The ONNX file, exported first (once per content, into `cache`) where needed."""
        path = self.exported(cache).onnx_path
        if path is None:  # pragma: no cover - exported() always sets it
            raise BackendError(f"model {self.name!r}: the export left no file.")
        return path

    def discard(self) -> None:
        """Delete the cached export early (VGG16's is 528 MB); never a file given by a user."""
        if self.cached and self.onnx_path is not None:
            self.onnx_path.unlink(missing_ok=True)


def looks_like_onnx_path(model: str | os.PathLike[str]) -> bool:
    """True for a path-like object or a string naming a ``.onnx`` file."""
    return not isinstance(model, str) or model.lower().endswith(".onnx")


@functools.cache
def process_cache() -> Path:
    """This process's temporary folder of exports, made on first use and removed at exit."""
    folder = Path(tempfile.mkdtemp(prefix="edgecheck-artifacts-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def module_digest(module: Any, input_shape: tuple[int, ...], opset: int = DEFAULT_OPSET) -> str:
    """A hash of what an export of `module` holds: its layers, every tensor of its state
    (names, types, shapes, bytes), the input shape and the opset; 16 hex characters."""
    import torch

    digest = hashlib.sha256()
    digest.update(f"{type(module).__module__}.{type(module).__qualname__}\n{module}\n".encode())
    digest.update(f"{tuple(input_shape)} opset {opset}\n".encode())
    for key, tensor in module.state_dict().items():
        value = tensor.detach().cpu().contiguous()
        digest.update(f"{key} {value.dtype} {tuple(value.shape)}\n".encode())
        digest.update(value.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()[:16]


def _export_cached(
    module: Any, input_shape: tuple[int, ...], name: str, cache: str | os.PathLike[str] | None
) -> ModelArtifact:
    from edgecheck.export import export_onnx

    folder = Path(cache) if cache is not None else process_cache()
    # The file keeps the model's name as its stem: a runner given the path is named after it.
    path = folder / module_digest(module, input_shape) / f"{name}.onnx"
    if not path.is_file():  # export_onnx renames a finished file into place: never half-written
        export_onnx(module, input_shape, path)
    return ModelArtifact(name, input_shape, onnx_path=path, cached=True)


class TemporaryOnnx:
    """Loader: export an artifact's torch model to an ONNX file in a private temporary folder.

    Calling it returns the file's path; `cleanup` removes the folder. The file holds the
    weights (VGG16: about 528 MB), so runners call `cleanup` as soon as their session has
    loaded it.
    """

    def __init__(self, artifact: ModelArtifact) -> None:
        self.artifact = artifact
        self._dir: str | None = None
        self._path: Path | None = None

    def __call__(self) -> Path:
        if self._path is None:
            from edgecheck.export import export_onnx

            self._dir = tempfile.mkdtemp(prefix=f"edgecheck-{self.artifact.name}-")
            model = self.artifact.build_torch()
            self._path = export_onnx(
                model, self.artifact.input_shape, Path(self._dir) / f"{self.artifact.name}.onnx"
            )
        return self._path

    def cleanup(self) -> None:
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
        self._dir = None
        self._path = None

"""Backends: one runner interface, one module per runtime (torch, onnxruntime, TensorRT).

Use `make_runner` to build a runner for (model, backend, precision, batch size, threads)::

    from edgecheck.backends import make_runner

    with make_runner("fqa", "onnxruntime", batch_size=4, threads=2) as runner:
        scores = runner.infer(runner.example_input())

The model is a `ModelArtifact` (`backends/artifact.py`): a registered name, a torch factory,
an ``nn.Module`` or an ONNX file, as one picklable handle; a name or a path is shorthand for
one.

`backend_unavailable_reason` says in one line why a backend cannot run here (for skips);
`fastest_cpu_backend` names the runtime the CPU profile times with. Importing this package
loads numpy only: torch, onnxruntime, polygraphy and tensorrt load when a runner is built.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from edgecheck._imports import extra_install, is_available
from edgecheck.backends.artifact import ModelArtifact
from edgecheck.backends.base import PRECISIONS, BackendError, Runner, RunnerConfig


@dataclass(frozen=True)
class BackendInfo:
    """What edgecheck knows about one backend.

    Attributes:
        name: registry key (``"onnxruntime"``).
        description: one line for listings.
        devices: devices it can run on.
        precisions: precisions it can run (some need a matching ONNX file, see `make_runner`).
        unavailable: returns the one-line reason it cannot run here, or ``None``.
    """

    name: str
    description: str
    devices: tuple[str, ...]
    precisions: tuple[str, ...]
    unavailable: Callable[[], str | None]


def _module_reason(backend: str, needs: str, modules: tuple[str, ...], hint: str) -> str | None:
    missing = [m for m in modules if not is_available(m)]
    if not missing:
        return None
    verb = "is" if len(missing) == 1 else "are"
    return (
        f"{backend} backend: needs {needs}; {' and '.join(missing)} {verb} not installed ({hint})"
    )


def _torch_reason() -> str | None:
    return _module_reason("torch", "PyTorch", ("torch",), "pip install torch")


def _onnxruntime_reason() -> str | None:
    # onnx too: registered models are exported to ONNX before onnxruntime can load them.
    return _module_reason(
        "onnxruntime",
        "onnxruntime and onnx",
        ("onnxruntime", "onnx"),
        extra_install("cpu"),
    )


def _tensorrt_reason() -> str | None:
    from edgecheck.backends.tensorrt_backend import tensorrt_unavailable_reason

    return tensorrt_unavailable_reason()


BACKENDS: dict[str, BackendInfo] = {
    "torch": BackendInfo(
        "torch", "PyTorch eager (CPU; CUDA where present)", ("cpu", "cuda"), ("fp32", "fp16"),
        _torch_reason,
    ),
    "onnxruntime": BackendInfo(
        "onnxruntime",
        "ONNX Runtime (CPU execution provider; CUDA/TensorRT/ACL providers where installed)",
        ("cpu", "cuda"), PRECISIONS, _onnxruntime_reason,
    ),
    "tensorrt": BackendInfo(
        "tensorrt", "TensorRT through Polygraphy (CUDA GPUs, Jetson)", ("cuda",), PRECISIONS,
        _tensorrt_reason,
    ),
}  # fmt: skip


def _info(backend: str) -> BackendInfo:
    try:
        return BACKENDS[backend]
    except KeyError:
        raise BackendError(
            f"unknown backend {backend!r}; edgecheck has: {', '.join(BACKENDS)}."
        ) from None


def backend_unavailable_reason(backend: str) -> str | None:
    """Why `backend` cannot run on this machine, in one line; ``None`` when it can.

    The line names what is missing and which extra installs it, e.g. ``"tensorrt backend:
    needs TensorRT and Polygraphy; polygraphy is not installed (pip install pytest-edgecheck[trt])"``.
    It only looks for the packages (nothing is imported), so it is cheap enough for skips.

    Raises:
        BackendError: `backend` is not a known backend name.
    """
    return _info(backend).unavailable()


def available_backends() -> list[str]:
    """Names of the backends that can run here."""
    return [name for name, info in BACKENDS.items() if info.unavailable() is None]


def fastest_cpu_backend() -> str:
    """The runtime the CPU profile times with: onnxruntime when installed, else torch.

    onnxruntime's CPU provider runs both paper models several times faster than eager
    PyTorch on one thread (FQA CNN: about 3,000 vs 800 faces/s measured here).
    """
    return "onnxruntime" if _onnxruntime_reason() is None else "torch"


def _resolve_device(backend: str, device: str) -> str:
    if device != "auto":
        return device
    if backend == "tensorrt":
        return "cuda"
    if backend == "torch":
        from edgecheck.backends.torch_backend import cuda_available

        return "cuda" if cuda_available() else "cpu"
    import onnxruntime as ort

    from edgecheck.backends.onnxruntime_backend import GPU_PROVIDERS

    return "cuda" if set(GPU_PROVIDERS) & set(ort.get_available_providers()) else "cpu"


def make_runner(
    model: str | os.PathLike[str] | ModelArtifact,
    backend: str = "onnxruntime",
    precision: str | None = None,
    batch_size: int = 1,
    threads: int = 1,
    *,
    device: str = "auto",
    model_options: Mapping[str, Any] | None = None,
    seed: int = 0,
    input_shape: tuple[int, ...] | None = None,
    backend_options: Mapping[str, Any] | None = None,
) -> Runner:
    """Build an inactive runner for one configuration (activate it, or use ``with``).

    Args:
        model: a `ModelArtifact`, or as shorthand a registered model name (``"fqa"``,
            ``"vgg16"``) or a path to an ONNX file (`ModelArtifact.of`).
        backend: ``"torch"``, ``"onnxruntime"`` or ``"tensorrt"``. Default ``"onnxruntime"``.
        precision: ``"fp32"``, ``"fp16"`` or ``"int8"``. Default: the artifact's (``"fp32"``
            for a name or a path). onnxruntime and
            TensorRT run int8 from a quantized ONNX file only (TensorRT: Q/DQ nodes), and
            onnxruntime fp16 from an fp16 file; torch runs fp16 on CUDA only.
        batch_size: examples per `Runner.infer` call. Default 1.
        threads: CPU threads for the runtime. Default 1.
        device: ``"cpu"``, ``"cuda"`` or ``"auto"`` (CUDA when the backend can use a GPU
            here). Default ``"auto"``.
        model_options: build options for a registered model given by name, e.g.
            ``{"plan": "paper"}``.
        seed: weight seed for a registered model given by name; the same seed gives the same
            weights in every backend. Default 0.
        input_shape: per-example input shape of a model given by name or path; default: the
            registry's, or the ONNX file's.
        backend_options: extra keyword arguments for the backend's loader (onnxruntime:
            ``providers``, ``spinning``, ``spin_between_runs``, ``thread_affinities``,
            ``config_entries``;
            see `SessionFromOnnx`).

    Returns:
        An inactive `Runner`.

    Raises:
        BackendError: the backend is unknown or not installed, or cannot run this
            precision/device/model combination; the message says what to do instead.
    """
    info = _info(backend)
    reason = info.unavailable()
    if reason is not None:
        raise BackendError(reason)
    artifact = ModelArtifact.of(model, options=model_options, seed=seed, input_shape=input_shape)
    resolved_device = _resolve_device(backend, device)
    if resolved_device not in info.devices:
        raise BackendError(
            f"the {backend} backend runs on {', '.join(info.devices)}, not {resolved_device!r}."
        )
    config = RunnerConfig(
        model=artifact.name,
        backend=backend,
        precision=precision or artifact.precision,
        batch_size=batch_size,
        threads=threads,
        device=resolved_device,
    )
    options = dict(backend_options or {})
    if backend == "torch":
        return _make_torch(artifact, config, options)
    if backend == "onnxruntime":
        return _make_onnxruntime(artifact, config, options)
    return _make_tensorrt(artifact, config, options)


def _reject_options(config: RunnerConfig, options: Mapping[str, Any]) -> None:
    if options:
        raise BackendError(
            f"{config.describe()}: the {config.backend} backend takes no backend_options "
            f"(got {sorted(options)})."
        )


def _make_torch(artifact: ModelArtifact, config: RunnerConfig, options: dict[str, Any]) -> Runner:
    from edgecheck.backends.torch_backend import TorchRunner

    _reject_options(config, options)
    if not artifact.has_torch:
        artifact.build_torch()  # raises the "torch runs registered models only" message
    return TorchRunner(artifact.build_torch, config, artifact.input_shape)


def _check_onnx_precision(artifact: ModelArtifact, config: RunnerConfig, *, need_qdq: bool) -> None:
    """Reduced precision needs a file in that precision; nothing is converted silently."""
    from edgecheck.backends.source import onnx_has_fp16, onnx_quantization_format

    if config.precision == "fp32":
        return
    what = {
        "int8": "a quantized ONNX file (onnxruntime.quantization.quantize_static with "
        "QuantFormat.QDQ, or edgecheck's quantize stage)",
        "fp16": "an ONNX file converted to float16 (onnxconverter_common.float16)",
    }[config.precision]
    path = artifact.onnx_path
    if path is None or artifact.has_torch:
        raise BackendError(
            f"{config.describe()}: {config.backend} runs {config.precision} from {what}; "
            f"'{artifact.name}' is a registered torch model. Quantize/convert it and pass the "
            f"file's path as the model."
        )
    if config.precision == "int8":
        found = onnx_quantization_format(path)
        if found is None or (need_qdq and found != "qdq"):
            kind = "no quantization nodes" if found is None else f"{found} quantization"
            raise BackendError(
                f"{config.describe()}: '{path}' has {kind}; {config.backend} int8 needs {what}."
            )
    elif not onnx_has_fp16(path):
        raise BackendError(
            f"{config.describe()}: '{path}' has no float16 weights; fp16 needs {what}."
        )


ORT_OPTIONS = ("providers", "spinning", "spin_between_runs", "thread_affinities", "config_entries")


def _make_onnxruntime(
    artifact: ModelArtifact, config: RunnerConfig, options: dict[str, Any]
) -> Runner:
    from edgecheck.backends.artifact import TemporaryOnnx
    from edgecheck.backends.onnxruntime_backend import (
        OnnxruntimeRunner,
        SessionFromOnnx,
        choose_providers,
    )

    _check_onnx_precision(artifact, config, need_qdq=False)
    unknown = set(options) - set(ORT_OPTIONS)
    if unknown:
        raise BackendError(
            f"{config.describe()}: unknown onnxruntime backend_options {sorted(unknown)}; "
            f"it takes {', '.join(ORT_OPTIONS)}."
        )
    providers = options.pop("providers", None) or choose_providers(config.device)
    if artifact.onnx_path is not None:
        loader = SessionFromOnnx(
            artifact.onnx_path, threads=config.threads, providers=providers, **options
        )
        return OnnxruntimeRunner(loader, config, artifact.input_shape)
    export = TemporaryOnnx(artifact)
    loader = SessionFromOnnx(export, threads=config.threads, providers=providers, **options)
    return OnnxruntimeRunner(loader, config, artifact.input_shape, on_loaded=export.cleanup)


def _make_tensorrt(
    artifact: ModelArtifact, config: RunnerConfig, options: dict[str, Any]
) -> Runner:
    from edgecheck.backends.artifact import TemporaryOnnx
    from edgecheck.backends.tensorrt_backend import TensorrtRunner

    _reject_options(config, options)
    _check_onnx_precision(artifact, config, need_qdq=True)
    shape, name = artifact.input_shape, artifact.input_name
    if artifact.onnx_path is not None:
        return TensorrtRunner(artifact.onnx_path, config, shape, input_name=name)
    export = TemporaryOnnx(artifact)
    return TensorrtRunner(export, config, shape, input_name=name, on_loaded=export.cleanup)


__all__ = [
    "BACKENDS",
    "PRECISIONS",
    "BackendError",
    "BackendInfo",
    "ModelArtifact",
    "Runner",
    "RunnerConfig",
    "available_backends",
    "backend_unavailable_reason",
    "fastest_cpu_backend",
    "make_runner",
]

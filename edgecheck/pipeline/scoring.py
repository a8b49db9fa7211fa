"""The FQA stage: the shipped trained FQA CNN as an ONNX file per precision, and batched scoring.

`prepare_fqa` exports the trained weights (`edgecheck.weights.load_trained_fqa`) to ONNX once
per folder and derives the precision asked for the way `edgecheck.evaluation.quantization`
does: INT8 by `quantize_int8` (MinMax over the paper's 100 calibration images), FP16 by
`convert_fp16`. TensorRT (Polygraphy, `backends/tensorrt_backend.py`) builds its FP16 or
INT8 engine from the same files, as `make_runner` requires. `FQAScorer` feeds 64x64 crops to a runner of
fixed batch size, padding the last batch; the input is scaled to [0, 1] as in training
(`FaceSet.inputs`).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from edgecheck.errors import ConfigError

if TYPE_CHECKING:
    from edgecheck.backends import ModelArtifact

BACKENDS = ("onnxruntime", "tensorrt")


def trained_fqa() -> ModelArtifact:
    """The shipped trained FQA CNN (`load_trained_fqa`), built when a runner needs it."""
    from edgecheck.backends import ModelArtifact
    from edgecheck.models import FQA_INPUT_SHAPE
    from edgecheck.weights import load_trained_fqa

    return ModelArtifact.from_factory("fqa", load_trained_fqa, FQA_INPUT_SHAPE)


def prepare_fqa(
    workdir: str | os.PathLike[str], precision: str = "fp32", backend: str = "onnxruntime"
) -> Path:
    """The trained FQA CNN as an ONNX file for `backend` at `precision`, made once per folder.

    Args:
        workdir: folder for the ONNX files (reused when they exist).
        precision: ``"fp32"``, ``"fp16"`` or ``"int8"``.
        backend: ``"onnxruntime"`` or ``"tensorrt"``; both take the file in the precision
            they run (FP16 weights for fp16, Q/DQ nodes for int8: `make_runner` checks).

    Returns:
        The path to pass to `edgecheck.backends.make_runner`.
    """
    if backend not in BACKENDS:
        raise ConfigError(f"FQA backend {backend!r}: the pipeline runs {', '.join(BACKENDS)}.")
    if precision not in ("fp32", "fp16", "int8"):
        raise ConfigError(f"precision {precision!r}: use fp32, fp16 or int8.")
    from edgecheck.export import export_onnx
    from edgecheck.models import FQA_INPUT_SHAPE
    from edgecheck.weights import load_trained_fqa

    folder = Path(workdir)
    folder.mkdir(parents=True, exist_ok=True)
    fp32 = folder / "fqa_fp32.onnx"
    if not fp32.is_file():
        export_onnx(load_trained_fqa(), FQA_INPUT_SHAPE, fp32)
    if precision == "fp32":
        return fp32
    if precision == "fp16":
        from edgecheck.quantize import convert_fp16

        out = folder / "fqa_fp16.onnx"
        if not out.is_file():
            convert_fp16(fp32, out)
        return out
    from edgecheck.data import calibration_faces
    from edgecheck.quantize import quantize_int8

    out = folder / "fqa_int8_minmax.onnx"
    if not out.is_file():
        quantize_int8(fp32, out, calibration_faces(), method="minmax")
    return out


class FQAScorer:
    """Scores 64x64 uint8 face crops in batches with one active runner.

    Args:
        model: the ONNX file from `prepare_fqa` (or its `ModelArtifact`); None with backend
            ``"torch"``, which runs the trained CNN (`trained_fqa`) directly.
        backend, precision: as for `make_runner`.
        device: ``"cpu"`` or ``"cuda"`` (the torch backend; the others choose their own).
        batch_size: crops per inference call (the last batch is padded). Default 16.
        threads: runtime threads. Default 1 (the other stages need the other core).
    """

    def __init__(
        self, model: str | os.PathLike[str] | ModelArtifact | None, backend: str = "onnxruntime",
        precision: str = "fp32", batch_size: int = 16, threads: int = 1, device: str = "cpu",
    ) -> None:  # fmt: skip
        from edgecheck.backends import make_runner

        self.batch_size = batch_size
        if backend == "torch":
            # The trained CNN itself, no file: torch runs fp32 on the CPU, fp16 on CUDA (the
            # GPU path where TensorRT is absent).
            if model is not None:
                raise ConfigError(
                    f"{model}: the torch backend runs the shipped trained FQA CNN, not a file; "
                    f"drop the model or use --backend onnxruntime."
                )
            model = trained_fqa()
        elif model is None:
            raise ConfigError(f"the {backend} backend scores with an ONNX file (prepare_fqa).")
        self.runner = make_runner(
            model, backend, precision, batch_size=batch_size, threads=threads,
            device=device if backend == "torch" else "auto",
        )  # fmt: skip
        self._buffer = np.zeros((batch_size, 1, 64, 64), dtype=np.float32)

    def __enter__(self) -> FQAScorer:
        self.runner.activate()
        return self

    def __exit__(self, *exc: object) -> None:
        self.runner.deactivate()

    def score(self, crops: np.ndarray) -> np.ndarray:
        """Quality scores (float64, ``(N,)``) of uint8 crops ``(N, 64, 64)``, N <= batch size."""
        n = len(crops)
        if n > self.batch_size:
            raise ConfigError(f"{n} crops for a batch of {self.batch_size}.")
        buf = self._buffer
        np.divide(crops, np.float32(255.0), out=buf[:n, 0], casting="unsafe")
        buf[n:] = 0.0
        out = np.asarray(self.runner.infer(buf)).reshape(self.batch_size, -1)
        if out.shape[1] != 1:
            raise ConfigError(
                f"the scorer gives {out.shape[1]} values per crop; the pipeline needs one "
                f"quality score per crop (output N x 1)."
            )
        out = out[:, 0]
        return out[:n].astype(np.float64)

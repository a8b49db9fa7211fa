"""INT8 static quantization with calibration, through onnxruntime's quantization tools.

The steps are onnxruntime's own: `quant_pre_process` (shape inference and graph
optimization), then `quantize_static` in QDQ format (QuantizeLinear/DequantizeLinear pairs
around each quantized operator) with per-channel weights, its activation ranges calibrated by
running the FP32 model over calibration inputs, read through a `CalibrationDataReader`. The
calibration method is MinMax, Entropy (KL divergence over a 2048-bin histogram, as TensorRT's
entropy calibrator) or Percentile (onnxruntime's default: 99.999th percentile, 2048 bins).

The QDQ file is also what TensorRT 10+ builds INT8 engines from (explicit quantization: the
scales come from the Q/DQ nodes, no TensorRT calibrator), so one calibration serves both
runtimes; see `edgecheck.backends` for running it.

Types, ranges and the Q/DQ form come from `edgecheck.quantize.settings`: by default the form
this CPU's onnxruntime runs faithfully (S8S8 with INT8 dot products, U8U8 on x86 without
them, where 8-bit u8s8 kernels saturate), ``"tensorrt"`` for TensorRT's symmetric form, or
``"canonical"`` (the paper's S8S8, what ``quant.error`` measures).

Nothing is written unless quantization succeeds: the calibration data are checked first, the
work happens in a temporary folder next to the output, and the output appears by a rename.
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from edgecheck._imports import require
from edgecheck.data import FaceSet, load_face_folder
from edgecheck.quantize.metrics import QuantizationError
from edgecheck.quantize.settings import CANONICAL, INT8_TYPES, QuantSettings, settings_for

CALIBRATION_METHODS: tuple[str, ...] = ("minmax", "entropy", "percentile")
ACTIVATION_TYPES = INT8_TYPES
DEFAULT_PERCENTILE = 99.999
# Histogram bins of the Entropy method, as TensorRT's entropy calibrator uses. onnxruntime's
# own default for Entropy is 128 bins for 128 quantized bins, which leaves the KL search one
# candidate threshold (the full range): Entropy would silently equal MinMax.
DEFAULT_ENTROPY_BINS = 2048

CalibrationSource = np.ndarray | FaceSet | str | os.PathLike[str]


class ArrayCalibrationReader:
    """Feeds calibration inputs to onnxruntime's calibrator, `batch_size` at a time.

    onnxruntime's ``CalibrationDataReader`` accepts any object with ``get_next()`` (its
    ``__subclasshook__``), so this class needs no onnxruntime import to be defined.

    Args:
        inputs: float32 array ``(N, *input_shape)``.
        input_name: the model's input name. Default ``"input"``.
        batch_size: inputs per calibration run; the model must have a dynamic batch axis when
            it is above 1. Default 16.
    """

    def __init__(self, inputs: np.ndarray, input_name: str = "input", batch_size: int = 16) -> None:
        self.inputs = inputs
        self.input_name = input_name
        self.batch_size = max(1, int(batch_size))
        self._next = 0

    def get_next(self) -> dict[str, np.ndarray] | None:
        """The next ``{input_name: batch}``, or ``None`` at the end."""
        if self._next >= len(self.inputs):
            return None
        batch = self.inputs[self._next : self._next + self.batch_size]
        self._next += self.batch_size
        return {self.input_name: np.ascontiguousarray(batch, dtype=np.float32)}

    def rewind(self) -> None:
        """Start again from the first input."""
        self._next = 0

    def __len__(self) -> int:
        return -(-len(self.inputs) // self.batch_size)


@dataclass(frozen=True)
class QuantizedModel:
    """An INT8 QDQ model file and how it was made.

    Attributes:
        path: the quantized ONNX file.
        source: the FP32 ONNX file it came from.
        method: calibration method (``"minmax"``, ``"entropy"``, ``"percentile"``).
        settings: the Q/DQ form (types, ranges, symmetry, bias; `QuantSettings`).
        n_calibration: how many calibration inputs were used.
        excluded_nodes: nodes left in FP32.
        seconds: wall time of pre-processing, calibration and quantization.
    """

    path: Path
    source: Path
    method: str
    settings: QuantSettings
    n_calibration: int
    excluded_nodes: tuple[str, ...] = field(default_factory=tuple)
    seconds: float = 0.0

    @property
    def reduce_range(self) -> bool:
        return self.settings.reduce_range

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["path"], d["source"] = str(self.path), str(self.source)
        return d


def onnx_input(model_path: Path) -> tuple[str, tuple[int, ...]]:
    """The model's (first) input name and its per-example shape (without the batch axis).

    Raises:
        QuantizationError: the model has no input or a non-batch dimension is not fixed.
    """
    onnx = require("onnx", "reading an ONNX model's input")
    model = onnx.load(str(model_path), load_external_data=False)
    initializers = {t.name for t in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in initializers]
    if not inputs:
        raise QuantizationError(f"{model_path}: the model has no input.")
    first = inputs[0]
    dims = first.type.tensor_type.shape.dim[1:]
    if any(not d.HasField("dim_value") for d in dims):
        raise QuantizationError(
            f"{model_path}: input '{first.name}' has symbolic sizes beyond the batch axis; "
            f"export it with a fixed example shape."
        )
    return first.name, tuple(int(d.dim_value) for d in dims)


def calibration_inputs(
    calibration: CalibrationSource | None, input_shape: tuple[int, ...], *, model: Path
) -> np.ndarray:
    """Turn `calibration` into a checked float32 array ``(N, *input_shape)``.

    Args:
        calibration: an array ``(N, *input_shape)`` (float, the model's input scale), a
            `FaceSet` (scaled to [0, 1]) or a folder of images (see
            `edgecheck.data.load_face_folder`; 1-channel models only).
        input_shape: the model's per-example input shape.
        model: the model file, for messages.

    Raises:
        QuantizationError: no data, the wrong shape, or a NaN/Inf; `DataError` for a bad folder.
    """
    expected = "x".join(map(str, input_shape))
    if calibration is None:
        raise QuantizationError(
            f"quantizing {model} needs calibration inputs of shape (N, {expected}); the paper "
            f"calibrates on 100 images (edgecheck.data.calibration_faces())."
        )
    if isinstance(calibration, (str, os.PathLike)):
        if len(input_shape) != 3 or input_shape[0] != 1:
            raise QuantizationError(
                f"calibrating {model} from the image folder {calibration}: folders hold "
                f"grayscale images, but the model's input is {expected}; pass an array "
                f"(N, {expected}) instead."
            )
        calibration = load_face_folder(calibration, shape=(input_shape[1], input_shape[2]))
    if isinstance(calibration, FaceSet):
        calibration = calibration.inputs()
    array = np.asarray(calibration)
    if array.ndim != len(input_shape) + 1 or tuple(array.shape[1:]) != tuple(input_shape):
        raise QuantizationError(
            f"calibration inputs for {model} have shape {tuple(array.shape)}; the model "
            f"takes (N, {expected}). Reshape them, or pass the images the model was trained on."
        )
    if len(array) == 0:
        raise QuantizationError(
            f"calibration inputs for {model} are empty; pass at least one input of shape {expected}."
        )
    if not np.issubdtype(array.dtype, np.floating) or not np.isfinite(array).all():
        raise QuantizationError(
            f"calibration inputs for {model} must be finite floats (got dtype {array.dtype}"
            f"{'' if not np.issubdtype(array.dtype, np.floating) else ' with NaN/Inf'})."
        )
    return np.ascontiguousarray(array, dtype=np.float32)


def _even_batch(n: int, batch_size: int) -> int:
    """The largest batch size <= `batch_size` that divides `n`.

    onnxruntime's histogram calibrators (Entropy, Percentile) stack the outputs of all runs
    into one array, which fails when the last batch is shorter than the others.
    """
    return next(b for b in range(max(1, min(batch_size, n)), 0, -1) if n % b == 0)


def entropy_ranges(
    model: Path, reader: ArrayCalibrationReader, workdir: Path, bins: int = DEFAULT_ENTROPY_BINS
) -> dict[str, tuple[float, float]]:
    """Activation ranges by onnxruntime's Entropy (KL divergence) calibrator with `bins` bins.

    Returns:
        tensor name -> (rmin, rmax) for every float tensor the calibrator saw.
    """
    from onnxruntime.quantization.calibrate import CalibrationMethod, create_calibrator

    calibrator = create_calibrator(
        Path(model),
        None,
        augmented_model_path=str(workdir / "augmented_entropy.onnx"),
        calibrate_method=CalibrationMethod.Entropy,
        extra_options={"num_bins": int(bins), "num_quantized_bins": 128, "symmetric": False},
    )
    calibrator.collect_data(reader)
    data = calibrator.compute_data()
    out: dict[str, tuple[float, float]] = {}
    for name, value in data.data.items():
        lo, hi = value.range_value
        out[name] = (float(np.asarray(lo).min()), float(np.asarray(hi).max()))
    return out


def resolve_settings(settings: QuantSettings | str | None) -> QuantSettings:
    """`settings` as `QuantSettings`: given, or by target name (None: this CPU's onnxruntime)."""
    if isinstance(settings, QuantSettings):
        return settings
    if settings == "canonical":
        return CANONICAL
    return settings_for(settings or "onnxruntime")


def quantize_int8(
    model: str | os.PathLike[str],
    output: str | os.PathLike[str],
    calibration: CalibrationSource | None,
    *,
    method: str = "minmax",
    settings: QuantSettings | str | None = None,
    exclude_nodes: Sequence[str] = (),
    preprocess: bool = True,
    batch_size: int = 16,
    percentile: float = DEFAULT_PERCENTILE,
    entropy_bins: int = DEFAULT_ENTROPY_BINS,
    **options: Any,
) -> QuantizedModel:
    """Quantize an FP32 ONNX model to INT8 (QDQ) with static calibration.

    Args:
        model: the FP32 ONNX file (e.g. from `edgecheck.export.export_onnx`).
        output: where to write the quantized ONNX file (written atomically).
        calibration: calibration inputs: an array ``(N, *input_shape)`` in the model's input
            scale, a `FaceSet`, or a folder of images; see `calibration_inputs`. Required.
        method: ``"minmax"`` (default), ``"entropy"`` or ``"percentile"``.
        settings: the Q/DQ form (`QuantSettings`), or a target name: ``"onnxruntime"``
            (this CPU's deployable form), ``"tensorrt"``, ``"canonical"`` (the paper's
            S8S8, what ``quant.error`` measures). Default: ``"onnxruntime"``, see
            `edgecheck.quantize.settings.settings_for`.
        **options: `QuantSettings` fields to change (``per_channel``, ``activation_type``,
            ``weight_type``, ``reduce_range``, ``symmetric_activations``, ``quantize_bias``).
        exclude_nodes: node names to keep in FP32 (names after pre-processing).
        preprocess: run onnxruntime's `quant_pre_process` first. Default True.
        batch_size: calibration inputs per run. Default 16.
        percentile: the percentile of the Percentile method. Default 99.999.
        entropy_bins: histogram bins of the Entropy method (KL divergence over 128 quantized
            bins). Default 2048, as TensorRT; see `entropy_ranges`.

    Returns:
        A `QuantizedModel`.

    Raises:
        QuantizationError: an unknown method or type, or unusable calibration inputs (checked
            before anything is written).
        DataError: a calibration folder that is missing, empty or has images of the wrong size.
        MissingDependencyError: onnx or onnxruntime is not installed.
    """
    if method not in CALIBRATION_METHODS:
        raise QuantizationError(
            f"calibration method {method!r} is not one of {', '.join(CALIBRATION_METHODS)}."
        )
    chosen = resolve_settings(settings).with_options(**options)
    source = Path(model)
    if not source.is_file():
        raise QuantizationError(f"FP32 model {source} does not exist; export it first.")
    require("onnx", "INT8 quantization")
    require("onnxruntime", "INT8 quantization")
    import onnxruntime.quantization as ort_quant

    input_name, input_shape = onnx_input(source)
    inputs = calibration_inputs(calibration, input_shape, model=source)
    target = Path(output)
    target.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        prepared = source
        if preprocess:
            prepared = work / "preprocessed.onnx"
            ort_quant.quant_pre_process(str(source), str(prepared))
        methods = {
            "minmax": ort_quant.CalibrationMethod.MinMax,
            "entropy": ort_quant.CalibrationMethod.Entropy,
            "percentile": ort_quant.CalibrationMethod.Percentile,
        }
        qtype = {"int8": ort_quant.QuantType.QInt8, "uint8": ort_quant.QuantType.QUInt8}
        extra: dict[str, Any] = {
            "ActivationSymmetric": chosen.symmetric_activations,
            "QuantizeBias": chosen.quantize_bias,
        }
        if method == "percentile":
            extra["CalibPercentile"] = float(percentile)
        # Not "CalibMaxIntermediateOutputs": in onnxruntime 1.32 it discards every full chunk
        # of collected ranges instead of merging them (the ranges then come from the last
        # chunk only; measured here: FQA error 1.4 % -> 3.3 %). MinMax keeps only a min and a
        # max per tensor and run, so it needs no such memory bound, even for VGG16.
        batch = _even_batch(len(inputs), batch_size)
        calibrate = methods[method]
        if method == "entropy":
            # quantize_static cannot pass the bin count to its Entropy calibrator, so the
            # ranges are computed here and handed over as overrides of a MinMax calibration.
            with contextlib.redirect_stdout(io.StringIO()):
                ranges = entropy_ranges(
                    prepared, ArrayCalibrationReader(inputs, input_name, batch), work, entropy_bins
                )
            extra["TensorQuantOverrides"] = {
                name: [{"rmin": np.float32(lo), "rmax": np.float32(hi)}]
                for name, (lo, hi) in ranges.items()
            }
            calibrate = ort_quant.CalibrationMethod.MinMax
        quantized = work / "quantized.onnx"
        with contextlib.redirect_stdout(io.StringIO()):  # its calibrators print() progress
            ort_quant.quantize_static(
                str(prepared),
                str(quantized),
                ArrayCalibrationReader(inputs, input_name, batch),
                quant_format=ort_quant.QuantFormat.QDQ,
                per_channel=chosen.per_channel,
                reduce_range=chosen.reduce_range,
                activation_type=qtype[chosen.activation_type],
                weight_type=qtype[chosen.weight_type],
                nodes_to_exclude=list(exclude_nodes) or None,
                calibrate_method=calibrate,
                extra_options=extra,
            )
        os.replace(quantized, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return QuantizedModel(
        path=target, source=source, method=method, settings=chosen,
        n_calibration=len(inputs), excluded_nodes=tuple(exclude_nodes),
        seconds=time.perf_counter() - start,
    )  # fmt: skip

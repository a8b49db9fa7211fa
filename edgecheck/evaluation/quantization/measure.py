"""IV-D-2 and II-B-2: the measuring half (see the package docstring).

`FQAQuantization` (errors, fidelity, parameter bytes) and what the report measures
(`measure_report`: every calibration method, FP16, the blank-calibration control, the sizes
and this device's INT8 kernels).
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from edgecheck.data import FaceSet
    from edgecheck.device import DeviceInfo
    from edgecheck.quantize import OutputDifference, ParameterBytes
    from edgecheck.quantize.settings import QuantSettings

ERROR_CLAIM = "quant.error"
FIDELITY_CLAIM = "quant.int8.fidelity"
MEMORY_CLAIM = "quant.memory"
HEADLINE_METHOD = "minmax"


@dataclass(frozen=True)
class ErrorRow:
    """One reduced-precision model compared with the FP32 model.

    Attributes:
        precision: ``"int8"`` or ``"fp16"``.
        method: calibration method (INT8), ``"-"`` for FP16.
        calibration: what calibrated it, in words.
        difference: the `OutputDifference` over the test images.
        n_calibration: calibration inputs used (0 for FP16).
        n_test: test inputs compared.
        seconds: time to quantize or convert.
        path: the model file.
        settings: the INT8 form (`QuantSettings`); None for FP16.
    """

    precision: str
    method: str
    calibration: str
    difference: OutputDifference
    n_calibration: int
    n_test: int
    seconds: float
    path: Path | None = None
    settings: QuantSettings | None = None

    @property
    def label(self) -> str:
        return f"INT8 {self.method}" if self.precision == "int8" else "FP16"

    def as_dict(self) -> dict[str, Any]:
        return {
            "precision": self.precision, "method": self.method, "calibration": self.calibration,
            "settings": self.settings.name if self.settings else None,
            "n_calibration": self.n_calibration, "n_test": self.n_test,
            "seconds": round(self.seconds, 3), **self.difference.as_dict(),
        }  # fmt: skip


@dataclass(frozen=True)
class FidelityRow:
    """One INT8 model on this device's kernels, against its exact function and FP32.

    Attributes:
        settings: the model's INT8 form.
        exact: the exact Q/DQ outputs vs FP32 (the model's own error).
        kernels: this runtime's INT8 outputs vs FP32 (the error a user deploys with).
        gap: this runtime's INT8 outputs vs the exact ones (``quant.int8.fidelity``).
    """

    settings: QuantSettings
    exact: OutputDifference
    kernels: OutputDifference
    gap: OutputDifference

    @property
    def added_points(self) -> float:
        """Percentage points of error the kernels add to the model's own (may be < 0)."""
        return self.kernels.mean_relative_percent - self.exact.mean_relative_percent

    def as_dict(self) -> dict[str, Any]:
        return {
            "settings": self.settings.as_dict(),
            "exact_percent": self.exact.mean_relative_percent,
            "kernels_percent": self.kernels.mean_relative_percent,
            "gap_percent": self.gap.mean_relative_percent,
            "added_points": self.added_points,
        }


class FQAQuantization:
    """The FQA quantization experiment on onnxruntime (CPU unless a GPU provider is present).

    Args:
        workdir: folder for the ONNX files (FP32, FP16, INT8 per method).
        model: the FP32 torch model; default: the shipped trained FQA CNN.
        calibration: calibration images; default: the paper's 100 (`calibration_faces`).
        test: test images; default: the paper's 2573 (`test_faces`).
        threads: onnxruntime threads. Default 1 (the suite shares the machine).
        batch_size: images per inference call. Default 128.
    """

    def __init__(
        self,
        workdir: str | Path,
        *,
        model: Any = None,
        calibration: FaceSet | None = None,
        test: FaceSet | None = None,
        threads: int = 1,
        batch_size: int = 128,
    ) -> None:
        from edgecheck.backends import ModelArtifact
        from edgecheck.data import calibration_faces, test_faces
        from edgecheck.models import FQA_INPUT_SHAPE
        from edgecheck.weights import load_trained_fqa

        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.threads = threads
        self.batch_size = batch_size
        self.calibration = calibration if calibration is not None else calibration_faces()
        self.test = test if test is not None else test_faces()
        self.test_inputs = self.test.inputs()
        model = model if model is not None else load_trained_fqa()
        fp32 = ModelArtifact.from_module(model, FQA_INPUT_SHAPE, name="fqa_fp32", cache=workdir)
        self.fp32_path = fp32.onnx_file()
        self.reference = self.outputs(self.fp32_path, "fp32")
        self.int8_paths: dict[str, Path] = {}
        self.exact_cache: dict[Path, np.ndarray] = {}
        self.fp16_path: Path | None = None

    def outputs(self, path: Path, precision: str) -> np.ndarray:
        """The model's outputs on the test images, through an onnxruntime runner, shape (N,)."""
        from edgecheck.backends import make_runner

        inputs = self.test_inputs
        n, b = len(inputs), min(self.batch_size, len(inputs))
        out = np.empty(n, dtype=np.float64)
        with make_runner(path, "onnxruntime", precision, batch_size=b, threads=self.threads) as r:
            for start in range(0, n, b):
                batch = inputs[start : start + b]
                if len(batch) < b:  # the runner has a fixed batch size: pad, then drop the pad
                    pad = np.zeros((b - len(batch), *batch.shape[1:]), dtype=batch.dtype)
                    batch = np.concatenate([batch, pad])
                result = np.asarray(r.infer(batch)).reshape(b, -1)[:, 0]
                out[start : start + min(b, n - start)] = result[: n - start]
        return out

    def int8(
        self,
        method: str = HEADLINE_METHOD,
        *,
        calibration: Any = None,
        label: str | None = None,
        settings: QuantSettings | str = "canonical",
        **options: Any,
    ) -> ErrorRow:
        """Quantize with `method`, evaluate the Q/DQ model exactly, compare with FP32.

        Args:
            method: ``"minmax"``, ``"entropy"`` or ``"percentile"``.
            calibration: calibration inputs (array, `FaceSet` or folder); default the
                experiment's calibration images.
            label: how the calibration is described in the report.
            settings: the INT8 form; default ``"canonical"`` (the paper's S8S8), or a
                `QuantSettings` / target name (see `quantize_int8`).
            **options: more `quantize_int8` options (``per_channel``, ``activation_type``, ...).
        """
        from edgecheck.quantize import output_difference, quantize_int8
        from edgecheck.quantize.exact import exact_outputs

        data = self.calibration if calibration is None else calibration
        plain = calibration is None and not options and settings == "canonical"
        suffix = "" if plain else f"_{len(self.int8_paths)}"
        path = self.workdir / f"fqa_int8_{method}{suffix}.onnx"
        q = quantize_int8(self.fp32_path, path, data, method=method, settings=settings, **options)
        if plain:
            self.int8_paths[method] = path
        exact = exact_outputs(path, self.test_inputs)[:, 0]
        diff = output_difference(self.reference, exact, what=f"INT8 {method} (exact)")
        self.exact_cache[path] = exact
        return ErrorRow(
            precision="int8", method=method,
            calibration=label or f"{q.n_calibration} calibration images",
            difference=diff, n_calibration=q.n_calibration, n_test=len(self.reference),
            seconds=q.seconds, path=path, settings=q.settings,
        )  # fmt: skip

    def fidelity(self, row: ErrorRow) -> FidelityRow:
        """Run `row`'s INT8 model on this device's kernels (an onnxruntime runner) and
        compare with its exact outputs and with FP32."""
        from edgecheck.quantize import output_difference

        assert row.path is not None and row.settings is not None, "an INT8 row from int8()"
        exact = self.exact_cache[row.path]
        kernels = self.outputs(row.path, "int8")
        what = f"INT8 {row.settings.name} on this device"
        return FidelityRow(
            settings=row.settings,
            exact=row.difference,
            kernels=output_difference(self.reference, kernels, what=what),
            gap=output_difference(exact, kernels, what=what),
        )

    def fp16(self) -> ErrorRow:
        """Convert to FP16 (float32 inputs and outputs kept), run, compare."""
        from edgecheck.quantize import convert_fp16, output_difference

        start = time.perf_counter()
        self.fp16_path = convert_fp16(self.fp32_path, self.workdir / "fqa_fp16.onnx")
        seconds = time.perf_counter() - start
        diff = output_difference(self.reference, self.outputs(self.fp16_path, "fp16"), what="FP16")
        return ErrorRow(
            precision="fp16", method="-", calibration="none (conversion)", difference=diff,
            n_calibration=0, n_test=len(self.reference), seconds=seconds,
        )  # fmt: skip

    def parameter_bytes(self) -> dict[str, ParameterBytes]:
        """Parameter bytes of the FP32, FP16 and (MinMax) INT8 files, making what is missing."""
        from edgecheck.quantize import convert_fp16, onnx_parameter_bytes, quantize_int8

        if self.fp16_path is None:
            self.fp16_path = convert_fp16(self.fp32_path, self.workdir / "fqa_fp16.onnx")
        int8 = self.int8_paths.get(HEADLINE_METHOD)
        if int8 is None:
            int8 = self.workdir / f"fqa_int8_{HEADLINE_METHOD}.onnx"
            quantize_int8(
                self.fp32_path, int8, self.calibration, method=HEADLINE_METHOD,
                settings="canonical",
            )  # fmt: skip
            self.int8_paths[HEADLINE_METHOD] = int8
        return {
            "fp32": onnx_parameter_bytes(self.fp32_path),
            "fp16": onnx_parameter_bytes(self.fp16_path),
            "int8": onnx_parameter_bytes(int8),
        }


def memory_ratios(sizes: dict[str, ParameterBytes]) -> dict[str, float]:
    """``{"fp16": bytes16 / bytes32, "int8": bytes8 / bytes32}`` (keys of ``quant.memory``)."""
    return {k: sizes[k].ratio_to(sizes["fp32"]) for k in ("fp16", "int8")}


@dataclass(frozen=True)
class KernelFidelity:
    """This device's INT8 kernels against the exact Q/DQ function (`fidelity_part`'s data).

    Attributes:
        chosen: the settings chosen for this target (`settings_for`).
        canonical: the paper's S8S8 form on this device's kernels.
        deployed: the chosen form on them (`canonical` itself when they are the same).
        tensorrt: the TensorRT form's exact error (its kernels are not run here).
    """

    chosen: QuantSettings
    canonical: FidelityRow
    deployed: FidelityRow
    tensorrt: ErrorRow


def measure_fidelity(
    exp: FQAQuantization, canonical: ErrorRow, device: DeviceInfo
) -> KernelFidelity:
    """The paper's S8S8 and the settings chosen for this target on this device's kernels, and
    the TensorRT form's exact error."""
    from edgecheck.quantize.settings import settings_for

    chosen = settings_for("onnxruntime", device.capabilities)
    on_canonical = exp.fidelity(canonical)
    if chosen.name == on_canonical.settings.name:
        deployed = on_canonical
    else:
        deployed = exp.fidelity(exp.int8(HEADLINE_METHOD, settings=chosen, label="deployed"))
    tensorrt = exp.int8(HEADLINE_METHOD, settings="tensorrt", label="TensorRT form")
    return KernelFidelity(chosen, on_canonical, deployed, tensorrt)


@dataclass(frozen=True)
class QuantReport:
    """What the report measures on the FQA CNN.

    Attributes:
        rows: INT8 per calibration method, then FP16.
        control: INT8 calibrated on blank images (its check must FAIL).
        sizes: parameter bytes per precision.
        fidelity: this device's INT8 kernels.
    """

    rows: list[ErrorRow]
    control: ErrorRow
    sizes: dict[str, ParameterBytes]
    fidelity: KernelFidelity

    @property
    def ratios(self) -> dict[str, float]:
        """`memory_ratios` of `sizes`."""
        return memory_ratios(self.sizes)


def measure_report(device: DeviceInfo) -> QuantReport:
    """Every calibration method, FP16, the blank control, the sizes, the kernels' fidelity."""
    from edgecheck.quantize import CALIBRATION_METHODS

    with tempfile.TemporaryDirectory(prefix="edgecheck-quant-") as tmp:
        exp = FQAQuantization(tmp)
        rows = [exp.int8(method) for method in CALIBRATION_METHODS]
        rows.append(exp.fp16())
        blank = np.zeros_like(exp.calibration.inputs())
        control = exp.int8(HEADLINE_METHOD, calibration=blank, label="100 blank images (control)")
        sizes = exp.parameter_bytes()
        fidelity = measure_fidelity(exp, rows[0], device)
    return QuantReport(rows, control, sizes, fidelity)

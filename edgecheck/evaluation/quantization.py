"""Section IV-D-2 and II-B-2: quantization error and model size of the trained FQA CNN.

The experiment (`FQAQuantization`): the shipped trained FQA CNN (`load_trained_fqa`) is
exported to ONNX; its FP32 outputs on the paper's 2573 test images are the reference; INT8
models are calibrated on the 100 calibration images (`quantize_int8`, one per calibration
method) and an FP16 model is converted (`convert_fp16`). An INT8 model's error is that of the
Q/DQ model itself, evaluated exactly (`edgecheck.quantize.exact`: the same on every CPU), in
the paper's S8S8 form (`edgecheck.quantize.settings.CANONICAL`); that is the ``quant.error``
claim (`output_difference`: mean relative difference, and mean absolute difference).
`FQAQuantization.fidelity` then runs a model on this device's INT8 kernels through the
backend runners: how far they are from the exact function is ``quant.int8.fidelity``, judged
for the settings chosen for this target (`settings_for`), with the paper's S8S8 beside it. Parameter bytes of the
three files give ``quant.memory``. INT8 speed (``quant.int8.speedup``, Fig. 4) is measured on
VGG16 by `edgecheck.evaluation.int8_speed`. The tests in ``tests/accuracy/test_quantization.py`` call
the same class, so the report and the test verdicts come from one implementation.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from edgecheck.evaluation import int8_speed
from edgecheck.report import Section, markdown_table

if TYPE_CHECKING:
    from edgecheck.claims import ClaimRegistry, ClaimResult
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


def _fmt_row(row: ErrorRow, verdict: str) -> dict[str, str]:
    d = row.difference
    return {
        "model": row.label,
        "calibration": row.calibration,
        "mrd": f"{d.mean_relative_percent:.3f} %",
        "mad": f"{d.mean_absolute:.5f}",
        "max": f"{d.max_absolute:.4f}",
        "time": f"{row.seconds:.2f} s",
        "verdict": verdict,
    }


def section(registry: ClaimRegistry, device: DeviceInfo) -> Section:
    """The quantization section: error per precision and calibration method, model sizes, and
    INT8 vs FP32 VGG16 speed by batch size with its Fig. 4 plot (`int8_speed.speed_part`)."""
    from edgecheck.data import N_CALIBRATION, N_TEST
    from edgecheck.quantize import CALIBRATION_METHODS

    error_claim = registry[ERROR_CLAIM]
    memory_claim = registry[MEMORY_CLAIM]
    profile = device.profile
    with tempfile.TemporaryDirectory(prefix="edgecheck-quant-") as tmp:
        exp = FQAQuantization(tmp)
        rows = [exp.int8(method) for method in CALIBRATION_METHODS]
        rows.append(exp.fp16())
        blank = np.zeros_like(exp.calibration.inputs())
        control = exp.int8(HEADLINE_METHOD, calibration=blank, label="100 blank images (control)")
        sizes = exp.parameter_bytes()
        fidelity = fidelity_part(exp, rows[0], registry, device)
    ratios = memory_ratios(sizes)

    def judged(row: ErrorRow) -> ClaimResult:
        result = error_claim.check(row.difference.mean_relative_percent, profile=profile)
        return replace(result, message=f"{row.label}: {result.message}", extra={"model": row.label})

    verdicts = {row.label: judged(row) for row in rows}
    table_rows = [_fmt_row(row, verdicts[row.label].verdict) for row in rows]
    table_rows.append(_fmt_row(control, f"{judged(control).verdict} (expected: FAIL)"))
    columns = [
        ("model", "model"), ("calibration", "calibration"), ("mrd", "mean relative difference"),
        ("mad", "mean absolute difference"), ("max", "max abs. difference"),
        ("time", "quantize time"), ("verdict", "verdict"),
    ]  # fmt: skip
    size_rows = [
        {
            "precision": name.upper(),
            "bytes": f"{sizes[name].total:,}",
            "ratio": "1" if name == "fp32" else f"{ratios[name]:.4f}",
            "paper": "1" if name == "fp32" else f"{memory_claim.paper_value(name):g}",
            "dtypes": ", ".join(f"{k} {v:,}" for k, v in sorted(sizes[name].by_dtype.items())),
        }
        for name in ("fp32", "fp16", "int8")
    ]
    size_columns = [("precision", "precision"), ("bytes", "parameter bytes"),
                    ("ratio", "vs FP32"), ("paper", "paper"), ("dtypes", "by type")]  # fmt: skip
    speed = int8_speed.speed_part(registry, device)
    paper = error_claim.paper_value("")
    body = "\n".join([
        f"The trained FQA CNN (shipped weights), FP32 reference vs reduced precision on "
        f"onnxruntime, over the paper's split: {N_CALIBRATION} calibration images, {N_TEST} "
        f"test images (generated faces, `edgecheck.data`). The paper reports a "
        f"{paper:g} % average difference after INT8 calibration (Section IV-D-2).",
        "",
        "Mean relative difference = mean over images of |q - r| / |r| (percent), the claim's "
        "measure; mean absolute difference = mean of |q - r| in score units (0-1). INT8: "
        "onnxruntime QDQ, per-channel weights, S8S8 (the paper's form), each Q/DQ model "
        "evaluated exactly (in float, no integer kernels: the same number on every CPU; "
        "how this device's kernels compare is the next part). MinMax keeps each tensor's full "
        "calibrated range; Entropy (KL divergence over a 2048-bin histogram, as TensorRT's "
        "entropy calibrator) clips long tails, which suits classifiers but costs a regression "
        "output like this score; Percentile keeps the 99.999th percentile. The last row "
        "calibrates on blank images, to show that the check catches a broken calibration.",
        "",
        markdown_table(table_rows, columns),
        "",
        "Parameter bytes (all initializers: weights, biases, and for INT8 the scales and zero "
        "points), Section II-B-2:",
        "",
        markdown_table(size_rows, size_columns),
        "",
        f"### {fidelity.title}",
        "",
        fidelity.body,
        "",
        f"### {speed.title}",
        "",
        speed.body,
        "",
        f"The verdicts below judge INT8 {HEADLINE_METHOD} (the default method), then FP16 "
        f"(every row of the error table is judged the same way), this device's INT8 kernels "
        f"(deployed error and fidelity), the sizes, then INT8 speed.",
    ])  # fmt: skip
    results: list[ClaimResult] = [verdicts[f"INT8 {HEADLINE_METHOD}"], verdicts["FP16"]]
    results += fidelity.results
    results += [memory_claim.check(ratios[k], profile=profile, key=k) for k in ("fp16", "int8")]
    results += speed.results
    data = {
        "errors": [row.as_dict() for row in rows],
        "control_blank_calibration": control.as_dict(),
        "parameter_bytes": {k: v.total for k, v in sizes.items()},
        "memory_ratios": ratios,
        "int8_fidelity": fidelity.data,
        "int8_speed": speed.data,
    }
    return Section(
        title="Quantization: error, model size, INT8 speed (IV-D-2, II-B-2, IV-D-3 and Fig. 4)",
        body=body, results=results, figures=speed.figures, data=data,
    )  # fmt: skip


def fidelity_part(
    exp: FQAQuantization, canonical: ErrorRow, registry: ClaimRegistry, device: DeviceInfo
) -> Section:
    """This device's INT8 kernels against the exact Q/DQ function: the paper's S8S8 and the
    settings chosen for this target (``quant.int8.fidelity``, ``quant.error`` key deployed),
    with the TensorRT form's exact error beside them."""
    from edgecheck.quantize.settings import settings_for

    chosen = settings_for("onnxruntime", device.capabilities)
    on_canonical = exp.fidelity(canonical)
    if chosen.name == on_canonical.settings.name:
        deployed = on_canonical
    else:
        deployed = exp.fidelity(exp.int8(HEADLINE_METHOD, settings=chosen, label="deployed"))
    tensorrt = exp.int8(HEADLINE_METHOD, settings="tensorrt", label="TensorRT form")
    profile = device.profile
    fidelity_claim = registry[FIDELITY_CLAIM]
    results = [
        fidelity_claim.check(deployed.gap.mean_relative_percent, profile=profile, key="deployed"),
        registry[ERROR_CLAIM].check(
            deployed.kernels.mean_relative_percent, profile=profile, key="deployed"
        ),
    ]
    results = [replace(r, extra={**r.extra, "settings": chosen.name}) for r in results]
    bound = fidelity_claim.rule_for(profile, "deployed")
    limit = bound.value if bound is not None and bound.value is not None else float("nan")
    rows = [
        {
            "form": f"{f.settings.name}{' (chosen here)' if f is deployed else ''}",
            "exact": f"{f.exact.mean_relative_percent:.3f} %",
            "kernels": f"{f.kernels.mean_relative_percent:.3f} %",
            "gap": f"{f.gap.mean_relative_percent:.4f} %",
        }
        for f in dict.fromkeys([on_canonical, deployed])
    ]
    rows.append({
        "form": f"{tensorrt.settings.name if tensorrt.settings else ''} (for TensorRT)",
        "exact": f"{tensorrt.difference.mean_relative_percent:.3f} %",
        "kernels": "not run here (TensorRT)", "gap": "-",
    })  # fmt: skip
    columns = [("form", "INT8 form"), ("exact", "exact Q/DQ vs FP32"),
               ("kernels", "this runtime vs FP32"), ("gap", "runtime vs exact")]  # fmt: skip
    cap = device.capabilities
    if on_canonical.gap.mean_relative_percent > limit:
        finding = (
            f"This CPU's INT8 kernels add {on_canonical.added_points:.1f} points of error to the "
            f"paper's S8S8 model ({on_canonical.kernels.mean_relative_percent:.2f} % against "
            f"{on_canonical.exact.mean_relative_percent:.2f} % exactly): {chosen.why}. VNNI or "
            f"`reduce_range` (7-bit weights, {chosen.name} is better here) avoid it; the "
            f"{chosen.name} model chosen here runs "
            f"{deployed.gap.mean_relative_percent:.4f} % from its exact outputs."
        )
    else:
        finding = (
            f"This CPU's INT8 kernels run the {chosen.name} model "
            f"{deployed.gap.mean_relative_percent:.4f} % from its exact outputs ({chosen.why}); "
            f"the paper's S8S8 runs {on_canonical.gap.mean_relative_percent:.4f} % from its own."
        )
    body = "\n".join([
        f"CPU: {cap.cpu_model} ({cap.cpu_arch}); INT8 dot products: "
        f"{'yes' if cap.cpu_int8_dot else 'no'}. {finding}",
        "",
        markdown_table(rows, columns),
    ])  # fmt: skip
    data = {
        "chosen": chosen.as_dict(),
        "canonical": on_canonical.as_dict(),
        "deployed": deployed.as_dict(),
        "tensorrt_exact_percent": tensorrt.difference.mean_relative_percent,
    }
    return Section(
        title="INT8 on this device: kernels vs the exact model (quant.int8.fidelity)",
        body=body, results=results, data=data,
    )  # fmt: skip

"""Fig. 4: the VGG16 FP32 and INT8 files to time (exported, calibrated and quantized)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from pathlib import Path

from edgecheck.progress import note

CALIBRATION_IMAGES = 4


@dataclass(frozen=True)
class Int8Models:
    """The FP32 and INT8 VGG16 files to time.

    Attributes:
        fp32: the exported FP32 ONNX file.
        int8: its INT8 QDQ quantization.
        calibration_images: random images the INT8 ranges were calibrated on.
        quantize_seconds: calibration + quantization time.
        activation_type, weight_type: the INT8 model's operand types (``"int8"`` or
            ``"uint8"``, from `edgecheck.quantize.settings.settings_for`): the GEMM reference
            uses the same.
        fp16: its FP16 conversion, where one was made (`with_fp16`).
    """

    fp32: Path
    int8: Path
    calibration_images: int
    quantize_seconds: float
    activation_type: str = "int8"
    weight_type: str = "int8"
    fp16: Path | None = None

    def with_fp16(self) -> Int8Models:
        """These models plus an FP16 conversion of the FP32 file next to it (about 10 s)."""
        from edgecheck.quantize import convert_fp16

        if self.fp16 is not None:
            return self
        note("converting VGG16 to FP16")
        return replace(self, fp16=convert_fp16(self.fp32, self.fp32.with_name("vgg16_fp16.onnx")))


def prepare_vgg16_int8(
    workdir: str | Path, *, calibration_images: int = CALIBRATION_IMAGES, seed: int = 0
) -> Int8Models:
    """Export VGG16 (seeded weights) to ONNX in `workdir` and quantize it to INT8 QDQ.

    About 30 s on 2 cores (8 s export, 20 s pre-processing and calibration). The calibration
    images are seeded uniform noise: INT8 speed depends on the graph, not on the ranges. The
    Q/DQ form is this CPU's deployable one (`edgecheck.quantize.settings.settings_for`).
    """
    import numpy as np

    from edgecheck.backends import ModelArtifact
    from edgecheck.models import VGG16_INPUT_SHAPE
    from edgecheck.quantize import quantize_int8

    folder = Path(workdir)
    note("exporting VGG16 to ONNX")
    fp32 = ModelArtifact.from_registered("vgg16", seed=seed).onnx_file(folder)
    note("calibrating and quantizing VGG16 to INT8")
    images = np.random.default_rng(seed).random(
        (calibration_images, *VGG16_INPUT_SHAPE), dtype=np.float32
    )
    # onnxruntime's quantizer logs a warning per model about pre-processing; it is done.
    level = logging.getLogger().level
    logging.getLogger().setLevel(logging.ERROR)
    try:
        q = quantize_int8(
            fp32, folder / "vgg16_int8.onnx", images, method="minmax",
            batch_size=calibration_images,
        )  # fmt: skip
    finally:
        logging.getLogger().setLevel(level)
    return Int8Models(
        fp32, Path(q.path), calibration_images, q.seconds,
        activation_type=q.settings.activation_type, weight_type=q.settings.weight_type,
    )  # fmt: skip

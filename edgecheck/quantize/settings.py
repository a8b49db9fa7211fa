"""Which INT8 quantization to make for which target: the types, ranges and forms of the Q/DQ file.

Two questions with different answers:

* **What the paper's claim measures** (``quant.error``): the error that calibration leaves in
  the quantized model itself. That is `CANONICAL` (S8S8, 8-bit per-channel weights, affine
  activations, quantized biases), evaluated exactly (`edgecheck.quantize.exact`), so the
  number is the same on every machine.
* **What a user deploys** on a target: `settings_for`. The Q/DQ file must suit the kernels
  that run it:

  - x86 CPUs without INT8 dot products (no VNNI/AMX, e.g. an AVX2-only EPYC): onnxruntime's
    u8s8 kernels multiply with ``vpmaddubsw``, which adds each pair of u8 x s8 products into
    an int16 with saturation. 8-bit weights overflow it: on the shipped FQA the S8S8 model
    gave 25.9 % error on such a CPU against 0.99 % computed exactly (measured under QEMU's
    ``-cpu EPYC``, family 23 model 1). ``reduce_range`` (7-bit weights) avoids the overflow
    but the model itself gets worse (2.78 % exactly); U8U8 takes onnxruntime's u8u8 kernels,
    which widen to 16 bits before multiplying (no saturation): 1.21 % exactly and the same
    from the kernels. U8U8 is chosen there.
  - CPUs with INT8 dot products (VNNI, AVX-VNNI, AMX, Arm ``asimddp``): S8S8 as `CANONICAL`;
    the kernels match the exact evaluation to 0.001 points (measured on a VNNI EPYC). Arm
    CPUs without dot products get S8S8 too (not measured here: `quant.int8.fidelity` checks
    it on the board).
  - TensorRT (explicit quantization): symmetric activations (zero point 0) and float biases,
    since TensorRT's ONNX parser accepts only symmetric Q/DQ and quantizes biases itself.
    1.07 % exactly on the shipped FQA.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import TYPE_CHECKING, Any

from edgecheck.quantize.metrics import QuantizationError

if TYPE_CHECKING:
    from edgecheck.device import Capabilities

TARGETS: tuple[str, ...] = ("onnxruntime", "tensorrt")
INT8_TYPES: tuple[str, ...] = ("int8", "uint8")


@dataclass(frozen=True)
class QuantSettings:
    """The form of an INT8 Q/DQ model (all onnxruntime ``quantize_static`` options).

    Attributes:
        name: short label ("S8S8", "U8U8", "S8S8 symmetric, float bias", ...).
        activation_type, weight_type: ``"int8"`` or ``"uint8"``.
        reduce_range: 7-bit weights.
        symmetric_activations: activation zero points 0 (TensorRT's form).
        quantize_bias: store biases as int32 (False: float biases, TensorRT's form).
        per_channel: one weight scale per output channel.
        why: why a target gets these settings, in words for the report.
    """

    name: str
    activation_type: str = "int8"
    weight_type: str = "int8"
    reduce_range: bool = False
    symmetric_activations: bool = False
    quantize_bias: bool = True
    per_channel: bool = True
    why: str = ""

    def __post_init__(self) -> None:
        for field_name in ("activation_type", "weight_type"):
            value = getattr(self, field_name)
            if value not in INT8_TYPES:
                raise QuantizationError(
                    f"{field_name} {value!r} is not one of {', '.join(INT8_TYPES)}."
                )

    def with_options(self, **changes: Any) -> QuantSettings:
        """A copy with some fields changed (named after the changes unless a name is given)."""
        if not changes:
            return self
        known = set(self.__dataclass_fields__)
        unknown = sorted(set(changes) - known)
        if unknown:
            raise QuantizationError(
                f"unknown quantization option(s) {', '.join(unknown)}; use "
                f"{', '.join(sorted(known - {'why'}))}."
            )
        label = changes.pop("name", None) or (
            self.name + " (" + ", ".join(f"{k}={v}" for k, v in sorted(changes.items())) + ")"
        )
        return replace(self, name=label, **changes)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


CANONICAL = QuantSettings(
    name="S8S8",
    why="the paper's INT8 model: 8-bit per-channel weights, affine 8-bit activations",
)
NO_DOT_PRODUCT_X86 = QuantSettings(
    name="U8U8",
    activation_type="uint8",
    weight_type="uint8",
    why=(
        "x86 without INT8 dot products: onnxruntime's u8s8 kernels (vpmaddubsw) saturate "
        "int16 pair sums with 8-bit weights; its u8u8 kernels widen first"
    ),
)
TENSORRT = QuantSettings(
    name="S8S8 symmetric, float bias",
    symmetric_activations=True,
    quantize_bias=False,
    why="TensorRT's ONNX parser takes symmetric Q/DQ only (zero points 0) and float biases",
)


def settings_for(
    target: str = "onnxruntime", capabilities: Capabilities | None = None
) -> QuantSettings:
    """The INT8 settings to deploy with on `target` (see the module docstring for the why).

    Args:
        target: ``"onnxruntime"`` (its CPU provider) or ``"tensorrt"``.
        capabilities: the CPU that runs onnxruntime; default this machine's.

    Raises:
        QuantizationError: an unknown target.
    """
    if target not in TARGETS:
        raise QuantizationError(
            f"quantization target {target!r} is not one of {', '.join(TARGETS)}."
        )
    if target == "tensorrt":
        return TENSORRT
    if capabilities is None:
        from edgecheck.device import detect_device

        capabilities = detect_device().capabilities
    if capabilities.cpu_arch == "x86" and not capabilities.cpu_int8_dot:
        return NO_DOT_PRODUCT_X86
    return replace(
        CANONICAL,
        why=(
            "this CPU has INT8 dot products: S8S8 runs without saturation"
            if capabilities.cpu_int8_dot
            else "no x86 saturation issue on this CPU; quant.int8.fidelity checks the kernels"
        ),
    )

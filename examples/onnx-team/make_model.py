#!/usr/bin/env python
"""Write the team's model, models/edgenet.onnx, and its reference output (deterministic).

A small image classifier for 3x128x128 inputs: three 3x3 convolutions with ReLU (16, 32 and 32
channels; the last two with stride 2), global average pooling and a linear layer to 10
classes. Built with onnx.helper (no exporter whose output changes between torch versions);
the weights come from a seeded generator, so the same command writes the same bytes.

    python make_model.py                              # models/edgenet.onnx + reference/*.npy
    python make_model.py --width 2 --out bigger.onnx --no-reference   # a wider variant

The reference output is computed by onnx's reference evaluator (plain numpy, not the runtime
under test) on a fixed seeded input batch; tests/test_gate.py checks that onnxruntime agrees.
In your own project, write the reference from the framework you train in (e.g. torch's output
before export) so the gate also checks the export.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent
INPUT_SHAPE = (3, 128, 128)  # one example, without the batch axis (as in pyproject.toml)
CLASSES = 10
OPSET = 17  # onnxruntime >= 1.14 runs it
IR_VERSION = 8
REFERENCE_BATCH = 1
WEIGHT_SEED = 20261203
INPUT_SEED = 7


def build(width: int = 1, depth: int = 0, seed: int = WEIGHT_SEED) -> onnx.ModelProto:
    """The model: `width` multiplies every conv's channels, `depth` adds 3x3 convs at the end."""
    if width < 1 or depth < 0:
        raise ValueError(f"width {width} must be >= 1 and depth {depth} >= 0")
    rng = np.random.default_rng(seed)
    # (out channels, stride) per conv
    convs = [(16 * width, 1), (32 * width, 2), (32 * width, 2)] + [(32 * width, 1)] * depth
    nodes, inits = [], []

    def tensor(name: str, shape: tuple[int, ...], fan_in: int) -> str:
        # He-normal weights, stored as float32
        data = (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)
        inits.append(numpy_helper.from_array(data, name))
        return name

    x, channels = "input", INPUT_SHAPE[0]
    for i, (out, stride) in enumerate(convs, start=1):
        w = tensor(f"conv{i}.weight", (out, channels, 3, 3), channels * 9)
        b = tensor(f"conv{i}.bias", (out,), channels * 9)
        nodes.append(helper.make_node(
            "Conv", [x, w, b], [f"conv{i}"], name=f"conv{i}", kernel_shape=[3, 3],
            strides=[stride, stride], pads=[1, 1, 1, 1],
        ))  # fmt: skip
        nodes.append(helper.make_node("Relu", [f"conv{i}"], [f"relu{i}"], name=f"relu{i}"))
        x, channels = f"relu{i}", out
    nodes.append(helper.make_node("GlobalAveragePool", [x], ["pool"], name="pool"))
    nodes.append(helper.make_node("Flatten", ["pool"], ["flat"], name="flatten", axis=1))
    w = tensor("fc.weight", (CLASSES, channels), channels)
    b = tensor("fc.bias", (CLASSES,), channels)
    nodes.append(helper.make_node("Gemm", ["flat", w, b], ["logits"], name="fc", transB=1))
    graph = helper.make_graph(
        nodes,
        "edgenet",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", *INPUT_SHAPE])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", CLASSES])],
        initializer=inits,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="make_model.py"
    )
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def reference_input() -> np.ndarray:
    """The fixed input batch the reference output is computed on."""
    rng = np.random.default_rng(INPUT_SEED)
    return rng.random((REFERENCE_BATCH, *INPUT_SHAPE), dtype=np.float32)


def reference_output(model: onnx.ModelProto, batch: np.ndarray) -> np.ndarray:
    """The model's output by onnx's reference evaluator (numpy), independent of onnxruntime."""
    from onnx.reference import ReferenceEvaluator

    (out,) = ReferenceEvaluator(model).run(None, {"input": batch})
    return np.asarray(out, dtype=np.float32)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--width", type=int, default=1, help="channel multiplier (default: 1)")
    parser.add_argument("--depth", type=int, default=0, help="extra 3x3 convs (default: 0)")
    parser.add_argument("--out", type=Path, default=HERE / "models" / "edgenet.onnx",
                        help="the ONNX file to write (default: models/edgenet.onnx)")  # fmt: skip
    parser.add_argument("--reference", type=Path, default=HERE / "reference",
                        help="folder for <name>.input.npy and <name>.output.npy "
                        "(default: reference/; the name is the ONNX file's stem)")  # fmt: skip
    parser.add_argument("--no-reference", action="store_true",
                        help="write the model only, keep the reference files")  # fmt: skip
    args = parser.parse_args(argv)
    model = build(args.width, args.depth)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_bytes(model.SerializeToString())
    print(f"wrote {args.out} ({args.out.stat().st_size:,} bytes)")
    if not args.no_reference:
        batch = reference_input()
        args.reference.mkdir(parents=True, exist_ok=True)
        stem = args.out.stem
        for kind, array in (("input", batch), ("output", reference_output(model, batch))):
            path = args.reference / f"{stem}.{kind}.npy"
            np.save(path, array)
            print(f"wrote {path} {array.shape}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

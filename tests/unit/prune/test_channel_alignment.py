"""Channel alignment against the real onnxruntime: the aligned export runs every conv in
onnxruntime's blocked NCHWc layout, the exact-count one does not, and both give the same
outputs. (The speed this buys is measured by benchmarks/pruning.py, not here.)"""

from __future__ import annotations

import itertools
from collections import OrderedDict

import numpy as np
import pytest
import torch
from torch import nn

from edgecheck.export import export_onnx
from edgecheck.prune import align_channels

ort = pytest.importorskip("onnxruntime")
onnx = pytest.importorskip("onnx")

NCHWC_DOMAIN = "com.microsoft.nchwc"


def _stack(widths: list[int]) -> nn.Module:
    torch.manual_seed(0)
    layers: OrderedDict[str, nn.Module] = OrderedDict()
    for i, (cin, cout) in enumerate(itertools.pairwise(widths)):
        layers[f"conv{i}"] = nn.Conv2d(cin, cout, 3, padding=1)
        layers[f"relu{i}"] = nn.ReLU()
    return nn.Sequential(layers).eval()


def _convs_by_layout(model: nn.Module, tmp_path, name: str) -> tuple[dict[str, int], np.ndarray]:
    """How many convs onnxruntime's optimized graph runs as NCHWc vs plain, and the output."""
    path = export_onnx(model, (3, 16, 16), tmp_path / f"{name}.onnx")
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.optimized_model_filepath = str(tmp_path / f"{name}-optimized.onnx")
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16)).astype(np.float32)
    out = session.run(None, {session.get_inputs()[0].name: x})[0]
    graph = onnx.load(options.optimized_model_filepath).graph
    counts = {"nchwc": 0, "plain": 0}
    for node in graph.node:
        if node.op_type in ("Conv", "FusedConv"):
            counts["nchwc" if node.domain == NCHWC_DOMAIN else "plain"] += 1
    return counts, out


def test_aligned_pruned_widths_run_in_nchwc_with_the_same_outputs(tmp_path):
    control, _ = _convs_by_layout(_stack([3, 32, 32]), tmp_path, "control")
    if control["nchwc"] == 0:
        pytest.skip("onnxruntime runs no conv in NCHWc on this CPU (no blocked kernels here)")
    exact = _stack([3, 24, 22, 41, 51, 8])  # Table VI's odd counts, as pruning leaves them
    exact_counts, exact_out = _convs_by_layout(exact, tmp_path, "exact")
    aligned_counts, aligned_out = _convs_by_layout(align_channels(exact, 4), tmp_path, "aligned")
    # onnxruntime 1.32 runs the convs on 22, 41 and 51 input channels unblocked (what the
    # alignment is for); a later version that blocks them too only makes it unneeded.
    assert exact_counts["nchwc"] + exact_counts["plain"] == 5, exact_counts
    assert aligned_counts == {"nchwc": 5, "plain": 0}, aligned_counts
    np.testing.assert_allclose(aligned_out, exact_out, rtol=1e-4, atol=1e-5)


def test_the_channel_multiple_follows_the_cpus_nchwc_block():
    from edgecheck.backends.onnxruntime_backend import nchwc_channel_multiple

    assert nchwc_channel_multiple(frozenset({"avx2", "avx512f", "fma"})) == 16
    assert nchwc_channel_multiple(frozenset({"avx2", "fma"})) == 8
    assert nchwc_channel_multiple(frozenset({"asimd", "fphp"})) == 1  # Arm: no blocked kernels
    assert nchwc_channel_multiple() in (1, 8, 16)

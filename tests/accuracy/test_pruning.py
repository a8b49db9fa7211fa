"""prune.macs on the model He et al.'s pruning produces, and what reconstruction buys.

Table VI is checked on the model the SURGERY returned (its convs as they are after pruning),
not on a model built from the plan. Kept channel counts and MACs do not depend on the images
pruning samples from, so VGG16 is pruned from four 64x64 synthetic images (`pruned_vgg16`,
once per session in tests/conftest.py, shared with tests/perf/test_pruning_speed.py; the same
plan at 224x224 with 512 images is `benchmarks/pruning.py`'s job) and counted at 224x224, the
paper's resolution.
"""

from __future__ import annotations

import pytest
import torch

from edgecheck.evaluation.pruning import SamplingSettings, fqa_comparison
from edgecheck.export import export_onnx
from edgecheck.macs import count_macs
from edgecheck.models import (
    VGG16_CONV_NAMES,
    VGG16_INPUT_SHAPE,
    VGG16_PAPER_PLAN,
    build_model,
)
from edgecheck.prune import synthetic_images

pytestmark = [pytest.mark.accuracy, pytest.mark.cpu]


@pytest.mark.claim("prune.macs")
def test_table6_on_the_pruned_model(pruned_vgg16, check_claim):
    """Every conv layer's GMACs after pruning, totals and ratio, counted on the surgery's model."""
    original, result = pruned_vgg16
    before = count_macs(original, VGG16_INPUT_SHAPE)
    after = count_macs(result.model, VGG16_INPUT_SHAPE)
    for name in VGG16_CONV_NAMES:
        check_claim.expect("prune.macs", after.gmacs(f"features.{name}"), key=f"after.{name}")
    check_claim.expect("prune.macs", after.conv_total / 1e9, key="after.total")
    check_claim.expect("prune.macs", before.conv_total / after.conv_total, key="ratio")
    check_claim.assert_all()
    assert after.conv_total == 3_391_649_856  # Eq. 1 exactly (field notes)


def test_pruned_vgg16_has_table6_kernel_counts_and_is_vgg16_of_that_plan(pruned_vgg16):
    original, result = pruned_vgg16
    assert result.plan.short() == dict(VGG16_PAPER_PLAN)
    assert {k.rsplit(".", 1)[-1]: v for k, v in result.kept().items()} == dict(VGG16_PAPER_PLAN)
    assert result.model.plan == dict(VGG16_PAPER_PLAN)
    # The state dict loads, strictly, into VGG16 built from the plan: same layers, same shapes.
    rebuilt = build_model("vgg16", plan="paper")
    rebuilt.load_state_dict(result.model.state_dict(), strict=True)
    x = synthetic_images(1, VGG16_INPUT_SHAPE, seed=3)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), result.model(x))
    assert original.features.conv1_1.out_channels == 64  # the input model is left alone
    assert all(layer.channels_after < layer.channels_before for layer in result.layers)


def test_pruned_vgg16_runs_in_onnxruntime_with_matching_outputs(pruned_vgg16, tmp_path):
    import onnxruntime

    _, result = pruned_vgg16
    path = export_onnx(result.model, VGG16_INPUT_SHAPE, tmp_path / "vgg16-pruned.onnx")
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = synthetic_images(2, VGG16_INPUT_SHAPE, seed=4)
    with torch.no_grad():
        expected = result.model(x).numpy()
    got = session.run(None, {session.get_inputs()[0].name: x.numpy()})[0]
    assert got.shape == expected.shape == (2, 1000)
    scale = float(abs(expected).max())
    assert float(abs(got - expected).max()) <= 1e-4 * scale


def test_reconstruction_beats_magnitude_pruning_on_the_trained_fqa_model():
    """LASSO + least squares vs L1 without reconstruction, same kept counts (conv1 12 -> 8,
    conv2 96 -> 48), on the shipped trained FQA CNN: sampled from generated training faces,
    judged on held-out test faces and on the quality scores of 800 of the test faces."""
    settings = SamplingSettings(images=128, shape=(1, 64, 64), samples_per_image=10, eval_images=64)
    result = fqa_comparison(settings, metric_faces=800)
    assert result.source.startswith("trained FQA CNN"), result.source
    by_label = {e.label: e for e in result.errors}
    lasso, l1 = by_label["lasso+ls"], by_label["l1"]
    assert lasso.layer_error < 0.5 * l1.layer_error, (lasso, l1)
    assert lasso.output_error < 0.5 * l1.output_error, (lasso, l1)
    full, pruned, magnitude = (result.metrics[k] for k in ("unpruned", "lasso+ls", "l1"))
    # He et al. keep the ranking of face quality almost intact; magnitude pruning does not.
    assert pruned["spearman"] > full["spearman"] - 0.01
    assert pruned["mae"] < magnitude["mae"]
    assert pruned["spearman"] > magnitude["spearman"]

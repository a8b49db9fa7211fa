"""prune.macs (Table VI, Eq. 1): MACs counted live on the models edgecheck builds.

The measured side is always a count over a real forward pass (or an exported ONNX graph) of
the model the channel plan produces; the paper's numbers come from the claim registry.
"""

from __future__ import annotations

import pytest

from edgecheck.evaluation.table6 import measure_table6
from edgecheck.export import export_onnx
from edgecheck.macs import count_macs, count_onnx_macs
from edgecheck.models import FQA_INPUT_SHAPE, VGG16_CONV_NAMES, VGG16_INPUT_SHAPE, build_model

pytestmark = [pytest.mark.accuracy, pytest.mark.cpu]


@pytest.fixture(scope="module")
def table6():
    return measure_table6("paper")


@pytest.mark.claim("prune.macs")
def test_table6_per_layer_matches_paper(table6, check_claim):
    """Every conv layer's GMACs, before and after pruning, within Table VI's rounding."""
    measured = table6.measured()
    for name in VGG16_CONV_NAMES:
        check_claim.expect("prune.macs", measured[f"before.{name}"], key=f"before.{name}")
        check_claim.expect("prune.macs", measured[f"after.{name}"], key=f"after.{name}")
    check_claim.assert_all()


@pytest.mark.claim("prune.macs")
def test_table6_totals_and_ratio(table6, check_claim, edgecheck_baseline):
    measured = table6.measured()
    for key in ("before.total", "after.total", "ratio"):
        check_claim.expect("prune.macs", measured[key], key=key)
    check_claim.assert_all()
    # Eq. 1 exactly (field notes): 15,346,630,656 and 3,391,649,856 conv MACs.
    assert table6.before.conv_total == 15_346_630_656
    assert table6.after.conv_total == 3_391_649_856
    # The merge gate: a change to VGG16 or the paper's plan that adds MACs fails against
    # baselines/<profile>.json (exact metrics, compared on any machine).
    edgecheck_baseline.expect("vgg16.conv_macs", table6.before.conv_total, unit="MACs")
    edgecheck_baseline.expect("vgg16_paper.conv_macs", table6.after.conv_total, unit="MACs")
    edgecheck_baseline.expect(
        "vgg16.conv_macs_ratio", measured["ratio"], unit="x", direction="higher"
    )
    edgecheck_baseline.assert_all()


def test_table6_conv4_3_typo_is_documented(table6, edgecheck_claims):
    """Table VI prints Conv4_3 'before' as 1.855 G; Eq. 1 gives 1.850 G, like conv4_2."""
    claim = edgecheck_claims["prune.macs"]
    measured = table6.measured()["before.conv4_3"]
    assert measured == pytest.approx(table6.measured()["before.conv4_2"])
    assert abs(measured - claim.paper_value("before.conv4_3")) > 0.004
    assert "Conv4_3" in claim.note


@pytest.mark.parametrize("plan", [None, "paper"], ids=["full", "paper"])
def test_vgg16_onnx_count_equals_torch_count(plan, vgg16_graph_onnx):
    """The same numbers from the exported ONNX graph as from the torch forward pass (the
    graph-only export is the session's, tests/conftest.py: the unit tests count it too)."""
    options = {"plan": plan} if plan else {}
    torch_count = count_macs(build_model("vgg16", device="meta", **options), VGG16_INPUT_SHAPE)
    onnx_count = count_onnx_macs(vgg16_graph_onnx(plan))
    assert {layer.name: layer.macs for layer in onnx_count.layers} == {
        layer.name: layer.macs for layer in torch_count.layers
    }
    assert onnx_count.conv_total == torch_count.conv_total


def test_fqa_macs_are_light_and_match_onnx(tmp_path, edgecheck_baseline):
    """Table I's FQA CNN: about 25 M MACs an image (well under 100 MFLOPs), torch == ONNX."""
    model = build_model("fqa")
    report = count_macs(model, FQA_INPUT_SHAPE)
    edgecheck_baseline.record("fqa.macs", report.total, unit="MACs")
    params = sum(p.numel() for p in model.parameters())
    edgecheck_baseline.record("fqa.parameters", params, unit="parameters")
    assert 20e6 <= report.total <= 30e6, f"FQA CNN has {report.total / 1e6:.1f} M MACs"
    assert 2 * report.total < 100e6
    conv_names = [layer.name for layer in report.layers if layer.kind == "conv"]
    assert conv_names[:1] == ["features.conv1"] and "features.conv3" in conv_names
    assert sum(name.startswith("features.inception.") for name in conv_names) == 4
    onnx_report = count_onnx_macs(export_onnx(model, FQA_INPUT_SHAPE, tmp_path / "fqa.onnx"))
    assert onnx_report.total == report.total

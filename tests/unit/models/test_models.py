"""The paper's models: shapes, plans, the registry and deterministic construction."""

from __future__ import annotations

import pytest
import torch

from edgecheck.errors import ModelError, PlanError
from edgecheck.models import (
    VGG16_CONV_NAMES,
    VGG16_PAPER_PLAN,
    ModelSpec,
    available_models,
    build_model,
    get_model_spec,
    register_model,
    resolve_plan,
)
from edgecheck.models import registry as registry_module


def test_paper_models_are_registered():
    assert {"fqa", "vgg16"} <= set(available_models())
    assert get_model_spec("fqa").input_shape == (1, 64, 64)
    assert get_model_spec("vgg16").input_shape == (3, 224, 224)


def test_fqa_outputs_one_score_in_unit_interval():
    model = build_model("fqa")
    with torch.no_grad():
        out = model(torch.randn(3, 1, 64, 64))
    assert out.shape == (3, 1)
    assert torch.all((out > 0) & (out < 1))


def test_fqa_follows_table_one():
    model = build_model("fqa", device="meta")
    convs = {n: m for n, m in model.named_modules() if isinstance(m, torch.nn.Conv2d)}
    assert convs["features.conv1"].out_channels == 12
    assert convs["features.conv2"].out_channels == 96
    assert convs["features.conv3"].out_channels == 128
    kernels = sorted(m.kernel_size[0] for n, m in convs.items() if ".inception." in n)
    assert kernels == [1, 1, 3, 5]  # 1x1, 3x3, 5x5 paths and the pool path's 1x1 projection
    linears = [m.out_features for m in model.modules() if isinstance(m, torch.nn.Linear)]
    assert linears == [128, 64, 1]


def test_same_seed_same_weights_and_rng_untouched():
    torch.manual_seed(123)
    expected_next = torch.rand(1)
    torch.manual_seed(123)
    a = build_model("fqa", seed=7)
    b = build_model("fqa", seed=7)
    assert torch.rand(1) == expected_next  # building did not consume the caller's RNG
    for (na, pa), (nb, pb) in zip(a.state_dict().items(), b.state_dict().items(), strict=True):
        assert na == nb and torch.equal(pa, pb)
    c = build_model("fqa", seed=8)
    assert not torch.equal(a.features.conv1.weight, c.features.conv1.weight)


def test_vgg16_plan_sets_widths_and_next_layer_inputs():
    model = build_model("vgg16", plan="paper", device="meta")
    convs = [m for m in model.features if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [VGG16_PAPER_PLAN[n] for n in VGG16_CONV_NAMES]
    assert [c.in_channels for c in convs[1:]] == [c.out_channels for c in convs[:-1]]
    assert model.classifier.fc6.in_features == 512 * 7 * 7


def test_partial_plan_keeps_other_layers_full():
    plan = resolve_plan({"conv2_1": 10})
    assert plan["conv2_1"] == 10 and plan["conv2_2"] == 128


@pytest.mark.parametrize(
    ("plan", "fragment"),
    [
        ("nonsense", "unknown channel plan 'nonsense'"),
        ({"conv9_9": 3}, "conv9_9"),
        ({"conv1_1": 0}, "between 1 and 64"),
        ({"conv1_1": 65}, "between 1 and 64"),
        ({"conv1_1": 2.5}, "whole number"),
    ],
)
def test_bad_plans_are_clear_errors(plan, fragment):
    with pytest.raises(PlanError, match=fragment):
        resolve_plan(plan)


def test_unknown_model_and_option_errors_list_choices():
    with pytest.raises(ModelError, match="registered models: .*vgg16"):
        get_model_spec("resnet")
    with pytest.raises(ModelError, match="does not take option.*plan"):
        build_model("fqa", plan="paper")


def test_register_a_user_model(monkeypatch):
    monkeypatch.setattr(registry_module, "_REGISTRY", dict(registry_module._REGISTRY))
    spec = ModelSpec("tiny", lambda device=None, seed=0: torch.nn.Linear(4, 2), (4,))
    register_model(spec)
    assert build_model("tiny").out_features == 2
    with pytest.raises(ModelError, match="already registered"):
        register_model(spec)
    with pytest.raises(ModelError, match="input_shape"):
        register_model(ModelSpec("bad", spec.factory, (0, 3)))

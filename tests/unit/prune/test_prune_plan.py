"""Pruning plans and the layer graph: what can be pruned, and clear errors for what cannot."""

from __future__ import annotations

from collections import OrderedDict

import pytest
import torch
from torch import nn

from edgecheck.errors import ModelError, PlanError
from edgecheck.models import VGG16_CONV_NAMES, VGG16_PAPER_PLAN, build_model
from edgecheck.prune import find_prunable_layers, parse_plan, resolve_prune_plan


@pytest.fixture(scope="module")
def vgg():
    return build_model("vgg16", device="meta")


@pytest.fixture(scope="module")
def fqa():
    return build_model("fqa", device="meta")


def test_vgg16_layers_and_consumers(vgg):
    layers = find_prunable_layers(vgg)
    assert [name.rsplit(".", 1)[-1] for name in layers] == list(VGG16_CONV_NAMES)
    assert layers["features.conv1_1"].consumers == ("features.conv1_2",)
    # conv3_3 -> ReLU -> max pool -> conv4_1: pooling between the two convs is channel-wise.
    assert layers["features.conv3_3"].consumers == ("features.conv4_1",)
    last = layers["features.conv5_3"]
    assert not last.prunable and "flatten" in (last.reason or "")


def test_fqa_conv1_is_judged_through_every_inception_branch(fqa):
    layers = find_prunable_layers(fqa)
    assert layers["features.conv1"].consumers == (
        "features.inception.branch1x1",
        "features.inception.branch3x3",
        "features.inception.branch5x5",
        "features.inception.branch_pool.proj",  # behind the branch's 3x3 max pool
    )
    assert layers["features.conv2"].consumers == ("features.conv3",)
    assert "cat" in (layers["features.inception.branch3x3"].reason or "")
    assert not layers["features.conv3"].prunable


def test_paper_plan_resolves_to_table6_counts(vgg):
    plan = resolve_prune_plan(vgg, "paper")
    assert plan.short() == dict(VGG16_PAPER_PLAN)
    assert [p.rsplit(".", 1)[-1] for p in plan.pruned()] == list(VGG16_CONV_NAMES[:10])


def test_ratios_and_full_paths(vgg, fqa):
    plan = resolve_prune_plan(vgg, {"features.conv1_1": 0.5, "conv2_1": 100})
    assert plan.kept["features.conv1_1"] == 32 and plan.kept["features.conv2_1"] == 100
    assert plan.kept["features.conv5_3"] == 512
    everywhere = resolve_prune_plan(fqa, 0.5)
    assert everywhere.kept["features.conv1"] == 6 and everywhere.kept["features.conv2"] == 48
    assert everywhere.kept["features.conv3"] == 128  # not prunable: a ratio leaves it alone
    assert resolve_prune_plan(fqa, 0.01).kept["features.conv1"] == 1  # never zero channels


@pytest.mark.parametrize(
    ("plan", "words"),
    [
        ({"conv1_1": 65}, ["features.conv1_1", "65 channels", "64 output channels"]),
        ({"conv2_1": 0}, ["features.conv2_1", "zero channels", "1 to 128"]),
        ({"conv9_9": 3}, ["conv9_9", "not a conv layer", "features.conv1_1"]),
        ({"conv5_3": 256}, ["features.conv5_3", "flatten", "Keep it at 512"]),
        ({"conv1_1": 1.5}, ["features.conv1_1", "ratio", "(0, 1]"]),
        ({"conv1_1": "24"}, ["features.conv1_1", "'24'"]),
        ("tiny", ["unknown pruning plan 'tiny'", "paper"]),
    ],
)
def test_bad_plans_name_the_layer_and_the_fix(vgg, plan, words):
    with pytest.raises(PlanError) as info:
        resolve_prune_plan(vgg, plan)
    for word in words:
        assert word in str(info.value)


def test_ambiguous_short_name_asks_for_the_path():
    model = nn.Sequential(
        OrderedDict(
            a=nn.Sequential(OrderedDict(conv=nn.Conv2d(3, 4, 3))),
            b=nn.Sequential(OrderedDict(conv=nn.Conv2d(4, 4, 3))),
        )
    )
    with pytest.raises(PlanError, match=r"ambiguous \(a.conv, b.conv\)"):
        resolve_prune_plan(model, {"conv": 2})
    assert resolve_prune_plan(model, {"a.conv": 2}).kept == {"a.conv": 2, "b.conv": 4}


def test_the_paper_plan_does_not_fit_the_fqa_model(fqa):
    with pytest.raises(PlanError, match="conv1_1"):
        resolve_prune_plan(fqa, "paper")


class _Residual(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 4, 3, padding=1)
        self.conv2 = nn.Conv2d(4, 4, 3, padding=1)
        self.conv3 = nn.Conv2d(4, 4, 3, padding=1, groups=2)
        self.bn = nn.BatchNorm2d(4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(x)
        return self.conv3(torch.relu(self.bn(self.conv2(y))) + y)


def test_adds_groups_and_batch_norms(vgg):
    layers = find_prunable_layers(_Residual())
    assert "add" in (layers["conv1"].reason or "")
    assert layers["conv2"].reason is not None  # its output is added too
    assert "groups=2" in (layers["conv3"].reason or "")
    stack = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 2, 1))
    layer = find_prunable_layers(stack)["0"]
    assert layer.prunable and layer.norms == ("1",) and layer.consumers == ("3",)


def test_shared_layer_and_untraceable_model():
    conv = nn.Conv2d(3, 3, 3, padding=1)

    class Twice(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = conv
            self.head = nn.Conv2d(3, 1, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.head(self.conv(self.conv(x)))

    assert "more than once" in (find_prunable_layers(Twice())["conv"].reason or "")

    class Branchy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.conv(x) if x.sum() > 0 else x

    with pytest.raises(ModelError, match="torch.fx"):
        find_prunable_layers(Branchy())


def test_parse_plan_from_the_command_line():
    assert parse_plan("paper") == "paper"
    assert parse_plan("0.5") == 0.5
    assert parse_plan("conv1_1=24, conv2_1=0.5") == {"conv1_1": 24, "conv2_1": 0.5}
    with pytest.raises(PlanError, match="LAYER=COUNT"):
        parse_plan("conv1_1=,x")
    with pytest.raises(PlanError, match="'many' is not a channel count"):
        parse_plan("conv1_1=many")

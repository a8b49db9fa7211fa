"""The Table VI judge names the layer whose count is off."""

from __future__ import annotations

from edgecheck.claims import ClaimRegistry
from edgecheck.evaluation.table6 import judge_table6, measure_table6
from edgecheck.models import VGG16_PAPER_PLAN


def test_one_changed_channel_count_fails_naming_the_layer():
    plan = dict(VGG16_PAPER_PLAN)
    plan["conv3_2"] += 5
    results = judge_table6(measure_table6(plan), ClaimRegistry(), "cpu")
    failed = {r.key for r in results if not r}
    # conv3_2 computes more outputs, and conv3_3 reads more inputs.
    assert {"after.conv3_2", "after.conv3_3"} <= failed
    assert not any(key.startswith("before.") for key in failed)
    messages = " ".join(r.message for r in results if not r)
    assert "prune.macs[after.conv3_2]" in messages


def test_paper_plan_passes_every_check():
    results = judge_table6(measure_table6("paper"), ClaimRegistry(), "cpu")
    assert len(results) == 2 * 13 + 3
    assert all(results), [r.message for r in results if not r]

"""The claim registry: every claim of claims.md, rules, verdicts and overrides."""

from __future__ import annotations

import math

import pytest

from edgecheck.claims import CLAIMS, PROFILE_NAMES, ClaimRegistry, Rule, parse_rule
from edgecheck.device import PROFILES
from edgecheck.errors import ConfigError

CLAIMS_MD_IDS = {
    "parallel.fqa.cores", "parallel.fqa.batch", "parallel.vgg16.cores", "quant.fp16.fps",
    "quant.fp16.speedup", "quant.error", "quant.int8.speedup", "quant.memory", "prune.macs",
    "prune.speedup",
}  # fmt: skip
# Claims about the device rather than the paper's numbers (no paper value of their own).
DEVICE_CLAIM_IDS = {"quant.int8.fidelity"}


def test_every_claim_of_claims_md_is_registered():
    assert set(CLAIMS) == CLAIMS_MD_IDS | DEVICE_CLAIM_IDS
    for claim in CLAIMS.values():
        assert claim.source and claim.description and claim.rules
        assert claim.paper or claim.id in DEVICE_CLAIM_IDS


def test_paper_values_match_the_paper_tables():
    assert CLAIMS["parallel.fqa.cores"].paper_value("b4@4c") == 2.478
    assert CLAIMS["parallel.vgg16.cores"].paper_value("b1@4c") == 2.46
    assert CLAIMS["quant.fp16.fps"].paper_value("1080p") == 34.25
    assert CLAIMS["quant.error"].paper_value() == 1.005
    assert CLAIMS["quant.int8.speedup"].paper_value("b128") == 3.48
    assert CLAIMS["prune.macs"].paper_value("after.total") == 3.39


def test_design_card_thresholds():
    vgg = CLAIMS["parallel.vgg16.cores"]
    assert vgg.check(2.41, profile="tx2", key="b1@4c")
    assert not vgg.check(2.39, profile="tx2", key="b1@4c")
    fps = CLAIMS["quant.fp16.fps"]
    assert fps.check(30.0, profile="tx2", key="1080p")
    assert not fps.check(29.9, profile="tx2", key="1080p")


def test_orin_has_the_tx2_fixed_value_rules_that_travel_and_no_others():
    # Every orin rule is a tx2 fixed-value rule carried over unchanged (claims/registry.py says why
    # each one travels); the paper_factor rules (a TX2's own numbers) and the end-to-end FP16
    # pipeline speedup (the CNN's share of a frame shrinks on Orin) have none.
    carried = {}
    for claim in CLAIMS.values():
        for scope, rule in claim.rules.items():
            profile, _, key = scope.partition(":")
            if profile == "orin":
                assert claim.rules[f"tx2:{key}" if key else "tx2"] == rule
                carried[(claim.id, key)] = rule.value
    assert carried == {
        ("parallel.vgg16.cores", "b1@4c"): 2.4,
        ("parallel.vgg16.cores", "b1@2c"): 1.7,
        ("quant.fp16.fps", ""): 30.0,
    }
    assert CLAIMS["quant.fp16.fps"].check(30.0, profile="orin", key="720p")
    assert not CLAIMS["quant.fp16.fps"].check(29.9, profile="orin", key="1080p")
    assert CLAIMS["parallel.vgg16.cores"].rule_for("orin", "b2@4c") is None
    assert CLAIMS["quant.fp16.speedup"].rule_for("orin", "1080p") is None
    # "any" rules apply on orin as everywhere.
    assert CLAIMS["prune.speedup"].rule_for("orin", "1c") == CLAIMS["prune.speedup"].rules["any"]
    # A project may set its own orin rules, and the profile lists agree.
    assert parse_rule({"op": ">=", "value": 60}, where="f orin:1080p") == Rule(">=", value=60.0)
    assert set(PROFILE_NAMES) == {*PROFILES, "any"}


def test_rule_kinds():
    assert Rule(">=", value=2.0).passes(2.0, 2.0)
    assert not Rule("<=", value=1.0).passes(1.01, 1.0)
    approx = Rule("~=", paper_factor=1.0, abs_tol=0.0005)
    assert approx.passes(1.8500, approx.bound(1.85))
    assert not approx.passes(1.8506, approx.bound(1.85))
    per_core = Rule(">=", per_core=0.75)
    assert per_core.bound(None, cores=2) == 1.5
    assert not Rule(">=", value=0.0).passes(math.nan, 0.0)


def test_a_reference_rule_scales_what_the_same_run_measured():
    """``reference_factor``: the bound moves with the machine (a ceiling, a GEMM ratio
    measured beside the claim), and the threshold text and result say what it was."""
    from edgecheck.claims import Claim

    rule = Rule(">=", reference_factor=0.8)
    assert rule.bound(None, reference=3.0) == pytest.approx(2.4)
    with pytest.raises(ConfigError, match="needs a reference measured in the same run"):
        rule.bound(None)
    claim = Claim(
        id="t", source="s", description="d", paper={}, unit="x", direction="higher",
        rules={"cpu": rule},
    )  # fmt: skip
    ok = claim.check(2.7, profile="cpu", reference=3.0, reference_name="ceiling")
    bad = claim.check(2.3, profile="cpu", reference=3.0, reference_name="ceiling")
    assert ok.verdict == "pass" and bad.verdict == "FAIL"
    assert ok.threshold == ">= 2.4x (0.8 x ceiling 3x)"
    assert ok.bound == pytest.approx(2.4) and ok.reference == 3.0
    assert ok.margin == pytest.approx(0.125) and bad.margin == pytest.approx(-0.1 / 2.4)
    assert ok.as_dict()["margin"] == pytest.approx(0.125)
    # The same factor on a machine twice as fast: the bound doubles with its reference.
    assert not claim.check(2.7, profile="cpu", reference=6.0)
    assert parse_rule({"op": ">=", "reference_factor": 0.8}, where="f cpu") == rule


def test_margin_is_positive_on_the_passing_side():
    assert Rule("<=", value=1.5).margin(0.9, 1.5) == pytest.approx(0.4)
    assert Rule(">=", value=2.0).margin(1.5, 2.0) == pytest.approx(-0.25)
    assert Rule("~=", value=2.0, abs_tol=0.1).margin(2.05, 2.0) == pytest.approx(0.025)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"op": ">="},
        {"op": ">=", "value": 1, "per_core": 1},
        {"op": ">=", "value": 1, "reference_factor": 1},
        {"op": "!=", "value": 1},
    ],
)
def test_malformed_rules_are_rejected(kwargs):
    with pytest.raises(ConfigError):
        Rule(**kwargs)


def test_rule_lookup_prefers_the_most_specific_scope():
    claim = CLAIMS["parallel.vgg16.cores"]
    assert claim.rule_for("tx2", "b1@4c") == Rule(">=", value=2.4)
    assert claim.rule_for("tx2", "b2@4c") == Rule(">=", paper_factor=0.9)
    assert claim.rule_for("gpu", "b1@4c") is None


def test_not_applicable_is_truthy_but_not_a_pass():
    result = CLAIMS["quant.fp16.fps"].check(10.0, profile="cpu", key="1080p")
    assert result.verdict == "not applicable" and "cpu profile" in result.message


def test_result_message_names_measured_threshold_and_paper():
    vgg = CLAIMS["parallel.vgg16.cores"]
    result = vgg.check(2.5, profile="cpu", key="b1@4c", cores=4)  # 0.65 x 4 cores
    assert not result
    assert "measured 2.5x" in result.message and ">= 2.6x" in result.message
    assert "paper 2.46x" in result.message
    assert result.as_dict()["verdict"] == "FAIL"
    # 2 cores: F x the data-parallel scaling measured in the same run
    f = vgg.rule_for("cpu", "b1@2c").reference_factor
    result = vgg.check(1.2, profile="cpu", key="b1@2c", cores=2, reference=2.0,
                       reference_name="data-parallel scaling")  # fmt: skip
    assert not result and result.reference == 2.0 and result.bound == pytest.approx(2 * f)
    assert f"({f:g} x data-parallel scaling 2x)" in result.message


def test_overrides_replace_rules_and_report_bad_fields():
    registry = ClaimRegistry().with_overrides(
        {"quant.error": {"any": {"op": "<=", "value": 2.0}}}, origin="pyproject.toml"
    )
    assert registry["quant.error"].check(1.8, profile="cpu")
    assert not ClaimRegistry()["quant.error"].check(1.8, profile="cpu")
    with pytest.raises(ConfigError, match=r'pyproject.toml: \[tool.edgecheck.claims."nope"\]'):
        ClaimRegistry().with_overrides({"nope": {}}, origin="pyproject.toml")
    with pytest.raises(ConfigError, match="field 'value' = 'x' must be a number"):
        parse_rule({"op": ">=", "value": "x"}, where="f cpu")
    with pytest.raises(ConfigError, match="'laptop' is not a profile"):
        parse_rule({"op": ">=", "value": 1}, where="f laptop")
    with pytest.raises(ConfigError, match="unknown field"):
        parse_rule({"op": ">=", "valu": 1}, where="f cpu")


def test_unknown_claim_id_lists_known_ones():
    with pytest.raises(ConfigError, match="known claims: .*prune.macs"):
        ClaimRegistry()["prune.mac"]

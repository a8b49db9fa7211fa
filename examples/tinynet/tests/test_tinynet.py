"""The merge gate for the team's models: MACs, parameters and latency against the baselines.

Every model in [tool.edgecheck.models] of pyproject.toml is a parameter of these tests.
Refresh the baselines with `pytest --edgecheck-update-baselines` and commit baselines/.
"""

from __future__ import annotations

import pytest


@pytest.mark.accuracy
def test_macs_and_parameters(edgecheck_user_model, edgecheck_baseline):
    report = edgecheck_user_model.count_macs()
    edgecheck_baseline.expect("macs", report.total, unit="MACs")
    params = sum(p.numel() for p in edgecheck_user_model.build().parameters())
    edgecheck_baseline.expect("parameters", params, unit="parameters")
    edgecheck_baseline.assert_all()


@pytest.mark.perf
def test_latency(edgecheck_user_model, edgecheck_baseline):
    """Compared only on the machine that recorded it; elsewhere: no baseline for this device."""
    from edgecheck.backends import make_runner
    from edgecheck.bench import TimingPolicy, measure

    with make_runner(edgecheck_user_model.source(), "torch", device="cpu") as runner:
        batch = runner.example_input()
        result = measure(lambda: runner.infer(batch), policy=TimingPolicy(min_time=0.5))
    edgecheck_baseline.record("latency", result.samples, unit="s", kind="timing")

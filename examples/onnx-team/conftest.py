"""How long the gate times each model: ``pytest --gate-time SECONDS`` (default 2)."""

from __future__ import annotations

import pytest

# Per batch size, at least this many seconds of timed calls (after a warm-up); more when the
# median's interval is still wide. Longer runs decide smaller changes.
DEFAULT_GATE_TIME = 2.0
# A latency test whose thread waited for a CPU longer than this share of its time (other jobs
# were running on the machine) is skipped, not judged: such a slowdown says nothing about the
# model. Measured on a shared 2-core VM, the p50 held to within 5 % up to about 45 %.
MAX_CONTENTION = 0.30


def gate_policy(seconds: float = DEFAULT_GATE_TIME):
    """The latency tests' `edgecheck.bench.TimingPolicy` for `seconds` of calls per batch size."""
    from edgecheck.bench import TimingPolicy

    # min_rounds: at least 10 blocks of 100 calls, each giving one p99 (tests/test_gate.py).
    return TimingPolicy(min_time=seconds, min_rounds=1000, max_time=max(60.0, 10 * seconds),
                        max_contention=MAX_CONTENTION)  # fmt: skip


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--gate-time", type=float, default=DEFAULT_GATE_TIME, metavar="SECONDS",
        help=f"seconds of timed calls per model and batch size (default: {DEFAULT_GATE_TIME})",
    )  # fmt: skip


@pytest.fixture
def timing_policy(request: pytest.FixtureRequest):
    """The latency tests' timing policy (`gate_policy` for ``--gate-time``)."""
    return gate_policy(request.config.getoption("--gate-time"))

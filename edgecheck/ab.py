"""A/B on one machine: time two runners interleaved and judge NEW against OLD.

The same statistical check as the stored baselines (`edgecheck.baselines.BaselineCheck`), on
samples measured round by round (A B A B ...) by `edgecheck.bench.timing.measure_interleaved`,
so drift on a shared machine hits both sides alike. Judge layer: it uses the runners and the
timing harness, and nothing above it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from edgecheck.baselines import BaselineCheck, Entry, Verdict

if TYPE_CHECKING:
    from edgecheck.backends.base import Runner
    from edgecheck.bench.timing import Measurement, TimingPolicy


@dataclass(frozen=True)
class ABResult:
    """Both measurements and the verdict on NEW against OLD (truthy unless a regression)."""

    old: Measurement
    new: Measurement
    verdict: Verdict

    def __bool__(self) -> bool:
        return bool(self.verdict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready: the verdict, and each side's statistics (no samples)."""
        return {
            "verdict": self.verdict.as_dict(),
            "old": {"name": self.old.name, **self.old.stats.as_dict(), "unstable": self.old.unstable,
                    "reason": self.old.reason},
            "new": {"name": self.new.name, **self.new.stats.as_dict(), "unstable": self.new.unstable,
                    "reason": self.new.reason},
        }  # fmt: skip


def judge_samples(
    old: Any, new: Any, *, check: BaselineCheck, metric: str = "latency", unit: str = "s",
    label: str = "ab",
) -> Verdict:  # fmt: skip
    """The verdict on timing samples `new` against `old` (lower is better), every sample kept."""
    fp = "this-machine"  # one machine, one run: the fingerprints match by construction
    kw: dict[str, Any] = {"kind": "timing", "unit": unit, "fingerprint_id": fp, "max_samples": None}
    return check.check(
        Entry.measured(label, metric, old, **kw), Entry.measured(label, metric, new, **kw)
    )


def ab_compare(
    old: Runner,
    new: Runner,
    *,
    policy: TimingPolicy | None = None,
    check: BaselineCheck | None = None,
    seed: int = 0,
) -> ABResult:
    """Time `old` and `new` interleaved on one batch and judge `new` against `old`.

    Args:
        old, new: inactive runners (activated and deactivated here).
        policy: how long to measure; default ``TimingPolicy(min_time=5.0)``.
        check: the rule; default `BaselineCheck()` (5 % tolerance, 99 % confidence).
        seed: of the example batch.

    Returns:
        An `ABResult`.
    """
    from edgecheck.bench.timing import CallSampler, Target, TimingPolicy, measure_interleaved

    policy = policy or TimingPolicy(min_time=5.0)
    check = check or BaselineCheck()
    with old, new:
        batch_old = old.example_input(seed)
        batch_new = new.example_input(seed)
        targets = [
            Target("old", CallSampler(lambda: old.infer(batch_old)), old.config.batch_size),
            Target("new", CallSampler(lambda: new.infer(batch_new)), new.config.batch_size),
        ]
        # settle=1: the first call after switching models pays a cold cache; that cost is
        # the switching's, not the model's, and would blur a small slowdown.
        m_old, m_new = measure_interleaved(targets, policy=policy, settle=1)
    verdict = judge_samples(m_old.samples, m_new.samples, check=check,
                            label=f"{old.config.model} -> {new.config.model}")  # fmt: skip
    return ABResult(m_old, m_new, verdict)

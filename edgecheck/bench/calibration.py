"""The calibration micro-benchmark: how fast one core of this machine multiplies and reads.

A timing baseline is compared only on a machine that runs at the same speed. The fingerprint
(`edgecheck.device`) says what the machine *is*; two machines with one fingerprint can still
differ in speed (a VM on a faster host, another cloud SKU behind the same masked CPU name, a
power-capped board). Two numbers, measured in about 2-3 s, catch that:

* ``sgemm_gflops``: single-precision matrix multiplication on one core, the arithmetic rate
  that convolutions and linear layers run at;
* ``read_gbps``: reading a 256 MiB array on one core, the memory rate that large weights
  (VGG16's FC head) and video frames are read at.

Measured with torch for the sgemm, pinned to one thread (``torch.set_num_threads(1)``) and to
one core (`edgecheck.bench.cores.on_one_core`): torch is a hard dependency of edgecheck, its
version is part of the fingerprint (so its BLAS is too), and it is the library the models run
on. numpy's BLAS would need threadpoolctl (only present with scikit-learn) to pin its threads.
The memory read is numpy's sum over float32, which is single-threaded by construction.

The machine may be shared: other jobs only ever slow a round down, never speed it up, so each
number is the median of the fastest half of the rounds (robust to a few disturbed rounds,
less optimistic than the single best one).

`calibrate_once(fingerprint_id)` measures once per process and fingerprint id and returns the
cached result afterwards; it is not cached on disk on purpose: a calibration carried over from
another run would hide the very change it exists to catch (same identity, slower host).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Matrix size for the sgemm: 2 * 1024^3 FLOPs a call (about 10-40 ms on one modern core),
# large enough to run at the BLAS kernel's full rate, small enough (12 MiB) to need no tuning.
SGEMM_SIZE = 1024
# 256 MiB: far beyond any last-level cache, so the sum reads DRAM.
READ_BYTES = 256 * 2**20
# Each number is measured for this long (at least MIN_ROUNDS rounds): 1.7 s in all, plus the
# allocation and first touch of the arrays (and torch's import, if not yet done). On the 2-core
# development machine (AMD EPYC Zen 4, shared) six runs gave sgemm 91.3-96.0 GFLOP/s and
# read 24.6-25.5 GB/s (about 33 and 74 rounds each); 9 fixed rounds had spread twice as wide.
SECONDS_PER_RATE = 0.8
MIN_ROUNDS = 5

# How far (relative, either way) this machine's rates may be from those stored with a timing
# for the timing to be compared (`edgecheck.baselines.compare`): 25 %. On the shared 2-core
# development machine one machine's rates stayed within 5 % over six quiet runs, but two runs
# seconds apart beside another job gave read 25.5 vs 20.5 GB/s (1.24x) and sgemm 89 vs 75
# GFLOP/s (see ARCHITECTURE.md, bench/calibration.py); the machines the gate must tell apart
# differ by 2x (pipeline 60-66 vs 132-146 fps on two VMs that both say "AMD EPYC"). A
# mismatch only skips a comparison, so the band errs towards skipping less.
CALIBRATION_BAND = 0.25

_CACHE: dict[str, Calibration] = {}


@dataclass(frozen=True)
class Calibration:
    """What one core of a machine does: sgemm GFLOP/s and memory read GB/s.

    Attributes:
        sgemm_gflops: float32 matrix multiplication on one core, GFLOP/s.
        read_gbps: reading a large float32 array on one core, GB/s (10^9 bytes).
    """

    sgemm_gflops: float
    read_gbps: float

    def as_dict(self) -> dict[str, float]:
        """JSON-ready, rounded to 4 significant digits (the noise is in the 2nd)."""
        return {
            "sgemm_gflops": float(f"{self.sgemm_gflops:.4g}"),
            "read_gbps": float(f"{self.read_gbps:.4g}"),
        }

    def text(self) -> str:
        """E.g. ``"sgemm 101 GFLOP/s, read 14.2 GB/s"``."""
        return f"sgemm {self.sgemm_gflops:.3g} GFLOP/s, read {self.read_gbps:.3g} GB/s"

    @classmethod
    def from_dict(cls, raw: Any, *, where: str) -> Calibration:
        """Parse ``{"sgemm_gflops": .., "read_gbps": ..}``; `where` names the place for errors.

        Raises:
            ValueError: not such a mapping, or a rate that is not a positive finite number.
        """
        if not isinstance(raw, dict) or set(raw) != {"sgemm_gflops", "read_gbps"}:
            raise ValueError(
                f"{where}: 'calibration' must be an object with exactly 'sgemm_gflops' and "
                f"'read_gbps', got {raw!r}"
            )
        for name, value in raw.items():
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{where}: calibration '{name}' must be a number, got {value!r}")
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{where}: calibration '{name}' must be > 0, got {value!r}")
        return cls(float(raw["sgemm_gflops"]), float(raw["read_gbps"]))


def differences(stored: Calibration, here: Calibration, band: float) -> list[str]:
    """The rates that differ by more than `band` (relative, either way), as text for a verdict.

    E.g. ``["sgemm 48 vs 101 GFLOP/s"]`` (stored first); ``[]`` when both agree.
    """
    out = []
    pairs = (
        ("sgemm", stored.sgemm_gflops, here.sgemm_gflops, "GFLOP/s"),
        ("read", stored.read_gbps, here.read_gbps, "GB/s"),
    )
    for name, old, new, unit in pairs:
        if max(old, new) / min(old, new) > 1.0 + band:
            out.append(f"{name} {old:.3g} vs {new:.3g} {unit}")
    return out


def robust_rate(rates: list[float]) -> float:
    """The median of the fastest half: disturbed rounds (other jobs) only ever lower a rate."""
    fastest = sorted(rates, reverse=True)[: (len(rates) + 1) // 2]
    return statistics.median(fastest)


def _rates(work: Callable[[], object], amount: float, seconds: float) -> list[float]:
    """Rates (amount per second, in 10^9) of rounds of `work` for about `seconds`."""
    work()  # warm-up: page faults, BLAS buffers, frequency ramp
    rates: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(rates) < MIN_ROUNDS or time.perf_counter() < deadline:
        start = time.perf_counter()
        work()
        rates.append(amount / (time.perf_counter() - start) / 1e9)
    return rates


def measure_sgemm(seconds: float = SECONDS_PER_RATE, size: int = SGEMM_SIZE) -> list[float]:
    """GFLOP/s of each round of a float32 ``size x size`` matmul on one torch thread."""
    import torch  # inside: a heavy import, needed only when a calibration is measured

    from edgecheck.bench.cores import on_one_core

    a = torch.rand(size, size, dtype=torch.float32)
    b = torch.rand(size, size, dtype=torch.float32)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with on_one_core(), torch.inference_mode():
            return _rates(lambda: torch.mm(a, b), 2.0 * size**3, seconds)
    finally:
        torch.set_num_threads(threads)


def measure_read(seconds: float = SECONDS_PER_RATE, nbytes: int = READ_BYTES) -> list[float]:
    """GB/s of each round of summing a float32 array of `nbytes` on one core."""
    import numpy as np

    from edgecheck.bench.cores import on_one_core

    data = np.ones(nbytes // 4, dtype=np.float32)  # written once: every page is really there
    with on_one_core():
        return _rates(lambda: data.sum(), float(data.nbytes), seconds)


def measure_calibration(seconds_per_rate: float = SECONDS_PER_RATE) -> Calibration:
    """Measure both rates now (about 2-3 s); see the module docstring for the method."""
    return Calibration(
        sgemm_gflops=robust_rate(measure_sgemm(seconds_per_rate)),
        read_gbps=robust_rate(measure_read(seconds_per_rate)),
    )


def calibrate_once(fingerprint_id: str) -> Calibration:
    """This machine's calibration, measured on the first call for `fingerprint_id` in this
    process and reused afterwards (one measurement per run, not per test)."""
    if fingerprint_id not in _CACHE:
        _CACHE[fingerprint_id] = measure_calibration()
    return _CACHE[fingerprint_id]


def clear_calibration_cache() -> None:
    """Forget cached calibrations, so the next `calibrate_once` measures again."""
    _CACHE.clear()

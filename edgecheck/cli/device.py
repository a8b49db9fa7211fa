"""``edgecheck device``: this machine's profile, capabilities, identity and calibration.

`add_parser` registers the command; `run` executes it (the calibration imports numpy inside).
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from edgecheck.bench.calibration import CALIBRATION_BAND
from edgecheck.options import add_profile_option

COMMANDS = ("device",)


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``device`` on the ``edgecheck`` command's sub-parsers."""
    dv: argparse.ArgumentParser = subparsers.add_parser(
        "device",
        help="print this machine's profile, capabilities, identity and calibration",
        description="Detect the device profile (tx2, orin, gpu, cpu), what the hardware computes "
        "natively (FP16, BF16, INT8 dot products), the runtimes present, and the device "
        "identity that results and baselines record: the fingerprint fields that decide "
        "speed (CPU vendor, family, model, stepping, ISA features, cores, memory, runtime "
        "versions, CUDA device, Jetson release), hashed into the fingerprint id, and what is "
        "recorded beside them (OS, Python, CPU name). Then measure the calibration (one-core "
        "sgemm GFLOP/s and memory read GB/s, 2-3 s): a stored timing is compared only on a "
        "machine with the same fingerprint id and a calibration within "
        f"{CALIBRATION_BAND:.0%} of the one stored with it.",
    )
    dv.add_argument("--json", action="store_true", help="print JSON")
    dv.add_argument(
        "--no-calibration", action="store_true",
        help="do not measure the calibration (saves 2-3 s)",
    )  # fmt: skip
    add_profile_option(dv.add_argument, "--")
    return dv


def run(args: argparse.Namespace) -> int:
    from edgecheck.bench.calibration import calibrate_once
    from edgecheck.device import describe_device, detect_device

    info = detect_device(args.edgecheck_profile, profile_flag="--profile")
    if args.json:
        payload = info.as_dict()
        calibration = None if args.no_calibration else calibrate_once(info.fingerprint_id)
        payload["calibration"] = calibration.as_dict() if calibration else None
        print(json.dumps(payload, indent=2, default=str))
        return 0
    print(describe_device(info))
    if args.no_calibration:
        print("calibration: not measured (--no-calibration)")
        return 0
    print("calibration: measuring one-core sgemm and memory read (2-3 s) ...", flush=True)
    print(f"calibration: {calibrate_once(info.fingerprint_id).text()}")
    return 0

"""The power state: set the manifest's (nvpmodel, jetson_clocks), always restore the one found."""

# Python 3.6 compatibility: no `from __future__ import annotations`, no dataclasses, no walrus,
# no `capture_output=`/`text=` in subprocess, typing.List/Dict annotations.

import contextlib
import os
import shutil
import tempfile
import time
from typing import Any, Callable, Dict, Iterator, List, Optional

from edgecheck.agent.board.common import (
    NO_POWER_TOOLS,
    PowerError,
    Runner,
    Which,
    run_command,
    tail,
)
from edgecheck.agent.board.probe import parse_nvpmodel


@contextlib.contextmanager
def power_state(
    spec: Optional[Dict[str, Any]],
    board: Dict[str, Any],
    run: Runner = run_command,
    which: Which = shutil.which,
    sleep: Callable[[float], None] = time.sleep,
    skip_reason: Optional[str] = None,
) -> Iterator[Dict[str, Any]]:
    """Set the manifest's power state for the body, and ALWAYS restore the one found.

    Set: ``jetson_clocks --store F``, ``nvpmodel -m N`` (when N differs from the mode found),
    ``jetson_clocks`` (when asked), sleep ``settle_s``. Restore, in a ``finally`` (so also on
    an error and on KeyboardInterrupt): ``nvpmodel -m <old>``, ``jetson_clocks --restore F``.
    Yields the record for results.json; ``status`` is "set", "not set" (no tools, not a
    Jetson), "left alone" (power null, --no-power) or "failed" (a command failed: the
    workloads are not run).
    """
    record = {
        "requested": spec,
        "status": "left alone",
        "reason": None,
        "before": board.get("power_mode"),
        "commands": [],
        "restored": None,
        "restore_errors": [],
    }  # type: Dict[str, Any]
    if spec is None or skip_reason:
        record["reason"] = skip_reason or "the manifest asks for no power state (power: null)"
        yield record
        return
    nvpmodel, jetson_clocks = which("nvpmodel"), which("jetson_clocks")
    if not board.get("soc"):
        record["status"] = "not set"
        record["reason"] = (
            "not set: not a Jetson (no nvidia,tegra* in /proc/device-tree/compatible)"
        )
        yield record
        return
    if not nvpmodel or not jetson_clocks:
        missing = [
            n for n, p in (("nvpmodel", nvpmodel), ("jetson_clocks", jetson_clocks)) if not p
        ]
        record["status"] = "not set"
        record["reason"] = "%s (missing: %s)" % (NO_POWER_TOOLS, ", ".join(missing))
        yield record
        return

    def step(argv: List[str], log: List[Any]) -> str:
        rc, out = run(argv, 300)
        log.append({"argv": argv, "rc": rc, "output": tail(out)})
        if rc != 0:
            raise PowerError("%s failed (exit %d): %s" % (" ".join(argv), rc, tail(out, 300)))
        return out

    fd, store = tempfile.mkstemp(prefix="edgecheck-clocks-", suffix=".conf")
    os.close(fd)
    stored = False
    old_mode = None  # type: Optional[int]
    mode_touched = False
    try:
        try:
            wanted = spec.get("nvpmodel")
            if wanted is not None:
                found = parse_nvpmodel(step([nvpmodel, "-q"], record["commands"]))
                if not found or found.get("id") is None:
                    raise PowerError(
                        "cannot read the current mode from nvpmodel -q; nothing changed"
                    )
                old_mode = found["id"]
                record["before"] = found
            step([jetson_clocks, "--store", store], record["commands"])
            stored = True
            if wanted is not None and wanted != old_mode:
                mode_touched = True  # before the call: a failed -m may have changed part of it
                step([nvpmodel, "-m", str(wanted)], record["commands"])
            if spec.get("jetson_clocks"):
                step([jetson_clocks], record["commands"])
            settle = float(spec.get("settle_s") or 0)
            if settle > 0:
                sleep(settle)
            record["status"] = "set"
            record["reason"] = "set: nvpmodel %s, jetson_clocks %s, settled %g s" % (
                "kept" if wanted is None else "-m %d" % wanted,
                "on" if spec.get("jetson_clocks") else "not run",
                settle,
            )
        except PowerError as exc:
            record["status"] = "failed"
            record["reason"] = (
                "power state not set: %s (run the agent as root, or pass --no-power)" % exc
            )
        yield record
    finally:
        if mode_touched and old_mode is not None:
            try:
                step([nvpmodel, "-m", str(old_mode)], record["commands"])
            except PowerError as exc:
                record["restore_errors"].append(str(exc))
        if stored:
            try:
                step([jetson_clocks, "--restore", store], record["commands"])
            except PowerError as exc:
                record["restore_errors"].append(str(exc))
        with contextlib.suppress(OSError):
            os.unlink(store)
        record["restored"] = not record["restore_errors"] if (stored or mode_touched) else None

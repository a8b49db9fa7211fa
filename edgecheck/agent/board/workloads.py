"""Run the workloads: pin, measure, compare snapshots; the whole run (`run_agent`)."""

# Python 3.6 compatibility: no `from __future__ import annotations`, no dataclasses, no walrus,
# no `capture_output=`/`text=` in subprocess, typing.List/Dict annotations.

import contextlib
import os
import platform
import shutil
import sys
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

from edgecheck.agent.board.common import (
    AGENT_VERSION,
    EXIT_ERROR,
    EXIT_OK,
    NO_ONNXRUNTIME,
    NO_TRTEXEC,
    SCHEMA,
    Runner,
    Which,
    now_iso,
    run_command,
    write_json_atomic,
)
from edgecheck.agent.board.manifest import load_bundle
from edgecheck.agent.board.ort import run_onnxruntime
from edgecheck.agent.board.power import power_state
from edgecheck.agent.board.probe import choose_cpus, probe_board, snapshot
from edgecheck.agent.board.stability import compare_snapshots
from edgecheck.agent.board.trt import (
    find_trtexec,
    parse_tensorrt_version,
    run_trtexec,
    trtexec_plan,
)


@contextlib.contextmanager
def pinned(cpus: Optional[Sequence[int]]) -> Iterator[bool]:
    """Pin this process (and the threads and programs it starts later) to `cpus`, then restore."""
    if cpus is None or not hasattr(os, "sched_setaffinity"):
        yield False
        return
    old = os.sched_getaffinity(0)
    os.sched_setaffinity(0, set(cpus))
    try:
        yield True
    finally:
        os.sched_setaffinity(0, old)


def _allowed_cpus() -> Optional[List[int]]:
    if hasattr(os, "sched_getaffinity"):
        return sorted(os.sched_getaffinity(0))
    return None


def run_workload(
    w: Dict[str, Any],
    bundle: str,
    manifest: Dict[str, Any],
    board: Dict[str, Any],
    env: Dict[str, Any],
) -> Dict[str, Any]:
    """Measure one workload; a crash becomes status "error" with the exception's text."""
    result = {
        "name": w["name"],
        "runtime": w["runtime"],
        "status": "not run",
        "reason": None,
        "samples_s": [],
        "unit": "s per batch",
        "batch": w["inputs"][0]["shape"][0],
        "precision": w["precision"],
        "cores": w["cores"],
        "threads": w["threads"],
        "cpus": None,
        "stable": None,
        "unstable_reasons": [],
        "claims": w.get("claims", []),
    }  # type: Dict[str, Any]
    if env.get("power_failed"):
        result["reason"] = "not run: %s" % env["power_failed"]
        return result
    if w["runtime"] == "trtexec" and not env.get("trtexec"):
        result["reason"] = NO_TRTEXEC
        return result
    if w["runtime"] == "onnxruntime" and env.get("onnxruntime_missing"):
        result["reason"] = "%s [%s]" % (NO_ONNXRUNTIME, env["onnxruntime_missing"])
        return result
    cpus, why = choose_cpus(int(w["cores"]), board, env.get("allowed"))
    if cpus is None:
        result["reason"] = why
        return result
    result["cpus"] = cpus
    root = env.get("root", "/")
    try:
        with pinned(cpus) as is_pinned:
            result["pinned"] = is_pinned
            before = snapshot(root)
            if w["runtime"] == "onnxruntime":
                measured = run_onnxruntime(w, bundle)
            else:
                measured = run_trtexec(
                    w, bundle, manifest, board, env["run"], env["trtexec"], env.get("tensorrt")
                )
            after = snapshot(root)
    except Exception as exc:  # any crash of one workload is its result
        result["status"] = "error"
        result["reason"] = "%s: %s" % (type(exc).__name__, exc)
        return result
    result.update(measured)
    result["status"] = "ok"
    reasons = compare_snapshots(before, after, cpus=cpus, devfreq=w["runtime"] == "trtexec")
    result["stable"] = not reasons
    result["unstable_reasons"] = reasons
    result["snapshots"] = {"before": before, "after": after}
    return result


def probe_runtimes(run: Runner, which: Which) -> Tuple[Dict[str, Any], Dict[str, Any]]:
    """(runtimes for results.json, environment for the workloads)."""
    runtimes = {"onnxruntime": None, "tensorrt": None, "numpy": None}  # type: Dict[str, Any]
    env = {}  # type: Dict[str, Any]
    try:
        import numpy

        runtimes["numpy"] = numpy.__version__
    except Exception as exc:  # a broken install is "missing", with its reason
        env["onnxruntime_missing"] = "numpy: %s" % exc
    if "onnxruntime_missing" not in env:
        try:
            import onnxruntime

            runtimes["onnxruntime"] = onnxruntime.__version__
        except Exception as exc:
            env["onnxruntime_missing"] = "onnxruntime: %s" % exc
    trtexec = find_trtexec(which)
    env["trtexec"] = trtexec
    if trtexec:
        _rc, out = run([trtexec, "--help"], 120)
        runtimes["tensorrt"] = parse_tensorrt_version(out)
        runtimes["trtexec"] = trtexec
    env["tensorrt"] = runtimes["tensorrt"]
    return runtimes, env


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2.0


def _summary(result: Dict[str, Any]) -> str:
    if result["status"] == "ok":
        text = "ok, %d samples, median %.3f ms" % (
            len(result["samples_s"]),
            1000 * _median(result["samples_s"]),
        )
        if not result["stable"]:
            text += ", UNSTABLE: " + "; ".join(result["unstable_reasons"])
        return text
    reason = result["reason"] or ""
    return reason if reason.startswith(result["status"]) else "%s: %s" % (result["status"], reason)


def describe_plan(
    manifest: Dict[str, Any],
    bundle: str,
    board: Dict[str, Any],
    no_power: bool,
    trtexec: Optional[str],
    tensorrt: Optional[str],
) -> List[str]:
    """What a run would do, for --dry-run (changes nothing, writes nothing)."""
    lines = [
        "bundle %s: target %s, %d workloads" % (bundle, manifest["target"], len(manifest["workloads"])),
        "board: soc %s (profile %s), L4T %s, model %s, online CPUs %s, power mode %s"
        % (board["soc"], board["profile_hint"], board["l4t"], board["model"],
           board["online_cpus"], board["power_mode"]),
    ]  # fmt: skip
    power = manifest.get("power")
    if power is None:
        lines.append("power: left alone (power: null)")
    elif no_power:
        lines.append("power: left alone (--no-power)")
    else:
        lines.append(
            "power: jetson_clocks --store; nvpmodel -m %s; %sjetson_clocks; sleep %g s; restore after"
            % (
                power.get("nvpmodel"),
                "" if power.get("jetson_clocks") else "no ",
                power["settle_s"],
            )
        )
    allowed = _allowed_cpus()
    for i, w in enumerate(manifest["workloads"]):
        cpus, why = choose_cpus(int(w["cores"]), board, allowed)
        head = "[%d/%d] %s (%s, %s)" % (
            i + 1, len(manifest["workloads"]), w["name"], w["runtime"], w["precision"],
        )  # fmt: skip
        if cpus is None:
            lines.append("%s: not run: %s" % (head, why))
        elif w["runtime"] == "trtexec":
            if not trtexec:
                lines.append("%s: %s" % (head, NO_TRTEXEC))
                continue
            plan = trtexec_plan(w, bundle, manifest, board, trtexec, tensorrt, "<times.json>")
            if os.path.isfile(plan["engine"]):
                lines.append("%s on cpus %s: cached engine %s" % (head, cpus, plan["engine"]))
            else:
                lines.append("%s on cpus %s: build: %s" % (head, cpus, " ".join(plan["build"])))
            lines.append("    time: %s" % " ".join(plan["time"]))
        else:
            lines.append(
                "%s on cpus %s: %d threads, %d warm-up + %d timed runs (min %g s)"
                % (head, cpus, w["threads"], w["warmup"], w["repeats"], w["min_time_s"])
            )
    return lines


def run_agent(
    bundle: str,
    out: Optional[str],
    root: str = "/",
    run: Runner = run_command,
    which: Which = shutil.which,
    sleep: Callable[[float], None] = time.sleep,
    no_power: bool = False,
    dry_run: bool = False,
    stream: Any = None,
) -> int:
    """Verify the bundle, probe the board, set the power state, measure, write `out`.

    Returns the exit code (0 all ran or were "not run" with a reason, 1 an error). Raises
    BundleError (exit 2) before anything is measured or written, and lets KeyboardInterrupt
    through after the power state is restored (nothing written).
    """
    stream = stream or sys.stderr
    manifest, manifest_sha = load_bundle(bundle)
    started = now_iso()
    board = probe_board(root, run, which)
    if dry_run:
        trtexec = find_trtexec(which)
        tensorrt = None
        if trtexec:
            tensorrt = parse_tensorrt_version(run([trtexec, "--help"], 120)[1])
        for line in describe_plan(manifest, bundle, board, no_power, trtexec, tensorrt):
            print(line)
        return EXIT_OK
    runtimes, env = probe_runtimes(run, which)
    env.update({"run": run, "root": root, "allowed": _allowed_cpus()})
    results = []  # type: List[Dict[str, Any]]
    spec = manifest.get("power")
    with power_state(
        spec, board, run, which, sleep, skip_reason="--no-power" if no_power and spec else None
    ) as power:
        if power["status"] == "set":
            board = probe_board(root, run, which)  # the board as measured (cores may go offline)
        elif power["status"] == "failed":
            env["power_failed"] = power["reason"]
        workloads = manifest["workloads"]
        for i, w in enumerate(workloads):
            stream.write("[%d/%d] %s (%s) ...\n" % (i + 1, len(workloads), w["name"], w["runtime"]))
            stream.flush()
            result = run_workload(w, bundle, manifest, board, env)
            results.append(result)
            stream.write("[%d/%d] %s: %s\n" % (i + 1, len(workloads), w["name"], _summary(result)))
            stream.flush()
    doc = {
        "schema": SCHEMA,
        "agent_version": AGENT_VERSION,
        "manifest_sha256": manifest_sha,
        "target": manifest["target"],
        "edgecheck_version": manifest.get("edgecheck_version"),
        "board": board,
        "power": power,
        "python": platform.python_version(),
        "runtimes": runtimes,
        "started": started,
        "finished": now_iso(),
        "workloads": results,
    }
    if out is None:
        raise ValueError("run_agent needs `out` unless dry_run")
    write_json_atomic(out, doc)
    failed = any(r["status"] == "error" for r in results)
    failed = failed or power["status"] == "failed" or bool(power["restore_errors"])
    stream.write(
        "board_agent: wrote %s (%d ok, %d not run, %d error; power %s)\n"
        % (out, sum(r["status"] == "ok" for r in results),
           sum(r["status"] == "not run" for r in results),
           sum(r["status"] == "error" for r in results), power["status"])
    )  # fmt: skip
    return EXIT_ERROR if failed else EXIT_OK

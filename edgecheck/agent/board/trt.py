"""TensorRT workloads: trtexec's flags, the engine cache, its --exportTimes files."""

# Python 3.6 compatibility: no `from __future__ import annotations`, no dataclasses, no walrus,
# no `capture_output=`/`text=` in subprocess, typing.List/Dict annotations.

import hashlib
import json
import math
import os
import re
import shutil
import tempfile
from typing import Any, Dict, List, Optional

from edgecheck.agent.board.common import TRTEXEC_FALLBACK, Runner, Which, WorkloadError, tail
from edgecheck.agent.board.manifest import bundle_path


def parse_tensorrt_version(text: Optional[str]) -> Optional[str]:
    """TensorRT's version from trtexec's output: "TensorRT version: 8.6.1" or the banner's
    "[TensorRT v8201]" (8.x: major*1000 + minor*100 + patch; 10.x: major*10000 + ...)."""
    match = re.search(r"TensorRT version:\s*(\d+(?:\.\d+)+)", text or "")
    if match:
        return match.group(1)
    match = re.search(r"\[TensorRT v(\d+)\]", text or "")
    if not match:
        return None
    number = int(match.group(1))
    major, rest = divmod(number, 10000 if number >= 100000 else 1000)
    minor, patch = divmod(rest, 100)
    return "%d.%d.%d" % (major, minor, patch)


def _major(version: Optional[str]) -> Optional[int]:
    match = re.match(r"^(\d+)", version or "")
    return int(match.group(1)) if match else None


def trtexec_precision_flags(precision: str, tensorrt: Optional[str]) -> List[str]:
    """trtexec build flags for a precision. fp16: ``--fp16`` below TensorRT 11 (11 drops it;
    there the model's own FP16 types decide, ``--stronglyTyped``). int8 from Q/DQ nodes:
    ``--int8`` up to 9.x, ``--stronglyTyped`` from 10 (``--int8`` is deprecated there). An
    unknown version is taken as 8.x, what JetPack 4.6 and 5.1 ship."""
    major = _major(tensorrt)
    if precision == "fp16":
        return ["--fp16"] if major is None or major < 11 else ["--stronglyTyped"]
    if precision == "int8":
        return ["--int8"] if major is None or major < 10 else ["--stronglyTyped"]
    return []


def engine_cache_key(
    onnx_sha256: str,
    tensorrt: Optional[str],
    l4t: Optional[str],
    power_mode_id: Optional[int],
    precision: str,
    soc: Optional[str] = None,
) -> str:
    """The engine cache's file name stem: sha256 over the ONNX file's sha256 (the bytes' hash,
    already verified against the manifest), TensorRT version, L4T release, power mode id,
    precision and SoC. An engine is valid only for the same TensorRT, GPU and (on a Jetson)
    power mode; a change in any of them builds a new engine instead of loading a wrong one."""
    fields = [onnx_sha256, tensorrt, l4t, power_mode_id, precision, soc]
    return hashlib.sha256(json.dumps(fields).encode("utf-8")).hexdigest()


def parse_trtexec_times(text: str, warmup_ms: Optional[float] = None) -> Dict[str, List[float]]:
    """Per-iteration times, in seconds, from a ``trtexec --exportTimes`` JSON file.

    Returns ``{"compute_s": [...], "latency_s": [...]}``. The file is a list of one object per
    inference; its fields changed between TensorRT versions: 7.x writes startInMs, endInMs,
    startComputeMs, endComputeMs, startOutMs, endOutMs, inMs, computeMs, outMs, latencyMs,
    endToEndMs; 8.x startEnqMs/endEnqMs, startH2dMs..., h2dMs, computeMs, d2hMs, latencyMs and
    (until 8.2 or so) endToEndMs. Up to 8.2 the file also holds the warm-up inferences:
    given `warmup_ms`, entries with ``startComputeMs < warmup_ms`` are dropped (trtexec's own
    rule for what is warm-up; later versions leave them out of the file). Entries without
    timing fields (a ``{"count": N}`` header) are skipped.

    Why ``computeMs`` is the sample: it is the GPU time of the engine for one batch, which is
    what pruning and quantization change and what the paper compares. ``latencyMs`` adds the
    host-to-device and device-to-host copies of trtexec's own buffers (on a Jetson both sides
    are the same DRAM, so the copies measure trtexec's staging, not the model); it is kept for
    reference, computed as in/h2d + compute + out/d2h where the file lacks it.

    Raises:
        ValueError: not JSON, not a list, or no entry with a compute time.
    """
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError("not trtexec --exportTimes JSON (%s)" % exc) from exc
    if not isinstance(data, list):
        raise ValueError("not trtexec --exportTimes JSON: expected a list of iterations")
    compute = []  # type: List[float]
    latency = []  # type: List[float]
    for entry in data:
        if not isinstance(entry, dict):
            continue
        if "computeMs" in entry:
            compute_ms = float(entry["computeMs"])
        elif "startComputeMs" in entry and "endComputeMs" in entry:
            compute_ms = float(entry["endComputeMs"]) - float(entry["startComputeMs"])
        else:
            continue
        start = entry.get("startComputeMs")
        if warmup_ms is not None and start is not None and float(start) < warmup_ms:
            continue
        compute.append(compute_ms / 1000.0)
        if "latencyMs" in entry:
            latency.append(float(entry["latencyMs"]) / 1000.0)
        else:
            copy_in = entry.get("inMs", entry.get("h2dMs"))
            copy_out = entry.get("outMs", entry.get("d2hMs"))
            if copy_in is not None and copy_out is not None:
                latency.append((float(copy_in) + compute_ms + float(copy_out)) / 1000.0)
    if not compute:
        raise ValueError("trtexec --exportTimes JSON holds no iteration with a compute time")
    return {"compute_s": compute, "latency_s": latency}


def find_trtexec(which: Which = shutil.which) -> Optional[str]:
    found = which("trtexec")
    if found:
        return found
    if os.path.isfile(TRTEXEC_FALLBACK) and os.access(TRTEXEC_FALLBACK, os.X_OK):
        return TRTEXEC_FALLBACK
    return None


def trtexec_plan(
    w: Dict[str, Any],
    bundle: str,
    manifest: Dict[str, Any],
    board: Dict[str, Any],
    trtexec: str,
    tensorrt: Optional[str],
    times_path: str,
) -> Dict[str, Any]:
    """The engine path and the build and timing command lines of a trtexec workload."""
    engines = os.path.join(bundle, "engines")
    mode = board.get("power_mode") or {}
    key = engine_cache_key(
        manifest["files"][w["model"]],
        tensorrt,
        board.get("l4t"),
        mode.get("id"),
        w["precision"],
        board.get("soc"),
    )
    engine = os.path.join(engines, key + ".plan")
    shapes = ",".join(
        "%s:%s" % (s["name"], "x".join(str(d) for d in s["shape"])) for s in w["inputs"]
    )
    inputs = ",".join(
        "%s:%s" % (s["name"], bundle_path(bundle, s["file"], "input")) for s in w["inputs"]
    )
    build = [
        trtexec,
        "--onnx=" + bundle_path(bundle, w["model"], "model"),
        "--saveEngine=" + engine + ".partial",
        "--shapes=" + shapes,
    ]
    if (_major(tensorrt) or 8) >= 8:
        # trtexec has --timingCacheFile from 8.0; one cache per TensorRT version.
        build.append("--timingCacheFile=" + os.path.join(engines, "timing-%s.cache" % tensorrt))
    build += trtexec_precision_flags(w["precision"], tensorrt)
    options = w.get("trtexec") or {}
    duration = math.ceil(float(options.get("duration_s", 10)))
    warmup_ms = round(float(options.get("warmup_ms", 500)))
    timing = [
        trtexec,
        "--loadEngine=" + engine,
        "--shapes=" + shapes,
        "--loadInputs=" + inputs,
        "--warmUp=%d" % warmup_ms,
        "--duration=%d" % duration,
        "--useSpinWait",
        "--exportTimes=" + times_path,
    ]
    return {
        "key": key,
        "engine": engine,
        "build": build,
        "time": timing,
        "warmup_ms": warmup_ms,
        "duration_s": duration,
    }


def run_trtexec(
    w: Dict[str, Any],
    bundle: str,
    manifest: Dict[str, Any],
    board: Dict[str, Any],
    run: Runner,
    trtexec: str,
    tensorrt: Optional[str],
) -> Dict[str, Any]:
    """Build the engine once (cached in BUNDLE/engines/), time it, parse --exportTimes."""
    workdir = tempfile.mkdtemp(prefix="edgecheck-trtexec-")
    try:
        times = os.path.join(workdir, "times.json")
        plan = trtexec_plan(w, bundle, manifest, board, trtexec, tensorrt, times)
        built = False
        if not os.path.isfile(plan["engine"]):
            if not os.path.isdir(os.path.dirname(plan["engine"])):
                os.makedirs(os.path.dirname(plan["engine"]))
            rc, out = run(plan["build"], None)
            if rc != 0 or not os.path.isfile(plan["engine"] + ".partial"):
                raise WorkloadError(
                    "trtexec engine build failed (exit %d): %s" % (rc, tail(out, 800))
                )
            os.replace(
                plan["engine"] + ".partial", plan["engine"]
            )  # a killed build leaves no engine
            built = True
        rc, out = run(plan["time"], plan["duration_s"] + plan["warmup_ms"] / 1000.0 + 600)
        if rc != 0 or not os.path.isfile(times):
            raise WorkloadError("trtexec timing run failed (exit %d): %s" % (rc, tail(out, 800)))
        with open(times, "rb") as fh:
            parsed = parse_trtexec_times(fh.read().decode("utf-8", "replace"), plan["warmup_ms"])
        return {
            "samples_s": parsed["compute_s"],
            "latency_s": parsed["latency_s"],
            "sample": "GPU compute time (trtexec computeMs)",
            "engine": os.path.basename(plan["engine"]),
            "engine_built": built,
            "tensorrt_version_seen": parse_tensorrt_version(out),
        }
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

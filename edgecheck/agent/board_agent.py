#!/usr/bin/env python3
"""edgecheck's on-board agent: measure a bundle's workloads on this board, write results.json.

The host does the heavy work (export ONNX, quantize, write a *bundle*); the board only measures,
with this one file. It needs nothing but Python 3.6+ and its standard library (a Jetson TX2 on
JetPack 4.6 has Python 3.6.9); numpy and onnxruntime are imported only for onnxruntime
workloads, trtexec is run as a program.

Usage::

    python3 board_agent.py BUNDLE --out results.json [--no-power] [--dry-run]

THE BUNDLE CONTRACT (schema 1; `edgecheck bundle` on the host writes exactly this)
----------------------------------------------------------------------------------
``BUNDLE/manifest.json``::

    {"schema": 1,
     "target": "tx2" | "orin" | "gpu" | "cpu",
     "edgecheck_version": "0.1.0",
     "power": {"nvpmodel": 3, "jetson_clocks": true, "settle_s": 5} | null,
     "files": {"models/fqa_fp32.onnx": "<sha256 hex>", "inputs/fqa_b1.bin": "<sha256 hex>"},
     "workloads": [
       {"name": "fqa.fp32.b1@1c",
        "runtime": "onnxruntime" | "trtexec",
        "model": "models/fqa_fp32.onnx",
        "inputs": [{"name": "input", "shape": [1, 1, 64, 64], "dtype": "float32",
                    "file": "inputs/fqa_b1.bin"}],
        "precision": "fp32" | "fp16" | "int8",
        "cores": 1, "threads": 1,
        "warmup": 3, "repeats": 20, "min_time_s": 0.0,
        "trtexec": {"duration_s": 10, "warmup_ms": 500},
        "claims": [{"claim": "parallel.fqa.cores", "key": "b1@2c", ...}]}]}

* Paths are relative to BUNDLE, use "/", and stay inside it. Every file a workload names
  (``model``, each input's ``file``) must be listed in ``files`` with its sha256, and every
  listed file must exist with that hash.
* ``power``: null leaves the power state alone. Otherwise ``nvpmodel`` (a mode id, or null to
  keep the mode), ``jetson_clocks`` (true: pin the clocks at the mode's maximum) and
  ``settle_s`` (seconds to wait after the change).
* Input files are raw little-endian C-order arrays of ``shape`` and ``dtype`` (what
  ``numpy.ndarray.tofile`` writes and ``trtexec --loadInputs=name:file`` reads); their size must
  be the product of the shape times the dtype's size. dtypes: float32, float16, float64, int8,
  uint8, int32, int64, bool.
* ``cores``: the process is pinned to that many CPUs of ONE core type (on a TX2 the Cortex-A57
  cluster is preferred and Denver and A57 cores are never mixed; on x86 the first online CPUs).
  ``threads``: onnxruntime's intra-op threads. ``warmup`` untimed runs, then ``repeats`` timed
  runs, continued until ``min_time_s`` seconds of timed runs have passed too.
* ``trtexec`` (optional, trtexec workloads only; defaults 10 s and 500 ms): the timed duration
  and the warm-up of ``trtexec --duration --warmUp``. ``cores``, ``warmup``, ``repeats`` and
  ``min_time_s`` do not apply to trtexec beyond the pinning of its process.
* ``claims`` (optional, a list of objects): which claim keys the host derives from this
  workload and how (`edgecheck.devicerun`'s data). The agent does not read it; it copies it
  unchanged into the workload's result, so results.json alone is enough to judge.
* Built TensorRT engines are cached in ``BUNDLE/engines/`` (see `engine_cache_key`).

RESULTS (``--out``, written atomically: a reader sees the old file or the whole new one)
--------------------------------------------------------------------------------------------
::

    {"schema": 1, "agent_version": 1, "manifest_sha256": "...", "target": "tx2",
     "board": {...probe_board() under the power state that was measured...},
     "power": {"status": "set" | "not set" | "left alone" | "failed", "reason": ..., ...},
     "python": "3.6.9",
     "runtimes": {"onnxruntime": "1.11.0" | null, "tensorrt": "8.2.1" | null, "numpy": ...},
     "started": "<iso8601 UTC>", "finished": "<iso8601 UTC>",
     "workloads": [{"name", "runtime", "status": "ok" | "not run" | "error", "reason",
                    "samples_s": [...], "unit": "s per batch", "batch": <first input's dim 0>,
                    "stable": true | false | null, "unstable_reasons": [...],
                    "claims": [...the manifest's, unchanged...], ...}]}

``samples_s`` holds one time per batch in seconds: onnxruntime's wall time of one
``session.run`` (time.perf_counter), trtexec's GPU compute time of one inference (``latency_s``
keeps its host latency, see `parse_trtexec_times`). ``stable`` is null where nothing was
measured.

EXIT CODES
----------
0  every workload ran, or was "not run" for a stated reason;
1  a workload ended in "error", or the power state could not be set or restored
   (results.json is written);
2  the bundle is broken (manifest, file, hash): nothing is measured, nothing is written;
130  interrupted (Ctrl-C, SIGTERM, SIGHUP): the power state is restored, nothing is written.

Everything the agent reads about the board goes through a ``root`` folder (default "/"), and
every command through an injectable ``run`` function, so tests drive it with the texts of
boards it does not run on.
"""

# Python 3.6 compatibility: no `from __future__ import annotations`, no dataclasses, no walrus,
# no `capture_output=`/`text=` in subprocess, typing.List/Dict annotations.

import argparse
import contextlib
import datetime
import glob
import hashlib
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence, Tuple

AGENT_VERSION = 1
SCHEMA = 1
EXIT_OK = 0
EXIT_ERROR = 1
EXIT_BUNDLE = 2
EXIT_INTERRUPTED = 130

TARGETS = ("tx2", "orin", "gpu", "cpu")
RUNTIMES = ("onnxruntime", "trtexec")
PRECISIONS = ("fp32", "fp16", "int8")
DTYPE_SIZES = {
    "float32": 4,
    "float16": 2,
    "float64": 8,
    "int8": 1,
    "uint8": 1,
    "int32": 4,
    "int64": 8,
    "bool": 1,
}
REBUILD = "rebuild the bundle with `edgecheck bundle`"

# SoC (from /proc/device-tree/compatible) -> the edgecheck profile it suggests.
SOC_PROFILES = {"tegra186": "tx2", "tegra194": "xavier", "tegra234": "orin"}
# ARM core types by (implementer, part) from /proc/cpuinfo.
ARM_CORE_NAMES = {
    ("0x41", "0xd03"): "Cortex-A53",
    ("0x41", "0xd07"): "Cortex-A57",
    ("0x41", "0xd08"): "Cortex-A72",
    ("0x41", "0xd42"): "Cortex-A78AE",
    ("0x4e", "0x003"): "Denver 2",
    ("0x4e", "0x004"): "Carmel",
}
ARM_LTD = "0x41"
# The x86 / ARM ISA features that select onnxruntime's kernels (as in edgecheck.identity).
SPEED_ISA_FEATURES = {
    "x86": (
        "avx2",
        "fma",
        "avx512f",
        "avx512_vnni",
        "avx_vnni",
        "avx512_bf16",
        "avx512_fp16",
        "amx_tile",
        "amx_int8",
        "amx_bf16",
    ),
    "arm": ("asimddp", "i8mm", "fphp", "asimdhp", "bf16", "sve", "sve2"),
}

TRTEXEC_FALLBACK = "/usr/src/tensorrt/bin/trtexec"
NO_TRTEXEC = (
    "not run here: no trtexec (it ships with TensorRT/JetPack at /usr/src/tensorrt/bin/trtexec)"
)
NO_ONNXRUNTIME = (
    "not run here: onnxruntime is not installed on the board (pip install onnxruntime; on "
    "JetPack 4.6 the Jetson Zoo wheel onnxruntime-gpu 1.11 for Python 3.6)"
)
NO_POWER_TOOLS = "not set: no nvpmodel/jetson_clocks on PATH"

# Stability limits for one workload (snapshots before and after it).
FREQ_TOLERANCE = 0.05
TEMP_LIMIT_C = 80.0
TEMP_RISE_C = 10.0

OUTPUT_TAIL = 2000

# run(argv, timeout_s) -> (exit status, stdout and stderr together)
Runner = Callable[[List[str], Optional[float]], Tuple[int, str]]
Which = Callable[[str], Optional[str]]


class BundleError(Exception):
    """The bundle is broken: exit 2, nothing measured, nothing written."""


class PowerError(Exception):
    """A power command failed."""


class WorkloadError(Exception):
    """A workload failed in a way its message explains."""


# ----------------------------------------------------------------------------------- helpers


def run_command(argv: List[str], timeout: Optional[float] = None) -> Tuple[int, str]:
    """Run `argv`, return (exit status, stdout + stderr decoded as UTF-8).

    stdin is /dev/null, so a tool that asks a question (nvpmodel's "reboot now?") gets EOF
    instead of hanging the agent. A missing program is exit status 127.
    """
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=timeout,
        )
    except FileNotFoundError as exc:
        return 127, str(exc)
    except subprocess.TimeoutExpired as exc:
        out = exc.output or b""
        return 124, out.decode("utf-8", "replace") + "\n(timed out after %s s)" % timeout
    return done.returncode, done.stdout.decode("utf-8", "replace")


def _tail(text: str, limit: int = OUTPUT_TAIL) -> str:
    return text if len(text) <= limit else "..." + text[-limit:]


def read_text(root: str, path: str) -> Optional[str]:
    """The text of `path` (absolute, read under `root`), or None when it cannot be read."""
    full = os.path.join(root, path.lstrip("/"))
    try:
        with open(full, "rb") as fh:
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return None


def _read_int(root: str, path: str) -> Optional[int]:
    text = read_text(root, path)
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


def write_json_atomic(path: str, doc: Any) -> None:
    """Write `doc` as JSON to `path` through a temp file in the same folder and os.replace.

    The document is serialized first; on any error the temp file is removed and `path` keeps
    its old content.
    """
    payload = (json.dumps(doc, indent=1, sort_keys=True, allow_nan=False) + "\n").encode("ascii")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        os.makedirs(folder)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


# ---------------------------------------------------------------------------- the manifest


def _bundle_path(bundle: str, relative: Any, where: str) -> str:
    if not isinstance(relative, str) or not relative:
        raise BundleError("%s: must be a non-empty relative path; %s" % (where, REBUILD))
    parts = relative.split("/")
    if relative.startswith("/") or "\\" in relative or ".." in parts or "" in parts:
        raise BundleError(
            "%s: %r is not a relative path inside the bundle; %s" % (where, relative, REBUILD)
        )
    return os.path.join(bundle, *parts)


def _require(obj: Dict[str, Any], key: str, kind: Any, where: str) -> Any:
    if key not in obj:
        raise BundleError("%s: field %r is missing; %s" % (where, key, REBUILD))
    value = obj[key]
    if kind is int and isinstance(value, bool):
        raise BundleError(
            "%s: field %r must be an integer, not %r; %s" % (where, key, value, REBUILD)
        )
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else "/".join(k.__name__ for k in kind)
        raise BundleError(
            "%s: field %r must be %s, not %r; %s" % (where, key, names, value, REBUILD)
        )
    return value


def _check_number(value: Any, minimum: float, where: str, key: str) -> None:
    if value < minimum or (isinstance(value, float) and not math.isfinite(value)):
        raise BundleError(
            "%s: field %r must be a number >= %s, not %r; %s"
            % (where, key, minimum, value, REBUILD)
        )


def load_bundle(bundle: str) -> Tuple[Dict[str, Any], str]:
    """Read and verify BUNDLE/manifest.json; return (manifest, sha256 of manifest.json).

    Raises:
        BundleError: naming the file, the field and what to do, for a missing or unparsable
            manifest, a wrong schema or field, a missing file or a sha256 mismatch.
    """
    path = os.path.join(bundle, "manifest.json")
    where = path
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except OSError as exc:
        raise BundleError(
            "%s: cannot read it (%s); %s" % (path, exc.strerror or exc, REBUILD)
        ) from exc
    try:
        manifest = json.loads(raw.decode("utf-8"))
    except ValueError as exc:
        raise BundleError("%s: not valid JSON (%s); %s" % (path, exc, REBUILD)) from exc
    if not isinstance(manifest, dict):
        raise BundleError("%s: must hold a JSON object; %s" % (path, REBUILD))
    schema = manifest.get("schema")
    if schema != SCHEMA:
        raise BundleError(
            "%s: field 'schema' is %r, this agent reads schema %d; %s or use the agent that came "
            "with it" % (path, schema, SCHEMA, REBUILD)
        )
    target = _require(manifest, "target", str, where)
    if target not in TARGETS:
        raise BundleError(
            "%s: field 'target' is %r, not one of %s; %s"
            % (path, target, ", ".join(TARGETS), REBUILD)
        )
    power = manifest.get("power")
    if power is not None:
        pwhere = where + ": power"
        if not isinstance(power, dict):
            raise BundleError("%s: field 'power' must be an object or null; %s" % (path, REBUILD))
        mode = power.get("nvpmodel")
        if mode is not None:
            _check_number(_require(power, "nvpmodel", int, pwhere), 0, pwhere, "nvpmodel")
        _require(power, "jetson_clocks", bool, pwhere)
        _check_number(_require(power, "settle_s", float, pwhere), 0, pwhere, "settle_s")
    files = _require(manifest, "files", dict, where)
    for relative, digest in sorted(files.items()):
        fwhere = '%s: files["%s"]' % (path, relative)
        full = _bundle_path(bundle, relative, fwhere)
        if not isinstance(digest, str) or not re.match(r"^[0-9a-f]{64}$", digest):
            raise BundleError(
                "%s: the sha256 must be 64 lowercase hex digits; %s" % (fwhere, REBUILD)
            )
        if not os.path.isfile(full):
            raise BundleError(
                "%s: the file %s is missing from the bundle; copy the whole bundle folder to the "
                "board, or %s" % (fwhere, full, REBUILD)
            )
        actual = sha256_file(full)
        if actual != digest:
            raise BundleError(
                "%s: sha256 of %s is %s, the manifest says %s (a changed or truncated file); %s"
                % (fwhere, full, actual, digest, REBUILD)
            )
    workloads = _require(manifest, "workloads", list, where)
    names = set()  # type: set
    for i, w in enumerate(workloads):
        wwhere = "%s: workloads[%d]" % (path, i)
        if not isinstance(w, dict):
            raise BundleError("%s: must be an object; %s" % (wwhere, REBUILD))
        name = _require(w, "name", str, wwhere)
        wwhere = "%s: workloads[%d] (%s)" % (path, i, name)
        if name in names:
            raise BundleError("%s: the name %r is used twice; %s" % (wwhere, name, REBUILD))
        names.add(name)
        runtime = _require(w, "runtime", str, wwhere)
        if runtime not in RUNTIMES:
            raise BundleError(
                "%s: field 'runtime' is %r, not one of %s; %s"
                % (wwhere, runtime, ", ".join(RUNTIMES), REBUILD)
            )
        model = _require(w, "model", str, wwhere)
        _listed(files, model, wwhere, "model")
        precision = _require(w, "precision", str, wwhere)
        if precision not in PRECISIONS:
            raise BundleError(
                "%s: field 'precision' is %r, not one of %s; %s"
                % (wwhere, precision, ", ".join(PRECISIONS), REBUILD)
            )
        for key, minimum in (("cores", 1), ("threads", 1), ("warmup", 0), ("repeats", 1)):
            _check_number(_require(w, key, int, wwhere), minimum, wwhere, key)
        _check_number(_require(w, "min_time_s", float, wwhere), 0, wwhere, "min_time_s")
        inputs = _require(w, "inputs", list, wwhere)
        if not inputs:
            raise BundleError("%s: field 'inputs' is empty; %s" % (wwhere, REBUILD))
        for j, spec in enumerate(inputs):
            iwhere = "%s: inputs[%d]" % (wwhere, j)
            if not isinstance(spec, dict):
                raise BundleError("%s: must be an object; %s" % (iwhere, REBUILD))
            _require(spec, "name", str, iwhere)
            shape = _require(spec, "shape", list, iwhere)
            if not shape or not all(
                isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape
            ):
                raise BundleError(
                    "%s: field 'shape' must be a list of positive integers, not %r; %s"
                    % (iwhere, shape, REBUILD)
                )
            dtype = _require(spec, "dtype", str, iwhere)
            if dtype not in DTYPE_SIZES:
                raise BundleError(
                    "%s: field 'dtype' is %r, not one of %s; %s"
                    % (iwhere, dtype, ", ".join(sorted(DTYPE_SIZES)), REBUILD)
                )
            relative = _require(spec, "file", str, iwhere)
            _listed(files, relative, iwhere, "file")
            expected = DTYPE_SIZES[dtype]
            for d in shape:
                expected *= d
            size = os.path.getsize(_bundle_path(bundle, relative, iwhere))
            if size != expected:
                raise BundleError(
                    "%s: field 'file' %s holds %d bytes, shape %s of %s needs %d; %s"
                    % (iwhere, relative, size, shape, dtype, expected, REBUILD)
                )
        if not isinstance(w.get("claims", []), list):
            raise BundleError("%s: field 'claims' must be a list; %s" % (wwhere, REBUILD))
        options = w.get("trtexec")
        if options is not None:
            if not isinstance(options, dict):
                raise BundleError("%s: field 'trtexec' must be an object; %s" % (wwhere, REBUILD))
            twhere = wwhere + ": trtexec"
            if "duration_s" in options:
                _check_number(
                    _require(options, "duration_s", float, twhere), 1, twhere, "duration_s"
                )
            if "warmup_ms" in options:
                _check_number(_require(options, "warmup_ms", float, twhere), 0, twhere, "warmup_ms")
    return manifest, hashlib.sha256(raw).hexdigest()


def _listed(files: Dict[str, Any], relative: str, where: str, field: str) -> None:
    if relative not in files:
        raise BundleError(
            "%s: field %r names %s, which is not listed in 'files' with its sha256; %s"
            % (where, field, relative, REBUILD)
        )


# ------------------------------------------------------------------------------ the board


def parse_compatible(text: Optional[str]) -> Optional[str]:
    """The SoC ("tegra186", "tegra234", ...) in a device-tree ``compatible`` text, or None."""
    for entry in (text or "").split("\0"):
        match = re.match(r"^nvidia,(tegra\d+)$", entry.strip())
        if match:
            return match.group(1)
    return None


def parse_l4t(text: Optional[str]) -> Optional[str]:
    """The L4T release "32.7.1" from /etc/nv_tegra_release ("# R32 (release), REVISION: 7.1")."""
    match = re.search(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", text or "")
    if not match:
        return None
    return "%s.%s" % (match.group(1), match.group(2).rstrip("."))


def parse_cpu_list(text: Optional[str]) -> Optional[List[int]]:
    """CPUs in the kernel's list format ("0-3,5" -> [0, 1, 2, 3, 5]); None for no text."""
    if text is None or not text.strip():
        return None
    cpus = []  # type: List[int]
    for part in text.strip().split(","):
        if "-" in part:
            low, high = part.split("-", 1)
            cpus.extend(range(int(low), int(high) + 1))
        else:
            cpus.append(int(part))
    return sorted(set(cpus))


def parse_cpuinfo(text: Optional[str]) -> Dict[str, Any]:
    """The CPU identity from /proc/cpuinfo.

    x86: ``vendor``, ``family``, ``model``, ``stepping`` and the kernel-selecting ISA flags
    every core has. ARM: ``clusters``, one per core type (implementer, part): its name where
    known, variant, revision and its CPUs, ARM's own cores first (on a TX2 the four
    Cortex-A57 before the two Denver 2).
    """
    blocks = []  # type: List[Dict[str, str]]
    for chunk in re.split(r"\n\s*\n", text or ""):
        block = {}
        for line in chunk.splitlines():
            if ":" in line:
                key, _, value = line.partition(":")
                block[key.strip()] = value.strip()
        if block:
            blocks.append(block)
    processors = [b for b in blocks if "processor" in b]
    if any("vendor_id" in b for b in processors):
        first = processors[0]
        common = None  # type: Optional[set]
        for b in processors:
            flags = set(b.get("flags", "").split())
            common = flags if common is None else common & flags
        isa = [f for f in SPEED_ISA_FEATURES["x86"] if f in (common or set())]
        return {
            "arch": "x86",
            "vendor": first.get("vendor_id"),
            "family": first.get("cpu family"),
            "model": first.get("model"),
            "stepping": first.get("stepping"),
            "name": first.get("model name"),
            "isa": isa,
        }
    arm = [b for b in processors if "CPU part" in b]
    if arm:
        clusters = {}  # type: Dict[Tuple[str, str], Dict[str, Any]]
        common = None
        for b in arm:
            key = (b.get("CPU implementer", "?").lower(), b["CPU part"].lower())
            cluster = clusters.setdefault(
                key,
                {
                    "implementer": key[0],
                    "part": key[1],
                    "name": ARM_CORE_NAMES.get(key),
                    "variant": b.get("CPU variant"),
                    "revision": b.get("CPU revision"),
                    "cpus": [],
                },
            )
            with contextlib.suppress(ValueError):
                cluster["cpus"].append(int(b["processor"]))
            feats = set(b.get("Features", "").split())
            common = feats if common is None else common & feats
        ordered = sorted(
            clusters.values(),
            key=lambda c: (c["implementer"] != ARM_LTD, -len(c["cpus"]), min(c["cpus"] or [0])),
        )
        return {
            "arch": "arm",
            "clusters": ordered,
            "isa": [f for f in SPEED_ISA_FEATURES["arm"] if f in (common or set())],
        }
    return {"arch": platform.machine() or None}


def parse_nvpmodel(text: Optional[str]) -> Optional[Dict[str, Any]]:
    """The power mode in ``nvpmodel -q`` output ("NV Power Mode: MAXN\\n0") as {"id", "name"}."""
    lines = [line.strip() for line in (text or "").splitlines()]
    for i, line in enumerate(lines):
        match = re.match(r"^NV Power Mode\s*:\s*(.+)$", line)
        if match:
            mode_id = None
            for later in lines[i + 1 :]:
                if re.match(r"^\d+$", later):
                    mode_id = int(later)
                    break
                if later:
                    break
            return {"id": mode_id, "name": match.group(1).strip()}
    return None


def snapshot(root: str = "/") -> Dict[str, Any]:
    """Current clocks and temperatures: cpufreq per CPU (kHz), devfreq per device (Hz, the GPU
    on a Jetson), thermal zones (degrees C)."""
    cpufreq = {}  # type: Dict[str, Dict[str, Optional[int]]]
    base = os.path.join(root, "sys/devices/system/cpu")
    for folder in sorted(glob.glob(os.path.join(base, "cpu[0-9]*"))):
        name = os.path.basename(folder)
        rel = "/sys/devices/system/cpu/%s/cpufreq/" % name
        cur = _read_int(root, rel + "scaling_cur_freq")
        if cur is not None:
            cpufreq[name] = {"cur": cur, "max": _read_int(root, rel + "scaling_max_freq")}
    devfreq = {}  # type: Dict[str, Dict[str, Optional[int]]]
    for folder in sorted(glob.glob(os.path.join(root, "sys/class/devfreq/*"))):
        name = os.path.basename(folder)
        rel = "/sys/class/devfreq/%s/" % name
        cur = _read_int(root, rel + "cur_freq")
        if cur is not None:
            devfreq[name] = {"cur": cur, "max": _read_int(root, rel + "max_freq")}
    temps = {}  # type: Dict[str, Dict[str, Any]]
    for folder in sorted(glob.glob(os.path.join(root, "sys/class/thermal/thermal_zone*"))):
        name = os.path.basename(folder)
        rel = "/sys/class/thermal/%s/" % name
        milli = _read_int(root, rel + "temp")
        if milli is not None:
            kind = (read_text(root, rel + "type") or "").strip() or None
            temps[name] = {"type": kind, "celsius": milli / 1000.0}
    return {"cpufreq": cpufreq, "devfreq": devfreq, "temps": temps}


def probe_board(
    root: str = "/", run: Runner = run_command, which: Which = shutil.which
) -> Dict[str, Any]:
    """What this board is and what state it is in; every file read under `root`."""
    compatible = read_text(root, "/proc/device-tree/compatible")
    soc = parse_compatible(compatible)
    release = read_text(root, "/etc/nv_tegra_release")
    model = read_text(root, "/proc/device-tree/model")
    cpu = parse_cpuinfo(read_text(root, "/proc/cpuinfo"))
    online = parse_cpu_list(read_text(root, "/sys/devices/system/cpu/online"))
    if online is None and cpu.get("clusters"):
        online = sorted(c for cl in cpu["clusters"] for c in cl["cpus"])
    tools = {}  # type: Dict[str, Any]
    power_mode = None
    nvpmodel = which("nvpmodel")
    if nvpmodel:
        rc, out = run([nvpmodel, "-q"], 60)
        tools["nvpmodel -q"] = {"rc": rc, "output": _tail(out)}
        power_mode = parse_nvpmodel(out) if rc == 0 else None
    jetson_clocks = which("jetson_clocks")
    if jetson_clocks:
        rc, out = run([jetson_clocks, "--show"], 60)
        tools["jetson_clocks --show"] = {"rc": rc, "output": _tail(out)}
    snap = snapshot(root)
    return {
        "soc": soc,
        "profile_hint": SOC_PROFILES.get(soc or "", "cpu"),
        "compatible": [e for e in (compatible or "").split("\0") if e.strip()],
        "l4t": parse_l4t(release),
        "l4t_release": (release or "").splitlines()[0].strip() if release else None,
        "model": model.replace("\0", "").strip() if model else None,
        "machine": platform.machine(),
        "cpu": cpu,
        "online_cpus": online,
        "power_mode": power_mode,
        "clocks": {"cpufreq": snap["cpufreq"], "devfreq": snap["devfreq"]},
        "temps": snap["temps"],
        "tools": tools,
    }


def choose_cpus(
    cores: int, board: Dict[str, Any], allowed: Optional[Sequence[int]] = None
) -> Tuple[Optional[List[int]], Optional[str]]:
    """The CPUs to pin `cores` cores to, or (None, why not).

    ARM: the CPUs of one core type, never two (a TX2's Denver and A57 cores differ in speed),
    ARM's own cores preferred, then the larger cluster. x86 and others: the first online CPUs.
    `allowed` (this process's affinity) narrows the online CPUs.
    """
    online = board.get("online_cpus")
    if online is None:
        online = sorted(allowed) if allowed is not None else []
    usable = [c for c in online if allowed is None or c in set(allowed)]
    if len(usable) < cores:
        return None, "needs %d cores, %d online" % (cores, len(usable))
    clusters = (board.get("cpu") or {}).get("clusters")
    if not clusters:
        return usable[:cores], None
    for cluster in clusters:
        cpus = [c for c in cluster["cpus"] if c in usable]
        if len(cpus) >= cores:
            return sorted(cpus)[:cores], None
    sizes = ", ".join(
        "%s %s:%s: %d" % (c.get("name") or "cores", c["implementer"], c["part"],
                          len([x for x in c["cpus"] if x in usable]))
        for c in clusters
    )  # fmt: skip
    return None, "needs %d cores of one core type, online: %s (core types are never mixed)" % (
        cores,
        sizes,
    )


# ------------------------------------------------------------------------------ power state


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
        log.append({"argv": argv, "rc": rc, "output": _tail(out)})
        if rc != 0:
            raise PowerError("%s failed (exit %d): %s" % (" ".join(argv), rc, _tail(out, 300)))
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


# --------------------------------------------------------------------------------- TensorRT


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
        "%s:%s" % (s["name"], _bundle_path(bundle, s["file"], "input")) for s in w["inputs"]
    )
    build = [
        trtexec,
        "--onnx=" + _bundle_path(bundle, w["model"], "model"),
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
                    "trtexec engine build failed (exit %d): %s" % (rc, _tail(out, 800))
                )
            os.replace(
                plan["engine"] + ".partial", plan["engine"]
            )  # a killed build leaves no engine
            built = True
        rc, out = run(plan["time"], plan["duration_s"] + plan["warmup_ms"] / 1000.0 + 600)
        if rc != 0 or not os.path.isfile(times):
            raise WorkloadError("trtexec timing run failed (exit %d): %s" % (rc, _tail(out, 800)))
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


# ------------------------------------------------------------------------------ onnxruntime


def _import_onnxruntime() -> Tuple[Any, Any]:
    import numpy  # optional on the board: imported only here
    import onnxruntime

    return numpy, onnxruntime


def run_onnxruntime(w: Dict[str, Any], bundle: str) -> Dict[str, Any]:
    """One session on the CPU execution provider (intra-op threads = ``threads``, one inter-op
    thread, sequential); ``warmup`` untimed runs, then ``repeats`` timed runs (and more until
    ``min_time_s`` passed). Raises on NaN/inf outputs."""
    np, ort = _import_onnxruntime()
    options = ort.SessionOptions()
    options.intra_op_num_threads = int(w["threads"])
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(
        _bundle_path(bundle, w["model"], "model"), options, providers=["CPUExecutionProvider"]
    )
    feeds = {}
    for spec in w["inputs"]:
        dtype = np.dtype(spec["dtype"]).newbyteorder("<")
        data = np.fromfile(_bundle_path(bundle, spec["file"], "input"), dtype=dtype)
        feeds[spec["name"]] = data.astype(dtype.newbyteorder("=")).reshape(spec["shape"])

    def check(outputs: List[Any]) -> None:
        for meta, value in zip(session.get_outputs(), outputs):
            array = np.asarray(value)
            if array.dtype.kind in "fc" and not np.isfinite(array).all():
                raise WorkloadError(
                    "output %r holds NaN or inf (a broken model or input)" % meta.name
                )

    outputs = None
    for _ in range(int(w["warmup"])):
        outputs = session.run(None, feeds)
    if outputs is not None:
        check(outputs)
    samples = []  # type: List[float]
    perf = time.perf_counter
    begin = perf()
    while len(samples) < int(w["repeats"]) or perf() - begin < float(w["min_time_s"]):
        t0 = perf()
        outputs = session.run(None, feeds)
        samples.append(perf() - t0)
    check(outputs or [])
    return {
        "samples_s": samples,
        "sample": "wall time of one session.run (time.perf_counter)",
        "provider": session.get_providers()[0],
    }


# ------------------------------------------------------------------------------- stability


def compare_snapshots(
    before: Dict[str, Any],
    after: Dict[str, Any],
    cpus: Optional[Sequence[int]] = None,
    devfreq: bool = True,
    freq_tolerance: float = FREQ_TOLERANCE,
    temp_limit_c: float = TEMP_LIMIT_C,
    temp_rise_c: float = TEMP_RISE_C,
) -> List[str]:
    """Why a workload's timings are not comparable, from snapshots before and after it.

    A current frequency that moved by more than `freq_tolerance` (cpufreq of the workload's
    CPUs when `cpus` is given; devfreq, i.e. the GPU on a Jetson, when `devfreq`), a thermal
    zone that rose by more than `temp_rise_c`, or one that rose to above `temp_limit_c`
    (only when it rose: a TX2's PMIC-Die zone reads a constant 100 C). Empty: stable.
    """
    reasons = []  # type: List[str]
    names = None if cpus is None else {"cpu%d" % c for c in cpus}
    groups = [("cpufreq", "kHz")] + ([("devfreq", "Hz")] if devfreq else [])
    for group, unit in groups:
        for name, b in sorted((before.get(group) or {}).items()):
            if group == "cpufreq" and names is not None and name not in names:
                continue
            a = (after.get(group) or {}).get(name)
            if a is None:
                reasons.append("%s %s: no frequency after the run (taken offline?)" % (group, name))
                continue
            if b.get("cur") and abs(a["cur"] - b["cur"]) > freq_tolerance * b["cur"]:
                reasons.append(
                    "%s %s moved %d -> %d %s (%+.1f %%, limit %g %%)"
                    % (group, name, b["cur"], a["cur"], unit,
                       100.0 * (a["cur"] - b["cur"]) / b["cur"], 100 * freq_tolerance)
                )  # fmt: skip
    for name, a in sorted((after.get("temps") or {}).items()):
        b = (before.get("temps") or {}).get(name)
        if b is None:
            continue
        label = "%s (%s)" % (name, a.get("type")) if a.get("type") else name
        rise = a["celsius"] - b["celsius"]
        if rise > temp_rise_c:
            reasons.append(
                "%s rose %.1f -> %.1f C (by more than %g C)"
                % (label, b["celsius"], a["celsius"], temp_rise_c)
            )
        elif a["celsius"] > temp_limit_c and rise > 0:
            reasons.append(
                "%s rose to %.1f C, above the %g C limit" % (label, a["celsius"], temp_limit_c)
            )
    return reasons


# ------------------------------------------------------------------------------- workloads


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


# ------------------------------------------------------------------------------------- CLI

EPILOG = """\
the bundle:
  BUNDLE/manifest.json (schema 1) lists the files with their sha256, the power state
  (nvpmodel mode, jetson_clocks, settle time; or null) and the workloads (runtime onnxruntime
  or trtexec, model, raw little-endian input files, precision, cores, threads, warm-up,
  repeats). `edgecheck bundle` on the host writes it; the module docstring of this file is the
  full contract.

what it does:
  verifies every file's sha256; probes the board (device tree, L4T, /proc/cpuinfo, online
  CPUs, cpufreq, thermal zones, nvpmodel -q, jetson_clocks --show); sets the power state and
  restores it on exit, error or Ctrl-C; pins each workload to CPUs of one core type; times it
  (onnxruntime in this process, or trtexec with an engine cached in BUNDLE/engines/); marks it
  unstable when clocks moved by > 5 %% or a thermal zone rose by > 10 C or above 80 C; writes
  --out atomically.

exit codes:
  0    every workload ran, or was "not run" for a stated reason
  1    a workload ended in "error", or the power state could not be set or restored
  2    the bundle is broken (manifest, missing file, sha256): nothing measured or written
  130  interrupted: power state restored, nothing written
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="board_agent.py",
        description="edgecheck's on-board agent: measure a bundle's workloads on this board "
        "and write results.json. Python 3.6+, standard library only (numpy and onnxruntime "
        "for onnxruntime workloads, trtexec for TensorRT ones).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("bundle", help="the bundle folder (holds manifest.json)")
    parser.add_argument("--out", help="where to write results.json (required unless --dry-run)")
    parser.add_argument(
        "--no-power",
        action="store_true",
        help="leave the power state as it is (no nvpmodel / jetson_clocks changes)",
    )
    parser.add_argument(
        "--dry-run",
        action="store_true",
        help="verify the bundle, probe the board and print what would run; change nothing",
    )
    parser.add_argument(
        "--root",
        default="/",
        help="read the board's /proc, /sys and /etc files under this folder (for tests; default /)",
    )
    return parser


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt("signal %d" % signum)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not args.dry_run and not args.out:
        parser.error("--out is required (or use --dry-run)")
    # SIGTERM and SIGHUP (the ssh session to the board dropped) unwind like Ctrl-C, so the
    # power state is restored on the way out.
    caught = [s for s in (signal.SIGTERM, getattr(signal, "SIGHUP", None)) if s is not None]
    old_handlers = [(s, signal.signal(s, _raise_interrupt)) for s in caught]
    try:
        return run_agent(
            args.bundle, args.out, root=args.root, no_power=args.no_power, dry_run=args.dry_run
        )
    except BundleError as exc:
        sys.stderr.write("board_agent: bundle error: %s\n" % exc)
        return EXIT_BUNDLE
    except KeyboardInterrupt:
        sys.stderr.write(
            "board_agent: interrupted; the power state was restored (if it was changed), "
            "no results written\n"
        )
        return EXIT_INTERRUPTED
    finally:
        for signum, handler in old_handlers:
            signal.signal(signum, handler)


if __name__ == "__main__":
    sys.exit(main())

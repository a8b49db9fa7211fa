"""The agent's constants, exceptions and helpers (commands, files, JSON)."""

# Python 3.6 compatibility: no `from __future__ import annotations`, no dataclasses, no walrus,
# no `capture_output=`/`text=` in subprocess, typing.List/Dict annotations.

import datetime
import hashlib
import json
import os
import subprocess
import tempfile
from typing import Any, Callable, List, Optional, Tuple

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


def tail(text: str, limit: int = OUTPUT_TAIL) -> str:
    return text if len(text) <= limit else "..." + text[-limit:]


def read_text(root: str, path: str) -> Optional[str]:
    """The text of `path` (absolute, read under `root`), or None when it cannot be read."""
    full = os.path.join(root, path.lstrip("/"))
    try:
        with open(full, "rb") as fh:
            return fh.read().decode("utf-8", "replace")
    except OSError:
        return None


def read_int(root: str, path: str) -> Optional[int]:
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

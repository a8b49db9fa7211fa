"""edgecheck's on-board agent: measure a bundle's workloads on this board, write results.json.

The host does the heavy work (export ONNX, quantize, write a *bundle*); the board only measures,
with this one file: ``board_agent.pyz``, this package as a zipapp that
`edgecheck.devicerun.agent_archive` builds into every bundle. It needs nothing but Python 3.6+
and its standard library (a Jetson TX2 on JetPack 4.6 has Python 3.6.9); numpy and onnxruntime
are imported only for onnxruntime workloads, trtexec is run as a program.

Usage::

    python3 board_agent.pyz BUNDLE --out results.json [--no-power] [--dry-run]
    python -m edgecheck.agent.board BUNDLE ...   (the same, from the source tree)

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

THE PACKAGE
-----------
One module per section of the agent: `common` (constants, errors, helpers), `manifest`
(load_bundle), `probe` (the board), `power` (the power state), `trt` (TensorRT), `ort`
(onnxruntime), `stability`, `workloads` (run_agent), `cli` (main), `__main__`. They import each
other absolutely, as ``edgecheck.agent.board.<module>``: the archive holds them under that same
path (below a stub ``edgecheck/__init__.py`` and the real ``edgecheck/agent/__init__.py``), so
one source runs unchanged in both places. The public names are re-exported here.
"""

# Python 3.6 compatibility: no `from __future__ import annotations`, no dataclasses, no walrus,
# no `capture_output=`/`text=` in subprocess, typing.List/Dict annotations.

from edgecheck.agent.board.cli import (
    build_parser,
    main,
)
from edgecheck.agent.board.common import (
    AGENT_VERSION,
    ARM_CORE_NAMES,
    ARM_LTD,
    DTYPE_SIZES,
    EXIT_BUNDLE,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    EXIT_OK,
    FREQ_TOLERANCE,
    NO_ONNXRUNTIME,
    NO_POWER_TOOLS,
    NO_TRTEXEC,
    OUTPUT_TAIL,
    PRECISIONS,
    REBUILD,
    RUNTIMES,
    SCHEMA,
    SOC_PROFILES,
    SPEED_ISA_FEATURES,
    TARGETS,
    TEMP_LIMIT_C,
    TEMP_RISE_C,
    TRTEXEC_FALLBACK,
    BundleError,
    PowerError,
    Runner,
    Which,
    WorkloadError,
    now_iso,
    read_int,
    read_text,
    run_command,
    sha256_file,
    tail,
    write_json_atomic,
)
from edgecheck.agent.board.manifest import (
    bundle_path,
    load_bundle,
)
from edgecheck.agent.board.ort import (
    run_onnxruntime,
)
from edgecheck.agent.board.power import (
    power_state,
)
from edgecheck.agent.board.probe import (
    choose_cpus,
    parse_compatible,
    parse_cpu_list,
    parse_cpuinfo,
    parse_l4t,
    parse_nvpmodel,
    probe_board,
    snapshot,
)
from edgecheck.agent.board.stability import (
    compare_snapshots,
)
from edgecheck.agent.board.trt import (
    engine_cache_key,
    find_trtexec,
    parse_tensorrt_version,
    parse_trtexec_times,
    run_trtexec,
    trtexec_plan,
    trtexec_precision_flags,
)
from edgecheck.agent.board.workloads import (
    describe_plan,
    pinned,
    probe_runtimes,
    run_agent,
    run_workload,
)

__all__ = [
    "AGENT_VERSION",
    "ARM_CORE_NAMES",
    "ARM_LTD",
    "DTYPE_SIZES",
    "EXIT_BUNDLE",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "FREQ_TOLERANCE",
    "NO_ONNXRUNTIME",
    "NO_POWER_TOOLS",
    "NO_TRTEXEC",
    "OUTPUT_TAIL",
    "PRECISIONS",
    "REBUILD",
    "RUNTIMES",
    "SCHEMA",
    "SOC_PROFILES",
    "SPEED_ISA_FEATURES",
    "TARGETS",
    "TEMP_LIMIT_C",
    "TEMP_RISE_C",
    "TRTEXEC_FALLBACK",
    "BundleError",
    "PowerError",
    "Runner",
    "Which",
    "WorkloadError",
    "build_parser",
    "bundle_path",
    "choose_cpus",
    "compare_snapshots",
    "describe_plan",
    "engine_cache_key",
    "find_trtexec",
    "load_bundle",
    "main",
    "now_iso",
    "parse_compatible",
    "parse_cpu_list",
    "parse_cpuinfo",
    "parse_l4t",
    "parse_nvpmodel",
    "parse_tensorrt_version",
    "parse_trtexec_times",
    "pinned",
    "power_state",
    "probe_board",
    "probe_runtimes",
    "read_int",
    "read_text",
    "run_agent",
    "run_command",
    "run_onnxruntime",
    "run_trtexec",
    "run_workload",
    "sha256_file",
    "snapshot",
    "tail",
    "trtexec_plan",
    "trtexec_precision_flags",
    "write_json_atomic",
]

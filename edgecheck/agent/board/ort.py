"""onnxruntime workloads: one CPU session, timed in this process."""

# Python 3.6 compatibility: no `from __future__ import annotations`, no dataclasses, no walrus,
# no `capture_output=`/`text=` in subprocess, typing.List/Dict annotations.

import time
from typing import Any, Dict, List, Tuple

from edgecheck.agent.board.common import WorkloadError
from edgecheck.agent.board.manifest import bundle_path


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
        bundle_path(bundle, w["model"], "model"), options, providers=["CPUExecutionProvider"]
    )
    feeds = {}
    for spec in w["inputs"]:
        dtype = np.dtype(spec["dtype"]).newbyteorder("<")
        data = np.fromfile(bundle_path(bundle, spec["file"], "input"), dtype=dtype)
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

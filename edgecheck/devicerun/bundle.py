"""``edgecheck bundle``: write what a board needs to measure the paper's claims.

A bundle is a folder: ``manifest.json`` (schema 1, exactly the contract in
`edgecheck.agent.board`'s docstring), the agent itself (``board_agent.pyz``, one zipapp file:
`edgecheck.devicerun.agent_archive`), the models under ``models/`` and raw input blobs under
``inputs/``. The board runs ``python3 board_agent.pyz BUNDLE --out results.json``;
`edgecheck.devicerun.judge` judges it.

What goes in, per target (`plan_workloads`, data in `MODEL_PLANS`, `TRT_BATCHES`):

* every target: the parallel claims (Tables III, IV) as onnxruntime workloads on 1, 2 and 4
  cores, FP32 at the target's opset (`OPSETS`: 13 on a ``tx2``, whose TensorRT 8.2 parser
  and CPU onnxruntime <= 1.10 stop there; 17 elsewhere). FQA at batches 1, 2, 4 (keys
  ``b<B>@<C>c`` of ``parallel.fqa.cores``, and ``b4-b1@<C>c`` of ``parallel.fqa.batch``);
  VGG16 at batch 1 (``b1@2c``, ``b1@4c`` of ``parallel.vgg16.cores``: one VGG16 batch takes
  about 6 s on one A57 core).
* GPU targets (``tx2``, ``orin``, ``gpu``): trtexec workloads for FP32, FP16 (an FP16 ONNX
  file, `edgecheck.quantize.fp16.convert_fp16`, so TensorRT 11's ``--stronglyTyped`` builds it
  too) and, except on a ``tx2`` (its Pascal GPU, compute capability 6.2, has no INT8 math),
  INT8 Q/DQ in TensorRT's form (symmetric activations, float biases:
  `edgecheck.quantize.settings.TENSORRT`), at batch 1 and a large batch. VGG16's INT8 / FP32
  ratios serve ``quant.int8.speedup`` (keys ``b<B>`` and ``trend``); the FQA and FP16 ones
  are information (``quant.fp16.*`` are end-to-end pipeline claims, not model timings).

Each workload carries ``claims``: how a claim key is derived from the workloads' medians
(`edgecheck.devicerun.judge.derive_values` reads exactly this), so bundle and judge agree by
data. ``power`` per target (`POWER`): a TX2 in nvpmodel mode 3 (four Cortex-A57 at 2 GHz,
Denver off: what NVIDIA's TX2 benchmarks use, and exactly the four A57 cores the paper's
4-core cells ran on), an Orin in mode 0 (MAXN on an AGX Orin), both with jetson_clocks; a
desktop GPU or CPU: null (left alone).

Writing is careful: an OUT folder that is not empty is refused unless ``overwrite``; the work
happens in a temporary folder inside OUT, each file appears by a rename (atomic per file),
``manifest.json`` last, and on an error only that temporary folder is removed.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgecheck.devicerun.agent_archive import AGENT_ARCHIVE, build_agent_archive
from edgecheck.errors import EdgecheckError

TARGETS: tuple[str, ...] = ("tx2", "orin", "gpu", "cpu")
GPU_TARGETS: tuple[str, ...] = ("tx2", "orin", "gpu")
INT8_TARGETS: tuple[str, ...] = ("orin", "gpu")
MODELS: tuple[str, ...] = ("fqa", "vgg16")
SCHEMA = 1
OPSETS: dict[str, int] = {"tx2": 13, "orin": 17, "gpu": 17, "cpu": 17}
POWER: dict[str, dict[str, Any] | None] = {
    "tx2": {"nvpmodel": 3, "jetson_clocks": True, "settle_s": 5},
    "orin": {"nvpmodel": 0, "jetson_clocks": True, "settle_s": 5},
    "gpu": None,
    "cpu": None,
}
# trtexec batches: 1 and Fig. 4's 128 (quant.int8.speedup's gpu key); a TX2 shares its 8 GB
# with the CPU, and VGG16 at 128 needs over 1.5 GB for one activation, so 16 there.
TRT_BATCHES: dict[str, tuple[int, ...]] = {"tx2": (1, 16), "orin": (1, 128), "gpu": (1, 128)}
TRTEXEC_OPTIONS: dict[str, float] = {"duration_s": 10, "warmup_ms": 500}
INT8_CLAIM = "quant.int8.speedup"
AGENT_FILE = AGENT_ARCHIVE  # "board_agent.pyz"
INPUT_NAME = "input"


class BundleError(EdgecheckError):
    """A bundle that cannot be written as asked (bad target or model, OUT not empty)."""


@dataclass(frozen=True)
class ModelPlan:
    """What is measured of one model (the parallel workloads' batches, cores and timing)."""

    name: str
    parallel_claim: str
    batches: tuple[int, ...]
    cores: tuple[int, ...] = (1, 2, 4)
    batch_claim: str | None = None
    warmup: int = 3
    repeats: int = 20
    min_time_s: float = 0.0
    int8_claim: str | None = None


MODEL_PLANS: dict[str, ModelPlan] = {
    # FQA: 19 ms per image on one A57 core; at least 3 s of samples per cell.
    "fqa": ModelPlan(
        "fqa",
        "parallel.fqa.cores",
        (1, 2, 4),
        batch_claim="parallel.fqa.batch",
        warmup=5,
        repeats=30,
        min_time_s=3.0,
    ),
    # VGG16: 6.1 s per batch on one A57 core (Table IV): 10 samples, batch 1 only.
    "vgg16": ModelPlan(
        "vgg16", "parallel.vgg16.cores", (1,), warmup=2, repeats=10, int8_claim=INT8_CLAIM
    ),
}


def model_file(model: str, precision: str) -> str:
    return f"models/{model}_{precision}.onnx"


def input_file(model: str, batch: int) -> str:
    return f"inputs/{model}_b{batch}.bin"


def ort_name(model: str, batch: int, cores: int) -> str:
    return f"{model}.fp32.b{batch}@{cores}c"


def trt_name(model: str, precision: str, batch: int) -> str:
    return f"{model}.{precision}.b{batch}.trt"


def _input_shape(model: str) -> tuple[int, ...]:
    from edgecheck.models import get_model_spec

    return tuple(get_model_spec(model).input_shape)


def _workload(
    name: str, runtime: str, model: str, precision: str, batch: int, shape: tuple[int, ...],
    *, cores: int = 1, warmup: int = 0, repeats: int = 1, min_time_s: float = 0.0,
) -> dict[str, Any]:  # fmt: skip
    return {
        "name": name,
        "runtime": runtime,
        "model": model_file(model, precision),
        "inputs": [
            {
                "name": INPUT_NAME,
                "shape": [batch, *shape],
                "dtype": "float32",
                "file": input_file(model, batch),
            }
        ],
        "precision": precision,
        "cores": cores,
        "threads": cores,
        "warmup": warmup,
        "repeats": repeats,
        "min_time_s": min_time_s,
        "claims": [],
    }


def plan_workloads(
    target: str, models: Sequence[str] = MODELS, *, repeats: int | None = None,
    min_time_s: float | None = None, trtexec_duration_s: float | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """The manifest's workloads for `target`, each with the ``claims`` it serves.

    A claim entry: ``{"claim", "key", "ratios": [[numerator, denominator], ...],
    "combine": "ratio" | "difference" | "quotient", "cores": n | null}``: each ratio is
    median(numerator's samples) / median(denominator's) (seconds per batch, so 1-core over
    n-core is the speedup); "difference" is ratio 0 - ratio 1, "quotient" ratio 0 / ratio 1.
    `repeats`, `min_time_s` and `trtexec_duration_s` override the plans' timing (tests).
    """
    _check_target(target, models)
    workloads: list[dict[str, Any]] = []
    for m in models:
        plan, shape = MODEL_PLANS[m], _input_shape(m)
        by_name: dict[str, dict[str, Any]] = {}
        for b in plan.batches:
            for c in plan.cores:
                w = _workload(
                    ort_name(m, b, c), "onnxruntime", m, "fp32", b, shape, cores=c,
                    warmup=plan.warmup, repeats=plan.repeats if repeats is None else repeats,
                    min_time_s=plan.min_time_s if min_time_s is None else min_time_s,
                )  # fmt: skip
                by_name[w["name"]] = w
                if c > 1:
                    w["claims"].append({
                        "claim": plan.parallel_claim, "key": f"b{b}@{c}c", "cores": c,
                        "ratios": [[ort_name(m, b, 1), w["name"]]], "combine": "ratio",
                    })  # fmt: skip
        if plan.batch_claim and {1, 4} <= set(plan.batches):
            for c in plan.cores[1:]:
                by_name[ort_name(m, 4, c)]["claims"].append({
                    "claim": plan.batch_claim, "key": f"b4-b1@{c}c", "cores": c,
                    "ratios": [[ort_name(m, 4, 1), ort_name(m, 4, c)],
                               [ort_name(m, 1, 1), ort_name(m, 1, c)]],
                    "combine": "difference",
                })  # fmt: skip
        workloads += by_name.values()
        if target in GPU_TARGETS:
            workloads += _trt_workloads(target, plan, shape, trtexec_duration_s)
    return workloads


def _trt_workloads(
    target: str, plan: ModelPlan, shape: tuple[int, ...], duration_s: float | None
) -> list[dict[str, Any]]:
    m, batches = plan.name, TRT_BATCHES[target]
    precisions = ("fp32", "fp16", "int8") if target in INT8_TARGETS else ("fp32", "fp16")
    options: dict[str, float] = dict(TRTEXEC_OPTIONS)
    if duration_s is not None:
        options["duration_s"] = duration_s
    out = []
    for precision in precisions:
        for b in batches:
            w = _workload(trt_name(m, precision, b), "trtexec", m, precision, b, shape)
            w["trtexec"] = dict(options)
            if precision == "int8" and plan.int8_claim:
                w["claims"].append({
                    "claim": plan.int8_claim, "key": f"b{b}", "cores": None,
                    "ratios": [[trt_name(m, "fp32", b), w["name"]]], "combine": "ratio",
                })  # fmt: skip
                if b == batches[-1] and b != batches[0]:
                    w["claims"].append({
                        "claim": plan.int8_claim, "key": "trend", "cores": None,
                        "ratios": [[trt_name(m, "fp32", b), w["name"]],
                                   [trt_name(m, "fp32", batches[0]),
                                    trt_name(m, "int8", batches[0])]],
                        "combine": "quotient",
                    })  # fmt: skip
            out.append(w)
    return out


def select_workloads(
    workloads: Sequence[dict[str, Any]], patterns: Sequence[str] | None
) -> list[dict[str, Any]]:
    """The workloads whose name matches any of `patterns` (shell globs, e.g. ``fqa.fp32.b1@*``);
    all of them when `patterns` is empty or None.

    A claim of a kept workload whose ratios name a workload left out is judged "not run here:
    workload ... is not in the results" (`edgecheck.devicerun.judge.derive_values`).

    Raises:
        BundleError: a pattern that matches no workload (the message lists the names).
    """
    from fnmatch import fnmatchcase

    if not patterns:
        return list(workloads)
    unmatched = [p for p in patterns if not any(fnmatchcase(w["name"], p) for w in workloads)]
    if unmatched:
        names = ", ".join(w["name"] for w in workloads)
        raise BundleError(
            f"workload pattern(s) {', '.join(unmatched)} match no workload; choose from: {names}."
        )
    return [w for w in workloads if any(fnmatchcase(w["name"], p) for p in patterns)]


def _check_target(target: str, models: Sequence[str]) -> None:
    if target not in TARGETS:
        raise BundleError(f"target {target!r} is not one of {', '.join(TARGETS)}.")
    unknown = [m for m in models if m not in MODEL_PLANS]
    if unknown or not models:
        raise BundleError(
            f"model(s) {', '.join(unknown) or '(none)'}: choose from {', '.join(MODELS)}."
        )


# ------------------------------------------------------------------------------ the files


def _fqa_source() -> tuple[Any, Any]:
    """The shipped trained FQA CNN and the paper's 100 calibration images."""
    from edgecheck.data import calibration_faces
    from edgecheck.weights import load_trained_fqa

    return load_trained_fqa(), calibration_faces()


def _vgg16_source() -> tuple[Any, Any]:
    """VGG16 with seeded weights and 8 seeded noise images (INT8 speed depends on the graph,
    not on the ranges; as `edgecheck.evaluation.int8_speed.prepare_vgg16_int8`)."""
    import numpy as np

    from edgecheck.models import build_model

    images = np.random.default_rng(0).random((8, *_input_shape("vgg16")), dtype=np.float32)
    return build_model("vgg16", seed=0), images


# model name -> () -> (torch module, INT8 calibration inputs)
SOURCES: dict[str, Callable[[], tuple[Any, Any]]] = {"fqa": _fqa_source, "vgg16": _vgg16_source}


def _make_models(model: str, precisions: set[str], target: str, work: Path) -> dict[str, Path]:
    from edgecheck.export import export_onnx

    module, calibration = SOURCES[model]()
    made: dict[str, Path] = {}
    fp32 = work / model_file(model, "fp32")
    export_onnx(module, _input_shape(model), fp32, opset=OPSETS[target])
    made[model_file(model, "fp32")] = fp32
    if "fp16" in precisions:
        from edgecheck.quantize import convert_fp16

        rel = model_file(model, "fp16")
        made[rel] = convert_fp16(fp32, work / rel)
    if "int8" in precisions:
        from edgecheck.quantize import quantize_int8

        rel = model_file(model, "int8")
        level = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)  # onnxruntime's quantizer is chatty
        try:
            quantize_int8(
                fp32, work / rel, calibration, method="minmax", settings="tensorrt",
                batch_size=min(len(calibration), 16),
            )  # fmt: skip
        finally:
            logging.getLogger().setLevel(level)
        made[rel] = work / rel
    return made


def _write_input(path: Path, shape: Sequence[int], seed: int) -> None:
    import numpy as np

    path.parent.mkdir(parents=True, exist_ok=True)
    data = np.random.default_rng(seed).random(tuple(shape), dtype=np.float32)
    data.astype("<f4", copy=False).tofile(path)  # raw little-endian C order


def write_bundle(
    out: str | os.PathLike[str], target: str, *, models: Sequence[str] = MODELS,
    overwrite: bool = False, repeats: int | None = None, min_time_s: float | None = None,
    trtexec_duration_s: float | None = None, note: Callable[[str], None] | None = None,
    workloads: Sequence[str] | None = None,
) -> Path:  # fmt: skip
    """Write a bundle for `target` into `out` and return the manifest's path.

    Args:
        out: the bundle folder; created if missing; must be empty unless `overwrite`.
        target: ``tx2``, ``orin``, ``gpu`` or ``cpu``.
        models: which models (``fqa``, ``vgg16``; VGG16's FP32 file alone is 528 MB).
        overwrite: write into a non-empty folder, replacing the bundle's own files (other
            files are left alone).
        repeats, min_time_s, trtexec_duration_s: override the plans' timing (tests).
        note: called with a line per step (progress).
        workloads: keep only the workloads whose names match these globs (`select_workloads`);
            only their models (with the FP32 file the others are made from) and inputs are
            written.

    Raises:
        BundleError: an unknown target or model, a pattern that matches no workload, or OUT
            not empty (nothing written).
    """
    from edgecheck import __version__
    from edgecheck._atomic import write_atomic

    say = note or (lambda _: None)
    planned = plan_workloads(
        target, models, repeats=repeats, min_time_s=min_time_s,
        trtexec_duration_s=trtexec_duration_s,
    )  # fmt: skip
    chosen = select_workloads(planned, workloads)
    folder = Path(out)
    if folder.exists() and not folder.is_dir():
        raise BundleError(f"{folder} is a file, not a folder; choose a folder for the bundle.")
    if folder.is_dir() and any(folder.iterdir()) and not overwrite:
        raise BundleError(
            f"{folder} is not empty; choose an empty or new folder, or pass --overwrite to "
            "replace the bundle's files in it."
        )
    folder.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".edgecheck-bundle-", dir=folder))
    try:
        made: dict[str, Path] = {}
        for m in models:
            precisions = {w["precision"] for w in chosen if w["model"].startswith(f"models/{m}_")}
            if not precisions:
                continue  # no chosen workload runs this model
            say(f"{m}: exporting at opset {OPSETS[target]}, {', '.join(sorted(precisions))}")
            made.update(_make_models(m, precisions, target, work))
        for seed, (rel, shape) in enumerate(
            sorted({(i["file"], tuple(i["shape"])) for w in chosen for i in w["inputs"]})
        ):
            _write_input(work / rel, shape, seed)
            made[rel] = work / rel
        made[AGENT_FILE] = build_agent_archive(work / AGENT_FILE)  # deterministic bytes
        # The agent's own hash function: the manifest and the board's check are one contract.
        from edgecheck.agent.board import sha256_file

        files = {rel: sha256_file(str(path)) for rel, path in sorted(made.items())}
        for rel, path in sorted(made.items()):
            dest = folder / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(path, dest)
        manifest = {
            "schema": SCHEMA,
            "target": target,
            "edgecheck_version": __version__,
            "power": POWER[target],
            "files": files,
            "workloads": chosen,
        }
        import json

        path = write_atomic(folder / "manifest.json", json.dumps(manifest, indent=1) + "\n")
        say(f"bundle for {target}: {len(chosen)} workloads, {len(files)} files in {folder}")
        return path
    finally:
        shutil.rmtree(work, ignore_errors=True)

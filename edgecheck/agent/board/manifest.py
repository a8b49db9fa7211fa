"""The bundle's manifest: read it, check every field and every file's sha256."""

# Python 3.6 compatibility: no `from __future__ import annotations`, no dataclasses, no walrus,
# no `capture_output=`/`text=` in subprocess, typing.List/Dict annotations.

import hashlib
import json
import math
import os
import re
from typing import Any, Dict, Tuple

from edgecheck.agent.board.common import (
    DTYPE_SIZES,
    PRECISIONS,
    REBUILD,
    RUNTIMES,
    SCHEMA,
    TARGETS,
    BundleError,
    sha256_file,
)


def bundle_path(bundle: str, relative: Any, where: str) -> str:
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
        full = bundle_path(bundle, relative, fwhere)
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
            size = os.path.getsize(bundle_path(bundle, relative, iwhere))
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

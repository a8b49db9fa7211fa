"""The on-board agent (the package edgecheck/agent/board/, run as the zipapp board_agent.pyz):
Python 3.6 compatibility, the archive, the bundle contract, the board probe, the power state,
trtexec's time files, results.json.

Real where real is possible: the agent runs as a subprocess (the archive a bundle carries) on a
bundle with a real ONNX model (onnxruntime on this machine's CPU) and under a real Python 3.6
when one is installed; the power tools are fake `nvpmodel` / `jetson_clocks` shell scripts
first on PATH that log their argv (no Jetson tools exist here); the TX2 and Orin are their
/proc and /etc texts under a fake root.
"""

from __future__ import annotations

import ast
import glob
import hashlib
import io
import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest
from fake_machines import fake_machine

from edgecheck.agent import board as agent
from edgecheck.agent.board import workloads as agent_workloads
from edgecheck.devicerun.agent_archive import AGENT_ARCHIVE, build_agent_archive

PACKAGE = Path(agent.__file__).parent
MODULES = sorted(PACKAGE.glob("*.py"))  # every module of the agent package
REPEATS = 7


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _tiny_onnx(path: Path) -> None:
    """Conv(1->2, 3x3, same) + Relu on [1, 1, 8, 8]."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    weight = numpy_helper.from_array(
        np.linspace(-1, 1, 18, dtype=np.float32).reshape(2, 1, 3, 3), "w"
    )
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["input", "w"], ["c"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["c"], ["output"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 1, 8, 8])],
        [helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 2, 8, 8])],
        [weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))


def _workload(name: str, runtime: str = "onnxruntime", cores: int = 1, **extra) -> dict:
    w = {
        "name": name,
        "runtime": runtime,
        "model": "models/tiny.onnx",
        "inputs": [
            {"name": "input", "shape": [1, 1, 8, 8], "dtype": "float32", "file": "inputs/x.bin"}
        ],
        "precision": "fp32",
        "cores": cores,
        "threads": 1,
        "warmup": 2,
        "repeats": REPEATS,
        "min_time_s": 0.0,
    }
    if runtime == "trtexec":
        w["trtexec"] = {"duration_s": 1, "warmup_ms": 100}
    w.update(extra)
    return w


# Claims entries are the host's data: the agent copies them into the results unchanged.
CLAIM = {"claim": "parallel.fqa.cores", "key": "b1@2c", "ratios": [["a", "b"]]}


def write_bundle(folder: Path, workloads: list[dict] | None = None, power=None) -> Path:
    """A bundle by hand, as `edgecheck bundle` will write it."""
    (folder / "models").mkdir(parents=True)
    (folder / "inputs").mkdir()
    _tiny_onnx(folder / "models" / "tiny.onnx")
    rng = np.random.default_rng(0)
    rng.standard_normal((1, 1, 8, 8)).astype(np.float32).tofile(folder / "inputs" / "x.bin")
    files = {rel: _sha(folder / rel) for rel in ("models/tiny.onnx", "inputs/x.bin")}
    manifest = {
        "schema": 1,
        "target": "cpu",
        "edgecheck_version": "0.1.0",
        "power": power,
        "files": files,
        "workloads": workloads
        if workloads is not None
        else [
            _workload("tiny.fp32.b1@1c", claims=[CLAIM]),
            _workload("tiny.trt", runtime="trtexec"),
        ],
    }
    (folder / "manifest.json").write_text(json.dumps(manifest, indent=1))
    return folder


@pytest.fixture(scope="module", name="pyz")
def _pyz(tmp_path_factory) -> Path:
    """The agent as a bundle carries it: board_agent.pyz, built from the package."""
    return build_agent_archive(tmp_path_factory.mktemp("agent") / AGENT_ARCHIVE)


def _run_agent(
    pyz: Path, *args: str, python: str = sys.executable, env: dict | None = None,
    python_flags: tuple[str, ...] = (),
):  # fmt: skip
    return subprocess.run(
        [python, *python_flags, str(pyz), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


# ------------------------------------------------------------------- Python 3.6 compatibility


def _archive_sources(pyz: Path, folder: Path) -> list[Path]:
    """Every file of the archive, extracted under `folder`; each is a module of the package
    (or the archive's ``__main__.py`` and the ``edgecheck`` stubs above the package)."""
    with zipfile.ZipFile(pyz) as archive:
        names = archive.namelist()
        archive.extractall(folder)
    packaged = {n.rsplit("/", 1)[-1] for n in names if n.startswith("edgecheck/agent/board/")}
    assert packaged == {m.name for m in MODULES}  # every module of the package, nothing else
    return [folder / n for n in names]


def test_agent_source_has_no_syntax_newer_than_python_3_6(pyz, tmp_path):
    for path in _archive_sources(pyz, tmp_path):
        tree = ast.parse(path.read_text(), str(path), feature_version=(3, 6))
        # What feature_version does not catch: 3.7+ library keywords and the lazy annotations.
        futures = [a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)
                   and n.module == "__future__" for a in n.names]  # fmt: skip
        keywords = {k.arg for n in ast.walk(tree) if isinstance(n, ast.Call) for k in n.keywords}
        assert futures == [], path
        assert not keywords & {"capture_output", "text", "strict"}, path


def test_vermin_finds_nothing_that_needs_more_than_python_3_6(pyz, tmp_path):
    vermin = shutil.which("vermin") or str(Path(sys.executable).with_name("vermin"))
    if not os.path.exists(vermin):
        pytest.skip("vermin is not installed (pip install vermin; it is in the test extra)")
    sources = _archive_sources(pyz, tmp_path)
    done = subprocess.run(
        [vermin, "-t=3.6-", "--no-tips", "--violations", *map(str, sources)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def _python36() -> str | None:
    """A working Python 3.6 interpreter: $EDGECHECK_AGENT_PYTHON36 (e.g. a 3.6 venv with numpy
    1.19 and onnxruntime 1.10, like a TX2's), pyenv's, or python3.6 on PATH (a pyenv shim for
    a version that is not selected fails the check and is skipped)."""
    candidates = (
        [os.environ["EDGECHECK_AGENT_PYTHON36"]] if "EDGECHECK_AGENT_PYTHON36" in os.environ else []
    )
    candidates += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.6*/bin/python3.6")))
    candidates += [p for p in [shutil.which("python3.6")] if p]
    for candidate in candidates:
        check = [candidate, "-c", "import sys; assert sys.version_info[:2] == (3, 6)"]
        if subprocess.run(check, capture_output=True, timeout=30).returncode == 0:
            return candidate
    return None


def test_agent_runs_under_a_real_python_3_6_copied_alone(pyz, tmp_path):
    """The TX2's Python: the archive copied alone, run on a bundle; without numpy/onnxruntime
    there the onnxruntime workload is "not run" with the install hint, and the exit code is 0."""
    python36 = _python36()
    if python36 is None:
        pytest.skip("no python3.6 here (pyenv install 3.6) to run the agent as a TX2 would")
    bundle = write_bundle(tmp_path / "bundle")
    board_dir = tmp_path / "board"
    board_dir.mkdir()
    shutil.copy(pyz, board_dir / AGENT_ARCHIVE)
    out = tmp_path / "results.json"
    done = subprocess.run(
        [python36, str(board_dir / AGENT_ARCHIVE), str(bundle), "--out", str(out), "--no-power"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=board_dir,
    )
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())
    assert results["python"].startswith("3.6.")
    by_name = {w["name"]: w for w in results["workloads"]}
    ort_done = by_name["tiny.fp32.b1@1c"]
    if results["runtimes"]["onnxruntime"] is None:
        assert ort_done["status"] == "not run"
        assert ort_done["reason"].startswith(agent.NO_ONNXRUNTIME)
    else:  # a 3.6 with onnxruntime (EDGECHECK_AGENT_PYTHON36): measured there
        assert ort_done["status"] == "ok" and len(ort_done["samples_s"]) == REPEATS
    assert by_name["tiny.trt"]["reason"] == agent.NO_TRTEXEC


# ------------------------------------------------------------------------------ the archive


def test_the_archive_runs_alone_help_and_a_tiny_bundle(pyz, tmp_path):
    """``python board_agent.pyz``, isolated (-I) and without site-packages (-S): neither the
    installed edgecheck nor numpy is importable, so everything the agent runs comes from the
    archive, as on a board with a bare Python; onnxruntime workloads are "not run" there."""
    board_dir = tmp_path / "board"
    board_dir.mkdir()
    alone = Path(shutil.copy(pyz, board_dir / AGENT_ARCHIVE))
    helped = _run_agent(alone, "--help", python_flags=("-I", "-S"))
    assert helped.returncode == 0, helped.stderr
    assert "usage: board_agent.pyz" in helped.stdout and "exit codes" in helped.stdout
    bundle = write_bundle(tmp_path / "bundle")
    out = tmp_path / "results.json"
    done = _run_agent(alone, str(bundle), "--out", str(out), "--no-power",
                      python_flags=("-I", "-S"))  # fmt: skip
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())
    assert results["manifest_sha256"] == _sha(bundle / "manifest.json")
    assert results["runtimes"]["numpy"] is None
    by_name = {w["name"]: w for w in results["workloads"]}
    assert by_name["tiny.fp32.b1@1c"]["reason"].startswith(agent.NO_ONNXRUNTIME)
    assert by_name["tiny.trt"]["reason"] == agent.NO_TRTEXEC


def test_two_builds_of_the_archive_are_byte_identical(pyz, tmp_path):
    """Sorted entries with fixed timestamps and modes: the bundle's sha256 of the agent is
    the same from build to build (and from the module fixture's build to this one's)."""
    (tmp_path / "a").mkdir()
    first = build_agent_archive(tmp_path / "a" / AGENT_ARCHIVE)
    second = build_agent_archive(tmp_path / AGENT_ARCHIVE)
    assert first.read_bytes() == second.read_bytes() == pyz.read_bytes()
    assert first.read_bytes().startswith(b"#!/usr/bin/env python3\n")
    with zipfile.ZipFile(first) as archive:
        infos = archive.infolist()
    names = [i.filename for i in infos]
    assert names == sorted(names)
    assert names[:3] == ["__main__.py", "edgecheck/__init__.py", "edgecheck/agent/__init__.py"]
    assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
    assert {i.external_attr >> 16 for i in infos} == {0o100644}
    assert not any("__pycache__" in n or not n.endswith(".py") for n in names)


def test_the_package_runs_as_a_module_on_the_host():
    done = subprocess.run(
        [sys.executable, "-m", "edgecheck.agent.board", "--help"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "exit codes" in done.stdout


# --------------------------------------------------------------------------- end to end, real


def test_agent_measures_a_real_onnx_bundle_on_this_machine(pyz, tmp_path):
    pytest.importorskip("onnxruntime")
    bundle = write_bundle(tmp_path / "bundle")
    out = tmp_path / "out" / "results.json"
    done = _run_agent(pyz, str(bundle), "--out", str(out), "--no-power")
    assert done.returncode == 0, done.stderr
    results = json.loads(out.read_text())
    assert results["schema"] == 1 and results["agent_version"] == 1
    assert results["manifest_sha256"] == _sha(bundle / "manifest.json")
    assert results["target"] == "cpu"
    assert results["board"]["profile_hint"] == "cpu" and results["board"]["soc"] is None
    assert results["board"]["online_cpus"], results["board"]
    assert results["power"]["status"] == "left alone"
    assert results["runtimes"]["onnxruntime"] and results["runtimes"]["numpy"]
    ort_result, trt_result = results["workloads"]
    assert ort_result["status"] == "ok", ort_result
    assert len(ort_result["samples_s"]) == REPEATS
    assert all(s > 0 for s in ort_result["samples_s"])
    assert ort_result["unit"] == "s per batch" and ort_result["batch"] == 1
    assert (
        ort_result["cpus"] == [results["board"]["online_cpus"][0]] or len(ort_result["cpus"]) == 1
    )
    assert isinstance(ort_result["stable"], bool)
    assert trt_result["status"] == "not run" and trt_result["reason"] == agent.NO_TRTEXEC
    assert ort_result["claims"] == [CLAIM] and trt_result["claims"] == []
    # progress: one line per workload to stderr
    assert "tiny.fp32.b1@1c: ok, 7 samples" in done.stderr
    assert list(out.parent.iterdir()) == [out]  # no temp file left next to it


def test_the_agent_s_results_import_into_the_history_as_board_timings(pyz, tmp_path):
    pytest.importorskip("onnxruntime")
    from edgecheck.history.sources import runs_from_file
    from edgecheck.history.store import HistoryError, HistoryStore

    bundle = write_bundle(tmp_path / "bundle")
    store = tmp_path / "history.sqlite"
    for commit in ("c1", "c2"):
        out = tmp_path / commit / "results.json"
        assert _run_agent(pyz, str(bundle), "--out", str(out), "--no-power").returncode == 0
        with HistoryStore(store, create=True) as history:
            history.append_many(runs_from_file(out, commit=commit, branch="main"))
    with HistoryStore(store) as history:
        assert [n[:2] for n in history.metric_names()] == [("board", "tiny.fp32.b1@1c")]
        series = history.series("board", "tiny.fp32.b1@1c")
        runs = list(history.runs())
    assert [p.commit for p in series] == ["c1", "c2"] and all(p.n == REPEATS for p in series)
    assert runs[0].fingerprint_id == runs[1].fingerprint_id  # the same board, one series
    assert runs[0].identity["agent"] == "board_agent" and runs[0].profile == "cpu"
    with pytest.raises(HistoryError, match="field 'commit' is missing; .*--commit SHA"):
        runs_from_file(out)


def test_help_explains_bundle_and_exit_codes(pyz):
    done = _run_agent(pyz, "--help")
    assert done.returncode == 0
    for text in ("manifest.json", "exit codes", "--no-power", "--dry-run", "130", "sha256"):
        assert text in done.stdout


def test_dry_run_prints_the_plan_and_writes_nothing(pyz, tmp_path):
    bundle = write_bundle(tmp_path / "bundle", power={"nvpmodel": 3, "jetson_clocks": True,
                                                       "settle_s": 5})  # fmt: skip
    done = _run_agent(pyz, str(bundle), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert "nvpmodel -m 3" in done.stdout and "tiny.fp32.b1@1c" in done.stdout
    assert agent.NO_TRTEXEC in done.stdout
    assert not (bundle / "engines").exists()


def test_workload_needing_more_cores_than_online_is_not_run(tmp_path):
    pytest.importorskip("onnxruntime")
    bundle = write_bundle(tmp_path / "bundle", [_workload("big", cores=64)])
    out = tmp_path / "r.json"
    assert agent.run_agent(str(bundle), str(out), no_power=True, stream=io.StringIO()) == 0
    (result,) = json.loads(out.read_text())["workloads"]
    n = len(os.sched_getaffinity(0))
    assert result["status"] == "not run"
    assert result["reason"] == f"needs 64 cores, {n} online"
    assert result["stable"] is None


def test_a_crashing_workload_is_an_error_and_the_others_still_run(pyz, tmp_path):
    pytest.importorskip("onnxruntime")
    bundle = write_bundle(tmp_path / "bundle")
    # A model file onnxruntime cannot load (listed with its correct hash: the bundle is valid).
    (bundle / "models" / "bad.onnx").write_bytes(b"this is not an onnx model")
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"]["models/bad.onnx"] = _sha(bundle / "models" / "bad.onnx")
    manifest["workloads"] = [
        _workload("bad", model="models/bad.onnx"),
        _workload("good"),
    ]
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    out = tmp_path / "r.json"
    done = _run_agent(pyz, str(bundle), "--out", str(out), "--no-power")
    assert done.returncode == 1, done.stderr
    bad, good = json.loads(out.read_text())["workloads"]
    assert bad["status"] == "error" and bad["reason"]
    assert good["status"] == "ok" and len(good["samples_s"]) == REPEATS


def test_nan_outputs_are_an_error(pyz, tmp_path):
    pytest.importorskip("onnxruntime")
    bundle = write_bundle(tmp_path / "bundle", [_workload("nan")])
    np.full((1, 1, 8, 8), np.nan, dtype=np.float32).tofile(bundle / "inputs" / "x.bin")
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"]["inputs/x.bin"] = _sha(bundle / "inputs" / "x.bin")
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    out = tmp_path / "r.json"
    assert agent.run_agent(str(bundle), str(out), no_power=True, stream=io.StringIO()) == 1
    (result,) = json.loads(out.read_text())["workloads"]
    assert result["status"] == "error" and "NaN" in result["reason"]


# ------------------------------------------------------------------------- broken bundles


def _expect_bundle_error(pyz: Path, bundle: Path, tmp_path: Path, *needles: str) -> None:
    out = tmp_path / "results.json"
    out.write_text('{"kept": true}')
    done = _run_agent(pyz, str(bundle), "--out", str(out), "--no-power")
    assert done.returncode == 2, done.stderr
    for needle in (*needles, "rebuild the bundle with `edgecheck bundle`"):
        assert needle in done.stderr, done.stderr
    assert out.read_text() == '{"kept": true}'  # the old results stay as they were
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_hash_mismatch_exits_2_naming_the_file_and_field(pyz, tmp_path):
    bundle = write_bundle(tmp_path / "bundle")
    with open(bundle / "inputs" / "x.bin", "r+b") as fh:
        fh.write(b"\0\0\0\0")
    _expect_bundle_error(pyz, bundle, tmp_path, 'files["inputs/x.bin"]', "sha256")


def test_missing_file_exits_2(pyz, tmp_path):
    bundle = write_bundle(tmp_path / "bundle")
    (bundle / "models" / "tiny.onnx").unlink()
    _expect_bundle_error(pyz, bundle, tmp_path, 'files["models/tiny.onnx"]', "missing")


def test_corrupt_manifest_exits_2(pyz, tmp_path):
    bundle = write_bundle(tmp_path / "bundle")
    (bundle / "manifest.json").write_text('{"schema": 1, "target": ')
    _expect_bundle_error(pyz, bundle, tmp_path, "manifest.json", "not valid JSON")


@pytest.mark.parametrize(
    ("change", "needles"),
    [
        (lambda m: m.update(schema=2), ("'schema' is 2",)),
        (lambda m: m["workloads"][0].pop("repeats"), ("workloads[0] (tiny.fp32.b1@1c)", "'repeats'")),
        (lambda m: m["workloads"][0].update(model="models/other.onnx"), ("'model'", "models/other.onnx")),
        (lambda m: m["workloads"][0]["inputs"][0].update(shape=[1, 1, 8, 9]), ("inputs[0]", "'file'", "needs 288")),
        (lambda m: m["files"].update({"../escape.bin": "0" * 64}), ('files["../escape.bin"]', "inside the bundle")),
        (lambda m: m.update(power={"nvpmodel": 3, "settle_s": 1}), ("power", "'jetson_clocks'")),
        (lambda m: m["workloads"][0].update(claims="parallel.fqa.cores"), ("workloads[0]", "'claims'")),
    ],
)  # fmt: skip
def test_bad_manifest_fields_exit_2_naming_the_field(tmp_path, change, needles):
    bundle = write_bundle(tmp_path / "bundle")
    manifest = json.loads((bundle / "manifest.json").read_text())
    change(manifest)
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(agent.BundleError) as caught:
        agent.load_bundle(str(bundle))
    for needle in needles:
        assert needle in str(caught.value)


def test_results_are_written_atomically(tmp_path, monkeypatch):
    out = tmp_path / "results.json"
    out.write_text("old")

    def fail(src, dst):
        raise OSError("disk gone")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk gone"):
        agent.write_json_atomic(str(out), {"a": 1})
    assert out.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]
    monkeypatch.undo()
    with pytest.raises(ValueError):  # NaN is not JSON: nothing written, not half a file
        agent.write_json_atomic(str(out), {"a": float("nan")})
    assert out.read_text() == "old"
    agent.write_json_atomic(str(out), {"a": 1})
    assert json.loads(out.read_text()) == {"a": 1}


# ---------------------------------------------------------------------------- board probes

ORIN_CPUINFO = "\n".join(
    f"processor\t: {n}\nBogoMIPS\t: 62.50\nFeatures\t: fp asimd aes pmull sha1 sha2 crc32 atomics "
    f"fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp\nCPU implementer\t: 0x41\n"
    f"CPU architecture: 8\nCPU variant\t: 0x1\nCPU part\t: 0xd42\nCPU revision\t: 1\n"
    for n in range(6)
)


def _commands(outputs: dict[str, tuple[int, str]], log: list | None = None):
    def which(name):
        return "/usr/sbin/" + name if name in {k.split()[0] for k in outputs} else None

    def run(argv, timeout=None):
        key = " ".join([os.path.basename(argv[0]), *argv[1:]])
        if log is not None:
            log.append(key)
        for prefix, result in outputs.items():
            if key.startswith(prefix):
                return result
        return 0, ""

    return run, which


def test_probe_of_a_tx2_reads_soc_l4t_clusters_and_power_mode(tmp_path):
    root = fake_machine(tmp_path, "jetson-tx2")
    (root / "sys/devices/system/cpu").mkdir(parents=True, exist_ok=True)
    (root / "sys/devices/system/cpu/online").write_text("0-5\n")
    for n, khz in ((0, 2035200), (1, 2035200)):
        freq = root / f"sys/devices/system/cpu/cpu{n}/cpufreq"
        freq.mkdir(parents=True, exist_ok=True)
        (freq / "scaling_cur_freq").write_text(f"{khz}\n")
        (freq / "scaling_max_freq").write_text("2035200\n")
    zone = root / "sys/class/thermal/thermal_zone0"
    zone.mkdir(parents=True, exist_ok=True)
    (zone / "temp").write_text("41500\n")
    (zone / "type").write_text("BCPU-therm\n")
    run, which = _commands({"nvpmodel -q": (0, "NV Fan Mode:quiet\nNV Power Mode: MAXN\n0\n")})
    board = agent.probe_board(str(root), run, which)
    assert board["soc"] == "tegra186" and board["profile_hint"] == "tx2"
    assert board["l4t"] == "32.7.1" and board["model"] == "quill"
    assert board["power_mode"] == {"id": 0, "name": "MAXN"}
    assert board["online_cpus"] == [0, 1, 2, 3, 4, 5]
    a57, denver = board["cpu"]["clusters"]
    assert (a57["name"], a57["cpus"]) == ("Cortex-A57", [0, 3, 4, 5])
    assert (denver["implementer"], denver["name"], denver["cpus"]) == ("0x4e", "Denver 2", [1, 2])
    assert board["clocks"]["cpufreq"]["cpu0"] == {"cur": 2035200, "max": 2035200}
    assert board["temps"]["thermal_zone0"] == {"type": "BCPU-therm", "celsius": 41.5}
    # 4 cores: the A57 cluster; 2 cores: still A57 (ARM's cores first); 5: never mixed
    assert agent.choose_cpus(4, board) == ([0, 3, 4, 5], None)
    assert agent.choose_cpus(2, board) == ([0, 3], None)
    cpus, why = agent.choose_cpus(5, board)
    assert cpus is None and "never mixed" in why and "Denver 2 0x4e:0x003: 2" in why
    # nvpmodel -m 3 takes the Denver cores offline: 4 online, asked for 6
    board["online_cpus"] = [0, 3, 4, 5]
    assert agent.choose_cpus(6, board) == (None, "needs 6 cores, 4 online")


@pytest.mark.parametrize(("query", "mode"), [("NV Power Mode: MAXN\n0", (0, "MAXN")),
                                             ("NV Power Mode: 15W\n1", (1, "15W"))])  # fmt: skip
def test_probe_of_an_orin(tmp_path, query, mode):
    root = tmp_path / "orin"
    for rel, text in {
        "proc/device-tree/compatible": "nvidia,p3737-0000+p3701-0005\0nvidia,p3701-0005\0nvidia,tegra234\0",
        "proc/device-tree/model": "NVIDIA Jetson AGX Orin Developer Kit\0",
        "etc/nv_tegra_release": "# R36 (release), REVISION: 4.0, GCID: 37537400, BOARD: generic, EABI: aarch64, DATE: Fri Sep 13 04:36:44 UTC 2024\n",
        "proc/cpuinfo": ORIN_CPUINFO,
        "sys/devices/system/cpu/online": "0-5\n",
    }.items():  # fmt: skip
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    run, which = _commands({"nvpmodel -q": (0, query)})
    board = agent.probe_board(str(root), run, which)
    assert board["soc"] == "tegra234" and board["profile_hint"] == "orin"
    assert board["l4t"] == "36.4.0"
    assert board["model"] == "NVIDIA Jetson AGX Orin Developer Kit"
    assert board["power_mode"] == {"id": mode[0], "name": mode[1]}
    (cluster,) = board["cpu"]["clusters"]
    assert cluster["name"] == "Cortex-A78AE" and board["cpu"]["isa"] == [
        "asimddp",
        "fphp",
        "asimdhp",
    ]
    assert agent.choose_cpus(4, board) == ([0, 1, 2, 3], None)


def test_probe_of_an_x86_machine_and_of_this_one(tmp_path):
    board = agent.probe_board(str(fake_machine(tmp_path, "xeon-amx")), *_commands({}))
    cpu = board["cpu"]
    assert (cpu["vendor"], cpu["family"], cpu["model"], cpu["stepping"]) == (
        "GenuineIntel",
        "6",
        "143",
        "8",
    )
    assert "amx_int8" in cpu["isa"] and "avx512_vnni" in cpu["isa"]
    assert board["soc"] is None and board["profile_hint"] == "cpu" and board["power_mode"] is None
    here = agent.probe_board("/", *_commands({}))
    assert here["profile_hint"] == "cpu" and here["online_cpus"]
    assert agent.choose_cpus(1, here, sorted(os.sched_getaffinity(0)))[0] is not None


def test_parse_small_texts():
    assert agent.parse_cpu_list("0-3,5\n") == [0, 1, 2, 3, 5]
    assert agent.parse_cpu_list("") is None
    assert agent.parse_compatible("nvidia,quill\0nvidia,tegra186\0") == "tegra186"
    assert agent.parse_compatible("raspberrypi,4-model-b\0brcm,bcm2711\0") is None
    assert agent.parse_l4t("# R32 (release), REVISION: 7.1, GCID: 1") == "32.7.1"
    assert agent.parse_nvpmodel(
        "NVPM WARN: fan mode is not set!\nNV Power Mode: MODE_15W_2CORE\n3"
    ) == {
        "id": 3,
        "name": "MODE_15W_2CORE",
    }
    assert agent.parse_nvpmodel("nvpmodel: not permitted") is None


# -------------------------------------------------------------------------------- stability


def _snap(khz: int, celsius: float, gpu_hz: int = 1300500000) -> dict:
    return {
        "cpufreq": {"cpu0": {"cur": khz, "max": 2035200}, "cpu1": {"cur": 345600, "max": 2035200}},
        "devfreq": {"17000000.gp10b": {"cur": gpu_hz, "max": 1300500000}},
        "temps": {
            "thermal_zone0": {"type": "BCPU-therm", "celsius": celsius},
            "thermal_zone5": {"type": "PMIC-Die", "celsius": 100.0},
        },
    }


def test_stability_flags_moved_clocks_and_hot_zones_only():
    assert agent.compare_snapshots(_snap(2035200, 40), _snap(2035200, 44), cpus=[0]) == []
    # 4 % is within the 5 % band; cpu1 (not used by the workload) may move freely
    assert agent.compare_snapshots(_snap(2035200, 40), _snap(1958400, 40), cpus=[0]) == []
    (moved,) = agent.compare_snapshots(_snap(2035200, 40), _snap(1420800, 40), cpus=[0])
    assert "cpufreq cpu0 moved 2035200 -> 1420800 kHz" in moved
    (rise,) = agent.compare_snapshots(_snap(2035200, 40), _snap(2035200, 52), cpus=[0])
    assert "BCPU-therm" in rise and "by more than 10 C" in rise
    (hot,) = agent.compare_snapshots(_snap(2035200, 75), _snap(2035200, 81), cpus=[0])
    assert "above the 80 C limit" in hot
    gpu = agent.compare_snapshots(_snap(2035200, 40), _snap(2035200, 40, 114750000), cpus=[0])
    assert len(gpu) == 1 and "devfreq 17000000.gp10b" in gpu[0]
    assert agent.compare_snapshots(_snap(2035200, 40), _snap(2035200, 40, 114750000), cpus=[0],
                                   devfreq=False) == []  # fmt: skip


# --------------------------------------------------------------------------------- TensorRT


def test_parse_trtexec_times_of_tensorrt_7_format():
    """Tests PARSING of a file in trtexec 7.x's documented --exportTimes format, not a
    measurement: the first entry starts before the 100 ms warm-up and is dropped."""
    entries = [
        {"startInMs": s, "endInMs": s + 0.05, "startComputeMs": s + 0.05,
         "endComputeMs": s + 2.05, "startOutMs": s + 2.05, "endOutMs": s + 2.1, "inMs": 0.05,
         "computeMs": c, "outMs": 0.05, "latencyMs": c + 0.1, "endToEndMs": c + 0.1}
        for s, c in ((50.0, 9.0), (101.0, 2.0), (103.5, 2.5))
    ]  # fmt: skip
    times = agent.parse_trtexec_times(json.dumps(entries, indent=2), warmup_ms=100)
    assert times["compute_s"] == pytest.approx([0.002, 0.0025])
    assert times["latency_s"] == pytest.approx([0.0021, 0.0026])


def test_parse_trtexec_times_of_tensorrt_8_format_without_latency():
    """Tests PARSING of trtexec 8.x/10.x's format (enq/h2d/d2h fields, endToEndMs gone, as
    trtexec writes it: one object a line), not a measurement; latency from h2d+compute+d2h."""
    text = (
        "[\n"
        '  { "startEnqMs" : 0.5, "endEnqMs" : 0.6, "startH2dMs" : 0.6, "endH2dMs" : 0.7, '
        '"startComputeMs" : 0.7, "endComputeMs" : 1.9, "startD2hMs" : 1.9, "endD2hMs" : 2, '
        '"h2dMs" : 0.1, "computeMs" : 1.2, "d2hMs" : 0.1 }\n'
        ', { "startComputeMs" : 3, "endComputeMs" : 4.5 }\n'
        "]\n"
    )
    times = agent.parse_trtexec_times(text)
    assert times["compute_s"] == pytest.approx([0.0012, 0.0015])
    assert times["latency_s"] == pytest.approx([0.0014])


def test_parse_trtexec_times_rejects_what_is_not_a_time_file():
    """Tests parsing errors, not a measurement."""
    for bad in ("", "nan", '{"count": 3}', '[{"count": 3}]'):
        with pytest.raises(ValueError):
            agent.parse_trtexec_times(bad)


def test_tensorrt_version_and_flags():
    """Tests parsing of trtexec banners and the flag choice, not a measurement."""
    banner = "&&&& RUNNING TensorRT.trtexec [TensorRT v8201] # /usr/src/tensorrt/bin/trtexec --help"
    assert agent.parse_tensorrt_version(banner) == "8.2.1"
    assert (
        agent.parse_tensorrt_version("&&&& RUNNING TensorRT.trtexec [TensorRT v100300]") == "10.3.0"
    )
    assert agent.parse_tensorrt_version("[I] TensorRT version: 8.5.2") == "8.5.2"
    assert agent.parse_tensorrt_version("no banner") is None
    assert agent.trtexec_precision_flags("fp16", "8.2.1") == ["--fp16"]
    assert agent.trtexec_precision_flags("fp16", "10.3.0") == ["--fp16"]
    assert agent.trtexec_precision_flags("fp16", "11.0.0") == ["--stronglyTyped"]
    assert agent.trtexec_precision_flags("int8", "8.2.1") == ["--int8"]
    assert agent.trtexec_precision_flags("int8", "10.3.0") == ["--stronglyTyped"]
    assert agent.trtexec_precision_flags("fp32", "10.3.0") == []


def test_engine_cache_key_changes_with_every_field():
    """Tests the cache key function, not a measurement."""
    base = ("a" * 64, "8.2.1", "32.7.1", 3, "fp16", "tegra186")
    key = agent.engine_cache_key(*base)
    assert key == agent.engine_cache_key(*base) and len(key) == 64
    for i, other in enumerate(("b" * 64, "8.2.3", "32.7.4", 0, "int8", "tegra194")):
        changed = list(base)
        changed[i] = other
        assert agent.engine_cache_key(*changed) != key, i


def _fake_trtexec(folder: Path, log: Path) -> Path:
    """A fake trtexec that logs its argv, writes the engine and a 7.x-format time file."""
    script = folder / "trtexec"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$@" >> "{log}"\n'
        'echo "&&&& RUNNING TensorRT.trtexec [TensorRT v8201] # trtexec $*"\n'
        'for a in "$@"; do case "$a" in\n'
        '  --saveEngine=*) echo engine > "${a#--saveEngine=}";;\n'
        '  --exportTimes=*) printf \'[ { "startComputeMs" : 200, "endComputeMs" : 201.5, '
        '"computeMs" : 1.5, "latencyMs" : 1.7 }\\n, { "startComputeMs" : 202, '
        '"endComputeMs" : 203, "computeMs" : 1, "latencyMs" : 1.2 } ]\\n\' '
        '> "${a#--exportTimes=}";;\n'
        "esac; done\n"
    )
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_trtexec_workload_builds_once_then_loads_the_cached_engine(pyz, tmp_path):
    """Tests the agent's trtexec command lines and engine cache against a fake trtexec that
    logs its argv; the samples are the fake's numbers, not a measurement."""
    bins = tmp_path / "bin"
    bins.mkdir()
    log = tmp_path / "trtexec.log"
    _fake_trtexec(bins, log)
    bundle = write_bundle(
        tmp_path / "bundle", [_workload("t", runtime="trtexec", precision="fp16")]
    )
    env = {**os.environ, "PATH": f"{bins}{os.pathsep}{os.environ['PATH']}"}
    for attempt in range(2):
        out = tmp_path / f"r{attempt}.json"
        done = _run_agent(pyz, str(bundle), "--out", str(out), "--no-power", env=env)
        assert done.returncode == 0, done.stderr
        (result,) = json.loads(out.read_text())["workloads"]
        assert result["status"] == "ok" and result["samples_s"] == pytest.approx([0.0015, 0.001])
        assert result["latency_s"] == pytest.approx([0.0017, 0.0012])
        assert result["engine_built"] is (attempt == 0)
    runs = log.read_text().splitlines()
    build = [r for r in runs if "--saveEngine=" in r]
    timed = [r for r in runs if "--loadEngine=" in r]
    assert len(build) == 1 and len(timed) == 2
    assert (
        "--fp16" in build[0]
        and "--timingCacheFile=" in build[0]
        and "--shapes=input:1x1x8x8" in build[0]
    )
    for flag in (
        "--warmUp=100",
        "--duration=1",
        "--useSpinWait",
        "--exportTimes=",
        "--loadInputs=input:",
    ):
        assert flag in timed[0]
    assert json.loads(out.read_text())["runtimes"]["tensorrt"] == "8.2.1"
    assert len(list((bundle / "engines").glob("*.plan"))) == 1


# ------------------------------------------------------------------------------ power state


def _fake_power_tools(folder: Path, log: Path, mode: int = 0, fail: str = "") -> None:
    """`nvpmodel` and `jetson_clocks` shell scripts that log their argv."""
    folder.mkdir(exist_ok=True)
    for name, body in {
        "nvpmodel": f'if [ "$1" = "-q" ]; then printf "NV Power Mode: MAXN\\n{mode}\\n"; fi\n',
        "jetson_clocks": 'if [ "$1" = "--show" ]; then echo "SOC family:tegra186"; fi\n',
    }.items():
        script = folder / name
        failing = (
            f'case "$*" in "{fail}") echo "not permitted" >&2; exit 1;; esac\n' if fail else ""
        )
        script.write_text(f'#!/bin/sh\necho "{name} $*" >> "{log}"\n{failing}{body}')
        script.chmod(script.stat().st_mode | stat.S_IXUSR)


POWER = {"nvpmodel": 3, "jetson_clocks": True, "settle_s": 0}


def test_power_state_is_set_and_restored_with_real_commands(pyz, tmp_path):
    root = fake_machine(tmp_path, "jetson-tx2")
    log = tmp_path / "power.log"
    _fake_power_tools(tmp_path / "bin", log)
    bundle = write_bundle(tmp_path / "bundle", [_workload("w", runtime="trtexec")], power=POWER)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    out = tmp_path / "r.json"
    done = _run_agent(pyz, str(bundle), "--out", str(out), "--root", str(root), env=env)
    assert done.returncode == 0, done.stderr
    calls = [c.rstrip() for c in log.read_text().splitlines()]
    store = next(c for c in calls if c.startswith("jetson_clocks --store ")).split()[-1]
    changes = [c for c in calls if c not in ("nvpmodel -q", "jetson_clocks --show")]
    assert changes == [
        f"jetson_clocks --store {store}",
        "nvpmodel -m 3",
        "jetson_clocks",
        "nvpmodel -m 0",
        f"jetson_clocks --restore {store}",
    ]
    assert not os.path.exists(store)
    power = json.loads(out.read_text())["power"]
    assert power["status"] == "set" and power["restored"] is True
    assert power["before"] == {"id": 0, "name": "MAXN"}


def test_power_state_is_restored_when_a_workload_is_interrupted(tmp_path, monkeypatch, capsys):
    pytest.importorskip("onnxruntime")
    root = fake_machine(tmp_path, "jetson-tx2")
    log = tmp_path / "power.log"
    _fake_power_tools(tmp_path / "bin", log)
    monkeypatch.setenv("PATH", f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}")
    bundle = write_bundle(tmp_path / "bundle", [_workload("w")], power=POWER)

    def interrupted(w, bundle):
        raise KeyboardInterrupt

    monkeypatch.setattr(agent_workloads, "run_onnxruntime", interrupted)
    out = tmp_path / "r.json"
    assert agent.main([str(bundle), "--out", str(out), "--root", str(root)]) == 130
    assert not out.exists()
    calls = log.read_text().splitlines()
    assert calls[-2:] == ["nvpmodel -m 0", calls[-1]] and calls[-1].startswith(
        "jetson_clocks --restore"
    )
    assert "power state was restored" in capsys.readouterr().err


def test_a_crashing_workload_does_not_skip_the_restore(tmp_path, monkeypatch):
    root = fake_machine(tmp_path, "jetson-tx2")
    log: list[str] = []
    tools = {"nvpmodel -q": (0, "NV Power Mode: MAXN\n0"), "jetson_clocks --show": (0, "")}
    run, which = _commands(tools, log)
    bundle = write_bundle(tmp_path / "bundle", [_workload("w"), _workload("v")], power=POWER)

    def crash(w, bundle):
        raise RuntimeError("segfault-ish")

    monkeypatch.setattr(agent_workloads, "run_onnxruntime", crash)
    out = tmp_path / "r.json"
    code = agent.run_agent(str(bundle), str(out), root=str(root), run=run, which=which,
                           sleep=lambda s: None, stream=io.StringIO())  # fmt: skip
    results = json.loads(out.read_text())
    if results["runtimes"]["onnxruntime"]:
        assert code == 1
        assert [w["status"] for w in results["workloads"]] == ["error", "error"]
        assert "segfault-ish" in results["workloads"][0]["reason"]
    assert log[-2] == "nvpmodel -m 0" and log[-1].startswith("jetson_clocks --restore")
    assert results["power"]["restored"] is True


def test_failed_power_command_runs_nothing_and_restores(pyz, tmp_path):
    root = fake_machine(tmp_path, "jetson-tx2")
    log = tmp_path / "power.log"
    _fake_power_tools(tmp_path / "bin", log, fail="-m 3")
    bundle = write_bundle(tmp_path / "bundle", [_workload("w", runtime="trtexec")], power=POWER)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    out = tmp_path / "r.json"
    done = _run_agent(pyz, str(bundle), "--out", str(out), "--root", str(root), env=env)
    assert done.returncode == 1, done.stderr
    results = json.loads(out.read_text())
    assert results["power"]["status"] == "failed"
    assert "nvpmodel -m 3 failed (exit 1)" in results["power"]["reason"]
    assert results["workloads"][0]["status"] == "not run"
    assert results["workloads"][0]["reason"].startswith("not run: power state not set")
    calls = log.read_text().splitlines()
    assert "nvpmodel -m 0" in calls and any(c.startswith("jetson_clocks --restore") for c in calls)


def test_power_left_alone_without_tools_or_off_a_jetson(tmp_path):
    tx2 = agent.probe_board(str(fake_machine(tmp_path, "jetson-tx2")), *_commands({}))
    with agent.power_state(POWER, tx2, *_commands({})) as power:
        assert power["status"] == "not set" and power["reason"].startswith(agent.NO_POWER_TOOLS)
    x86 = agent.probe_board(str(fake_machine(tmp_path, "epyc-avx2")), *_commands({}))
    log: list[str] = []
    run, which = _commands({"nvpmodel": (0, ""), "jetson_clocks": (0, "")}, log)
    with agent.power_state(POWER, x86, run, which) as power:
        assert power["status"] == "not set" and "not a Jetson" in power["reason"]
    assert log == []
    with agent.power_state(None, tx2, run, which) as power:
        assert power["status"] == "left alone"


def test_sigterm_during_the_settle_time_restores_the_power_state(pyz, tmp_path):
    """A real signal to a real agent process: it unwinds like Ctrl-C (exit 130, nothing
    written) and the fake tools log the restore."""
    root = fake_machine(tmp_path, "jetson-tx2")
    log = tmp_path / "power.log"
    _fake_power_tools(tmp_path / "bin", log)
    power = {"nvpmodel": 3, "jetson_clocks": True, "settle_s": 30}
    bundle = write_bundle(tmp_path / "bundle", [_workload("w", runtime="trtexec")], power=power)
    env = {**os.environ, "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    out = tmp_path / "r.json"
    proc = subprocess.Popen(
        [sys.executable, str(pyz), str(bundle), "--out", str(out), "--root", str(root)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:  # until the clocks are pinned, i.e. it is settling
        if log.exists() and "jetson_clocks" in [c.rstrip() for c in log.read_text().splitlines()]:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, err
    assert not out.exists()
    calls = [c.rstrip() for c in log.read_text().splitlines()]
    assert calls[-2] == "nvpmodel -m 0" and calls[-1].startswith("jetson_clocks --restore")

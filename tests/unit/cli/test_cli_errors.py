"""The command line's errors and exit statuses: a broken input is one line and status 2.

Every command that reads a model file (``ab``, ``macs``) or another file (``baselines show``,
``baselines diff``, ``judge``, ``pipeline``'s video, ``prune --weights``) is fed a missing file,
a truncated real file and a text file under the expected name; ``ab`` with models of different inputs is refused before any timing. Most calls run
in-process (`edgecheck.cli.main`); two run the installed entry point to show that no traceback
reaches the terminal. Nothing here times a model.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edgecheck import exitcodes
from edgecheck.cli import build_parser, main
from edgecheck.cli.ab import exit_status

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]
ENTRY = "import sys; from edgecheck.cli import main; sys.exit(main(sys.argv[1:]))"


def _tiny(path: Path, size: int, *, name: str = "input", elem: int = TensorProto.FLOAT) -> Path:
    weight = helper.make_tensor("w", elem, [4, 3, 3, 3], [0.1] * 108)
    node = helper.make_node("Conv", [name, "w"], ["out"], pads=[1, 1, 1, 1])
    graph = helper.make_graph(
        [node], "tiny",
        [helper.make_tensor_value_info(name, elem, ["batch", 3, size, size])],
        [helper.make_tensor_value_info("out", elem, ["batch", 4, size, size])], [weight],
    )  # fmt: skip
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("models")
    good = _tiny(folder / "good.onnx", 32)
    data = good.read_bytes()
    truncated = folder / "truncated.onnx"
    truncated.write_bytes(data[: len(data) // 2])
    text = folder / "x.onnx"
    text.write_text("this is a README, not a model\n")
    empty = folder / "empty.onnx"
    empty.write_bytes(b"")
    return {
        "good": good,
        "big": _tiny(folder / "big.onnx", 64),
        "renamed": _tiny(folder / "renamed.onnx", 32, name="pixels"),
        "half": _tiny(folder / "half.onnx", 32, elem=TensorProto.FLOAT16),
        "missing": folder / "missing.onnx",
        "truncated": truncated,
        "text": text,
        "empty": empty,
    }


BROKEN = ["missing", "truncated", "text", "empty"]


def _one_error_line(capsys: pytest.CaptureFixture[str], command: str) -> str:
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith(f"edgecheck {command}: error: "), err
    return lines[0]


@pytest.mark.parametrize("which", BROKEN)
def test_macs_of_a_broken_file_is_one_line_and_status_2(which, files, capsys):
    assert main(["macs", str(files[which])]) == exitcodes.USAGE
    line = _one_error_line(capsys, "macs")
    assert str(files[which]) in line
    assert ("no such file" if which == "missing" else "re-export") in line


@pytest.mark.parametrize("which", BROKEN)
@pytest.mark.parametrize("side", ["old", "new"])
def test_ab_with_a_broken_file_is_one_line_and_status_2_not_a_regression(
    which, side, files, capsys
):
    pair = [files["good"], files[which]] if side == "new" else [files[which], files["good"]]
    started = time.perf_counter()
    assert main(["ab", *map(str, pair), "--time", "0.2"]) == exitcodes.USAGE
    assert time.perf_counter() - started < 10  # refused before timing, not after
    assert str(files[which]) in _one_error_line(capsys, "ab")


@pytest.mark.parametrize(
    ("other", "differs"),
    [("big", "shape differs"), ("renamed", "input name differs"),
     ("half", "element type differs")],
)  # fmt: skip
def test_ab_refuses_models_with_different_inputs_before_timing(other, differs, files, capsys):
    started = time.perf_counter()
    assert main(["ab", str(files["good"]), str(files[other])]) == exitcodes.USAGE
    assert time.perf_counter() - started < 10  # --time 10 would take 20 s of timing
    line = _one_error_line(capsys, "ab")
    assert differs in line and str(files["good"]) in line and str(files[other]) in line
    if other == "big":
        assert "[batch,3,32,32]" in line and "[batch,3,64,64]" in line


def test_ab_refuses_a_registered_model_against_a_file_of_another_input(files, capsys):
    assert main(["ab", "fqa", str(files["good"])]) == exitcodes.USAGE
    line = _one_error_line(capsys, "ab")
    assert "fqa takes 'input' float [N,1,64,64]" in line and "[batch,3,32,32]" in line


@pytest.mark.parametrize(
    ("argv", "text"),
    [(["nope", "fqa"], "Run `edgecheck models`"),
     (["GOOD", "GOOD", "--backend", "torch"], "drop --backend torch"),
     (["GOOD", "GOOD", "--input-shape", "3,8,8"], "drop --input-shape or give 3,32,32"),
     (["GOOD", "GOOD", "--time", "5", "--max-time", "6"], "give --max-time 20 or more"),
     (["GOOD", "GOOD", "--batch", "2", "--input-shape", "3,32,32", "--max-time", "0"],
      "must be a positive number of seconds")],
)  # fmt: skip
def test_ab_errors_name_a_command_line_remedy(argv, text, files, capsys):
    argv = [str(files["good"]) if a == "GOOD" else a for a in argv]
    try:
        status = main(["ab", *argv])
    except SystemExit as exc:  # argparse's own errors (bad option values)
        status = exc.code
    assert status == exitcodes.USAGE
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and text in err, err


def test_ab_passes_max_time_to_the_timing_policy(files, monkeypatch, capsys):
    import edgecheck.ab as ab

    seen = {}

    def fake_compare(old, new, *, policy, check):
        seen["policy"] = policy
        raise SystemExit(0)  # stop before any timing

    monkeypatch.setattr(ab, "ab_compare", fake_compare)
    good = str(files["good"])
    with pytest.raises(SystemExit):
        main(["ab", good, good, "--time", "2", "--max-time", "33"])
    assert seen["policy"].max_time == 33 and seen["policy"].min_time == 2
    with pytest.raises(SystemExit):
        main(["ab", good, good, "--time", "100"])
    assert seen["policy"].max_time == 400  # default: the larger of 300 s and 4 x --time


def test_ab_exit_status_per_verdict():
    assert exit_status("regression") == exitcodes.REGRESSION == 1
    assert exit_status("undecided") == exitcodes.UNDECIDED == 3
    for status in ("unchanged", "improvement"):
        assert exit_status(status) == exitcodes.OK == 0


@pytest.mark.parametrize("which", BROKEN)
def test_baselines_show_and_diff_of_a_broken_file_are_one_line(which, files, capsys):
    assert main(["baselines", "show", str(files[which])]) == exitcodes.USAGE
    assert str(files[which]) in _one_error_line(capsys, "baselines")
    assert main(["baselines", "diff", str(files[which]), str(files[which])]) == exitcodes.USAGE
    assert str(files[which]) in _one_error_line(capsys, "baselines")


def test_macs_of_an_onnx_file_says_it_counted_the_graph(files, capsys):
    assert main(["macs", str(files["good"])]) == 0
    assert "(ONNX graph)" in capsys.readouterr().out
    assert main(["macs", "fqa"]) == 0
    assert "(torch forward)" in capsys.readouterr().out
    assert main(["macs", str(files["good"]), "--input-shape", "3,8,8"]) == exitcodes.USAGE
    assert "drop --input-shape" in _one_error_line(capsys, "macs")


def test_an_unexpected_exception_is_one_line_and_status_4(monkeypatch, capsys):
    from edgecheck.cli import models

    def boom(_):
        raise RuntimeError("something\nbroke")

    monkeypatch.setattr(models, "run", boom)
    monkeypatch.delenv(exitcodes.TRACEBACK_VARIABLE, raising=False)
    assert main(["models"]) == exitcodes.INTERNAL
    err = capsys.readouterr().err
    assert err.splitlines() == [
        "edgecheck models: internal error: RuntimeError: something broke (a bug in edgecheck, "
        "not a verdict: rerun with EDGECHECK_TRACEBACK=1 and report the traceback)"
    ]
    monkeypatch.setenv(exitcodes.TRACEBACK_VARIABLE, "1")
    with pytest.raises(RuntimeError):
        main(["models"])


def test_a_bad_option_is_one_line_with_status_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["macs", "fqa", "--input-shape", "a,b"])
    assert info.value.code == exitcodes.USAGE
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "see 'edgecheck macs --help'" in err


def test_every_help_ends_with_the_exit_statuses(capsys):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    parsers = [parser, *sub.choices.values()]
    baselines = sub.choices["baselines"]
    parsers += next(a for a in baselines._actions if a.dest == "baselines_action").choices.values()
    for p in parsers:
        text = p.format_help()
        assert text.rstrip().endswith(exitcodes.help_text().splitlines()[-1]), p.prog
        for code, _ in exitcodes.TABLE:
            assert f"\n  {code}  " in text, p.prog


def _entry_point(*args: str) -> subprocess.CompletedProcess[str]:
    code = ENTRY
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, timeout=120,
        cwd=ROOT,
    )  # fmt: skip


def test_no_traceback_reaches_the_terminal(files):
    done = _entry_point("ab", str(files["good"]), str(files["truncated"]))
    assert done.returncode == exitcodes.USAGE
    assert len(done.stderr.splitlines()) == 1 and "Traceback" not in done.stderr
    assert str(files["truncated"]) in done.stderr and done.stdout == ""
    done = _entry_point("macs", str(files["text"]), "--json")
    assert done.returncode == exitcodes.USAGE and "Traceback" not in done.stderr
    assert len(done.stderr.splitlines()) == 1 and done.stdout == ""


def test_importing_the_cli_loads_no_heavy_package():
    heavy = ["torch", "onnx", "onnxruntime", "numpy", "scipy", "cv2", "tqdm"]
    code = (
        "import json, sys\n"
        "import edgecheck.cli\n"
        "edgecheck.cli.build_parser()\n"
        f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


@pytest.mark.parametrize("command", [["models"], ["device", "--no-calibration"]])
def test_commands_that_build_no_model_load_no_torch(command):
    from edgecheck.device import cuda_driver_present

    if command[0] == "device" and cuda_driver_present():
        pytest.skip("a CUDA driver is here: `edgecheck device` asks torch what it sees")
    code = (
        "import json, sys\n"
        "from edgecheck.cli import main\n"
        f"main({command!r})\n"
        "print(json.dumps([m for m in ('torch', 'scipy', 'cv2') if m in sys.modules]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=ROOT
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.splitlines()[-1]) == []


def _broken_copies(folder: Path, real: bytes, suffix: str) -> dict[str, Path]:
    truncated, text = folder / f"truncated{suffix}", folder / f"text{suffix}"
    truncated.write_bytes(real[: len(real) // 2])
    text.write_text("this is a README, not the file you meant\n")
    return {"missing": folder / f"missing{suffix}", "truncated": truncated, "text": text}


@pytest.fixture(scope="module")
def other_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Path]]:
    """Broken results.json, video and weights, from real ones (a judged run's results, a
    written clip, a state dict)."""
    folder = tmp_path_factory.mktemp("other")
    results = json.dumps({"schema": 1, "board": {}, "workloads": []}).encode() * 4
    out = {"judge": _broken_copies(folder, results, ".json")}
    try:
        import cv2  # noqa: F401

        from edgecheck.data.video import write_clip

        write_clip(folder / "clip.mp4", "walk", (160, 120), 8)
        out["pipeline"] = _broken_copies(folder, (folder / "clip.mp4").read_bytes(), ".mp4")
    except ImportError:
        pass
    import torch

    from edgecheck.models import build_model

    torch.save(build_model("fqa").state_dict(), folder / "fqa.pt")
    out["prune"] = _broken_copies(folder, (folder / "fqa.pt").read_bytes(), ".pt")
    return out


ARGV = {
    "judge": lambda path: ["judge", path],
    "pipeline": lambda path: ["pipeline", path, "--max-frames", "2"],
    "prune": lambda path: ["prune", "fqa", "--weights", path, "--no-onnx"],
}


@pytest.mark.parametrize("which", ["missing", "truncated", "text"])
@pytest.mark.parametrize("command", sorted(ARGV))
def test_other_commands_given_a_broken_file_print_one_line_and_exit_2(
    command: str, which: str, other_files: dict[str, dict[str, Path]], tmp_path: Path
) -> None:
    """Through the entry point: a native library's own log line (FFmpeg's "moov atom not
    found" on a truncated video) must not precede the one-line error either."""
    if command not in other_files:
        pytest.skip(f"needs OpenCV for '{command}' (pip install 'opencv-python-headless<5')")
    path = str(other_files[command][which])
    done = subprocess.run(
        [sys.executable, "-c", ENTRY, *ARGV[command](path)], capture_output=True, text=True,
        timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == exitcodes.USAGE, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"edgecheck {command}: error: "), done.stderr
    assert path in lines[0] and "Traceback" not in done.stderr


def test_a_reader_that_stops_early_is_not_an_internal_error(tmp_path):
    """`edgecheck macs vgg16 | head -1`: the pipe closes under the table; no traceback, no
    "internal error", the shell's SIGPIPE status. The read end is closed before the command
    writes, so the write fails every time (a real `head` would race with it)."""
    pytest.importorskip("torch")
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        writer = subprocess.run(
            [sys.executable, "-c", ENTRY, "macs", "vgg16", "--plan", "paper"],
            stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=120, cwd=tmp_path,
        )  # fmt: skip
    finally:
        os.close(write_end)
    assert writer.returncode == exitcodes.BROKEN_PIPE, writer.stderr
    assert writer.stderr == ""

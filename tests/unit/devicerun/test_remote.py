"""`edgecheck remote` against a real sshd on 127.0.0.1 (`sshd_server.start_sshd`).

The board is this machine, reached through a real OpenSSH server as the current user, and its
"python" is this interpreter (it has onnxruntime). FQA only, the b4 workloads (two measured
for 3 s each, 4 cores "not run" here). The verdicts must equal `edgecheck judge`'s on the same
results.json; the failures (no connection, no login, no Python, the agent failing, no
results) are one line and exit status 2. Skipped with the install command where sshd is not
installed.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnxconverter_common")

from sshd_server import SshServer, _free_port, _keygen, start_sshd

from edgecheck.cli import main
from edgecheck.devicerun.bundle import write_bundle
from edgecheck.devicerun.remote import Board, RemoteError, Ssh, option_words

PYTHON = sys.executable  # the "board's" Python: this one, which has onnxruntime


@pytest.fixture(scope="module")
def sshd(tmp_path_factory) -> SshServer:
    with start_sshd(tmp_path_factory.mktemp("sshd")) as server:
        yield server


@pytest.fixture(scope="module")
def small_bundle(tmp_path_factory) -> Path:
    """A cpu bundle of one workload that is "not run" on 2 cores (nothing is timed)."""
    out = tmp_path_factory.mktemp("small") / "bundle"
    write_bundle(out, "cpu", models=("fqa",), workloads=["fqa.fp32.b1@4c"])
    return out


def _ssh_options(server: SshServer) -> list[str]:
    return [word for option in server.options for word in ("--ssh-option", option)]


def _error_line(err: str) -> str:
    """The one error line; progress lines may stand before it, nothing after it."""
    errors = [line for line in err.splitlines() if line.startswith("edgecheck remote: error:")]
    assert len(errors) == 1, err
    assert err.rstrip().splitlines()[-1] == errors[0], err
    assert "Traceback" not in err
    return errors[0]


def _board_folder(err: str) -> Path:
    found = re.search(r"folder 127\.0\.0\.1:(\S+)", err)
    assert found, err
    return Path(found.group(1))


def test_remote_runs_the_agent_over_ssh_and_judges_exactly_like_judge(
    sshd, tmp_path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    code = main([
        "remote", "127.0.0.1", "--target", "cpu", "--models", "fqa",
        "--workload", "fqa.fp32.b4@*", "--python", PYTHON, *_ssh_options(sshd),
        "--profile", "tx2", "--results", "board/results.json", "--out", "remote-judged",
    ])  # fmt: skip
    remote = capsys.readouterr()
    for n, step in enumerate(("connect", "bundle", "copy", "run", "fetch"), 1):
        assert f"edgecheck remote: [{n}/5] {step}:" in remote.err, remote.err
    assert "board: [2/3] fqa.fp32.b4@2c: ok" in remote.err  # the agent's lines, as they came
    folder = _board_folder(remote.err)
    assert f"removed 127.0.0.1:{folder}" in remote.err and not folder.exists()
    results = json.loads((tmp_path / "board" / "results.json").read_text())
    assert [w["name"] for w in results["workloads"]] == [
        "fqa.fp32.b4@1c", "fqa.fp32.b4@2c", "fqa.fp32.b4@4c",
    ]  # fmt: skip
    assert [w["status"] for w in results["workloads"]] == ["ok", "ok", "not run"]

    local = main(["judge", "board/results.json", "--profile", "tx2", "--out", "local-judged"])
    judged = capsys.readouterr()
    assert code == local
    # the same table, the same counts; only the report folder's name differs
    assert remote.out.replace("remote-judged", "local-judged") == judged.out
    assert "parallel.fqa.cores[b4@2c]" in remote.out
    remote_doc = json.loads((tmp_path / "remote-judged" / "results-judged.json").read_text())
    local_doc = json.loads((tmp_path / "local-judged" / "results-judged.json").read_text())
    assert remote_doc["verdicts"] == local_doc["verdicts"]
    md = (tmp_path / "remote-judged" / "report.md").read_text()
    assert md == (tmp_path / "local-judged" / "report.md").read_text()
    verdicts = {v["claim"] + f"[{v['key']}]": v["verdict"] for v in remote_doc["verdicts"]}
    assert verdicts["parallel.fqa.cores[b4@2c]"] in ("pass", "FAIL")  # measured and judged
    assert verdicts["parallel.fqa.cores[b4@4c]"] == "not run here"


def test_keep_and_remote_dir_leave_the_folder_with_bundle_and_results(
    sshd, small_bundle, tmp_path, capsys
):
    board = tmp_path / "on-board" / "edgecheck"
    code = main([
        "remote", "127.0.0.1", "-F", str(sshd.config), "--bundle", str(small_bundle),
        "--remote-dir", str(board), "--keep", "--python", PYTHON,
        "--results", str(tmp_path / "r.json"),
    ])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    assert f"kept 127.0.0.1:{board} (--keep)" in err
    assert {"manifest.json", "board_agent.pyz", "results.json"} <= {p.name for p in board.iterdir()}
    assert (tmp_path / "r.json").read_bytes() == (board / "results.json").read_bytes()
    # an existing folder is used, and left in place even without --keep
    assert main([
        "remote", "127.0.0.1", "-F", str(sshd.config), "--bundle", str(small_bundle),
        "--remote-dir", str(board), "--python", PYTHON, "--results", str(tmp_path / "r2.json"),
    ]) == 0  # fmt: skip
    assert f"left 127.0.0.1:{board} in place" in capsys.readouterr().err and board.is_dir()


def test_a_closed_port_is_one_line_naming_ssh_255_and_exit_2(sshd, small_bundle, tmp_path, capsys):

    options = [o if not o.startswith("Port=") else f"Port={_free_port()}" for o in sshd.options]
    args = ["remote", "127.0.0.1", "--bundle", str(small_bundle), "--python", PYTHON]
    code = main([*args, *[w for o in options for w in ("--ssh-option", o)]])
    line = _error_line(capsys.readouterr().err)
    assert code == 2
    assert "ssh exit status 255" in line and "Connection refused" in line, line
    assert "ssh -o Port=" in line and "127.0.0.1 true" in line, line  # the command to try


def test_a_key_the_board_does_not_take_is_one_line(sshd, small_bundle, tmp_path, capsys):

    _keygen(tmp_path / "stranger")
    options = [
        o if not o.startswith("IdentityFile=") else f"IdentityFile={tmp_path / 'stranger'}"
        for o in sshd.options
    ]
    args = ["remote", "127.0.0.1", "--bundle", str(small_bundle), "--python", PYTHON]
    code = main([*args, *[w for o in options for w in ("--ssh-option", o)]])
    line = _error_line(capsys.readouterr().err)
    assert code == 2
    assert "ssh exit status 255" in line and "Permission denied" in line, line
    assert "ssh-copy-id" in line


def test_a_board_without_that_python_fails_before_bundling(sshd, tmp_path, capsys):
    code = main([
        "remote", "127.0.0.1", "-F", str(sshd.config), "--target", "cpu",
        "--python", str(tmp_path / "no-such-python3"),
    ])  # fmt: skip
    err = capsys.readouterr().err
    line = _error_line(err)
    assert code == 2
    assert "cannot run the agent" in line and "no-such-python3" in line, line
    assert "not found" in line or "No such file" in line, line
    assert "[2/5]" not in err  # nothing was bundled


def test_an_agent_that_fails_is_one_line_with_its_status_and_last_line(
    sshd, small_bundle, tmp_path, capsys
):
    """A real failure of the real agent: the model was changed after the manifest was
    written, so the board's sha256 check refuses the bundle (exit 2)."""
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(small_bundle, broken)
    with (broken / "models" / "fqa_fp32.onnx").open("ab") as f:
        f.write(b"\0")
    code = main([
        "remote", "127.0.0.1", "-F", str(sshd.config), "--bundle", str(broken),
        "--python", PYTHON,
    ])  # fmt: skip
    err = capsys.readouterr().err
    line = _error_line(err)
    assert code == 2
    assert "board_agent.pyz failed on 127.0.0.1:" in line and "exit status 2" in line, line
    assert "bundle error" in line and "models/fqa_fp32.onnx" in line, line
    assert not _board_folder(err).exists()  # cleaned up after a failure too


def test_an_agent_that_writes_no_results_is_one_line(sshd, small_bundle, tmp_path, capsys):
    """A board 'python' that answers the version check and then does nothing."""
    fake = tmp_path / "lazy-python"
    fake.write_text(f'#!/bin/sh\ncase "$1" in -c) exec {PYTHON} "$@";; esac\nexit 0\n')
    fake.chmod(0o755)
    code = main([
        "remote", "127.0.0.1", "-F", str(sshd.config), "--bundle", str(small_bundle),
        "--python", str(fake),
    ])  # fmt: skip
    line = _error_line(capsys.readouterr().err)
    assert code == 2
    assert "results missing" in line and "results.json" in line, line


def test_an_agent_exit_1_is_judged_with_a_warning(sshd, tmp_path, capsys):
    """A workload error (a model onnxruntime cannot load, listed with its true sha256): the
    agent writes results.json and exits 1; the results are fetched and judged."""
    import hashlib

    bundle = tmp_path / "bundle"
    write_bundle(bundle, "cpu", models=("fqa",), workloads=["fqa.fp32.b1@1c"], repeats=2,
                 min_time_s=0.0)  # fmt: skip
    model = bundle / "models" / "fqa_fp32.onnx"
    model.write_bytes(b"not an onnx model")
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"]["models/fqa_fp32.onnx"] = hashlib.sha256(model.read_bytes()).hexdigest()
    (bundle / "manifest.json").write_text(json.dumps(manifest))
    code = main([
        "remote", "127.0.0.1", "-F", str(sshd.config), "--bundle", str(bundle),
        "--python", PYTHON, "--results", str(tmp_path / "r.json"),
    ])  # fmt: skip
    captured = capsys.readouterr()
    assert code == 0, captured.err  # no claim rests on this workload alone: nothing failed
    assert "edgecheck remote: warning: board_agent.pyz exited 1" in captured.err
    (workload,) = json.loads((tmp_path / "r.json").read_text())["workloads"]
    assert workload["status"] == "error", workload
    assert "claims: 0 pass, 0 FAIL" in captured.out


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--target", "tx2"], "--bundle copies a bundle as it is"),
        (["--workload", "fqa.*"], "--bundle copies a bundle as it is"),
        ([], "no manifest.json in it"),
    ],
)
def test_bundle_option_conflicts_are_one_line_before_any_connection(
    tmp_path, capsys, extra, needle
):
    (tmp_path / "b").mkdir()
    code = main(["remote", "unreachable.invalid", "--bundle", str(tmp_path / "b"), *extra])
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and needle in _error_line(err), err


def _agents_in(folder: Path) -> list[int]:
    """The board_agent.pyz processes running in `folder` (the board is this machine)."""
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(proc / "cwd")
        except OSError:
            continue  # ended meanwhile, or not ours to read
        if b"board_agent.pyz" in argv and cwd == str(folder):
            found.append(int(proc.name))
    return found


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_ctrl_c_on_the_host_hangs_up_the_agent_on_the_board(sshd, tmp_path):
    """SIGINT to `edgecheck remote`'s process group (Ctrl-C) while the agent measures: ssh
    ends, the board's tty hangs up, and the agent (which handles SIGHUP by restoring the power
    state) ends without results; the command exits 130. --keep, so that nothing but the
    hangup can end the agent."""
    bundle = tmp_path / "long"
    write_bundle(bundle, "cpu", models=("fqa",), workloads=["fqa.fp32.b1@1c"], min_time_s=60)
    command = [
        PYTHON, "-m", "edgecheck.cli", "remote", "127.0.0.1", "-F", str(sshd.config),
        "--bundle", str(bundle), "--python", PYTHON, "--results", str(tmp_path / "r.json"),
        "--remote-dir", str(tmp_path / "board"), "--keep",
    ]  # fmt: skip
    # the same edgecheck as this process (an installed one, or PYTHONPATH's, inherited)
    # Ctrl-C's default: a pytest started in the background by a non-interactive shell (`cmd &`)
    # inherits SIGINT ignored, and Python then never raises KeyboardInterrupt for it.
    proc = subprocess.Popen(
        command, stderr=subprocess.PIPE, text=True, start_new_session=True,
        preexec_fn=_default_sigint,
    )  # fmt: skip
    assert proc.stderr is not None
    lines = []
    try:
        for line in proc.stderr:
            lines.append(line)
            if "board: [1/1] fqa.fp32.b1@1c (onnxruntime) ..." in line:
                break
        err = "".join(lines)
        folder = _board_folder(err)
        assert _agents_in(folder), err  # measuring (for 60 s)
    finally:
        os.killpg(proc.pid, signal.SIGINT)
        rest = proc.stderr.read()
        code = proc.wait(timeout=60)
    assert code == 130, err + rest
    assert "edgecheck remote: interrupted" in rest and f"kept 127.0.0.1:{folder}" in rest
    deadline = time.monotonic() + 10
    while _agents_in(folder) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _agents_in(folder)
    for pid in left:  # this test's own agent, should it have survived: not for 60 s more
        os.kill(pid, signal.SIGKILL)
    assert not left  # the agent ended with the connection (SIGHUP)
    assert folder == tmp_path / "board" and not (folder / "results.json").exists()


# ----------------------------------------------------------------- without a server


@pytest.mark.parametrize("host", ["", "-oProxyCommand=x", "a b"])
def test_a_host_ssh_would_read_as_an_option_is_refused(host):
    with pytest.raises(RemoteError, match="not a host ssh can take"):
        Ssh(host)


def test_ssh_command_lines():
    ssh = Ssh("jetson", option_words(["Port=2222", "ProxyJump=gw"]), Path("cfg"))
    argv = ssh.argv("true", tty=True)
    assert argv[:7] == ["ssh", "-F", "cfg", "-o", "Port=2222", "-o", "ProxyJump=gw"]
    assert "BatchMode=yes" in argv and argv[-3:] == ["-tt", "jetson", "true"]
    # the user's options come first: ssh keeps the first value of each
    assert argv.index("Port=2222") < argv.index("BatchMode=yes")
    assert ssh.check_command() == (
        "ssh -F cfg -o Port=2222 -o ProxyJump=gw -o BatchMode=yes jetson true"
    )
    with pytest.raises(RemoteError, match="Key=Value"):
        option_words(["-p 2222"])


def test_the_target_follows_the_boards_soc():
    def board(soc: str) -> Board:
        return Board(Ssh("b"), "python3", "/tmp/x", True, "3.6.9", soc)

    assert board("nvidia,p3310-1000+p2597-0000 nvidia,tegra186").target == "tx2"
    assert board("nvidia,p3737-0000+p3701-0005 nvidia,tegra234").target == "orin"
    assert board("nvidia,tegra194").target == "cpu"  # Xavier: no profile of its own
    assert board("").target == "cpu"


def test_the_server_fixture_skips_naming_the_package_when_sshd_is_missing(tmp_path, monkeypatch):
    import sshd_server

    monkeypatch.setattr(sshd_server, "SSHD", str(tmp_path / "no-sshd"))
    skipped = pytest.raises(pytest.skip.Exception, match="apt-get install -y openssh-server")
    with skipped, start_sshd(tmp_path / "s"):
        pass


def test_the_server_fixture_skips_with_sshds_own_line_when_it_cannot_start(
    sshd, tmp_path, monkeypatch
):
    import sshd_server

    monkeypatch.setattr(sshd_server, "_free_port", lambda: sshd.port)  # taken by the other one
    skipped = pytest.raises(pytest.skip.Exception, match=r"sshd could not start on 127\.0\.0\.1")
    with skipped, start_sshd(tmp_path / "s"):
        pass

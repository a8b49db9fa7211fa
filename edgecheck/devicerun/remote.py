"""``edgecheck remote HOST``: the bundle -> agent -> judge flow over ssh, in one command.

The transport is the system's OpenSSH client (``ssh``), run as a subprocess, not a Python SSH
library: it reads ``~/.ssh/config`` (host aliases, ``User``, ``Port``, ``ProxyJump``,
``IdentityFile``), uses the ssh agent's keys and checks ``known_hosts`` exactly as the user's
own ``ssh`` does, so a board the user can reach with ``ssh HOST`` is reachable here with no
extra setup, and edgecheck needs no extra dependency (paramiko would need its own handling of
all of that config and of jump hosts). Every call passes ``-o BatchMode=yes``: ssh never
prompts for a password or a host key, it fails at once with exit status 255 and a message on
stderr, which `RemoteError` turns into one line with the command to try (``ssh HOST true``).

One program, one set of options: the bundle travels as a tar stream over ``ssh HOST tar -x``
(Python's `tarfile` writes it; the board needs ``tar``, which every Jetson image has) instead
of ``scp -r``, whose port option differs (``-P``) and which speaks SFTP since OpenSSH 9.0.
The results come back with ``cat``. On the board everything happens in one folder: a fresh
``mktemp -d`` (removed afterwards unless ``keep``) or ``--remote-dir`` (removed afterwards
only if this run created it and ``keep`` is off; with ``keep`` a TensorRT engine cache in
it, ``engines/``, is reused by the next run).

`Board` holds the connection and the folder: `Board.connect` (one ssh call: the board's
Python and its version, which must be 3.6+, and the folder), `Board.copy`, `Board.run_agent`
(with a tty, ``ssh -tt``, so that a dropped connection or Ctrl-C on the host hangs the
board's session up and the agent, which handles SIGHUP, restores the power state),
`Board.fetch`, `Board.clean`. The judging is `edgecheck judge`'s own code
(`edgecheck.cli.devicerun`).
"""

from __future__ import annotations

import shlex
import subprocess
import tarfile
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from edgecheck.devicerun.agent_archive import AGENT_ARCHIVE
from edgecheck.errors import EdgecheckError

DEFAULT_OPTIONS: tuple[str, ...] = (
    "BatchMode=yes",  # never prompt (password, passphrase, host key): fail with 255 instead
    "ConnectTimeout=20",  # an unreachable board fails in 20 s, not after TCP's 2 minutes
    "ServerAliveInterval=15",  # a board that hangs or drops off the network during a long
    "ServerAliveCountMax=4",  # run ends the session after a minute
)
SSH_FAILED = 255
PYTHON_FAILED = 70  # exit statuses of the connect script's own steps
FOLDER_FAILED = 71
MIN_PYTHON = (3, 6)
# zlib too: the agent is a deflated zipapp, which Python's zipimport reads with it.
_VERSION = (
    "import sys; print('%d.%d.%d' % tuple(sys.version_info[:3])); import zlib; "
    f"sys.exit(sys.version_info[:2] < {MIN_PYTHON!r})"
)

Say = Callable[[str], None]


class RemoteError(EdgecheckError):
    """The board could not be reached, the agent failed on it, or its results are missing."""


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.replace("\r", "\n").splitlines() if line.strip()]
    return lines[-1] if lines else "(no output)"


@dataclass(frozen=True)
class Ssh:
    """How to reach the board: ``ssh [-F config] [-o option]... HOST``.

    Attributes:
        host: what ``ssh`` takes: ``board``, ``user@10.0.0.7``, a ``~/.ssh/config`` alias.
        options: ``-o`` values, e.g. ``Port=2222``, ``IdentityFile=~/.ssh/jetson``; they come
            before edgecheck's `DEFAULT_OPTIONS`, so they win (ssh keeps the first value).
        config: an ssh config file to use instead of ``~/.ssh/config`` (``ssh -F``).
        program: the ssh client.
    """

    host: str
    options: tuple[str, ...] = ()
    config: Path | None = None
    program: str = "ssh"

    def __post_init__(self) -> None:
        if not self.host or self.host.startswith("-") or any(c.isspace() for c in self.host):
            raise RemoteError(
                f"host {self.host!r} is not a host ssh can take; give a name, user@address "
                "or an alias of ~/.ssh/config."
            )

    def _base(self, defaults: bool = True) -> list[str]:
        argv = [self.program]
        if self.config is not None:
            argv += ["-F", str(self.config)]
        for option in (*self.options, *(DEFAULT_OPTIONS if defaults else ())):
            argv += ["-o", option]
        return argv

    def argv(self, command: str, *, tty: bool = False) -> list[str]:
        """The ssh command line that runs `command` (a POSIX shell line) on the board."""
        return [*self._base(), *(["-tt"] if tty else []), self.host, command]

    def check_command(self) -> str:
        """What to run by hand to see the connection work: ``ssh [options] HOST true``."""
        return shlex.join([*self._base(defaults=False), "-o", "BatchMode=yes", self.host, "true"])

    def failed(self, step: str, stderr: str) -> RemoteError:
        """The one-line error of an ssh call that exited 255 (no connection, no login)."""
        return RemoteError(
            f"ssh to {self.host} failed during {step} (ssh exit status {SSH_FAILED}: "
            f"{_last_line(stderr)}); check that `{self.check_command()}` works: the host is "
            "reachable and takes your key without a password prompt (ssh-copy-id, ssh-add)."
        )

    def run(
        self, command: str, *, step: str, stdin: IO[bytes] | None = None
    ) -> subprocess.CompletedProcess[str]:
        """Run `command`; a 255 (no connection, no login) raises `RemoteError`."""
        try:
            done = subprocess.run(
                self.argv(command), stdin=stdin if stdin is not None else subprocess.DEVNULL,
                capture_output=True, text=True, errors="replace",
            )  # fmt: skip
        except FileNotFoundError:
            raise _no_ssh(self.program) from None
        if done.returncode == SSH_FAILED:
            raise self.failed(step, done.stderr)
        return done


def _no_ssh(program: str) -> RemoteError:
    return RemoteError(
        f"no {program!r} program on PATH; install the OpenSSH client (apt-get install "
        "openssh-client)."
    )


def _remote_path(path: str) -> str:
    """`path` quoted for the board's shell, with a leading ``~/`` kept as the home folder."""
    if path == "~":
        return '"$HOME"'
    if path.startswith("~/"):
        return '"$HOME"/' + shlex.quote(path[2:])
    return shlex.quote(path)


def _python_argv(python: str) -> str:
    words = shlex.split(python)
    if not words:
        raise RemoteError("--python is empty; give the board's Python 3.6+, e.g. python3.")
    return shlex.join(words)


@dataclass
class Board:
    """A folder on the board, reached through `ssh` (see the module docstring).

    Attributes:
        ssh: how to reach it.
        python: the board's Python as a shell command line (``python3``, ``sudo -n python3``).
        folder: the folder's absolute path on the board.
        created: whether this run created the folder (only then `clean` removes it).
        python_version: what the board's Python reported.
        soc: the board's ``/proc/device-tree/compatible`` ("" without a device tree).
    """

    ssh: Ssh
    python: str
    folder: str
    created: bool
    python_version: str
    soc: str = ""
    say: Say | None = field(default=None, repr=False)

    def _say(self, line: str) -> None:
        if self.say is not None:
            self.say(line)

    @classmethod
    def connect(
        cls, ssh: Ssh, *, python: str = "python3", remote_dir: str | None = None,
        say: Say | None = None,
    ) -> Board:  # fmt: skip
        """Check the board's Python (3.6+) and make (or find) the folder, in one ssh call.

        Raises:
            RemoteError: no connection or login (255), no such Python or an older one, a
                folder that cannot be made or used.
        """
        py = _python_argv(python)
        if remote_dir is None:
            folder = (
                'd=$(mktemp -d "${TMPDIR:-/tmp}/edgecheck-XXXXXX") && echo "created $d" '
                f"|| exit {FOLDER_FAILED}"
            )
        else:
            d = _remote_path(remote_dir)
            folder = (
                f'{{ if [ -e {d} ]; then cd {d} && echo "existed $(pwd)"; '
                f'else mkdir -p {d} && cd {d} && echo "created $(pwd)"; fi; }} '
                f"|| exit {FOLDER_FAILED}"
            )
        soc = "echo \"soc $(tr '\\0' ' ' < /proc/device-tree/compatible 2>/dev/null)\""
        script = f"{py} -c {shlex.quote(_VERSION)} || exit {PYTHON_FAILED}; {soc}; {folder}"
        done = ssh.run(script, step="connect")
        lines = done.stdout.strip().splitlines()
        if done.returncode == PYTHON_FAILED:
            version = lines[-1] if lines else ""
            why = (
                f"it is Python {version}; {AGENT_ARCHIVE} needs "
                f"{'.'.join(map(str, MIN_PYTHON))}+ with zlib"
                if version[:1].isdigit()
                else f"it failed: {_last_line(done.stderr)}"
            )
            raise RemoteError(
                f"the board's python `{py}` on {ssh.host} cannot run the agent ({why}); pass "
                "--python with the board's Python 3.6+ (e.g. --python python3)."
            )
        if done.returncode == FOLDER_FAILED:
            raise RemoteError(
                f"cannot make or use the folder {remote_dir or 'mktemp -d'} on {ssh.host} "
                f"({_last_line(done.stderr)}); choose another with --remote-dir."
            )
        if (
            done.returncode != 0
            or len(lines) < 3
            or not lines[-2].startswith("soc")
            or lines[-1].split(" ", 1)[0] not in ("created", "existed")
        ):
            raise RemoteError(
                f"unexpected answer from {ssh.host} to the connect step (exit status "
                f"{done.returncode}: {_last_line(done.stderr + done.stdout)}); check that "
                f"`{ssh.check_command()}` prints nothing and the login shell is POSIX sh."
            )
        state, path = lines[-1].split(" ", 1)
        soc = lines[-2][len("soc") :].strip()
        return cls(ssh, py, path, state == "created", lines[-3], soc, say)

    @property
    def target(self) -> str:
        """The bundle target the SoC suggests: tx2 (tegra186), orin (tegra234), else cpu (a
        desktop GPU is ``--target gpu``; other Jetsons have no profile of their own)."""
        from edgecheck.device import TEGRA_SOCS  # the SoCs edgecheck's own detection knows

        for compatible in self.soc.split():
            profile = TEGRA_SOCS.get(compatible, ("", None))[1]
            if profile is not None:
                return profile
        return "cpu"

    @property
    def where(self) -> str:
        return f"{self.ssh.host}:{self.folder}"

    def copy(self, bundle: Path) -> int:
        """Copy the files under `bundle` into the folder (a tar stream); returns the bytes sent.

        Raises:
            RemoteError: the connection failed, or ``tar`` on the board did.
        """
        files = sorted(p for p in Path(bundle).rglob("*") if p.is_file())
        size = sum(p.stat().st_size for p in files)
        command = f"tar -xf - -C {shlex.quote(self.folder)}"
        with tempfile.TemporaryFile() as err:
            try:
                proc = subprocess.Popen(
                    self.ssh.argv(command), stdin=subprocess.PIPE, stdout=err, stderr=err
                )
            except FileNotFoundError:
                raise _no_ssh(self.ssh.program) from None
            assert proc.stdin is not None
            try:
                with tarfile.open(
                    fileobj=proc.stdin, mode="w|", format=tarfile.USTAR_FORMAT
                ) as tar:
                    for path in files:
                        info = tar.gettarinfo(str(path), path.relative_to(bundle).as_posix())
                        info.uid = info.gid = 0
                        info.uname = info.gname = ""
                        with path.open("rb") as f:
                            tar.addfile(info, f)
                proc.stdin.close()
            except BrokenPipeError:
                pass  # ssh or tar ended early: its exit status and stderr say why
            finally:
                code = proc.wait()
            err.seek(0)
            stderr = err.read().decode("utf-8", "replace")
        if code == SSH_FAILED:
            raise self.ssh.failed("copy", stderr)
        if code != 0:
            raise RemoteError(
                f"copying the bundle to {self.where} failed (tar exit status {code}: "
                f"{_last_line(stderr)}); check the board's free space (df -h) and that it has tar."
            )
        return size

    def run_agent(self, *, no_power: bool = False) -> int:
        """Run ``board_agent.pyz`` on the copied bundle, its lines passed to `say` as they come.

        Returns:
            The agent's exit status: 0, or 1 (a workload error or the power state failed; its
            results.json is written and is judged).

        Raises:
            RemoteError: the connection dropped (255) or the agent ended with another status
                (2: a broken bundle, 130: interrupted, 127: no such program...), naming the
                status and its last line.
        """
        argv = [
            AGENT_ARCHIVE,
            ".",
            "--out",
            "results.json",
            *(["--no-power"] if no_power else []),
        ]
        command = f"cd {shlex.quote(self.folder)} && {self.python} {shlex.join(argv)}"
        try:
            proc = subprocess.Popen(
                self.ssh.argv(command, tty=True), stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
            )  # fmt: skip
        except FileNotFoundError:
            raise _no_ssh(self.ssh.program) from None
        assert proc.stdout is not None
        tail = ""
        with proc:
            for raw in proc.stdout:
                line = raw.replace("\r", "").rstrip("\n")
                if line.strip():
                    tail = line
                    self._say(f"  board: {line}")
        code = proc.returncode
        if code == SSH_FAILED:
            raise self.ssh.failed("the agent's run", tail)
        if code not in (0, 1):
            raise RemoteError(
                f"{AGENT_ARCHIVE} failed on {self.where} (exit status {code}: {tail.strip()}); "
                f"run it there by hand: cd {self.folder} && {self.python} {shlex.join(argv)}"
            )
        return code

    def fetch(self, results: Path) -> Path:
        """Copy the board's results.json to `results` (written whole or not at all).

        Raises:
            RemoteError: no results.json in the folder, or the connection failed.
        """
        from edgecheck._atomic import write_atomic

        remote = f"{self.folder}/results.json"
        done = self.ssh.run(f"cat {shlex.quote(remote)}", step="fetch")
        if done.returncode != 0:
            raise RemoteError(
                f"results missing: {self.ssh.host}:{remote} cannot be read "
                f"({_last_line(done.stderr)}); the agent wrote none, see its lines above."
            )
        return write_atomic(results, done.stdout)

    def clean(self, *, keep: bool = False) -> None:
        """Remove the folder if this run created it, unless `keep`; say what happened.

        A failure to remove is said, never raised: the verdicts matter more than the board's
        temporary space.
        """
        if keep:
            self._say(f"  kept {self.where} (--keep)")
            return
        if not self.created:
            self._say(f"  left {self.where} in place (it existed before this run)")
            return
        try:
            done = self.ssh.run(f"rm -rf {shlex.quote(self.folder)}", step="clean-up")
        except RemoteError as exc:
            self._say(f"  warning: {exc}")
            return
        if done.returncode != 0:
            self._say(f"  warning: could not remove {self.where}: {_last_line(done.stderr)}")
        else:
            self._say(f"  removed {self.where}")


def option_words(values: Sequence[str]) -> tuple[str, ...]:
    """``--ssh-option`` values as ``-o`` values; ``Key Value`` or ``Key=Value``."""
    out = []
    for value in values:
        text = value.strip()
        if not text or text.startswith("-"):
            raise RemoteError(
                f"--ssh-option {value!r}: give one ssh_config option as Key=Value, e.g. "
                "--ssh-option Port=2222 (use -F FILE for a whole config file)."
            )
        out.append(text)
    return tuple(out)

"""A real OpenSSH server on 127.0.0.1 for the tests of `edgecheck remote`.

`start_sshd` runs Debian's ``/usr/sbin/sshd -D`` as the current user on a free port, with a
temporary host key, a fresh ed25519 client key in a temporary authorized_keys file and its own
sshd_config (StrictModes no, UsePAM no, keys only, PidFile in the folder). The client side is
an ssh config file (`SshServer.config`, for ``ssh -F``) or the same settings as ``-o`` options
(`SshServer.options`). Anything missing (sshd, ssh, ssh-keygen) or an sshd that does not
start is a `pytest.skip` naming what is missing and how to install it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

SSHD = "/usr/sbin/sshd"
INSTALL_SERVER = "apt-get install -y openssh-server"
INSTALL_CLIENT = "apt-get install -y openssh-client"
START_TIMEOUT_S = 10.0


@dataclass(frozen=True)
class SshServer:
    port: int
    key: Path  # the client's private key
    config: Path  # an ssh_config for `ssh -F`
    log: Path

    @property
    def options(self) -> list[str]:
        """The client settings as ``--ssh-option`` values (no config file needed)."""
        return [f"{k}={v}" for k, v in self._settings().items()]

    def _settings(self) -> dict[str, str]:
        return {
            "Port": str(self.port),
            "IdentityFile": str(self.key),
            "IdentitiesOnly": "yes",
            "StrictHostKeyChecking": "no",
            "UserKnownHostsFile": "/dev/null",
            "LogLevel": "ERROR",  # no "Permanently added ... to the list of known hosts"
        }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "edgecheck-test", "-f", str(path)],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip


def _check_login(server: SshServer) -> None:
    """Skip where this machine's sshd refuses the login itself (e.g. a locked account, which
    sshd without PAM refuses even with a key): nothing `edgecheck remote` could change."""
    done = subprocess.run(
        ["ssh", "-F", str(server.config), "-o", "BatchMode=yes", "127.0.0.1", "true"],
        capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    if done.returncode != 0:
        log = server.log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        pytest.skip(
            f"the test sshd refuses the login of this user ({done.stderr.strip()}; sshd: "
            f"{log[0]}); a locked account needs a password field of '*' (usermod -p '*' USER)"
        )


@contextmanager
def start_sshd(folder: Path) -> Iterator[SshServer]:
    """sshd on 127.0.0.1 for as long as the block runs; skips the test where it cannot run."""
    if not os.access(SSHD, os.X_OK):
        pytest.skip(f"no {SSHD}: install the OpenSSH server ({INSTALL_SERVER}) to run this test")
    for program in ("ssh", "ssh-keygen"):
        if shutil.which(program) is None:
            pytest.skip(f"no {program} on PATH: install the OpenSSH client ({INSTALL_CLIENT})")
    if os.geteuid() == 0 and not os.path.isdir("/run/sshd"):
        # sshd run by root needs its privilege separation folder (systemd's unit makes it).
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    host_key, key = folder / "host_ed25519", folder / "client_ed25519"
    _keygen(host_key)
    _keygen(key)
    authorized = folder / "authorized_keys"
    authorized.write_text(key.with_suffix(".pub").read_text())
    authorized.chmod(0o600)
    port = _free_port()
    sshd_config = folder / "sshd_config"
    sshd_config.write_text(
        "\n".join([
            f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}",
            f"PidFile {folder / 'sshd.pid'}", f"AuthorizedKeysFile {authorized}",
            "StrictModes no", "UsePAM no", "PubkeyAuthentication yes",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password", "",
        ])
    )  # fmt: skip
    log = folder / "sshd.log"
    server = SshServer(port, key, folder / "ssh_config", log)
    server.config.write_text(
        "Host *\n" + "".join(f"  {k} {v}\n" for k, v in server._settings().items())
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [SSHD, "-D", "-e", "-f", str(sshd_config)], stdout=out, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        # sshd's own word (-e: its log on stderr), not a connection: another server could
        # answer on the port
        while f"Server listening on 127.0.0.1 port {port}" not in log.read_text(errors="replace"):
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
                pytest.skip(f"sshd could not start on 127.0.0.1:{port}: {tail[0]} (see {log})")
            time.sleep(0.05)
        _check_login(server)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

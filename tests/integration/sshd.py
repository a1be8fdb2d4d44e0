# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A real sshd on 127.0.0.1 with an unprivileged login user who may sudo, for the tests.

Needs root and Debian's openssh-server and sudo (scripts/test.sh installs them).
"""

from __future__ import annotations

import fcntl
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SSH_USER = "telenor-it"
SSHD = "/usr/sbin/sshd"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def unavailable_reason() -> str | None:
    """Why an sshd cannot be run here, or None."""
    if os.geteuid() != 0:
        return "needs root to run sshd and add a login user"
    for program in (SSHD, "/usr/bin/sudo", "/usr/bin/ssh-keygen"):
        if not os.path.exists(program):
            return f"{program} is missing (apt-get install openssh-server sudo)"
    return None


def _ensure_user() -> None:
    # The suites of two ansible-core versions run at once (scripts/test.sh), and
    # useradd/usermod refuse to run while another holds /etc/passwd: one at a time.
    lock = os.open(os.path.join(tempfile.gettempdir(), "telenor-it-user.lock"),
                   os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            pwd.getpwnam(SSH_USER)
        except KeyError:
            subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", SSH_USER], check=True)
        # No password, but not locked: sshd refuses even key logins to a locked account.
        subprocess.run(["usermod", "-p", "*", SSH_USER], check=True)
        sudoers = Path("/etc/sudoers.d") / SSH_USER
        sudoers.write_text(f"{SSH_USER} ALL=(ALL) NOPASSWD: ALL\n")
        sudoers.chmod(0o440)
    finally:
        os.close(lock)


@dataclass
class SshHost:
    port: int
    key: Path
    process: subprocess.Popen
    log: Path
    keys_dir: Path

    def inventory_line(self, name: str) -> str:
        return (
            f"{name} ansible_connection=ssh ansible_host=127.0.0.1 ansible_port={self.port}"
            f" ansible_user={SSH_USER} ansible_ssh_private_key_file={self.key}"
            " ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'"
            " ansible_become=true ansible_python_interpreter=/usr/bin/python3"
        )

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.keys_dir, ignore_errors=True)


def start_sshd(workdir: Path) -> SshHost:
    """Start sshd on a free loopback port; the caller stops it."""
    _ensure_user()
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o700)
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # privilege separation directory
    host_key = workdir / "ssh_host_ed25519_key"
    client_key = workdir / "id_ed25519"
    for key in (host_key, client_key):
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
    # sshd reads it as the user, so not under the 0700 workdir; one file per sshd, so that
    # concurrent test runs do not replace each other's key. It holds a public key only.
    keys_dir = Path(tempfile.mkdtemp(prefix="telenor-it-sshd-", dir="/var/tmp"))
    keys_dir.chmod(0o755)
    authorized = keys_dir / "authorized_keys"
    shutil.copy(client_key.with_suffix(".pub"), authorized)
    authorized.chmod(0o644)
    port = _free_port()
    config = workdir / "sshd_config"
    config.write_text(
        "\n".join([
            f"Port {port}",
            "ListenAddress 127.0.0.1",
            f"HostKey {host_key}",
            f"PidFile {workdir / 'sshd.pid'}",
            f"AuthorizedKeysFile {authorized}",
            f"AllowUsers {SSH_USER}",
            "PermitRootLogin no",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PubkeyAuthentication yes",
            "UsePAM no",
            "StrictModes no",
            "Subsystem sftp internal-sftp",
            "LogLevel INFO",
        ]) + "\n"
    )
    log = workdir / "sshd.log"
    process = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stdout=log.open("w"), stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"sshd exited: {log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                break
        except OSError:
            time.sleep(0.1)
    else:
        process.kill()
        raise RuntimeError(f"sshd did not listen on 127.0.0.1:{port}: {log.read_text()}")
    return SshHost(port=port, key=client_key, process=process, log=log, keys_dir=keys_dir)

# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A real redis-server on 127.0.0.1 (a free port and a unix socket) with a password, for the tests and the benchmark.

With ``tls=True`` it also listens for TLS (``tls-port``) with a server
certificate for 127.0.0.1 signed by a CA made for the test, and a second CA
that signed nothing, to stand for a wrong ``cache_ca_path``.

Needs Debian's redis-server (scripts/test.sh installs it; Debian builds it with
TLS), the redis Python library, and cryptography for the certificates.
"""

from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

from tests.emulator.telenor_emulator import write_tls_files

import redis

# Distinctive, so that leak checks cannot match by accident.
REDIS_PASSWORD = "it-Redis-pw-4e1d-never-print-me"
START_TIMEOUT = 30.0


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class RedisServer:
    """One redis-server process, which a test may kill and the fixture starts again."""

    def __init__(self, workdir: Path, *, tls: bool = False) -> None:
        self.workdir = workdir
        self.socket_path = workdir / "redis.sock"
        self.port = 0
        self.tls = tls
        self.tls_port = 0
        self.tls_files = None
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://:{REDIS_PASSWORD}@127.0.0.1:{self.port}/0"

    @property
    def ca_path(self) -> Path:
        return self.tls_files.ca

    @property
    def wrong_ca_path(self) -> Path:
        """A CA of its own, which did not sign this server's certificate."""
        return self.workdir / "wrong-ca" / "ca.pem"

    @property
    def tls_url(self) -> str:
        return f"rediss://:{REDIS_PASSWORD}@127.0.0.1:{self.tls_port}/0"

    @property
    def unix_url(self) -> str:
        return f"unix://:{REDIS_PASSWORD}@{self.socket_path}?db=0"

    def client(self):
        return redis.Redis(host="127.0.0.1", port=self.port, password=REDIS_PASSWORD, socket_timeout=5)

    def _tls_config(self) -> str:
        if not self.tls:
            return ""
        if self.tls_files is None:
            # The emulator's throw-away CA and certificate for 127.0.0.1, made anew for this server.
            self.tls_files = write_tls_files(self.workdir / "tls")
            write_tls_files(self.wrong_ca_path.parent)
        self.tls_port = _free_port()
        # tls-auth-clients no: the client proves itself with the password, as cache_url does.
        return (
            f"tls-port {self.tls_port}\ntls-cert-file {self.tls_files.cert}\n"
            f"tls-key-file {self.tls_files.key}\ntls-ca-cert-file {self.tls_files.ca}\n"
            "tls-auth-clients no\n"
        )

    def start(self) -> RedisServer:
        self.port = _free_port()
        config = self.workdir / "redis.conf"
        # The password in a 0600 file, not on the command line where ps shows it.
        config.touch(mode=0o600)
        config.write_text(
            f"bind 127.0.0.1\nport {self.port}\nrequirepass {REDIS_PASSWORD}\n"
            f"unixsocket {self.socket_path}\nunixsocketperm 700\n"
            f"dir {self.workdir}\nsave \"\"\nappendonly no\ndaemonize no\nprotected-mode yes\n"
            f"logfile {self.workdir / 'redis.log'}\n" + self._tls_config()
        )
        self.process = subprocess.Popen([shutil.which("redis-server") or "redis-server", str(config)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            try:
                if self.client().ping():
                    return self
            except redis.exceptions.ConnectionError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    log = (self.workdir / "redis.log").read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"redis-server did not start:\n{log}") from None
                time.sleep(0.05)

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL: Redis dies as a crashed or unplugged server would."""
        if self.running():
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.running():
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill()

# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Faults on the controller, through the real ansible-playbook: a proxy in the
environment, a server that trickles its answer, a cache on a full disk, a HOME that
cannot hold the cache."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.integration.conftest import CLIENT_SECRET, core_independent
from tests.unit.plugins.module_utils.hostile_server import HostileServer, http_answer

HERE = Path(__file__).parent
TOKEN = HERE / "token.yml"


def assert_clean(run) -> None:
    assert "Traceback" not in run.output, run.output[-3000:]
    assert CLIENT_SECRET not in run.output


@core_independent
def test_a_loopback_api_is_never_reached_through_the_proxy(ansible, emulator):
    # The proxy stand-in answers nothing useful; it only counts connections.
    with HostileServer(http_answer("502 Bad Gateway", b"proxy")) as proxy:
        run = ansible.run(TOKEN, inventory=ansible.inventory(3),
                          env={"HTTP_PROXY": proxy.url, "http_proxy": proxy.url, "ALL_PROXY": proxy.url})

    assert run.rc == 0, run.output[-3000:]
    assert_clean(run)
    assert proxy.connections == 0  # the Basic header never went to the proxy
    assert emulator.stats()["token_requests"] == 1


@core_independent
def test_a_trickling_server_times_out_per_attempt(ansible):
    # One byte every 0.5 s: without an overall deadline an attempt lasted as long as the answer.
    answer = http_answer("200 OK", b'{"access_token": "AT-trickled-Zz9", "expires_in": 3600}')
    with HostileServer(answer, pause=0.5) as server:
        run = ansible.run(TOKEN, inventory=ansible.inventory(2),
                          env={"TELENOR_API_URL": server.url, "TELENOR_TIMEOUT": "1", "TELENOR_RETRIES": "1"})

    assert run.rc != 0
    assert_clean(run)
    assert "timed out: no complete answer within 1 s" in run.output, run.output[-3000:]
    assert "gave up after 2 attempts" in run.output
    assert "dropped" not in run.output
    assert "AT-trickled-Zz9" not in run.output
    # The first host's two attempts; the second host took the lock in time and got their error.
    assert server.connections == 2
    assert "the same request failed" in run.output
    assert not any(server.completed)


@contextlib.contextmanager
def full_filesystem(path: Path):
    """A tiny tmpfs at ``path``, filled up; skips where mounting is not allowed."""
    path.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(path)],
                             capture_output=True, check=False)
    if mounted.returncode != 0:
        pytest.skip("needs permission to mount a tmpfs (root)")
    try:
        (path / "cache").mkdir(mode=0o700)
        with open(path / "filler", "wb", buffering=0) as handle, contextlib.suppress(OSError):
            while True:
                handle.write(b"\0" * 4096)
        yield path / "cache"
    finally:
        subprocess.run(["umount", str(path)], check=False)


@core_independent
def test_a_full_cache_disk_costs_no_token_request(ansible, emulator, tmp_path):
    # Issue 9: on a full disk, 20 hosts made 20 token requests and left 20 live tokens.
    with full_filesystem(tmp_path / "full") as cache_dir:
        run = ansible.run(TOKEN, inventory=ansible.inventory(20), forks=5,
                          env={"TELENOR_TOKEN_CACHE_DIR": str(cache_dir)})

    assert run.rc != 0
    assert_clean(run)
    assert str(cache_dir) in run.output
    assert os.strerror(errno.ENOSPC) in run.output, run.output[-3000:]
    assert emulator.stats()["token_requests"] == 0


@pytest.fixture
def system_temp():
    """A sticky, world-writable TMPDIR with a short path, as /tmp is. Under pytest's
    tmp_path it would be too long: ansible-core 2.21 binds a Unix socket in TMPDIR,
    and a path longer than AF_UNIX allows (108 bytes) keeps ansible-playbook from
    starting at all."""
    path = Path(tempfile.mkdtemp(prefix="tt-", dir="/tmp"))
    path.chmod(0o1777)
    yield path
    shutil.rmtree(path)


def test_a_home_that_cannot_hold_the_cache_falls_back_with_one_warning(
    ansible, emulator, tmp_path, system_temp
):
    home = tmp_path / "home-is-a-file"
    home.write_text("")
    env = {"HOME": str(home), "TMPDIR": str(system_temp)}
    ansible.env.pop("TELENOR_TOKEN_CACHE_DIR")

    first = ansible.run(TOKEN, inventory=ansible.inventory(5), env=env)
    second = ansible.run(TOKEN, inventory=ansible.inventory(5), env=env)

    assert first.rc == 0, first.output[-3000:]
    assert second.rc == 0, second.output[-3000:]
    fallback = system_temp / f"telenor_oauth-{os.geteuid()}"
    assert first.output.count("cannot be used") == 1, first.output
    assert str(fallback) in first.output
    assert "cannot be used" not in second.output  # the token is found there: no new warning
    assert emulator.stats()["token_requests"] == 1
    assert oct(fallback.stat().st_mode & 0o777) == oct(0o700)

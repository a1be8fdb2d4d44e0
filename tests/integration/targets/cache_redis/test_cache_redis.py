# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Redis token cache (cache_url), through the real ansible-playbook, a real redis-server and the emulator."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration.conftest import CLIENT_SECRET, Ansible, core_independent, scale

from tests.integration.redis_server import REDIS_PASSWORD

HERE = Path(__file__).parent
FLEET = HERE / "fleet.yml"
DIGEST = HERE / "digest.yml"
KILL_MID_RUN = HERE / "kill_mid_run.yml"
MODULE = HERE / "module.yml"
REVOKE = HERE / "revoke.yml"
ROLE = HERE / "role.yml"
WAIT_LIMIT = 120.0  # seconds a test waits for a state it polls for before it gives up


def controller(collections_path, tmp_path: Path, emulator, name: str, cache_url: str) -> Ansible:
    """One controller: its own HOME, cache directory and Ansible home; the shared Redis."""
    workdir = tmp_path / name
    (workdir / "home").mkdir(parents=True)
    ansible = Ansible(collections_path, workdir, emulator)
    ansible.env.update({"HOME": str(workdir / "home"), "TELENOR_TOKEN_CACHE_URL": cache_url})
    return ansible


@pytest.fixture
def make_controller(collections_path, tmp_path, emulator, redis_server):
    return lambda name="controller", url=None: controller(collections_path, tmp_path, emulator, name,
                                                          url or redis_server.url)


def redis_contents(redis_server) -> list[bytes]:
    client = redis_server.client()
    contents = []
    for key in client.scan_iter("*"):
        contents += [key, client.dump(key) or b""]
        if client.type(key) == b"string":
            contents.append(client.get(key) or b"")
    return contents


def wait_until(condition, what: str) -> None:
    deadline = time.monotonic() + WAIT_LIMIT
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up waiting for {what}")
        time.sleep(0.05)


def kill_process_tree(pid: int) -> None:
    """SIGKILL a process and all its descendants.

    Not killpg: ansible-core's workers call setsid(), so they are not in
    ansible-playbook's process group and would live on (and release the lock).
    The parent is stopped first, so that it forks no worker while the tree is read.
    """
    os.kill(pid, signal.SIGSTOP)
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:  # the process ended meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += children.get(current, [])
    for member in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(member, signal.SIGKILL)


def file_caches_used(*controllers: Ansible) -> list[Path]:
    return [path for ansible in controllers if ansible.cache_dir.exists() for path in ansible.cache_dir.iterdir()]


def test_three_controllers_running_at_once_make_one_token_request(make_controller, emulator, redis_server):
    controllers = [make_controller(f"controller{i}") for i in range(3)]
    hosts = scale(25, forks=8)
    procs = [
        subprocess.Popen(
            ansible.command(DIGEST, inventory=ansible.inventory(hosts), forks=8,
                            extra_vars={"token_out": str(ansible.workdir / "token")}),
            cwd=ansible.workdir, env=ansible.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for ansible in controllers
    ]
    outputs = [proc.communicate(timeout=600)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0, 0, 0], "\n".join(outputs)

    assert emulator.stats()["token_requests"] == 1
    tokens = {(ansible.workdir / "token").read_text() for ansible in controllers}
    assert len(tokens) == 1  # one token everywhere
    token = tokens.pop()
    assert emulator.client.is_token_valid(token)
    got = [digest for output in outputs for digest in re.findall(r"TOKEN_SHA1=([0-9a-f]{40})", output)]
    assert got == [hashlib.sha1(token.encode()).hexdigest()] * (3 * hosts)  # every host of every controller
    assert file_caches_used(*controllers) == []  # Redis, not each controller's file cache
    client = redis_server.client()
    assert len(list(client.scan_iter("telenor_oauth:*:token"))) == 1
    assert list(client.scan_iter("telenor_oauth:*:lock")) == []  # every lock released

    rerun = controllers[0].run(FLEET, inventory=controllers[0].inventory(5))
    assert rerun.rc == 0, rerun.output
    assert emulator.stats()["token_requests"] == 1


@core_independent
def test_a_unix_socket_url_works(make_controller, emulator, redis_server):
    ansible = make_controller(url=redis_server.unix_url)
    run = ansible.run(FLEET, inventory=ansible.inventory(4))
    assert run.rc == 0, run.output
    assert emulator.stats()["token_requests"] == 1
    assert len(list(redis_server.client().scan_iter("telenor_oauth:*:token"))) == 1


def test_a_rediss_url_with_its_ca_shares_one_token_across_runs(make_controller, emulator, redis_tls_server):
    ansible = make_controller(url=redis_tls_server.tls_url)
    tls = {"TELENOR_TOKEN_CACHE_CA_PATH": str(redis_tls_server.ca_path)}
    for _run in ("cold", "warm"):
        run = ansible.run(FLEET, inventory=ansible.inventory(2), env=tls, args=("-vvvv",))
        assert run.rc == 0, run.output
        assert REDIS_PASSWORD not in run.output
    assert emulator.stats()["token_requests"] == 1
    assert emulator.stats()["protected_requests"] == 4
    assert file_caches_used(ansible) == []
    assert len(list(redis_tls_server.client().scan_iter("telenor_oauth:*:token"))) == 1


@core_independent
def test_a_rediss_url_with_the_wrong_ca_fails_closed_and_names_redis(make_controller, emulator, redis_tls_server):
    ansible = make_controller(url=redis_tls_server.tls_url)
    run = ansible.run(FLEET, inventory=ansible.inventory(3), args=("-vvvv",),
                      env={"TELENOR_TOKEN_CACHE_CA_PATH": str(redis_tls_server.wrong_ca_path)})
    assert run.rc != 0
    assert f"The Redis token cache at rediss://:***@127.0.0.1:{redis_tls_server.tls_port}/0" in run.output
    assert "TLS certificate" in run.output and "cache_ca_path" in run.output
    assert REDIS_PASSWORD not in run.output
    assert emulator.stats()["token_requests"] == 0
    assert file_caches_used(ansible) == []


def role_files(base: Path, hosts: int) -> dict[str, tuple[Path, Path]]:
    """Each host's env and JSON service files, as they were before the role ran."""
    files = {}
    for index in range(hosts):
        directory = base / f"host{index:04d}"
        directory.mkdir(parents=True)
        (directory / "app.env").write_text("LOG_LEVEL=debug\n")
        (directory / "app.json").write_text(json.dumps({"auth": {"user": "svc"}}))
        files[f"host{index:04d}"] = (directory / "app.env", directory / "app.json")
    return files


def written_tokens(files: dict[str, tuple[Path, Path]]) -> set[str]:
    tokens = set()
    for env_file, json_file in files.values():
        tokens.add(re.search(r"^TELENOR_ACCESS_TOKEN=(\S+)$", env_file.read_text(), re.M).group(1).strip("'\""))
        tokens.add(json.loads(json_file.read_text())["auth"]["token"])
    return tokens


def test_the_role_with_service_token_cache_url_shares_one_token_between_controllers(
        make_controller, emulator, redis_server, tmp_path):
    files = role_files(tmp_path / "hosts", 2)
    first, second = make_controller("controller1"), make_controller("controller2")
    for ansible in (first, second):
        del ansible.env["TELENOR_TOKEN_CACHE_URL"]  # the role's variable alone points at Redis
    # In a vars file, not on the command line, which -vvvv echoes.
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps({"it_base": str(tmp_path / "hosts"), "it_cache_url": redis_server.url}))
    vars_file.chmod(0o600)
    extra_vars = ("-e", f"@{vars_file}")

    run = first.run(ROLE, inventory=first.inventory(2), args=(*extra_vars, "-vvvv"))
    assert run.rc == 0, run.output
    tokens = written_tokens(files)
    assert len(tokens) == 1
    assert emulator.is_token_valid(tokens.pop())  # the services got a working token
    assert emulator.stats()["token_requests"] == 1

    # A second controller: its own HOME and empty file cache, the same Redis.
    again = second.run(ROLE, inventory=second.inventory(2), args=extra_vars)
    assert again.rc == 0, again.output
    assert emulator.stats()["token_requests"] == 1
    assert len(written_tokens(files)) == 1
    assert file_caches_used(first, second) == []
    assert REDIS_PASSWORD not in run.output + again.output


def test_redis_holds_no_secret_no_token_and_no_password_in_clear(make_controller, emulator, redis_server):
    ansible = make_controller()
    run = ansible.run(FLEET, inventory=ansible.inventory(3), extra_vars={"token_out": str(ansible.workdir / "token")},
                      args=("-vvvv",))
    assert run.rc == 0, run.output
    token = (ansible.workdir / "token").read_text()
    module = ansible.run(MODULE, inventory=ansible.inventory(2), args=("-vvvv",))
    assert module.rc == 0, module.output
    contents = redis_contents(redis_server)
    assert contents
    for secret in (CLIENT_SECRET, token, REDIS_PASSWORD):
        assert not [item for item in contents if secret.encode() in item]
        assert secret not in run.output + module.output
    assert not [item for item in contents if b"access_token" in item or b"Bearer" in item]  # encrypted


# What guide_awx_ci.rst tells an operator to allow a Redis 6+ ACL user of the collection.
DOCUMENTED_ACL_COMMANDS = ["+get", "+set", "+del", "+eval", "+multi", "+exec"]


@core_independent
def test_an_acl_user_allowed_only_the_documented_commands_and_keys_works(make_controller, emulator, redis_server):
    redis_server.client().acl_setuser("telenor-it", enabled=True, passwords=["+acl-Pw-4kq"], keys=["telenor_oauth:*"],
                                      commands=DOCUMENTED_ACL_COMMANDS)
    ansible = make_controller(url=f"redis://telenor-it:acl-Pw-4kq@127.0.0.1:{redis_server.port}/0")

    for playbook in (FLEET, FLEET, MODULE, REVOKE):  # cold, warm, the module, its revocation
        run = ansible.run(playbook, inventory=ansible.inventory(3))
        assert run.rc == 0, run.output
    assert emulator.stats()["token_requests"] == 1 and emulator.stats()["revoked"] == 1
    assert list(redis_server.client().scan_iter("telenor_oauth:*")) == []


@core_independent
def test_revocation_deletes_the_record_in_redis(make_controller, emulator, redis_server):
    ansible = make_controller()
    obtained = ansible.run(MODULE, inventory=ansible.inventory(2))
    assert obtained.rc == 0, obtained.output
    revoked = ansible.run(REVOKE)
    assert revoked.rc == 0, revoked.output
    assert emulator.stats()["revoked"] == 1
    assert list(redis_server.client().scan_iter("telenor_oauth:*")) == []


@core_independent
@pytest.mark.parametrize("fault", ["wrong password", "no password", "unreachable"])
def test_a_redis_that_cannot_be_used_fails_closed_and_names_itself(make_controller, emulator, redis_server, fault):
    url = {
        "wrong password": f"redis://:wrong-{REDIS_PASSWORD}@127.0.0.1:{redis_server.port}/0",
        "no password": f"redis://127.0.0.1:{redis_server.port}/0",
        "unreachable": f"redis://:{REDIS_PASSWORD}@127.0.0.1:1/0",
    }[fault]
    ansible = make_controller(url=url)
    run = ansible.run(FLEET, inventory=ansible.inventory(6), args=("-vvvv",))
    assert run.rc != 0
    assert "The Redis token cache at redis://" in run.output
    assert {"wrong password": "refused the password", "no password": "asks for a password, and cache_url gives none",
            "unreachable": "cannot be reached"}[fault] in run.output
    assert REDIS_PASSWORD not in run.output
    assert emulator.stats()["token_requests"] == 0  # never one request per host
    assert file_caches_used(ansible) == []


@core_independent
def test_redis_killed_in_the_middle_of_a_run_fails_the_rest_without_token_requests(make_controller, emulator,
                                                                                   redis_server):
    ansible = make_controller()
    ready, go = ansible.workdir / "ready", ansible.workdir / "go"
    proc = subprocess.Popen(
        ansible.command(KILL_MID_RUN, inventory=ansible.inventory(12), forks=4,
                        extra_vars={"ready_file": str(ready), "go_file": str(go)}),
        cwd=ansible.workdir, env=ansible.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: ready.exists() or proc.poll() is not None, "the first play to finish")
        assert emulator.stats()["token_requests"] == 1
        redis_server.kill()
        go.touch()
        output = proc.communicate(timeout=600)[0]
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, output
    assert "host0011" in output and "cannot be reached" in output
    assert f"The Redis token cache at redis://:***@127.0.0.1:{redis_server.port}/0" in output
    assert REDIS_PASSWORD not in output
    assert emulator.stats()["token_requests"] == 1  # no host fell back to a request of its own
    assert file_caches_used(ansible) == []


@core_independent
def test_a_lock_holder_killed_while_holding_the_lock_frees_it_by_expiry(make_controller, emulator, redis_server):
    # A short timeout keeps the lock's lifetime short (_redis_cache.lock_ttl):
    # 3 request sequences of 2 * 2 s, 4 Redis commands of 2 * 2 * 2 s, 5 s margin: 49 s.
    fast = {"TELENOR_TIMEOUT": "2", "TELENOR_RETRIES": "0"}
    holder, successor = make_controller("holder"), make_controller("successor")
    emulator.faults(latency=60, latency_next=1)  # the holder's request hangs
    client = redis_server.client()
    proc = subprocess.Popen(holder.command(FLEET, inventory=holder.inventory(2), forks=2),
                            cwd=holder.workdir, env={**holder.env, **fast},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: emulator.stats()["token_requests"] == 1 or proc.poll() is not None,
                   "the holder's token request")
        kill_process_tree(proc.pid)  # the holder and its workers die with the lock held
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            kill_process_tree(proc.pid)
    locks = list(client.scan_iter("telenor_oauth:*:lock"))
    assert len(locks) == 1, "the holder was not killed while it held the lock"
    assert client.pttl(locks[0]) > 0  # it expires on its own

    run = successor.run(FLEET, inventory=successor.inventory(3), env=fast)
    assert run.rc == 0, run.output
    assert emulator.stats()["token_requests"] == 2  # the dead holder's, never answered, and one more
    assert list(client.scan_iter("telenor_oauth:*:lock")) == []
    assert len(list(client.scan_iter("telenor_oauth:*:token"))) == 1

# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures that run the real ansible-playbook against the Telenor API emulator on loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.emulator.control import Emulator  # noqa: E402

CLIENT_ID = "it-client"
# Distinctive, with a colon, so leak checks cannot match by accident.
CLIENT_SECRET = "it-Secret:9f3b7c1e-never-print-me"
BIN = Path(sys.executable).parent

# A fake sysvinit service for the role's tests: records what it was asked to do in {log}.
FAKE_INIT_SCRIPT = """#!/bin/sh
case "$1" in
  status) exit 0 ;;
  restart|reload|start|stop) echo "$1" >> {log} ;;
esac
exit 0
"""


def on_the_oldest_core() -> bool:
    """Whether this lane runs the oldest ansible-core the collection supports (2.19).

    The oldest is in every run of the suite (the newest needs Python 3.12+, which a
    machine may lack), so a check that needs to run once, whatever the core version, runs
    there.
    """
    from ansible.release import __version__  # pylint: disable=import-outside-toplevel

    return tuple(int(part) for part in __version__.split(".")[:2]) <= (2, 19)


# A further variant of a scenario whose first variant runs on every core: the same
# playbook and the same core features, with other values for the collection's own
# logic, which does not differ by core version. It runs on the oldest core only.
further_variant = pytest.mark.skipif(
    not on_the_oldest_core(), reason="a further variant; this core's lane runs the scenario's first variant")


# A scenario of the collection's own logic (HTTP faults and retries, refresh tokens, Redis
# failures and locks, the file cache, a standards OAuth server) that reaches ansible-core only
# through paths that other scenarios take on every core: the lookup's and the module's
# options, results and errors. It runs on the oldest core only; the unit tests run that
# logic on the newest core's Python too. The scenarios that stay on every core are the
# ones that depend on what core does: option sources and vaulted variables, module
# arguments and module_defaults, the role's templating, what -vvvv and diffs show, and
# forks sharing one request.
core_independent = pytest.mark.skipif(
    not on_the_oldest_core(), reason="the collection's own logic, through core paths that other tests cover here")


def scale(hosts: int, *, forks: int) -> int:
    """How many hosts a scale scenario runs with under this lane's ansible-core.

    The suite runs on the oldest and the newest core version, on two cores. A scale
    scenario (hundreds of hosts, several controllers) proves that all the forks of a run
    share one token request; it runs at full size on the oldest version, and with a
    quarter of the hosts (at least as many as the forks, so the forks still race) on the
    others, where it checks the same behaviour for a fraction of the CPU.
    """
    return hosts if on_the_oldest_core() else max(hosts // 4, forks)


@pytest.fixture(scope="session")
def collections_path(tmp_path_factory) -> Path:
    """A collections root whose telenor/oauth is this checkout."""
    base = tmp_path_factory.mktemp("collections")
    target = base / "ansible_collections" / "telenor"
    target.mkdir(parents=True)
    (target / "oauth").symlink_to(ROOT)
    return base


@pytest.fixture(scope="session")
def emulator_server():
    emulator = Emulator()
    emulator.start(clients=[(CLIENT_ID, CLIENT_SECRET)])
    yield emulator
    emulator.stop()


@pytest.fixture
def emulator(emulator_server):
    emulator_server.reset()
    yield emulator_server
    emulator_server.reset()


# Company system users of CLIENT_ID, for the password grant (RFC 6749 section 4.3).
# Distinctive, with a colon, so that leak checks cannot match by accident.
SYSTEM_USERS = {
    "sys-ordering": "Ordering-Pw:4e7a-never-print-me",
    "sys-info": "Info-Pw:b21c-never-print-me",
}


@pytest.fixture(scope="session")
def users_emulator_server():
    emulator = Emulator()
    emulator.start(clients=[(CLIENT_ID, CLIENT_SECRET)],
                   users=[(CLIENT_ID, username, password) for username, password in SYSTEM_USERS.items()])
    yield emulator
    emulator.stop()


@pytest.fixture
def users_emulator(users_emulator_server):
    """An emulator whose client has the SYSTEM_USERS."""
    users_emulator_server.reset()
    yield users_emulator_server
    users_emulator_server.reset()


@dataclass
class Run:
    rc: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


class Ansible:
    """Runs ansible-playbook with the collection, the emulator and a private cache."""

    def __init__(self, collections: Path, workdir: Path, emulator: Emulator) -> None:
        self.collections = collections
        self.workdir = workdir
        self.emulator = emulator
        self.cache_dir = workdir / "token-cache"
        self.env = {
            **os.environ,
            "ANSIBLE_COLLECTIONS_PATH": str(collections),
            "ANSIBLE_LOCAL_TEMP": str(workdir / "ansible-local-tmp"),
            "ANSIBLE_HOME": str(workdir / "ansible-home"),
            "ANSIBLE_HOST_KEY_CHECKING": "False",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_FORCE_COLOR": "0",
            "ANSIBLE_PYTHON_INTERPRETER": sys.executable,
            "TELENOR_API_URL": emulator.url,
            "TELENOR_CLIENT_ID": CLIENT_ID,
            "TELENOR_CLIENT_SECRET": CLIENT_SECRET,
            "TELENOR_TOKEN_CACHE_DIR": str(self.cache_dir),
            "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        }
        for name in ("TELENOR_SCOPE", "TELENOR_CA_PATH", "TELENOR_VALIDATE_CERTS",
                     "TELENOR_GRANT_TYPE", "TELENOR_USERNAME", "TELENOR_PASSWORD"):
            self.env.pop(name, None)

    def inventory(self, hosts: int, name: str = "inventory.ini") -> Path:
        path = self.workdir / name
        lines = ["[fleet]"] + [f"host{i:04d}" for i in range(hosts)]
        lines += ["", "[fleet:vars]", "ansible_connection=local", f"ansible_python_interpreter={sys.executable}"]
        path.write_text("\n".join(lines) + "\n")
        return path

    def command(self, playbook: Path, *, inventory: Path | None = None, forks: int = 5,
                extra_vars: dict | None = None, args: tuple = ()) -> list[str]:
        cmd = [str(BIN / "ansible-playbook"), str(playbook), "-i", str(inventory or self.inventory(3)),
               "--forks", str(forks)]
        if extra_vars:
            cmd += ["-e", json.dumps(extra_vars)]
        return cmd + list(args)

    def run(self, playbook: Path, *, env: dict | None = None, timeout: float = 300, **kwargs) -> Run:
        proc = subprocess.run(
            self.command(playbook, **kwargs), cwd=self.workdir, env={**self.env, **(env or {})},
            capture_output=True, text=True, timeout=timeout, check=False,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture
def ansible(collections_path, tmp_path, emulator) -> Ansible:
    return Ansible(collections_path, tmp_path, emulator)


@pytest.fixture
def users_ansible(collections_path, tmp_path, users_emulator) -> Ansible:
    """Like ``ansible``, against the emulator with system users."""
    return Ansible(collections_path, tmp_path, users_emulator)

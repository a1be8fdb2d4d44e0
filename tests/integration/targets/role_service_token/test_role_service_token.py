# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The service_token role, through the real ansible-playbook, on local hosts and a host over real SSH."""

from __future__ import annotations

import configparser
import json
import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.integration import sshd
from tests.integration.conftest import BIN, CLIENT_ID, CLIENT_SECRET, FAKE_INIT_SCRIPT, further_variant
from tests.unit.plugins.module_utils.fake_telenor_api import closed_port

HERE = Path(__file__).parent
SITE = HERE / "site.yml"
ROTATE = HERE / "rotate.yml"
VAULT_PASSWORD = "it-vault-password-7c1d"
# One local host and one over SSH (with become): each role run costs CPU per host, and a
# second local host would take the same path as the first.
LOCAL_HOSTS = ("local1",)
RESTARTED = ["stop", "start"]  # what sysvinit runs for state=restarted
SSH_HOST = "sshhost"

ENV_BEFORE = "# app settings\nexport TELENOR_ACCESS_TOKEN=old\nLOG_LEVEL=debug\n"
JSON_BEFORE = {"name": "app", "auth": {"user": "svc"}}
YAML_BEFORE = {"listen": 8080, "telenor": {"region": "no"}}
INI_BEFORE = "; comment kept\n[main]\nworkers = 4\n\n[api]\nurl = https://example.invalid\n"


@pytest.fixture(scope="module")
def ssh_host(tmp_path_factory):
    reason = sshd.unavailable_reason()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"sshd test host unavailable in CI: {reason}")
        pytest.skip(reason)
    host = sshd.start_sshd(tmp_path_factory.mktemp("sshd"))
    yield host
    host.stop()


@pytest.fixture
def fleet(ansible, ssh_host, tmp_path):
    """Inventory of a local host and an SSH host, each with its own files and fake service."""
    base = tmp_path / "hosts"
    hosts = (*LOCAL_HOSTS, SSH_HOST)
    scripts = []
    for index, host in enumerate(hosts):
        directory = base / host
        directory.mkdir(parents=True)
        (directory / "app.env").write_text(ENV_BEFORE)
        (directory / "app.json").write_text(json.dumps(JSON_BEFORE))
        (directory / "app.yaml").write_text(yaml.safe_dump(YAML_BEFORE))
        (directory / "app.ini").write_text(INI_BEFORE)
        service = f"telenor-it-{os.getpid()}-{index}"
        script = Path("/etc/init.d") / service
        script.write_text(FAKE_INIT_SCRIPT.format(log=directory / "service.log"))
        script.chmod(0o755)
        scripts.append(script)

    group_vars = tmp_path / "group_vars" / "all"
    group_vars.mkdir(parents=True)
    (group_vars / "main.yml").write_text(yaml.safe_dump({
        "telenor_client_id": CLIENT_ID,
        "telenor_api_url": ansible.emulator.url,
        "it_base": str(base),
    }))
    password_file = tmp_path / "vault-password"
    password_file.write_text(VAULT_PASSWORD)
    password_file.chmod(0o600)
    secret_file = group_vars / "vault.yml"
    secret_file.write_text(yaml.safe_dump({"telenor_client_secret": CLIENT_SECRET}))
    subprocess.run([str(BIN / "ansible-vault"), "encrypt", "--vault-password-file", str(password_file), str(secret_file)],
                   check=True, capture_output=True, env=ansible.env)
    assert CLIENT_SECRET not in secret_file.read_text()

    lines = ["[fleet]"]
    lines += [f"{host} ansible_connection=local ansible_python_interpreter={sys.executable}" for host in LOCAL_HOSTS]
    lines.append(ssh_host.inventory_line(SSH_HOST))
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("\n".join(lines) + "\n")
    host_vars = tmp_path / "host_vars"
    host_vars.mkdir()
    for index, host in enumerate(hosts):
        (host_vars / f"{host}.yml").write_text(yaml.safe_dump({"it_service": f"telenor-it-{os.getpid()}-{index}"}))

    # Credentials come from the (vaulted) variables only.
    for name in ("TELENOR_CLIENT_ID", "TELENOR_CLIENT_SECRET", "TELENOR_API_URL"):
        ansible.env.pop(name, None)
    fleet = Fleet(ansible, inventory, base, password_file, hosts)
    yield fleet
    for script in scripts:
        script.unlink()


class Fleet:
    def __init__(self, ansible, inventory: Path, base: Path, password_file: Path, hosts: tuple[str, ...]) -> None:
        self.ansible = ansible
        self.inventory = inventory
        self.base = base
        self.password_file = password_file
        self.hosts = hosts

    def run(self, *args: str, playbook: Path = SITE, extra_vars: dict | None = None):
        return self.ansible.run(playbook, inventory=self.inventory, extra_vars=extra_vars,
                                args=("--vault-password-file", str(self.password_file), *args))

    def token(self, host: str) -> str:
        return (self.base / host / "token").read_text().strip()

    def restarts(self, host: str) -> list[str]:
        log = self.base / host / "service.log"
        return log.read_text().split() if log.exists() else []


def recap(output: str) -> dict[str, dict[str, int]]:
    rows = re.findall(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output, re.M)
    return {host: {"ok": int(ok), "changed": int(ch), "unreachable": int(un), "failed": int(fa)}
            for host, ok, ch, un, fa in rows}


def test_every_format_and_the_vault_file_are_written_keeping_other_content_and_a_rerun_changes_nothing(
        fleet, emulator, tmp_path):
    vault_file = tmp_path / "current-token.vault.yml"
    first = fleet.run("--diff", "-vvvv", extra_vars={"service_token_vault_file": str(vault_file)})
    assert first.rc == 0, first.output
    token = fleet.token(SSH_HOST)
    assert token not in first.output  # no format's diff or verbose output shows it, over SSH either
    assert CLIENT_SECRET not in first.output
    assert emulator.is_token_valid(token)
    assert emulator.stats()["token_requests"] == 1
    for host in fleet.hosts:
        directory = fleet.base / host
        assert fleet.token(host) == token  # one token for the fleet
        assert (directory / "app.env").read_text() == ENV_BEFORE.replace("=old", f"={token}")
        assert json.loads((directory / "app.json").read_text()) == {"name": "app", "auth": {"user": "svc", "token": token}}
        assert yaml.safe_load((directory / "app.yaml").read_text()) == {
            "listen": 8080, "telenor": {"region": "no", "access_token": token}}
        ini_text = (directory / "app.ini").read_text()
        assert "; comment kept" in ini_text
        ini = configparser.ConfigParser()
        ini.read_string(ini_text)
        assert ini["main"]["workers"] == "4"
        assert ini["api"]["token"] == token
        assert f'header = "Bearer {token}"' in (directory / "app.conf").read_text()
        for name in ("app.env", "app.yaml", "app.ini", "token", "app.conf"):
            assert stat.S_IMODE((directory / name).stat().st_mode) == 0o600, (host, name)
        assert stat.S_IMODE((directory / "app.json").stat().st_mode) == 0o640
        # Three changed files of one service: restarted once (sysvinit restarts as stop, start).
        assert fleet.restarts(host) == RESTARTED
    # The vault file: on the controller, encrypted, decrypting to the current token.
    assert stat.S_IMODE(vault_file.stat().st_mode) == 0o600
    assert vault_file.read_text().startswith("$ANSIBLE_VAULT;")
    view = subprocess.run([str(BIN / "ansible-vault"), "view", "--vault-password-file", str(fleet.password_file), str(vault_file)],
                          capture_output=True, text=True, check=True, env=fleet.ansible.env)
    record = yaml.safe_load(view.stdout)
    assert record["access_token"] == token
    assert record["authorization"] == f"Bearer {token}"

    second = fleet.run(extra_vars={"service_token_vault_file": str(vault_file)})
    assert second.rc == 0, second.output
    assert all(row["changed"] == 0 for row in recap(second.stdout).values()), second.stdout
    assert emulator.stats()["token_requests"] == 1
    assert all(fleet.restarts(host) == RESTARTED for host in fleet.hosts)


def test_rotation_replaces_the_token_everywhere_then_revokes_the_old_one_showing_no_token_in_diff_or_verbose(
        fleet, emulator):
    first = fleet.run("--diff", "-vvvv", playbook=ROTATE)
    assert first.rc == 0, first.output
    old = fleet.token(SSH_HOST)
    assert old not in first.output
    assert CLIENT_SECRET not in first.output

    rotated = fleet.run("--diff", "-vvvv", "-e", "service_token_rotate=true", playbook=ROTATE)
    assert rotated.rc == 0, rotated.output
    new = fleet.token(SSH_HOST)
    assert new != old
    assert new not in rotated.output
    assert old not in rotated.output
    assert CLIENT_SECRET not in rotated.output
    assert all(fleet.token(host) == new for host in fleet.hosts)
    assert emulator.is_token_valid(new)
    assert not emulator.is_token_valid(old)
    stats = emulator.stats()
    assert stats["tokens_issued"] == 2
    assert stats["revoked"] == 1
    assert all(fleet.restarts(host) == RESTARTED * 2 for host in fleet.hosts)


def test_a_host_that_fails_rotation_keeps_its_file_and_the_old_token_stays_valid(fleet, emulator):
    assert fleet.run(playbook=ROTATE).rc == 0
    old = fleet.token(SSH_HOST)
    broken = LOCAL_HOSTS[0]
    env_before = (fleet.base / broken / "app.env").read_bytes()
    host_vars = fleet.inventory.parent / "host_vars" / f"{broken}.yml"
    data = yaml.safe_load(host_vars.read_text())
    host_vars.write_text(yaml.safe_dump({**data, "it_owner": "no-such-user-telenor-it"}))

    rotated = fleet.run("-e", "service_token_rotate=true", playbook=ROTATE)
    assert rotated.rc != 0
    assert recap(rotated.stdout)[broken]["failed"] == 1
    assert (fleet.base / broken / "app.env").read_bytes() == env_before
    assert emulator.is_token_valid(old)  # not revoked: the broken host still uses it
    assert emulator.stats()["revoked"] == 0
    assert f"these hosts failed and still use it: {broken}." in rotated.stdout
    new = fleet.token(SSH_HOST)
    assert new != old and emulator.is_token_valid(new)


@pytest.mark.parametrize("rotate", [
    pytest.param(True, id="rotation"),
    pytest.param(False, id="first-run", marks=further_variant),
])
def test_a_host_whose_service_fails_to_restart_is_told_to_restart_it_itself_as_a_rerun_would_not(
        fleet, emulator, rotate):
    broken = LOCAL_HOSTS[0]
    service = yaml.safe_load((fleet.inventory.parent / "host_vars" / f"{broken}.yml").read_text())["it_service"]
    script = Path("/etc/init.d") / service
    working = script.read_text()
    if rotate:
        assert fleet.run(playbook=ROTATE).rc == 0
        old = fleet.token(SSH_HOST)
    script.write_text('#!/bin/sh\ncase "$1" in status) exit 0 ;; esac\nexit 1\n')
    try:
        run = fleet.run(*(("-e", "service_token_rotate=true") if rotate else ()), playbook=ROTATE)
    finally:
        script.write_text(working)  # the host's other tests use this service
    assert run.rc != 0
    assert recap(run.stdout)[broken]["failed"] == 1
    token = fleet.token(SSH_HOST)
    assert fleet.token(broken) == token  # the file was written before the restart failed
    if rotate:
        assert token != old and emulator.is_token_valid(old)  # not revoked: the service still uses it
    message = " ".join(run.stdout.split())
    for words in (f"The files of {broken} ({service}) already hold this run's token",
                  "a run of the role again finds those files up to date and restarts nothing",
                  "restart or reload those services yourself"):
        assert words in message, run.stdout
    assert "to give them the new token" not in message
    assert "did not get this run's token" not in message
    assert "Their files are as they were" not in message

    # What the message warns of: once the service is fixed, a run of the role leaves it as it is.
    again = fleet.run(playbook=ROTATE)
    assert again.rc == 0, again.output
    assert recap(again.stdout)[broken]["changed"] == 0
    assert fleet.restarts(broken) == (RESTARTED if rotate else [])


@pytest.mark.parametrize(("variables", "words"), [
    # The lookup's own variables reach the role's token request.
    pytest.param({"telenor_ca_path": "/nonexistent/telenor-ca.pem"}, ["ca_path", "/nonexistent/telenor-ca.pem", "does not exist"],
                 id="telenor_ca_path"),
    pytest.param({"telenor_validate_certs": "maybe"}, ["validate_certs", "maybe"], id="telenor_validate_certs",
                 marks=further_variant),
    # The role's own overrides win over them.
    pytest.param({"telenor_ca_path": "/nonexistent/a.pem", "service_token_ca_path": "/nonexistent/role-ca.pem"},
                 ["/nonexistent/role-ca.pem", "does not exist"], id="service_token_ca_path",
                 marks=further_variant),
    pytest.param({"service_token_timeout": 0}, ["timeout must be a number from 0.001 to 600"], id="service_token_timeout",
                 marks=further_variant),
    pytest.param({"service_token_retries": -1}, ["retries must be a whole number from 0 to 10"], id="service_token_retries",
                 marks=further_variant),
])
def test_the_role_takes_every_connection_option_of_the_lookup(ansible, emulator, variables, words):
    run = ansible.run(HERE / "options.yml", inventory=ansible.inventory(2), extra_vars=variables)
    assert run.rc != 0
    for word in words:
        assert word in run.output, run.output
    # A setting that is wrong fails every run alike: no promise that the next one heals.
    assert "next run retries" not in run.output
    assert emulator.stats()["token_requests"] == 0
    assert not list(HERE.glob("never-written-*"))


@pytest.mark.parametrize(("faults", "env", "transient"), [
    pytest.param({"fail_next": 10_000, "fail_status": 503}, {}, True, id="api-unavailable"),
    pytest.param({"rate_limit_next": 10_000}, {}, True, id="rate-limited", marks=further_variant),
    # The seed: "Invalid App Attributes. Please contact Telenor Admin"; no retry mends it.
    pytest.param({"force_error": {"status": 500, "code": 16, "count": 10_000}}, {}, False, id="invalid-app-attributes",
                 marks=further_variant),
    pytest.param({}, {"TELENOR_CLIENT_SECRET": "not-the-secret"}, False, id="wrong-secret"),
    # No answer at all: the module retries a refused connection, so the next run may get through.
    pytest.param({}, {"TELENOR_API_URL": f"http://127.0.0.1:{closed_port()}"}, True, id="api-unreachable"),
    # A portal login as client_id: the module's message ends in a word ending in "s", which
    # the role quotes whole (it once trimmed a trailing "s" with its trailing full stop).
    pytest.param({}, {"TELENOR_CLIENT_ID": "ola@firma.no"}, False, id="portal-login-client-id"),
])
def test_only_a_temporary_api_failure_says_that_the_next_run_retries(ansible, emulator, faults, env, transient):
    if faults:
        emulator.faults(**faults)
    run = ansible.run(HERE / "options.yml", inventory=ansible.inventory(2), env=env,
                      extra_vars={"service_token_retries": 0})
    assert run.rc != 0
    message = " ".join(run.stdout.split())
    assert "No token for this run, so no file was written" in message, run.output
    assert ("the next run retries" in message.lower()) is transient, run.output
    if "TELENOR_CLIENT_ID" in env:
        assert "and they are not API credentials." in message, run.output
    assert not list(HERE.glob("never-written-*"))


def test_a_role_run_with_valid_options_makes_its_request(ansible, emulator, tmp_path):
    target = tmp_path / "app.env"
    run = ansible.run(HERE / "options.yml", inventory=ansible.inventory(1), extra_vars={
        "it_target": str(target), "service_token_timeout": 5.5, "service_token_retries": 0, "telenor_validate_certs": True})
    assert run.rc == 0, run.output
    assert emulator.is_token_valid(target.read_text().strip().split("=", 1)[1])


@pytest.mark.parametrize("files", [
    pytest.param({}, id="unset"),
    pytest.param({"service_token_files": None}, id="left-empty-in-yaml", marks=further_variant),
    pytest.param({"service_token_files": []}, id="empty", marks=further_variant),
])
def test_a_role_run_with_only_a_vault_file_keeps_the_vault_copy_fresh(ansible, emulator, tmp_path, files):
    # The role used only for its vault copy (read by other tooling) worked in 1.1 and must
    # keep working: no service file is not a mistake when there is a vault file.
    password_file = tmp_path / "vault-password"
    password_file.write_text(VAULT_PASSWORD)
    vault_file = tmp_path / "current-token.vault.yml"
    run = ansible.run(HERE / "vault_only.yml", inventory=ansible.inventory(1),
                      extra_vars={**files, "service_token_vault_file": str(vault_file)},
                      args=("--vault-password-file", str(password_file)))
    assert run.rc == 0, run.output
    view = subprocess.run([str(BIN / "ansible-vault"), "view", "--vault-password-file", str(password_file), str(vault_file)],
                          capture_output=True, text=True, check=True, env=ansible.env)
    assert emulator.is_token_valid(yaml.safe_load(view.stdout)["access_token"])
    assert emulator.stats()["token_requests"] == 1


def test_a_vault_file_without_a_vault_secret_says_every_way_to_give_one(ansible, emulator, tmp_path):
    run = ansible.run(HERE / "vault_only.yml", inventory=ansible.inventory(1),
                      extra_vars={"service_token_vault_file": str(tmp_path / "current-token.vault.yml")})
    assert run.rc != 0
    message = " ".join(run.stdout.split())
    assert "service_token_vault_file" in message and "cannot be written" in message, run.stdout
    assert "needs a vault secret to encrypt with: run with --ask-vault-pass, --vault-password-file or --vault-id" in message
    assert emulator.stats()["token_requests"] == 0


# --- rotation across plays, batches and limits, on local hosts -----------------------------


class Groups:
    """A web group and an api group of one local host each, with an env file per host."""

    HOSTS = ("web1", "api1")

    def __init__(self, ansible, base: Path) -> None:
        self.ansible = ansible
        self.base = base
        self.inventory = base.parent / "groups.ini"
        self.inventory.write_text("\n".join([
            "[web]", "web1", "[api]", "api1", "",
            "[all:vars]", "ansible_connection=local", f"ansible_python_interpreter={sys.executable}",
            f"it_base={base}", "",
        ]))

    def run(self, playbook: str, *args: str, env: dict | None = None):
        return self.ansible.run(HERE / playbook, inventory=self.inventory, env=env, args=args)

    def token(self, host: str) -> str:
        return (self.base / f"{host}.env").read_text().strip().split("=", 1)[1]

    def tokens(self) -> dict[str, str]:
        return {host: self.token(host) for host in self.HOSTS}


@pytest.fixture
def groups(ansible, tmp_path):
    base = tmp_path / "files"
    base.mkdir()
    return Groups(ansible, base)


def test_a_rotation_over_two_plays_rotates_once_and_every_host_keeps_a_working_token(groups, emulator, tmp_path):
    assert groups.run("site_two_plays.yml").rc == 0
    old = groups.token("web1")
    # A fact cache, as many ansible.cfg files set: what tells a later play that this run
    # rotated must not outlive the run, or next month's rotation would not rotate.
    fact_cache = {"ANSIBLE_CACHE_PLUGIN": "jsonfile", "ANSIBLE_CACHE_PLUGIN_CONNECTION": str(tmp_path / "facts")}

    rotated = groups.run("site_two_plays.yml", "-e", "service_token_rotate=true", env=fact_cache)
    assert rotated.rc == 0, rotated.output
    new = groups.token("web1")
    assert new != old
    assert groups.tokens() == {"web1": new, "api1": new}  # the second play did not rotate again
    assert emulator.is_token_valid(new)
    assert not emulator.is_token_valid(old)
    assert emulator.stats()["tokens_issued"] == 2
    assert old not in rotated.output and new not in rotated.output

    again = groups.run("site_two_plays.yml", "-e", "service_token_rotate=true", env=fact_cache)
    assert again.rc == 0, again.output
    newest = groups.token("api1")
    assert newest != new and groups.tokens() == {"web1": newest, "api1": newest}
    assert emulator.is_token_valid(newest) and not emulator.is_token_valid(new)
    assert emulator.stats()["tokens_issued"] == 3


@pytest.mark.parametrize(("fault", "words"), [
    # api1's file cannot be written: api2 gets the token, api1 keeps its file.
    pytest.param({"it_owner": "no-such-user-telenor-it"},
                 ["did not get this run's token: api1.",
                  "They still hold the previous token, which this run revoked in an earlier play",
                  "run the role for them now (without rotating)"], id="a-host-fails"),
    # The second play's token step fails (its min_ttl is refused) after play 1 revoked.
    pytest.param({"service_token_min_ttl": -1},
                 ["No token for this run, so no file was written on these hosts: api1, api2.",
                  "They still hold the previous token, which this run revoked in an earlier play",
                  "run the role for them now (without rotating)"], id="the-token-step-fails", marks=further_variant),
])
def test_a_later_play_that_fails_after_the_rotation_revoked_says_its_hosts_hold_the_revoked_token(
        groups, emulator, fault, words):
    groups.inventory.write_text(groups.inventory.read_text().replace("[api]\napi1\n", "[api]\napi1\napi2\n"))
    assert groups.run("site_two_plays.yml").rc == 0
    old = groups.token("api1")
    host_vars = groups.inventory.parent / "host_vars"
    host_vars.mkdir()
    (host_vars / "api1.yml").write_text(yaml.safe_dump(fault))

    rotated = groups.run("site_two_plays.yml", "-e", "service_token_rotate=true")
    assert rotated.rc != 0
    # What the message must not hide: play 1 revoked the token api1 still holds.
    assert groups.token("api1") == old and not emulator.is_token_valid(old)
    assert emulator.is_token_valid(groups.token("web1"))
    message = " ".join(rotated.stdout.split())
    for words_ in words:
        assert words_ in message, rotated.stdout
    assert "still valid until it expires" not in message
    assert "with the token they held until it expires" not in message


@further_variant
def test_a_later_play_with_other_credentials_that_fail_says_its_hosts_may_hold_the_revoked_token(groups, emulator):
    # Play 2 has its own identity, with no cached token, so the run cannot tell whether its
    # hosts hold the token play 1 revoked: the message must say both cases, and claim neither.
    assert groups.run("site_two_plays.yml").rc == 0
    old = groups.token("api1")
    host_vars = groups.inventory.parent / "host_vars"
    host_vars.mkdir()
    (host_vars / "api1.yml").write_text(yaml.safe_dump(
        {"service_token_client_id": "it-other-client", "service_token_client_secret": "not-a-known-secret"}))

    rotated = groups.run("site_two_plays.yml", "-e", "service_token_rotate=true")
    assert rotated.rc != 0
    assert groups.token("api1") == old and not emulator.is_token_valid(old)
    assert emulator.is_token_valid(groups.token("web1"))
    message = " ".join(rotated.stdout.split())
    for words in ("No token for this run, so no file was written on these hosts: api1.",
                  "This run revoked a previous token in an earlier play: if this play uses the same credentials,",
                  "otherwise they keep the token they hold"):
        assert words in message, rotated.stdout
    assert "which this run revoked in an earlier play" not in message
    assert "the next run retries" not in message  # refused credentials are not temporary
    assert "not-a-known-secret" not in rotated.output


def test_vaulted_credentials_without_a_vault_password_say_how_to_give_it(groups, emulator, tmp_path):
    # A new user's pass: the likeliest first mistake ended "no vault secrets found.." with no
    # word of --ask-vault-pass.
    password_file = tmp_path / "vault-password"
    password_file.write_text(VAULT_PASSWORD)
    group_vars = groups.inventory.parent / "group_vars" / "all"
    group_vars.mkdir(parents=True)
    # As the README has it: encrypt_string --stdin-name telenor_client_secret >> group_vars/all/telenor.yml
    vaulted = subprocess.run([str(BIN / "ansible-vault"), "encrypt_string", "--vault-password-file", str(password_file),
                              "--stdin-name", "telenor_client_secret"], input=CLIENT_SECRET,
                             check=True, capture_output=True, text=True, env=groups.ansible.env)
    (group_vars / "telenor.yml").write_text(vaulted.stdout)

    run = groups.run("site_two_plays.yml", env={"TELENOR_CLIENT_SECRET": ""})

    assert run.rc != 0 and emulator.stats()["token_requests"] == 0
    message = " ".join(run.stdout.split())
    assert "No token for this run, so no file was written" in message, run.stdout
    assert "The credentials are vaulted: run with --ask-vault-pass, --vault-password-file or --vault-id." in message
    assert ".." not in message.split("Obtaining the token failed:", 1)[1]


def test_a_rotation_in_batches_rotates_once_and_revokes_nothing_a_later_batch_still_held(groups, emulator):
    assert groups.run("site_serial.yml").rc == 0
    old = groups.token("web1")

    rotated = groups.run("site_serial.yml", "-e", "service_token_rotate=true")
    assert rotated.rc == 0, rotated.output
    new = groups.token("web1")
    assert new != old
    assert groups.tokens() == {"web1": new, "api1": new}
    assert emulator.is_token_valid(new)
    assert emulator.stats()["tokens_issued"] == 2
    # The first batch got the new token while the second still used the old one.
    assert emulator.is_token_valid(old)
    assert emulator.stats()["revoked"] == 0
    assert "was not revoked: this play runs in batches (serial)" in rotated.stdout


def test_in_batches_each_failed_host_is_named_once_not_again_by_every_later_batch(groups, emulator):
    groups.inventory.write_text(groups.inventory.read_text().replace(
        "[web]\nweb1\n[api]\napi1\n", "[web]\nweb1\nweb2\n[api]\napi1\napi2\n"))
    host_vars = groups.inventory.parent / "host_vars"
    host_vars.mkdir()
    (host_vars / "web2.yml").write_text(yaml.safe_dump({"it_owner": "no-such-user-telenor-it"}))

    # Two batches of two: web2 fails in the first, the second (api1, api2) succeeds.
    result = groups.run("site_serial.yml", "-e", "it_serial=2")
    assert result.rc != 0
    assert {host: (groups.base / f"{host}.env").exists() for host in ("web1", "web2", "api1", "api2")} == {
        "web1": True, "web2": False, "api1": True, "api2": True}
    message = " ".join(result.stdout.split())
    assert message.count("did not get this run's token: web2.") == 1, result.stdout
    assert message.count("did not get this run's token") == 1, result.stdout


def test_in_batches_a_later_batch_whose_token_step_fails_does_not_say_the_earlier_batches_got_nothing(
        groups, emulator):
    groups.inventory.write_text(groups.inventory.read_text().replace(
        "[web]\nweb1\n[api]\napi1\n", "[web]\nweb1\nweb2\n[api]\napi1\napi2\n"))
    host_vars = groups.inventory.parent / "host_vars"
    host_vars.mkdir()
    # The second batch's token step runs on api1, whose min_ttl the module refuses.
    (host_vars / "api1.yml").write_text(yaml.safe_dump({"service_token_min_ttl": -1}))

    result = groups.run("site_serial.yml", "-e", "it_serial=2")
    assert result.rc != 0
    assert {host: (groups.base / f"{host}.env").exists() for host in ("web1", "web2", "api1", "api2")} == {
        "web1": True, "web2": True, "api1": False, "api2": False}
    message = " ".join(result.stdout.split())
    assert ("these hosts keep their files and the token they hold (still valid until it expires): api1, api2."
            in message), result.stdout


def test_a_repeated_rolling_play_whose_token_step_fails_still_names_its_batch(groups, emulator):
    # The second play has the same name and hosts as the first, which wrote every host.
    result = groups.run("site_serial_twice.yml")
    assert result.rc != 0
    message = " ".join(result.stdout.split())
    assert ("these hosts keep their files and the token they hold (still valid until it expires): web1."
            in message), result.stdout


def test_a_rotation_with_a_limit_keeps_the_token_the_hosts_outside_it_hold_unless_the_user_opts_in(groups, emulator):
    assert groups.run("site_two_plays.yml").rc == 0
    old = groups.token("web1")

    # A dry run of a limited rotation: nothing rotates in check mode, so nothing is refused.
    checked = groups.run("site_two_plays.yml", "--check", "-e", "service_token_rotate=true", "--limit", "web1")
    assert checked.rc == 0, checked.output
    assert groups.tokens() == {"web1": old, "api1": old}
    assert emulator.stats()["tokens_issued"] == 1
    assert "was not revoked" not in checked.stdout

    # Monthly pipelines rotate group by group with --limit: that still works, and api1, outside
    # the limit, keeps a working token.
    limited = groups.run("site_two_plays.yml", "-e", "service_token_rotate=true", "--limit", "web1")
    assert limited.rc == 0, limited.output
    new = groups.token("web1")
    assert new != old and groups.token("api1") == old
    assert emulator.is_token_valid(new) and emulator.is_token_valid(old)
    assert emulator.stats()["revoked"] == 0
    message = " ".join(limited.stdout.split())
    for words in ("The previous token was not revoked: this run is limited (--limit web1)",
                  "hosts outside the limit keep it until it expires", "without rotating",
                  "service_token_revoke_with_limit: true"):
        assert words in message, limited.stdout

    opted_in = groups.run("site_two_plays.yml", "-e", "service_token_rotate=true",
                          "-e", "service_token_revoke_with_limit=true", "--limit", "api1")
    assert opted_in.rc == 0, opted_in.output
    assert emulator.is_token_valid(groups.token("api1"))
    assert emulator.stats()["tokens_issued"] == 3
    assert not emulator.is_token_valid(new)  # web1's: what the opt-in accepts, until web1's next run
    assert "was not revoked" not in opted_in.stdout

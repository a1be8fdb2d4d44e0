# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The password grant (RFC 6749 section 4.3) with company system users: the lookup, the
module and the role, through the real ansible-playbook, against the emulator with users."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from tests.integration.conftest import BIN, CLIENT_ID, CLIENT_SECRET, SYSTEM_USERS, core_independent
from tests.integration.targets.secret_leak_scan.test_secret_leak_scan import (
    VAULT_PASSWORD,
    LeakScan,
    token_cache_class,
    vaulted_vars_file,
)
from tests.integration.targets.lookup_telenor_token.test_lookup_telenor_token import encrypt_string

HERE = Path(__file__).parent
LOOKUP_FLEET = HERE.parent / "lookup_telenor_token" / "fleet.yml"
(FIRST_USER, FIRST_PASSWORD), (SECOND_USER, SECOND_PASSWORD) = SYSTEM_USERS.items()
WRONG_PASSWORD = "Wrong-Pw:77f0-never-print-me"
PLAYBOOK_VARS = {"first_user": FIRST_USER, "first_password": FIRST_PASSWORD,
                 "second_user": SECOND_USER, "second_password": SECOND_PASSWORD, "wrong_password": WRONG_PASSWORD}
# The second user also in the lookup's own variables (two_users.yml reads them).
USERS = {**PLAYBOOK_VARS, "telenor_username": SECOND_USER, "telenor_password": SECOND_PASSWORD}
SYSTEM_USER_HINT = ("system user's username and password", "Min Bedrift, in its API section",
                    "not a person's Connectid or Min Bedrift login")


def test_two_system_users_get_two_working_tokens_and_a_rerun_makes_no_request(users_ansible, users_emulator):
    run = users_ansible.run(HERE / "two_users.yml", inventory=users_ansible.inventory(2), extra_vars=USERS)
    assert run.rc == 0, run.output
    stats = users_emulator.stats()
    assert stats["token_requests_by_grant"] == {"password": 2}  # one per user, for 2 hosts
    assert stats["protected_requests"] == 4

    rerun = users_ansible.run(HERE / "two_users.yml", inventory=users_ansible.inventory(2), extra_vars=USERS)
    assert rerun.rc == 0, rerun.output
    assert users_emulator.stats()["token_requests"] == 2


def test_a_wrong_password_gets_the_explained_error_from_module_and_lookup(users_ansible, users_emulator):
    run = users_ansible.run(HERE / "wrong_password.yml", inventory=users_ansible.inventory(2), extra_vars=USERS)
    assert run.rc == 0, run.output  # the playbook asserts on both failures
    for words in SYSTEM_USER_HINT:
        assert run.output.count(words) >= 2, (words, run.output)  # the module's message and the lookup's
    assert WRONG_PASSWORD not in run.output
    assert users_emulator.stats()["tokens_issued"] == 0


@pytest.mark.parametrize(
    ("case", "words"),
    [
        pytest.param("module_password_without_username", "grant_type=password needs username", id="module-no-username"),
        pytest.param("module_client_credentials_with_username", "username given with grant_type=client_credentials",
                     id="module-username-with-client-credentials"),
        pytest.param("lookup_password_without_password", "grant_type=password needs password", id="lookup-no-password"),
        pytest.param("lookup_client_credentials_with_user",
                     "username and password given with grant_type=client_credentials",
                     id="lookup-user-with-client-credentials"),
    ],
)
def test_grant_options_that_do_not_fit_fail_before_any_request(users_ansible, users_emulator, case, words):
    run = users_ansible.run(HERE / "bad_options.yml", extra_vars={**PLAYBOOK_VARS, "case": case})
    assert run.rc != 0
    assert words in run.output, run.output
    assert FIRST_PASSWORD not in run.output
    assert users_emulator.stats()["token_requests"] == 0


def test_a_password_vaulted_with_encrypt_string_in_group_vars_is_read(users_ansible, users_emulator):
    """The lookup reads the system user from the telenor_* variables, the password inline-vaulted
    as the README vaults it (encrypt_string --stdin-name); 1.1.1 refused it ("password must be a string")."""
    password_file = users_ansible.workdir / "vault-password"
    password_file.write_text(VAULT_PASSWORD)
    group_vars = users_ansible.workdir / "group_vars" / "all"
    group_vars.mkdir(parents=True)
    (group_vars / "telenor.yml").write_text(
        f"telenor_grant_type: password\ntelenor_username: {FIRST_USER}\n"
        + encrypt_string(users_ansible, password_file, "telenor_password", FIRST_PASSWORD)
    )
    run = users_ansible.run(LOOKUP_FLEET, inventory=users_ansible.inventory(2),
                            args=("--vault-password-file", str(password_file)))
    assert run.rc == 0, run.output
    assert users_emulator.stats()["token_requests_by_grant"] == {"password": 1}
    assert users_emulator.stats()["protected_requests"] == 2
    assert FIRST_PASSWORD not in run.output


@core_independent
def test_state_absent_revokes_a_password_grant_token(users_ansible, users_emulator):
    run = users_ansible.run(HERE / "absent.yml", inventory=users_ansible.inventory(2), extra_vars=USERS)
    assert run.rc == 0, run.output
    stats = users_emulator.stats()
    assert stats["revoked"] == 1
    assert stats["tokens_issued"] == 3  # first user, second user, first user's fresh one


def _expire_cached_token(ansible, collections_path, username: str) -> None:
    """Make the cached record of ``username`` look expired (its refresh token kept), as it
    would be an hour later: deterministic, where waiting for a short-lived token is not."""
    cache = token_cache_class(collections_path)(
        str(ansible.cache_dir), api_url=ansible.emulator.url, client_id=CLIENT_ID, scope=None,
        client_secret=CLIENT_SECRET, grant_type="password", username=username, password=SYSTEM_USERS[username])
    with cache.locked():
        record = cache.load()
        assert record is not None and record.refresh_token, f"no cached token of {username} with a refresh token"
        cache.store(dataclasses.replace(record, issued_at=record.issued_at - record.lifetime - 60,
                                        expires_at=record.expires_at - record.lifetime - 60))


@core_independent
def test_a_refresh_keeps_the_user_and_a_refused_refresh_falls_back_to_the_password_grant(
        users_ansible, users_emulator, collections_path):
    inventory = users_ansible.inventory(2)
    assert users_ansible.run(HERE / "lookup_user.yml", inventory=inventory, extra_vars=USERS).rc == 0
    _expire_cached_token(users_ansible, collections_path, FIRST_USER)
    run = users_ansible.run(HERE / "lookup_user.yml", inventory=inventory, extra_vars=USERS)
    assert run.rc == 0, run.output  # the playbook checks that the refreshed token is the first user's
    assert users_emulator.stats()["token_requests_by_grant"] == {"password": 1, "refresh_token": 1}

    users_emulator.reset()  # the emulator forgets every token and refresh token
    _expire_cached_token(users_ansible, collections_path, FIRST_USER)
    run = users_ansible.run(HERE / "lookup_user.yml", inventory=inventory, extra_vars=USERS)
    assert run.rc == 0, run.output  # the refresh is refused (401 code 7); the password grant's token is the user's
    assert users_emulator.stats()["token_requests_by_grant"] == {"refresh_token": 1, "password": 1}


# --- the secret-leak scan, with the system users' passwords ------------------------------------


class PasswordLeakScan(LeakScan):
    """The secret leak scan, also looking for the system users' passwords."""

    def needles(self) -> dict[str, str]:
        found = super().needles()
        for username, password in {**SYSTEM_USERS, "(wrong)": WRONG_PASSWORD}.items():
            found[f"the password of {username}"] = password
            found[f"the password of {username}, URL-encoded (as in the token request body)"] = quote(password, safe="")
        return found

    def collect_user(self, where: str, username: str, *, api_url: str) -> None:
        cache = self.token_cache(str(self.ansible.cache_dir), api_url=api_url, client_id=CLIENT_ID, scope=None,
                                 client_secret=CLIENT_SECRET, grant_type="password", username=username,
                                 password=SYSTEM_USERS[username])
        record = cache.load()
        assert record is not None, f"no cached token of {username} to collect after {where}"
        self.add_token(record.access_token, f"cache of {username} after {where}")
        assert record.refresh_token, "the emulator issues refresh tokens with the password grant"
        self.add_token(record.refresh_token, f"cache of {username} after {where} (refresh token)")

    def assert_every_issued_token_collected(self, emulator) -> None:
        access = [where for where in self.tokens.values() if "(refresh token)" not in where]
        assert emulator.stats()["tokens_issued"] == len(access), sorted(self.tokens.values())


def test_password_grant_scenarios_leak_no_password_and_no_token(users_ansible, users_emulator, collections_path):
    scan = PasswordLeakScan(users_ansible, collections_path)
    vars_file, password_file = vaulted_vars_file(users_ansible, USERS)
    assert FIRST_PASSWORD not in vars_file.read_text()
    secret_args = ("-e", f"@{vars_file}", "--vault-password-file", str(password_file))
    inventory = users_ansible.inventory(2)
    url = users_emulator.url

    scan.run("two_users.yml", HERE / "two_users.yml", inventory=inventory, args=secret_args)
    scan.collect_user("two_users.yml", FIRST_USER, api_url=url)
    scan.collect_user("two_users.yml", SECOND_USER, api_url=url)
    scan.run("wrong_password.yml", HERE / "wrong_password.yml", inventory=inventory, args=secret_args)
    scan.run("absent.yml", HERE / "absent.yml", inventory=inventory, args=secret_args)
    scan.collect_user("absent.yml, which fetches a fresh token last", FIRST_USER, api_url=url)

    assert users_emulator.stats()["revoked"] == 1
    scan.assert_every_issued_token_collected(users_emulator)
    scan.assert_cache_private()
    scan.assert_no_leaks()


def test_the_scan_would_find_a_leaked_password(users_ansible, collections_path):
    scan = PasswordLeakScan(users_ansible, collections_path)
    scan.add_token("planted-token-0123456789abcdefghijklmnopqrstu", "planted")
    scan.outputs.append(("a run: stdout", f"password={quote(SECOND_PASSWORD, safe='')}&grant_type=password"))

    found = "\n".join(scan.hits())

    assert f"the password of {SECOND_USER}, URL-encoded" in found and SECOND_PASSWORD not in found


# --- the role over several hosts, with a vaulted password ------------------------------------------

ROLE_HOSTS = ("app1", "app2", "app3")


@pytest.fixture
def role_fleet(users_ansible, tmp_path):
    """Three local hosts; the client secret and the system user's password in a vaulted group_vars file."""
    base = tmp_path / "hosts"
    for host in ROLE_HOSTS:
        (base / host).mkdir(parents=True)
    group_vars = tmp_path / "group_vars" / "all"
    group_vars.mkdir(parents=True)
    (group_vars / "main.yml").write_text(yaml.safe_dump({
        "telenor_client_id": CLIENT_ID, "telenor_api_url": users_ansible.emulator.url, "it_base": str(base),
        "service_token_grant_type": "password", "service_token_username": FIRST_USER, "it_system_user": FIRST_USER,
    }))
    password = tmp_path / "vault-password"
    password.write_text(VAULT_PASSWORD)
    password.chmod(0o600)
    secrets = group_vars / "vault.yml"
    secrets.write_text(yaml.safe_dump({"telenor_client_secret": CLIENT_SECRET, "service_token_password": FIRST_PASSWORD,
                                       "it_system_user_password": FIRST_PASSWORD}))
    subprocess.run([str(BIN / "ansible-vault"), "encrypt", "--vault-password-file", str(password), str(secrets)],
                   check=True, capture_output=True, env=users_ansible.env)
    assert FIRST_PASSWORD not in secrets.read_text()
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("[fleet]\n" + "".join(
        f"{host} ansible_connection=local ansible_python_interpreter={sys.executable}\n" for host in ROLE_HOSTS))
    for name in ("TELENOR_CLIENT_ID", "TELENOR_CLIENT_SECRET", "TELENOR_API_URL"):
        users_ansible.env.pop(name, None)  # everything comes from the (vaulted) inventory
    return {"inventory": inventory, "base": base, "args": ("--vault-password-file", str(password))}


def _run_role(users_ansible, users_emulator, role_fleet, playbook: str) -> None:
    run = users_ansible.run(HERE / playbook, inventory=role_fleet["inventory"], forks=3, args=role_fleet["args"])
    assert run.rc == 0, run.output
    tokens = {(role_fleet["base"] / host / "token").read_text().strip() for host in ROLE_HOSTS}
    assert len(tokens) == 1, "the hosts got different tokens"
    owner = users_emulator.token_owner(tokens.pop())
    assert owner is not None and owner["username"] == FIRST_USER
    assert users_emulator.stats()["token_requests_by_grant"] == {"password": 1}  # one request for the fleet
    assert FIRST_PASSWORD not in run.output

    rerun = users_ansible.run(HERE / playbook, inventory=role_fleet["inventory"], forks=3, args=role_fleet["args"])
    assert rerun.rc == 0, rerun.output
    assert users_emulator.stats()["token_requests"] == 1


def test_the_plays_own_tasks_take_a_vaulted_system_user_through_module_defaults(
        users_ansible, users_emulator, role_fleet):
    # The fleet's group_vars give the role's service_token_* variables too, which these tasks do
    # not read: only module_defaults can make their token the system user's.
    _run_role(users_ansible, users_emulator, role_fleet, "play_module_defaults.yml")


def test_the_role_over_several_hosts_with_a_vaulted_password_in_its_variables(users_ansible, users_emulator, role_fleet):
    _run_role(users_ansible, users_emulator, role_fleet, "role_site.yml")

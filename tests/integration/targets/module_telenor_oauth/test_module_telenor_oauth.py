# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The telenor_oauth module, through the real ansible-playbook, against the emulator."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import CLIENT_ID, CLIENT_SECRET

HERE = Path(__file__).parent
ROOT = HERE.parents[3]


def recap_changed(output: str) -> dict[str, int]:
    return {host: int(changed) for host, changed in re.findall(r"^(\S+)\s+: ok=\d+\s+changed=(\d+)", output, re.M)}


def test_present_twice_changes_once_and_makes_one_request(ansible, emulator):
    run = ansible.run(HERE / "present_twice.yml", inventory=ansible.inventory(3))
    assert run.rc == 0, run.output
    assert emulator.stats()["token_requests"] == 1

    rerun = ansible.run(HERE / "present_twice.yml", inventory=ansible.inventory(3))
    assert rerun.rc != 0  # 'first is changed' no longer holds: the cached token is reused
    assert emulator.stats()["token_requests"] == 1


@pytest.mark.parametrize("revoke_previous", [True, False])
def test_force_rotates_and_revokes_the_previous_token_when_asked(ansible, emulator, revoke_previous):
    run = ansible.run(HERE / "rotate.yml", inventory=ansible.inventory(2), extra_vars={"revoke_previous": revoke_previous})
    assert run.rc == 0, run.output
    stats = emulator.stats()
    assert stats["tokens_issued"] == 2
    assert stats["revoked"] == (1 if revoke_previous else 0)


def test_absent_revokes_and_is_idempotent(ansible, emulator):
    run = ansible.run(HERE / "absent.yml", inventory=ansible.inventory(2))
    assert run.rc == 0, run.output
    stats = emulator.stats()
    assert stats["revoked"] == 1
    assert stats["tokens_issued"] == 2  # the module's, then the lookup's fresh one


def test_check_mode_makes_no_request(ansible, emulator):
    run = ansible.run(HERE / "check_mode.yml", inventory=ansible.inventory(2))
    assert run.rc == 0, run.output
    stats = emulator.stats()
    assert stats["token_requests"] == 0
    assert stats["logout_requests"] == 0


def test_many_hosts_delegating_at_once_make_one_request_shared_with_the_lookup(ansible, emulator):
    run = ansible.run(HERE / "shared_with_lookup.yml", inventory=ansible.inventory(10), forks=10)
    assert run.rc == 0, run.output
    assert emulator.stats()["token_requests"] == 1
    assert sum(recap_changed(run.stdout).values()) == 1


def test_module_defaults_action_group(ansible, emulator):
    env = {"TELENOR_CLIENT_ID": "", "TELENOR_CLIENT_SECRET": ""}
    run = ansible.run(HERE / "module_defaults.yml", inventory=ansible.inventory(1), env=env,
                      extra_vars={"it_client_id": CLIENT_ID, "it_client_secret": CLIENT_SECRET})
    assert run.rc == 0, run.output
    assert emulator.stats()["tokens_issued"] == 1


def test_bad_secret_fails_with_the_seed_meaning_and_no_secret(ansible, emulator):
    # Through the environment: ansible-playbook itself echoes -e values at -vvvv.
    run = ansible.run(HERE / "fail.yml", inventory=ansible.inventory(1), args=("-vvvv",),
                      env={"TELENOR_CLIENT_SECRET": "wrong:secret-value"})
    assert run.rc != 0
    assert "Telenor error code 22" in run.output
    assert "Connectid" in run.output
    assert "wrong:secret-value" not in run.output
    assert CLIENT_SECRET not in run.output


def test_an_empty_client_id_in_the_environment_names_the_option(ansible, emulator):
    run = ansible.run(HERE / "fail.yml", inventory=ansible.inventory(1), env={"TELENOR_CLIENT_ID": ""})
    assert run.rc != 0
    assert "No client_id given" in run.output
    assert "TELENOR_CLIENT_ID" in run.output
    assert emulator.stats()["token_requests"] == 0


def test_failed_logout_keeps_the_token_cached(ansible, emulator):
    obtain = ansible.run(HERE / "fail.yml", inventory=ansible.inventory(1))
    assert obtain.rc == 0, obtain.output
    emulator.faults(logout_fail_next=10)
    revoke = ansible.run(HERE / "fail.yml", inventory=ansible.inventory(1),
                         extra_vars={"module_options": {"state": "absent", "retries": 1}})
    assert revoke.rc != 0
    assert "HTTP 500" in revoke.output and "Internal Server Error" in revoke.output
    emulator.clear_faults()
    again = ansible.run(HERE / "fail.yml", inventory=ansible.inventory(1), args=("-v",))
    assert again.rc == 0
    assert '"cached": true' in again.output
    assert emulator.stats()["tokens_issued"] == 1


@pytest.mark.parametrize(
    ("recipe", "outcome"),
    [
        # The EXAMPLES' recipe: the job's own token dies, the deployed one keeps working.
        pytest.param("own_cache", "deployed=200 job=401 fingerprint_names=job fingerprint_is_deployed=False"
                     " same_token=False", id="own-cache-dir-revoked-by-access_token"),
        # state=absent on the shared cache revokes the token the role deployed, and says so.
        pytest.param("shared_absent", "deployed=401 job=401 fingerprint_names=job fingerprint_is_deployed=True"
                     " same_token=True", id="shared-cache-state-absent"),
    ],
)
def test_a_jobs_revocation_spares_the_deployed_token_and_names_what_it_revoked(ansible, emulator, tmp_path,
                                                                               recipe, outcome):
    base = tmp_path / "deployed"
    base.mkdir()
    run = ansible.run(HERE / "job_token.yml", inventory=ansible.inventory(2),
                      extra_vars={"recipe": recipe, "it_base": str(base)})
    assert run.rc == 0, run.output
    reports = set(re.findall(r"OUTCOME ([^\"\n]+)", run.stdout))
    assert reports == {outcome}, run.stdout
    assert emulator.stats()["revoked"] == 1


def readme_module_recipe() -> list:
    """The README's play under "The module: obtain, rotate, revoke as tasks", as written there."""
    section = (ROOT / "README.md").read_text().split("## The module: obtain, rotate, revoke as tasks", 1)[1]
    return yaml.safe_load(section.split("```yaml\n", 1)[1].split("```", 1)[0])


def test_the_readmes_module_recipe_passes_on_every_variable_the_lookup_reads(ansible, emulator, tmp_path):
    # A new user's pass: the recipe passed four of them, so with telenor_ca_path (a private CA)
    # it failed, and with telenor_cache_url it rotated a token in another cache than the lookup's.
    play = readme_module_recipe()[0]
    passed = {re.search(r"\{\{ (telenor_\w+)", value).group(1)
              for value in play["module_defaults"]["group/telenor.oauth.telenor"].values()}
    fragment = (ROOT / "plugins" / "doc_fragments" / "connection.py").read_text()
    assert passed == set(re.findall(r"- name: (telenor_\w+)", fragment))

    # And it runs: the module's rotation replaces the token the lookup cached, from variables alone.
    group_vars = tmp_path / "group_vars"
    group_vars.mkdir()
    (group_vars / "all.yml").write_text(yaml.safe_dump({
        "telenor_client_id": CLIENT_ID, "telenor_client_secret": CLIENT_SECRET, "telenor_api_url": emulator.url}))
    prime = {"name": "Cache a token through the lookup", "hosts": "all", "gather_facts": False,
             "tasks": [{"name": "Look it up", "ansible.builtin.debug": {"msg": "{{ lookup('telenor.oauth.telenor_token') }}"},
                        "no_log": True}]}
    playbook = tmp_path / "recipe.yml"
    playbook.write_text(yaml.safe_dump([prime, play], sort_keys=False))
    run = ansible.run(playbook, inventory=ansible.inventory(2, name="inventory.ini"), env={
        "TELENOR_CLIENT_ID": "", "TELENOR_CLIENT_SECRET": ""})
    assert run.rc == 0, run.output
    assert emulator.stats()["tokens_issued"] == 2 and emulator.stats()["revoked"] == 1

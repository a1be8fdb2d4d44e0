# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Tests of the telenor.oauth.token_vault action plugin.

The plugin's functions are tested directly; the end-to-end tests run the real
ansible-playbook and ansible-vault against a temporary collections root whose
telenor/oauth is this checkout.
"""

from __future__ import annotations

import datetime
import grp
import os
import pwd
import stat
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from ansible._internal._datatag._tags import Origin, TrustedAsTemplate
from ansible.errors import AnsibleActionFail
from ansible.parsing.vault import VaultLib, VaultSecret, VaultSecretsContext

from ansible_collections.telenor.oauth.plugins.action import token_vault
from ansible_collections.telenor.oauth.plugins.action.token_vault import (
    ARGUMENT_SPEC,
    NO_SECRET_MESSAGE,
    ActionModule,
    ExistingVaultFile,
    TokenVaultError,
    encrypt,
    ensure_vault_file,
    plain_data,
    read_existing,
    same_data,
    vault_payload,
)
from ansible_collections.telenor.oauth.plugins.modules import token_vault as token_vault_docs

REPO_ROOT = Path(__file__).resolve().parents[4]
BIN = Path(sys.executable).parent

# Distinctive, so that a leak check cannot match by accident.
TOKEN = "tv-Token:5c1d9e2a-never-print-me"
RECORD = {
    "access_token": TOKEN,
    "token_type": "Bearer",
    "expires_in": 3599,
    "expires_at": 1795000000,
    "scope": None,
    "authorization": f"Bearer {TOKEN}",
}
DEFAULT_PASSWORD = b"pw-default-3f0c"
PROD_PASSWORD = b"pw-prod-81ab"


@pytest.fixture
def default_secret() -> VaultSecret:
    return VaultSecret(DEFAULT_PASSWORD)


@pytest.fixture
def prod_secret() -> VaultSecret:
    return VaultSecret(PROD_PASSWORD)


@pytest.fixture
def secrets(default_secret, prod_secret) -> list[tuple[str, VaultSecret]]:
    return [("default", default_secret), ("prod", prod_secret)]


def decrypt(path: Path, password: bytes) -> bytes:
    return VaultLib([("any", VaultSecret(password))]).decrypt(path.read_bytes())


def file_mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# --- the documentation stub and the argument spec -------------------------------------


def test_argument_spec_matches_the_documented_options():
    documented = yaml.safe_load(token_vault_docs.DOCUMENTATION)["options"]
    assert set(documented) == set(ARGUMENT_SPEC)
    for name, spec in ARGUMENT_SPEC.items():
        doc = documented[name]
        assert doc["type"] == spec["type"], name
        assert doc.get("required", False) == spec.get("required", False), name
        assert doc.get("default") == spec.get("default"), name


# --- serialisation ----------------------------------------------------------------------


def test_plain_data_unwraps_tagged_values_that_safe_dump_refuses():
    tagged = Origin(path="/play.yml").tag({
        "access_token": TrustedAsTemplate().tag(TOKEN),
        "expires_in": Origin(path="/play.yml", line_num=3).tag(3599),
    })
    with pytest.raises(yaml.representer.RepresenterError):
        yaml.safe_dump(tagged)
    plain = plain_data(tagged)
    assert plain == {"access_token": TOKEN, "expires_in": 3599}
    assert yaml.safe_load(yaml.safe_dump(plain)) == plain


def test_plain_data_stores_what_json_cannot_hold_as_strings():
    when = datetime.datetime(2026, 1, 2, 3, 4, 5)
    assert plain_data({"when": when, "ids": (1, 2)}) == {"when": "2026-01-02 03:04:05", "ids": [1, 2]}


def test_vault_payload_is_block_style_with_sorted_keys():
    assert vault_payload({"b": [1], "a": {"y": None, "x": "2026-01-01"}}) == (
        b"a:\n  x: '2026-01-01'\n  y: null\nb:\n- 1\n"
    )


def test_vault_payload_round_trips_the_record():
    assert yaml.safe_load(vault_payload(RECORD)) == RECORD


@pytest.mark.parametrize(
    ("stored", "expected"),
    [
        pytest.param(vault_payload(RECORD), True, id="identical"),
        pytest.param(b"{expires_in: 3599, access_token: '" + TOKEN.encode() + b"', token_type: Bearer,"
                     b" expires_at: 1795000000, scope: ~, authorization: 'Bearer " + TOKEN.encode() + b"'}",
                     True, id="same-data-other-layout"),
        pytest.param(vault_payload({**RECORD, "expires_in": 10}), False, id="other-value"),
        pytest.param(vault_payload({**RECORD, "extra": 1}), False, id="extra-key"),
        pytest.param(vault_payload({**RECORD, "expires_in": "3599"}), False, id="string-not-int"),
        pytest.param(b"a: [unclosed", False, id="not-yaml"),
        pytest.param(b"- a list\n", False, id="not-a-mapping"),
        pytest.param(b"", False, id="empty"),
    ],
)
def test_same_data(stored, expected):
    assert same_data(stored, vault_payload(RECORD)) is expected


def test_same_data_tells_true_from_one():
    assert not same_data(vault_payload({"a": 1}), vault_payload({"a": True}))


# --- options ------------------------------------------------------------------------------


def test_ensure_without_a_vault_id_encrypts_with_the_runs_first_secret(tmp_path, secrets):
    # As ansible-vault encrypt does when it is given one secret.
    path = tmp_path / "token.vault"
    result = ensure_vault_file(str(path), RECORD, secrets=list(reversed(secrets)), vault_id="")
    assert result["vault_id"] == "prod"
    assert path.read_bytes().startswith(b"$ANSIBLE_VAULT;1.2;AES256;prod\n")
    assert yaml.safe_load(decrypt(path, PROD_PASSWORD)) == RECORD


def test_ensure_with_an_unknown_vault_id_names_the_loaded_ids_only_and_writes_nothing(tmp_path, secrets):
    path = tmp_path / "token.vault"
    with pytest.raises(TokenVaultError) as caught:
        ensure_vault_file(str(path), RECORD, secrets=secrets + [("prod", VaultSecret(b"again"))], vault_id="staging")
    message = str(caught.value)
    assert message.startswith("vault_id 'staging' is not one of this run's vault ids (default, prod)")
    assert "pw-" not in message and "again" not in message
    assert not path.exists()


@pytest.mark.parametrize(
    ("path", "message"),
    [
        pytest.param("token.vault", "must be absolute", id="relative"),
        pytest.param("{tmp}/missing/token.vault", "does not exist", id="no-directory"),
        pytest.param("{tmp}", "is a directory", id="directory"),
        pytest.param("{tmp}/token.vault", "mode must be", id="bad-mode"),
    ],
)
def test_ensure_refuses_a_path_or_mode_it_cannot_write(tmp_path, secrets, path, message):
    with pytest.raises(TokenVaultError, match=message):
        ensure_vault_file(path.format(tmp=tmp_path), RECORD, secrets=secrets, mode="0800" if "mode" in message else "0600")
    assert os.listdir(tmp_path) == []


def test_ensure_writes_the_file_a_symlink_points_to_as_ansible_vault_does(tmp_path, secrets):
    (tmp_path / "real").mkdir()
    link = tmp_path / "token.vault"
    link.symlink_to(tmp_path / "real" / "token.vault")
    assert ensure_vault_file(str(link), RECORD, secrets=secrets)["changed"] is True
    assert link.is_symlink()
    assert yaml.safe_load(decrypt(tmp_path / "real" / "token.vault", DEFAULT_PASSWORD)) == RECORD


def _private_group_of_ours() -> bool:
    """Whether our primary group is a user private group: named after us, with no other member."""
    me, group = pwd.getpwuid(os.geteuid()), grp.getgrgid(os.getegid())
    return group.gr_name == me.pw_name and set(group.gr_mem) <= {me.pw_name}


@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "check-mode"])
@pytest.mark.parametrize("dangling", [False, True], ids=["to-a-file", "dangling"])
@pytest.mark.parametrize(
    "writable_by",
    [
        pytest.param(0o020, marks=pytest.mark.skipif(os.geteuid() != 0, reason="giving a directory to another group needs root"),
                     id="group"),
        pytest.param(0o002, id="everyone"),
    ],
)
def test_ensure_refuses_a_link_in_a_directory_others_can_write_and_writes_nothing(
    tmp_path, secrets, dangling, writable_by, check_mode
):
    # Someone who may write the vault file's directory points its name at a file of the
    # controller user's (group_vars/all/vault.yml, or a file to create in /etc as root).
    victim = tmp_path / "victim"
    victim.mkdir()
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755 | writable_by)
    if writable_by == 0o020:
        os.chown(shared, -1, grp.getgrnam("nogroup").gr_gid)  # not our private group: others may be in it
    link = shared / "token.vault"
    link.symlink_to(victim / ("new.yml" if dangling else "vault.yml"))
    if not dangling:
        (victim / "vault.yml").write_bytes(b"precious\n")

    with pytest.raises(TokenVaultError) as caught:
        ensure_vault_file(str(link), RECORD, secrets=secrets, check_mode=check_mode)

    assert str(caught.value).startswith(f"path {link} is a symbolic link in a directory that others can change")
    assert sorted(os.listdir(victim)) == ([] if dangling else ["vault.yml"])
    if not dangling:
        assert (victim / "vault.yml").read_bytes() == b"precious\n"


def test_ensure_follows_a_chain_of_links_in_directories_only_we_can_change(tmp_path, secrets):
    (tmp_path / "real").mkdir()
    (tmp_path / "real" / "alias.vault").symlink_to(tmp_path / "real" / "token.vault")
    link = tmp_path / "token.vault"
    link.symlink_to("real/alias.vault")  # relative, as links in a project often are
    assert ensure_vault_file(str(link), RECORD, secrets=secrets)["changed"] is True
    assert yaml.safe_load(decrypt(tmp_path / "real" / "token.vault", DEFAULT_PASSWORD)) == RECORD


@pytest.mark.skipif(not _private_group_of_ours(), reason="our group is not a user private group")
def test_ensure_follows_a_link_in_a_directory_only_our_private_group_may_write(tmp_path, secrets):
    # Systems with umask 002 make a project's directories 0775, group-writable by a group of the
    # user's own that no one else is in.
    (tmp_path / "real").mkdir()
    project = tmp_path / "project"
    project.mkdir()
    project.chmod(0o775)
    link = project / "token.vault"
    link.symlink_to(tmp_path / "real" / "token.vault")
    assert ensure_vault_file(str(link), RECORD, secrets=secrets)["changed"] is True
    assert yaml.safe_load(decrypt(tmp_path / "real" / "token.vault", DEFAULT_PASSWORD)) == RECORD


def test_ensure_reads_dot_dot_after_a_linked_directory_as_the_kernel_does(tmp_path, secrets):
    # group_vars -> inventories/prod/group_vars: "group_vars/../token.vault" is in inventories/prod.
    (tmp_path / "inventories" / "prod" / "group_vars").mkdir(parents=True)
    (tmp_path / "group_vars").symlink_to(tmp_path / "inventories" / "prod" / "group_vars")
    assert ensure_vault_file(f"{tmp_path}/group_vars/../token.vault", RECORD, secrets=secrets)["changed"] is True
    assert yaml.safe_load(decrypt(tmp_path / "inventories" / "prod" / "token.vault", DEFAULT_PASSWORD)) == RECORD
    assert not (tmp_path / "token.vault").exists()


# --- reading and encrypting ------------------------------------------------------


def test_read_existing_without_a_file(tmp_path, secrets):
    assert read_existing(str(tmp_path / "absent"), secrets) is None


def test_read_existing_decrypts_and_reports_secret_label_and_mode(tmp_path, secrets, prod_secret):
    path = tmp_path / "token.vault"
    path.write_bytes(encrypt(b"a: 1\n", vault_id="prod", secret=prod_secret))
    path.chmod(0o640)
    existing = read_existing(str(path), secrets)
    assert existing == ExistingVaultFile(
        plaintext=b"a: 1\n", secret=prod_secret, label="prod", mode=0o640, vaulttext=path.read_bytes(),
        owner=path.stat().st_uid, group=path.stat().st_gid,
    )


def test_read_existing_refuses_a_file_that_is_not_a_vault(tmp_path, secrets):
    path = tmp_path / "notes.txt"
    path.write_text(f"{TOKEN}\n")
    with pytest.raises(TokenVaultError) as caught:
        read_existing(str(path), secrets)
    assert str(path) in str(caught.value) and "not an Ansible Vault file" in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_read_existing_refuses_a_vault_of_another_secret(tmp_path, secrets):
    path = tmp_path / "token.vault"
    path.write_bytes(encrypt(vault_payload(RECORD), vault_id="default", secret=VaultSecret(b"someone else's")))
    with pytest.raises(TokenVaultError, match="none of this run's vault secrets decrypts") as caught:
        read_existing(str(path), secrets)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


@pytest.mark.parametrize(("vault_id", "header"), [("default", b"$ANSIBLE_VAULT;1.1;AES256\n"), ("prod", b"$ANSIBLE_VAULT;1.2;AES256;prod\n")])
def test_encrypt_labels_ids_other_than_default(vault_id, header, prod_secret):
    vaulttext = encrypt(b"a: 1\n", vault_id=vault_id, secret=prod_secret)
    assert vaulttext.startswith(header)
    assert VaultLib([("x", VaultSecret(PROD_PASSWORD))]).decrypt(vaulttext) == b"a: 1\n"


# --- the whole operation ------------------------------------------------------------------


def test_ensure_writes_then_reports_no_change(tmp_path, secrets):
    path = tmp_path / "token.vault"
    first = ensure_vault_file(str(path), RECORD, secrets=secrets)
    assert first == {"changed": True, "path": str(path), "vault_id": "default"}
    assert file_mode(path) == 0o600
    assert path.read_bytes().startswith(b"$ANSIBLE_VAULT;1.1;AES256\n")
    assert yaml.safe_load(decrypt(path, DEFAULT_PASSWORD)) == RECORD
    before = path.read_bytes()
    second = ensure_vault_file(str(path), dict(reversed(list(RECORD.items()))), secrets=secrets)
    assert second == {"changed": False, "path": str(path), "vault_id": "default"}
    assert path.read_bytes() == before


def test_ensure_result_never_holds_the_content(tmp_path, secrets):
    result = ensure_vault_file(str(tmp_path / "token.vault"), RECORD, secrets=secrets)
    assert set(result) == {"changed", "path", "vault_id"}
    assert TOKEN not in repr(result)


def test_ensure_rewrites_changed_data(tmp_path, secrets):
    path = tmp_path / "token.vault"
    ensure_vault_file(str(path), RECORD, secrets=secrets)
    new = {**RECORD, "access_token": "rotated"}
    assert ensure_vault_file(str(path), new, secrets=secrets)["changed"] is True
    assert yaml.safe_load(decrypt(path, DEFAULT_PASSWORD)) == new


def test_ensure_with_a_named_vault_id_rewrites_for_that_id(tmp_path, secrets):
    path = tmp_path / "token.vault"
    ensure_vault_file(str(path), RECORD, secrets=secrets)
    result = ensure_vault_file(str(path), RECORD, secrets=secrets, vault_id="prod")
    assert result == {"changed": True, "path": str(path), "vault_id": "prod"}
    assert path.read_bytes().startswith(b"$ANSIBLE_VAULT;1.2;AES256;prod\n")
    assert yaml.safe_load(decrypt(path, PROD_PASSWORD)) == RECORD
    assert ensure_vault_file(str(path), RECORD, secrets=secrets, vault_id="prod")["changed"] is False


def test_ensure_fixes_the_mode_alone(tmp_path, secrets):
    path = tmp_path / "token.vault"
    ensure_vault_file(str(path), RECORD, secrets=secrets)
    before = path.read_bytes()
    assert ensure_vault_file(str(path), RECORD, secrets=secrets, mode="0640")["changed"] is True
    assert file_mode(path) == 0o640 and path.read_bytes() == before


def test_ensure_fixes_the_mode_without_a_chmod_by_path(tmp_path, secrets, monkeypatch):
    """A link put at the path after the file was read does not get its target chmod-ed."""
    path = tmp_path / "token.vault"
    ensure_vault_file(str(path), RECORD, secrets=secrets)
    before = path.read_bytes()
    other = tmp_path / "other-file"
    other.write_text("someone else's\n")
    other.chmod(0o644)
    real_read = token_vault.read_existing

    def read_then_plant(target, secrets_):
        existing = real_read(target, secrets_)
        os.unlink(target)
        os.symlink(other, target)
        return existing

    monkeypatch.setattr(token_vault, "read_existing", read_then_plant)

    assert ensure_vault_file(str(path), RECORD, secrets=secrets, mode="0640")["changed"] is True

    assert file_mode(other) == 0o644 and other.read_text() == "someone else's\n"
    assert not path.is_symlink() and file_mode(path) == 0o640 and path.read_bytes() == before


def test_ensure_in_check_mode_writes_nothing(tmp_path, secrets):
    path = tmp_path / "token.vault"
    assert ensure_vault_file(str(path), RECORD, secrets=secrets, check_mode=True)["changed"] is True
    assert not path.exists()
    ensure_vault_file(str(path), RECORD, secrets=secrets)
    before = path.read_bytes()
    assert ensure_vault_file(str(path), {"a": 1}, secrets=secrets, check_mode=True)["changed"] is True
    assert ensure_vault_file(str(path), RECORD, secrets=secrets, check_mode=True)["changed"] is False
    assert path.read_bytes() == before


def read_only_directory(directory: Path, monkeypatch) -> None:
    """Make ``directory`` one that the user running the tests may not write to, root included."""
    if os.geteuid() != 0:
        directory.chmod(0o500)
        return
    real_access = os.access  # root may write anywhere: deny it here, as a read-only mount would

    def access(path, mode, **kwargs):
        if os.path.realpath(path) == str(directory) and mode & os.W_OK:
            return False
        return real_access(path, mode, **kwargs)

    monkeypatch.setattr(os, "access", access)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        pytest.param("missing/token.vault", "does not exist", id="no-directory"),
        pytest.param("a-file/token.vault", "is not a directory", id="under-a-file"),
        pytest.param("read-only/token.vault", "is not writable by the user that runs Ansible", id="read-only"),
    ],
)
def test_ensure_in_check_mode_fails_where_the_write_would(tmp_path, secrets, monkeypatch, name, message):
    # The service_token role checks its vault file in check mode before it writes any service
    # file: check mode must fail where the real run would fail to write.
    (tmp_path / "a-file").write_text("not a directory\n")
    (tmp_path / "read-only").mkdir()
    read_only_directory(tmp_path / "read-only", monkeypatch)
    path = tmp_path / name
    with pytest.raises(TokenVaultError, match=message) as caught:
        ensure_vault_file(str(path), RECORD, secrets=secrets, check_mode=True)
    assert f"path {path} ({path.parent})" in str(caught.value)
    assert TOKEN not in str(caught.value)
    assert not path.exists()


def test_ensure_in_check_mode_passes_an_existing_vault_file_in_a_writable_directory(tmp_path, secrets):
    path = tmp_path / "token.vault"
    ensure_vault_file(str(path), RECORD, secrets=secrets)
    assert ensure_vault_file(str(path), RECORD, secrets=secrets, check_mode=True)["changed"] is False


def test_ensure_leaves_a_vault_of_another_secret_untouched(tmp_path, secrets):
    path = tmp_path / "token.vault"
    path.write_bytes(encrypt(b"theirs: 1\n", vault_id="default", secret=VaultSecret(b"other")))
    before = path.read_bytes()
    with pytest.raises(TokenVaultError) as caught:
        ensure_vault_file(str(path), RECORD, secrets=secrets)
    assert str(path) in str(caught.value) and TOKEN not in str(caught.value)
    assert path.read_bytes() == before


def test_ensure_keeps_the_old_file_when_the_write_fails(tmp_path, secrets, monkeypatch):
    path = tmp_path / "token.vault"
    ensure_vault_file(str(path), RECORD, secrets=secrets)
    before = path.read_bytes()

    def failing_replace(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "replace", failing_replace)
    with pytest.raises(TokenVaultError, match=f"Could not write path {path}: No space left on device"):
        ensure_vault_file(str(path), {"a": 1}, secrets=secrets)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["token.vault"]


def test_ensure_rewrites_a_payload_nested_too_deeply_to_compare(tmp_path, secrets):
    path = tmp_path / "token.vault"
    path.write_bytes(encrypt(b"a: " + b"[" * 20_000 + b"]" * 20_000 + b"\n", vault_id="default", secret=secrets[0][1]))
    assert ensure_vault_file(str(path), RECORD, secrets=secrets)["changed"] is True
    assert yaml.safe_load(decrypt(path, DEFAULT_PASSWORD)) == RECORD


@pytest.mark.parametrize("no_secrets", [None, []])
def test_ensure_without_secrets_says_how_to_give_one_before_touching_anything(tmp_path, no_secrets):
    path = tmp_path / "token.vault"
    with pytest.raises(TokenVaultError) as caught:
        ensure_vault_file(str(path), RECORD, secrets=no_secrets)
    assert str(caught.value) == NO_SECRET_MESSAGE
    assert "--vault-id" in str(caught.value)
    assert not path.exists()


# --- the action plugin's run() with stand-ins for the task executor's objects --------------


@pytest.fixture
def make_action(monkeypatch):
    """An ActionModule for these task args, in a run whose CLI loaded these vault secrets."""

    def _make_action(args: dict, secrets: list, *, check_mode: bool = False) -> ActionModule:
        # What ansible-playbook's CLI initialises once per run, and its workers inherit.
        monkeypatch.setattr(VaultSecretsContext, "current", classmethod(lambda cls, optional=False: VaultSecretsContext(secrets)))
        task = SimpleNamespace(args=args, check_mode=check_mode, async_val=0, action="telenor.oauth.token_vault")
        connection = SimpleNamespace(_shell=SimpleNamespace(tmpdir=None))
        return ActionModule(task, connection, play_context=None, loader=None, templar=None, shared_loader_obj=None)

    return _make_action


def test_run_writes_and_returns_only_the_documented_keys(make_action, tmp_path, secrets):
    path = tmp_path / "token.vault"
    content = {**RECORD, "fetched": datetime.datetime(2026, 1, 2, 3, 4, 5)}
    result = make_action({"path": str(path), "content": content, "vault_id": "prod"}, secrets).run(task_vars={})
    assert result == {"changed": True, "path": str(path), "vault_id": "prod"}
    assert yaml.safe_load(decrypt(path, PROD_PASSWORD)) == {**RECORD, "fetched": "2026-01-02 03:04:05"}


@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "check-mode"])
def test_run_warns_about_a_directory_others_can_write(make_action, tmp_path, secrets, check_mode):
    # They cannot read the vault file, but they can replace or remove it at any time.
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    path = shared / "token.vault"

    result = make_action({"path": str(path), "content": RECORD}, secrets, check_mode=check_mode).run(task_vars={})

    assert result["changed"] is True
    assert result["warnings"] == [
        f"{shared}, the directory of path {path}, can be written by everyone, who can replace or remove the"
        " vault file at any time; keep it in a directory that only you (and root) can write"
    ]


def test_run_expands_the_home_directory(make_action, tmp_path, secrets, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    result = make_action({"path": "~/token.vault", "content": RECORD}, secrets).run(task_vars={})
    assert result["path"] == str(tmp_path / "token.vault") and (tmp_path / "token.vault").exists()


def test_run_reports_failures_as_a_failed_result(make_action, tmp_path):
    result = make_action({"path": str(tmp_path / "token.vault"), "content": RECORD}, []).run(task_vars={})
    assert result == {"failed": True, "changed": False, "msg": NO_SECRET_MESSAGE}


def test_run_uses_the_configured_encrypt_identity(make_action, tmp_path, secrets, monkeypatch):
    monkeypatch.setattr(token_vault.C, "DEFAULT_VAULT_ENCRYPT_IDENTITY", "prod")
    result = make_action({"path": str(tmp_path / "token.vault"), "content": RECORD}, secrets).run(task_vars={})
    assert result["vault_id"] == "prod"
    monkeypatch.setattr(token_vault.C, "DEFAULT_VAULT_ENCRYPT_IDENTITY", "staging")
    result = make_action({"path": str(tmp_path / "token.vault"), "content": RECORD}, secrets).run(task_vars={})
    assert result["failed"] and "vault_encrypt_identity" in result["msg"] and "'staging'" in result["msg"]


def test_run_check_mode(make_action, tmp_path, secrets):
    path = tmp_path / "token.vault"
    result = make_action({"path": str(path), "content": RECORD}, secrets, check_mode=True).run(task_vars={})
    assert result["changed"] is True and not path.exists()


def test_run_check_mode_fails_naming_a_directory_it_could_not_write(make_action, tmp_path, secrets):
    path = tmp_path / "missing" / "token.vault"
    result = make_action({"path": str(path), "content": RECORD}, secrets, check_mode=True).run(task_vars={})
    assert result["failed"] is True and result["changed"] is False
    assert f"path {path}" in result["msg"] and "does not exist" in result["msg"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        pytest.param({"content": RECORD}, "missing required arguments: path", id="no-path"),
        pytest.param({"path": "/tmp/x"}, "missing required arguments: content", id="no-content"),
        pytest.param({"path": "/tmp/x", "content": [TOKEN]}, "content", id="content-not-a-dict"),
        pytest.param({"path": "/tmp/x", "content": RECORD, "owner": "root"}, "Unsupported parameters", id="unknown-option"),
    ],
)
def test_run_validates_the_arguments(make_action, args, message, secrets):
    with pytest.raises(AnsibleActionFail, match=message) as caught:
        make_action(args, secrets).run(task_vars={})
    assert TOKEN not in caught.value.message


# --- end to end: the real ansible-playbook and ansible-vault --------------------------------


@pytest.fixture(scope="module")
def collections_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("collections")
    namespace = root / "ansible_collections" / "telenor"
    namespace.mkdir(parents=True)
    (namespace / "oauth").symlink_to(REPO_ROOT)
    return root


class Playbook:
    """Runs ansible-playbook on localhost in a private directory, with no vault setting inherited."""

    def __init__(self, collections: Path, workdir: Path) -> None:
        self.workdir = workdir
        # No vault password file, vault id list or encrypt identity from the caller's environment.
        self.env = {name: value for name, value in os.environ.items() if not name.startswith("ANSIBLE_")}
        self.env.update({
            "ANSIBLE_COLLECTIONS_PATH": str(collections),
            "ANSIBLE_HOME": str(workdir / "ansible-home"),
            "ANSIBLE_LOCAL_TEMP": str(workdir / "ansible-tmp"),
            "ANSIBLE_NOCOLOR": "1",
            "ANSIBLE_RETRY_FILES_ENABLED": "False",
            "ANSIBLE_CONFIG": str(workdir / "ansible.cfg"),
        })
        (workdir / "ansible.cfg").write_text("[defaults]\n")
        self.default_password = self.password_file("default.pw", DEFAULT_PASSWORD)
        self.prod_password = self.password_file("prod.pw", PROD_PASSWORD)
        self.record_file = workdir / "record.yml"
        self.record_file.write_text(yaml.safe_dump({"record": RECORD}))
        self.vault_file = workdir / "out" / "token.vault.yml"
        self.vault_file.parent.mkdir()

    def password_file(self, name: str, password: bytes) -> Path:
        path = self.workdir / name
        path.write_bytes(password + b"\n")
        path.chmod(0o600)
        return path

    def playbook(self, task_options: dict) -> Path:
        play = [{
            "name": "Vault the token record",
            "hosts": "localhost",
            "gather_facts": False,
            # Not inline: a failed task's error shows the playbook lines above the task.
            "vars_files": [str(self.record_file)],
            "tasks": [{
                "name": "Write the vault file",
                "telenor.oauth.token_vault": {"path": str(self.vault_file), "content": "{{ record }}", **task_options},
                "register": "written",
            }, {
                "name": "Show what the task returned",
                "ansible.builtin.debug": {"var": "written"},
            }],
        }]
        path = self.workdir / "play.yml"
        path.write_text(yaml.safe_dump(play, sort_keys=False))
        return path

    def run(self, *args: str, task_options: dict | None = None) -> subprocess.CompletedProcess:
        command = [str(BIN / "ansible-playbook"), "-i", "localhost,", "-c", "local",
                   str(self.playbook(task_options or {})), *args]
        return subprocess.run(command, cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=60, check=False)

    def view(self, password_file: Path) -> subprocess.CompletedProcess:
        command = [str(BIN / "ansible-vault"), "view", "--vault-password-file", str(password_file), str(self.vault_file)]
        return subprocess.run(command, cwd=self.workdir, env=self.env, capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def playbook(collections_root, tmp_path) -> Playbook:
    return Playbook(collections_root, tmp_path)


def recap(output: str) -> str:
    return next(line for line in output.splitlines() if line.startswith("localhost ") and "ok=" in line)


def assert_no_leak(process: subprocess.CompletedProcess) -> None:
    output = process.stdout + process.stderr
    assert TOKEN not in output
    assert DEFAULT_PASSWORD.decode() not in output and PROD_PASSWORD.decode() not in output


def test_playbook_writes_a_vault_file_that_ansible_vault_reads(playbook):
    first = playbook.run("-vvvv", "--vault-password-file", str(playbook.default_password))
    assert first.returncode == 0, first.stdout + first.stderr
    assert "changed=1" in recap(first.stdout)
    assert_no_leak(first)

    assert file_mode(playbook.vault_file) == 0o600
    assert playbook.vault_file.read_bytes().startswith(b"$ANSIBLE_VAULT;1.1;AES256\n")
    assert TOKEN.encode() not in playbook.vault_file.read_bytes()
    viewed = playbook.view(playbook.default_password)
    assert viewed.returncode == 0, viewed.stderr
    assert viewed.stdout == vault_payload(RECORD).decode()
    assert yaml.safe_load(viewed.stdout) == RECORD

    before = playbook.vault_file.read_bytes()
    second = playbook.run("-vvvv", "--vault-password-file", str(playbook.default_password))
    assert second.returncode == 0, second.stdout + second.stderr
    assert "changed=0" in recap(second.stdout)
    assert_no_leak(second)
    assert playbook.vault_file.read_bytes() == before


def test_playbook_encrypts_with_the_named_vault_id(playbook):
    vault_ids = ("--vault-id", f"default@{playbook.default_password}", "--vault-id", f"prod@{playbook.prod_password}")
    run = playbook.run(*vault_ids, task_options={"vault_id": "prod"})
    assert run.returncode == 0, run.stdout + run.stderr
    assert '"vault_id": "prod"' in run.stdout
    assert playbook.vault_file.read_bytes().startswith(b"$ANSIBLE_VAULT;1.2;AES256;prod\n")
    assert yaml.safe_load(playbook.view(playbook.prod_password).stdout) == RECORD
    assert playbook.view(playbook.default_password).returncode != 0

    missing = playbook.run(*vault_ids, task_options={"vault_id": "staging"})
    assert missing.returncode != 0
    assert "vault_id 'staging' is not one of this run's vault ids (default, prod)" in missing.stdout
    assert_no_leak(missing)


def test_playbook_without_a_vault_secret_fails_clearly(playbook):
    run = playbook.run()
    assert run.returncode != 0
    assert NO_SECRET_MESSAGE in run.stdout
    assert not playbook.vault_file.exists()
    assert_no_leak(run)


def test_playbook_leaves_a_vault_of_another_secret_untouched(playbook):
    playbook.vault_file.write_bytes(encrypt(b"theirs: 1\n", vault_id="default", secret=VaultSecret(b"other")))
    before = playbook.vault_file.read_bytes()
    run = playbook.run("--vault-password-file", str(playbook.default_password))
    assert run.returncode != 0
    assert f"path {playbook.vault_file} is an Ansible Vault file that none of this run's vault secrets decrypts" in run.stdout
    assert playbook.vault_file.read_bytes() == before


def test_playbook_check_mode_writes_nothing(playbook):
    run = playbook.run("--check", "--vault-password-file", str(playbook.default_password))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "changed=1" in recap(run.stdout)
    assert not playbook.vault_file.exists()


@pytest.mark.skipif(os.geteuid() != 0, reason="giving a file another group needs root")
@pytest.mark.parametrize("change", ["mode", "content"])
def test_a_replaced_vault_file_keeps_its_owner_and_group(tmp_path, secrets, change):
    """A vault file shared with a group (0640, group ops) stays the group's when rewritten."""
    path = tmp_path / "token.vault"
    ensure_vault_file(str(path), RECORD, secrets=secrets, mode="0640")
    os.chown(path, 4242, 4343)

    new_mode, content = ("0600", RECORD) if change == "mode" else ("0640", {**RECORD, "access_token": "other"})
    assert ensure_vault_file(str(path), content, secrets=secrets, mode=new_mode)["changed"] is True

    info = path.stat()
    assert (info.st_uid, info.st_gid) == (4242, 4343)
    assert file_mode(path) == int(new_mode, 8)

# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Action plugin for telenor.oauth.token_vault: keep a dict in an Ansible Vault file on the controller.

The documentation lives in ``plugins/modules/token_vault.py``. Everything runs in this
process on the controller; no module is sent anywhere. The functions below hold the whole
behaviour and need no PlayContext, so the unit tests call them directly.

Nothing here may put the content, its YAML or a vault secret into a result, an exception
message, a warning or ``display`` output.
"""

from __future__ import annotations

import json
import os
import typing as t
from collections.abc import Mapping
from dataclasses import dataclass, field

import yaml

from ansible import constants as C
from ansible.errors import AnsibleError
from ansible.parsing.vault import VaultLib, VaultSecret, VaultSecretsContext, is_encrypted, parse_vaulttext_envelope
from ansible.plugins.action import ActionBase

from ansible_collections.telenor.oauth.plugins.module_utils import _io

#: Must match the options documented in plugins/modules/token_vault.py (a unit test checks).
ARGUMENT_SPEC: dict[str, dict[str, t.Any]] = {
    "path": {"type": "path", "required": True},
    "content": {"type": "dict", "required": True, "no_log": True},
    "vault_id": {"type": "str"},
    "mode": {"type": "raw", "default": "0600"},
}

#: ``format_vaulttext_envelope`` writes a 1.1 header (no label) for this id and a 1.2 header
#: with the label for any other, as ``ansible-vault encrypt`` does.
UNLABELLED_VAULT_ID = "default"

NO_SECRET_MESSAGE = (
    "path (service_token_vault_file in the telenor.oauth.service_token role) needs a vault secret"
    " to encrypt with: run with --ask-vault-pass, --vault-password-file or --vault-id"
)

VaultSecrets = t.Sequence[tuple[str, VaultSecret]]


class TokenVaultError(Exception):
    """A failure whose message names options, vault ids and paths only, never data or secrets."""


@dataclass(frozen=True)
class ExistingVaultFile:
    """A vault file already at the path, decrypted with one of the run's secrets."""

    plaintext: bytes
    secret: VaultSecret
    label: str
    mode: int
    vaulttext: bytes = field(repr=False)
    owner: int = -1
    group: int = -1


def plain_data(content: t.Mapping[str, t.Any]) -> dict[str, t.Any]:
    """Return ``content`` as plain dicts, lists, strings and numbers.

    Since ansible-core 2.19 task arguments may be tagged or lazy subclasses of the built-in
    types (and vaulted strings are not ``str`` at all), which ``yaml.safe_dump`` refuses; a JSON
    round trip keeps the values and drops the wrappers. What JSON cannot hold becomes a string.
    """
    return json.loads(json.dumps(content, default=str))


def vault_payload(content: t.Mapping[str, t.Any]) -> bytes:
    """Return the canonical YAML document stored in the vault for ``content``."""
    text = yaml.safe_dump(plain_data(content), default_flow_style=False, sort_keys=True, allow_unicode=True)
    return text.encode("utf-8")


def same_data(plaintext: bytes, rendered: bytes) -> bool:
    """Whether a decrypted vault payload holds the data that ``rendered`` holds.

    Vault ciphertext is salted, so only the payloads can be compared; they are compared after
    both are put in canonical form, so a file edited with ``ansible-vault edit`` that still holds
    the same data (other key order or quoting) counts as current.
    """
    if plaintext == rendered:
        return True
    try:
        data = yaml.safe_load(plaintext)
    except (yaml.YAMLError, RecursionError):  # hand-edited into something else: rewrite it
        return False
    return isinstance(data, dict) and vault_payload(data) == rendered


def select_secret(secrets: VaultSecrets | None, vault_id: str | None, *, option: str = "vault_id") -> tuple[str, VaultSecret]:
    """Return the (vault id, secret) pair to encrypt with.

    Without ``vault_id`` this is the run's first secret, the one ``ansible-vault encrypt`` uses
    when it is given a single one. ``option`` names where ``vault_id`` came from, for the message.
    """
    if not secrets:
        raise TokenVaultError(NO_SECRET_MESSAGE)
    if not vault_id:
        return secrets[0][0], secrets[0][1]
    for loaded_id, secret in secrets:
        if loaded_id == vault_id:
            return loaded_id, secret
    loaded = ", ".join(dict.fromkeys(loaded_id for loaded_id, dummy in secrets))
    raise TokenVaultError(
        f"{option} {vault_id!r} is not one of this run's vault ids ({loaded}); pass it with --vault-id {vault_id}@SOURCE"
    )


def read_existing(path: str, secrets: VaultSecrets) -> ExistingVaultFile | None:
    """Return the vault file at ``path`` decrypted, or None when there is no file.

    A file that is not a vault, or that none of the run's secrets decrypts, is someone else's:
    raise rather than overwrite it.
    """
    try:
        existing = _io.read_regular_file(path)
    except _io.FileTargetError as exc:
        raise TokenVaultError(str(exc)) from None
    except OSError as exc:
        raise TokenVaultError(f"Could not read path {path}: {exc.strerror}") from None
    if existing is None:
        return None
    vaulttext, info = existing
    if not is_encrypted(vaulttext):
        raise TokenVaultError(f"path {path} exists and is not an Ansible Vault file; move it away or choose another path")
    try:
        plaintext, dummy, secret = VaultLib(list(secrets)).decrypt_and_get_vault_id(vaulttext)
        label = parse_vaulttext_envelope(vaulttext, default_vault_id=UNLABELLED_VAULT_ID)[3]
    except AnsibleError:
        # The vault error's text is not needed; `from None` keeps it (and its object) out.
        raise TokenVaultError(
            f"path {path} is an Ansible Vault file that none of this run's vault secrets decrypts;"
            " it is left untouched: run with its vault secret, or move it away"
        ) from None
    return ExistingVaultFile(
        plaintext=bytes(plaintext), secret=secret, label=label, mode=info.st_mode & 0o7777, vaulttext=vaulttext,
        owner=info.st_uid, group=info.st_gid,
    )


def encrypt(rendered: bytes, *, vault_id: str, secret: VaultSecret) -> bytes:
    """Return ``rendered`` as vault text, labelled with ``vault_id`` unless it is the default id."""
    return VaultLib([(vault_id, secret)]).encrypt(rendered, secret=secret, vault_id=vault_id)


def ensure_vault_file(
    path: str,
    content: t.Mapping[str, t.Any],
    *,
    secrets: VaultSecrets | None,
    vault_id: str | None = None,
    vault_id_option: str = "vault_id",
    mode: t.Any = "0600",
    check_mode: bool = False,
) -> dict[str, t.Any]:
    """Make ``path`` a vault file holding ``content`` as YAML; return the task result.

    The result holds ``changed``, ``path`` and ``vault_id`` (the id encrypted with), and
    ``warnings`` when there are any; nothing else.
    """
    try:
        file_mode = _io.parse_mode(mode)
        target = _io.target_path(path, follow_symlinks=True)  # as ansible-vault does
    except _io.FileTargetError as exc:
        raise TokenVaultError(str(exc)) from None
    if check_mode:
        check_directory_writable(path, os.path.dirname(target))
    used_id, secret = select_secret(secrets, vault_id, option=vault_id_option)
    payload = vault_payload(content)
    existing = read_existing(target, secrets or ())
    # Vault text is salted: the file is current when its secret, its header and its data are.
    current = existing is not None and all((
        existing.secret is secret,
        existing.label == (used_id or UNLABELLED_VAULT_ID),  # the id its header names
        same_data(existing.plaintext, payload),
    ))
    mode_differs = existing is not None and existing.mode != file_mode
    if not check_mode:
        try:
            owner, group = kept_ownership(existing)
            if not current:
                _io.write_atomically(target, encrypt(payload, vault_id=used_id, secret=secret), mode=file_mode,
                                     owner=owner, group=group)
            elif mode_differs:
                # The same vault text again rather than a chmod by path, which a link put there
                # since the file was read would redirect: the new file has the mode from the start.
                _io.write_atomically(target, existing.vaulttext, mode=file_mode, owner=owner, group=group)
        except _io.FileTargetError as exc:
            raise TokenVaultError(str(exc)) from None
        except OSError as exc:
            raise TokenVaultError(f"Could not write path {path}: {exc.strerror}") from None
    result = {"changed": not current or mode_differs, "path": path, "vault_id": used_id}
    warning = writable_directory_warning(path, os.path.dirname(target))
    if warning is not None:
        result["warnings"] = [warning]
    return result


def writable_directory_warning(path: str, directory: str) -> str | None:
    """Words for a directory of the vault file, or one above it, that others can change."""
    found = _io.directories_others_can_change(directory, owner_uid=os.geteuid())
    if found is None:
        return None
    where, who = found
    place = f"the directory of path {path}" if where == directory else f"a directory above path {path}"
    return (
        f"{where}, {place}, can be written by {who}, who can replace or remove the vault file at any"
        " time; keep it in a directory that only you (and root) can write"
    )


def check_directory_writable(path: str, directory: str) -> None:
    """Raise unless the user that runs this may create a file in ``directory``, that of ``path``.

    Check mode writes nothing, so without this a directory that we may not write to would pass
    here and fail the real run, after everything before it (the service_token role checks its
    vault file in check mode before it writes any service file). The write replaces the file
    by a rename, so it needs write and search access to the directory whether or not the file
    exists.
    """
    effective = os.access in os.supports_effective_ids  # the write runs as the effective user
    if not os.access(directory, os.W_OK | os.X_OK, effective_ids=effective):
        raise TokenVaultError(
            f"the directory of path {path} ({directory}) is not writable by the user that runs Ansible"
            f" (uid {os.geteuid()}), so the file could not be written there"
        )


def kept_ownership(existing: ExistingVaultFile | None) -> tuple[int | None, int | None]:
    """The owner and group of the file being replaced, as far as we may give them to the new one.

    A replaced file keeps them, as a chmod would have: a vault file shared with a group
    (mode 0640, group ops) stays readable to it. Only root may give a file away; a group
    is kept where we belong to it.
    """
    if existing is None:
        return None, None
    owner = existing.owner if os.geteuid() == 0 and existing.owner not in (-1, os.geteuid()) else None
    may_use_group = os.geteuid() == 0 or existing.group in (os.getegid(), *os.getgroups())
    group = existing.group if may_use_group and existing.group not in (-1, os.getegid()) else None
    return owner, group


class ActionModule(ActionBase):
    """Write the task's content to an Ansible Vault file on the controller."""

    TRANSFERS_FILES = False
    _requires_connection = False

    @staticmethod
    def _run_vault_secrets() -> list[tuple[str, VaultSecret]]:
        # The CLI puts the run's secrets (from --vault-id, --vault-password-file and the
        # configured vault_identity_list) in this context, which workers inherit.
        context = VaultSecretsContext.current(optional=True)
        return list(context.secrets if context is not None else [])

    def run(self, tmp: str | None = None, task_vars: dict[str, t.Any] | None = None) -> dict[str, t.Any]:
        result = super().run(tmp, task_vars)
        del tmp  # no longer has any effect

        content = self._task.args.get("content")
        if isinstance(content, Mapping):
            # The validator cannot walk every type a template can produce (datetime, say)
            # when it looks for no_log values; the stored form is plain data anyway.
            self._task.args = {**self._task.args, "content": plain_data(content)}
        dummy, args = self.validate_argument_spec(argument_spec=ARGUMENT_SPEC)
        vault_id, vault_id_option = args["vault_id"], "vault_id"
        if not vault_id and C.DEFAULT_VAULT_ENCRYPT_IDENTITY:
            # What `ansible-vault encrypt` uses without --encrypt-vault-id.
            vault_id, vault_id_option = C.DEFAULT_VAULT_ENCRYPT_IDENTITY, "vault_id (from the vault_encrypt_identity setting)"
        try:
            result.update(
                ensure_vault_file(
                    args["path"],
                    args["content"],
                    secrets=self._run_vault_secrets(),
                    vault_id=vault_id,
                    vault_id_option=vault_id_option,
                    mode=args["mode"],
                    check_mode=bool(self._task.check_mode),
                )
            )
        except TokenVaultError as exc:
            result.update(failed=True, changed=False, msg=str(exc))
        return result

#!/usr/bin/python
# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# The action plugin plugins/action/token_vault.py does all the work, on the controller;
# this file only documents it.

from __future__ import annotations

DOCUMENTATION = r"""
module: token_vault
author: Telenor OAuth collection maintainers (@telenor)
version_added: 1.0.0
short_description: Keep a token record in an Ansible Vault encrypted file on the controller
description:
  - Writes O(content) as a YAML document to O(path) on the controller, encrypted with one of the
    run's vault secrets, so that other tooling can read it with C(ansible-vault view).
  - The file is written only when its decrypted data differs from O(content), or when it is
    encrypted with another vault secret or vault id than the one selected by O(vault_id). When
    only its permissions differ, they are set to O(mode).
  - The file is replaced atomically. It has O(mode) from its first byte on, and an error never
    leaves a partial file or loses the previous one.
  - A file at O(path) that is not an Ansible Vault file, or that none of the run's vault secrets
    decrypts, is left untouched and the task fails.
  - The role P(telenor.oauth.service_token#role) uses this to store the current token when
    C(service_token_vault_file) is set.
  - "The result never holds O(content). Still use C(no_log: true), as the task's arguments carry
    the token."
options:
  path:
    description:
      - The file to write, on the controller.
      - Must be absolute; C(~) and environment variables are expanded first.
      - The directory must exist. If O(path) is a symbolic link, the file it points to is
        replaced, as C(ansible-vault) does, but only when the link is in a directory that only
        root or the user running Ansible can change. A link in a directory that others can write
        (group- or world-writable, or another user's) fails the task and nothing is written, as
        they could point it at any file of that user's, or of root's.
      - If the directory, or a directory above it, can be written by others, the task warns. They
        cannot read the vault file, but they can replace or remove it at any time.
    type: path
    required: true
  content:
    description:
      - The data to store, for example the record that M(telenor.oauth.telenor_oauth) returns
        (C(access_token), C(token_type), C(expires_in), C(expires_at), C(scope), C(authorization)).
      - Stored as YAML with sorted keys. Values that YAML and JSON cannot hold (dates, for example)
        are stored as strings.
    type: dict
    required: true
  vault_id:
    description:
      - The vault id of the run's vault secret to encrypt with, as given with
        C(--vault-id NAME@SOURCE). Secrets given with C(--vault-password-file) or
        C(--ask-vault-pass) have the id V(default).
      - The file's header names the vault id (format 1.2) unless it is V(default) (format 1.1),
        as with C(ansible-vault encrypt --encrypt-vault-id).
      - When not set, the C(vault_encrypt_identity) setting (E(ANSIBLE_VAULT_ENCRYPT_IDENTITY)) is
        used if set, or else the run's first vault secret.
      - The task fails when the run has no secret with this id, or no vault secret at all.
    type: str
  mode:
    description:
      - The permissions of the file, as an octal string such as V('0600'), or an integer.
      - Quote it. As with M(ansible.builtin.file), YAML reads an unquoted C(0600) as the octal
        number, but C(600) as decimal.
    type: raw
    default: '0600'
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
  - ansible.builtin.action_common_attributes.conn
  - ansible.builtin.action_common_attributes.flow
attributes:
  action:
    support: full
  async:
    support: none
  become:
    support: none
  bypass_host_loop:
    support: none
  check_mode:
    support: full
    details:
      - Reports whether the file would be written, without writing it; fails where the write would
        (a directory that is missing, is not a directory or is not writable).
  connection:
    support: none
  delegation:
    support: partial
    details: The file is always written on the controller, whatever C(delegate_to) says.
  diff_mode:
    support: none
    details: Never returns a diff, so that the content cannot show.
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
    details: The decrypted data is compared, as vault encryption is salted.
  platform:
    support: full
    platforms: all
    details: Runs on the controller only; nothing runs on the target.
notes:
  - Vault secrets come from the C(ansible-playbook) command line or configuration
    (C(--vault-id), C(--vault-password-file), C(--ask-vault-pass), C(vault_identity_list)).
    Without one the task fails.
  - "Use C(run_once: true) (or the task runs, and compares, once for each host)."
seealso:
  - module: telenor.oauth.telenor_oauth
  - name: Ansible Vault
    description: Encrypting content with Ansible Vault.
    link: https://docs.ansible.com/ansible/latest/vault_guide/index.html
"""

EXAMPLES = r"""
- name: Obtain a token
  telenor.oauth.telenor_oauth:
  delegate_to: localhost
  run_once: true
  register: telenor
  no_log: true

# Without expires_in, the seconds left, which differ on every run: with it, the file would
# be rewritten each time although the token is the same.
- name: Store it for ansible-vault view (run with --vault-password-file or --vault-id)
  telenor.oauth.token_vault:
    path: /etc/telenor/token.vault.yml
    content:
      access_token: "{{ telenor.access_token }}"
      token_type: "{{ telenor.token_type }}"
      expires_at: "{{ telenor.expires_at }}"
      scope: "{{ telenor.scope }}"
      authorization: "{{ telenor.authorization }}"
  run_once: true
  no_log: true

- name: Encrypt with the secret given as --vault-id prod@prod-password-file
  telenor.oauth.token_vault:
    path: "~/.config/telenor/prod-token.vault.yml"
    content:
      access_token: "{{ telenor.access_token }}"
      expires_at: "{{ telenor.expires_at }}"
    vault_id: prod
    mode: '0640'
  run_once: true
  no_log: true
"""

RETURN = r"""
path:
  description: The file, as given in O(path) after C(~) and variable expansion.
  returned: success
  type: str
  sample: /etc/telenor/token.vault.yml
vault_id:
  description: The vault id of the secret the file is encrypted with (or would be, in check mode).
  returned: success
  type: str
  sample: default
"""

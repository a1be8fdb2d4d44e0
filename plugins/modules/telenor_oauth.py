#!/usr/bin/python
# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: telenor_oauth
author: Telenor OAuth collection maintainers (@telenor)
version_added: 1.0.0
short_description: Obtain, rotate or revoke Telenor API OAuth access tokens
description:
  - Makes sure a valid Telenor API access token exists (O(state=present)), rotates it
    (O(force=true)), or revokes it (O(state=absent)) through the API's logout endpoint.
  - Tokens are kept in the same encrypted cache as the P(telenor.oauth.telenor_token#lookup)
    lookup uses, so on the controller the module and the lookup always agree on which token is
    current, and several hosts running the module at once make one token request.
  - "The usual use is C(delegate_to: localhost) with C(run_once: true). Add C(become: false) to
    such a task in a play that uses C(become): otherwise it runs as root on the controller and
    uses root's cache, not the one your lookups use."
  - "The result carries the token: use C(no_log: true) on every task that registers it."
  - Options fall back to the environment variables C(TELENOR_CLIENT_ID),
    C(TELENOR_CLIENT_SECRET), C(TELENOR_GRANT_TYPE), C(TELENOR_USERNAME), C(TELENOR_PASSWORD),
    C(TELENOR_API_URL), C(TELENOR_SCOPE) and
    C(TELENOR_TOKEN_CACHE_DIR) (and C(TELENOR_VALIDATE_CERTS), C(TELENOR_CA_PATH),
    C(TELENOR_TIMEOUT), C(TELENOR_RETRIES), C(TELENOR_TOKEN_MIN_TTL),
    C(TELENOR_TOKEN_CACHE_URL), C(TELENOR_TOKEN_CACHE_CA_PATH)) of the host the
    module runs on.
  - A module does not read variables, so the C(telenor_*) variables that the lookup reads
    (C(telenor_client_id), C(telenor_api_url), C(telenor_scope), ...) do not reach it. Give it
    the same settings with C(module_defaults) for C(group/telenor.oauth.telenor), as in the
    examples; an option left out takes its default here, and the module then caches a token
    for other settings than the lookup's.
options:
  state:
    description:
      - V(present) makes sure a token with at least O(min_ttl) seconds left is cached, requesting
        one only when needed.
      - V(absent) revokes O(access_token), or else the cached token, and drops it from the cache.
      - The cached token is the one that every lookup, job and the P(telenor.oauth.service_token#role)
        role using the same credentials and O(cache_dir) share, and that the role wrote into services'
        files. So V(absent) without O(access_token) logs all of them out. To revoke a token of one job
        only, obtain it with a O(cache_dir) of that job's own and revoke it by O(access_token).
      - RV(revoked_fingerprint) says which token was revoked.
    type: str
    choices: [present, absent]
    default: present
  force:
    description:
      - With O(state=present), always request a new token (rotation), and cache it in place of
        the current one.
    type: bool
    default: false
  revoke_previous:
    description:
      - With O(force=true), revoke the token that the new one replaces, once the new one is cached.
      - To revoke it later instead (say, once every host uses the new token), leave this V(false)
        and revoke RV(replaced_access_token) with O(state=absent) and O(access_token).
    type: bool
    default: false
  access_token:
    description:
      - With O(state=absent), the token to revoke instead of the cached one.
    type: str
extends_documentation_fragment:
  - telenor.oauth.connection
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: No request is made; RV(ignore:changed) says whether one would be, and
      O(state=present) returns the cached token when one is reusable.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: partial
    details: Idempotent unless O(force=true), which always obtains a new token.
  platform:
    description: Target OS/families that can be operated against.
    support: N/A
    platforms: posix
requirements:
  - requests
  - cryptography
seealso:
  - plugin: telenor.oauth.telenor_token
    plugin_type: lookup
"""

EXAMPLES = r"""
- name: Make sure a valid token is cached for the play (one request at most)
  telenor.oauth.telenor_oauth:
    client_id: "{{ telenor_client_id }}"
    client_secret: "{{ telenor_client_secret }}"
  delegate_to: localhost
  run_once: true
  register: telenor
  no_log: true

- name: Use it
  ansible.builtin.uri:
    url: https://api.telenor.no/example/v1/resource
    headers:
      Authorization: "{{ telenor.authorization }}"
  no_log: true

# client_id, client_secret and api_url come from module_defaults for
# group/telenor.oauth.telenor (see the last example), or from the TELENOR_* environment
# variables of the host the module runs on (here the controller).
- name: Rotate the token and revoke the one it replaces
  telenor.oauth.telenor_oauth:
    force: true
    revoke_previous: true
  delegate_to: localhost
  run_once: true
  register: rotated
  no_log: true

- name: A token for an API that takes a system user (Mobile Subscription Info, for example)
  telenor.oauth.telenor_oauth:
    client_id: "{{ telenor_client_id }}"
    client_secret: "{{ telenor_client_secret }}"
    grant_type: password
    username: "{{ telenor_username }}"
    password: "{{ telenor_password }}"
  delegate_to: localhost
  run_once: true
  register: subscription_token
  no_log: true

# A token for one job only, revoked at its end. Its own cache_dir keeps it apart from the
# shared cache: state=absent there would log out the token that the lookup, other jobs and
# the telenor.oauth.service_token role use, and that the role wrote into services' files.
# As for the rotation, client_id, client_secret and api_url come from module_defaults
# (group/telenor.oauth.telenor) or the TELENOR_* environment variables.
- name: Make a cache directory for this job's token
  ansible.builtin.tempfile:
    state: directory
    suffix: .telenor
  delegate_to: localhost
  run_once: true
  register: job_cache

- name: Obtain this job's own token
  telenor.oauth.telenor_oauth:
    cache_dir: "{{ job_cache.path }}"
  delegate_to: localhost
  run_once: true
  register: job_token
  no_log: true

- name: Revoke this job's token, and only it, at the end of the job
  telenor.oauth.telenor_oauth:
    state: absent
    access_token: "{{ job_token.access_token }}"
    cache_dir: "{{ job_cache.path }}"
  delegate_to: localhost
  run_once: true
  register: revoked  # revoked.revoked_fingerprint names the token; no secret in this result

- name: Check that the revoked token is the one the job obtained
  ansible.builtin.assert:
    that: (job_token.access_token | ansible.builtin.hash('sha256'))[:12] == revoked.revoked_fingerprint
    quiet: true
  run_once: true

# The same for a system user's token of this job only: the job's cache_dir, revoked by value.
- name: Obtain this job's own token for a system user
  telenor.oauth.telenor_oauth:
    grant_type: password
    username: "{{ telenor_username }}"
    password: "{{ telenor_password }}"
    cache_dir: "{{ job_cache.path }}"
  delegate_to: localhost
  run_once: true
  register: job_subscription_token
  no_log: true

- name: Revoke that system user's token of this job, and only it
  telenor.oauth.telenor_oauth:
    state: absent
    grant_type: password
    username: "{{ telenor_username }}"
    password: "{{ telenor_password }}"
    access_token: "{{ job_subscription_token.access_token }}"
    cache_dir: "{{ job_cache.path }}"
  delegate_to: localhost
  run_once: true

- name: Remove the job's cache directory
  ansible.builtin.file:
    path: "{{ job_cache.path }}"
    state: absent
  delegate_to: localhost
  run_once: true

- name: The lookup's settings, from its telenor_* variables, set once for the module
  module_defaults:
    group/telenor.oauth.telenor:
      client_id: "{{ telenor_client_id }}"
      client_secret: "{{ telenor_client_secret }}"
      api_url: "{{ telenor_api_url | default(omit) }}"
      scope: "{{ telenor_scope | default(omit) }}"
  block:
    - name: Obtain
      telenor.oauth.telenor_oauth:
      delegate_to: localhost
      run_once: true
      no_log: true
"""

RETURN = r"""
access_token:
  description: "The access token. A secret: register it only with C(no_log: true)."
  returned: when O(state=present) and a token is available (in check mode, only a cached one)
  type: str
token_type:
  description: The token type, always V(Bearer).
  returned: when O(state=present) and a token is available
  type: str
  sample: Bearer
expires_in:
  description: Seconds the token has left.
  returned: when O(state=present) and a token is available
  type: int
  sample: 3599
expires_at:
  description: When the token expires, in seconds since the epoch.
  returned: when O(state=present) and a token is available
  type: int
  sample: 1795000000
scope:
  description: The token's scopes, space-separated, or null when none were requested.
  returned: when O(state=present) and a token is available
  type: str
  sample: sms
authorization:
  description: The C(Authorization) header value, V(Bearer <token>). A secret.
  returned: when O(state=present) and a token is available
  type: str
replaced_access_token:
  description:
    - With O(force=true), the still-valid token that the new one replaced, so that it can be
      revoked later with O(state=absent). A secret.
  returned: when O(force=true) replaced a token that had not expired and did not revoke it
  type: str
cached:
  description: Whether the token came from the cache rather than a new request.
  returned: always
  type: bool
  sample: true
revoked:
  description:
    - With O(state=absent), whether a live token was revoked (never in check mode).
    - With O(revoke_previous=true), whether the replaced token was revoked.
  returned: always
  type: bool
  sample: false
revoked_fingerprint:
  description:
    - Which token was revoked (with O(state=absent), or the replaced one with
      O(revoke_previous=true)), or in check mode would be, named without revealing it - the first
      12 hexadecimal digits of the SHA-256 of the token.
    - Not a secret. To compare it with a token you hold, take the first 12 characters of the
      token's C(ansible.builtin.hash) with V(sha256), as an example above does.
  returned: when a token was revoked, or in check mode would be
  type: str
  sample: 3f9a0c2be41d
status:
  description: The HTTP status of the Telenor API's error answer.
  returned: on failure, when the API answered with an error
  type: int
  sample: 401
telenor_error_code:
  description: The Telenor error code of the API's error answer (see the API reference's error tables).
  returned: on failure, when the answer carried one
  type: int
  sample: 22
retryable:
  description:
    - Whether the failure is one that a later run may get past, as the module's own retries do
      (O(retries)) - an HTTP 429, an HTTP 5xx other than 500 with Telenor error code 16, a
      connection error, a connection dropped (in the TLS handshake too) or a timeout.
    - V(false) for what every run would meet again - a setting that is wrong, refused credentials,
      a TLS certificate that does not verify or a TLS handshake that fails for another reason,
      an answer that is not a token response.
  returned: on failure, except when the module arguments themselves are refused
  type: bool
  sample: true
"""

import hashlib

from ansible.module_utils.basic import AnsibleModule, env_fallback

from ansible_collections.telenor.oauth.plugins.module_utils._errors import CLIENT_CREDENTIALS, GRANT_TYPES, TelenorOAuthError
from ansible_collections.telenor.oauth.plugins.module_utils._options import (
    DEFAULT_API_URL,
    DEFAULT_CACHE_DIR,
    settings_from_options,
    url_secrets,
)
from ansible_collections.telenor.oauth.plugins.module_utils._service import obtain_token, revoke_token


def _env(name: str) -> dict:
    return {"fallback": (env_fallback, [name])}


def argument_spec() -> dict:
    return {
        "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
        "force": {"type": "bool", "default": False},
        "revoke_previous": {"type": "bool", "default": False},
        "access_token": {"type": "str", "no_log": True},
        "client_id": {"type": "str", **_env("TELENOR_CLIENT_ID")},
        "client_secret": {"type": "str", "no_log": True, **_env("TELENOR_CLIENT_SECRET")},
        "grant_type": {"type": "str", "choices": list(GRANT_TYPES), "default": CLIENT_CREDENTIALS,
                       **_env("TELENOR_GRANT_TYPE")},
        "username": {"type": "str", **_env("TELENOR_USERNAME")},
        "password": {"type": "str", "no_log": True, **_env("TELENOR_PASSWORD")},
        "scope": {"type": "list", "elements": "str", **_env("TELENOR_SCOPE")},
        "api_url": {"type": "str", "default": DEFAULT_API_URL, **_env("TELENOR_API_URL")},
        "validate_certs": {"type": "bool", "default": True, **_env("TELENOR_VALIDATE_CERTS")},
        "ca_path": {"type": "path", **_env("TELENOR_CA_PATH")},
        "timeout": {"type": "float", "default": 10, **_env("TELENOR_TIMEOUT")},
        "retries": {"type": "int", "default": 3, **_env("TELENOR_RETRIES")},
        "min_ttl": {"type": "int", "default": 300, **_env("TELENOR_TOKEN_MIN_TTL")},
        "cache_dir": {"type": "path", "default": DEFAULT_CACHE_DIR, **_env("TELENOR_TOKEN_CACHE_DIR")},
        # no_log: the URL may carry the Redis password.
        "cache_url": {"type": "str", "no_log": True, **_env("TELENOR_TOKEN_CACHE_URL")},
        "cache_ca_path": {"type": "path", **_env("TELENOR_TOKEN_CACHE_CA_PATH")},
    }


def token_fingerprint(token: str) -> str:
    """A name for a token that reveals nothing of it: the first 12 hex digits of its SHA-256."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()[:12]


def ensure_present(module: AnsibleModule, settings) -> dict:
    force = module.params["force"]
    obtained = obtain_token(settings, force=force, check_mode=module.check_mode)
    for warning in obtained.warnings:
        module.warn(warning)
    result = {"changed": not obtained.cached, "cached": obtained.cached, "revoked": False}
    if obtained.record is not None:
        result.update(obtained.record.as_result())
    previous = obtained.replaced
    if not force or previous is None or previous.seconds_left() <= 0:
        return result
    if not module.params["revoke_previous"]:
        result["replaced_access_token"] = previous.access_token
        return result
    try:
        result["revoked"] = revoke_token(settings, previous.access_token) is not None
        if result["revoked"]:
            result["revoked_fingerprint"] = token_fingerprint(previous.access_token)
    except TelenorOAuthError as exc:
        module.warn(f"The new token is cached, but revoking the previous one failed: {exc.message}")
        result["replaced_access_token"] = previous.access_token  # still valid: revoke it later
    return result


def ensure_absent(module: AnsibleModule, settings) -> dict:
    # revoke_token names the token it revoked, so the fingerprint reported is the one logged
    # out even if another process rotates the cached token meanwhile. An expired cached record
    # is dropped without a request.
    revoked = revoke_token(settings, module.params["access_token"], check_mode=module.check_mode)
    # In check mode nothing is revoked; changed says whether it would be.
    result = {"changed": revoked is not None, "cached": False, "revoked": revoked is not None and not module.check_mode}
    if revoked is not None:
        result["revoked_fingerprint"] = token_fingerprint(revoked)
    return result


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    # A password in api_url is refused below, but the failure's invocation
    # would still echo the URL: mask it like any no_log value.
    module.no_log_values.update(url_secrets(module.params["api_url"]))
    try:
        settings = settings_from_options(module.params.get)
        if module.params["state"] == "absent":
            result = ensure_absent(module, settings)
        else:
            result = ensure_present(module, settings)
    except TelenorOAuthError as exc:
        module.fail_json(msg=exc.message, status=exc.status, telenor_error_code=exc.code, retryable=exc.retryable)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

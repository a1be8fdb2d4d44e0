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
    C(TELENOR_CLIENT_SECRET), C(TELENOR_API_URL), C(TELENOR_SCOPE) and
    C(TELENOR_TOKEN_CACHE_DIR) (and C(TELENOR_VALIDATE_CERTS), C(TELENOR_CA_PATH),
    C(TELENOR_TIMEOUT), C(TELENOR_RETRIES), C(TELENOR_TOKEN_MIN_TTL)) of the host the
    module runs on.
options:
  state:
    description:
      - V(present) makes sure a token with at least O(min_ttl) seconds left is cached, requesting
        one only when needed.
      - V(absent) revokes O(access_token), or else the cached token, and drops it from the cache.
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

- name: Rotate the token and revoke the one it replaces
  telenor.oauth.telenor_oauth:
    force: true
    revoke_previous: true
  delegate_to: localhost
  run_once: true
  register: rotated
  no_log: true

- name: Revoke the cached token at the end of a job
  telenor.oauth.telenor_oauth:
    state: absent
  delegate_to: localhost
  run_once: true
  no_log: true

- name: Credentials set once for every telenor.oauth module
  module_defaults:
    group/telenor.oauth.telenor:
      client_id: "{{ telenor_client_id }}"
      client_secret: "{{ telenor_client_secret }}"
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
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, env_fallback, missing_required_lib

from ansible_collections.telenor.oauth.plugins.module_utils._cache import HAS_CRYPTOGRAPHY
from ansible_collections.telenor.oauth.plugins.module_utils._errors import TelenorOAuthError
from ansible_collections.telenor.oauth.plugins.module_utils._options import (
    DEFAULT_API_URL,
    DEFAULT_CACHE_DIR,
    OptionAdapter,
    settings_from_options,
    url_credentials,
)
from ansible_collections.telenor.oauth.plugins.module_utils._service import obtain_token, revoke_token

try:
    import requests  # noqa: F401, pylint: disable=unused-import
except ImportError:
    REQUESTS_IMPORT_ERROR = traceback.format_exc()
else:
    REQUESTS_IMPORT_ERROR = None


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
        "scope": {"type": "list", "elements": "str", **_env("TELENOR_SCOPE")},
        "api_url": {"type": "str", "default": DEFAULT_API_URL, **_env("TELENOR_API_URL")},
        "validate_certs": {"type": "bool", "default": True, **_env("TELENOR_VALIDATE_CERTS")},
        "ca_path": {"type": "path", **_env("TELENOR_CA_PATH")},
        "timeout": {"type": "float", "default": 10, **_env("TELENOR_TIMEOUT")},
        "retries": {"type": "int", "default": 3, **_env("TELENOR_RETRIES")},
        "min_ttl": {"type": "int", "default": 300, **_env("TELENOR_TOKEN_MIN_TTL")},
        "cache_dir": {"type": "path", "default": DEFAULT_CACHE_DIR, **_env("TELENOR_TOKEN_CACHE_DIR")},
    }


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
        result["revoked"] = revoke_token(settings, previous.access_token)
    except TelenorOAuthError as exc:
        module.warn(f"The new token is cached, but revoking the previous one failed: {exc.message}")
        result["replaced_access_token"] = previous.access_token  # still valid: revoke it later
    return result


def ensure_absent(module: AnsibleModule, settings) -> dict:
    would_revoke = revoke_token(settings, module.params["access_token"], check_mode=module.check_mode)
    # In check mode nothing is revoked; changed says whether it would be.
    return {"changed": would_revoke, "cached": False, "revoked": would_revoke and not module.check_mode}


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    # A password in api_url is refused below, but the failure's invocation
    # would still echo the URL: mask it like any no_log value.
    module.no_log_values.update(url_credentials(module.params["api_url"]))
    if REQUESTS_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("requests"), exception=REQUESTS_IMPORT_ERROR)
    if not HAS_CRYPTOGRAPHY:
        module.fail_json(msg=missing_required_lib("cryptography"))
    try:
        settings = settings_from_options(OptionAdapter.from_module(module))
        if module.params["state"] == "absent":
            result = ensure_absent(module, settings)
        else:
            result = ensure_present(module, settings)
    except TelenorOAuthError as exc:
        module.fail_json(msg=exc.message, status=exc.status, telenor_error_code=exc.code)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

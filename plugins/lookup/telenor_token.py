# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: telenor_token
author: Telenor OAuth collection maintainers (@telenor)
version_added: 1.0.0
short_description: Get a Telenor API OAuth access token, cached and shared by the whole run
description:
  - Returns an access token for the Telenor APIs, obtained with the OAuth2 client-credentials
    grant (C(POST /oauth/v2/token) with HTTP Basic O(client_id):O(client_secret)).
  - The token is cached on the controller, encrypted, and shared by every host and fork of a
    run, by later runs and by concurrent C(ansible-playbook) processes, so a play over hundreds
    of hosts makes one token request, and a re-run makes none while the token stays valid.
  - A cached token is reused while it has at least O(min_ttl) seconds left.
  - The module M(telenor.oauth.telenor_oauth) shares the same cache, to obtain, rotate or revoke
    tokens as tasks.
  - The lookup takes no positional arguments (terms); give its options as keywords of the
    C(lookup) call, as in the examples.
options:
  query:
    description:
      - A JMESPath expression applied to the token record instead of returning the bare token.
      - The record has C(access_token), C(token_type), C(expires_in) (seconds left),
        C(expires_at) (epoch seconds), C(scope) and C(authorization) (V(Bearer <token>)).
    type: str
  force:
    description:
      - Always request a new token, even when the cached one is still valid, and cache it.
      - This makes one request per call, so per host; to rotate a token once per run, use
        M(telenor.oauth.telenor_oauth) with O(telenor.oauth.telenor_oauth#module:force=true)
        and C(run_once).
    type: bool
    default: false
requirements:
  - requests (on the controller)
  - cryptography (on the controller; comes with ansible-core)
  - jmespath (on the controller, for O(query))
extends_documentation_fragment:
  - telenor.oauth.connection
  - telenor.oauth.connection.plugins
notes:
  - "The token is a secret: use C(no_log: true) on tasks that show it, and do not write it to
    files that others can read."
seealso:
  - module: telenor.oauth.telenor_oauth
"""

EXAMPLES = r"""
- name: Call a Telenor API with a token from the environment's credentials
  ansible.builtin.uri:
    url: https://api.telenor.no/example/v1/resource
    headers:
      Authorization: "{{ lookup('telenor.oauth.telenor_token', query='authorization') }}"
  no_log: true

- name: Credentials from (vaulted) variables, one scope
  ansible.builtin.set_fact:
    api_token: "{{ lookup('telenor.oauth.telenor_token', client_id=my_client_id, client_secret=my_vaulted_secret, scope=['sms']) }}"
  no_log: true

- name: A token for an API that takes a company system user (the password grant)
  ansible.builtin.uri:
    url: https://api.telenor.no/example/v1/subscriptions
    headers:
      Authorization: "{{ lookup('telenor.oauth.telenor_token', grant_type='password', username=my_system_user,
                                password=my_vaulted_system_user_password, query='authorization') }}"
  no_log: true

- name: Show how long the cached token has left (no secret in this output)
  ansible.builtin.debug:
    msg: "{{ lookup('telenor.oauth.telenor_token', query='[token_type, expires_in]') }}"
"""

RETURN = r"""
_raw:
  description:
    - The access token, or what O(query) selects from the token record.
  type: list
  elements: raw
"""

from ansible.errors import AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.telenor.oauth.plugins.module_utils._errors import TelenorOAuthError
from ansible_collections.telenor.oauth.plugins.module_utils._options import OptionAdapter, settings_from_options
from ansible_collections.telenor.oauth.plugins.module_utils._service import obtain_token


def _compile_query(expression: str):
    try:
        import jmespath  # pylint: disable=import-outside-toplevel
    except ImportError as exc:
        raise AnsibleLookupError("The query option of telenor.oauth.telenor_token requires the jmespath Python library") from exc
    try:
        return jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as exc:
        raise AnsibleLookupError(f"The query option {expression!r} is not a valid JMESPath expression: {exc}") from None


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        if terms:
            raise AnsibleLookupError(
                "telenor.oauth.telenor_token takes no terms; pass options as keywords,"
                " for example lookup('telenor.oauth.telenor_token', query='authorization')"
            )
        query = self.get_option("query")
        compiled = _compile_query(query) if query else None
        try:
            settings = settings_from_options(OptionAdapter.from_plugin(self))
            record = obtain_token(settings, force=self.get_option("force")).record
        except TelenorOAuthError as exc:
            raise AnsibleLookupError(exc.message) from exc
        result = record.as_result()
        if compiled is None:
            return [result["access_token"]]
        return [compiled.search(result)]

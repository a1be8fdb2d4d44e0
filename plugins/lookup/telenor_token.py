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
    grant (C(POST /oauth/v2/token) with HTTP Basic O(client_id):O(client_secret)), or with
    O(grant_type=password) the password grant, which adds a company system user's O(username)
    and O(password) for the APIs that take one.
  - The token is cached on the controller, encrypted, and shared by every host and fork of a
    run, by later runs and by concurrent C(ansible-playbook) processes, so a play over hundreds
    of hosts makes one token request, and a re-run makes none while the token stays valid.
  - A cached token is reused while it has at least O(min_ttl) seconds left.
  - The module M(telenor.oauth.telenor_oauth) shares the same cache, to obtain, rotate or revoke
    tokens as tasks.
  - The lookup takes no positional arguments (terms); give its options as keywords of the
    C(lookup) call, as in the examples. A keyword that names no option gets a warning that
    suggests the option meant; from version 2.0.0 it will be an error.
options:
  query:
    description:
      - A JMESPath expression applied to the token record instead of returning the bare token.
      - The record has C(access_token), C(token_type), C(expires_in) (seconds left),
        C(expires_at) (epoch seconds), C(scope) and C(authorization) (V(Bearer <token>)).
      - An expression that names any other field fails before any request, rather than select
        nothing (null).
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

import os

from ansible.errors import AnsibleError, AnsibleLookupError
from ansible.plugins.lookup import LookupBase

from ansible_collections.telenor.oauth.plugins.module_utils._errors import TelenorOAuthError
from ansible_collections.telenor.oauth.plugins.module_utils._options import settings_from_options, strict_boolean
from ansible_collections.telenor.oauth.plugins.module_utils._service import obtain_token
from ansible_collections.telenor.oauth.plugins.module_utils._token import RESULT_FIELDS


def _compile_query(expression: str):
    try:
        import jmespath  # pylint: disable=import-outside-toplevel
    except ImportError as exc:
        raise AnsibleLookupError("The query option of telenor.oauth.telenor_token requires the jmespath Python library") from exc
    try:
        compiled = jmespath.compile(expression)
    except jmespath.exceptions.JMESPathError as exc:
        raise AnsibleLookupError(f"The query option {expression!r} is not a valid JMESPath expression: {exc}") from None
    # A misspelt field would select nothing, and null would go into an Authorization header.
    unknown = sorted(_field_names(compiled.parsed) - set(RESULT_FIELDS))
    if unknown:
        raise AnsibleLookupError(
            f"The query option {expression!r} names {', '.join(map(repr, unknown))}, which the token record does not"
            f" have; its fields are {', '.join(RESULT_FIELDS)}"
        )
    return compiled


def _field_names(node: object) -> set[str]:
    """The field names a parsed JMESPath expression selects."""
    if not isinstance(node, dict):
        return set()
    names = {node["value"]} if node.get("type") == "field" else set()
    for child in node.get("children", []):
        names |= _field_names(child)
    return names


# Boolean options are re-read as their source gave them: core's config layer
# turns any string it does not know ('ture', 'maybe') into False, which for
# validate_certs would switch TLS verification off.
_BOOLEAN_OPTIONS = ("validate_certs", "force")


def _ini_value(path: str, entries: list) -> object:
    import configparser  # pylint: disable=import-outside-toplevel  # only when an ini file set the option

    parser = configparser.ConfigParser(inline_comment_prefixes=(";",))
    parser.read(path)
    for entry in entries:
        if parser.has_option(entry.get("section", "defaults"), entry["key"]):
            return parser.get(entry.get("section", "defaults"), entry["key"], raw=True)
    return None


def _raw_option(plugin: LookupBase, name: str, variables: dict | None, direct: dict) -> object:
    """The value of ``name`` as its source (keyword, variable, env, ini) gave it, before core's coercion.

    A source that gives null (a keyword None, a variable whose template renders to null)
    leaves the option unset, as core's config layer treats a null: its documented default.
    """
    value = _source_value(plugin, name, variables, direct)
    if value is None:
        from ansible import constants as C  # pylint: disable=import-outside-toplevel

        definition = C.config.get_configuration_definition(name, plugin_type="lookup", plugin_name=plugin._load_name)
        return (definition or {}).get("default")
    return value


def _source_value(plugin: LookupBase, name: str, variables: dict | None, direct: dict) -> object:
    value, origin = plugin.get_option_and_origin(name)
    if origin == "Direct":
        return direct.get(name)
    if origin.startswith("var: "):
        raw = (variables or {}).get(origin[len("var: "):], value)
        # A play variable may be a template ("{{ other_var }}") or an inline-vaulted value
        # (encrypt_string, not a str): resolve and decrypt it as Ansible would.
        templar = getattr(plugin, "_templar", None)
        if templar is None or raw is None:
            return raw
        try:
            return templar.template(raw)
        except AnsibleError as exc:
            if _is_vault_error(exc):
                raise AnsibleLookupError(_undecryptable_message(f"variable {origin[len('var: '):]}")) from None
            raise
    if origin.startswith("env: "):
        return os.environ.get(origin[len("env: "):], value)
    if origin == "default" or not os.path.isfile(origin):
        return value
    from ansible import constants as C  # pylint: disable=import-outside-toplevel

    definition = C.config.get_configuration_definition(name, plugin_type="lookup", plugin_name=plugin._load_name) or {}
    raw = _ini_value(origin, definition.get("ini") or [])
    return value if raw is None else raw


def _is_vault_error(exc: BaseException) -> bool:
    """Whether ``exc`` (or what caused it) is a vaulted value that could not be decrypted."""
    from ansible.parsing.vault import AnsibleVaultError  # pylint: disable=import-outside-toplevel  # only on failure

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        # A template that uses an undecryptable variable raises core's UndecryptableVaultError,
        # which records the vault error's text but not the exception.
        if isinstance(exc, AnsibleVaultError) or type(exc).__name__ == "UndecryptableVaultError":
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def _undecryptable_message(source: str) -> str:
    # Core's own text ("Attempting to decrypt but no vault secrets found.") names neither the
    # variable nor the remedy; the vaulttext is left out on purpose.
    return (
        f"The {source} is vaulted and this run has no vault password that decrypts it:"
        " run with --ask-vault-pass, --vault-password-file or --vault-id"
    )


def _undecryptable_source(plugin: LookupBase, variables: dict | None, direct: dict) -> str:
    """Which keyword or variable holds the vaulted value that core's config layer failed to decrypt."""
    from ansible import constants as C  # pylint: disable=import-outside-toplevel
    from ansible.parsing.vault import AnsibleVaultError, EncryptedString  # pylint: disable=import-outside-toplevel

    def undecryptable(value: object) -> bool:
        if not isinstance(value, EncryptedString):
            return False
        try:
            str(value)  # decrypts, or raises as core did
        except AnsibleVaultError:
            return True
        return False

    definitions = C.config.get_configuration_definitions(plugin_type="lookup", name=plugin._load_name) or {}
    for name, definition in definitions.items():
        if direct.get(name) is not None:
            # Core takes a keyword before any variable, as set_options did.
            if undecryptable(direct[name]):
                return f"value of the {name} keyword"
            continue
        # Of the option's variables, the last one set wins, as in core's config layer.
        chosen = None
        for entry in definition.get("vars") or []:
            if (variables or {}).get(entry["name"]) is not None:
                chosen = entry["name"]
        if chosen is not None and undecryptable(variables[chosen]):
            return f"variable {chosen}"
    return "variable that sets an option of telenor.oauth.telenor_token"


def _templated_variables(plugin: LookupBase, variables: dict | None) -> dict:
    """Every other option that a play variable set, resolved as Ansible resolves it.

    Core hands a lookup its ``vars:`` sources as written, so
    ``telenor_client_secret: "{{ vault_telenor_client_secret }}"`` would reach
    the token endpoint as that literal text (ansible/ansible#73268).
    """
    resolved = {}
    for name in plugin._options:  # pylint: disable=protected-access  # the options set_options just read
        if name in _BOOLEAN_OPTIONS:
            continue
        _value, origin = plugin.get_option_and_origin(name)
        if isinstance(origin, str) and origin.startswith("var: "):
            resolved[name] = _raw_option(plugin, name, variables, {})
    return resolved


# Keywords of core's lookup() that reach run() on some versions (allow_unsafe, before 2.19's
# trust model, is passed on and means nothing to a plugin).
_CORE_KEYWORDS = frozenset(("allow_unsafe", "wantlist", "errors"))


def _unknown_keywords_message(unknown: list, known: list) -> str:
    import difflib  # pylint: disable=import-outside-toplevel  # only for a misspelt keyword

    names = []
    for name in unknown:
        close = difflib.get_close_matches(name, known, n=1)
        names.append(f"{name!r} (did you mean {close[0]!r}?)" if close else repr(name))
    return (
        f"telenor.oauth.telenor_token has no option{'s' if len(names) > 1 else ''} {', '.join(names)};"
        f" its options are {', '.join(sorted(known))}"
    )


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        try:
            self.set_options(var_options=variables, direct=kwargs)
        except AnsibleError as exc:
            # Core's config layer decrypts a vaulted variable as it reads it, and without a
            # vault password says only "Attempting to decrypt but no vault secrets found".
            if _is_vault_error(exc):
                raise AnsibleLookupError(_undecryptable_message(_undecryptable_source(self, variables, kwargs))) from None
            raise
        # Core drops keywords that name no option; a misspelt scope or client_secret would then
        # get a token for other settings than the ones written, without a word. A warning for
        # now, as playbooks that pass them work today; an error from 2.0.0.
        unknown = sorted(set(kwargs) - set(self._options) - _CORE_KEYWORDS)  # pylint: disable=protected-access
        if unknown:
            from ansible.utils.display import Display  # pylint: disable=import-outside-toplevel

            message = _unknown_keywords_message(unknown, list(self._options))  # pylint: disable=protected-access
            Display().warning(f"{message}. It is ignored; telenor.oauth 2.0.0 will refuse it")
        if terms:
            raise AnsibleLookupError(
                "telenor.oauth.telenor_token takes no terms; pass options as keywords,"
                " for example lookup('telenor.oauth.telenor_token', query='authorization')"
            )
        query = self.get_option("query")
        compiled = _compile_query(query) if query else None
        raw = {name: _raw_option(self, name, variables, kwargs) for name in _BOOLEAN_OPTIONS}
        raw.update(_templated_variables(self, variables))
        try:
            force = strict_boolean("force", raw["force"])
            settings = settings_from_options(lambda name: raw[name] if name in raw else self.get_option(name))
            obtained = obtain_token(settings, force=force)
        except TelenorOAuthError as exc:
            raise AnsibleLookupError(exc.message) from exc
        if obtained.warnings:
            from ansible.utils.display import Display  # pylint: disable=import-outside-toplevel

            for warning in obtained.warnings:
                Display().warning(warning)
        result = obtained.record.as_result()
        if compiled is None:
            return [result["access_token"]]
        return [compiled.search(result)]

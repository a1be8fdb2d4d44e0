# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The telenor.oauth.telenor_token lookup, in-process against the fake Telenor API.

The plugin loader would need Ansible's collection finder installed before anything
imported ``ansible_collections``; the unit tests import the collection as plain packages.
So the lookup's option definitions are built the way the loader builds them (its
DOCUMENTATION with the doc fragments merged by ``add_fragments``) and registered with
the config manager under the lookup's FQCN; ``set_options`` and ``get_option`` then
behave as in a play: keyword arguments, then variables, then environment, then defaults.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import tempfile
import time
import typing as t

import pytest
import yaml

from ansible import constants as C
from ansible.errors import AnsibleLookupError
from ansible.module_utils.testing import patch_module_args
from ansible.parsing.dataloader import DataLoader
from ansible.parsing.vault import EncryptedString, VaultHelper, VaultLib, VaultSecret, VaultSecretsContext
from ansible.template import Templar, trust_as_template
from ansible.utils.display import Display
from ansible.utils.plugin_docs import add_fragments

from ansible_collections.telenor.oauth.plugins.doc_fragments import connection
from ansible_collections.telenor.oauth.plugins.lookup import telenor_token
from ansible_collections.telenor.oauth.plugins.module_utils import _failure_memo
from ansible_collections.telenor.oauth.plugins.modules import telenor_oauth
from ansible_collections.telenor.oauth.tests.unit.plugins.module_utils.fake_telenor_api import (
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_PREFIX,
    TOKEN_PATH,
    TOKEN_PREFIX,
)
from ansible_collections.telenor.oauth.tests.unit.plugins.module_utils.missing_libraries import MISSING_LIBRARIES

FQCN = "telenor.oauth.telenor_token"
FIRST = f"{TOKEN_PREFIX}-1"
SECOND = f"{TOKEN_PREFIX}-2"
RECORD_KEYS = {"access_token", "token_type", "expires_in", "expires_at", "scope", "authorization"}


class _FragmentLoader:
    """Resolves this collection's doc fragment as Ansible's fragment loader would."""

    def get(self, name: str):
        if name != "telenor.oauth.connection":
            return None  # add_fragments then retries "telenor.oauth.connection" with the PLUGINS variable
        return type("ModuleDocFragment", (connection.ModuleDocFragment,), {"ansible_name": name})


def _lookup_options() -> dict[str, dict]:
    doc = yaml.safe_load(telenor_token.DOCUMENTATION)
    add_fragments(doc, telenor_token.__file__, fragment_loader=_FragmentLoader(), is_module=False)
    return doc["options"]


@pytest.fixture(scope="module", autouse=True)
def _lookup_definitions() -> t.Iterator[None]:
    if C.config.has_configuration_definition("lookup", FQCN):
        yield  # the plugin loader already registered them in this process
        return
    C.config.initialize_plugin_configuration_definitions("lookup", FQCN, _lookup_options())
    yield
    C.config._plugins["lookup"].pop(FQCN, None)  # pylint: disable=protected-access


def new_lookup() -> telenor_token.LookupModule:
    plugin = telenor_token.LookupModule()
    plugin._load_name = FQCN  # what the plugin loader sets; pylint: disable=protected-access
    return plugin


def lookup(*terms: t.Any, variables: dict | None = None, **kwargs: t.Any) -> list:
    """One lookup() call in a template: a fresh plugin instance, as Ansible makes."""
    return new_lookup().run(list(terms), variables=variables or {}, **kwargs)


@pytest.fixture
def options(connection_options) -> dict:
    return connection_options


def basic_credentials(seen) -> tuple[str, str]:
    scheme, dummy, encoded = seen.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    client_id, dummy, secret = base64.b64decode(encoded).decode("utf-8").partition(":")
    return client_id, secret


def assert_no_secret(text: str) -> None:
    assert CLIENT_SECRET not in text
    assert CLIENT_SECRET.split(":", maxsplit=1)[0] not in text


# --- what it returns ---------------------------------------------------------------------


def test_returns_the_bare_token_by_default(api, options):
    assert lookup(**options) == [FIRST]
    (seen,) = api.token_requests
    assert seen.form["grant_type"] == ["client_credentials"]
    assert basic_credentials(seen) == (CLIENT_ID, CLIENT_SECRET)


def _expires_in(value: t.Any) -> bool:
    return isinstance(value, int) and 3590 <= value <= 3600


QUERY_CASES = [
    pytest.param("authorization", {}, lambda value: value == f"Bearer {FIRST}", id="authorization"),
    pytest.param("access_token", {}, lambda value: value == FIRST, id="access_token"),
    pytest.param(
        "[token_type, expires_in]",
        {},
        lambda value: value[0] == "Bearer" and _expires_in(value[1]) and len(value) == 2,
        id="token_type-expires_in",
    ),
    pytest.param("scope", {"scope": ["sms", "mobile"]}, lambda value: value == "sms mobile", id="scope"),
    pytest.param("scope", {}, lambda value: value is None, id="no-scope-is-null"),
    pytest.param("expires_at", {}, lambda value: isinstance(value, int) and abs(value - time.time() - 3600) < 15,
                 id="expires_at"),
]


@pytest.mark.parametrize(("query", "extra", "check"), QUERY_CASES)
def test_query_selects_from_the_token_record(api, options, query, extra, check):
    api.issue_refresh_tokens = True
    (value,) = lookup(**options, **extra, query=query)
    assert check(value), value


def test_the_whole_record_has_no_refresh_token(api, options):
    api.issue_refresh_tokens = True
    (record,) = lookup(**options, query="@")
    assert set(record) == RECORD_KEYS
    assert record["access_token"] == FIRST
    assert record["token_type"] == "Bearer"
    assert REFRESH_PREFIX not in json.dumps(record)


# --- refusals before any request ---------------------------------------------------------


@pytest.mark.parametrize(("query", "named"), [
    pytest.param("token_typ", "'token_typ'", id="misspelt"),
    pytest.param("[token_type, expires]", "'expires'", id="in-a-list"),
    pytest.param("{header: authorisation}", "'authorisation'", id="in-a-hash"),
    pytest.param("refresh_token", "'refresh_token'", id="refresh_token-not-exposed"),
])
def test_a_query_naming_no_field_of_the_record_fails_before_any_request(api, options, query, named):
    # A new user's pass: query='token_typ' gave null, with no word, which a header then carried.
    with pytest.raises(AnsibleLookupError) as error:
        lookup(**options, query=query)
    assert f"The query option {query!r} names {named}, which the token record does not have" in str(error.value)
    assert "its fields are access_token, token_type, expires_in, expires_at, scope, authorization" in str(error.value)
    assert api.seen == []


@pytest.mark.parametrize("query", ["[", "token_type[", "'unterminated", "a.b.(c"])
def test_an_invalid_query_fails_before_any_request(api, options, query):
    with pytest.raises(AnsibleLookupError) as error:
        lookup(**options, query=query)
    assert "query" in str(error.value)
    assert repr(query) in str(error.value)
    assert api.seen == []


@pytest.mark.parametrize(
    ("keywords", "words"),
    [
        pytest.param({"scpoe": ["sms"]}, "has no option 'scpoe' (did you mean 'scope'?)", id="misspelt-scope"),
        pytest.param({"vaildate_certs": False, "bogus": 1},
                     "has no options 'bogus', 'vaildate_certs' (did you mean 'validate_certs'?)", id="two"),
    ],
)
def test_a_keyword_that_names_no_option_is_warned_about(api, options, monkeypatch, keywords, words):
    # Core would drop it silently: a token without the scope written, say.
    warnings = []
    monkeypatch.setattr(Display, "warning", lambda self, msg, *args, **kwargs: warnings.append(msg))

    assert lookup(**options, **keywords) == [FIRST]

    (warning,) = warnings
    assert words in warning
    assert "its options are api_url, ca_path," in warning and "telenor.oauth 2.0.0 will refuse it" in warning


def test_core_keywords_that_reach_the_lookup_are_not_warned_about(api, options, monkeypatch):
    warnings = []
    monkeypatch.setattr(Display, "warning", lambda self, msg, *args, **kwargs: warnings.append(msg))

    assert lookup(**options, allow_unsafe=True) == [FIRST]
    assert warnings == []


@pytest.mark.parametrize("terms", [("client_id",), ("a", "b"), ({"client_id": CLIENT_ID},)])
def test_terms_are_refused(api, options, terms):
    with pytest.raises(AnsibleLookupError, match="takes no terms"):
        lookup(*terms, **options)
    assert api.seen == []


@pytest.mark.parametrize(
    ("missing", "words"),
    [
        pytest.param("client_id", ("client_id", "telenor_client_id", "TELENOR_CLIENT_ID"), id="client_id"),
        pytest.param("client_secret", ("client_secret", "telenor_client_secret", "TELENOR_CLIENT_SECRET"),
                     id="client_secret"),
    ],
)
def test_missing_credentials_fail_naming_every_source(api, options, missing, words):
    del options[missing]
    with pytest.raises(AnsibleLookupError) as error:
        lookup(**options)
    for word in words:
        assert word in str(error.value)
    assert_no_secret(str(error.value))
    assert api.seen == []


def test_a_query_without_jmespath_names_the_library_before_any_request(api, options, monkeypatch):
    monkeypatch.setitem(sys.modules, "jmespath", None)  # as if it were not installed
    with pytest.raises(AnsibleLookupError, match="requires the jmespath Python library"):
        lookup(**options, query="authorization")
    assert api.seen == []
    assert lookup(**options) == [FIRST]  # the bare token needs no jmespath


@pytest.mark.parametrize(("remove", "library"), MISSING_LIBRARIES)
def test_a_missing_library_is_a_lookup_error_naming_it_before_any_request(api, options, monkeypatch, remove, library):
    remove(monkeypatch)
    with pytest.raises(AnsibleLookupError) as error:
        lookup(**options)
    assert f"The {library} Python library is required" in str(error.value)
    assert f"-m pip install {library}" in str(error.value)
    assert api.seen == []


# --- where options come from -------------------------------------------------------------


SHARED_OPTIONS = sorted(set(_lookup_options()) & set(telenor_oauth.argument_spec()))


def test_the_lookup_has_every_connection_option_of_the_module():
    shared = set(telenor_oauth.argument_spec()) - {"state", "force", "revoke_previous", "access_token"}
    assert shared <= set(SHARED_OPTIONS)


@pytest.mark.parametrize("name", SHARED_OPTIONS)
def test_unset_options_default_as_in_the_module(name):
    plugin = new_lookup()
    plugin.set_options(var_options={}, direct={})
    spec = telenor_oauth.argument_spec()[name]
    expected = spec.get("default")
    if spec["type"] == "path" and expected is not None:
        expected = os.path.expanduser(expected)
    assert plugin.get_option(name) == expected


def test_options_from_variables(api, cache_dir):
    api.add_client("var-client-Hn3", "var-secret-Lz8")
    variables = {
        "telenor_client_id": "var-client-Hn3",
        "telenor_client_secret": "var-secret-Lz8",
        "telenor_api_url": api.url,
        "telenor_scope": ["sms"],
    }
    assert lookup(variables=variables, cache_dir=cache_dir, retries=0) == [FIRST]
    (seen,) = api.token_requests
    assert basic_credentials(seen) == ("var-client-Hn3", "var-secret-Lz8")
    assert seen.form["scope"] == ["sms"]


def test_a_space_separated_telenor_scope_is_told_to_use_commas(api, options, monkeypatch):
    monkeypatch.setenv("TELENOR_SCOPE", "sms read")
    with pytest.raises(AnsibleLookupError) as caught:
        lookup(**options)
    assert "TELENOR_SCOPE" in str(caught.value) and "'sms,read'" in str(caught.value)
    assert not api.token_requests
    monkeypatch.setenv("TELENOR_SCOPE", "sms,read")
    assert lookup(**options, query="scope") == ["sms read"]


def _vaulted(plaintext: str) -> EncryptedString:
    """A value as ``ansible-vault encrypt_string`` puts it in a variable file (``!vault |``)."""
    vault = VaultLib([("default", VaultSecret(b"the-vault-password-Qe4"))])
    return EncryptedString(ciphertext=vault.encrypt(plaintext).decode())


def _run_vault_secrets(monkeypatch, secrets: list) -> None:
    """What ansible-playbook's CLI loads once per run: none without --ask-vault-pass."""
    monkeypatch.setattr(VaultSecretsContext, "current", classmethod(lambda cls, optional=False: VaultSecretsContext(secrets)))


VAULT_FLAGS = ("--ask-vault-pass", "--vault-password-file", "--vault-id")


@pytest.mark.parametrize("secrets", [[], [("default", VaultSecret(b"another-password"))]], ids=["no-password", "wrong-password"])
def test_a_vaulted_variable_without_its_vault_password_names_the_variable_and_the_flags(api, cache_dir, monkeypatch, secrets):
    _run_vault_secrets(monkeypatch, secrets)
    ciphertext = _vaulted(CLIENT_SECRET)
    variables = {"telenor_client_id": CLIENT_ID, "telenor_client_secret": ciphertext, "telenor_api_url": api.url}
    with pytest.raises(AnsibleLookupError) as caught:
        lookup(variables=variables, cache_dir=cache_dir, retries=0)
    message = str(caught.value)
    assert "variable telenor_client_secret is vaulted" in message
    assert all(flag in message for flag in VAULT_FLAGS)
    assert_no_secret(message)
    assert "$ANSIBLE_VAULT" not in message and VaultHelper.get_ciphertext(ciphertext, with_tags=False)[-40:] not in message
    assert caught.value.__cause__ is None  # core's error would add the vaulttext's origin and text
    assert not api.token_requests


def test_a_variable_that_templates_an_undecryptable_one_names_the_variable_and_the_flags(api, cache_dir, monkeypatch):
    _run_vault_secrets(monkeypatch, [])
    variables = {
        "telenor_client_id": CLIENT_ID,
        "telenor_client_secret": trust_as_template("{{ vault_app_client_secret }}"),
        "vault_app_client_secret": _vaulted(CLIENT_SECRET),
        "telenor_api_url": api.url,
    }
    plugin = new_lookup()
    plugin._templar = Templar(loader=DataLoader(), variables=variables)  # what the loader gives a lookup; pylint: disable=protected-access
    with pytest.raises(AnsibleLookupError) as caught:
        plugin.run([], variables=variables, cache_dir=cache_dir, retries=0)
    message = str(caught.value)
    assert "variable telenor_client_secret is vaulted" in message
    assert all(flag in message for flag in VAULT_FLAGS)
    assert_no_secret(message)
    assert not api.token_requests


def test_a_vaulted_variable_with_its_vault_password_is_used(api, cache_dir, monkeypatch):
    password = VaultSecret(b"the-vault-password-Qe4")
    _run_vault_secrets(monkeypatch, [("default", password)])
    variables = {"telenor_client_id": CLIENT_ID, "telenor_client_secret": _vaulted(CLIENT_SECRET), "telenor_api_url": api.url}
    plugin = new_lookup()
    plugin._templar = Templar(loader=DataLoader(), variables=variables)  # pylint: disable=protected-access
    assert plugin.run([], variables=variables, cache_dir=cache_dir, retries=0) == [FIRST]
    (seen,) = api.token_requests
    assert basic_credentials(seen) == (CLIENT_ID, CLIENT_SECRET)


def test_options_from_the_environment(api, tmp_path, monkeypatch):
    env_cache = tmp_path / "env-cache"
    api.add_client("env-client-Rt6", "env-secret-Yb2")
    monkeypatch.setenv("TELENOR_CLIENT_ID", "env-client-Rt6")
    monkeypatch.setenv("TELENOR_CLIENT_SECRET", "env-secret-Yb2")
    monkeypatch.setenv("TELENOR_API_URL", api.url)
    monkeypatch.setenv("TELENOR_SCOPE", "sms,mobile")
    monkeypatch.setenv("TELENOR_TOKEN_CACHE_DIR", str(env_cache))
    monkeypatch.setenv("TELENOR_RETRIES", "0")
    assert lookup(query="scope") == ["sms mobile"]
    (seen,) = api.token_requests
    assert basic_credentials(seen) == ("env-client-Rt6", "env-secret-Yb2")
    assert seen.form["scope"] == ["sms mobile"]
    assert os.listdir(env_cache)
    assert lookup() == [FIRST]
    assert len(api.token_requests) == 1


PRECEDENCE_CASES = [
    # (keyword, variable, environment) for client_id; None = not set. The first set one wins.
    pytest.param("kw-client", "var-client", "env-client", "kw-client", id="keyword-beats-variable-and-env"),
    pytest.param(None, "var-client", "env-client", "var-client", id="variable-beats-env"),
    pytest.param(None, None, "env-client", "env-client", id="env-alone"),
    pytest.param("kw-client", "var-client", None, "kw-client", id="keyword-beats-variable"),
]


@pytest.mark.parametrize(("keyword", "variable", "environment", "used"), PRECEDENCE_CASES)
def test_keywords_beat_variables_beat_environment(api, options, monkeypatch, keyword, variable, environment, used):
    for client_id in (keyword, variable, environment):
        if client_id is not None:
            api.add_client(client_id)  # with options' client_secret
    del options["client_id"]
    if keyword is not None:
        options["client_id"] = keyword
    if environment is not None:
        monkeypatch.setenv("TELENOR_CLIENT_ID", environment)
    variables = {"telenor_client_id": variable} if variable is not None else {}
    lookup(variables=variables, **options)
    (seen,) = api.token_requests
    assert basic_credentials(seen)[0] == used


def test_a_keyword_secret_beats_the_variable(api, options):
    lookup(variables={"telenor_client_secret": "var-secret-wrong"}, **options)
    (seen,) = api.token_requests
    assert basic_credentials(seen)[1] == CLIENT_SECRET


# --- cache -------------------------------------------------------------------------------


def test_a_warm_cache_makes_no_request(api, options):
    assert lookup(**options) == [FIRST]
    for dummy in range(5):
        assert lookup(**options) == [FIRST]
        assert lookup(**options, query="authorization") == [f"Bearer {FIRST}"]
    assert len(api.token_requests) == 1


def test_force_requests_a_new_token_and_caches_it(api, options):
    assert lookup(**options) == [FIRST]
    assert lookup(**options, force=True) == [SECOND]
    assert len(api.token_requests) == 2
    assert lookup(**options) == [SECOND]
    assert len(api.token_requests) == 2
    assert api.logout_requests == []


def test_the_lookup_reuses_the_token_the_module_cached(api, options, capsys):
    with patch_module_args({**options, "scope": ["sms"]}):
        with pytest.raises(SystemExit):
            telenor_oauth.main()
    result = json.loads(capsys.readouterr().out)
    assert result["changed"] is True
    assert lookup(**options, scope=["sms"]) == [result["access_token"]]
    assert len(api.token_requests) == 1
    assert lookup(**options) == [SECOND]  # another scope is another token
    assert len(api.token_requests) == 2


# --- API errors --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "words"),
    [
        pytest.param(401, {"code": 22}, ("HTTP 401", "code 22", "Connectid"), id="401-22"),
        pytest.param(401, "Error code 1 - Invalid client id", ("HTTP 401", "code 1", "Invalid client id"), id="401-1"),
        pytest.param(403, {"code": 8}, ("HTTP 403", "code 8", "scope"), id="403-8"),
        pytest.param(500, {"code": 16}, ("HTTP 500", "code 16", "Invalid App Attributes"), id="500-16"),
        pytest.param(503, "", ("HTTP 503", "no Telenor error code"), id="503-no-code"),
    ],
)
def test_an_api_error_raises_a_lookup_error_with_status_and_code(api, options, cache_dir, monkeypatch,
                                                                 status, body, words):
    api.reply(TOKEN_PATH, status, body)
    with pytest.raises(AnsibleLookupError) as error:
        lookup(**options)
    message = str(error.value)
    for word in words:
        assert word in message
    assert_no_secret(message)
    assert_no_secret(repr(error.value.__cause__))
    assert not any(name.endswith(".token") for name in os.listdir(cache_dir))
    # The next host, moments later, gets the same error without a request of its own.
    with pytest.raises(AnsibleLookupError) as again:
        lookup(**options)
    assert message in str(again.value) and "this call made no request of its own" in str(again.value)
    assert len(api.token_requests) == 1
    # A call made once the failure is REUSE_SECONDS old (a re-run, an until loop's next try) asks again.
    monkeypatch.setattr(_failure_memo, "REUSE_SECONDS", 0.0)
    assert lookup(**options) == [FIRST]
    assert len(api.token_requests) == 2


# --- issue 9: booleans fail closed from every source --------------------------------------


@pytest.mark.parametrize("value", ["ture", "maybe", "nope", "2"])
@pytest.mark.parametrize("source", ["keyword", "variable", "environment"])
def test_validate_certs_that_is_not_a_boolean_fails_before_any_request(api, options, monkeypatch, source, value):
    # Issue 9: core's lenient config booleans made 'ture' False: TLS verification off.
    variables = {}
    if source == "keyword":
        options = {**options, "validate_certs": value}
    elif source == "variable":
        variables = {"telenor_validate_certs": value}
    else:
        monkeypatch.setenv("TELENOR_VALIDATE_CERTS", value)

    with pytest.raises(AnsibleLookupError) as caught:
        lookup(variables=variables, **options)

    assert "validate_certs must be a boolean" in str(caught.value)
    assert repr(value) in str(caught.value)
    assert api.token_requests == []


@pytest.mark.parametrize(("value", "verify"), [("no", False), ("off", False), ("yes", True), ("1", True), (False, False)])
def test_validate_certs_spellings_of_a_boolean_are_honoured(api, options, monkeypatch, value, verify):
    seen = []
    original = _client_class().__init__

    def spy(self, *args, **kwargs):
        original(self, *args, **kwargs)
        seen.append(self.verify)

    monkeypatch.setattr(_client_class(), "__init__", spy)
    monkeypatch.setenv("TELENOR_VALIDATE_CERTS", str(value).lower() if isinstance(value, bool) else value)

    assert lookup(**options) == [FIRST]
    assert seen == [verify]


def _client_class():
    from ansible_collections.telenor.oauth.plugins.module_utils._client import TelenorClient  # pylint: disable=import-outside-toplevel

    return TelenorClient


def test_force_that_is_not_a_boolean_fails_before_any_request(api, options):
    with pytest.raises(AnsibleLookupError, match="force must be a boolean"):
        lookup(force="maybe", **options)
    assert api.token_requests == []


# --- issue 12: an unusable HOME falls back, with one warning ------------------------------


def test_an_unusable_home_falls_back_with_a_display_warning(api, options, tmp_path, monkeypatch):
    home = tmp_path / "home-is-a-file"
    home.write_text("")
    monkeypatch.setenv("HOME", str(home))
    system_temp = tmp_path / "system-tmp"
    system_temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_temp))
    warnings = []
    monkeypatch.setattr(Display, "warning", lambda self, msg, *args, **kwargs: warnings.append(msg))
    options = {key: value for key, value in options.items() if key != "cache_dir"}

    assert lookup(**options) == [FIRST]
    assert lookup(**options) == [FIRST]

    (warning,) = warnings
    assert f"telenor_oauth-{os.geteuid()}" in warning
    assert len(api.token_requests) == 1

# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import os
import types
import typing as t

import pytest

from ansible_collections.telenor.oauth.plugins.module_utils._errors import TelenorConfigError
from ansible_collections.telenor.oauth.plugins.module_utils._options import (
    normalize_api_url,
    normalize_scope,
    settings_from_options,
    url_secrets,
)
from ansible_collections.telenor.oauth.plugins.modules import telenor_oauth
from ansible_collections.telenor.oauth.tests.unit.plugins.module_utils.documented_options import (
    DOCUMENTED_DEFAULTS,
    documented_getter,
)

SECRET = "Opt-S3cret-Vv8Ka"
URL_PASSWORD = "UrlPassw0rd-Xq3"


def given(**options) -> t.Callable[[str], t.Any]:
    base = {"client_id": "my-app", "client_secret": SECRET}
    base.update(options)
    return documented_getter(base)


def test_the_documented_defaults_make_these_settings():
    settings = settings_from_options(given())

    assert settings.api_url == "https://api.telenor.no"
    assert settings.scope is None
    assert settings.validate_certs is True
    assert settings.ca_path is None
    assert (settings.timeout, settings.retries, settings.min_ttl) == (10, 3, 300)
    assert settings.cache_dir == os.path.abspath(os.path.expanduser("~/.cache/telenor_oauth"))


@pytest.mark.parametrize("value", [None, "", "   "])
@pytest.mark.parametrize(
    ("name", "words"),
    [
        ("client_id", ["client_id option", "telenor_client_id", "TELENOR_CLIENT_ID", "Consumer Key"]),
        ("client_secret", ["client_secret option", "telenor_client_secret", "TELENOR_CLIENT_SECRET", "Consumer Secret"]),
    ],
)
def test_missing_credentials_say_where_to_set_them(name, words, value):
    with pytest.raises(TelenorConfigError) as caught:
        settings_from_options(given(**{name: value}))

    for word in words:
        assert word in str(caught.value)
    assert "Connectid" in str(caught.value)


@pytest.mark.parametrize("client_id", ["my-app:" + SECRET, "a:b", ":"])
def test_client_id_with_a_colon_is_refused_without_echoing_it(client_id):
    with pytest.raises(TelenorConfigError, match="client_id must not contain ':'") as caught:
        settings_from_options(given(client_id=client_id))

    assert SECRET not in str(caught.value)


def test_a_secret_with_colons_and_non_ascii_is_accepted_and_not_in_repr():
    secret = "p\u00e6ss:w\u00f8rd:" + SECRET

    settings = settings_from_options(given(client_secret=secret))

    assert settings.client_secret == secret
    assert SECRET not in repr(settings)
    assert SECRET not in repr(settings.client())
    assert SECRET not in repr(settings.cache())


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("https://api.telenor.no", "https://api.telenor.no", id="default"),
        pytest.param("https://api.telenor.no/", "https://api.telenor.no", id="trailing-slash"),
        pytest.param("https://api.telenor.no///", "https://api.telenor.no", id="trailing-slashes"),
        pytest.param("  https://api.telenor.no  ", "https://api.telenor.no", id="padded"),
        pytest.param("https://gw.example.com:8443/telenor/", "https://gw.example.com:8443/telenor", id="port-and-base-path"),
        pytest.param("http://127.0.0.1:8080", "http://127.0.0.1:8080", id="http-ipv4-loopback"),
        pytest.param("http://127.0.0.2:8080/", "http://127.0.0.2:8080", id="http-other-127"),
        pytest.param("http://[::1]:8080", "http://[::1]:8080", id="http-ipv6-loopback"),
        pytest.param("http://localhost:8080/", "http://localhost:8080", id="http-localhost"),
        pytest.param("http://LOCALHOST", "http://LOCALHOST", id="http-localhost-upper-case"),
    ],
)
def test_api_url_accepted(value, expected):
    assert normalize_api_url(value) == expected
    assert settings_from_options(given(api_url=value)).api_url == expected


@pytest.mark.parametrize(
    ("value", "words"),
    [
        pytest.param("api.telenor.no", "http(s) URL", id="no-scheme"),
        pytest.param("ftp://api.telenor.no", "http(s) URL", id="ftp"),
        pytest.param("https://", "http(s) URL", id="no-host"),
        pytest.param("https:///oauth", "http(s) URL", id="empty-host"),
        pytest.param("   ", "must be a URL", id="blank"),
        pytest.param(443, "must be a URL", id="not-a-string"),
        pytest.param("https://api.telenor.no:https", "not a valid URL", id="port-not-a-number"),
        pytest.param("https://api.telenor.no:0", "not a valid URL", id="port-zero"),
        pytest.param("https://api.telenor.no:70000", "not a valid URL", id="port-out-of-range"),
        pytest.param("https://api.telenor.no/?env=prod", "query string or fragment", id="query"),
        pytest.param("https://api.telenor.no?", "query string or fragment", id="empty-query"),
        pytest.param("https://api.telenor.no/#top", "query string or fragment", id="fragment"),
        pytest.param("http://api.telenor.no", "plain http://", id="http-remote"),
        pytest.param("http://10.0.0.1:8080", "plain http://", id="http-private-ip"),
        pytest.param("http://localhost.example.com", "plain http://", id="http-localhost-lookalike"),
        pytest.param("http://127.0.0.1.nip.io", "plain http://", id="http-loopback-lookalike"),
    ],
)
def test_api_url_refused(value, words):
    with pytest.raises(TelenorConfigError, match="api_url") as caught:
        normalize_api_url(value)

    assert words in str(caught.value)


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(f"https://user:{URL_PASSWORD}@api.telenor.no", id="user-and-password"),
        pytest.param(f"https://user:{URL_PASSWORD}@api.telenor.no/oauth/", id="with-path"),
        pytest.param(f"http://user:{URL_PASSWORD}@127.0.0.1:8080", id="loopback"),
        pytest.param(f"https://{URL_PASSWORD}@api.telenor.no", id="user-only"),
        pytest.param(f"https://user:{URL_PASSWORD}@api.telenor.no:https", id="bad-port"),
        pytest.param(f"https://user:{URL_PASSWORD}@api.telenor.no:99999", id="port-out-of-range"),
        pytest.param(f"https://user:{URL_PASSWORD}@[::1", id="broken-ipv6"),
    ],
)
def test_api_url_with_credentials_is_refused_without_echoing_them(value):
    with pytest.raises(TelenorConfigError) as caught:
        normalize_api_url(value)

    assert URL_PASSWORD not in str(caught.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param(None, None, id="none"),
        pytest.param("", None, id="empty-string"),
        pytest.param([], None, id="empty-list"),
        pytest.param(["mobile"], "mobile", id="one"),
        pytest.param(["mobile", "sms.send"], "mobile sms.send", id="list"),
        pytest.param(("mobile", "sms.send"), "mobile sms.send", id="tuple"),
        pytest.param("mobile,sms.send", "mobile sms.send", id="comma-string"),
        pytest.param(" mobile , sms.send ,", "mobile sms.send", id="comma-string-padded"),
        pytest.param(["mobile", "mobile", "sms"], "mobile sms", id="duplicates-dropped"),
        pytest.param(["", " "], None, id="only-blanks"),
        pytest.param(["b", "a"], "b a", id="order-kept"),
    ],
)
def test_scope_becomes_the_space_separated_form_value(value, expected):
    assert normalize_scope(value) == expected
    assert settings_from_options(given(scope=value)).scope == expected


@pytest.mark.parametrize(
    ("value", "words"),
    [
        pytest.param(["mobile sms"], "whitespace", id="space-in-item"),
        pytest.param("mobile sms", "whitespace", id="space-separated-string"),
        pytest.param(["mobile\tsms"], "whitespace", id="tab-in-item"),
        pytest.param(["mobile\nsms"], "whitespace", id="newline-in-item"),
        pytest.param([1], "must be strings", id="number-item"),
        pytest.param([None], "must be strings", id="null-item"),
        pytest.param({"mobile": True}, "list of scope names", id="mapping"),
        pytest.param(42, "list of scope names", id="number"),
    ],
)
def test_bad_scope_is_refused(value, words):
    with pytest.raises(TelenorConfigError, match="scope") as caught:
        normalize_scope(value)

    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("min_ttl", -1),
        ("min_ttl", "-300"),
        ("timeout", -1),
        ("timeout", 0),
        ("retries", -1),
        ("retries", "many"),
        ("timeout", "fast"),
        ("min_ttl", [300]),
        # Issue 9: the ranges are defined, and non-finite or Python-only
        # spellings are refused (NaN and inf gave raw errors).
        ("timeout", float("nan")),
        ("timeout", float("inf")),
        ("timeout", "nan"),
        ("timeout", "inf"),
        ("timeout", "-inf"),
        ("timeout", 600.5),
        ("timeout", "1e3"),
        ("timeout", True),
        ("retries", 11),
        ("retries", 2.5),
        ("retries", "1_0"),
        ("retries", False),
        ("min_ttl", "1_000"),
        ("min_ttl", " 1_000 "),
        ("min_ttl", 10 ** 9),
        ("min_ttl", float("nan")),
    ],
)
def test_bad_numbers_are_refused_naming_the_option(name, value):
    with pytest.raises(TelenorConfigError) as caught:
        settings_from_options(given(**{name: value}))

    assert str(caught.value).startswith(name)


@pytest.mark.parametrize("value", [["sms read"], "sms read", " sms  read "], ids=["list-item", "string", "padded-string"])
def test_a_scope_with_spaces_is_told_both_ways_to_give_several(value):
    with pytest.raises(TelenorConfigError) as caught:
        normalize_scope(value)

    message = str(caught.value)
    assert "give each scope as its own list item" in message
    assert "TELENOR_SCOPE" in message and "commas" in message
    suggested = message.rpartition(": ")[2].strip("'")
    assert suggested == "sms,read"
    assert normalize_scope(suggested) == "sms read"  # the advice works


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        # The range as the documentation writes it: 31622400, not 3.16224e+07.
        ("min_ttl", 99999999, "min_ttl must be a whole number from 0 to 31622400, got 99999999"),
        ("min_ttl", "-1", "min_ttl must be a whole number from 0 to 31622400, got '-1'"),
        ("retries", 11, "retries must be a whole number from 0 to 10, got 11"),
        ("timeout", 601, "timeout must be a number from 0.001 to 600, got 601"),
        ("timeout", "0", "timeout must be a number from 0.001 to 600, got '0'"),
    ],
)
def test_a_number_out_of_range_is_told_the_range_in_plain_digits(name, value, message):
    with pytest.raises(TelenorConfigError) as caught:
        settings_from_options(given(**{name: value}))

    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"min_ttl": 0, "retries": 0}, {"min_ttl": 0, "retries": 0}),
        ({"min_ttl": "600", "retries": "5", "timeout": "2.5"}, {"min_ttl": 600, "retries": 5, "timeout": 2.5}),
        ({"timeout": 0.5}, {"timeout": 0.5}),
        ({"timeout": 600, "retries": 10}, {"timeout": 600.0, "retries": 10}),
        ({"timeout": " 3 ", "min_ttl": 3.0}, {"timeout": 3.0, "min_ttl": 3}),
    ],
)
def test_numbers_from_strings_and_zeros_are_accepted(options, expected):
    settings = settings_from_options(given(**options))

    for name, value in expected.items():
        assert getattr(settings, name) == value


def test_ca_path_must_exist(tmp_path):
    with pytest.raises(TelenorConfigError, match="ca_path"):
        settings_from_options(given(ca_path=str(tmp_path / "missing.pem")))

    bundle = tmp_path / "ca.pem"
    bundle.write_text("")
    settings = settings_from_options(given(ca_path=str(bundle)))
    assert settings.ca_path == str(bundle)
    assert settings.client().verify == str(bundle)


@pytest.mark.parametrize(
    ("validate_certs", "verify"),
    [(True, True), (False, False), ("yes", True), ("no", False), ("on", True), ("off", False),
     ("1", True), ("0", False), (1, True), (0, False), ("True", True), ("FALSE", False)],
)
def test_validate_certs_reaches_the_client(validate_certs, verify):
    assert settings_from_options(given(validate_certs=validate_certs)).client().verify is verify


@pytest.mark.parametrize("value", ["ture", "maybe", "", "2", 2, 0.5, [True], {"on": 1}, "yes please"])
def test_validate_certs_that_is_not_a_boolean_is_refused_naming_the_option(value):
    # Issue 9: 'ture' and 'maybe' turned TLS verification off in the lookup.
    with pytest.raises(TelenorConfigError) as caught:
        settings_from_options(given(validate_certs=value))

    assert str(caught.value).startswith("validate_certs must be a boolean")


def test_cache_dir_is_expanded_to_an_absolute_path(monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))

    settings = settings_from_options(given(cache_dir="~/tokens"))

    assert settings.cache_dir == str(tmp_path / "tokens")
    assert os.path.dirname(settings.cache().path) == str(tmp_path / "tokens")


def test_plugin_and_module_options_are_read_the_same_way():
    options = {"client_id": "my-app", "client_secret": SECRET, "scope": ["mobile"], "retries": 1}
    # Core's config hands the plugin the documented defaults; the module gets its argument spec's.
    plugin = types.SimpleNamespace(get_option={**DOCUMENTED_DEFAULTS, **options}.get)
    # AnsibleModule fills in its argument spec's defaults; here, those of the module.
    module = types.SimpleNamespace(params={**{name: spec.get("default") for name, spec in telenor_oauth.argument_spec().items()},
                                           **options})

    from_plugin = settings_from_options(plugin.get_option)
    from_module = settings_from_options(module.params.get)

    assert from_plugin == from_module
    assert (from_plugin.scope, from_plugin.retries) == ("mobile", 1)


@pytest.mark.parametrize(
    ("url", "masked"),
    [
        (f"https://user:{URL_PASSWORD}@api.telenor.no", [f"user:{URL_PASSWORD}", URL_PASSWORD]),
        (f"http://user:{URL_PASSWORD}@127.0.0.1:1/path", [f"user:{URL_PASSWORD}", URL_PASSWORD]),
        ("https://token-only@api.telenor.no", ["token-only"]),
        # As written and decoded: a client may send either form.
        ("https://user:pa%2Fss@api.telenor.no", ["user:pa%2Fss", "pa%2Fss", "pa/ss"]),
        ("redis://pa%40ss@h", ["pa%40ss", "pa@ss"]),  # no colon: the whole userinfo, both forms
        # Up to the last '@', since a password may hold '/': a path with an '@' is masked
        # too, which hides a piece of the URL but never a password.
        ("https://api.telenor.no/a@b", ["api.telenor.no/a"]),
        ("https://api.telenor.no", []),
        (None, []),
    ],
)
def test_url_secrets_are_what_the_module_masks(url, masked):
    assert url_secrets(url) == masked


@pytest.mark.parametrize("password", ["pa/ss", "pa?ss", "pa#ss"])
def test_an_api_url_password_with_url_delimiters_is_never_shown(password):
    from ansible_collections.telenor.oauth.plugins.module_utils._options import normalize_api_url, url_secrets

    url = f"https://app:{password}@api.telenor.no/"
    with pytest.raises(TelenorConfigError) as caught:
        normalize_api_url(url)
    assert password not in str(caught.value)
    assert password in url_secrets(url)  # so that the module masks it in its invocation too


def test_an_api_url_user_is_masked_with_its_password_in_messages():
    # The user part of an API URL may itself be a token (TOKEN:x-oauth-basic@).
    with pytest.raises(TelenorConfigError) as caught:
        normalize_api_url("https://AT-user-token-part:x@api.telenor.no:99999/")
    assert "AT-user-token-part" not in str(caught.value)
    assert "***@api.telenor.no" in str(caught.value)

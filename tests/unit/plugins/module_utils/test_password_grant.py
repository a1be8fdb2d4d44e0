# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The resource owner password credentials grant (RFC 6749 section 4.3) with a company
system user, across the shared code: options, the token request, the cache, hints, renewal."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time

import pytest

from ansible_collections.telenor.oauth.plugins.module_utils import _api_errors
from ansible_collections.telenor.oauth.plugins.module_utils._cache import CacheIdentity, TokenCache, cache_key
from ansible_collections.telenor.oauth.plugins.module_utils._errors import (
    CLIENT_CREDENTIALS,
    PASSWORD,
    TOKEN_ENDPOINT,
    TelenorAPIError,
    TelenorConfigError,
)
from ansible_collections.telenor.oauth.plugins.module_utils._api_errors import api_error
from ansible_collections.telenor.oauth.plugins.module_utils._options import settings_from_options
from ansible_collections.telenor.oauth.plugins.module_utils._service import obtain_token, revoke_token
from ansible_collections.telenor.oauth.plugins.module_utils._token import TokenRecord
from ansible_collections.telenor.oauth.tests.unit.plugins.module_utils.fake_telenor_api import (
    CLIENT_ID,
    CLIENT_SECRET,
    LOGOUT_PATH,
    TOKEN_PATH,
    TOKEN_PREFIX,
)
from ansible_collections.telenor.oauth.tests.unit.plugins.module_utils.documented_options import documented_getter

USERNAME = "sys-ordering-Lm4"
USER_PASSWORD = "Usr-P4ss:w\u00f8rd-Zx8"  # distinctive: if it shows up in a message, it leaked
OTHER_USER, OTHER_PASSWORD = "sys-info-Rt2", "Other-P4ss-Qw1"
CACHED_REFRESH = "RT-Cached-Pg5Vb2"


def options(**extra) -> dict:
    base = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET}
    base.update(extra)
    return base


def settings_for(**extra):
    return settings_from_options(documented_getter(options(**extra)))


@pytest.fixture
def make_settings(api, tmp_path):
    api.add_client(CLIENT_ID, CLIENT_SECRET, users={USERNAME: USER_PASSWORD, OTHER_USER: OTHER_PASSWORD})

    def build(**extra):
        base = {"api_url": api.url, "cache_dir": str(tmp_path / "cache"), "retries": 0, "timeout": 5,
                "grant_type": PASSWORD, "username": USERNAME, "password": USER_PASSWORD}
        base.update(extra)
        return settings_for(**base)

    return build


# --- options ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        pytest.param({}, (CLIENT_CREDENTIALS, None, None), id="default-client-credentials"),
        pytest.param({"grant_type": "client_credentials"}, (CLIENT_CREDENTIALS, None, None), id="client-credentials"),
        pytest.param({"grant_type": "client_credentials", "username": "", "password": None},
                     (CLIENT_CREDENTIALS, None, None), id="client-credentials-empty-user-is-unset"),
        pytest.param({"grant_type": "password", "username": USERNAME, "password": USER_PASSWORD},
                     (PASSWORD, USERNAME, USER_PASSWORD), id="password"),
    ],
)
def test_valid_grant_options(given, expected):
    settings = settings_for(**given)

    assert (settings.grant_type, settings.username, settings.password) == expected


@pytest.mark.parametrize(
    ("given", "words"),
    [
        pytest.param({"grant_type": "password", "password": USER_PASSWORD},
                     ["grant_type=password needs username", "TELENOR_USERNAME",
                      "(for the lookup and the service_token role) the telenor_username variable", "Min Bedrift",
                      "API section", "Connectid"], id="password-without-username"),
        pytest.param({"grant_type": "password", "username": USERNAME},
                     ["grant_type=password needs password", "TELENOR_PASSWORD",
                      "(for the lookup and the service_token role) the telenor_password variable", "Vault"],
                     id="password-without-password"),
        pytest.param({"grant_type": "password", "username": " ", "password": ""},
                     ["needs username and password", "TELENOR_USERNAME", "TELENOR_PASSWORD"], id="password-empty-both"),
        pytest.param({"username": USERNAME},
                     ["username given with grant_type=client_credentials", "grant_type=password",
                      "TELENOR_USERNAME environment variable", "telenor_username variable", "service_token_username"],
                     id="client-credentials-with-username"),
        pytest.param({"grant_type": "client_credentials", "password": USER_PASSWORD},
                     ["password given with grant_type=client_credentials", "leave username and password unset",
                      "TELENOR_PASSWORD environment variable", "telenor_password variable", "service_token_password"],
                     id="client-credentials-with-password"),
        pytest.param({"username": USERNAME, "password": USER_PASSWORD},
                     ["username and password given with grant_type=client_credentials", "TELENOR_USERNAME",
                      "TELENOR_PASSWORD"],
                     id="client-credentials-with-both"),
        pytest.param({"grant_type": "authorization_code"},
                     ["grant_type must be client_credentials or password", "'authorization_code'", "TELENOR_GRANT_TYPE"],
                     id="unsupported-grant"),
        pytest.param({"grant_type": "password", "username": USERNAME, "password": 1234},
                     ["password must be a string"], id="password-not-a-string"),
    ],
)
def test_bad_grant_options_name_the_options_and_never_the_password(given, words):
    with pytest.raises(TelenorConfigError) as caught:
        settings_for(**given)

    for word in words:
        assert word in str(caught.value)
    assert USER_PASSWORD not in str(caught.value)


def test_the_password_is_in_no_repr():
    settings = settings_for(grant_type="password", username=USERNAME, password=USER_PASSWORD)

    for shown in (repr(settings), repr(settings.client()), repr(settings.cache())):
        assert USER_PASSWORD not in shown
    assert USERNAME in repr(settings)


# --- the token request -------------------------------------------------------------------------


def test_the_password_grant_sends_the_system_user_in_the_form_and_the_app_in_basic(api, make_settings):
    record = make_settings(scope=["subscriptions"]).client().request_token("subscriptions")

    (seen,) = api.token_requests
    assert seen.form == {"grant_type": ["password"], "username": [USERNAME], "password": [USER_PASSWORD],
                         "scope": ["subscriptions"]}
    credentials = base64.b64decode(seen.headers["Authorization"].split()[1]).decode("utf-8")
    assert credentials == f"{CLIENT_ID}:{CLIENT_SECRET}"
    assert record.access_token.startswith(TOKEN_PREFIX)


def test_client_credentials_send_no_user(api, make_settings):
    make_settings(grant_type="client_credentials", username=None, password=None).client().request_token()

    (seen,) = api.token_requests
    assert seen.form == {"grant_type": ["client_credentials"]}


# --- the cache ---------------------------------------------------------------------------------

IDENTITY = {"api_url": "https://api.telenor.no", "client_id": CLIENT_ID, "scope": None, "client_secret": CLIENT_SECRET}


def test_a_password_grant_key_name_holds_no_plain_hash_of_the_secret_or_the_password():
    # 1.x named records with SHA-256 digests that anyone could test a guessed
    # secret or password against; the name is now an HMAC keyed by the secret.
    alice = {"grant_type": PASSWORD, "username": USERNAME, "password": USER_PASSWORD}
    name = cache_key(**IDENTITY, **alice)
    plain = [hashlib.sha256(value.encode("utf-8")).hexdigest() for value in (CLIENT_SECRET, USER_PASSWORD)]

    assert not [digest for digest in plain if name in digest or digest in name]
    assert cache_key(**IDENTITY, **{**alice, "password": OTHER_PASSWORD}) != name


@pytest.mark.parametrize(
    "other",
    [
        pytest.param({"grant_type": CLIENT_CREDENTIALS, "username": None, "password": None}, id="client-credentials"),
        pytest.param({"username": OTHER_USER}, id="other-user"),
        pytest.param({"password": OTHER_PASSWORD}, id="other-password"),
    ],
)
def test_the_cache_identity_includes_grant_user_and_password(other):
    alice = {"grant_type": PASSWORD, "username": USERNAME, "password": USER_PASSWORD}

    assert cache_key(**IDENTITY, **alice) != cache_key(**IDENTITY, **{**alice, **other})


def _record(token: str) -> TokenRecord:
    now = time.time()
    return TokenRecord(access_token=token, token_type="Bearer", expires_at=now + 3600, issued_at=now, lifetime=3600)


def test_a_system_users_record_opens_only_with_client_secret_and_password(tmp_path):
    user = {"grant_type": PASSWORD, "username": USERNAME, "password": USER_PASSWORD}
    cache = TokenCache(str(tmp_path), CacheIdentity(**IDENTITY, **user))
    with cache.locked():
        cache.store(_record("AT-Alice-Hk3"))
    blob = open(cache.path, "rb").read()

    assert USER_PASSWORD.encode("utf-8") not in blob and USERNAME.encode("utf-8") not in blob
    assert os.path.basename(cache.path) == cache.key + ".token" and USERNAME not in cache.path
    assert TokenCache(str(tmp_path), CacheIdentity(**IDENTITY, **user)).load().access_token == "AT-Alice-Hk3"
    # The same file read with the client secret alone, or with another password, is unreadable.
    from ansible_collections.telenor.oauth.plugins.module_utils._cache import unseal  # pylint: disable=import-outside-toplevel

    assert unseal(blob, secret=CLIENT_SECRET, key=cache.key) is None
    assert unseal(blob, secret=CLIENT_SECRET, key=cache.key, password=OTHER_PASSWORD) is None
    assert unseal(blob, secret="other-secret", key=cache.key, password=USER_PASSWORD) is None
    assert unseal(blob, secret=CLIENT_SECRET, key=cache.key, password=USER_PASSWORD) is not None


def test_two_system_users_of_one_client_get_and_keep_two_tokens(api, make_settings):
    alice = make_settings()
    bob = make_settings(username=OTHER_USER, password=OTHER_PASSWORD)

    first = [obtain_token(alice).record.access_token, obtain_token(bob).record.access_token]
    again = [obtain_token(alice), obtain_token(bob)]

    assert first[0] != first[1]
    assert [obtained.record.access_token for obtained in again] == first
    assert all(obtained.cached for obtained in again)
    assert [seen.form["username"] for seen in api.token_requests] == [[USERNAME], [OTHER_USER]]


# --- renewal and revocation ------------------------------------------------------------------


def _cache_expiring(settings, token: str = "AT-Expiring-Vd2", refresh: str | None = CACHED_REFRESH) -> TokenRecord:
    issued = time.time() - 3500
    record = TokenRecord(access_token=token, token_type="Bearer", expires_at=issued + 3600, issued_at=issued,
                         lifetime=3600, refresh_token=refresh)
    cache = settings.cache()
    with cache.locked():
        cache.store(record)
    return record


def test_a_system_users_token_is_refreshed_with_its_refresh_token(api, make_settings):
    settings = make_settings()
    # To the process that cached them: the API refreshes only a refresh token it issued.
    api.issue_token("AT-Expiring-Vd2", refresh_token=CACHED_REFRESH, grant_type="password", username=USERNAME,
                    password=USER_PASSWORD)
    _cache_expiring(settings)

    obtain_token(settings)

    (seen,) = api.token_requests
    assert seen.form == {"grant_type": ["refresh_token"], "refresh_token": [CACHED_REFRESH]}


@pytest.mark.parametrize(
    ("status", "body"),
    [
        pytest.param(401, {"code": 7, "message": "Invalid refresh_token"}, id="401-7"),
        pytest.param(401, "Error code 21 - Unsufficient permissions to use requested grant_type", id="401-21"),
        pytest.param(400, {"error_code": 2}, id="400-2"),
        # RFC 6749 section 5.2, as a standards server refuses an expired or revoked refresh token.
        pytest.param(400, {"error": "invalid_grant", "error_description": "refresh token expired"},
                     id="400-invalid_grant"),
    ],
)
def test_a_refused_refresh_falls_back_to_the_password_grant(api, make_settings, status, body):
    settings = make_settings()
    _cache_expiring(settings)
    api.reply(TOKEN_PATH, status, body)

    obtained = obtain_token(settings)

    forms = [seen.form for seen in api.token_requests]
    assert [form["grant_type"] for form in forms] == [["refresh_token"], ["password"]]
    assert forms[1]["username"] == [USERNAME] and forms[1]["password"] == [USER_PASSWORD]
    assert settings.cache().load() == obtained.record


def test_state_absent_revokes_the_system_users_own_token(api, make_settings):
    alice = make_settings()
    bob = make_settings(username=OTHER_USER, password=OTHER_PASSWORD)
    alice_token = obtain_token(alice).record.access_token
    bob_token = obtain_token(bob).record.access_token

    assert revoke_token(alice) == alice_token

    (seen,) = api.requests_to(LOGOUT_PATH)
    assert seen.headers["Authorization"] == f"Bearer {alice_token}"
    assert alice.cache().load() is None
    assert bob.cache().load().access_token == bob_token


# --- hints -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("grant_type", "status", "code", "present", "absent"),
    [
        pytest.param(CLIENT_CREDENTIALS, 401, 22, ["client_id and client_secret", "Connectid", "never work here"],
                     ["system user"], id="cc-22"),
        pytest.param(PASSWORD, 401, 22, ["system user's username and password", "Min Bedrift", "API section",
                                         "machine user", "not a person's Connectid or Min Bedrift login"],
                     ["never work here"], id="password-22"),
        pytest.param(CLIENT_CREDENTIALS, 401, 1, ["check client_id", "never work here"], [], id="cc-1"),
        pytest.param(PASSWORD, 401, 1, ["check client_id", "Consumer Key", "username and password"],
                     ["never work here"], id="password-1"),
        pytest.param(CLIENT_CREDENTIALS, 401, 21, ["client_credentials grant", "grant_type=password"], [],
                     id="cc-21"),
        pytest.param(PASSWORD, 401, 21, ["password grant", "API administrator"], ["client_credentials grant"],
                     id="password-21"),
        pytest.param(PASSWORD, 400, 2, ["grant_type=password"], ["grant_type=client_credentials"], id="password-400-2"),
        pytest.param(PASSWORD, 401, 7, ["system user's username and password"], ["client credentials"],
                     id="password-7"),
    ],
)
def test_each_grants_hint_is_true_for_that_grant(grant_type, status, code, present, absent):
    message = api_error(TOKEN_ENDPOINT, status, f"Error code {code} - x", grant_type=grant_type).message

    for words in present:
        assert words in message
    for words in absent:
        assert words not in message


def test_a_wrong_system_user_gets_the_explained_error(api, make_settings):
    api.reply(TOKEN_PATH, 401, {"error": "invalid_grant", "error_code": 22,
                                "error_description": "Basic Authentication failed, bad username or password."})

    with pytest.raises(TelenorAPIError) as caught:
        obtain_token(make_settings())

    assert (caught.value.status, caught.value.code) == (401, 22)
    assert "system user's username and password" in caught.value.message
    assert "not a person's Connectid or Min Bedrift login" in caught.value.message
    assert USER_PASSWORD not in caught.value.message and CLIENT_SECRET not in caught.value.message


@pytest.mark.parametrize(("username", "words"), [
    pytest.param("ola.nordmann@example.com", "The username looks like an e-mail address", id="e-mail"),
    pytest.param("+47 912 34 567", "The username looks like a mobile number", id="mobile-number"),
    pytest.param(USERNAME, None, id="a-system-user"),
])
def test_a_username_that_looks_like_a_persons_login_is_pointed_out(api, make_settings, username, words):
    # A new user's pass: the client_id was checked for a Connectid look, the username not.
    api.reply(TOKEN_PATH, 401, {"error": "invalid_grant", "error_code": 22,
                                "error_description": "Basic Authentication failed, bad username or password."})

    with pytest.raises(TelenorAPIError) as caught:
        obtain_token(make_settings(username=username))

    if words:
        assert f"{words}: that is how a person's Connectid or Min Bedrift login looks" in caught.value.message
    else:
        assert "The username looks like" not in caught.value.message


def test_a_client_id_that_looks_like_a_login_is_explained_for_the_password_grant(api, make_settings):
    api.reply(TOKEN_PATH, 401, "Error code 1 - Invalid client id")

    with pytest.raises(TelenorAPIError) as caught:
        obtain_token(make_settings(client_id="someone@example.com"))

    assert "looks like an e-mail address" in caught.value.message
    assert "never the client_id" in caught.value.message
    assert "not API credentials" not in caught.value.message  # a system user's login is one, here


@pytest.mark.parametrize(
    ("name", "grant_type", "words"),
    [
        ("invalid_client", "password", "check the system user's username and password"),
        ("invalid_grant", "password", "check the system user's username and password"),
        ("invalid_client", "client_credentials", "check client_id and client_secret"),
        ("unauthorized_client", "password", "the app may not use the password grant"),
    ],
)
def test_rfc6749_error_names_get_the_hint_that_is_true_for_the_grant(name, grant_type, words):
    message = _api_errors.api_error(TOKEN_ENDPOINT, 401, json.dumps({"error": name}), grant_type=grant_type).message
    assert f"OAuth error {name}" in message
    assert words in message

# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import base64
import email.utils
import html
import json
import re
import socket
import time
import traceback
import tracemalloc
from urllib.parse import quote, quote_plus

import pytest

from ansible_collections.telenor.oauth.plugins.module_utils._client import (
    RETRY_AFTER_CAP,
    RETRY_MAX_DELAY,
    TelenorClient,
    basic_authorization,
)
from ansible_collections.telenor.oauth.plugins.module_utils._options import Settings
from ansible_collections.telenor.oauth.plugins.module_utils._errors import (
    TelenorAPIError,
    TelenorOAuthError,
    TelenorResponseError,
    TelenorTransportError,
)
from ansible_collections.telenor.oauth.tests.unit.plugins.module_utils.fake_telenor_api import (
    CLIENT_ID,
    CLIENT_SECRET,
    LOGOUT_PATH,
    TOKEN_PATH,
    TOKEN_PREFIX,
    FakeTelenorAPI,
    closed_port,
    self_signed_certificate,
    token_body,
)
from ansible_collections.telenor.oauth.tests.unit.plugins.module_utils.hostile_server import (
    HostileServer,
    TrickledTLSHandshakeServer,
    UnreachableListener,
    endless_body,
    http_answer,
)

LEAKED_TOKEN = "AT-Leak4Qz8Hw-never-in-a-message"
FORBIDDEN = (CLIENT_SECRET, basic_authorization(CLIENT_ID, CLIENT_SECRET).split()[1], LEAKED_TOKEN)


@pytest.fixture
def delays() -> list[float]:
    return []


def make_client(url: str, delays: list[float], **kwargs) -> TelenorClient:
    options = {"api_url": url, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "scope": None,
               "validate_certs": True, "ca_path": None, "timeout": 5, "retries": 3, "min_ttl": 300,
               "cache_dir": "/nonexistent/cache"}
    options.update(kwargs)
    return TelenorClient(Settings(**options), sleep=delays.append)


def assert_nothing_secret_in(error: BaseException) -> None:
    shown = "".join(traceback.format_exception(type(error), error, error.__traceback__)) + repr(error.args)
    for secret in FORBIDDEN:
        assert secret not in shown


# --- basic_authorization -------------------------------------------------------


@pytest.mark.parametrize(
    ("client_id", "client_secret", "header"),
    [
        # The seed's own example header, and what `curl -u id:secret` sends for the others.
        pytest.param("ClientId", "Secret", "Basic Q2xpZW50SWQ6U2VjcmV0", id="seed-example"),
        pytest.param("exampleclientid", "examplesecret", "Basic ZXhhbXBsZWNsaWVudGlkOmV4YW1wbGVzZWNyZXQ=", id="seed-note"),
        pytest.param(
            "xhdrs6uleK1xyZBOvX37PJ5wALcv1O9",
            "Glz2FV5XYOvAhFCE",
            "Basic eGhkcnM2dWxlSzF4eVpCT3ZYMzdQSjV3QUxjdjFPOTpHbHoyRlY1WFlPdkFoRkNF",
            id="seed-credentials",
        ),
        pytest.param("id", "pa:ss:word", "Basic aWQ6cGE6c3M6d29yZA==", id="colons-in-secret"),
        pytest.param("id", "p\u00e6ss\u00f8rd\u00e5", "Basic aWQ6cMOmc3PDuHJkw6U=", id="non-ascii-utf8"),
    ],
)
def test_basic_authorization_is_what_curl_u_sends(client_id, client_secret, header):
    assert basic_authorization(client_id, client_secret) == header


@pytest.mark.parametrize("client_secret", ["a:b", ":leading", "trailing:", "\u00e6\u00f8\u00e5:\u20ac", CLIENT_SECRET])
def test_basic_authorization_splits_back_at_the_first_colon(client_secret):
    scheme, encoded = basic_authorization("my-app", client_secret).split(" ")
    user, dummy, password = base64.b64decode(encoded).decode("utf-8").partition(":")

    assert (scheme, user, password) == ("Basic", "my-app", client_secret)


# --- waits between attempts ------------------------------------------------------


def test_each_retry_waits_longer_with_jitter_up_to_a_cap(api, delays):
    ceilings = [0.5, 1.0, 2.0, 4.0, 8.0, RETRY_MAX_DELAY, RETRY_MAX_DELAY, RETRY_MAX_DELAY]
    for run in range(2):
        for dummy in ceilings:
            api.reply(TOKEN_PATH, 503, "try later")
        make_client(api.url, delays, retries=len(ceilings)).request_token()
    first_run, second_run = delays[:len(ceilings)], delays[len(ceilings):]

    for waits in (first_run, second_run):
        assert len(waits) == len(ceilings)
        # Equal jitter: at least half of each ceiling, so that a retry never comes at once.
        assert all(ceiling / 2 <= wait <= ceiling for wait, ceiling in zip(waits, ceilings))
    assert first_run != second_run  # jittered, so that many clients do not retry in step


# The client's waits as it makes them (sleep=delays.append), for answers with a Retry-After.


def waits_after(api, delays, retry_after: str) -> list[float]:
    api.reply(TOKEN_PATH, 429, "", headers={"Retry-After": retry_after})
    make_client(api.url, delays, retries=1).request_token()
    assert len(api.token_requests) == 2
    return delays


@pytest.mark.parametrize(
    ("retry_after", "delay"),
    [
        pytest.param("2", 2.0, id="seconds"),
        pytest.param(" 7 ", 7.0, id="padded"),
        pytest.param("0", 0.0, id="zero"),
        pytest.param("-5", 0.0, id="negative-is-now"),
        pytest.param("30", RETRY_AFTER_CAP, id="at-cap"),
        pytest.param("3600", RETRY_AFTER_CAP, id="capped"),
        pytest.param("1e400", RETRY_AFTER_CAP, id="overflowing-capped"),
    ],
)
def test_retry_after_seconds_are_honoured_up_to_the_cap(api, delays, retry_after, delay):
    assert waits_after(api, delays, retry_after) == [delay]


@pytest.mark.parametrize(
    "retry_after",
    [
        pytest.param("soon", id="garbage"),
        pytest.param("Wed, 32 Oct 2015 07:28:00 GMT", id="impossible-date"),
        pytest.param("Wed, 21 Oct 99999999999999999999 07:28:00 GMT", id="year-beyond-datetime"),
        pytest.param("Wed, 21 Oct 2015 07:28:00 +99999999999999999999", id="zone-beyond-datetime"),
        pytest.param("", id="empty"),
        pytest.param("nan", id="nan"),
    ],
)
def test_unusable_retry_after_falls_back_to_own_backoff(api, delays, retry_after):
    [delay] = waits_after(api, delays, retry_after)

    assert 0.25 <= delay <= 0.5  # the first retry's own backoff: half a second, equal jitter


@pytest.mark.parametrize(
    ("offset", "delay"),
    [
        pytest.param(12, 12.0, id="future"),
        pytest.param(-3600, 0.0, id="past-is-now"),
        pytest.param(86400, RETRY_AFTER_CAP, id="capped"),
    ],
)
def test_retry_after_as_an_http_date_is_honoured_up_to_the_cap(api, delays, offset, delay):
    when = email.utils.formatdate(time.time() + offset, usegmt=True)  # whole seconds, as servers send

    assert waits_after(api, delays, when) == [pytest.approx(delay, abs=1.5)]


# --- token requests over HTTP --------------------------------------------------


@pytest.mark.parametrize(
    ("scope", "form"),
    [
        pytest.param(None, {"grant_type": ["client_credentials"]}, id="no-scope"),
        pytest.param("mobile", {"grant_type": ["client_credentials"], "scope": ["mobile"]}, id="one-scope"),
        pytest.param(
            "mobile sms.send", {"grant_type": ["client_credentials"], "scope": ["mobile sms.send"]}, id="space-separated"
        ),
    ],
)
def test_token_request_is_the_seed_client_credentials_post(api, delays, scope, form):
    record = make_client(api.url, delays).request_token(scope)

    (seen,) = api.token_requests
    assert seen.method == "POST"
    assert seen.headers["Authorization"] == basic_authorization(CLIENT_ID, CLIENT_SECRET)
    assert seen.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert seen.form == form
    assert record.access_token.startswith(TOKEN_PREFIX)
    assert record.scope == scope
    assert delays == []


def test_trailing_slash_in_api_url_does_not_double_the_path(api, delays):
    make_client(api.url + "/", delays).request_token()

    assert [seen.path for seen in api.seen] == [TOKEN_PATH]


@pytest.mark.parametrize("status", [500, 502, 503, 504, 429])
def test_transient_statuses_are_retried_then_succeed(api, delays, status):
    api.reply(TOKEN_PATH, status, "try later")
    api.reply(TOKEN_PATH, status, "try later")

    record = make_client(api.url, delays, retries=3).request_token()

    assert record.access_token.startswith(TOKEN_PREFIX)
    assert len(api.token_requests) == 3
    assert len(delays) == 2
    assert all(0 < delay <= RETRY_MAX_DELAY for delay in delays)


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [("3", 3.0), ("0", 0.0), ("45", RETRY_AFTER_CAP), ("86400", RETRY_AFTER_CAP)],
)
def test_retry_after_header_sets_the_wait(api, delays, retry_after, expected):
    api.reply(TOKEN_PATH, 429, "", headers={"Retry-After": retry_after})
    api.reply(TOKEN_PATH, 503, "", headers={"Retry-After": retry_after})

    make_client(api.url, delays).request_token()

    assert delays == [expected, expected]


@pytest.mark.parametrize(
    ("retries", "body", "words"),
    [
        pytest.param(3, "", ["HTTP 503", "after 4 attempts"], id="three-retries"),
        pytest.param(1, "Error code 2 - Internal Server Error", ["HTTP 503", "after 2 attempts"], id="one-retry"),
        pytest.param(0, "", ["HTTP 503"], id="no-retries"),
    ],
)
def test_exhausted_retries_say_how_many_attempts_were_made(api, delays, retries, body, words):
    for dummy in range(retries + 1):
        api.reply(TOKEN_PATH, 503, body)

    with pytest.raises(TelenorAPIError) as caught:
        make_client(api.url, delays, retries=retries).request_token()

    assert len(api.token_requests) == retries + 1
    assert len(delays) == retries
    assert caught.value.attempts == retries + 1
    assert caught.value.retryable
    for word in words:
        assert word in str(caught.value)
    assert_nothing_secret_in(caught.value)


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (400, "Error code 2 - Missing or invalid grant_type"),
        (401, '{"code": 22}'),
        (401, ""),
        (403, '{"errorCode": "8"}'),
        (404, "Not Found"),
        (302, ""),
    ],
)
def test_client_errors_are_not_retried(api, delays, status, body):
    api.reply(TOKEN_PATH, status, body, headers={"Location": "https://elsewhere.example/"} if status == 302 else {})

    with pytest.raises(TelenorAPIError) as caught:
        make_client(api.url, delays, retries=3).request_token()

    assert len(api.seen) == 1  # a redirect is not followed: the credentials go nowhere else
    assert delays == []
    assert caught.value.status == status
    assert "attempts" not in str(caught.value)


def test_invalid_app_attributes_is_not_retried(api, delays):
    # 500 code 16 says to contact Telenor: retrying cannot help.
    api.reply(TOKEN_PATH, 500, "Error code 16 - Invalid App Attributes.Please contact Telenor Admin")

    with pytest.raises(TelenorAPIError) as caught:
        make_client(api.url, delays, retries=3).request_token()

    assert len(api.seen) == 1
    assert caught.value.code == 16
    assert "contact Telenor" in str(caught.value)


TOKEN_ENDPOINT_SEED_CODES = [
    (400, 2, "Missing or invalid grant_type"),
    (401, 1, "Invalid client id"),
    (401, 4, "Invalid authorization code"),
    (401, 5, "Not authorized to create access token"),
    (401, 6, "Missing or bad Authorization header"),
    (401, 7, "Invalid refresh_token"),
    (401, 9, "Invalid Client data"),
    (401, 21, "Unsufficient permissions to use requested grant_type"),
    (401, 22, "Basic Authentication failed"),
    (403, 8, "Illegal or non authorized scope"),
    (403, 12, "Invalid RedirectURI"),
    (403, 15, "Illegal Response Type"),
    (500, 2, "Internal Server Error"),
    (500, 16, "Invalid App Attributes"),
]


@pytest.mark.parametrize(("status", "code", "meaning"), TOKEN_ENDPOINT_SEED_CODES)
def test_seed_errors_from_the_token_endpoint_reach_the_caller(api, delays, status, code, meaning):
    api.reply(TOKEN_PATH, status, {"error_description": f"Error code {code} - {meaning} ({CLIENT_SECRET})"})

    with pytest.raises(TelenorAPIError) as caught:
        make_client(api.url, delays, retries=0).request_token("mobile")

    assert (caught.value.status, caught.value.code) == (status, code)
    assert f"HTTP {status}" in str(caught.value)
    assert meaning in str(caught.value)
    # A later run may get past what the client itself retries, and nothing else.
    assert caught.value.retryable is (status >= 500 and (status, code) != (500, 16))
    assert_nothing_secret_in(caught.value)


@pytest.mark.parametrize("scheme", ["http", "https"])
def test_connection_refused_is_a_transport_error_after_retries(delays, scheme):
    port = closed_port()
    client = make_client(f"{scheme}://127.0.0.1:{port}", delays, retries=2)

    with pytest.raises(TelenorTransportError) as caught:
        client.request_token()

    assert (f"could not connect: nothing accepted the connection at 127.0.0.1:{port} (connection refused);"
            " check api_url's host and port (gave up after 3 attempts)") in str(caught.value)
    assert "https://" not in str(caught.value).partition("failed: ")[2]  # the scheme is not the problem
    assert caught.value.attempts == 3
    assert caught.value.retryable  # a later run may find the API back
    assert len(delays) == 2
    assert_nothing_secret_in(caught.value)


@pytest.mark.parametrize(("answer", "words"), [
    pytest.param(b"HTTP/1.1 200 OK\r\nX-Odd: " + b"Zq9" * 23000 + b"\r\n\r\n", "a line longer than http.client reads", id="huge-header"),
    pytest.param(b"HTTP/1.1 200 OK\r\n" + b"".join(b"X-%d: Zq9\r\n" % i for i in range(150)) + b"\r\n",
                 "more header lines than http.client reads", id="150-headers"),
    pytest.param(b"HTTP/1.1 99 Zq9\r\nContent-Length: 0\r\n\r\n", "no HTTP status line", id="status-99"),
    pytest.param(b"\x00\x01Zq9 garbage\r\n\r\n", "no HTTP status line", id="not-http"),
])
def test_an_answer_that_is_not_http_is_said_so_not_called_a_connection_failure(delays, answer, words):
    # An attacker's pass: these were "could not connect, or the connection was dropped".
    with HostileServer(answer) as server:
        with pytest.raises(TelenorTransportError) as caught:
            make_client(server.url, delays, retries=1).request_token()

    assert f"the answer was not HTTP that could be read ({words})" in str(caught.value)
    assert "could not connect" not in str(caught.value)
    assert "Zq9" not in str(caught.value)  # the server's bytes are not quoted
    assert caught.value.attempts == 2 and caught.value.retryable  # a gateway's garbage may pass


def test_a_connection_closed_without_an_answer_is_still_a_dropped_connection(delays):
    with HostileServer(b"") as server:
        port = server.url.rpartition(":")[2]
        with pytest.raises(TelenorTransportError) as caught:
            make_client(server.url, delays, retries=1).request_token()

    assert (f"the server at 127.0.0.1:{port} closed the connection without any answer; if api_url says http://"
            " where the server speaks HTTPS, use https:// (gave up after 2 attempts)") in str(caught.value)
    assert "nothing accepted the connection" not in str(caught.value)
    assert caught.value.attempts == 2 and server.connections == 2 and caught.value.retryable
    assert_nothing_secret_in(caught.value)


def test_plain_http_to_a_tls_server_suggests_https(tls_api, delays):
    # A new user's pass: http:// to the emulator's --tls port said "could not connect, or the
    # connection was dropped", like a port with nothing behind it.
    port = tls_api.url.rpartition(":")[2]
    with pytest.raises(TelenorTransportError) as caught:
        make_client(tls_api.url.replace("https://", "http://"), delays, retries=1).request_token()

    assert f"the server at 127.0.0.1:{port} closed the connection without any answer" in str(caught.value)
    assert "if api_url says http:// where the server speaks HTTPS, use https://" in str(caught.value)
    assert caught.value.attempts == 2 and caught.value.retryable
    assert tls_api.seen == []
    assert_nothing_secret_in(caught.value)


def test_timeout_is_a_transport_error_naming_the_option(api, delays):
    api.reply(TOKEN_PATH, 200, token_body(LEAKED_TOKEN), delay=1.0)

    with pytest.raises(TelenorTransportError) as caught:
        make_client(api.url, delays, retries=0, timeout=0.2).request_token()

    assert "timed out" in str(caught.value)
    assert "timeout option" in str(caught.value)
    assert_nothing_secret_in(caught.value)


def test_connection_dropped_mid_answer_is_retried(api, delays):
    api.reply(TOKEN_PATH, 200, token_body(LEAKED_TOKEN), drop=True)

    record = make_client(api.url, delays, retries=1).request_token()

    assert record.access_token.startswith(TOKEN_PREFIX)
    assert len(api.token_requests) == 2
    assert len(delays) == 1


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("<html><body>Welcome to the proxy</body></html>", id="html"),
        pytest.param('{"access_token": "%s", "expires_in": 3' % LEAKED_TOKEN, id="truncated"),
        pytest.param(f'{{"access_token": "{LEAKED_TOKEN}"}}', id="no-expires_in"),
        pytest.param(f'{{"access_token": "{LEAKED_TOKEN}", "expires_in": 60, "token_type": "mac"}}', id="mac-token"),
        pytest.param('{"expires_in": 3600}', id="no-access_token"),
    ],
)
def test_bad_200_bodies_are_response_errors_without_the_token(api, delays, body):
    api.issue_token(LEAKED_TOKEN)  # minted for the answers that carry it, which are revoked
    api.reply(TOKEN_PATH, 200, body)

    with pytest.raises(TelenorResponseError) as caught:
        make_client(api.url, delays).request_token()

    assert len(api.token_requests) == 1
    assert_nothing_secret_in(caught.value)


REFUSED_200_WITH_A_TOKEN = [
    pytest.param({"access_token": LEAKED_TOKEN}, id="no-expires_in"),
    pytest.param({"access_token": LEAKED_TOKEN, "expires_in": 3600, "token_type": "mac"}, id="mac-token"),
    pytest.param({"access_token": LEAKED_TOKEN, "expires_in": 0}, id="expires_in-0"),
    pytest.param({"access_token": LEAKED_TOKEN, "expires_in": "soon"}, id="expires_in-text"),
    pytest.param({"access_token": LEAKED_TOKEN, "expires_in": 3600, "refresh_token": "RT\n1"}, id="bad-refresh_token"),
    pytest.param({"access_token": LEAKED_TOKEN, "expires_in": 3600, "scope": "read\nLD_PRELOAD=/tmp/evil.so"},
                 id="bad-scope"),
]


@pytest.mark.parametrize("body", REFUSED_200_WITH_A_TOKEN)
def test_a_refused_200_that_carries_a_token_revokes_it(api, delays, body):
    # Review of issue 9: the refused answer had minted a live token, left
    # behind on the server, one more for every host that tried.
    api.issue_token(LEAKED_TOKEN)
    api.reply(TOKEN_PATH, 200, body)

    with pytest.raises(TelenorResponseError) as caught:
        make_client(api.url, delays).request_token()

    (logout,) = api.logout_requests
    assert logout.method == "GET"
    assert logout.headers["Authorization"] == f"Bearer {LEAKED_TOKEN}"
    assert "the token it carried was revoked" in str(caught.value)
    assert len(api.token_requests) == 1
    assert_nothing_secret_in(caught.value)


def test_a_201_that_carries_a_token_fails_and_revokes_it(api, delays):
    # RFC 6749 answers 200; a gateway that says 201 may still have minted a live token.
    api.issue_token(LEAKED_TOKEN)
    api.reply(TOKEN_PATH, 201, {"access_token": LEAKED_TOKEN, "expires_in": 3600, "token_type": "Bearer"})

    with pytest.raises(TelenorAPIError) as caught:
        make_client(api.url, delays, retries=0).request_token()

    (logout,) = api.logout_requests
    assert logout.headers["Authorization"] == f"Bearer {LEAKED_TOKEN}"
    assert "HTTP 201" in str(caught.value) and "the token it carried was revoked" in str(caught.value)
    assert_nothing_secret_in(caught.value)


@pytest.mark.parametrize("body", [f"access_token={LEAKED_TOKEN}&expires_in=3600", f'{{"accessToken": "{LEAKED_TOKEN}"}}'],
                         ids=["form-encoded", "camel-case"])
def test_a_201_body_is_never_quoted(api, delays, body):
    api.reply(TOKEN_PATH, 201, body)

    with pytest.raises(TelenorAPIError) as caught:
        make_client(api.url, delays, retries=0).request_token()

    assert "its body is not shown, as it may carry a token" in str(caught.value)
    assert_nothing_secret_in(caught.value)


def test_a_refused_200_whose_logout_fails_still_raises_the_response_error(api, delays):
    api.reply(TOKEN_PATH, 200, {"access_token": LEAKED_TOKEN, "token_type": "mac", "expires_in": 60})
    api.reply(LOGOUT_PATH, 500, "Error code 2 - Internal Server Error")

    with pytest.raises(TelenorResponseError, match="type 'mac'") as caught:
        make_client(api.url, delays, retries=0).request_token()

    assert "stays valid until it expires" in str(caught.value)
    assert len(api.logout_requests) == 1
    assert_nothing_secret_in(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"access_token": "AT-split\r\nX-Evil: 1", "expires_in": 60}, id="crlf-token"),
        pytest.param({"access_token": "AT-" + "x" * 20000, "expires_in": 60}, id="oversized-token"),
        pytest.param({"expires_in": 60}, id="no-token"),
        pytest.param("<html>proxy</html>", id="not-json"),
    ],
)
def test_a_refused_200_without_a_sendable_token_makes_no_logout(api, delays, body):
    # A token that cannot go in a Bearer header unchanged is never sent anywhere.
    api.reply(TOKEN_PATH, 200, body)

    with pytest.raises(TelenorResponseError) as caught:
        make_client(api.url, delays).request_token()

    assert api.logout_requests == []
    assert "revoked" not in str(caught.value)


def test_netrc_entry_for_the_api_host_does_not_replace_our_credentials(api, delays, tmp_path, monkeypatch):
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login portal-user password portal-password\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))

    api.issue_token(LEAKED_TOKEN)  # a live token, which the logout revokes
    make_client(api.url, delays).request_token()
    make_client(api.url, delays).revoke(LEAKED_TOKEN)

    assert api.token_requests[0].headers["Authorization"] == basic_authorization(CLIENT_ID, CLIENT_SECRET)
    assert api.logout_requests[0].headers["Authorization"] == f"Bearer {LEAKED_TOKEN}"


def test_client_repr_hides_the_secret(delays):
    assert CLIENT_SECRET not in repr(make_client("https://api.telenor.no", delays))


# --- TLS -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def certificate(tmp_path_factory) -> tuple[str, str]:
    return self_signed_certificate(str(tmp_path_factory.mktemp("tls")))


@pytest.fixture
def tls_api(certificate):
    server = FakeTelenorAPI(tls=certificate).start()
    try:
        yield server
    finally:
        server.stop()


def test_untrusted_certificate_fails_at_once_and_says_what_to_do(tls_api, delays):
    with pytest.raises(TelenorTransportError) as caught:
        make_client(tls_api.url, delays, retries=3).request_token()

    assert "TLS certificate verification failed" in str(caught.value)
    assert "ca_path" in str(caught.value)
    assert caught.value.attempts == 1
    assert not caught.value.retryable  # every run would meet the same certificate
    assert delays == []
    assert tls_api.seen == []
    assert_nothing_secret_in(caught.value)


def test_a_ca_path_that_did_not_sign_the_certificate_is_named(tls_api, delays, tmp_path):
    # A new user's pass: "set ca_path to your CA bundle" when ca_path was set, to another CA.
    other_ca, dummy_key = self_signed_certificate(str(tmp_path))
    with pytest.raises(TelenorTransportError) as caught:
        make_client(tls_api.url, delays, retries=3, ca_path=other_ca).request_token()

    assert f"no CA in ca_path {other_ca!r} signed the server's certificate" in str(caught.value)
    assert caught.value.attempts == 1 and not caught.value.retryable


def test_a_certificate_for_another_host_name_says_so(tls_api, delays, certificate):
    with pytest.raises(TelenorTransportError) as caught:  # the certificate is for 127.0.0.1 only
        make_client(tls_api.url.replace("127.0.0.1", "localhost"), delays, ca_path=certificate[0]).request_token()

    assert "the server's certificate is not for api_url's host name" in str(caught.value)


@pytest.mark.parametrize(("answer", "words"), [
    pytest.param(b"", "dropped the connection during the TLS handshake", id="closed-after-the-client-hello"),
    pytest.param(b"\x15\x03\x03\x00\x02\x02\x50", "failed the TLS handshake with an internal_error alert; if it persists,"
                 " check api_url's host name", id="tls-alert-internal-error"),
])
def test_a_handshake_the_server_drops_is_retried_and_not_called_a_certificate_failure(delays, answer, words):
    # An attacker's pass: a gateway that hung up during the handshake was reported as a
    # certificate failure, not retried, and not retryable, pointing users at validate_certs.
    with HostileServer(answer) as server:
        with pytest.raises(TelenorTransportError) as caught:
            make_client(server.url.replace("http://", "https://"), delays, retries=2).request_token()

    assert words in str(caught.value)
    assert "certificate verification" not in str(caught.value) and "validate_certs" not in str(caught.value)
    assert "gave up after 3 attempts" in str(caught.value)
    assert caught.value.attempts == 3 and server.connections == 3
    assert caught.value.retryable


def test_plain_http_on_the_https_port_fails_at_once_naming_the_scheme_and_port(delays):
    with HostileServer(http_answer("503 Service Unavailable", b"down")) as server:
        with pytest.raises(TelenorTransportError) as caught:
            make_client(server.url.replace("http://", "https://"), delays, retries=2).request_token()

    # OpenSSL before 3.2 has a code for it; 3.2 and later only words.
    assert re.search(r"the TLS handshake failed \((WRONG_VERSION_NUMBER|record layer failure)\)", str(caught.value))
    assert "check that api_url's scheme and port are those of the API's HTTPS" in str(caught.value)
    assert "certificate" not in str(caught.value)
    assert caught.value.attempts == 1 and not caught.value.retryable


@pytest.mark.parametrize("content", [pytest.param(b"", id="empty"), pytest.param(b"\x30\x82\x01\x0a", id="der-not-pem")])
def test_a_ca_path_that_holds_no_pem_certificate_is_named(delays, tmp_path, content):
    # A review: it was called "the TLS handshake failed (SSLError)", pointing at the URL.
    ca_path = tmp_path / "ca.cer"
    ca_path.write_bytes(content)
    with HostileServer(b"") as server:
        with pytest.raises(TelenorTransportError) as caught:
            make_client(server.url.replace("http://", "https://"), delays, retries=2, ca_path=str(ca_path)).request_token()

    assert "the CA bundle in ca_path could not be loaded (X509: NO_CERTIFICATE_OR_CRL_FOUND): it must hold PEM" in str(caught.value)
    assert caught.value.attempts == 1 and not caught.value.retryable


@pytest.mark.parametrize("trust", ["ca_path", "validate_certs_false"])
def test_certificate_is_trusted_through_ca_path_or_not_checked(tls_api, delays, certificate, trust):
    options = {"ca_path": certificate[0]} if trust == "ca_path" else {"validate_certs": False}

    record = make_client(tls_api.url, delays, **options).request_token()

    assert record.access_token.startswith(TOKEN_PREFIX)
    assert len(tls_api.token_requests) == 1


# --- revocation ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "revoked"),
    [
        pytest.param(200, "OK!", True, id="revoked"),
        pytest.param(401, "Error code 2 - Invalid access token", False, id="already-invalid-text"),
        pytest.param(401, '{"code": 2}', False, id="already-invalid-json"),
    ],
)
def test_revoke_tells_revoked_from_already_invalid(api, delays, status, body, revoked):
    api.reply(LOGOUT_PATH, status, body)

    assert make_client(api.url, delays).revoke(LEAKED_TOKEN) is revoked
    (seen,) = api.logout_requests
    assert seen.method == "GET"
    assert seen.headers["Authorization"] == f"Bearer {LEAKED_TOKEN}"
    assert api.token_requests == []


@pytest.mark.parametrize(
    ("replies", "retries", "status", "code", "requests"),
    [
        pytest.param([(401, "Error code 6 - Missing or bad Authorization header")], 3, 401, 6, 1, id="bad-header"),
        pytest.param([(401, "")], 3, 401, None, 1, id="401-without-code"),
        pytest.param([(500, "Error code 2 - Internal Server Error")] * 2, 1, 500, 2, 2, id="server-error"),
        pytest.param([(403, "")], 3, 403, None, 1, id="forbidden"),
    ],
)
def test_revoke_failures_raise(api, delays, replies, retries, status, code, requests):
    for reply_status, body in replies:
        api.reply(LOGOUT_PATH, reply_status, body)

    with pytest.raises(TelenorAPIError) as caught:
        make_client(api.url, delays, retries=retries).revoke(LEAKED_TOKEN)

    assert (caught.value.status, caught.value.code) == (status, code)
    assert "revocation" in str(caught.value)
    assert len(api.logout_requests) == requests
    assert_nothing_secret_in(caught.value)


def test_revoke_of_unreachable_api_is_a_transport_error(delays):
    with pytest.raises(TelenorTransportError) as caught:
        make_client(f"http://127.0.0.1:{closed_port()}", delays, retries=0).revoke(LEAKED_TOKEN)

    assert isinstance(caught.value, TelenorOAuthError)
    assert "revocation" in str(caught.value)
    assert_nothing_secret_in(caught.value)


def test_proxy_from_the_environment_is_used(api, delays, monkeypatch):
    # The fake API doubles as the proxy: requests sends it the absolute URL.
    monkeypatch.setenv("HTTP_PROXY", api.url)

    record = make_client("http://api.telenor.invalid", delays, retries=0).request_token()

    assert record.access_token.startswith(TOKEN_PREFIX)
    (seen,) = api.token_requests
    assert seen.target == "http://api.telenor.invalid/oauth/v2/token"
    assert seen.headers["Authorization"] == basic_authorization(CLIENT_ID, CLIENT_SECRET)


@pytest.mark.parametrize(
    ("client_id", "words"),
    [
        ("me@example.com", "looks like an e-mail address"),
        ("+4791234567", "looks like a mobile number"),
        ("xhdrs6uleK1xyZBOvX37PJ5wALcv1O9", None),
    ],
)
def test_a_client_id_that_looks_like_a_connectid_login_is_pointed_out(api, delays, client_id, words):
    api.reply(TOKEN_PATH, 401, "Error code 22 - Basic Authentication failed, bad username or password.")

    with pytest.raises(TelenorAPIError) as caught:
        make_client(api.url, delays, client_id=client_id).request_token()

    assert caught.value.code == 22
    if words:
        assert words in str(caught.value)
        assert "Connectid" in str(caught.value)
    else:
        assert "looks like" not in str(caught.value)


@pytest.mark.parametrize("secret", [CLIENT_SECRET + "\n", " " + CLIENT_SECRET], ids=["line-break-at-the-end", "space-first"])
def test_a_refused_secret_with_spaces_or_a_line_break_around_it_is_pointed_out(api, delays, secret):
    # ansible-vault encrypt_string with Enter before Ctrl-D vaults the line break too.
    api.reply(TOKEN_PATH, 401, "Error code 22 - Basic Authentication failed, bad username or password.")

    with pytest.raises(TelenorAPIError) as caught:
        make_client(api.url, delays, client_secret=secret).request_token()

    assert "The client_secret begins or ends with spaces or a line break" in str(caught.value)
    assert_nothing_secret_in(caught.value)


def test_an_unknown_client_id_suggests_that_id_and_secret_may_be_swapped(api, delays):
    api.reply(TOKEN_PATH, 401, "Error code 1 - Invalid client id")

    with pytest.raises(TelenorAPIError) as caught:
        make_client(api.url, delays).request_token()

    assert "Check too that client_id and client_secret are not swapped" in str(caught.value)
    assert_nothing_secret_in(caught.value)


def test_a_well_formed_secret_that_is_refused_gets_no_whitespace_note(api, delays):
    api.reply(TOKEN_PATH, 401, "Error code 22 - Basic Authentication failed, bad username or password.")

    with pytest.raises(TelenorAPIError) as caught:
        make_client(api.url, delays).request_token()

    assert "line break" not in str(caught.value) and "swapped" not in str(caught.value)


# --- issue 9: proxies, deadlines, bounded reads, words for any OAuth server ------


@pytest.fixture
def proxy():
    """A second fake API, to stand as the proxy: it records every request it gets."""
    server = FakeTelenorAPI().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"])
@pytest.mark.parametrize("call", ["token", "logout"])
def test_no_proxy_is_used_for_a_loopback_api(api, proxy, delays, monkeypatch, variable, call):
    # Issue 9: with HTTP_PROXY set, the Basic header of an http:// loopback
    # request went, in clear, to the proxy.
    monkeypatch.setenv(variable, proxy.url)
    client = make_client(api.url, delays, retries=0)

    if call == "token":
        assert client.request_token().access_token.startswith(TOKEN_PREFIX)
    else:
        api.issue_token(LEAKED_TOKEN)  # a live token, which the logout revokes
        assert client.revoke(LEAKED_TOKEN) is True

    assert proxy.seen == []  # the proxy was never contacted
    (seen,) = api.seen
    assert seen.target in (TOKEN_PATH, LOGOUT_PATH)  # a direct request, not a proxied absolute URL


def _wait_for(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(http_answer("200 OK", token_body("AT-trickled")), id="whole-answer-trickled"),
        pytest.param(http_answer("200 OK", b" " * 100 + token_body("AT-trickled")), id="body-trickled"),
    ],
)
def test_a_trickling_server_is_cut_off_at_the_timeout_and_said_to_time_out(delays, answer):
    # Issue 9: one byte every 0.5 s never tripped the per-read timeout, so an
    # attempt lasted as long as the server liked; it was then called "dropped".
    with HostileServer(answer, pause=0.5) as server:
        with pytest.raises(TelenorTransportError) as caught:
            make_client(server.url, delays, timeout=1, retries=1).request_token()
        _wait_for(lambda: len(server.completed) == 2)

    assert "timed out" in str(caught.value)
    assert "dropped" not in str(caught.value)
    assert "gave up after 2 attempts" in str(caught.value)
    assert server.completed == [False, False]  # the client hung up before the answer was complete
    assert all(sent < len(answer) for sent in server.sent)


def test_a_tls_handshake_trickled_byte_by_byte_is_cut_off_at_the_timeout(certificate, delays):
    # Review of issue 9 (item 8): the attempt's deadline must hold from connect
    # through the TLS handshake, not only for the HTTP read. The server's
    # handshake answer (about 750 bytes) at one byte every 0.5 s would take
    # minutes per attempt if only each read were bounded.
    with TrickledTLSHandshakeServer(certificate, pause=0.5) as server:
        with pytest.raises(TelenorTransportError) as caught:
            make_client(server.url, delays, timeout=1, retries=1, ca_path=certificate[0]).request_token()
        _wait_for(lambda: len(server.completed) == 2)

    # The attempt's own deadline ended it, and says so.
    assert "timed out: no complete answer within 1 s" in str(caught.value)
    assert "TLS certificate verification failed" not in str(caught.value)
    assert "gave up after 2 attempts" in str(caught.value)
    assert server.completed == [False, False]  # the client hung up in the middle of each handshake
    assert all(sent < flight for sent, flight in zip(server.sent, server.flight))
    assert delays and len(delays) == 1  # retried once, as for any timeout


def test_no_connection_is_started_after_the_attempts_deadline(delays, monkeypatch):
    # Review of issue 9 (item 8): urllib3 gives each address of a host name the
    # whole connect timeout, so with every address unreachable an attempt took
    # one timeout per address. Here the name has two: the first never answers,
    # so the attempt's second is over before the second address may be tried.
    real_getaddrinfo = socket.getaddrinfo
    with UnreachableListener() as unreachable, HostileServer(http_answer("200 OK", token_body("AT-late"))) as second:
        reachable = ("127.0.0.1", int(second.url.rpartition(":")[2]))

        def two_addresses(host, port, *args, **kwargs):
            if host != "localhost":
                return real_getaddrinfo(host, port, *args, **kwargs)
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", address) for address in (unreachable.address, reachable)]

        monkeypatch.setattr(socket, "getaddrinfo", two_addresses)
        with pytest.raises(TelenorTransportError) as caught:
            make_client("http://localhost:8080", delays, timeout=1, retries=0).request_token()

    assert "timed out" in str(caught.value)
    assert second.connections == 0  # the second address was never tried after the deadline


def test_a_huge_token_answer_is_refused_after_64_kib(delays):
    # Issue 9: a 200 MB answer took 449 MB of memory.
    total = 50 * 1024 * 1024
    with HostileServer(endless_body("200 OK", total)) as server:
        tracemalloc.start()
        try:
            with pytest.raises(TelenorResponseError, match="more than 64 KiB"):
                make_client(server.url, delays, retries=0).request_token()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        _wait_for(lambda: len(server.completed) == 1)

    assert peak < 4 * 1024 * 1024
    assert server.completed == [False]


def test_a_huge_error_answer_is_read_only_in_part_and_quoted_in_short(delays):
    with HostileServer(endless_body("401 Unauthorized", 20 * 1024 * 1024)) as server:
        with pytest.raises(TelenorAPIError) as caught:
            make_client(server.url, delays, retries=0).request_token()
        _wait_for(lambda: len(server.completed) == 1)

    assert caught.value.status == 401
    quoted = str(caught.value).partition("it began: ")[2]
    assert 0 < len(quoted) <= 200 + 2  # the excerpt and its quotes
    assert server.completed == [False]


OAUTH_BODIES = [
    pytest.param(
        {"error": "invalid_client", "error_description": "Client authentication failed."}, {},
        ["HTTP 401", "OAuth error invalid_client", "Client authentication failed.", "check client_id and client_secret",
         "Connectid"],
        id="rfc6749-invalid_client",
    ),
    pytest.param(
        {"error": "invalid_scope"}, {}, ["OAuth error invalid_scope", "check the scope option"], id="rfc6749-invalid_scope",
    ),
    pytest.param(
        {"error": "unauthorized_client", "error_description": "grant not allowed"}, {},
        ["OAuth error unauthorized_client", "the app may not use the client_credentials grant"], id="rfc6749-unauthorized_client",
    ),
    pytest.param(
        {"ErrorCode": "invalid_client", "Error": "Invalid client identifier"}, {},
        ["OAuth error invalid_client", "Invalid client identifier", "check client_id"], id="gateway-ErrorCode",
    ),
    pytest.param(
        {"fault": {"faultstring": "Invalid ApiKey", "detail": {"errorcode": "oauth.v2.InvalidApiKey"}}}, {},
        ["OAuth error oauth.v2.InvalidApiKey", "Invalid ApiKey"], id="gateway-fault",
    ),
    pytest.param(
        {"fault": {"faultstring": "Rate limit quota violation"}}, {}, ["gateway fault", "Rate limit quota violation"],
        id="gateway-fault-without-code",
    ),
    pytest.param(
        "", {"WWW-Authenticate": 'Bearer realm="api", error="invalid_client", error_description="bad secret"'},
        ["OAuth error invalid_client", "bad secret", "check client_id"], id="rfc6750-www-authenticate",
    ),
]


@pytest.mark.parametrize(("body", "headers", "words"), OAUTH_BODIES)
def test_oauth_and_gateway_errors_are_named_with_the_seed_hints(api, delays, body, headers, words):
    # Issue 9: these all said "HTTP 401 with no Telenor error code in the response".
    api.reply(TOKEN_PATH, 401, body, headers=headers)

    with pytest.raises(TelenorAPIError) as caught:
        make_client(api.url, delays, client_id="me@example.com").request_token()

    missing = [word for word in words if word not in str(caught.value)]
    assert not missing, str(caught.value)
    assert "no Telenor error code" not in str(caught.value)
    assert_nothing_secret_in(caught.value)


def test_retried_error_answers_are_read_for_their_oauth_error_only_once(api, delays, monkeypatch):
    # Review of issue 9: each retried 500 was fully described (WWW-Authenticate
    # parsed twice) just to learn whether it was code 16, then the last one twice more.
    from ansible_collections.telenor.oauth.plugins.module_utils import _api_errors  # pylint: disable=import-outside-toplevel

    reads = []
    real = _api_errors.oauth_error
    monkeypatch.setattr(_api_errors, "oauth_error", lambda *args, **kwargs: reads.append(1) or real(*args, **kwargs))
    for dummy in range(4):
        api.reply(TOKEN_PATH, 500, "", headers={"WWW-Authenticate": 'Bearer error="temporarily_unavailable"'})

    with pytest.raises(TelenorAPIError, match="OAuth error temporarily_unavailable"):
        make_client(api.url, delays, retries=3).request_token()

    assert len(api.token_requests) == 4
    assert len(reads) == 1


def test_the_logout_names_an_rfc6750_challenge(api, delays):
    api.reply(LOGOUT_PATH, 400, "", headers={"WWW-Authenticate": 'Bearer error="invalid_request"'})

    with pytest.raises(TelenorAPIError, match="OAuth error invalid_request"):
        make_client(api.url, delays).revoke(LEAKED_TOKEN)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(f"<html>denied for {CLIENT_SECRET}</html>", id="secret-echoed"),
        pytest.param(f"<html>{LEAKED_TOKEN} is unknown</html>", id="token-echoed"),
        pytest.param(f"Authorization: {basic_authorization(CLIENT_ID, CLIENT_SECRET)}", id="basic-header-echoed"),
        pytest.param(f"header {basic_authorization(CLIENT_ID, CLIENT_SECRET).split()[1]} rejected", id="basic-value-echoed"),
        pytest.param('{"status": "nope", "access_token": "AT-other-live-token"}', id="other-token-in-json"),
        pytest.param("Bearer AT-some-bearer-token was refused", id="bearer-value"),
    ],
)
def test_an_unrecognised_body_is_quoted_short_with_secrets_and_tokens_masked(api, delays, body):
    api.reply(TOKEN_PATH, 403, body)
    api.reply(LOGOUT_PATH, 403, body)
    client = make_client(api.url, delays, retries=0)

    # The token request knows no token; the logout knows the one it revokes.
    for call, known in ((client.request_token, FORBIDDEN[:2]), (lambda: client.revoke(LEAKED_TOKEN), FORBIDDEN)):
        with pytest.raises(TelenorAPIError) as caught:
            call()
        message = str(caught.value)
        assert "it began: " in message
        assert not [value for value in known if value in message]
        assert "AT-other-live-token" not in message
        assert "AT-some-bearer-token" not in message


# Secrets with characters that JSON, URLs and HTML each write otherwise.
ODD_CLIENT_SECRET = "Kq7/Rz2+Wm8\u00e6Np4&Ls6<Td3"
ODD_PASSWORD = "Pw9/Hj3+\u00f8Yt6&<Bn2 Fk8"
ODD_REFRESH = "RT-Mc4/Gv8+Ds1=="
ECHOES = {
    "json-php": lambda value: json.dumps(value)[1:-1].replace("/", "\\/"),
    "json": lambda value: json.dumps(value)[1:-1],
    "percent-encoded": lambda value: quote(value, safe=""),
    "form-encoded": quote_plus,
    "html-escaped": html.escape,
}


@pytest.mark.parametrize("echo", ECHOES.values(), ids=ECHOES.keys())
@pytest.mark.parametrize("secret", [ODD_CLIENT_SECRET, ODD_PASSWORD, ODD_REFRESH], ids=["client_secret", "password", "refresh_token"])
def test_every_secret_of_a_token_request_is_masked_however_the_server_echoes_it(api, delays, secret, echo):
    # An attacker's review: the client secret was masked only as sent, the
    # password only as sent and percent-encoded, the refresh token only as sent.
    api.reply(TOKEN_PATH, 403, f"<html>rejected: {echo(secret)}</html>")
    client = make_client(api.url, delays, retries=0, client_secret=ODD_CLIENT_SECRET,
                         grant_type="password", username="sys-ordering-Lm4", password=ODD_PASSWORD)

    with pytest.raises(TelenorAPIError) as caught:
        client.refresh_token(ODD_REFRESH)

    message = str(caught.value)
    assert "it began: '<html>rejected: ***</html>'" in message
    for piece in ("Kq7", "Rz2", "Td3", "Pw9", "Hj3", "Fk8", "Mc4", "Gv8", "Ds1"):
        assert piece not in message


def test_the_excerpt_is_at_most_200_printable_characters(api, delays):
    api.reply(TOKEN_PATH, 418, ("\x1b[31mred\x00\u2028 " + "y" * 500).encode("utf-8"))

    with pytest.raises(TelenorAPIError) as caught:
        make_client(api.url, delays, retries=0).request_token()

    excerpt = str(caught.value).partition("it began: ")[2][1:-1]
    assert len(excerpt) <= 200
    assert excerpt.startswith("[31mred ")
    assert all(" " <= char <= "~" for char in excerpt)


def test_an_answer_read_in_full_as_the_attempt_runs_out_is_kept(api, delays, monkeypatch):
    # The clock passes the deadline just after the whole answer was read, before the
    # watchdog's timer has cut anything: the token in it is the run's, not a lost one.
    from ansible_collections.telenor.oauth.plugins.module_utils import _client, _deadline

    real_read, real_clock = _client.read_bounded, _deadline.time.monotonic

    def read_then_run_out(response):
        answer = real_read(response)
        monkeypatch.setattr(_deadline.time, "monotonic", lambda: real_clock() + 3600)
        return answer

    monkeypatch.setattr(_client, "read_bounded", read_then_run_out)

    record = make_client(api.url, delays, timeout=5, retries=2).request_token()

    assert record.access_token
    assert len(api.token_requests) == 1  # not retried: no token was minted and dropped

# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Reading the token endpoint's 200 answer into a record (_token_response)."""

from __future__ import annotations

import json

import pytest

from ansible_collections.telenor.oauth.plugins.module_utils._errors import TelenorResponseError
from ansible_collections.telenor.oauth.plugins.module_utils._token_response import MAX_LIFETIME, record_from_response

TOKEN = "AT-Rk3Jd9Wq-unit"
REFRESH = "RT-Vb7Ng1Ls-unit"
REQUESTED_AT = 1_700_000_000.0


def _body(**fields) -> str:
    return json.dumps(fields)


@pytest.mark.parametrize(
    ("expires_in", "lifetime"),
    [
        pytest.param(3599, 3599, id="int-as-in-example"),
        pytest.param("3600", 3600, id="string-as-in-seed-response"),
        pytest.param(" 3600 ", 3600, id="padded-string"),
        pytest.param(3600.0, 3600, id="integral-float"),
        pytest.param(1e300, MAX_LIFETIME, id="huge-is-capped"),
        pytest.param("9" * 20, MAX_LIFETIME, id="huge-string-is-capped"),
        pytest.param(1, 1, id="one-second"),
    ],
)
def test_expires_in_gives_expiry_from_the_request_time(expires_in, lifetime):
    record = record_from_response(
        _body(access_token=TOKEN, expires_in=expires_in), requested_at=REQUESTED_AT, requested_scope=None
    )

    assert record.access_token == TOKEN
    assert record.lifetime == lifetime
    assert record.issued_at == REQUESTED_AT
    assert record.expires_at == REQUESTED_AT + lifetime


@pytest.mark.parametrize(
    "fields",
    [
        pytest.param({}, id="missing"),
        pytest.param({"expires_in": None}, id="null"),
        pytest.param({"expires_in": 0}, id="zero"),
        pytest.param({"expires_in": "0"}, id="zero-string"),
        pytest.param({"expires_in": -60}, id="negative"),
        pytest.param({"expires_in": "-60"}, id="negative-string"),
        pytest.param({"expires_in": "soon"}, id="words"),
        pytest.param({"expires_in": ""}, id="empty-string"),
        pytest.param({"expires_in": "nan"}, id="nan-string"),
        pytest.param({"expires_in": True}, id="boolean"),
        pytest.param({"expires_in": [3600]}, id="list"),
        pytest.param({"expires_in": {"seconds": 3600}}, id="object"),
        pytest.param({"expires_in": "inf"}, id="infinite-string"),
        pytest.param({"expires_in": "-Infinity"}, id="minus-infinite-string"),
        # Issue 9: a fraction is a token expired once cached; Python-only
        # number spellings are not JSON numbers.
        pytest.param({"expires_in": 0.5}, id="half-second"),
        pytest.param({"expires_in": 3600.9}, id="fraction"),
        pytest.param({"expires_in": "1_000"}, id="underscore"),
        pytest.param({"expires_in": " 1_000 "}, id="padded-underscore"),
        pytest.param({"expires_in": "1e3"}, id="exponent-string"),
        pytest.param({"expires_in": "+60"}, id="plus-sign"),
        pytest.param({"expires_in": "\u0661\u0662"}, id="non-ascii-digits"),
    ],
)
def test_unusable_expires_in_is_a_response_error(fields):
    with pytest.raises(TelenorResponseError, match="expires_in") as caught:
        record_from_response(_body(access_token=TOKEN, **fields), requested_at=REQUESTED_AT, requested_scope=None)

    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize("number", ["1e999", "-1e999", "NaN", "Infinity"])
def test_non_finite_expires_in_number_is_a_response_error(number):
    # Python's json decodes these to inf/nan floats.
    with pytest.raises(TelenorResponseError, match="expires_in"):
        record_from_response(
            '{"access_token": "%s", "expires_in": %s}' % (TOKEN, number), requested_at=REQUESTED_AT, requested_scope=None
        )


@pytest.mark.parametrize(
    ("fields", "token_type"),
    [
        pytest.param({}, "Bearer", id="absent-means-bearer"),
        pytest.param({"token_type": None}, "Bearer", id="null-means-bearer"),
        pytest.param({"token_type": "Bearer"}, "Bearer", id="Bearer"),
        pytest.param({"token_type": "bearer"}, "Bearer", id="lower-case"),
        pytest.param({"token_type": "BEARER"}, "Bearer", id="upper-case"),
    ],
)
def test_bearer_tokens_are_accepted_in_any_case(fields, token_type):
    record = record_from_response(
        _body(access_token=TOKEN, expires_in=3600, **fields), requested_at=REQUESTED_AT, requested_scope=None
    )

    assert record.token_type == token_type
    assert record.as_result(now=REQUESTED_AT)["authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize("token_type", ["mac", "MAC", "N_A", "Basic"])
def test_token_types_other_than_bearer_are_refused(token_type):
    with pytest.raises(TelenorResponseError, match="only Bearer tokens are supported") as caught:
        record_from_response(
            _body(access_token=TOKEN, expires_in=3600, token_type=token_type),
            requested_at=REQUESTED_AT,
            requested_scope=None,
        )

    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param("OK!", id="plain-text"),
        pytest.param("<!DOCTYPE html><html><body>Telenor login portal</body></html>", id="html-page"),
        pytest.param('{"access_token": "%s", "expires_in": 36' % TOKEN, id="truncated-json"),
        pytest.param("", id="empty"),
        pytest.param(b"\xff\xfe\x00garbage", id="binary"),
        pytest.param("[]", id="json-list"),
        pytest.param(json.dumps(TOKEN), id="json-string"),
        pytest.param("null", id="json-null"),
        pytest.param(_body(expires_in=3600), id="no-access_token"),
        pytest.param(_body(access_token="", expires_in=3600), id="empty-access_token"),
        pytest.param(_body(access_token="   ", expires_in=3600), id="blank-access_token"),
        pytest.param(_body(access_token=None, expires_in=3600), id="null-access_token"),
        pytest.param(_body(access_token=12345, expires_in=3600), id="numeric-access_token"),
        pytest.param(_body(token=TOKEN, expires_in=3600), id="token-under-another-key"),
    ],
)
def test_a_200_body_that_is_not_a_token_response_is_a_response_error(body):
    with pytest.raises(TelenorResponseError) as caught:
        record_from_response(body, requested_at=REQUESTED_AT, requested_scope="a b")

    assert TOKEN not in str(caught.value)


def test_a_deeply_nested_200_body_is_a_response_error():
    with pytest.raises(TelenorResponseError):
        record_from_response("[" * 100_000, requested_at=REQUESTED_AT, requested_scope=None)


@pytest.mark.parametrize(
    ("fields", "requested_scope", "scope"),
    [
        pytest.param({}, "mobile sms", "mobile sms", id="requested-scope-when-not-echoed"),
        pytest.param({"scope": "mobile"}, "mobile sms", "mobile", id="granted-scope-wins"),
        pytest.param({}, None, None, id="no-scope"),
        pytest.param({"scope": ""}, None, None, id="empty-granted-scope"),
        # Not in RFC 6749's grammar, but harmless: kept as no scope granted, not refused.
        pytest.param({"scope": ""}, "mobile sms", None, id="empty-granted-scope-after-a-request"),
    ],
)
def test_scope_is_the_granted_one_or_the_requested_one(fields, requested_scope, scope):
    record = record_from_response(
        _body(access_token=TOKEN, expires_in=3600, **fields), requested_at=REQUESTED_AT, requested_scope=requested_scope
    )

    assert record.scope == scope
    assert record.as_result(now=REQUESTED_AT)["scope"] == scope


@pytest.mark.parametrize(
    "scope",
    [
        pytest.param("openid profile email", id="space-separated"),
        pytest.param("read,write", id="comma-separated"),
        pytest.param("https://graph.example.com/.default", id="uri"),
        pytest.param("mobile:sms.send [beta] ~x", id="punctuation"),
        pytest.param("!#$%&'()*+-./:;<=>?@[]^_`{|}~", id="every-allowed-punctuation"),
    ],
)
def test_a_granted_rfc6749_scope_is_kept_as_sent(scope):
    record = record_from_response(
        _body(access_token=TOKEN, expires_in=3600, scope=scope), requested_at=REQUESTED_AT, requested_scope="mobile"
    )

    assert record.scope == scope


@pytest.mark.parametrize("scope", ["openid  profile", " openid profile", "openid profile "],
                         ids=["two-spaces", "leading-space", "trailing-space"])
def test_spaces_around_or_between_granted_scopes_are_normalised(scope):
    # Some servers pad; spaces add no line to the files the role writes, so the token is kept.
    record = record_from_response(
        _body(access_token=TOKEN, expires_in=3600, scope=scope), requested_at=REQUESTED_AT, requested_scope="mobile"
    )

    assert record.scope == "openid profile"


# Every case carries Zq9, so that the message can be checked for any piece of it.
@pytest.mark.parametrize(
    ("scope", "fault"),
    [
        # The attacker's review: these lines went verbatim into the role's env files.
        pytest.param("read\nLD_PRELOAD=/tmp/evil.so\n\u001b[2JZq9", "control characters", id="review-finding"),
        pytest.param("Zq9\r\nX-Injected: yes", "control characters", id="crlf"),
        pytest.param("Zq9\tsms", "control characters", id="tab"),
        pytest.param("Zq9\x00", "control characters", id="nul"),
        pytest.param("Zq9\x7f", "control characters", id="del"),
        pytest.param("Zq9 m\u00e6", "non-ASCII", id="non-ascii"),
        pytest.param("Zq9\u2028sms", "non-ASCII", id="unicode-line-separator"),
        pytest.param('Zq9"sms', "double-quote", id="double-quote"),
        pytest.param("Zq9\\sms", "backslash", id="backslash"),
    ],
)
def test_a_scope_that_is_not_rfc6749_is_refused_unquoted(scope, fault):
    with pytest.raises(TelenorResponseError) as caught:
        record_from_response(
            _body(access_token=TOKEN, expires_in=3600, scope=scope), requested_at=REQUESTED_AT, requested_scope="mobile"
        )

    message = str(caught.value)
    assert "invalid 'scope'" in message
    assert "RFC 6749 section 3.3" in message
    assert fault in message
    assert f"({len(scope)} characters)" in message
    assert "Zq9" not in message
    assert all(" " <= char <= "~" for char in message)


def test_seed_example_response_keeps_the_refresh_token_but_never_returns_it():
    seed_example = json.dumps(
        {"access_token": TOKEN, "expires_in": "3600", "token_type": "Bearer", "refresh_token": REFRESH}
    ).encode("utf-8")

    record = record_from_response(seed_example, requested_at=REQUESTED_AT, requested_scope=None)
    result = record.as_result(now=REQUESTED_AT + 600)

    assert record.refresh_token == REFRESH
    assert REFRESH not in json.dumps(result)
    assert result == {
        "access_token": TOKEN,
        "token_type": "Bearer",
        "expires_in": 3000,
        "expires_at": int(REQUESTED_AT + 3600),
        "scope": None,
        "authorization": f"Bearer {TOKEN}",
    }


@pytest.mark.parametrize("refresh", [None, "", 42])
def test_an_unusable_refresh_token_is_not_kept(refresh):
    record = record_from_response(
        _body(access_token=TOKEN, expires_in=3600, refresh_token=refresh), requested_at=REQUESTED_AT, requested_scope=None
    )

    assert record.refresh_token is None


@pytest.mark.parametrize(
    "token",
    [
        pytest.param("AT-1\r\nX-Injected: yes", id="crlf"),
        pytest.param("AT-1\nX", id="lf"),
        pytest.param("AT-1\x00", id="nul"),
        pytest.param("AT-1\x7f", id="del"),
        pytest.param("AT-1 2", id="space"),
        pytest.param("AT-\u00e6", id="non-ascii"),
        pytest.param("=AT", id="padding-first"),
    ],
)
def test_a_token_that_is_not_an_rfc6750_b64token_is_refused_unquoted(token):
    with pytest.raises(TelenorResponseError) as caught:
        record_from_response(_body(access_token=token, expires_in=60), requested_at=REQUESTED_AT, requested_scope=None)

    assert "RFC 6750" in str(caught.value)
    assert "AT-" not in str(caught.value)


@pytest.mark.parametrize("token", ["AT-1", "eyJhbGciOi.eyJzdWIi.c2lnbmF0dXJl", "a+b/c~d_e.f-g==", "Z"])
def test_b64tokens_are_accepted(token):
    record = record_from_response(_body(access_token=token, expires_in=60), requested_at=REQUESTED_AT, requested_scope=None)

    assert record.access_token == token


def test_a_refresh_token_with_control_characters_is_refused():
    with pytest.raises(TelenorResponseError, match="refresh_token"):
        record_from_response(
            _body(access_token="AT-1", expires_in=60, refresh_token="RT\r\n"), requested_at=REQUESTED_AT, requested_scope=None
        )

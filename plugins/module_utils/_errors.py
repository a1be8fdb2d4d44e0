# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file is private to the telenor.oauth collection; it is not a public API.

"""Error types of the Telenor OAuth client and the seed's error-code table."""

from __future__ import annotations

import json
import re
import typing as t

TOKEN_ENDPOINT = "token"
LOGOUT_ENDPOINT = "logout"

_PORTAL_LOGIN_HINT = (
    "client_id and client_secret are the Consumer Key and Consumer Secret of an app"
    " under 'your apps' in the Telenor developer portal dashboard; Connectid and"
    " Min Bedrift usernames and passwords are portal logins and never work here"
)

# The two grants of the token endpoint (RFC 6749 sections 4.4 and 4.3).
CLIENT_CREDENTIALS = "client_credentials"
PASSWORD = "password"
GRANT_TYPES = (CLIENT_CREDENTIALS, PASSWORD)

_SYSTEM_USER = (
    "username and password are those of a company system user: the non-personal machine user that"
    " the company's administrator creates in Min Bedrift, in its API section, not a person's Connectid"
    " or Min Bedrift login (those are portal logins)"
)

# Hints whose truth depends on the grant, keyed by what went wrong rather than
# by how the server said it, so that a seed error code and an RFC 6749 section
# 5.2 error name for the same fault can share one wording:
# grant_hint(reason, grant_type).
GRANT_HINTS: dict[str, dict[str, str]] = {
    "client_rejected": {
        CLIENT_CREDENTIALS: "check client_id: " + _PORTAL_LOGIN_HINT,
        PASSWORD: (
            "check client_id: it is the Consumer Key of an app under 'your apps' in the Telenor developer"
            " portal dashboard, also with grant_type=password; the system user goes in username and password"
        ),
    },
    "credentials_rejected": {
        CLIENT_CREDENTIALS: "check client_id and client_secret: " + _PORTAL_LOGIN_HINT,
        PASSWORD: (
            "check the system user's username and password, and client_id and client_secret (the Consumer"
            " Key and Consumer Secret of the app in the Telenor developer portal); " + _SYSTEM_USER
        ),
    },
    "grant_not_permitted": {
        CLIENT_CREDENTIALS: (
            "the app may not use the client_credentials grant; ask your company's API administrator to enable"
            " it, or, for an API that takes a system user, set grant_type=password"
        ),
        PASSWORD: (
            "the app may not use the password grant; ask your company's API administrator to enable it for"
            " the app, or, for an API that takes client credentials, leave grant_type at client_credentials"
        ),
    },
    "grant_type_rejected": {
        CLIENT_CREDENTIALS: (
            "the collection sends grant_type=client_credentials; a proxy may be rewriting the request body"
        ),
        PASSWORD: "the collection sends grant_type=password; a proxy may be rewriting the request body",
    },
    "refresh_rejected": {
        CLIENT_CREDENTIALS: "the refresh token was rejected; a new token is requested with the client credentials",
        PASSWORD: "the refresh token was rejected; a new token is requested with the system user's username and password",
    },
}


def grant_hint(reason: str, grant_type: str = CLIENT_CREDENTIALS) -> str:
    """The hint for ``reason`` (a key of GRANT_HINTS) that is true under ``grant_type``."""
    hints = GRANT_HINTS[reason]
    return hints.get(grant_type, hints[CLIENT_CREDENTIALS])


# The seed's error tables (shared/seeds, "Error responses"), keyed by
# (endpoint, HTTP status, Telenor error code): (meaning, hint or None).
SEED_ERRORS: dict[tuple[str, int, int], tuple[str, str | None]] = {
    (TOKEN_ENDPOINT, 400, 2): (
        "Missing or invalid grant_type",
        grant_hint("grant_type_rejected"),
    ),
    (TOKEN_ENDPOINT, 401, 1): (
        "Invalid client id",
        grant_hint("client_rejected"),
    ),
    (TOKEN_ENDPOINT, 401, 4): ("Invalid authorization code", None),
    (TOKEN_ENDPOINT, 401, 5): (
        "Not authorized to create access token",
        "the app is not allowed to obtain tokens; ask your company's API administrator (Min Bedrift) to grant it",
    ),
    (TOKEN_ENDPOINT, 401, 6): (
        "Missing or bad Authorization header",
        "check that client_id and client_secret are set and not empty, and that no proxy strips the Authorization header",
    ),
    (TOKEN_ENDPOINT, 401, 7): (
        "Invalid refresh_token",
        grant_hint("refresh_rejected"),
    ),
    (TOKEN_ENDPOINT, 401, 9): (
        "Invalid Client data",
        "the app's registration is incomplete or invalid; check it in the developer portal or contact Telenor",
    ),
    (TOKEN_ENDPOINT, 401, 21): (
        "Unsufficient permissions to use requested grant_type",
        grant_hint("grant_not_permitted"),
    ),
    (TOKEN_ENDPOINT, 401, 22): (
        "Basic Authentication failed, bad username or password.",
        grant_hint("credentials_rejected"),
    ),
    (TOKEN_ENDPOINT, 403, 8): (
        "Illegal or non authorized scope",
        "check the scope option: the app is not granted one of the requested scopes",
    ),
    (TOKEN_ENDPOINT, 403, 12): ("Invalid RedirectURI", None),
    (TOKEN_ENDPOINT, 403, 15): ("Illegal Response Type", None),
    (TOKEN_ENDPOINT, 500, 2): (
        "Internal Server Error",
        "a fault on Telenor's side; try again later",
    ),
    (TOKEN_ENDPOINT, 500, 16): (
        "Invalid App Attributes.Please contact Telenor Admin",
        "the app's attributes are invalid on Telenor's side; contact Telenor",
    ),
    (LOGOUT_ENDPOINT, 401, 2): (
        "Invalid access token",
        "the token is already revoked or expired",
    ),
    (LOGOUT_ENDPOINT, 401, 6): (
        "Missing or bad Authorization header",
        "the token to revoke was empty or malformed",
    ),
    (LOGOUT_ENDPOINT, 500, 2): (
        "Internal Server Error",
        "a fault on Telenor's side; try again later",
    ),
}

# The seed errors whose hint depends on the grant (the hints above are those of
# client credentials, the default).
SEED_GRANT_REASONS: dict[tuple[str, int, int], str] = {
    (TOKEN_ENDPOINT, 400, 2): "grant_type_rejected",
    (TOKEN_ENDPOINT, 401, 1): "client_rejected",
    (TOKEN_ENDPOINT, 401, 7): "refresh_rejected",
    (TOKEN_ENDPOINT, 401, 21): "grant_not_permitted",
    (TOKEN_ENDPOINT, 401, 22): "credentials_rejected",
}

_ENDPOINT_ACTIONS = {
    TOKEN_ENDPOINT: "token request",
    LOGOUT_ENDPOINT: "token revocation (logout)",
}

# JSON keys under which APIs commonly put a numeric error code.
_CODE_KEYS = ("code", "error_code", "errorCode", "ErrorCode", "errorcode", "error")
# JSON keys whose text may say "Error code N - ...".
_TEXT_KEYS = ("error_description", "errorDescription", "message", "Message", "errorMessage", "detail", "error")
_CODE_IN_TEXT = re.compile(r"error\s*code\s*[:#=]?\s*(\d+)", re.IGNORECASE)


class TelenorOAuthError(Exception):
    """Base of every error the shared client raises.

    The message is safe to show: it never contains a client secret or a token.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        attempts: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.attempts = attempts


class TelenorConfigError(TelenorOAuthError):
    """An option is missing or invalid; raised before any request is made."""


class TelenorAPIError(TelenorOAuthError):
    """The API answered with an HTTP error status."""


class TelenorTransportError(TelenorOAuthError):
    """No usable HTTP answer: connection refused or dropped, timeout, TLS failure."""


class TelenorResponseError(TelenorOAuthError):
    """A 200 answer whose body is not a usable token response."""


class TelenorCacheError(TelenorOAuthError):
    """The token cache directory cannot be used."""


def _codes_from_value(value: t.Any) -> list[int]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int):
        return [value]
    if isinstance(value, str):
        value = value.strip()
        if value.isdigit():
            return [int(value)]
        return [int(code) for code in _CODE_IN_TEXT.findall(value)]
    if isinstance(value, dict):
        return _codes_from_json(value)
    return []


def _codes_from_json(data: dict) -> list[int]:
    codes: list[int] = []
    for key in _CODE_KEYS:
        if key in data:
            codes += _codes_from_value(data[key])
    for key in _TEXT_KEYS:
        value = data.get(key)
        if isinstance(value, str):
            codes += [int(code) for code in _CODE_IN_TEXT.findall(value)]
    return codes


def telenor_error_codes(body: str | bytes | None) -> list[int]:
    """Every candidate Telenor error code in an error response body, most likely first.

    The seed does not fix the body's format, so this accepts JSON with the code
    under any usual key (or inside a description) and plain text such as
    "Error code 22 - Basic Authentication failed".
    """
    if not body:
        return []
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    try:
        data = json.loads(body)
    except (ValueError, RecursionError):
        data = None
    if isinstance(data, dict):
        return _codes_from_json(data)
    if isinstance(data, int) and not isinstance(data, bool):
        return [data]
    return [int(code) for code in _CODE_IN_TEXT.findall(body)]


def telenor_error_code(body: str | bytes | None, *, endpoint: str | None = None, status: int | None = None) -> int | None:
    """The Telenor error code of an error response body, if any.

    Given the endpoint and status, a code the seed lists for them wins over
    other numbers (a body may carry the HTTP status as "code" and the Telenor
    code in its description).
    """
    codes = telenor_error_codes(body)
    for code in codes:
        if (endpoint, status, code) in SEED_ERRORS:
            return code
    return codes[0] if codes else None


def describe_api_error(endpoint: str, status: int, code: int | None, *, grant_type: str = CLIENT_CREDENTIALS) -> str:
    """Return the words for an HTTP error answer of the given endpoint, under ``grant_type``."""
    action = _ENDPOINT_ACTIONS.get(endpoint, endpoint)
    if code is None:
        text = f"Telenor {action} failed: HTTP {status} with no Telenor error code in the response"
        if status == 429:
            text += " (rate limited: too many requests)"
        elif status >= 500:
            text += " (server error on Telenor's side; try again later)"
        return text
    meaning, hint = SEED_ERRORS.get((endpoint, status, code), (None, None))
    reason = SEED_GRANT_REASONS.get((endpoint, status, code))
    if reason is not None:
        hint = grant_hint(reason, grant_type)
    if meaning is None:
        return f"Telenor {action} failed: HTTP {status}, Telenor error code {code} (not a code the API reference lists for this status)"
    text = f"Telenor {action} failed: HTTP {status}, Telenor error code {code}: {meaning.rstrip('.')}"
    if hint:
        text += f". Hint: {hint}"
    return text


def api_error(
    endpoint: str, status: int, body: str | bytes | None, *, attempts: int | None = None,
    grant_type: str = CLIENT_CREDENTIALS,
) -> TelenorAPIError:
    """Build the exception for an HTTP error answer; the body itself is never quoted."""
    code = telenor_error_code(body, endpoint=endpoint, status=status)
    message = describe_api_error(endpoint, status, code, grant_type=grant_type)
    if attempts and attempts > 1:
        message += f" (after {attempts} attempts)"
    return TelenorAPIError(message, status=status, code=code, attempts=attempts)

# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file is private to the telenor.oauth collection; it is not a public API.

"""The seed's error-code table, the hints, and the words for an HTTP error answer.

Only the HTTP client needs these, so they load on a cache miss and never in a
worker whose token is cached.
"""

from __future__ import annotations

import html
import json
import re
import typing as t
from urllib.parse import quote, quote_plus, unquote

from ._errors import CLIENT_CREDENTIALS, LOGOUT_ENDPOINT, PASSWORD, TOKEN_ENDPOINT, TelenorAPIError

_PORTAL_LOGIN_HINT = (
    "client_id and client_secret are the Consumer Key and Consumer Secret of an app"
    " under 'your apps' in the Telenor developer portal dashboard; Connectid and"
    " Min Bedrift usernames and passwords are portal logins and never work here"
)

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

ENDPOINT_ACTIONS = {
    TOKEN_ENDPOINT: "token request",
    LOGOUT_ENDPOINT: "token revocation (logout)",
}

# JSON keys under which APIs commonly put a numeric error code.
_CODE_KEYS = ("code", "error_code", "errorCode", "ErrorCode", "errorcode", "error")
# JSON keys whose text may say "Error code N - ...".
_TEXT_KEYS = ("error_description", "errorDescription", "message", "Message", "errorMessage", "detail", "error")
# One optional separator, with the whitespace after it inside the optional
# group: two adjacent ``\s*`` around an optional character backtrack in
# quadratic time over a long run of whitespace (80 s on a 60 KB body).
_CODE_IN_TEXT = re.compile(r"error\s*code\s*(?:[:#=]\s*)?(\d+)", re.IGNORECASE)

# RFC 6749 section 5.2 error names that mean one of the GRANT_HINTS reasons.
# invalid_grant names the user's credentials only under the password grant
# (under client credentials it can only be about a refresh token).
_OAUTH_GRANT_REASONS: dict[str, str] = {
    "invalid_client": "credentials_rejected",
    "unauthorized_client": "grant_not_permitted",
    "unsupported_grant_type": "grant_type_rejected",
}


def oauth_grant_reason(name: str, grant_type: str) -> str | None:
    """The GRANT_HINTS reason of an RFC 6749 error name under ``grant_type``, if any."""
    if name == "invalid_grant" and grant_type == PASSWORD:
        return "credentials_rejected"
    return _OAUTH_GRANT_REASONS.get(name)


# RFC 6749 section 5.2 (token endpoint) and RFC 6750 section 3.1 (resource
# side) error names: (meaning, hint or None). The hints repeat those of the
# matching seed codes. Keyed by the OAuth error name alone, so that hints for
# a particular grant can be added next to these later.
OAUTH_ERRORS: dict[str, tuple[str, str | None]] = {
    "invalid_request": (
        "the request is missing a parameter or is malformed",
        "a proxy may be rewriting the request body",
    ),
    "invalid_client": (
        "client authentication failed",
        "check client_id and client_secret: " + _PORTAL_LOGIN_HINT,
    ),
    "invalid_grant": (
        "the grant or refresh token is invalid, expired or revoked",
        None,
    ),
    "unauthorized_client": (
        "the client is not authorized to use this grant type",
        "the grant is not enabled for the app; ask your company's API administrator to enable it",
    ),
    "unsupported_grant_type": (
        "the server does not support this grant type",
        "the grant is not enabled on this server or for the app",
    ),
    "invalid_scope": (
        "the requested scope is invalid, unknown or not granted",
        "check the scope option: the app is not granted one of the requested scopes",
    ),
    "access_denied": (
        "the request was denied",
        "the app is not allowed to obtain tokens; ask your company's API administrator (Min Bedrift) to grant it",
    ),
    "server_error": ("the server failed", "a fault on the server's side; try again later"),
    "temporarily_unavailable": ("the server is temporarily unavailable", "try again later"),
    "invalid_token": ("the access token is invalid, expired or revoked", "the token is already revoked or expired"),
    "insufficient_scope": ("the token lacks a required scope", "check the scope option"),
}

# At most this many characters of a server's words are shown.
EXCERPT_LIMIT = 200
_REDACTED = "***"
# Credentials a body might echo, whatever their value: JSON members, and
# Authorization header values.
_SECRET_MEMBER = re.compile(
    r'("(?:access_token|refresh_token|id_token|token|client_secret|password|assertion)"\s*:\s*)"[^"]*"', re.IGNORECASE
)
_AUTH_VALUE = re.compile(r"\b(Bearer|Basic)\s+[^\s\"',;]+", re.IGNORECASE)
# RFC 6750 section 3: auth-param pairs of a WWW-Authenticate challenge. A
# name starts only where no name character precedes it (the lookbehind):
# without that, findall retried the name from every letter of a long word, and
# backtracked over the rest of it each time, quadratic in the header's length
# (180 ms on 4 KiB of letters, parsed twice per error). With it, every
# character is scanned a bounded number of times.
_CHALLENGE_PARAM = re.compile(r'(?<![A-Za-z_])([A-Za-z_]+)\s*=\s*"([^"]*)"')
# No challenge of a token or logout endpoint is longer; the rest is not read.
MAX_CHALLENGE_LENGTH = 4096


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
        try:
            return _codes_from_json(data)
        except RecursionError:  # nested deeper than the search can follow: no usable code
            return []
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


_GO_JSON_ESCAPES = {ord("&"): "\\u0026", ord("<"): "\\u003c", ord(">"): "\\u003e",
                    0x2028: "\\u2028", 0x2029: "\\u2029"}


def secret_forms(secret: str) -> set[str]:
    """Every form in which a server may echo ``secret``: as sent; JSON-escaped,
    with and without ensure_ascii, ``/`` as is and as ``\\/`` (PHP's default), or
    every character escaped; percent-encoded as a form body or a URL carries it;
    HTML-escaped; its UTF-8 read as Latin-1."""
    json_forms = {json.dumps(secret, ensure_ascii=ensure_ascii)[1:-1] for ensure_ascii in (True, False)}
    json_forms |= {form.replace("/", "\\/") for form in json_forms}
    # Go's encoding/json, which many gateways are written in, also escapes & < > and U+2028/9.
    json_forms |= {form.translate(_GO_JSON_ESCAPES) for form in json_forms}
    # Every character escaped, as some JSON encoders write a value they treat as sensitive.
    json_forms.add("".join(json.dumps(char)[1:-1] if ord(char) > 0xFFFF else f"\\u{ord(char):04x}" for char in secret))
    url_forms = {quote(secret, safe=""), quote(secret), quote_plus(secret), quote_plus(secret, safe="/")}
    # UTF-8 read back as Latin-1, as a header value or a page without a charset is.
    mojibake_forms = {secret.encode("utf-8", errors="replace").decode("latin-1")}
    html_forms = {html.escape(secret), html.escape(secret, quote=False)}
    return {form for form in ({secret} | json_forms | url_forms | html_forms | mojibake_forms) if form}


# Rounds of decoding (HTML character references, then percent-encoding), each followed by
# masking: each round peels one more layer than the encoded forms secret_forms matches as they are.
_ENCODING_LAYERS = 3


def _masked(text: str, secrets: re.Pattern | None) -> str:
    """``text`` with the known secrets (any of their forms) and any credential masked."""
    text = secrets.sub(_REDACTED, text) if secrets else text
    text = _SECRET_MEMBER.sub(lambda match: f'{match.group(1)}"{_REDACTED}"', text)
    return _AUTH_VALUE.sub(lambda match: f"{match.group(1)} {_REDACTED}", text)


def _redacted(text: str, values: t.Iterable[str]) -> str:
    """``text`` with every form of every value (secret_forms), and any credential, masked: in
    the text as it came, and again after each decoding of one HTML or percent-encoding layer.
    The text is returned decoded: a message reads better so, and shows no entity or escape
    from which a reader could rebuild a secret."""
    forms = sorted({form for value in values if value for form in secret_forms(value)}, key=len, reverse=True)
    # Longest first, so that no shorter form leaves a piece of a longer one. Case
    # is ignored because the hex digits of %XX and \uXXXX escapes come in either
    # case; masking a value that differs from a secret only in case costs nothing.
    secrets = re.compile("|".join(re.escape(form) for form in forms), flags=re.IGNORECASE) if forms else None
    # Masked before each decoding, and one encoding at a time: a secret that itself looks
    # encoded ("a%41b") must be matched in the form it was echoed in, not decoded out of it.
    text = _masked(text, secrets)
    for _round in range(_ENCODING_LAYERS):
        before = text
        for decode in (html.unescape, unquote):
            decoded = decode(text)
            if decoded != text:
                text = _masked(decoded, secrets)
        if text == before:
            break
    return text


def safe_excerpt(text: str | bytes | None, *, redact: t.Iterable[str] = (), limit: int = EXCERPT_LIMIT) -> str:
    """Server words fit to show: HTML character references and percent-encoding decoded,
    known secrets and any credential masked, only printable ASCII, whitespace collapsed,
    at most ``limit`` characters."""
    if not text:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    # Redact before cutting, so that no piece of a secret survives at the edge.
    text = _redacted(text, redact)
    printable = "".join(char if " " <= char <= "~" else " " for char in text)
    words = " ".join(printable.split())
    return words if len(words) <= limit else words[: limit - 3] + "..."


def _text(value: t.Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def challenge_params(challenge: str) -> dict[str, str]:
    """The quoted auth-params (``name="value"``) of a WWW-Authenticate value,
    in time linear in its length."""
    return dict(_CHALLENGE_PARAM.findall(challenge))


def oauth_error(body: str | bytes | None, www_authenticate: str | None = None) -> tuple[str | None, str | None] | None:
    """The (error name, description) of a standards-shaped error answer, or None.

    Recognised: RFC 6749 section 5.2 ``{"error", "error_description"}``; an API
    gateway's ``{"ErrorCode", "Error"}`` or ``{"fault": {"faultstring"}}``;
    RFC 6750 section 3 ``WWW-Authenticate: Bearer error="..."``.
    """
    data = None
    if body:
        if isinstance(body, bytes):
            body = body.decode("utf-8", errors="replace")
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            data = None
    if isinstance(data, dict):
        name = _text(data.get("error"))
        if name and not name.strip().isdigit():
            return name.strip(), _text(data.get("error_description")) or _text(data.get("message"))
        for key in ("ErrorCode", "errorCode", "error_code"):
            name = _text(data.get(key))
            if name and not name.strip().isdigit():
                description = next(
                    (_text(data.get(k)) for k in ("Error", "error", "ErrorDescription", "message", "Message") if _text(data.get(k))),
                    None,
                )
                return name.strip(), description
        fault = data.get("fault")
        if isinstance(fault, dict) and _text(fault.get("faultstring")):
            detail = fault.get("detail")
            name = _text(detail.get("errorcode")) if isinstance(detail, dict) else None
            return name, _text(fault.get("faultstring"))
    if www_authenticate:
        params = challenge_params(www_authenticate[:MAX_CHALLENGE_LENGTH])
        if _text(params.get("error")):
            return params["error"].strip(), _text(params.get("error_description"))
    return None


def _describe_oauth_error(
    action: str, status: int, name: str | None, description: str | None, redact: t.Iterable[str], grant_type: str,
) -> str:
    shown_name = safe_excerpt(name, redact=redact, limit=80) if name else None
    shown_description = safe_excerpt(description, redact=redact) if description else None
    meaning, hint = OAUTH_ERRORS.get((name or "").lower(), (None, None))
    reason = oauth_grant_reason((name or "").lower(), grant_type)
    if reason is not None:
        hint = grant_hint(reason, grant_type)
    if shown_name:
        text = f"Telenor {action} failed: HTTP {status}, OAuth error {shown_name}"
    else:
        text = f"Telenor {action} failed: HTTP {status}, gateway fault"
    details = [part for part in (meaning, shown_description and f"the server says {shown_description!r}") if part]
    if details:
        text += ": " + "; ".join(details)
    if hint:
        text += f". Hint: {hint}"
    return text


def _error_words(
    endpoint: str,
    status: int,
    code: int | None,
    found: tuple[str | None, str | None] | None,
    *,
    body: str | bytes | None,
    redact: t.Iterable[str],
    grant_type: str,
) -> str:
    """The words for an HTTP error answer of ``endpoint``, under ``grant_type``; ``found`` is the
    answer's OAuth error, already read (None when it has a Telenor code or no OAuth error)."""
    action = ENDPOINT_ACTIONS.get(endpoint, endpoint)
    if code is None:
        redact = tuple(redact)
        if found is not None:
            return _describe_oauth_error(action, status, found[0], found[1], redact, grant_type)
        text = f"Telenor {action} failed: HTTP {status} with no Telenor error code in the response"
        if status == 429:
            text += " (rate limited: too many requests)"
        elif status >= 500:
            text += " (server error on Telenor's side; try again later)"
        elif 300 <= status < 400:
            text += (
                " (a redirect, which is not followed: check api_url, the API's base URL such as"
                " https://api.telenor.no; a proxy or a login portal may be answering instead)"
            )
        elif status in (404, 405):
            text += (
                " (no such endpoint there: check api_url, the API's base URL such as https://api.telenor.no,"
                " without /oauth/v2/token)"
            )
        excerpt = safe_excerpt(body, redact=redact)
        if excerpt:
            text += f"; it began: {excerpt!r}"
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
    endpoint: str,
    status: int,
    body: str | bytes | None,
    *,
    attempts: int | None = None,
    www_authenticate: str | None = None,
    redact: t.Iterable[str] = (),
    grant_type: str = CLIENT_CREDENTIALS,
) -> TelenorAPIError:
    """Build the exception for an HTTP error answer.

    The body is quoted only when nothing in it is recognised, and then only as
    a short excerpt with ``redact`` values and any credential masked.
    """
    code = telenor_error_code(body, endpoint=endpoint, status=status)
    # Read once: the words and the oauth_error attribute both come from it.
    found = oauth_error(body, www_authenticate) if code is None else None
    message = _error_words(endpoint, status, code, found, body=body, redact=redact, grant_type=grant_type)
    if attempts and attempts > 1:
        message += f" (after {attempts} attempts)"
    error = TelenorAPIError(message, status=status, code=code, attempts=attempts)
    error.oauth_error = found[0] if found else None
    return error

# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file is private to the telenor.oauth collection; it is not a public API.

"""Reading a 200 token response into a TokenRecord.

Only the HTTP client needs this, on a cache miss; a worker whose token is
cached loads ``_token`` alone.
"""

from __future__ import annotations

import json
import math
import re
import typing as t

from ._errors import TelenorResponseError
from ._token import SCOPE, SENDABLE_REFRESH_TOKEN, SUPPORTED_TOKEN_TYPES, TokenRecord, is_sendable_token

# The accepted token lifetimes (expires_in), in seconds: at least 1, and a
# longer one is capped, so that no answer keeps a token cached for ever.
MIN_LIFETIME = 1
MAX_LIFETIME = 366 * 24 * 3600
_DIGITS = re.compile(r"[0-9]{1,20}")


def _lifetime(value: t.Any) -> int:
    """Parse ``expires_in``: a whole number of seconds, at least MIN_LIFETIME.

    Accepted: a JSON integer, an integral JSON number (3600.0), or, as in the
    seed's example, a string of ASCII digits (spaces around it are ignored).
    Refused: fractions (0.5 would
    be a token that is expired as soon as it is cached), signs,
    underscores, exponents in strings, NaN and infinity. Above MAX_LIFETIME
    the lifetime is capped (1e300 included).
    """
    if isinstance(value, bool) or value is None:
        raise TelenorResponseError(
            "The Telenor token response has no usable 'expires_in' (the token lifetime in seconds)"
        )
    if isinstance(value, str):
        value = value.strip(" \t")
        if not _DIGITS.fullmatch(value):
            raise TelenorResponseError(
                "The Telenor token response has a non-numeric 'expires_in' (not a whole number of"
                " seconds); expected the token lifetime in seconds, such as 3600"
            )
        value = int(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            raise TelenorResponseError("The Telenor token response has a non-numeric 'expires_in'")
        if not value.is_integer():
            raise TelenorResponseError(
                f"The Telenor token response has 'expires_in' {value!r}: not a whole number of seconds"
            )
    if not isinstance(value, (int, float)):
        raise TelenorResponseError("The Telenor token response has a non-numeric 'expires_in'")
    if value < MIN_LIFETIME:
        raise TelenorResponseError(
            f"The Telenor token response has 'expires_in' {int(value)}: the token is already expired"
        )
    return int(min(value, MAX_LIFETIME))


_NOT_JSON = object()


def _decoded_json(body: bytes | str) -> t.Any:
    """The decoded JSON of a 200 body, or _NOT_JSON."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return _NOT_JSON


def _scope_faults(scope: str) -> str:
    """What is wrong with a scope that is not RFC 6749's, in words that never quote it."""
    faults = []
    if any(char < " " or char == "\x7f" for char in scope):
        faults.append("control characters (such as CR, LF or ESC)")
    if any(char > "\x7f" for char in scope):
        faults.append("non-ASCII characters")
    if '"' in scope or "\\" in scope:
        faults.append("double-quote or backslash characters")
    return " and ".join(faults) if len(faults) < 3 else ", ".join(faults[:-1]) + " and " + faults[-1]


def _granted_scope(data: dict, requested_scope: str | None) -> str | None:
    """The scope the answer says was granted, else the requested one (RFC 6749 section 5.1)."""
    scope = data.get("scope")
    if not isinstance(scope, str):
        return requested_scope
    # The grammar has no empty scope, but an empty string can do no harm
    # where it is written, and a server that grants no scope may well say
    # so with one: it is kept as no scope, as it always was, rather than
    # failing runs that work. (The seed's response class has no scope at all.)
    # Spaces around or between the scope-tokens can add no line; some servers pad ("openid profile ").
    scope = " ".join(part for part in scope.split(" ") if part)
    if scope and not SCOPE.fullmatch(scope):
        # Never quote it: it may be meant to add lines to a file or a terminal.
        raise TelenorResponseError(
            f"The Telenor token endpoint answered 200 with an invalid 'scope' ({len(scope)} characters): it has"
            f" {_scope_faults(scope)}, which RFC 6749 section 3.3 does not allow in a scope"
        )
    return scope or None


def revocable_token(body: bytes | str) -> str | None:
    """The access token a refused 200 answer carried, if it can be sent back to revoke it.

    A token with characters a Bearer header cannot carry (CR, LF, ...) is
    never sent anywhere: None.
    """
    data = _decoded_json(body)
    token = data.get("access_token") if isinstance(data, dict) else None
    return token if is_sendable_token(token) else None


def record_from_response(body: bytes | str, *, requested_at: float, requested_scope: str | None) -> TokenRecord:
    """Parse a 200 token response into a record, or raise TelenorResponseError.

    ``requested_at`` is the time the request was sent, so that the expiry we
    compute errs on the early side.
    """
    data = _decoded_json(body)
    if data is _NOT_JSON:
        raise TelenorResponseError(
            "The Telenor token endpoint answered 200 with a body that is not JSON"
            " (an HTML page from a proxy or portal, or a truncated response?)"
        )
    if not isinstance(data, dict):
        raise TelenorResponseError("The Telenor token endpoint answered 200 with JSON that is not an object")
    token = data.get("access_token")
    if not isinstance(token, str) or not token.strip():
        raise TelenorResponseError("The Telenor token endpoint answered 200 without an 'access_token'")
    if not is_sendable_token(token):
        # Never quote it: it may be meant to inject a header line.
        raise TelenorResponseError(
            "The Telenor token endpoint answered 200 with an invalid 'access_token': it has characters"
            " (such as CR, LF, control characters, spaces or non-ASCII) that RFC 6750 section 2.1"
            " does not allow in a Bearer token"
        )
    raw_type = data.get("token_type") or "Bearer"
    token_type = SUPPORTED_TOKEN_TYPES.get(str(raw_type).strip().lower())
    if token_type is None:
        raise TelenorResponseError(
            f"The Telenor token endpoint issued a token of type {str(raw_type)[:40]!r}, which this"
            " collection does not understand; only Bearer tokens are supported (RFC 6749 section 7.1)"
        )
    lifetime = _lifetime(data.get("expires_in"))
    scope = _granted_scope(data, requested_scope)
    refresh = data.get("refresh_token")
    if isinstance(refresh, str) and refresh and not SENDABLE_REFRESH_TOKEN.fullmatch(refresh):
        raise TelenorResponseError(
            "The Telenor token endpoint answered 200 with an invalid 'refresh_token': it has characters"
            " that RFC 6749 does not allow (control characters or non-ASCII)"
        )
    return TokenRecord(
        access_token=token,
        token_type=token_type,
        expires_at=requested_at + lifetime,
        issued_at=requested_at,
        lifetime=lifetime,
        scope=scope or None,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
    )

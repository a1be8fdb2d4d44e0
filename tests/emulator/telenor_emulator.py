#!/usr/bin/env python
"""Local emulator of the Telenor OAuth API, for demos and tests (loopback only).

It follows the Telenor OAuth reference (``POST /oauth/v2/token`` with the client
credentials grant, ``GET /oauth/v2/logout``), including every row of its error
tables; serves the password grant (RFC 6749 section 4.3) for clients given
system users (``--user``); and adds:

* ``GET /v1/protected``: a protected resource that proves a token works;
* a JSON control API under ``/_emulator/`` (stats, reset, fault injection, forced
  expiry, run-time clients, shutdown).

Standard library only, plus ``cryptography`` when ``--tls`` is given. See README.md
next to this file for the full surface; ``--help`` for the options.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import dataclasses
import datetime
import hmac
import ipaddress
import json
import os
import secrets
import signal
import socket
import socketserver
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlsplit

TOKEN_PATH = "/oauth/v2/token"
LOGOUT_PATH = "/oauth/v2/logout"
PROTECTED_PATH = "/v1/protected"

DEFAULT_CLIENT_ID = "demo-client"
DEFAULT_CLIENT_SECRET = "demo-secret"
DEFAULT_EXPIRES_IN = 3599
REALM = "telenor-oauth-emulator"

# Possible grant_type values; the seed lists the first three, refresh_token comes
# from its description of the refresh_token response field.
KNOWN_GRANT_TYPES = frozenset({"authorization_code", "password", "client_credentials", "refresh_token"})
UNPERMITTED_GRANT_TYPES = frozenset({"authorization_code", "password"})
MISSING_GRANT_KEY = "(missing)"

ERROR_FORMATS = ("json", "json_code", "json_errorCode", "json_ErrorCode", "json_description", "text")
FAIL_STATUSES = (500, 502, 503, 504)
MAX_BODY_BYTES = 1 << 20
PRUNE_THRESHOLD = 10_000


# --------------------------------------------------------------------------- errors


@dataclass(frozen=True)
class SeedError:
    """One row of a seed error table, plus the RFC 6749 / RFC 6750 ``error`` string."""

    status: int
    code: int
    message: str
    error: str


# Error table of POST /oauth/v2/token, as the Telenor OAuth reference lists it.
TOKEN_ERRORS: tuple[SeedError, ...] = (
    SeedError(400, 2, "Missing or invalid grant_type", "unsupported_grant_type"),
    SeedError(401, 1, "Invalid client id", "invalid_client"),
    SeedError(401, 21, "Unsufficient permissions to use requested grant_type", "unauthorized_client"),
    SeedError(401, 22, "Basic Authentication failed, bad username or password.", "invalid_client"),
    SeedError(401, 4, "Invalid authorization code", "invalid_grant"),
    SeedError(401, 5, "Not authorized to create access token", "unauthorized_client"),
    SeedError(401, 6, "Missing or bad Authorization header", "invalid_client"),
    SeedError(401, 7, "Invalid refresh_token", "invalid_grant"),
    SeedError(401, 9, "Invalid Client data", "invalid_client"),
    SeedError(403, 12, "Invalid RedirectURI", "invalid_request"),
    SeedError(403, 15, "Illegal Response Type", "unsupported_response_type"),
    SeedError(403, 8, "Illegal or non authorized scope", "invalid_scope"),
    SeedError(500, 16, "Invalid App Attributes.Please contact Telenor Admin", "server_error"),
    SeedError(500, 2, "Internal Server Error", "server_error"),
)

# Error table of GET /oauth/v2/logout; the protected resource answers the same way.
BEARER_ERRORS: tuple[SeedError, ...] = (
    SeedError(401, 2, "Invalid access token", "invalid_token"),
    SeedError(401, 6, "Missing or bad Authorization header", "invalid_request"),
    SeedError(500, 2, "Internal Server Error", "server_error"),
)


def find_seed_error(table: tuple[SeedError, ...], status: int, code: int) -> SeedError | None:
    """Return the row of ``table`` with this status and code, if any."""
    return next((row for row in table if row.status == status and row.code == code), None)


def _row(table: tuple[SeedError, ...], status: int, code: int) -> SeedError:
    row = find_seed_error(table, status, code)
    assert row is not None, (status, code)
    return row


ERR_GRANT_TYPE = _row(TOKEN_ERRORS, 400, 2)
ERR_CLIENT_ID = _row(TOKEN_ERRORS, 401, 1)
ERR_GRANT_NOT_PERMITTED = _row(TOKEN_ERRORS, 401, 21)
ERR_BAD_CREDENTIALS = _row(TOKEN_ERRORS, 401, 22)
# A wrong system user (password grant): the same seed row, with the RFC 6749
# section 5.2 name for bad resource owner credentials.
ERR_BAD_USER = dataclasses.replace(ERR_BAD_CREDENTIALS, error="invalid_grant")
ERR_BASIC_HEADER = _row(TOKEN_ERRORS, 401, 6)
ERR_REFRESH_TOKEN = _row(TOKEN_ERRORS, 401, 7)
ERR_SCOPE = _row(TOKEN_ERRORS, 403, 8)
ERR_TOKEN_INTERNAL = _row(TOKEN_ERRORS, 500, 2)
ERR_ACCESS_TOKEN = _row(BEARER_ERRORS, 401, 2)
ERR_BEARER_HEADER = _row(BEARER_ERRORS, 401, 6)
ERR_BEARER_INTERNAL = _row(BEARER_ERRORS, 500, 2)


def forced_error_row(status: int | None, code: int, message: str | None) -> SeedError:
    """Resolve a ``force_error`` fault to a seed row (token table first, then logout table)."""
    if status is None:
        candidates = [row for row in TOKEN_ERRORS if row.code == code]
        if not candidates:
            raise ValueError(f"force_error: code {code} is not in the token endpoint's error table")
        # Code 2 appears twice (400 and 500); the first listed (400) is the natural default.
        row = candidates[0]
    else:
        found = find_seed_error(TOKEN_ERRORS, status, code) or find_seed_error(BEARER_ERRORS, status, code)
        if found is None:
            if message is None:
                raise ValueError(
                    f"force_error: status {status} with code {code} is not in the seed's error tables; "
                    "give 'message' to force it anyway"
                )
            found = SeedError(status, code, message, "server_error" if status >= 500 else "invalid_request")
        row = found
    return dataclasses.replace(row, message=message) if message is not None else row


def render_error(err: SeedError, error_format: str) -> tuple[bytes, str]:
    """Return (body, content type) for ``err`` in one of ERROR_FORMATS."""
    described = f"Error code {err.code} - {err.message}"
    if error_format == "text":
        return described.encode(), "text/plain; charset=utf-8"
    match error_format:
        case "json_code":
            payload: dict[str, Any] = {"code": err.code, "message": err.message}
        case "json_errorCode":
            payload = {"errorCode": str(err.code), "errorMessage": err.message}
        case "json_ErrorCode":
            payload = {"ErrorCode": err.code, "Message": err.message}
        case "json_description":
            payload = {"error": err.error, "error_description": described}
        case _:
            payload = {"error": err.error, "error_code": err.code, "error_description": err.message}
    return json_bytes(payload), "application/json"


def json_bytes(payload: Any) -> bytes:
    return json.dumps(payload).encode()


# --------------------------------------------------------------------------- faults


def _count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError("must be a non-negative integer")
    return value


def _integer(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be an integer")
    return value


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
        raise ValueError("must be a non-negative number of seconds")
    return float(value)


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("must be a string")
    return value


def _fail_status(value: Any) -> int:
    if value not in FAIL_STATUSES or isinstance(value, bool):
        raise ValueError(f"must be one of {list(FAIL_STATUSES)}")
    return value


def _error_format(value: Any) -> str:
    if value not in ERROR_FORMATS:
        raise ValueError(f"must be one of {list(ERROR_FORMATS)}")
    return value


def _optional(validate: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else validate(value)


def _force_error(value: Any) -> dict[str, Any] | None:
    """Normalise ``{"status": 401, "code": 5, "count": n, "message": ...}``; None clears it."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("must be an object like {\"status\": 401, \"code\": 5, \"count\": 1}")
    unknown = set(value) - {"status", "code", "count", "message"}
    if unknown:
        raise ValueError(f"unknown keys {sorted(unknown)}")
    if "code" not in value:
        raise ValueError("needs 'code'")
    status = _optional(_integer)(value.get("status"))
    message = _optional(_text)(value.get("message"))
    row = forced_error_row(status, _integer(value["code"]), message)
    count = _count(value.get("count", 1))
    if count == 0:
        return None
    return {"status": row.status, "code": row.code, "message": row.message, "error": row.error, "count": count}


FAULT_VALIDATORS: dict[str, Callable[[Any], Any]] = {
    "fail_next": _count,
    "fail_status": _fail_status,
    "rate_limit_next": _count,
    "retry_after": _optional(_count),
    "latency": _seconds,
    "latency_next": _optional(_count),
    "drop_next": _count,
    "truncate_next": _count,
    "html_next": _count,
    "body_next": _count,
    "body": _text,
    "content_type": _text,
    "expires_in_as_string": _flag,
    "expires_in": _optional(_integer),
    "token_type": _optional(_text),
    "omit_token_type": _flag,
    "issue_refresh_token": _flag,
    "force_error": _force_error,
    "logout_fail_next": _count,
    "error_format": _error_format,
}


@dataclass
class Faults:
    """Injected misbehaviour; counters named ``*_next`` count down per token request."""

    fail_next: int = 0
    fail_status: int = 500
    rate_limit_next: int = 0
    retry_after: int | None = None
    latency: float = 0.0
    latency_next: int | None = None
    drop_next: int = 0
    truncate_next: int = 0
    html_next: int = 0
    body_next: int = 0
    body: str = "{}"
    content_type: str = "application/json"
    expires_in_as_string: bool = False
    expires_in: int | None = None
    token_type: str | None = None
    omit_token_type: bool = False
    issue_refresh_token: bool = False
    force_error: dict[str, Any] | None = None
    logout_fail_next: int = 0
    error_format: str = "json"

    def merge(self, update: dict[str, Any]) -> None:
        """Validate every key first, then apply, so a bad update changes nothing."""
        unknown = sorted(set(update) - set(FAULT_VALIDATORS))
        if unknown:
            raise ValueError(f"unknown fault(s) {unknown}; known: {sorted(FAULT_VALIDATORS)}")
        normalised = {}
        for name, value in update.items():
            try:
                normalised[name] = FAULT_VALIDATORS[name](value)
            except ValueError as exc:
                raise ValueError(f"fault {name!r}: {exc}") from exc
        for name, value in normalised.items():
            setattr(self, name, value)

    def take_latency(self) -> float:
        """Seconds to sleep before answering this token request."""
        if self.latency <= 0:
            return 0.0
        if self.latency_next is None:
            return self.latency
        if self.latency_next == 0:
            return 0.0
        self.latency_next -= 1
        return self.latency

    def take_token_fault(self) -> TokenFault | None:
        """Consume and return the first armed one-shot fault, in a fixed order."""
        if self.drop_next:
            self.drop_next -= 1
            return TokenFault("drop")
        if self.fail_next:
            self.fail_next -= 1
            return TokenFault("fail", status=self.fail_status, retry_after=self.retry_after)
        if self.rate_limit_next:
            self.rate_limit_next -= 1
            retry_after = 1 if self.retry_after is None else self.retry_after
            return TokenFault("rate_limit", status=429, retry_after=retry_after)
        if self.force_error:
            return TokenFault("force_error", error=self._take_forced_error())
        if self.truncate_next:
            self.truncate_next -= 1
            return TokenFault("truncate")
        if self.html_next:
            self.html_next -= 1
            return TokenFault("html")
        if self.body_next:
            self.body_next -= 1
            return TokenFault("body", body=self.body, content_type=self.content_type)
        return None

    def _take_forced_error(self) -> SeedError:
        assert self.force_error is not None
        forced = self.force_error
        row = SeedError(forced["status"], forced["code"], forced["message"], forced["error"])
        forced["count"] -= 1
        if forced["count"] <= 0:
            self.force_error = None
        return row

    def take_logout_failure(self) -> bool:
        if self.logout_fail_next:
            self.logout_fail_next -= 1
            return True
        return False


@dataclass(frozen=True)
class TokenFault:
    kind: str
    status: int = 200
    retry_after: int | None = None
    error: SeedError | None = None
    body: str = ""
    content_type: str = ""


# --------------------------------------------------------------------------- state


@dataclass
class Client:
    secret: str
    scopes: frozenset[str] | None = None  # None: any scope may be requested
    # System users of the password grant: username -> password.
    users: dict[str, str] = field(default_factory=dict)
    # None: client_credentials and refresh_token, plus password when the client has users.
    grants: frozenset[str] | None = None

    def permits(self, grant_type: str) -> bool:
        if self.grants is not None:
            return grant_type in self.grants
        if grant_type == "password":
            return bool(self.users)
        return grant_type not in UNPERMITTED_GRANT_TYPES


@dataclass
class AccessToken:
    client_id: str
    scope: str | None
    expires_at: float
    revoked: bool = False
    username: str | None = None  # the system user of a password-grant token

    def is_live(self, now: float) -> bool:
        return not self.revoked and now < self.expires_at


@dataclass(frozen=True)
class RefreshGrant:
    client_id: str
    scope: str | None
    username: str | None = None


@dataclass
class Counters:
    token_requests: int = 0
    tokens_issued: int = 0
    token_requests_by_grant: dict[str, int] = field(default_factory=dict)
    logout_requests: int = 0
    revoked: int = 0
    protected_requests: int = 0


def parse_basic_credentials(header: str | None) -> tuple[str, str] | None:
    """Return (client_id, secret) from a Basic Authorization header, or None if malformed."""
    scheme, dummy, encoded = (header or "").strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except ValueError:
        # binascii.Error, UnicodeDecodeError, and the ValueError of b64decode for a header that
        # carries non-ASCII characters (http.server decodes header bytes as Latin-1).
        return None
    client_id, colon, secret = decoded.partition(":")
    return (client_id, secret) if colon else None


def parse_bearer_token(header: str | None) -> str | None:
    """Return the token of a Bearer Authorization header, or None if missing or malformed."""
    scheme, dummy, token = (header or "").strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token or " " in token:
        return None
    return token


def normalise_scope(raw: str | None) -> str | None:
    """Scope is a space-separated list (RFC 6749 section 3.3); None when none was asked for."""
    parts = (raw or "").split()
    return " ".join(parts) if parts else None


def random_token(_kind: str) -> str:
    """A new access or refresh token: 43 URL-safe characters, as the real API's."""
    return secrets.token_urlsafe(32)


class EmulatorState:
    """All mutable server state; every public method takes the lock."""

    def __init__(self, clients: dict[str, Client], *, expires_in: int,
                 clock: Callable[[], float] = time.monotonic,
                 token_factory: Callable[[str], str] = random_token) -> None:
        """``token_factory(kind)`` makes each new token, ``kind`` being "access_token" or
        "refresh_token"; it is called under the lock. In-process users (the unit tests) pass
        one that numbers the tokens, so that a test can name the token it expects."""
        self.lock = threading.Lock()
        self._startup_clients = dict(clients)
        self._default_expires_in = expires_in
        self._clock = clock
        self._new_token = token_factory
        self.clients = dict(clients)
        self.faults = Faults()
        self.counters = Counters()
        self.tokens: dict[str, AccessToken] = {}
        self.refresh_grants: dict[str, RefreshGrant] = {}

    # control API ------------------------------------------------------------

    def reset(self) -> None:
        with self.lock:
            self.clients = dict(self._startup_clients)
            self.faults = Faults()
            self.counters = Counters()
            self.tokens.clear()
            self.refresh_grants.clear()

    def stats(self) -> dict[str, Any]:
        with self.lock:
            now = self._clock()
            result = dataclasses.asdict(self.counters)
            result["live_tokens"] = sum(1 for token in self.tokens.values() if token.is_live(now))
            return result

    def faults_snapshot(self) -> dict[str, Any]:
        with self.lock:
            return dataclasses.asdict(self.faults)

    def merge_faults(self, update: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            self.faults.merge(update)
            return dataclasses.asdict(self.faults)

    def clear_faults(self) -> dict[str, Any]:
        with self.lock:
            self.faults = Faults()
            return dataclasses.asdict(self.faults)

    def error_format(self) -> str:
        with self.lock:
            return self.faults.error_format

    def expire(self, token: str | None) -> int:
        """Make one token (or every token) expire now; return how many were live."""
        with self.lock:
            now = self._clock()
            if token is None:
                targets = list(self.tokens.values())
            else:
                targets = [self.tokens[token]] if token in self.tokens else []
            live = [record for record in targets if record.is_live(now)]
            for record in live:
                record.expires_at = now
            return len(live)

    def add_client(self, client_id: str, client: Client) -> None:
        with self.lock:
            self.clients[client_id] = client

    def client_list(self) -> list[dict[str, Any]]:
        with self.lock:
            return [_client_entry(client_id, c) for client_id, c in sorted(self.clients.items())]

    # token endpoint ----------------------------------------------------------

    def begin_token_request(self, grant_type: str | None) -> tuple[float, TokenFault | None]:
        """Count the request and take the faults that apply to it: (latency, fault)."""
        with self.lock:
            self.counters.token_requests += 1
            by_grant = self.counters.token_requests_by_grant
            key = grant_type or MISSING_GRANT_KEY
            by_grant[key] = by_grant.get(key, 0) + 1
            return self.faults.take_latency(), self.faults.take_token_fault()

    def token_request(self, authorization: str | None, form: dict[str, str]) -> SeedError | dict[str, Any]:
        """Answer a token request: a seed error, or the 200 JSON body."""
        with self.lock:
            client_id, error = self._authenticate(authorization)
            if error is not None:
                return error
            assert client_id is not None
            grant_type = form.get("grant_type") or ""
            if grant_type not in KNOWN_GRANT_TYPES:
                return ERR_GRANT_TYPE
            if not self.clients[client_id].permits(grant_type):
                return ERR_GRANT_NOT_PERMITTED
            scope = normalise_scope(form.get("scope"))
            if grant_type == "refresh_token":
                return self._refresh_locked(client_id, form.get("refresh_token") or "", scope)
            username = None
            if grant_type == "password":
                username = self._system_user(client_id, form)
                if username is None:
                    return ERR_BAD_USER
            if not self._scope_allowed(client_id, scope):
                return ERR_SCOPE
            # RFC 6749 section 4.3.3: the password grant's answer carries a refresh token.
            with_refresh = grant_type == "password" or self.faults.issue_refresh_token
            return self._issue_locked(client_id, scope, with_refresh=with_refresh, username=username)

    def _system_user(self, client_id: str, form: dict[str, str]) -> str | None:
        """The username when the form's username and password are one of the client's users."""
        username, password = form.get("username") or "", form.get("password") or ""
        expected = self.clients[client_id].users.get(username)
        if not username or expected is None or not hmac.compare_digest(password.encode(), expected.encode()):
            return None
        return username

    def _authenticate(self, authorization: str | None) -> tuple[str | None, SeedError | None]:
        credentials = parse_basic_credentials(authorization)
        if credentials is None:
            return None, ERR_BASIC_HEADER
        client_id, secret = credentials
        client = self.clients.get(client_id)
        if client is None:
            return None, ERR_CLIENT_ID
        if not hmac.compare_digest(secret.encode(), client.secret.encode()):
            return None, ERR_BAD_CREDENTIALS
        return client_id, None

    def _scope_allowed(self, client_id: str, scope: str | None) -> bool:
        allowed = self.clients[client_id].scopes
        return scope is None or allowed is None or set(scope.split()) <= allowed

    def _refresh_locked(self, client_id: str, refresh_token: str, scope: str | None) -> SeedError | dict[str, Any]:
        grant = self.refresh_grants.get(refresh_token)
        if grant is None or grant.client_id != client_id:
            return ERR_REFRESH_TOKEN
        if grant.username is not None and grant.username not in self.clients[client_id].users:
            return ERR_REFRESH_TOKEN  # the system user was removed
        if scope is None:
            scope = grant.scope
        # RFC 6749 section 6: a refresh may narrow the original scope, never widen it.
        elif not self._scope_allowed(client_id, scope) or (
            grant.scope is not None and not set(scope.split()) <= set(grant.scope.split())
        ):
            return ERR_SCOPE
        del self.refresh_grants[refresh_token]
        return self._issue_locked(client_id, scope, with_refresh=True, username=grant.username)

    def _issue_locked(self, client_id: str, scope: str | None, *, with_refresh: bool,
                      username: str | None = None) -> dict[str, Any]:
        now = self._clock()
        faults = self.faults
        lifetime = self._default_expires_in if faults.expires_in is None else faults.expires_in
        if len(self.tokens) >= PRUNE_THRESHOLD:
            self.tokens = {key: rec for key, rec in self.tokens.items() if rec.is_live(now)}
        access_token = self._new_token("access_token")
        self.tokens[access_token] = AccessToken(client_id, scope, now + lifetime, username=username)
        self.counters.tokens_issued += 1
        body: dict[str, Any] = {
            "access_token": access_token,
            "expires_in": str(lifetime) if faults.expires_in_as_string else lifetime,
        }
        if not faults.omit_token_type:
            body["token_type"] = faults.token_type or "Bearer"
        if scope is not None:
            body["scope"] = scope
        if with_refresh:
            refresh_token = self._new_token("refresh_token")
            self.refresh_grants[refresh_token] = RefreshGrant(client_id, scope, username)
            body["refresh_token"] = refresh_token
        return body

    # bearer endpoints --------------------------------------------------------

    def logout(self, authorization: str | None) -> SeedError | None:
        """Revoke the bearer token; None on success."""
        with self.lock:
            self.counters.logout_requests += 1
            if self.faults.take_logout_failure():
                return ERR_BEARER_INTERNAL
            record, error = self._live_token_locked(authorization)
            if record is None:
                return error
            record.revoked = True
            self.counters.revoked += 1
            return None

    def protected(self, authorization: str | None) -> SeedError | dict[str, Any]:
        with self.lock:
            self.counters.protected_requests += 1
            record, error = self._live_token_locked(authorization)
            if record is None:
                assert error is not None
                return error
            result = {"ok": True, "client_id": record.client_id, "scope": record.scope}
            if record.username is not None:
                result["username"] = record.username
            return result

    def _live_token_locked(self, authorization: str | None) -> tuple[AccessToken | None, SeedError | None]:
        token = parse_bearer_token(authorization)
        if token is None:
            return None, ERR_BEARER_HEADER
        record = self.tokens.get(token)
        if record is None or not record.is_live(self._clock()):
            return None, ERR_ACCESS_TOKEN
        return record, None


# --------------------------------------------------------------------------- HTTP


HTML_BODY = (
    "<!DOCTYPE html>\n<html><head><title>Telenor - Sign in</title></head>"
    "<body><h1>Please sign in</h1><form method=\"post\"></form></body></html>\n"
)


class ControlError(ValueError):
    """A bad request to the control API (answered 400)."""


def parse_form(body: bytes) -> dict[str, str]:
    """First value of each field of a form-encoded body."""
    fields = parse_qs(body.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items()}


def parse_json_object(body: bytes) -> dict[str, Any]:
    if not body.strip():
        return {}
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise ControlError(f"body is not JSON: {exc}") from exc
    if not isinstance(payload, dict):
        raise ControlError("body must be a JSON object")
    return payload


def _client_entry(client_id: str, client: Client) -> dict[str, Any]:
    """A client as GET clients lists it: no secret, no user's password."""
    entry: dict[str, Any] = {"client_id": client_id, "scopes": None if client.scopes is None else sorted(client.scopes)}
    if client.users:
        entry["users"] = sorted(client.users)
    if client.grants is not None:
        entry["grants"] = sorted(client.grants)
    return entry


def _users_from_payload(users: Any) -> dict[str, str]:
    if users is None:
        return {}
    if not isinstance(users, dict) or not all(isinstance(k, str) and k and isinstance(v, str) for k, v in users.items()):
        raise ControlError("users must be an object of non-empty usernames to password strings, or null")
    return dict(users)


def _grants_from_payload(grants: Any) -> frozenset[str] | None:
    if grants is None:
        return None
    if not isinstance(grants, list) or not all(isinstance(g, str) and g in KNOWN_GRANT_TYPES for g in grants):
        raise ControlError(f"grants must be a list of {sorted(KNOWN_GRANT_TYPES)}, or null")
    return frozenset(grants)


def client_from_payload(payload: dict[str, Any]) -> tuple[str, Client]:
    client_id, secret, scopes = payload.get("client_id"), payload.get("client_secret"), payload.get("scopes")
    if not isinstance(client_id, str) or not client_id or ":" in client_id:
        raise ControlError("client_id must be a non-empty string without ':'")
    if not isinstance(secret, str):
        raise ControlError("client_secret must be a string")
    if scopes is not None and (not isinstance(scopes, list) or not all(isinstance(s, str) for s in scopes)):
        raise ControlError("scopes must be a list of strings or null")
    return client_id, Client(secret, None if scopes is None else frozenset(scopes),
                             users=_users_from_payload(payload.get("users")),
                             grants=_grants_from_payload(payload.get("grants")))


class EmulatorHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "TelenorOAuthEmulator/1.0"
    timeout = 60
    server: EmulatorServer

    # path -> method -> handler method name
    ROUTES: ClassVar[dict[str, dict[str, str]]] = {
        TOKEN_PATH: {"POST": "_token"},
        LOGOUT_PATH: {"GET": "_logout"},
        PROTECTED_PATH: {"GET": "_protected"},
        "/_emulator/health": {"GET": "_health"},
        "/_emulator/stats": {"GET": "_stats"},
        "/_emulator/reset": {"POST": "_reset"},
        "/_emulator/faults": {"GET": "_get_faults", "POST": "_set_faults"},
        "/_emulator/faults/clear": {"POST": "_clear_faults"},
        "/_emulator/expire": {"POST": "_expire"},
        "/_emulator/clients": {"GET": "_get_clients", "POST": "_add_client"},
        "/_emulator/shutdown": {"POST": "_shutdown"},
    }

    def setup(self) -> None:
        super().setup()
        if isinstance(self.connection, ssl.SSLSocket):
            # Handshake here, in the request's own thread, not in the accept loop.
            self.connection.do_handshake()

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    # plumbing ----------------------------------------------------------------

    def _dispatch(self) -> None:
        body = self._read_body()
        if body is None:
            return
        self._route(body)

    def _route(self, body: bytes) -> None:
        """Answer the request, whose body has been read, at the endpoint its path names."""
        path = urlsplit(self.path).path
        methods = self.ROUTES.get(path)
        if methods is None:
            self._send(404, b"Not Found", "text/plain; charset=utf-8")
            return
        name = methods.get(self.command)
        if name is None:
            self._send(405, b"Method Not Allowed", "text/plain; charset=utf-8",
                       {"Allow": ", ".join(sorted(methods))})
            return
        try:
            getattr(self, name)(body)
        except ControlError as exc:
            self._send_json(400, {"error": str(exc)})

    def _read_body(self) -> bytes | None:
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._send(411, b"Length Required", "text/plain; charset=utf-8")
            return None
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY_BYTES:
            self.close_connection = True
            self._send(400 if length < 0 else 413, b"Bad Content-Length", "text/plain; charset=utf-8")
            return None
        return self.rfile.read(length) if length else b""

    def _send(self, status: int, body: bytes, content_type: str,
              headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json_bytes(payload), "application/json", headers)

    def _send_seed_error(self, err: SeedError, *, challenge: str) -> None:
        body, content_type = render_error(err, self.server.state.error_format())
        headers = {"Cache-Control": "no-store"}
        if err.status == 401:
            headers["WWW-Authenticate"] = self._challenge(challenge, err)
        self._send(err.status, body, content_type, headers)

    @staticmethod
    def _challenge(scheme: str, err: SeedError) -> str:
        if scheme == "Bearer" and err.code == 2:
            # RFC 6750 section 3: error="invalid_token" for expired/revoked/unknown tokens.
            return f'Bearer realm="{REALM}", error="invalid_token"'
        return f'{scheme} realm="{REALM}"'

    def _drop_connection(self) -> None:
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # Only method, path (no query string) and status: never headers or bodies.
        path = urlsplit(self.path).path if getattr(self, "path", None) else "-"
        self.log_message('"%s %s" %s', self.command or "-", path, code)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            sys.stderr.write(f"{self.address_string()} - {format % args}\n")

    # OAuth endpoints -----------------------------------------------------------

    def _token(self, body: bytes) -> None:
        state = self.server.state
        form = parse_form(body)
        latency, fault = state.begin_token_request(form.get("grant_type"))
        if latency:
            self.server.stop_event.wait(latency)
        if fault is not None:
            self._send_token_fault(fault)
            return
        outcome = state.token_request(self.headers.get("Authorization"), form)
        if isinstance(outcome, SeedError):
            self._send_seed_error(outcome, challenge="Basic")
        else:
            # RFC 6749 section 5.1: token responses must not be cached.
            self._send_json(200, outcome, {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _send_token_fault(self, fault: TokenFault) -> None:
        if fault.kind == "drop":
            self._drop_connection()
        elif fault.kind == "force_error":
            assert fault.error is not None
            self._send_seed_error(fault.error, challenge="Basic")
        elif fault.kind == "fail" and fault.status == 500:
            self._send_seed_error(ERR_TOKEN_INTERNAL, challenge="Basic")
        elif fault.kind in ("fail", "rate_limit"):
            self._send_gateway_error(fault.status, fault.retry_after)
        elif fault.kind == "truncate":
            self._send_truncated_token()
        elif fault.kind == "html":
            self._send(200, HTML_BODY.encode(), "text/html; charset=utf-8")
        else:
            self._send(200, fault.body.encode(), fault.content_type)

    def _send_gateway_error(self, status: int, retry_after: int | None) -> None:
        """429/502/503/504 are not in the seed; answer like a gateway would, in plain text."""
        headers = {} if retry_after is None or status not in (429, 503) else {"Retry-After": str(retry_after)}
        self._send(status, f"{status} {HTTPStatus(status).phrase}".encode(), "text/plain; charset=utf-8", headers)

    def _send_truncated_token(self) -> None:
        full = json_bytes({"access_token": secrets.token_urlsafe(32), "expires_in": DEFAULT_EXPIRES_IN,
                           "token_type": "Bearer"})
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(full)))
        self.end_headers()
        self.wfile.write(full[: len(full) // 2])
        self._drop_connection()

    def _logout(self, _body: bytes) -> None:
        error = self.server.state.logout(self.headers.get("Authorization"))
        if error is not None:
            self._send_seed_error(error, challenge="Bearer")
        else:
            self._send(200, b"OK!", "text/plain; charset=utf-8")

    def _protected(self, _body: bytes) -> None:
        outcome = self.server.state.protected(self.headers.get("Authorization"))
        if isinstance(outcome, SeedError):
            self._send_seed_error(outcome, challenge="Bearer")
        else:
            self._send_json(200, outcome)

    # control API -----------------------------------------------------------------

    def _health(self, _body: bytes) -> None:
        self._send_json(200, {"ok": True, "tls": self.server.tls})

    def _stats(self, _body: bytes) -> None:
        self._send_json(200, self.server.state.stats())

    def _reset(self, _body: bytes) -> None:
        self.server.state.reset()
        self._send_json(200, {"ok": True})

    def _get_faults(self, _body: bytes) -> None:
        self._send_json(200, self.server.state.faults_snapshot())

    def _set_faults(self, body: bytes) -> None:
        try:
            faults = self.server.state.merge_faults(parse_json_object(body))
        except ValueError as exc:
            raise ControlError(str(exc)) from exc
        self._send_json(200, faults)

    def _clear_faults(self, _body: bytes) -> None:
        self._send_json(200, self.server.state.clear_faults())

    def _expire(self, body: bytes) -> None:
        token = parse_json_object(body).get("token")
        if token is not None and not isinstance(token, str):
            raise ControlError("token must be a string")
        self._send_json(200, {"expired": self.server.state.expire(token)})

    def _get_clients(self, _body: bytes) -> None:
        self._send_json(200, {"clients": self.server.state.client_list()})

    def _add_client(self, body: bytes) -> None:
        client_id, client = client_from_payload(parse_json_object(body))
        self.server.state.add_client(client_id, client)
        self._send_json(200, {"ok": True, "client_id": client_id})

    def _shutdown(self, _body: bytes) -> None:
        self.close_connection = True
        self._send_json(200, {"ok": True, "stopping": True})
        self.server.stop_event.set()


class EmulatorServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 64
    # In-process users may serve with a subclass of the handler (the unit tests script replies).
    handler_class: type[EmulatorHandler] = EmulatorHandler

    def __init__(self, host: str, port: int, *, state: EmulatorState, verbose: bool = False,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.address_family = socket.AF_INET6 if ":" in host else socket.AF_INET
        self.state = state
        self.verbose = verbose
        self.tls = ssl_context is not None
        self.stop_event = threading.Event()
        super().__init__((host, port), self.handler_class)
        if ssl_context is not None:
            self.socket = ssl_context.wrap_socket(self.socket, server_side=True, do_handshake_on_connect=False)

    def server_bind(self) -> None:
        # HTTPServer.server_bind would call socket.getfqdn(), a possibly slow DNS lookup.
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    @property
    def port(self) -> int:
        return self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that hang up (timeouts, TLS verification failures) are normal in tests.
        if self.verbose:
            super().handle_error(request, client_address)


# --------------------------------------------------------------------------- TLS


@dataclass(frozen=True)
class TlsFiles:
    ca: Path
    cert: Path
    key: Path


def write_tls_files(cert_dir: Path) -> TlsFiles:
    """Generate a throw-away CA and a server certificate for 127.0.0.1, ::1 and localhost."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.datetime.now(datetime.UTC)
    not_before, not_after = now - datetime.timedelta(minutes=5), now + datetime.timedelta(days=30)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Telenor OAuth emulator test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name).issuer_name(ca_name)
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                     crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server_key = ec.generate_private_key(ec.SECP256R1())
    server_cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(not_before).not_valid_after(not_after)
        .add_extension(x509.SubjectAlternativeName([
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                     data_encipherment=False, key_agreement=False, key_cert_sign=False,
                                     crl_sign=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    cert_dir.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(cert_dir / "ca.pem", cert_dir / "server.pem", cert_dir / "server.key")
    write_file_atomically(files.ca, ca_cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    write_file_atomically(files.cert, server_cert.public_bytes(serialization.Encoding.PEM), mode=0o644)
    key_pem = server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())
    write_file_atomically(files.key, key_pem, mode=0o600)
    return files


def server_ssl_context(files: TlsFiles) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(files.cert, files.key)
    return context


# --------------------------------------------------------------------------- CLI


def write_file_atomically(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Write via a temporary file and rename, so readers never see a partial file."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def loopback_host(value: str) -> str:
    """argparse type: accept only loopback addresses (and 'localhost', bound as 127.0.0.1)."""
    if value == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not an IP address; only loopback is allowed") from None
    if not address.is_loopback:
        raise argparse.ArgumentTypeError(f"{value} is not a loopback address; the emulator binds to loopback only")
    return str(address)


def client_arg(value: str) -> tuple[str, str]:
    """argparse type for ``--client ID:SECRET``; the secret may itself contain ':'."""
    client_id, colon, secret = value.partition(":")
    if not colon or not client_id:
        # Never echo the value: it holds a secret.
        raise argparse.ArgumentTypeError("expected ID:SECRET")
    return client_id, secret


def client_scopes_arg(value: str) -> tuple[str, frozenset[str]]:
    """argparse type for ``--client-scopes ID=scope1,scope2``."""
    client_id, equals, scopes = value.partition("=")
    if not equals or not client_id:
        raise argparse.ArgumentTypeError("expected ID=scope1,scope2")
    return client_id, frozenset(s.strip() for s in scopes.split(",") if s.strip())


def user_arg(value: str) -> tuple[str, str, str]:
    """argparse type for ``--user CLIENT:USERNAME:PASSWORD``; the password may contain ':'."""
    client_id, colon, rest = value.partition(":")
    username, colon2, password = rest.partition(":")
    if not colon or not colon2 or not client_id or not username:
        # Never echo the value: it holds a password.
        raise argparse.ArgumentTypeError("expected CLIENT:USERNAME:PASSWORD")
    return client_id, username, password


def client_grants_arg(value: str) -> tuple[str, frozenset[str]]:
    """argparse type for ``--client-grants ID=client_credentials,password``."""
    client_id, equals, grants = value.partition("=")
    names = frozenset(g.strip() for g in grants.split(",") if g.strip())
    if not equals or not client_id or not names <= KNOWN_GRANT_TYPES:
        raise argparse.ArgumentTypeError(f"expected ID=GRANT[,GRANT...] with grants from {sorted(KNOWN_GRANT_TYPES)}")
    return client_id, names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Local Telenor OAuth API emulator (loopback only).")
    parser.add_argument("--host", type=loopback_host, default="127.0.0.1",
                        help="loopback address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="TCP port; 0 picks a free one (default)")
    parser.add_argument("--port-file", type=Path, help="write the bound port here, atomically, once listening")
    parser.add_argument("--pid-file", type=Path, help="write the process id here")
    parser.add_argument("--tls", action="store_true", help="serve HTTPS with a generated CA (needs --cert-dir)")
    parser.add_argument("--cert-dir", type=Path, help="where --tls writes ca.pem, server.pem, server.key")
    parser.add_argument("--client", type=client_arg, action="append", default=[], metavar="ID:SECRET",
                        help=f"a client (repeatable); default {DEFAULT_CLIENT_ID}:{DEFAULT_CLIENT_SECRET}")
    parser.add_argument("--client-scopes", type=client_scopes_arg, action="append", default=[],
                        metavar="ID=SCOPE[,SCOPE...]", help="restrict a client to these scopes (repeatable)")
    parser.add_argument("--user", type=user_arg, action="append", default=[], metavar="CLIENT:USERNAME:PASSWORD",
                        help="a system user of a client, for the password grant (repeatable)")
    parser.add_argument("--client-grants", type=client_grants_arg, action="append", default=[],
                        metavar="ID=GRANT[,GRANT...]",
                        help="the only grants a client may use (repeatable); others get 401 code 21")
    parser.add_argument("--expires-in", type=int, default=DEFAULT_EXPIRES_IN,
                        help=f"token lifetime in seconds (default {DEFAULT_EXPIRES_IN})")
    parser.add_argument("--verbose", action="store_true", help="log one line per request to stderr")
    return parser


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.tls and args.cert_dir is None:
        parser.error("--tls needs --cert-dir")
    clients = dict(args.client) or {DEFAULT_CLIENT_ID: DEFAULT_CLIENT_SECRET}
    unknown = [client_id for client_id, dummy in args.client_scopes if client_id not in clients]
    if unknown:
        parser.error(f"--client-scopes names unknown client(s): {', '.join(unknown)}")
    unknown = sorted({client_id for client_id, *dummy in [*args.user, *args.client_grants] if client_id not in clients})
    if unknown:
        parser.error(f"--user or --client-grants names unknown client(s): {', '.join(unknown)}")
    scopes = dict(args.client_scopes)
    grants = dict(args.client_grants)
    users: dict[str, dict[str, str]] = {}
    for client_id, username, password in args.user:
        users.setdefault(client_id, {})[username] = password
    args.clients = {
        client_id: Client(secret, scopes.get(client_id), users=users.get(client_id, {}), grants=grants.get(client_id))
        for client_id, secret in clients.items()
    }
    return args


def base_url(host: str, port: int, *, tls: bool) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}"


def install_stop_signals(stop_event: threading.Event) -> None:
    def handle(_signum: int, _frame: Any) -> None:
        stop_event.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)


def serve(args: argparse.Namespace) -> int:
    state = EmulatorState(args.clients, expires_in=args.expires_in)
    ssl_context = server_ssl_context(write_tls_files(args.cert_dir)) if args.tls else None
    try:
        server = EmulatorServer(args.host, args.port, state=state, verbose=args.verbose, ssl_context=ssl_context)
    except OSError as exc:
        print(f"telenor_emulator: cannot listen on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    install_stop_signals(server.stop_event)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    written = [path for path in (args.pid_file, args.port_file) if path is not None]
    try:
        if args.pid_file:
            write_file_atomically(args.pid_file, f"{os.getpid()}\n".encode())
        if args.port_file:
            write_file_atomically(args.port_file, f"{server.port}\n".encode())
        print(f"telenor_emulator: listening on {base_url(args.host, server.port, tls=args.tls)}",
              file=sys.stderr, flush=True)
        while not server.stop_event.wait(0.5):
            pass
    finally:
        server.shutdown()
        server.server_close()
        for path in written:
            path.unlink(missing_ok=True)
    return 0


def main(argv: list[str] | None = None) -> int:
    return serve(parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())

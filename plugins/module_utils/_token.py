# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file is private to the telenor.oauth collection; it is not a public API.

"""The token record: what the cache keeps, and what users get back.

Reading a token response into a record is ``_token_response``'s job (cold path)."""

from __future__ import annotations

import dataclasses
import json
import re
import time
import typing as t

# Records written by a clock more than this far ahead of ours are not trusted.
CLOCK_SKEW_TOLERANCE = 30

# The grammars a token response is held to (``_token_response``), kept here because a
# record read back from the cache is held to them too: a cache written by a release that
# did not check them, or by another controller sharing Redis, must not hand on what a
# response today would be refused for.
# RFC 6749 section 7.1: a client must not use a token whose type it does not
# understand. The Telenor API issues Bearer tokens (RFC 6750).
SUPPORTED_TOKEN_TYPES = {"bearer": "Bearer"}
# RFC 6750 section 2.1: b64token = 1*( ALPHA / DIGIT / "-" / "." / "_" / "~"
# / "+" / "/" ) *"=". Anything else (CR, LF, control characters, non-ASCII)
# could split or forge the Authorization header it is sent in.
_B64TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")
MAX_TOKEN_LENGTH = 16384
# RFC 6749 appendix A.17: a refresh token is printable ASCII (VSCHAR).
SENDABLE_REFRESH_TOKEN = re.compile(r"[\x20-\x7e]+")
# RFC 6749 section 3.3: scope = scope-token *( SP scope-token ), scope-token =
# 1*( %x21 / %x23-5B / %x5D-7E ). The granted scope goes into the cache, into
# debug output and, through the service_token role, into service config files:
# a line break or an escape sequence in it would add lines there.
_SCOPE_TOKEN = r"[\x21\x23-\x5b\x5d-\x7e]+"
SCOPE = re.compile(rf"{_SCOPE_TOKEN}(?: {_SCOPE_TOKEN})*")


def is_sendable_token(token: t.Any) -> bool:
    """Whether ``token`` is a b64token that can go in an Authorization header unchanged."""
    return isinstance(token, str) and len(token) <= MAX_TOKEN_LENGTH and _B64TOKEN.fullmatch(token) is not None


# The fields of the record users see (TokenRecord.as_result), which the lookup's query selects from.
RESULT_FIELDS = ("access_token", "token_type", "expires_in", "expires_at", "scope", "authorization")


@dataclasses.dataclass(frozen=True)
class TokenRecord:
    """One issued token. ``refresh_token`` is cached but never returned by default.

    Its repr never shows a token.
    """

    access_token: str = dataclasses.field(repr=False)
    token_type: str
    expires_at: float
    issued_at: float = dataclasses.field(repr=False)
    lifetime: int = dataclasses.field(repr=False)
    scope: str | None = None
    refresh_token: str | None = dataclasses.field(default=None, repr=False)

    def seconds_left(self, now: float | None = None) -> int:
        """Seconds until expiry, never more than the token's lifetime."""
        now = time.time() if now is None else now
        return max(0, min(int(self.expires_at - now), self.lifetime))

    def is_usable(self, min_ttl: int, now: float | None = None) -> bool:
        """True when the token has at least the effective minimum lifetime left.

        The margin is capped at half the token's lifetime, so that a token that
        lives shorter than ``min_ttl`` is still reused for a while instead of
        being fetched again on every call.
        """
        now = time.time() if now is None else now
        if self.issued_at > now + CLOCK_SKEW_TOLERANCE:
            # Written by a process whose clock ran ahead of ours: we cannot tell
            # how long it really has left.
            return False
        margin = min(min_ttl, self.lifetime // 2)
        return self.expires_at - now > 0 and self.seconds_left(now) >= margin

    def as_result(self, now: float | None = None) -> dict[str, t.Any]:
        """The record users see (its keys are RESULT_FIELDS): no refresh token."""
        return {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.seconds_left(now),
            "expires_at": int(self.expires_at),
            "scope": self.scope,
            "authorization": f"{self.token_type} {self.access_token}",
        }

    def to_json(self) -> bytes:
        return json.dumps(dataclasses.asdict(self), separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> TokenRecord:
        """A record from the cache; ValueError (a cache miss) for one a token response could not give."""
        fields = json.loads(data.decode("utf-8"))
        scope = fields.get("scope")
        refresh = fields.get("refresh_token")
        checks = (
            is_sendable_token(fields["access_token"]),
            fields["token_type"] in SUPPORTED_TOKEN_TYPES.values(),
            scope in (None, "") or (isinstance(scope, str) and SCOPE.fullmatch(scope)),
            refresh is None or (isinstance(refresh, str) and SENDABLE_REFRESH_TOKEN.fullmatch(refresh)),
        )
        if not all(checks):
            raise ValueError("a cached record that a token response would be refused for")
        return cls(
            access_token=fields["access_token"],
            token_type=fields["token_type"],
            expires_at=float(fields["expires_at"]),
            issued_at=float(fields["issued_at"]),
            lifetime=int(fields["lifetime"]),
            scope=scope,
            refresh_token=refresh,
        )

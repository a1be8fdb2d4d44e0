# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file is private to the telenor.oauth collection; it is not a public API.

"""The token record: what the cache keeps, and what users get back.

Reading a token response into a record is ``_token_response``'s job (cold path)."""

from __future__ import annotations

import json
import time
import typing as t

# Records written by a clock more than this far ahead of ours are not trusted.
CLOCK_SKEW_TOLERANCE = 30


class TokenRecord:
    """One issued token. ``refresh_token`` is cached but never returned by default.

    A plain class rather than a dataclass: the lookup imports this in every
    forked worker, where building a dataclass costs more than the lookup, and
    its repr must never show a token.
    """

    __slots__ = ("access_token", "token_type", "expires_at", "issued_at", "lifetime", "scope", "refresh_token")

    def __init__(
        self,
        access_token: str,
        token_type: str,
        expires_at: float,
        issued_at: float,
        lifetime: int,
        scope: str | None = None,
        refresh_token: str | None = None,
    ) -> None:
        self.access_token = access_token
        self.token_type = token_type
        self.expires_at = expires_at
        self.issued_at = issued_at
        self.lifetime = lifetime
        self.scope = scope
        self.refresh_token = refresh_token

    def __repr__(self) -> str:
        return f"TokenRecord(token_type={self.token_type!r}, expires_at={self.expires_at!r}, scope={self.scope!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TokenRecord):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

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
        """The record users see: no refresh token."""
        return {
            "access_token": self.access_token,
            "token_type": self.token_type,
            "expires_in": self.seconds_left(now),
            "expires_at": int(self.expires_at),
            "scope": self.scope,
            "authorization": f"{self.token_type} {self.access_token}",
        }

    def to_json(self) -> bytes:
        fields = {name: getattr(self, name) for name in self.__slots__}
        return json.dumps(fields, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes) -> TokenRecord:
        fields = json.loads(data.decode("utf-8"))
        return cls(
            access_token=str(fields["access_token"]),
            token_type=str(fields["token_type"]),
            expires_at=float(fields["expires_at"]),
            issued_at=float(fields["issued_at"]),
            lifetime=int(fields["lifetime"]),
            scope=fields.get("scope"),
            refresh_token=fields.get("refresh_token"),
        )

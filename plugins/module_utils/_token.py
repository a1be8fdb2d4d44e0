# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file is private to the telenor.oauth collection; it is not a public API.

"""The token record: what the cache keeps, and what users get back.

Reading a token response into a record is ``_token_response``'s job (cold path)."""

from __future__ import annotations

import dataclasses
import json
import time
import typing as t

# Records written by a clock more than this far ahead of ours are not trusted.
CLOCK_SKEW_TOLERANCE = 30


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
        return json.dumps(dataclasses.asdict(self), separators=(",", ":")).encode("utf-8")

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

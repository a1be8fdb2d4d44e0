# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file is private to the telenor.oauth collection; it is not a public API.

"""A failed token request, remembered by the cache of its identity for the calls waiting behind it.

Every host of a play that misses the cache waits for the identity's lock and
then makes the request itself. When the API fails, that was one request (and
its retries, with their backoff) per host, one after another under the lock:
20 hosts against an API answering 429 made 60 requests in 88 s. The process
that failed leaves its error in the cache; a call that was already waiting
for the lock when the request failed, or that comes within REUSE_SECONDS of
the failure, fails at once with the same error.

A call made later (a re-run, the next try of an Ansible ``until`` loop)
requests again. The failure only counts for the same settings on the same
controller: it is sealed under a digest of what shapes a request besides the
identity (TLS settings, timeout, retries, proxies, the host), so a changed
ca_path, or another controller sharing Redis, is never told another's
failure. Loaded on a miss only.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from dataclasses import dataclass

from ._cache import UNREADABLE, CacheIdentity
from ._errors import TelenorAPIError, TelenorOAuthError, TelenorResponseError, TelenorTransportError

# Calls arriving this soon after a failure get it too: the next hosts of the play, queued as
# the earlier ones fail. Short, so that a re-run or an until loop's next try requests again.
REUSE_SECONDS = 2.0
# A record older than this is of no use to anyone (no call waits for the lock this long).
STALE_SECONDS = 600.0
_KINDS: dict[str, type[TelenorOAuthError]] = {
    "api": TelenorAPIError,
    "response": TelenorResponseError,
    "transport": TelenorTransportError,
}
_PROXY_VARIABLES = ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy",
                    "NO_PROXY", "no_proxy")


def request_context(settings) -> str:
    """A digest of what, besides the identity, decides how a request goes from here."""
    shaping = [settings.validate_certs, settings.ca_path, settings.timeout, settings.retries,
               [os.environ.get(name) for name in _PROXY_VARIABLES], socket.gethostname()]
    return hashlib.sha256(json.dumps(shaping).encode("utf-8")).hexdigest()[:32]


@dataclass(frozen=True)
class Failure:
    """What a failed request said, safe to show: its message, kind, HTTP status and codes."""

    at: float
    message: str
    kind: str = "transport"
    status: int | None = None
    code: int | None = None
    oauth_error: str | None = None
    attempts: int | None = None
    retryable: bool = False

    @classmethod
    def of(cls, exc: TelenorOAuthError) -> Failure:
        kind = next(name for name, kind in _KINDS.items() if isinstance(exc, kind))
        return cls(at=time.time(), message=exc.message, kind=kind, status=exc.status, code=exc.code,
                   oauth_error=getattr(exc, "oauth_error", None), attempts=exc.attempts, retryable=exc.retryable)

    def seconds_ago(self) -> float:
        return time.time() - self.at

    def applies_to(self, call_started: float) -> bool:
        """Whether a call that began waiting for the lock at ``call_started`` gets this failure.

        A failure dated in the future (a clock set back) is not trusted.
        """
        age = self.seconds_ago()
        return age >= 0 and (self.at >= call_started or age < REUSE_SECONDS)

    def is_stale(self) -> bool:
        return not 0 <= self.seconds_ago() < STALE_SECONDS

    def error(self) -> TelenorOAuthError:
        """The same error again, saying why this call made no request."""
        error = _KINDS[self.kind](
            f"{self.message} (the same request failed {self.seconds_ago():.0f} s ago, for another host or"
            " run with these settings on this controller, while this call waited for its turn or just"
            " before it: this call made no request of its own; a call made later requests again)",
            status=self.status,
            code=self.code,
            attempts=self.attempts,
            retryable=self.retryable,
        )
        if isinstance(error, TelenorAPIError):
            error.oauth_error = self.oauth_error
        return error

    def to_json(self) -> bytes:
        return json.dumps({"at": self.at, "message": self.message, "kind": self.kind, "status": self.status,
                           "code": self.code, "oauth_error": self.oauth_error, "attempts": self.attempts,
                           "retryable": self.retryable}).encode()

    def sealed(self, identity: CacheIdentity, key: str, context: str) -> bytes:
        """This failure sealed for the record ``key`` of ``identity`` and the request settings ``context``."""
        return identity.seal_data(self.to_json(), context=f"{key}:failed:{context}")

    @classmethod
    def unsealed(cls, blob: bytes, identity: CacheIdentity, key: str, context: str) -> Failure | None:
        """The failure ``sealed`` put in ``blob``; None when it was sealed for other settings,
        by another controller or identity, or is not a failure record at all."""
        try:
            return cls.from_json(identity.open_data(blob, context=f"{key}:failed:{context}"))
        except UNREADABLE:
            return None

    @classmethod
    def from_json(cls, plain: bytes) -> Failure:
        data = json.loads(plain)
        numbers = [data.get(name) for name in ("status", "code", "attempts")]
        well_formed = all((
            isinstance(data.get("at"), (int, float)),
            isinstance(data.get("message"), str),
            data.get("kind") in _KINDS,
            isinstance(data.get("oauth_error"), (str, type(None))),
            isinstance(data.get("retryable", False), bool),
            all(value is None or (isinstance(value, int) and not isinstance(value, bool)) for value in numbers),
        ))
        if not well_formed:
            raise ValueError("not a failure record")
        return cls(at=float(data["at"]), message=data["message"], kind=data["kind"], status=numbers[0],
                   code=numbers[1], oauth_error=data.get("oauth_error"), attempts=numbers[2],
                   retryable=data.get("retryable", False))

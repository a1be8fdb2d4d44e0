# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file is private to the telenor.oauth collection; it is not a public API.

"""A failed token request, remembered for a few seconds by the cache of its identity.

Every host of a play that misses the cache waits for the identity's lock and
then makes the request itself. When the API fails, that was one request (and
its retries, with their backoff) per host, one after another under the lock:
20 hosts against an API answering 429 made 60 requests in 88 s. The process
that failed leaves its error in the cache, and the processes that take the
lock within REUSE_SECONDS of it fail at once with the same error.

Short on purpose: an Ansible ``until`` loop or a re-run a little later tries
again. Loaded on a miss only, with the cache's writer side.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass

from ._errors import TelenorAPIError, TelenorOAuthError, TelenorTransportError

REUSE_SECONDS = 10.0


@dataclass(frozen=True)
class Failure:
    """What a failed request said: a message that is safe to show, and its HTTP status and code."""

    at: float
    message: str
    status: int | None = None
    code: int | None = None

    @classmethod
    def of(cls, exc: TelenorOAuthError) -> Failure:
        return cls(at=time.time(), message=exc.message, status=exc.status, code=exc.code)

    def seconds_ago(self) -> float:
        return time.time() - self.at

    def is_recent(self) -> bool:
        # A failure dated in the future (a clock set back, or another controller's) is not trusted.
        return 0 <= self.seconds_ago() < REUSE_SECONDS

    def error(self) -> TelenorOAuthError:
        """The same error again, saying why no request was made."""
        kind = TelenorAPIError if self.status is not None else TelenorTransportError
        return kind(
            f"{self.message} (the same request failed {self.seconds_ago():.0f} s ago, for another host or run"
            f" with these settings; no new request is made until {REUSE_SECONDS:g} s after that failure)",
            status=self.status,
            code=self.code,
        )

    def to_json(self) -> bytes:
        return json.dumps({"at": self.at, "message": self.message, "status": self.status, "code": self.code}).encode()

    @classmethod
    def from_json(cls, plain: bytes) -> Failure:
        data = json.loads(plain)
        status, code = data.get("status"), data.get("code")
        if not isinstance(data.get("at"), (int, float)) or not isinstance(data.get("message"), str):
            raise ValueError("not a failure record")
        if any(value is not None and (isinstance(value, bool) or not isinstance(value, int)) for value in (status, code)):
            raise ValueError("not a failure record")
        return cls(at=float(data["at"]), message=data["message"], status=status, code=code)

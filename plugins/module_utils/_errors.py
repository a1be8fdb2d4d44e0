# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file is private to the telenor.oauth collection; it is not a public API.

"""Error types of the Telenor OAuth client, and the names the grants and endpoints go by.

This is all the warm path (a cache hit) needs; the seed's error table and the
reading of error answers live in ``_api_errors``, loaded with the HTTP client."""

from __future__ import annotations

import sys

TOKEN_ENDPOINT = "token"
LOGOUT_ENDPOINT = "logout"

# The two grants of the token endpoint (RFC 6749 sections 4.4 and 4.3).
CLIENT_CREDENTIALS = "client_credentials"
PASSWORD = "password"
GRANT_TYPES = (CLIENT_CREDENTIALS, PASSWORD)


def is_transient_answer(status: int, code: int | None) -> bool:
    """Whether an HTTP error answer is one a later attempt may get past: 429 and 5xx, except
    500 code 16 (seed: "Invalid App Attributes. Please contact Telenor Admin"), which no retry mends."""
    return status == 429 or (status >= 500 and (status, code) != (500, 16))


class TelenorOAuthError(Exception):
    """Base of every error the shared client raises.

    The message is safe to show: it never contains a client secret or a token.
    ``retryable`` says whether a later run may get past it: what the client itself retries
    (a transient answer, a connection error, a dropped connection, a timeout), not a
    setting that is wrong or an answer every run would get again.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        attempts: int | None = None,
        retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.attempts = attempts
        self.retryable = retryable


class TelenorConfigError(TelenorOAuthError):
    """An option is missing or invalid; raised before any request is made."""


class TelenorAPIError(TelenorOAuthError):
    """The API answered with an HTTP error status.

    ``oauth_error`` is the RFC 6749 / RFC 6750 error name when the answer had
    one and no Telenor code.
    """

    oauth_error: str | None = None

    def __init__(self, message: str, *, status: int | None = None, code: int | None = None, **kwargs) -> None:
        kwargs.setdefault("retryable", status is not None and is_transient_answer(status, code))
        super().__init__(message, status=status, code=code, **kwargs)


class TelenorTransportError(TelenorOAuthError):
    """No usable HTTP answer: connection refused or dropped, timeout, TLS failure."""


class TelenorResponseError(TelenorOAuthError):
    """A 200 answer whose body is not a usable token response."""


class TelenorCacheError(TelenorOAuthError):
    """The token cache directory cannot be used."""


def missing_library(library: str, needed_for: str, instead: str = "") -> TelenorConfigError:
    """The error for a Python library that is not installed, raised where the library is first needed.

    The one check per library, for the lookup and the modules alike. It names the
    interpreter: a module runs on the managed host's Python, the lookup on the controller's.
    """
    return TelenorConfigError(
        f"The {library} Python library is required {needed_for}; install it for the Python that runs this:"
        f" {sys.executable or 'python3'} -m pip install {library}{instead}"
    )

# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file is private to the telenor.oauth collection; it is not a public API.

"""Error types of the Telenor OAuth client, and the names the grants and endpoints go by.

This is all the warm path (a cache hit) needs; the seed's error table and the
reading of error answers live in ``_api_errors``, loaded with the HTTP client."""

from __future__ import annotations

TOKEN_ENDPOINT = "token"
LOGOUT_ENDPOINT = "logout"

# The two grants of the token endpoint (RFC 6749 sections 4.4 and 4.3).
CLIENT_CREDENTIALS = "client_credentials"
PASSWORD = "password"
GRANT_TYPES = (CLIENT_CREDENTIALS, PASSWORD)


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
    """The API answered with an HTTP error status.

    ``oauth_error`` is the RFC 6749 / RFC 6750 error name when the answer had
    one and no Telenor code.
    """

    oauth_error: str | None = None


class TelenorTransportError(TelenorOAuthError):
    """No usable HTTP answer: connection refused or dropped, timeout, TLS failure."""


class TelenorResponseError(TelenorOAuthError):
    """A 200 answer whose body is not a usable token response."""


class TelenorCacheError(TelenorOAuthError):
    """The token cache directory cannot be used."""

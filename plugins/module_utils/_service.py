# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file is private to the telenor.oauth collection; it is not a public API.

"""Obtain and revoke tokens through the cache: the one code path of the lookup and the module."""

from __future__ import annotations

import time

from ._errors import TelenorAPIError, TelenorCacheError, TelenorOAuthError, TelenorResponseError, TelenorTransportError
from ._options import Settings
from ._token import TokenRecord


class Obtained:
    """What ``obtain_token`` did: the record, whether it came from the cache, what it replaced,
    and warnings for the edge to show (display.warning, module.warn)."""

    # Written out rather than a dataclass: the lookup's warm path imports this module in
    # every fresh worker, and defining a dataclass costs about 0.9 ms there.
    __slots__ = ("record", "cached", "replaced", "warnings")

    def __init__(
        self,
        record: TokenRecord | None,
        *,
        cached: bool,
        replaced: TokenRecord | None = None,
        warnings: list[str] | None = None,
    ) -> None:
        self.record = record
        self.cached = cached
        self.replaced = replaced
        self.warnings = warnings or []


_REFRESH_REFUSED = {(401, 7), (401, 21), (400, 2)}
_REFRESH_REFUSED_OAUTH = {"invalid_grant", "unauthorized_client", "unsupported_grant_type"}


def _renew(settings: Settings, previous: TokenRecord | None, *, force: bool) -> TokenRecord:
    client = settings.client()
    if previous is not None and previous.refresh_token and not force:
        try:
            return client.refresh_token(previous.refresh_token, settings.scope)
        except TelenorAPIError as exc:
            # The refresh grant itself refused (seed, token endpoint): 401
            # code 7 "Invalid refresh_token", 401 code 21 grant not permitted,
            # 400 code 2 grant unknown. Fall back to the settings' own grant
            # (client credentials, or the system user's password); other errors
            # (bad client credentials, server faults) would fail that too.
            # A standards server says the same in RFC 6749 section 5.2's words.
            refused = (exc.status, exc.code) in _REFRESH_REFUSED or (
                exc.code is None and exc.oauth_error in _REFRESH_REFUSED_OAUTH
            )
            if not refused:
                raise
    return client.request_token(settings.scope)


def obtain_token(settings: Settings, *, force: bool = False, check_mode: bool = False) -> Obtained:
    """Return a usable token, fetching one only when the cache has none.

    The fast path reads the cache without a lock. On a miss, the identity's
    lock is taken and the cache read again, so that of many processes missing
    at once only the first makes a request; the rest read its token.
    """
    cache = settings.cache()
    if not force:
        record = cache.load()
        if record is not None and record.is_usable(settings.min_ttl):
            return Obtained(record, cached=True)
    if check_mode:
        return Obtained(None, cached=False)
    started = time.time()
    with cache.locked():
        previous = cache.load()
        usable = previous is not None and previous.is_usable(settings.min_ttl)
        # A forced renewal that another process completed while we waited for
        # the lock already is the new token this call asked for.
        if usable and (not force or previous.issued_at >= started):
            return Obtained(previous, cached=True, warnings=cache.warnings)
        # Another process of this identity failed while this one waited: its error, not one more request.
        context = _failure_context(settings)
        failure = cache.recent_failure(context)
        if failure is not None and failure.applies_to(started):
            raise failure.error()
        # A cache that cannot keep the token fails here, before the request:
        # otherwise every host would mint a token that is then lost.
        cache.check_writable()
        record = _renew_or_remember_failure(settings, cache, previous, force=force, context=context)
        _store_or_revoke(settings, cache, record)
        cache.forget_failure()
        return Obtained(record, cached=False, replaced=previous, warnings=cache.warnings)


def _failure_context(settings: Settings) -> str:
    from ._failure_memo import request_context  # pylint: disable=import-outside-toplevel  # on a miss only

    return request_context(settings)


def _renew_or_remember_failure(
    settings: Settings, cache, previous: TokenRecord | None, *, force: bool, context: str
) -> TokenRecord:
    try:
        return _renew(settings, previous, force=force)
    except (TelenorAPIError, TelenorTransportError, TelenorResponseError) as exc:
        from ._failure_memo import Failure  # pylint: disable=import-outside-toplevel  # on a failure only

        cache.remember_failure(Failure.of(exc), context)
        raise


def _store_or_revoke(settings: Settings, cache, record: TokenRecord) -> None:
    """Cache a new token; if that fails, revoke it rather than leave it alive unknown to anyone."""
    try:
        cache.store(record)
    except Exception as exc:
        if settings.client().revoke_quietly(record.access_token):
            outcome = "the new token was revoked"
        else:
            outcome = "revoking the new token failed too, so it stays valid until it expires"
        why = exc.message if isinstance(exc, TelenorOAuthError) else type(exc).__name__
        raise TelenorCacheError(f"{why}; {outcome}") from None


def revoke_token(settings: Settings, access_token: str | None = None, *, check_mode: bool = False) -> str | None:
    """Revoke ``access_token``, or the cached token; return the live token revoked, or None.

    The cached token is read under the cache's lock, so the token returned is the one
    logged out even when another process rotates it at the same time. The cached record
    is dropped when its token is revoked or found already invalid; it is kept when the
    revocation fails, so nothing is lost. In check mode nothing changes, and the token
    returned is the one that would be revoked.
    """
    cache = settings.cache()
    if check_mode:
        record = cache.load()
        if access_token:
            return access_token
        return record.access_token if record is not None and record.seconds_left() > 0 else None
    with cache.locked():
        record = cache.load()
        token = access_token or (record.access_token if record else None)
        if not token:
            return None
        is_cached = record is not None and record.access_token == token
        if is_cached:
            # Drop the record before the logout, so that a process killed
            # right after the server revoked the token never leaves it cached
            # as valid; put it back if the logout fails.
            cache.delete()
            if record.seconds_left() <= 0:
                return None  # expired: nothing left to revoke
        try:
            return token if settings.client().revoke(token) else None
        except BaseException:
            # Whatever went wrong (an API error, a bug, KeyboardInterrupt),
            # the token may still be live: keep it cached.
            if is_cached:
                cache.store(record)
            raise

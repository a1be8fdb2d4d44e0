# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file is private to the telenor.oauth collection; it is not a public API.

"""The token cache on Redis (option ``cache_url``), shared by every controller that points at it.

It keeps the file cache's interface (``load``, ``locked``, ``store``,
``delete``) and its guarantees, across machines:

* the record is the file cache's encrypted envelope, under the file cache's
  record name (both from ``CacheIdentity``), expiring with its token;
* the lock is a Redis key set with ``SET NX PX`` to a random owner value,
  deleted only by its owner (compare-and-delete in one Lua script), and
  expiring on its own if its holder dies. It lives longer than the worst case
  of what its holder does under it (the token requests, the revocation of a
  token it could not store, its Redis commands), so it never expires under a
  live holder.

Faults fail closed: an unreachable Redis, a refused password or a timeout
raises TelenorCacheError naming Redis and the URL without its password; no
token is requested then, so a broken Redis never turns into one request per
host. The redis library is imported only when a cache_url is used.
"""

from __future__ import annotations

import contextlib
import math
import os
import secrets
import typing as t
from urllib.parse import parse_qs, urlsplit

from ._cache import MAX_RECORD_BYTES, CacheIdentity, poll_for_lock
from ._errors import TelenorCacheError, TelenorConfigError, missing_library
from ._options import url_secrets, url_without_password
from ._token import TokenRecord

if t.TYPE_CHECKING:
    from ._failure_memo import Failure

SCHEMES = ("redis", "rediss", "unix")
KEY_PREFIX = "telenor_oauth:"
# Tries of one Redis command: one retry mends a pooled connection that Redis
# closed; no more, so that an unreachable Redis fails fast and clearly.
REDIS_TRIES = 2
LOCK_MARGIN = 5.0
POLL_MAX = 0.25

# Deletes the lock only if it still holds our owner value, atomically: a
# holder whose lock expired must not delete the next holder's lock.
_RELEASE_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('del', KEYS[1])
end
return 0
"""

# GET, but nothing comes back when the value is longer than ARGV[1] bytes: a value of hundreds
# of megabytes, planted by anyone who can write to this Redis, never reaches a worker. A script
# rather than GETRANGE, so that a Redis ACL needs no command beyond those it allowed before.
_BOUNDED_GET_SCRIPT = """
local value = redis.call('get', KEYS[1])
if value and string.len(value) > tonumber(ARGV[1]) then
  return false
end
return value
"""

_POOLS: dict[tuple, t.Any] = {}


def lock_ttl(*, timeout: float, retries: int) -> float:
    """Seconds the lock lives: longer than everything its holder may do while it holds it.

    The worst case under the lock is ``_service.obtain_token`` when the store
    fails (revoke_token does less: 3 Redis commands, 1 request sequence):

    * 4 Redis commands: the read again, the read of a failure memo, the probe (check_writable), the store (SET); or, when the request
      fails, the memo written in place of the store. Each makes up to
      REDIS_TRIES tries of a connect and a read, ``timeout`` each.
    * 3 HTTP request sequences, all with the same timeout and retries: a
      refresh that is refused, the token request it falls back to, and, when
      the store fails, the revocation of the new token (logout).
      A sequence is (retries + 1) attempts of at most a connect and a read
      timeout each (the attempt deadline usually ends one after one timeout),
      and before each retry a wait of at most the larger of the Retry-After cap
      and the backoff cap.

    With the defaults, timeout=10 and retries=3: a sequence is 4*2*10 + 3*30 =
    170 s, Redis 4*2*2*10 = 160 s, so 3*170 + 160 + 5 = 675 s. (Before the
    revocation was counted it was 2*170 + 5 = 345 s: a holder whose store
    failed could outlive its lock while it revoked. Before the failure memo's
    read was counted, 635 s.)
    """
    # Imported here: only a miss takes the lock, and a miss loads the client anyway.
    from ._client import RETRY_AFTER_CAP, RETRY_MAX_DELAY  # pylint: disable=import-outside-toplevel

    attempt = 2 * timeout
    one_sequence = (retries + 1) * attempt + retries * max(RETRY_AFTER_CAP, RETRY_MAX_DELAY)
    redis_commands = 4 * REDIS_TRIES * 2 * timeout
    return 3 * one_sequence + redis_commands + LOCK_MARGIN


def redacted_url(url: str) -> str:
    """The cache URL as it may be shown: its password, if any, replaced by ***, and any query but ?db=N."""
    head, at, tail = url_without_password(url).rpartition("@")
    tail, question, query = tail.partition("?")
    if question and not all(item.startswith("db=") for item in query.split("&")):
        query = "***"
    return f"{head}{at}{tail}{question}{query}"


def normalize_cache_url(value: t.Any) -> str | None:
    """Check ``cache_url``; None when it is unset (the file cache is used)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    if not isinstance(value, str):
        raise TelenorConfigError("cache_url must be a string such as redis://:password@redis.example.com:6379/0")
    url = value.strip()
    shown = redacted_url(url)
    expected = (
        "expected redis://[[user]:password@]host[:port][/db], rediss://... (TLS) or"
        " unix://[[user]:password@]/path/to/redis.sock[?db=N]"
    )
    try:
        parts = urlsplit(url)
        # .port raises ValueError for a port that is not a number or above 65535.
        if parts.port == 0:
            raise ValueError("port 0")
    except ValueError as exc:
        raise TelenorConfigError(f"cache_url {shown!r} is not a valid URL ({type(exc).__name__}); {expected}") from None
    if parts.scheme not in SCHEMES:
        raise TelenorConfigError(f"cache_url {shown!r} is not a Redis URL; {expected}")
    if parts.fragment or url.endswith("#"):
        raise TelenorConfigError(f"cache_url {shown!r} must not have a fragment; {expected}")
    if parts.scheme == "unix":
        if parts.hostname or not parts.path.startswith("/"):
            raise TelenorConfigError(f"cache_url {shown!r} needs the socket's absolute path; {expected}")
        query = parse_qs(parts.query, keep_blank_values=True)
        if set(query) - {"db"} or any(not item.isdigit() for item in query.get("db", [])):
            raise TelenorConfigError(f"cache_url {shown!r}: a unix:// URL takes only ?db=N as query; {expected}")
        return url
    if not parts.hostname:
        raise TelenorConfigError(f"cache_url {shown!r} has no host; {expected}")
    if parts.query:
        # redis-py would read options (a password, say) from the query;
        # keep one way to write the URL, the documented one.
        raise TelenorConfigError(f"cache_url {shown!r} must not have a query string; {expected}")
    database = parts.path.strip("/")
    if database and not database.isdigit():
        raise TelenorConfigError(f"cache_url {shown!r}: the database {database!r} is not a number; {expected}")
    return url


def redis_cache_options(get: t.Callable[[str], t.Any]) -> tuple[str | None, str | None]:
    """Read and check cache_url and cache_ca_path through an option getter."""
    url = normalize_cache_url(get("cache_url"))
    ca_path = get("cache_ca_path") or None
    if ca_path is None:
        return url, None
    if not isinstance(ca_path, str):
        raise TelenorConfigError("cache_ca_path must be the path of a CA bundle file")
    if url is None or not url.startswith("rediss://"):
        raise TelenorConfigError(
            "cache_ca_path is set, but cache_url is not a rediss:// (TLS) URL; the CA applies only to rediss://"
        )
    ca_path = os.path.abspath(os.path.expanduser(ca_path))
    if not os.path.isfile(ca_path):
        raise TelenorConfigError(f"cache_ca_path {ca_path!r} is not a file")
    return url, ca_path


def _redis():
    try:
        import redis  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise missing_library(
            "redis", "for the Redis token cache (option cache_url)", " (or unset cache_url to use the file cache)"
        ) from None
    return redis


def preload_redis_library() -> None:
    """Import redis now, if it is installed, so that processes forked later inherit it."""
    with contextlib.suppress(TelenorConfigError):  # not installed: the lookup says so if it needs it
        _redis()


def _no_client_setinfo() -> dict[str, t.Any]:
    """Options that skip CLIENT SETINFO's two round trips on connect: the warm path is one command."""
    try:
        from redis.driver_info import DriverInfo  # pylint: disable=import-outside-toplevel
    except ImportError:  # redis-py 5 to 7
        return {"lib_name": None, "lib_version": None}
    return {"driver_info": DriverInfo(name=None, lib_version=None)}


def _client(url: str, *, ca_path: str | None, timeout: float) -> t.Any:
    """A client on this process's pool for the URL: the warm path reuses its connection."""
    pool_key = (url, ca_path, timeout)
    pool = _POOLS.get(pool_key)
    redis = _redis()
    if pool is None:
        from redis.backoff import NoBackoff  # pylint: disable=import-outside-toplevel
        from redis.retry import Retry  # pylint: disable=import-outside-toplevel

        options: dict[str, t.Any] = {
            "socket_timeout": timeout,
            "socket_connect_timeout": timeout,
            "retry": Retry(NoBackoff(), REDIS_TRIES - 1),
        }
        options.update(_no_client_setinfo())
        if url.startswith("rediss://") and ca_path:
            options["ssl_ca_certs"] = ca_path
        pool = redis.ConnectionPool.from_url(url, **options)
        _POOLS[pool_key] = pool
    return redis.Redis(connection_pool=pool)


class RedisTokenCache:
    """The cache entry of one identity, in Redis."""

    def __init__(self, url: str, identity: CacheIdentity, *, ca_path: str | None, timeout: float, retries: int) -> None:
        self._url = url
        self._ca_path = ca_path
        self._timeout = timeout
        self._retries = retries
        self.identity = identity
        self.shown_url = redacted_url(url)
        self.key = identity.key
        self.record_key = f"{KEY_PREFIX}{self.key}:token"
        self.lock_key = f"{KEY_PREFIX}{self.key}:lock"
        self.failure_key = f"{KEY_PREFIX}{self.key}:failed"
        # The file cache's fallback warnings; Redis never falls back (it fails closed).
        self.warnings: list[str] = []

    @property
    def lock_ttl(self) -> float:
        return lock_ttl(timeout=self._timeout, retries=self._retries)

    def __repr__(self) -> str:
        return f"RedisTokenCache({self.shown_url!r}, {self.record_key!r})"

    @contextlib.contextmanager
    def _redis_errors(self, doing: str) -> t.Iterator[None]:
        """Turn the redis library's errors into a TelenorCacheError that is safe to show."""
        redis = _redis()
        try:
            yield
        except (redis.exceptions.RedisError, OSError) as exc:  # OSError: a CA file that cannot be read, for one
            raise TelenorCacheError(self._message(doing, exc)) from None

    def _message(self, doing: str, exc: Exception) -> str:
        redis = _redis()
        refused = isinstance(exc, redis.exceptions.AuthenticationError) or "NOAUTH" in str(exc) or "WRONGPASS" in str(exc)
        if refused and not url_secrets(self._url):
            what = "asks for a password, and cache_url gives none (redis://user:password@host, or redis://:password@host)"
        elif refused:
            what = "refused the password (check the user and password in cache_url)"
        elif "CERTIFICATE_VERIFY_FAILED" in str(exc) or "certificate verify failed" in str(exc):
            # redis-py reports it as a ConnectionError; "cannot be reached" would send the operator the wrong way.
            what = (
                "presented a TLS certificate that could not be verified (check cache_ca_path,"
                " env TELENOR_TOKEN_CACHE_CA_PATH: the CA that signed the Redis server's certificate)"
            )
        elif isinstance(exc, redis.exceptions.TimeoutError) and self._url.startswith("rediss://"):
            # A Redis without TLS waits for a command and never answers the TLS handshake.
            what = (
                f"did not answer within {self._timeout:g} s (option timeout); with a rediss:// URL, check that"
                " the server speaks TLS on that port (a Redis without TLS never answers the handshake: use redis://)"
            )
        elif isinstance(exc, redis.exceptions.TimeoutError):
            what = f"did not answer within {self._timeout:g} s (option timeout)"
        elif isinstance(exc, redis.exceptions.ConnectionError):
            what = "cannot be reached"
        else:
            what = "failed"
        from ._api_errors import safe_excerpt  # pylint: disable=import-outside-toplevel  # on a failure only
        # The password masked in every form a message may carry it, as the token service's words are.
        detail = safe_excerpt(str(exc).replace(self._url, self.shown_url), redact=url_secrets(self._url), limit=500).rstrip(". ")
        return (
            f"The Redis token cache at {self.shown_url} (option cache_url, variable telenor_cache_url,"
            " env TELENOR_TOKEN_CACHE_URL)"
            f" {what} while {doing}: {type(exc).__name__}: {detail}. No token was requested;"
            " fix Redis or unset cache_url to use the file cache"
        )

    def _client(self) -> t.Any:
        return _client(self._url, ca_path=self._ca_path, timeout=self._timeout)

    def _bounded_get(self, key: str) -> bytes | None:
        """The value at ``key``, or None when there is none or it is longer than a file of the
        cache may be (no record of ours is): it never crosses the network."""
        return self._client().eval(_BOUNDED_GET_SCRIPT, 1, key, MAX_RECORD_BYTES)

    def load(self) -> TokenRecord | None:
        """The cached record, or None when there is none or it cannot be decrypted."""
        with self._redis_errors("reading the token"):
            blob = self._bounded_get(self.record_key)
        if blob is None:
            return None
        return self.identity.unseal(blob, key=self.key)

    @contextlib.contextmanager
    def locked(self, timeout: float | None = None) -> t.Iterator[None]:
        """Hold this identity's lock in Redis; wait at most ``timeout`` seconds for it.

        By default a waiter outwaits the lock's own expiry, so a holder that
        died never makes the next one fail.
        """
        wait = self.lock_ttl + LOCK_MARGIN if timeout is None else timeout
        owner = secrets.token_hex(16)
        client = self._client()
        self._acquire(client, owner, wait)
        try:
            yield
        except BaseException:
            # The error that ended the work is the one to report, not a release that failed
            # after it (the lock expires on its own).
            with contextlib.suppress(TelenorCacheError):
                self._release(client, owner)
            raise
        self._release(client, owner)

    def _release(self, client: t.Any, owner: str) -> None:
        with self._redis_errors("releasing the token lock"):
            client.eval(_RELEASE_SCRIPT, 1, self.lock_key, owner)

    def _acquire(self, client: t.Any, owner: str, wait: float) -> None:
        ttl_ms = int(math.ceil(self.lock_ttl * 1000))

        def try_lock() -> bool:
            with self._redis_errors("taking the token lock"):
                return bool(client.set(self.lock_key, owner, nx=True, px=ttl_ms))

        if not poll_for_lock(try_lock, wait=wait, max_delay=POLL_MAX):
            raise TelenorCacheError(
                f"Timed out after {int(wait)} s waiting for the token lock in the Redis token cache at"
                f" {self.shown_url}; another process holds it"
            )

    def check_writable(self) -> None:
        """Write a short-lived probe key; call under the lock.

        So that a Redis that cannot keep a token (out of memory, a read-only
        replica) fails before a token is requested, not after.
        """
        probe = f"{KEY_PREFIX}{self.key}:probe"
        with self._redis_errors("checking that it can store the token"):
            # Written and removed in one round trip (MULTI/EXEC); the expiry only
            # guards against a connection lost in between.
            self._client().pipeline().set(probe, b"1", px=5000).delete(probe).execute()

    def store(self, record: TokenRecord) -> None:
        """Put the record in Redis, expiring with its token. Call under the lock."""
        seconds = record.seconds_left()
        if seconds <= 0:
            self.delete()
            return
        blob = self.identity.seal(record, key=self.key)
        with self._redis_errors("storing the token"):
            self._client().set(self.record_key, blob, ex=seconds)

    def delete(self) -> None:
        """Forget the record. Call under the lock."""
        with self._redis_errors("deleting the token"):
            self._client().delete(self.record_key)

    def recent_failure(self, context: str) -> Failure | None:
        """The last failed request of this identity with these settings (see _failure_memo). Under the lock."""
        with self._redis_errors("reading the last failed request"):
            blob = self._bounded_get(self.failure_key)
        if blob is None:
            return None
        from ._failure_memo import Failure  # pylint: disable=import-outside-toplevel,redefined-outer-name  # on a miss only

        # Sealed for other settings or by another controller: not this call's failure.
        failure = Failure.unsealed(blob, self.identity, self.key, context)
        return None if failure is None or failure.is_stale() else failure

    def remember_failure(self, failure: Failure, context: str) -> None:
        """Leave the failure for the calls waiting behind this one, expiring when no one waits; best effort."""
        from ._failure_memo import STALE_SECONDS  # pylint: disable=import-outside-toplevel

        blob = failure.sealed(self.identity, self.key, context)
        with contextlib.suppress(TelenorCacheError), self._redis_errors("remembering the failed request"):
            self._client().set(self.failure_key, blob, px=int(STALE_SECONDS * 1000))

    def forget_failure(self) -> None:
        with contextlib.suppress(TelenorCacheError), self._redis_errors("forgetting the failed request"):
            self._client().delete(self.failure_key)

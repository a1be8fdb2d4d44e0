# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file is private to the telenor.oauth collection; it is not a public API.

"""The writer side of the file token cache: directory checks, the lock, the probe, writes.

Split from ``_cache`` so that a worker whose token is cached (it only reads)
never compiles it; ``TokenCache`` imports it on a miss. The functions work on
the ``TokenCache`` they are handed, its private state included.
"""

# pylint: disable=protected-access  # the other half of TokenCache, split off for load time only

from __future__ import annotations

import contextlib
import fcntl
import glob
import os
import stat
import tempfile
import typing as t

from . import _io
from ._cache import TokenCache, fallback_cache_dir, poll_for_lock, read_cache_file
from ._errors import TelenorCacheError
from ._failure_memo import Failure
from ._token import TokenRecord

_WHERE = "option cache_dir, env TELENOR_TOKEN_CACHE_DIR"


def _ensure_private_dir(path: str) -> None:
    """Create the cache directory 0700, or check that an existing one is ours.

    A directory that exists already is never chmod-ed: it may be one the user
    named for other things (TELENOR_TOKEN_CACHE_DIR=/tmp made /tmp 0700 in
    1.0). It must belong to this user (root included: root's cache in a
    directory another user controls could be swapped under it), and no one
    else may write to it.
    """
    if not path:
        raise TelenorCacheError("There is no home directory for the token cache (option cache_dir)")
    try:
        with contextlib.suppress(FileExistsError):
            os.makedirs(path, 0o700)  # the mode applies to the leaf, the cache directory itself
        info = os.stat(path)
    except OSError as exc:
        raise TelenorCacheError(f"Cannot create the token cache directory {path!r} ({_WHERE}): {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode):
        raise TelenorCacheError(f"The token cache path {path!r} ({_WHERE}) is not a directory")
    if info.st_uid != os.geteuid():
        raise TelenorCacheError(
            f"The token cache directory {path!r} ({_WHERE}) belongs to another user (uid {info.st_uid});"
            " choose a directory of your own, such as the default ~/.cache/telenor_oauth"
        )
    if stat.S_IMODE(info.st_mode) & 0o022:
        raise TelenorCacheError(
            f"The token cache directory {path!r} ({_WHERE}) can be written by others"
            f" (mode {stat.S_IMODE(info.st_mode):04o}); choose a private directory, such as the"
            " default ~/.cache/telenor_oauth"
        )
    if not os.access(path, os.W_OK | os.X_OK):
        raise TelenorCacheError(f"The token cache directory {path!r} ({_WHERE}) is not writable")


def _ensure_fallback_dir(path: str) -> None:
    """Create the temp-dir fallback 0700, or accept it only if it is a real
    directory (no symlink), ours and private: others can create names there."""
    try:
        with contextlib.suppress(FileExistsError):
            os.mkdir(path, 0o700)
        info = os.lstat(path)
    except OSError as exc:
        raise TelenorCacheError(f"Cannot create the fallback token cache directory {path!r}: {exc.strerror}") from None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) & 0o077:
        raise TelenorCacheError(
            f"Refusing the fallback token cache directory {path!r}: it is not a directory of mode 0700"
            " owned by this user (someone else may have created it); set cache_dir"
            " (env TELENOR_TOKEN_CACHE_DIR) to a private directory"
        )


def _ensure_dir(cache: TokenCache) -> None:
    """Make the cache directory usable, falling back for the default location."""
    try:
        _ensure_private_dir(cache.cache_dir)
    except TelenorCacheError as exc:
        if not cache._may_fall_back:
            raise
        fallback = fallback_cache_dir()
        _ensure_fallback_dir(fallback)
        shown = cache.cache_dir or "~/.cache/telenor_oauth"
        cache.warnings.append(
            f"The default token cache directory {shown!r} cannot be used ({exc.message});"
            f" using {fallback!r}, private to this user, instead. Set cache_dir"
            " (env TELENOR_TOKEN_CACHE_DIR) to choose where tokens are cached"
        )
        cache._use_dir(fallback)
    else:
        cache._may_fall_back = False


def check_writable(cache: TokenCache) -> None:
    """Write and remove a record-sized probe; call under the lock.

    So that a cache that cannot keep a token (a full disk, a read-only
    mount) fails before a token is requested, not after.
    """
    try:
        fd, probe = tempfile.mkstemp(prefix=f".{cache.key}.", suffix=".tmp", dir=cache.cache_dir)
    except OSError as exc:
        raise TelenorCacheError(f"Cannot write to the token cache {cache.cache_dir!r} ({_WHERE}): {exc.strerror}") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(b"\0" * 4096)
            handle.flush()
            os.fsync(handle.fileno())
    except OSError as exc:
        raise TelenorCacheError(f"Cannot write to the token cache {cache.cache_dir!r} ({_WHERE}): {exc.strerror}") from None
    finally:
        with contextlib.suppress(OSError):
            os.unlink(probe)


@contextlib.contextmanager
def locked(cache: TokenCache, timeout: float) -> t.Iterator[None]:
    """Hold this identity's exclusive lock."""
    _ensure_dir(cache)
    try:
        fd = os.open(cache.lock_path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    except OSError as exc:
        raise TelenorCacheError(
            f"Cannot open the token cache lock file in {cache.cache_dir!r} (option cache_dir): {exc.strerror}"
        ) from None
    try:
        _acquire(cache, fd, timeout)
        yield
    finally:
        os.close(fd)  # closing the descriptor releases the lock


def _acquire(cache: TokenCache, fd: int, timeout: float) -> None:
    def try_lock() -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    if not poll_for_lock(try_lock, wait=timeout, max_delay=0.1):
        raise TelenorCacheError(
            f"Timed out after {int(timeout)} s waiting for the token cache lock in"
            f" {cache.cache_dir!r}; another process holds it"
        )


def store(cache: TokenCache, record: TokenRecord) -> None:
    """Replace the record atomically: temp file, fsync, rename. Call under the lock."""
    _remove_stale_temps(cache)
    blob = cache.identity.seal(record, key=cache.key)
    try:
        _io.write_atomically(cache.path, blob, mode=0o600)
    except (OSError, _io.FileTargetError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise TelenorCacheError(f"Cannot write to the token cache {cache.cache_dir!r}: {reason}") from None


def delete(cache: TokenCache) -> None:
    """Forget the record. Call under the lock; the lock file stays."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(cache.path)
    _io.fsync_directory(cache.cache_dir)


def _remove_stale_temps(cache: TokenCache) -> None:
    # Only the lock holder writes temp files for this key, so under the
    # lock any that exist were left by a writer that was killed.
    for leftover in glob.glob(os.path.join(glob.escape(cache.cache_dir), f".{cache.key}.*.tmp")):
        with contextlib.suppress(OSError):
            os.unlink(leftover)


def _failure_path(cache: TokenCache) -> str:
    return os.path.join(cache.cache_dir, cache.key + ".failed")


def recent_failure(cache: TokenCache, context: str) -> Failure | None:
    """The last failure of a request of this identity with these settings (``context``). Under the lock."""
    path = _failure_path(cache)
    blob = read_cache_file(path)
    if blob is None:
        return None
    # Sealed for other settings (another ca_path, say), or not ours: not this call's failure.
    failure = Failure.unsealed(blob, cache.identity, cache.key, context)
    if failure is None:
        return None
    if failure.is_stale():
        with contextlib.suppress(OSError):
            os.unlink(path)
        return None
    return failure


def remember_failure(cache: TokenCache, failure: Failure, context: str) -> None:
    """Leave the failure for the calls waiting behind this one; best effort, as the failure itself is what to report."""
    blob = failure.sealed(cache.identity, cache.key, context)
    with contextlib.suppress(OSError, _io.FileTargetError):
        _io.write_atomically(_failure_path(cache), blob, mode=0o600)


def forget_failure(cache: TokenCache) -> None:
    with contextlib.suppress(OSError):
        os.unlink(_failure_path(cache))

# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file is private to the telenor.oauth collection; it is not a public API.

"""Encrypted on-disk token cache, shared by forks, hosts, runs and processes.

Layout under ``cache_dir`` (mode 0700), one pair of files per identity
(api_url, client_id, scope, secret; with the password grant also the grant,
the system user and its password):

* ``<key>.token``: the record, AES-256-GCM encrypted with a key derived from
  the client secret (and the system user's password) by HKDF-SHA256 (RFC 5869);
  mode 0600, replaced atomically.
* ``<key>.lock``: an flock(2) lock file, never deleted, so that one process
  fetches while the others wait and then read what it wrote. The kernel
  releases the lock of a process that dies.

Readers never take the lock: the record file is only ever replaced by
rename(2), so a reader sees the old record or the new one, never a mix. This
module is the reader; the writer side is ``_cache_writer``, loaded on a miss.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
import tempfile
import typing as t
from dataclasses import dataclass, field

from ._errors import missing_library
from ._token import TokenRecord

if t.TYPE_CHECKING:
    from ._failure_memo import Failure

try:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF
except ImportError:  # pragma: no cover - CacheIdentity says so when a cache is built
    HAS_CRYPTOGRAPHY = False
else:
    HAS_CRYPTOGRAPHY = True

FORMAT_VERSION = 1
_HKDF_INFO = b"telenor.oauth token cache v1"
_HKDF_INFO_PASSWORD = b"telenor.oauth token cache v1 password grant"
_KEY_NAME_CONTEXT = b"telenor.oauth cache key name v2\0"
LOCK_TIMEOUT = 300.0


def cache_key(
    *, api_url: str, client_id: str, scope: str | None, client_secret: str,
    grant_type: str = "client_credentials", username: str | None = None, password: str | None = None,
) -> str:
    """Record name of an identity, for the file cache and Redis alike: reveals nothing.

    An HMAC-SHA256 (RFC 2104) keyed by the client secret, over the rest of the
    identity. Without the secret no one can test a guessed secret or password
    against the name, as they could against the plain SHA-256 digests of 1.x
    (whose records simply miss once after an upgrade: one new token). A
    password-grant identity adds the grant, the system user and its password,
    so that two system users never share a token.
    """
    fields = [api_url, client_id, scope or ""]
    if grant_type != "client_credentials":
        fields += [grant_type, username or "", password or ""]
    # Length-prefixed, so that no other split of the same characters gives the same message.
    message = _KEY_NAME_CONTEXT + b"".join(
        len(encoded).to_bytes(4, "big") + encoded for encoded in (field.encode("utf-8") for field in fields)
    )
    return hmac.new(client_secret.encode("utf-8"), message, hashlib.sha256).hexdigest()[:40]


@dataclass(frozen=True)
class CacheIdentity:
    """Whose token a cache entry holds; the one place its name and its seal are made.

    Built once per call (``Settings.cache``) and handed to the backend, file or
    Redis, so that both name and encrypt a record the same way.
    """

    api_url: str
    client_id: str
    scope: str | None
    client_secret: str = field(repr=False)
    grant_type: str = "client_credentials"
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        # Every cache, file or Redis, seals its records through an identity: the one check.
        if not HAS_CRYPTOGRAPHY:
            raise missing_library("cryptography", "for the encrypted token cache")

    @property
    def _sealing_password(self) -> str | None:
        # Only the password grant's password is part of the identity; a password
        # configured alongside client credentials is not used.
        return self.password if self.grant_type != "client_credentials" else None

    @property
    def key(self) -> str:
        return cache_key(api_url=self.api_url, client_id=self.client_id, scope=self.scope,
                         client_secret=self.client_secret, grant_type=self.grant_type,
                         username=self.username, password=self._sealing_password)

    def seal(self, record: TokenRecord, *, key: str) -> bytes:
        return seal(record, secret=self.client_secret, key=key, password=self._sealing_password)

    def unseal(self, blob: bytes, *, key: str) -> TokenRecord | None:
        return unseal(blob, secret=self.client_secret, key=key, password=self._sealing_password)

    def seal_data(self, plain: bytes, *, context: str) -> bytes:
        """Encrypt other data of this identity (a failure), bound to ``context`` as a record is to its key."""
        return seal_bytes(plain, secret=self.client_secret, aad=context.encode("ascii"), password=self._sealing_password)

    def open_data(self, blob: bytes, *, context: str) -> bytes:
        """Decrypt what seal_data made; raises (InvalidTag, ValueError, ...) for anything else."""
        return open_envelope(blob, secret=self.client_secret, aad=context.encode("ascii"), password=self._sealing_password)


def _derive_key(secret: str, salt: bytes, password: str | None = None) -> bytes:
    """The record key: from the client secret, and with the password grant from the
    system user's password too, so that neither alone opens a system user's token."""
    material = secret.encode("utf-8")
    info = _HKDF_INFO
    if password is not None:
        # Length-prefixed, so that no other (secret, password) split gives the same input.
        material = len(material).to_bytes(4, "big") + material + password.encode("utf-8")
        info = _HKDF_INFO_PASSWORD
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(material)


def seal(record: TokenRecord, *, secret: str, key: str, password: str | None = None) -> bytes:
    """Encrypt a record; the file key is bound in as associated data."""
    return seal_bytes(record.to_json(), secret=secret, aad=key.encode("ascii"), password=password)


def seal_bytes(plain: bytes, *, secret: str, aad: bytes, password: str | None = None) -> bytes:
    salt = os.urandom(16)
    nonce = os.urandom(12)
    ciphertext = AESGCM(_derive_key(secret, salt, password)).encrypt(nonce, plain, aad)
    envelope = {
        "v": FORMAT_VERSION,
        "salt": base64.b64encode(salt).decode("ascii"),
        "nonce": base64.b64encode(nonce).decode("ascii"),
        "ct": base64.b64encode(ciphertext).decode("ascii"),
    }
    return json.dumps(envelope).encode("ascii")


# What a corrupt, foreign or unreadable envelope raises.
UNREADABLE = (InvalidTag, ValueError, TypeError, KeyError, AttributeError, UnicodeError, RecursionError) if HAS_CRYPTOGRAPHY else ()


def unseal(blob: bytes, *, secret: str, key: str, password: str | None = None) -> TokenRecord | None:
    """Decrypt a record; None for anything corrupt, foreign or unreadable."""
    try:
        return TokenRecord.from_json(open_envelope(blob, secret=secret, aad=key.encode("ascii"), password=password))
    except UNREADABLE:
        return None


def open_envelope(blob: bytes, *, secret: str, aad: bytes, password: str | None = None) -> bytes:
    envelope = json.loads(blob.decode("ascii"))
    if envelope.get("v") != FORMAT_VERSION:
        raise ValueError("another format version")
    salt = base64.b64decode(envelope["salt"], validate=True)
    nonce = base64.b64decode(envelope["nonce"], validate=True)
    ciphertext = base64.b64decode(envelope["ct"], validate=True)
    return AESGCM(_derive_key(secret, salt, password)).decrypt(nonce, ciphertext, aad)


# No record or failure memo comes near this size; a larger one, planted or damaged, is a miss (read only this far).
MAX_RECORD_BYTES = 65536


def read_cache_file(path: str) -> bytes | None:
    """A file of the cache (a record or a failure memo), or None when it cannot be read.

    O_NOFOLLOW: a symlink planted at the file's name is not read. O_NONBLOCK and the checks
    after opening: a FIFO planted there cannot hang the call, and a file this user does not
    own is not read (another local user may have made the temp fallback directory first).
    """
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
                return None
            blob = handle.read(MAX_RECORD_BYTES + 1)
            return blob if len(blob) <= MAX_RECORD_BYTES else None
    except OSError:  # an I/O error
        return None


def poll_for_lock(try_lock: t.Callable[[], bool], *, wait: float, max_delay: float) -> bool:
    """Call ``try_lock`` until it returns True (the lock is ours) or ``wait`` seconds have passed.

    The file lock and the Redis lock both wait this way: backoff from 5 ms
    doubling up to ``max_delay``, jittered so that many waiters do not poll in
    step. False when the time ran out.
    """
    import random  # pylint: disable=import-outside-toplevel  # only a waiter needs it
    import time  # pylint: disable=import-outside-toplevel

    deadline = time.monotonic() + wait
    delay = 0.005
    while not try_lock():
        if time.monotonic() >= deadline:
            return False
        time.sleep(delay * (0.5 + random.random() / 2))  # nosec B311 - not for security
        delay = min(delay * 2, max_delay)
    return True


def fallback_cache_dir() -> str:
    """The per-user cache directory under the system temp directory."""
    return os.path.join(tempfile.gettempdir(), f"telenor_oauth-{os.geteuid()}")


class TokenCache:
    """The cache entry of one identity."""

    def __init__(self, cache_dir: str, identity: CacheIdentity, *, may_fall_back: bool = False) -> None:
        self.cache_dir = cache_dir
        self.identity = identity
        self.key = identity.key
        self.path = os.path.join(cache_dir, self.key + ".token")
        self.lock_path = os.path.join(cache_dir, self.key + ".lock")
        # cache_dir is the default location, which may fall back to a private
        # temp directory when it cannot be used (no HOME, read-only HOME).
        self._may_fall_back = may_fall_back
        self.warnings: list[str] = []

    def __repr__(self) -> str:
        return f"TokenCache({self.path!r})"

    def load(self) -> TokenRecord | None:
        """The cached record, or None when there is none or it cannot be read."""
        record = self._load_from(self.path)
        if record is None and self._may_fall_back:
            # Only after a miss, so the warm path of a usable HOME is one open().
            record = self._load_from(os.path.join(fallback_cache_dir(), self.key + ".token"))
        return record

    def _load_from(self, path: str) -> TokenRecord | None:
        blob = read_cache_file(path)
        return None if blob is None else self.identity.unseal(blob, key=self.key)

    def _use_dir(self, path: str) -> None:
        self.cache_dir = path
        self.path = os.path.join(path, self.key + ".token")
        self.lock_path = os.path.join(path, self.key + ".lock")
        self._may_fall_back = False

    # The writer side (directory checks, the lock, the probe, writes) lives in
    # _cache_writer and is imported on a miss only: a worker whose token is
    # cached compiles this module alone (the collection loader keeps no bytecode).
    def locked(self, timeout: float = LOCK_TIMEOUT) -> t.ContextManager[None]:
        """Hold this identity's exclusive lock."""
        from ._cache_writer import locked  # pylint: disable=import-outside-toplevel

        return locked(self, timeout)

    def check_writable(self) -> None:
        """Write and remove a record-sized probe; call under the lock.

        So that a cache that cannot keep a token (a full disk, a read-only
        mount) fails before a token is requested, not after.
        """
        from ._cache_writer import check_writable  # pylint: disable=import-outside-toplevel

        check_writable(self)

    def store(self, record: TokenRecord) -> None:
        """Replace the record atomically: temp file, fsync, rename. Call under the lock."""
        from ._cache_writer import store  # pylint: disable=import-outside-toplevel

        store(self, record)

    def delete(self) -> None:
        """Forget the record. Call under the lock; the lock file stays."""
        from ._cache_writer import delete  # pylint: disable=import-outside-toplevel

        delete(self)

    def recent_failure(self, context: str) -> Failure | None:
        """The last failed request of this identity with these settings (see _failure_memo). Under the lock."""
        from ._cache_writer import recent_failure  # pylint: disable=import-outside-toplevel

        return recent_failure(self, context)

    def remember_failure(self, failure: Failure, context: str) -> None:
        from ._cache_writer import remember_failure  # pylint: disable=import-outside-toplevel

        remember_failure(self, failure, context)

    def forget_failure(self) -> None:
        from ._cache_writer import forget_failure  # pylint: disable=import-outside-toplevel

        forget_failure(self)

# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import multiprocessing
import os
import shutil
import signal
import stat
import threading
import time

import pytest

from ansible_collections.telenor.oauth.plugins.module_utils._cache import CacheIdentity, TokenCache
from ansible_collections.telenor.oauth.plugins.module_utils._errors import TelenorCacheError
from ansible_collections.telenor.oauth.plugins.module_utils._token import TokenRecord

API_URL = "https://api.telenor.no"
CLIENT_ID = "cache-client-Jw2"
SECRET = "Cache-S3cret-Ty6:\u00f8"
TOKEN = "AT-CacheTok-Pp0Lk7"
REFRESH = "RT-CacheRef-Hh3Ee1"
IDENTITY = {"api_url": API_URL, "client_id": CLIENT_ID, "scope": "mobile sms", "client_secret": SECRET}


def make_record(token: str = TOKEN, *, lifetime: int = 3600, refresh: str | None = REFRESH) -> TokenRecord:
    now = time.time()
    return TokenRecord(
        access_token=token,
        token_type="Bearer",
        expires_at=now + lifetime,
        issued_at=now,
        lifetime=lifetime,
        scope="mobile sms",
        refresh_token=refresh,
    )


def make_cache(cache_dir, **changes) -> TokenCache:
    identity = {**IDENTITY, **changes}
    return TokenCache(str(cache_dir), CacheIdentity(**identity))


def store(cache: TokenCache, record: TokenRecord) -> None:
    with cache.locked():
        cache.store(record)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def cache_dir(tmp_path):
    return tmp_path / "cache" / "telenor_oauth"


@pytest.mark.parametrize("refresh", [REFRESH, None])
def test_a_stored_record_loads_back_unchanged(cache_dir, refresh):
    cache = make_cache(cache_dir)
    record = make_record(refresh=refresh)

    assert cache.load() is None
    store(cache, record)

    assert cache.load() == record
    assert make_cache(cache_dir).load() == record  # another process with the same identity


def test_files_are_private(cache_dir):
    cache = make_cache(cache_dir)

    store(cache, make_record())

    assert mode(cache_dir) == 0o700
    assert mode(cache.path) == 0o600
    assert mode(cache.lock_path) == 0o600


@pytest.mark.parametrize("existing_mode", [0o755, 0o750, 0o701, 0o711, 0o700])
def test_an_existing_directory_is_used_and_never_chmodded(cache_dir, existing_mode):
    # Issue 9: 1.0 chmod-ed any existing directory of ours to 0700, so
    # TELENOR_TOKEN_CACHE_DIR=$HOME/shared took rights away from others.
    cache_dir.mkdir(parents=True)
    cache_dir.chmod(existing_mode)
    cache = make_cache(cache_dir)

    store(cache, make_record())

    assert mode(cache_dir) == existing_mode
    assert cache.load() == make_record().__class__.from_json(cache.load().to_json())
    assert mode(cache.path) == 0o600


@pytest.mark.parametrize("writable_mode", [0o1777, 0o777, 0o770, 0o730, 0o702])
def test_a_directory_that_others_can_write_is_refused_and_left_alone(cache_dir, writable_mode):
    # Issue 9: TELENOR_TOKEN_CACHE_DIR=/tmp turned /tmp into 0700.
    cache_dir.mkdir(parents=True)
    cache_dir.chmod(writable_mode)

    with pytest.raises(TelenorCacheError, match="can be written by others") as caught:
        store(make_cache(cache_dir), make_record())

    assert str(cache_dir) in str(caught.value)
    assert mode(cache_dir) == writable_mode
    assert os.listdir(cache_dir) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to create a directory owned by another user")
@pytest.mark.parametrize("other_mode", [0o700, 0o755, 0o777])
def test_a_directory_of_another_user_is_refused_even_for_root(cache_dir, other_mode):
    # Issue 9: root accepted another user's private directory.
    cache_dir.mkdir(parents=True)
    os.chown(cache_dir, 54321, 54321)
    cache_dir.chmod(other_mode)

    with pytest.raises(TelenorCacheError, match="belongs to another user"):
        store(make_cache(cache_dir), make_record())
    assert os.listdir(cache_dir) == []


def test_a_symlink_at_the_lock_file_is_not_followed(cache_dir, tmp_path):
    target = tmp_path / "victim"
    target.write_text("keep")
    cache = make_cache(cache_dir)
    cache_dir.mkdir(parents=True, mode=0o700)
    os.symlink(target, cache.lock_path)

    with pytest.raises(TelenorCacheError, match="lock file"):
        store(cache, make_record())
    assert target.read_text() == "keep"


def test_a_symlink_at_the_record_is_not_read(cache_dir, tmp_path):
    writer = make_cache(tmp_path / "elsewhere")
    store(writer, make_record())
    cache = make_cache(cache_dir)
    cache_dir.mkdir(parents=True, mode=0o700)
    os.symlink(writer.path, cache.path)

    assert cache.load() is None


def test_a_fifo_at_the_record_is_a_miss_and_does_not_hang(cache_dir):
    # An attacker's pass: another local user who made /tmp/telenor_oauth-<uid> first put a
    # FIFO at the record's name there, and every lookup's lock-free read blocked in open().
    cache = make_cache(cache_dir)
    cache_dir.mkdir(parents=True, mode=0o700)
    os.mkfifo(cache.path)
    loaded = []
    reader = threading.Thread(target=lambda: loaded.append(cache.load()), daemon=True)
    reader.start()
    reader.join(timeout=20)  # generous: a blocked open() never returns

    assert loaded == [None]


def test_a_record_another_user_owns_is_not_read(cache_dir, monkeypatch):
    # The same attacker, knowing the client secret, planted a record sealed for it: root's
    # lookup served the attacker's token. A record this user did not write is a miss.
    cache = make_cache(cache_dir)
    store(cache, make_record())
    assert cache.load() is not None
    # The record's owner seen as another user, as it is by any user but the one who wrote it
    # (giving the file away takes root).
    monkeypatch.setattr(os, "geteuid", lambda: os.stat(cache.path).st_uid + 1)

    assert cache.load() is None


def test_a_record_padded_past_the_bound_is_a_miss(cache_dir):
    # Read no further than 64 KiB, as the Redis cache reads; JSON allows the padding spaces.
    cache = make_cache(cache_dir)
    store(cache, make_record())
    with open(cache.path, "ab") as handle:
        handle.write(b" " * 65536)

    assert cache.load() is None


def test_a_cache_dir_that_is_a_file_is_a_cache_error(tmp_path):
    path = tmp_path / "not-a-dir"
    path.write_text("")

    with pytest.raises(TelenorCacheError, match="cache_dir"):
        store(make_cache(path), make_record())


def test_neither_token_nor_secret_is_stored_in_clear(cache_dir):
    cache = make_cache(cache_dir)

    store(cache, make_record())

    names = " ".join(os.listdir(cache_dir))
    for value in (TOKEN, REFRESH, SECRET, CLIENT_ID):
        assert value not in names
    for path in (cache.path, cache.lock_path):
        content = open(path, "rb").read()
        for value in (TOKEN, REFRESH, SECRET):
            for form in (value.encode("utf-8"), base64.b64encode(value.encode("utf-8"))):
                assert form not in content


def test_a_different_secret_does_not_decrypt_the_record(cache_dir):
    owner = make_cache(cache_dir)
    store(owner, make_record())
    intruder = make_cache(cache_dir, client_secret="another-secret")
    # Even given the very file, under the name the intruder would look for.
    shutil.copyfile(owner.path, intruder.path)

    assert intruder.load() is None


def test_a_record_moved_to_another_identity_is_refused(cache_dir):
    # The file key is bound into the ciphertext: a record cannot be swapped between scopes.
    wide = make_cache(cache_dir, scope="admin")
    narrow = make_cache(cache_dir, scope="mobile")
    store(wide, make_record())
    shutil.copyfile(wide.path, narrow.path)

    assert narrow.load() is None


def _corrupt(cache: TokenCache, how: str) -> None:
    with open(cache.path, "rb") as handle:
        good = handle.read()
    envelope = json.loads(good)
    blobs = {
        "empty": b"",
        "garbage": os.urandom(512),
        "text": b"not a token cache",
        "truncated": good[: len(good) // 2],
        "one-byte-short": good[:-1],
        "json-list": b"[]",
        "json-null": b"null",
        "wrong-version": json.dumps({**envelope, "v": 2}).encode(),
        "no-ciphertext": json.dumps({"v": 1, "salt": envelope["salt"], "nonce": envelope["nonce"]}).encode(),
        "bad-base64": json.dumps({**envelope, "ct": "***"}).encode(),
        "empty-nonce": json.dumps({**envelope, "nonce": ""}).encode(),
        "numeric-salt": json.dumps({**envelope, "salt": 5}).encode(),
        "flipped-ciphertext-bit": json.dumps(
            {**envelope, "ct": base64.b64encode(bytes([base64.b64decode(envelope["ct"])[0] ^ 1]) + base64.b64decode(envelope["ct"])[1:]).decode()}
        ).encode(),
        "deeply-nested-json": b"[" * 65536,
    }
    with open(cache.path, "wb") as handle:
        handle.write(blobs[how])


@pytest.mark.parametrize(
    "how",
    [
        "empty",
        "garbage",
        "text",
        "truncated",
        "one-byte-short",
        "json-list",
        "json-null",
        "wrong-version",
        "no-ciphertext",
        "bad-base64",
        "empty-nonce",
        "numeric-salt",
        "flipped-ciphertext-bit",
        pytest.param(
            "deeply-nested-json"
        ),
    ],
)
def test_a_damaged_cache_file_is_a_miss_and_is_replaced(cache_dir, how):
    cache = make_cache(cache_dir)
    store(cache, make_record("AT-old"))
    _corrupt(cache, how)

    assert cache.load() is None

    fresh = make_record("AT-new")
    store(cache, fresh)
    assert cache.load() == fresh


@pytest.mark.parametrize("changes", [
    # Releases up to 1.1.1 cached any scope a server granted: one with a line break would
    # go on into the role's env files until the token expired.
    pytest.param({"scope": "read\nLD_PRELOAD=/tmp/evil.so"}, id="scope-with-a-line-break"),
    pytest.param({"scope": "read \u001b[2J"}, id="scope-with-an-escape-sequence"),
    pytest.param({"access_token": "AT-ok\r\nX-Injected: 1"}, id="token-with-a-header-line"),
    pytest.param({"token_type": "mac"}, id="not-a-bearer-token"),
    pytest.param({"refresh_token": "RT\n"}, id="refresh-token-with-a-line-break"),
])
def test_a_cached_record_that_a_token_response_would_be_refused_for_is_a_miss(cache_dir, changes):
    cache = make_cache(cache_dir)
    store(cache, dataclasses.replace(make_record(), **changes))

    assert cache.load() is None


@pytest.mark.parametrize("scope", [None, "", "mobile sms"])
def test_a_cached_record_without_a_scope_or_with_a_valid_one_is_served(cache_dir, scope):
    cache = make_cache(cache_dir)
    record = dataclasses.replace(make_record(), scope=scope)
    store(cache, record)

    assert cache.load() == record


def test_a_cache_path_that_is_a_directory_is_a_miss(cache_dir):
    cache = make_cache(cache_dir)
    os.makedirs(cache.path)

    assert cache.load() is None


def test_store_removes_temp_files_left_by_a_killed_writer_only_for_its_identity(cache_dir):
    cache = make_cache(cache_dir)
    other = make_cache(cache_dir, client_id="someone-else")
    cache_dir.mkdir(parents=True)
    ours = [cache_dir / f".{cache.key}.k1lled.tmp", cache_dir / f".{cache.key}.zz9x_a.tmp"]
    theirs = cache_dir / f".{other.key}.inflight.tmp"
    for leftover in (*ours, theirs):
        leftover.write_bytes(b"half a record")

    store(cache, make_record())

    assert not any(leftover.exists() for leftover in ours)
    assert theirs.exists()
    assert cache.load() is not None


@pytest.mark.parametrize(
    "change",
    [
        {"scope": "mobile"},
        {"scope": None},
        {"client_id": "other-client"},
        {"api_url": "http://127.0.0.1:8080"},
        {"client_secret": "rotated-secret"},
    ],
)
def test_each_identity_has_its_own_files(cache_dir, change):
    base = make_cache(cache_dir)
    changed = make_cache(cache_dir, **change)

    assert changed.path != base.path
    assert changed.lock_path != base.lock_path

    store(base, make_record("AT-base"))
    assert changed.load() is None


def test_delete_forgets_the_record_and_keeps_the_lock_file(cache_dir):
    cache = make_cache(cache_dir)
    store(cache, make_record())

    with cache.locked():
        cache.delete()
        cache.delete()  # deleting twice is fine

    assert cache.load() is None
    assert os.path.exists(cache.lock_path)


def test_the_lock_is_exclusive_and_readers_do_not_need_it(cache_dir):
    holder = make_cache(cache_dir)
    waiter = make_cache(cache_dir)
    record = make_record()
    store(holder, record)

    with holder.locked():
        assert waiter.load() == record
        started = time.monotonic()
        with pytest.raises(TelenorCacheError, match="Timed out"):
            with waiter.locked(timeout=0.2):
                pass  # pragma: no cover
        assert time.monotonic() - started >= 0.2

    with waiter.locked(timeout=0.2):
        pass


def _take_lock_and_die(cache_dir: str, ready) -> None:
    cache = make_cache(cache_dir)
    with cache.locked():
        ready.set()
        os.kill(os.getpid(), signal.SIGKILL)


def test_the_lock_of_a_killed_process_is_released(cache_dir):
    context = multiprocessing.get_context("fork")
    ready = context.Event()
    child = context.Process(target=_take_lock_and_die, args=(str(cache_dir), ready))
    child.start()
    assert ready.wait(10)
    child.join(10)

    assert child.exitcode == -signal.SIGKILL
    with make_cache(cache_dir).locked(timeout=2):
        pass


# ----------------------------------------------------------------- record names


def _one_point_x_key(identity: dict) -> str:
    """The 1.x record name, written out: SHA-256 over the identity and a plain SHA-256 of the secret."""
    digest = hashlib.sha256(identity["client_secret"].encode("utf-8")).hexdigest()
    material = "\0".join(("telenor.oauth-cache-v1", identity["api_url"], identity["client_id"],
                          identity["scope"] or "", digest))
    return hashlib.sha256(material.encode("utf-8")).hexdigest()[:40]


def test_the_record_name_differs_for_two_secrets_of_the_same_client():
    assert CacheIdentity(**IDENTITY).key != CacheIdentity(**{**IDENTITY, "client_secret": "rotated-secret"}).key


def test_the_record_name_is_no_plain_sha256_of_the_secret_nor_the_1_x_name():
    # Anyone who can list the cache could test a guessed secret against a plain
    # digest; the name is an HMAC keyed by the secret instead. Records under the
    # 1.x name miss once after the upgrade.
    name = CacheIdentity(**IDENTITY).key
    plain = hashlib.sha256(SECRET.encode("utf-8")).hexdigest()
    assert name not in plain and plain not in name
    assert name != _one_point_x_key(IDENTITY)


def test_the_record_file_is_named_by_the_identity(cache_dir):
    cache = make_cache(cache_dir)
    store(cache, make_record())
    names = [path.name for path in cache_dir.iterdir() if path.suffix == ".token"]
    assert names == [f"{CacheIdentity(**IDENTITY).key}.token"]

# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The Redis token cache, on fakeredis (the real Redis is in tests/integration/targets/cache_redis)."""

from __future__ import annotations

import contextlib
import json
import sys
import time

import pytest

fakeredis = pytest.importorskip("fakeredis")
redis = pytest.importorskip("redis")

from ansible_collections.telenor.oauth.plugins.module_utils import _client, _redis_cache  # noqa: E402
from ansible_collections.telenor.oauth.plugins.module_utils._cache import CacheIdentity, TokenCache, unseal  # noqa: E402
from ansible_collections.telenor.oauth.plugins.module_utils._errors import (  # noqa: E402
    TelenorAPIError,
    TelenorCacheError,
    TelenorConfigError,
)
from ansible_collections.telenor.oauth.plugins.module_utils._options import settings_from_options  # noqa: E402
from ansible_collections.telenor.oauth.plugins.module_utils._redis_cache import (  # noqa: E402
    REDIS_TRIES,
    RedisTokenCache,
    lock_ttl,
    normalize_cache_url,
    redacted_url,
)
from ansible_collections.telenor.oauth.plugins.module_utils._service import obtain_token, revoke_token  # noqa: E402
from ansible_collections.telenor.oauth.plugins.module_utils._token import TokenRecord  # noqa: E402
from ansible_collections.telenor.oauth.tests.unit.plugins.module_utils.documented_options import documented_getter  # noqa: E402
from ansible_collections.telenor.oauth.tests.unit.plugins.module_utils.missing_libraries import without_cryptography  # noqa: E402
from ansible_collections.telenor.oauth.tests.unit.plugins.module_utils.fake_telenor_api import (  # noqa: E402
    CLIENT_ID,
    CLIENT_SECRET,
    LOGOUT_PATH,
    TOKEN_PATH,
    TOKEN_PREFIX,
    closed_port,
)

PASSWORD = "Redis-pw-Qx7:never-shown"
URL = f"redis://app:{PASSWORD}@redis.example.com:6379/2"
IDENTITY = {"api_url": "https://api.telenor.no", "client_id": "redis-client-Jw2", "scope": "sms",
            "client_secret": "Redis-S3cret-Ty6"}
TOKEN = "AT-RedisTok-Pp0Lk7"


def make_record(token: str = TOKEN, *, lifetime: int = 3600) -> TokenRecord:
    now = time.time()
    return TokenRecord(access_token=token, token_type="Bearer", expires_at=now + lifetime, issued_at=now,
                       lifetime=lifetime, scope="sms", refresh_token=None)


@pytest.fixture
def server(monkeypatch):
    """One fake Redis server, shared by every cache this test builds, as one real Redis would be."""
    fake = fakeredis.FakeServer()
    monkeypatch.setattr(_redis_cache, "_client", lambda url, **_kwargs: fakeredis.FakeRedis(server=fake))
    return fake


@pytest.fixture
def peek(server):
    return fakeredis.FakeRedis(server=server)


def make_cache(url: str = URL, *, timeout: float = 1, retries: int = 0, **changes) -> RedisTokenCache:
    return RedisTokenCache(url, CacheIdentity(**{**IDENTITY, **changes}), ca_path=None, timeout=timeout, retries=retries)


@pytest.fixture
def make_settings(api, tmp_path):
    def build(**options):
        base = {"api_url": api.url, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
                "cache_dir": str(tmp_path / "cache"), "retries": 0, "timeout": 2, "min_ttl": 300,
                "cache_url": URL}
        base.update(options)
        return settings_from_options(documented_getter(base))

    return build


# ----------------------------------------------------------------- the URL


@pytest.mark.parametrize("url", [
    "redis://localhost",
    "redis://localhost:6380/3",
    f"redis://:{PASSWORD}@10.0.0.5:6379/0",
    f"redis://app:{PASSWORD}@redis.example.com",
    f"rediss://app:{PASSWORD}@redis.example.com:6380/1",
    "redis://[::1]:6379",
    "unix:///run/redis/redis.sock",
    f"unix://:{PASSWORD}@/run/redis/redis.sock?db=4",
])
def test_the_documented_url_forms_are_accepted(url):
    assert normalize_cache_url(f"  {url} ") == url


@pytest.mark.parametrize("value", [None, "", "   "])
def test_no_cache_url_means_the_file_cache(value, make_settings):
    settings = make_settings(cache_url=value)
    assert settings.cache_url is None
    assert isinstance(settings.cache(), TokenCache)


def test_a_cache_url_means_the_redis_cache(make_settings):
    assert isinstance(make_settings().cache(), RedisTokenCache)


@pytest.mark.parametrize("url, problem", [
    (f"http://app:{PASSWORD}@redis.example.com", "is not a Redis URL"),
    (f"redis://app:{PASSWORD}@redis.example.com:port", "is not a valid URL"),
    (f"redis://app:{PASSWORD}@/0", "has no host"),
    (f"redis://app:{PASSWORD}@redis.example.com/zero", "is not a number"),
    (f"redis://redis.example.com/0?password={PASSWORD}", "must not have a query string"),
    (f"redis://app:{PASSWORD}@redis.example.com#x", "must not have a fragment"),
    (f"unix://:{PASSWORD}@run/redis.sock", "absolute path"),
    (f"unix://:{PASSWORD}@/run/redis.sock?password={PASSWORD}", "only ?db=N"),
    (6379, "must be a string"),
])
def test_a_bad_cache_url_is_refused_by_name_without_its_password(url, problem):
    with pytest.raises(TelenorConfigError, match="cache_url") as caught:
        normalize_cache_url(url)
    assert problem in caught.value.message
    assert PASSWORD not in caught.value.message
    assert "Redis-pw" not in caught.value.message


@pytest.mark.parametrize("url, shown", [
    (URL, "redis://app:***@redis.example.com:6379/2"),
    (f"redis://:{PASSWORD}@h/0", "redis://:***@h/0"),
    ("redis://Redis-pw-no-colon@h", "redis://***@h"),  # a password written without the colon
    ("redis://h:6379/0", "redis://h:6379/0"),
    (f"unix://:{PASSWORD}@/run/redis.sock?db=1", "unix://:***@/run/redis.sock?db=1"),
    ("redis://app:pass@word@h", "redis://app:***@h"),  # the last @ ends the password
])
def test_urls_are_shown_without_their_password(url, shown):
    assert redacted_url(url) == shown


def test_cache_ca_path_needs_a_rediss_url(make_settings, tmp_path):
    bundle = tmp_path / "ca.pem"
    bundle.write_text("x")
    with pytest.raises(TelenorConfigError, match="cache_ca_path .*rediss://"):
        make_settings(cache_ca_path=str(bundle))
    with pytest.raises(TelenorConfigError, match="cache_ca_path .* is not a file"):
        make_settings(cache_url="rediss://h:6380", cache_ca_path=str(tmp_path / "missing.pem"))
    assert make_settings(cache_url="rediss://h:6380", cache_ca_path=str(bundle)).cache_ca_path == str(bundle)


def test_a_missing_redis_library_says_how_to_install_it(monkeypatch, make_settings, api):
    monkeypatch.setitem(sys.modules, "redis", None)
    with pytest.raises(TelenorConfigError, match=r"redis Python library .* pip install redis"):
        obtain_token(make_settings())
    assert api.token_requests == []


def test_a_missing_cryptography_library_says_how_to_install_it_before_any_request(monkeypatch, make_settings, api, server):
    without_cryptography(monkeypatch)
    with pytest.raises(TelenorConfigError, match=r"cryptography Python library .* pip install cryptography"):
        obtain_token(make_settings())
    assert api.token_requests == []


# ----------------------------------------------------------------- records


def test_a_stored_record_loads_back_in_another_process_sharing_the_url(server):
    record = make_record()
    cache = make_cache()
    assert cache.load() is None
    with cache.locked():
        cache.store(record)
    assert make_cache().load() == record


def test_redis_names_a_record_as_the_file_cache_does_and_holds_only_the_encrypted_envelope(server, peek, tmp_path):
    cache = make_cache()
    with cache.locked():
        cache.store(make_record())
    keys = peek.keys("*")
    file_cache = TokenCache(str(tmp_path), CacheIdentity(**IDENTITY))
    assert keys == [f"telenor_oauth:{file_cache.key}:token".encode()]  # one identity, one name, both backends
    blob = peek.get(keys[0])
    for clear in (TOKEN, IDENTITY["client_secret"], IDENTITY["client_id"], PASSWORD, "access_token"):
        assert clear.encode() not in blob and clear.encode() not in keys[0]
    assert unseal(blob, secret=IDENTITY["client_secret"], key=cache.key).access_token == TOKEN  # the file cache's envelope


def test_each_record_expires_with_its_token(server, peek):
    cache = make_cache()
    with cache.locked():
        cache.store(make_record(lifetime=120))
    assert 110 <= peek.ttl(cache.record_key) <= 120


def test_an_expired_record_is_not_kept(server, peek):
    cache = make_cache()
    with cache.locked():
        cache.store(make_record())
        cache.store(make_record(lifetime=0))
    assert peek.exists(cache.record_key) == 0


@pytest.mark.parametrize("changes", [{"client_secret": "other"}, {"scope": "mms"}, {"client_id": "other"}])
def test_identities_do_not_share_records(server, changes):
    with make_cache().locked():
        make_cache().store(make_record())
    assert make_cache(**changes).load() is None


def test_a_record_sealed_for_another_secret_is_ignored(server, peek):
    cache = make_cache()
    with cache.locked():
        cache.store(make_record())
    peek.set(cache.record_key, b'{"v": 1, "salt": "AAAA", "nonce": "AAAA", "ct": "AAAA"}')
    assert cache.load() is None


def test_a_huge_value_at_the_record_key_never_reaches_the_worker(server, peek, monkeypatch):
    # An attacker's pass: a 400 MB value at the record's key took each lookup 15 s and 1.6 GB.
    received = []

    class Recording(fakeredis.FakeRedis):
        def execute_command(self, *args, **options):
            reply = super().execute_command(*args, **options)
            received.append(len(reply) if isinstance(reply, bytes) else 0)
            return reply

    cache = make_cache()
    peek.set(cache.record_key, b"x" * (4 * 1024 * 1024))
    monkeypatch.setattr(_redis_cache, "_client", lambda url, **_kwargs: Recording(server=server))

    assert cache.load() is None
    assert received and max(received) <= 65536


def test_a_record_padded_past_the_bound_is_a_miss(server, peek):
    # Even a genuine record padded past 64 KiB (JSON allows the spaces) is no record of
    # ours, as an oversized cache file is not.
    cache = make_cache()
    with cache.locked():
        cache.store(make_record())
    peek.set(cache.record_key, peek.get(cache.record_key) + b" " * 65536)

    assert cache.load() is None


# ----------------------------------------------------------------- the lock


def test_the_lock_is_exclusive_and_expires_on_its_own(server, peek):
    holder, waiter = make_cache(), make_cache()
    with holder.locked():
        pttl = peek.pttl(holder.lock_key)
        assert 0 < pttl <= holder.lock_ttl * 1000  # a dead holder's lock goes away
        with pytest.raises(TelenorCacheError, match="waiting for the token lock in the Redis token cache"):
            with waiter.locked(timeout=0.05):
                pass
    assert peek.exists(holder.lock_key) == 0
    with waiter.locked(timeout=0.05):
        pass


def test_a_lock_left_by_a_dead_holder_is_taken_once_it_expires(server, peek):
    cache = make_cache()
    peek.set(cache.lock_key, "dead-holder", px=50)  # its holder died without releasing it
    with cache.locked(timeout=5):
        assert peek.get(cache.lock_key) != b"dead-holder"


def test_a_failed_release_does_not_hide_the_error_that_ended_the_work(server):
    # A review: an ACL that refused the release script's command replaced the real error
    # (a refused store, say) with the release's.
    def refuse(*_args, **_kwargs):
        raise redis.exceptions.NoPermissionError("this user has no permissions to run the 'eval' command")

    cache = make_cache()
    with pytest.raises(ValueError, match="the work's own error"), pytest.MonkeyPatch.context() as patch:
        with cache.locked():
            patch.setattr(fakeredis.FakeRedis, "eval", refuse)
            raise ValueError("the work's own error")

    # Without an error of the work's, the failed release is the one to report. (Another
    # identity: the lock above was never released, and expires only in its own time.)
    with pytest.raises(TelenorCacheError, match="while releasing the token lock"), pytest.MonkeyPatch.context() as patch:
        with make_cache(scope="other").locked():
            patch.setattr(fakeredis.FakeRedis, "eval", refuse)


def test_only_the_owner_releases_the_lock(server, peek):
    cache = make_cache()
    with cache.locked():
        # Our lock expired and another process took it: leaving must not free it.
        peek.set(cache.lock_key, "next-holder")
    assert peek.get(cache.lock_key) == b"next-holder"


@pytest.mark.parametrize("timeout, retries", [(10, 3), (1, 0), (0.5, 10), (30, 1)])
def test_the_lock_outlives_the_worst_case_of_what_its_holder_does(timeout, retries):
    # From the client's and the pool's own settings: each HTTP attempt may wait
    # a connect and a read timeout, each retry the longest wait the client
    # allows; a refused refresh falls back to a token request, and a token
    # that cannot be stored is revoked: 3 sequences. Around them, 4 Redis
    # commands (GET, the failure memo's GET, probe, SET) of REDIS_TRIES tries
    # of a connect and a read.
    sequence = (retries + 1) * 2 * timeout + retries * max(_client.RETRY_AFTER_CAP, _client.RETRY_MAX_DELAY)
    redis_commands = 4 * REDIS_TRIES * 2 * timeout
    assert lock_ttl(timeout=timeout, retries=retries) > 3 * sequence + redis_commands


def test_the_default_settings_give_the_documented_lock_lifetime():
    assert lock_ttl(timeout=10, retries=3) == 675  # the arithmetic in lock_ttl's docstring


def test_the_pool_makes_the_redis_tries_the_lock_lifetime_counts():
    client = _redis_cache._client("redis://127.0.0.1:1/0", ca_path=None, timeout=2.5)
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["retry"].get_retries() + 1 == REDIS_TRIES
    assert kwargs["socket_timeout"] == kwargs["socket_connect_timeout"] == 2.5


# ----------------------------------------------------------------- through the service


def test_one_request_then_every_lookup_reads_redis(api, make_settings, peek):
    first = obtain_token(make_settings())
    second = obtain_token(make_settings())
    assert not first.cached and second.cached
    assert second.record.access_token == first.record.access_token
    assert len(api.token_requests) == 1
    assert len(peek.keys("*:token")) == 1
    assert peek.keys("*:lock") == []  # released


def test_revocation_deletes_the_record_and_a_failed_logout_puts_it_back(api, make_settings, peek):
    settings = make_settings()
    token = obtain_token(settings).record.access_token
    api.reply(LOGOUT_PATH, 500, {"code": 2})
    with pytest.raises(Exception):
        revoke_token(settings)
    assert settings.cache().load().access_token == token
    api.reply(LOGOUT_PATH, 200, b"")
    assert revoke_token(settings) == token
    assert peek.keys("*:token") == []
    assert api.logout_requests[-1].headers["Authorization"] == f"Bearer {token}"


def test_a_token_renewed_is_what_every_process_then_reads(api, make_settings, server):
    old = obtain_token(make_settings()).record.access_token
    renewed = obtain_token(make_settings(), force=True).record.access_token
    assert renewed != old and renewed.startswith(TOKEN_PREFIX)
    assert obtain_token(make_settings()).record.access_token == renewed


def test_a_failed_request_is_shared_through_redis_and_expires(api, make_settings, peek):
    # Several controllers or AWX jobs behind one Redis: the first failure spares the others their requests.
    api.reply(TOKEN_PATH, 503, "")
    with pytest.raises(TelenorAPIError):
        obtain_token(make_settings())
    with pytest.raises(TelenorAPIError) as second:
        obtain_token(make_settings())

    assert len(api.token_requests) == 1
    assert "this call made no request of its own" in second.value.message
    (key,) = peek.keys("*:failed")
    assert peek.pttl(key) > 0  # expires on its own
    # Sealed like a record: only the envelope's fields, the status inside the ciphertext. (Not
    # b"503" not in the value: random base64 contains "503" about once in a thousand runs.)
    assert set(json.loads(peek.get(key))) == {"v", "salt", "nonce", "ct"}

    peek.delete(key)  # as its expiry does
    assert obtain_token(make_settings()).cached is False
    assert peek.keys("*:failed") == []


# ----------------------------------------------------------------- faults (a real client, no server)


@pytest.fixture
def unreachable_url():
    _redis_cache._POOLS.clear()
    yield f"redis://app:{PASSWORD}@127.0.0.1:{closed_port()}/0"
    _redis_cache._POOLS.clear()


@pytest.mark.parametrize("force", [False, True])
def test_an_unreachable_redis_fails_closed_naming_it_without_the_password(api, make_settings, unreachable_url, force):
    with pytest.raises(TelenorCacheError) as caught:
        obtain_token(make_settings(cache_url=unreachable_url), force=force)
    message = caught.value.message
    assert "Redis token cache at redis://app:***@127.0.0.1:" in message
    assert "cannot be reached" in message and "variable telenor_cache_url" in message
    assert ".." not in message  # redis-py's own words end in a period too
    assert PASSWORD not in message and "Redis-pw" not in message
    assert api.token_requests == []  # never one request per host


def test_an_unreachable_redis_keeps_the_token_when_revoking(api, make_settings, unreachable_url):
    with pytest.raises(TelenorCacheError, match="Redis token cache"):
        revoke_token(make_settings(cache_url=unreachable_url), "AT-given")
    assert api.logout_requests == []


@pytest.fixture
def silent_redis_url():
    """A port that accepts connections and never answers, as a hung Redis would."""
    import socket  # pylint: disable=import-outside-toplevel

    _redis_cache._POOLS.clear()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield f"redis://:{PASSWORD}@127.0.0.1:{listener.getsockname()[1]}/0"
    _redis_cache._POOLS.clear()


def test_a_redis_that_does_not_answer_times_out_with_the_timeout_option_named(api, make_settings, silent_redis_url):
    with pytest.raises(TelenorCacheError) as caught:
        obtain_token(make_settings(cache_url=silent_redis_url, timeout=0.2))
    message = caught.value.message
    assert "did not answer within 0.2 s (option timeout)" in message
    assert "redis://:***@127.0.0.1:" in message and PASSWORD not in message
    assert api.token_requests == []


@pytest.fixture
def echoing_redis_url():
    """A Redis stand-in (a proxy, say) that refuses the password, echoing it percent-encoded."""
    import socket  # pylint: disable=import-outside-toplevel
    import threading  # pylint: disable=import-outside-toplevel
    from urllib.parse import quote  # pylint: disable=import-outside-toplevel

    def answer(listener):
        with contextlib.suppress(OSError):
            while True:
                connection, _address = listener.accept()
                with connection:
                    connection.recv(4096)
                    connection.sendall(f"-WRONGPASS password {quote(PASSWORD, safe='')} is not valid\r\n".encode())

    _redis_cache._POOLS.clear()
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        threading.Thread(target=answer, args=(listener,), daemon=True).start()
        yield f"redis://app:{PASSWORD}@127.0.0.1:{listener.getsockname()[1]}/0"
    _redis_cache._POOLS.clear()


def test_a_refused_password_echoed_encoded_is_not_shown(api, make_settings, echoing_redis_url):
    with pytest.raises(TelenorCacheError) as caught:
        obtain_token(make_settings(cache_url=echoing_redis_url))
    message = caught.value.message
    assert "refused the password" in message and "password *** is not valid" in message
    assert "Qx7" not in message and "never-shown" not in message
    assert api.token_requests == []


def test_a_rediss_url_to_a_redis_without_tls_says_to_check_tls(api, make_settings, silent_redis_url):
    # A Redis without TLS waits for a command and never answers the TLS handshake.
    url = silent_redis_url.replace("redis://", "rediss://", 1)
    with pytest.raises(TelenorCacheError) as caught:
        obtain_token(make_settings(cache_url=url, timeout=0.2))
    assert "check that the server speaks TLS on that port" in caught.value.message
    assert PASSWORD not in caught.value.message
    assert api.token_requests == []


def test_a_redis_that_cannot_store_fails_before_any_token_request(make_settings, server, peek, api, monkeypatch):
    """A Redis that refuses writes (out of memory, a read-only replica) costs no token."""

    settings = make_settings()
    cache = settings.cache()

    def refuse(*_args, **_kwargs):
        raise redis.exceptions.ReadOnlyError("You can't write against a read only replica.")

    monkeypatch.setattr(redis.client.Pipeline, "execute", refuse)
    with pytest.raises(TelenorCacheError, match="checking that it can store the token"):
        obtain_token(settings)
    assert api.token_requests == []
    assert cache.load() is None
    assert list(peek.scan_iter("telenor_oauth:*")) == []


@pytest.mark.parametrize("password", ["pa/ss", "pa?ss", "pa#ss", "a/b+c=="])
def test_a_password_with_url_delimiters_is_never_shown(password):
    url = f"redis://:{password}@redis.example.com:6379/0"
    with pytest.raises(TelenorConfigError) as caught:
        normalize_cache_url(url + "?password=x")  # refused: a query other than db=N
    assert password not in str(caught.value)
    assert password not in redacted_url(url)

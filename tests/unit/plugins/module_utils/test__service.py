# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import errno
import multiprocessing
import os
import stat
import tempfile
import threading
import time

import pytest

from ansible_collections.telenor.oauth.plugins.module_utils import _failure_memo
from ansible_collections.telenor.oauth.plugins.module_utils._cache import TokenCache
from ansible_collections.telenor.oauth.plugins.module_utils._client import TelenorClient
from ansible_collections.telenor.oauth.plugins.module_utils._errors import (
    TelenorAPIError,
    TelenorCacheError,
    TelenorTransportError,
)
from ansible_collections.telenor.oauth.plugins.module_utils._options import settings_from_options
from ansible_collections.telenor.oauth.plugins.module_utils._service import obtain_token, revoke_token
from ansible_collections.telenor.oauth.plugins.module_utils._token import TokenRecord
from ansible_collections.telenor.oauth.tests.unit.plugins.module_utils.fake_telenor_api import (
    CLIENT_ID,
    CLIENT_SECRET,
    LOGOUT_PATH,
    REFRESH_PREFIX,
    TOKEN_PATH,
    TOKEN_PREFIX,
    closed_port,
)
from ansible_collections.telenor.oauth.tests.unit.plugins.module_utils.documented_options import documented_getter

CACHED_TOKEN = "AT-Cached-Wd5Rr8"
CACHED_REFRESH = "RT-Cached-Kk2Zm4"


@pytest.fixture
def make_settings(api, tmp_path):
    def build(**options):
        base = {
            "api_url": api.url,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "scope": ["mobile", "sms"],
            "cache_dir": str(tmp_path / "cache"),
            "retries": 0,  # Settings.client() sleeps for real between retries
            "timeout": 5,
            "min_ttl": 300,
        }
        base.update(options)
        return settings_from_options(documented_getter(base))

    return build


@pytest.fixture
def settings(make_settings):
    return make_settings()


def put_in_cache(settings, *, age: float = 0, lifetime: int = 3600, refresh: str | None = None,
                 token: str = CACHED_TOKEN, lock: bool = True) -> TokenRecord:
    """Store a record as another process would; ``lock=False`` when the caller holds the lock."""
    issued = time.time() - age
    record = TokenRecord(
        access_token=token,
        token_type="Bearer",
        expires_at=issued + lifetime,
        issued_at=issued,
        lifetime=lifetime,
        scope=settings.scope,
        refresh_token=refresh,
    )
    cache = settings.cache()
    if not lock:
        cache.store(record)
        return record
    with cache.locked():
        cache.store(record)
    return record


# --- obtain_token --------------------------------------------------------------


def test_a_cold_cache_fetches_once_then_reuses(api, settings):
    first = obtain_token(settings)
    second = obtain_token(settings)

    assert first.cached is False
    assert first.record.access_token.startswith(TOKEN_PREFIX)
    assert second.cached is True
    assert second.record == first.record
    (seen,) = api.token_requests
    assert seen.form == {"grant_type": ["client_credentials"], "scope": ["mobile sms"]}
    assert settings.cache().load() == first.record


@pytest.mark.parametrize(
    ("age", "lifetime", "min_ttl", "fetches"),
    [
        pytest.param(0, 3600, 300, False, id="fresh"),
        pytest.param(3000, 3600, 300, False, id="600s-left"),
        pytest.param(3400, 3600, 300, True, id="less-than-min_ttl-left"),
        pytest.param(3700, 3600, 0, True, id="expired"),
        pytest.param(20, 60, 300, False, id="short-token-young"),
        pytest.param(40, 60, 300, True, id="short-token-past-half"),
        pytest.param(-3600, 3600, 0, True, id="issued-by-a-clock-an-hour-ahead"),
    ],
)
def test_cached_token_is_reused_only_while_usable(api, make_settings, age, lifetime, min_ttl, fetches):
    settings = make_settings(min_ttl=min_ttl)
    cached = put_in_cache(settings, age=age, lifetime=lifetime)

    obtained = obtain_token(settings)

    assert len(api.token_requests) == (1 if fetches else 0)
    assert obtained.cached is not fetches
    if fetches:
        assert obtained.record.access_token.startswith(TOKEN_PREFIX)
        assert obtained.replaced == cached
        assert settings.cache().load() == obtained.record
    else:
        assert obtained.record == cached


def test_identities_do_not_share_tokens(api, make_settings):
    mobile = obtain_token(make_settings(scope=["mobile"]))
    sms = obtain_token(make_settings(scope=["sms"]))
    api.add_client("other-app")
    other_client = obtain_token(make_settings(client_id="other-app"))

    assert len(api.token_requests) == 3
    assert len({mobile.record.access_token, sms.record.access_token, other_client.record.access_token}) == 3


def test_force_fetches_a_new_token_even_when_the_cached_one_is_usable(api, settings):
    cached = put_in_cache(settings, refresh=CACHED_REFRESH)

    obtained = obtain_token(settings, force=True)

    assert obtained.cached is False
    assert obtained.replaced == cached
    assert obtained.record.access_token != CACHED_TOKEN
    assert settings.cache().load() == obtained.record
    # A forced renewal starts over with the client credentials, not the refresh token.
    (seen,) = api.token_requests
    assert seen.form["grant_type"] == ["client_credentials"]


@pytest.mark.parametrize(
    ("renewed_while_waiting", "fetches"),
    [
        pytest.param(True, False, id="renewed-by-another-process-meanwhile"),
        pytest.param(False, True, id="only-an-older-token-meanwhile"),
    ],
)
def test_force_waiting_for_the_lock_accepts_a_token_renewed_meanwhile(api, settings, renewed_while_waiting, fetches):
    put_in_cache(settings, age=600)
    results: list = []
    cache = settings.cache()
    with cache.locked():
        worker = threading.Thread(target=lambda: results.append(obtain_token(settings, force=True)))
        worker.start()
        time.sleep(0.2)  # the worker is now waiting for the lock
        other = put_in_cache(settings, token="AT-Other-Process", age=0 if renewed_while_waiting else 300, lock=False)
    worker.join(10)
    assert not worker.is_alive()

    (obtained,) = results
    assert len(api.token_requests) == (1 if fetches else 0)
    if fetches:
        assert obtained.record.access_token.startswith(TOKEN_PREFIX)
    else:
        assert (obtained.record, obtained.cached) == (other, True)


@pytest.mark.parametrize("cached", [False, True])
def test_check_mode_never_makes_a_request(api, settings, cached):
    record = put_in_cache(settings) if cached else None

    obtained = obtain_token(settings, check_mode=True)

    assert api.seen == []
    assert obtained.record == record
    assert obtained.cached is cached
    assert settings.cache().load() == record


def test_a_failed_fetch_stores_nothing_and_a_call_after_reuse_seconds_tries_again(api, settings, monkeypatch):
    api.reply(TOKEN_PATH, 401, "Error code 22 - Basic Authentication failed, bad username or password.")

    with pytest.raises(TelenorAPIError) as caught:
        obtain_token(settings)

    assert caught.value.code == 22
    assert CLIENT_SECRET not in str(caught.value)
    assert settings.cache().load() is None
    monkeypatch.setattr(_failure_memo, "REUSE_SECONDS", 0.0)
    assert obtain_token(settings).cached is False
    assert len(api.token_requests) == 2


def test_calls_moments_after_a_failure_get_its_error_without_a_request(api, settings):
    # Each host of a play waits for the lock and then asks in turn: against a failing API, that
    # was one request and its retries per host, one after another.
    api.reply(TOKEN_PATH, 503, "")

    with pytest.raises(TelenorAPIError) as first:
        obtain_token(settings)
    with pytest.raises(TelenorAPIError) as second:
        obtain_token(settings)

    assert len(api.token_requests) == 1
    assert second.value.status == first.value.status == 503
    assert second.value.message.startswith(first.value.message)
    assert "for another host or run with these settings on this controller" in second.value.message
    assert "this call made no request of its own; a call made later requests again" in second.value.message


def _obtain_reporting_error(settings, barrier, results) -> None:
    barrier.wait(10)
    try:
        obtain_token(settings)
        results.put("token")
    except TelenorAPIError as exc:
        results.put(exc.message)


def test_processes_waiting_for_the_lock_when_the_request_fails_get_its_error(api, settings, monkeypatch):
    # Not a time window: those that were waiting while it failed. (A call made after it requests again.)
    monkeypatch.setattr(_failure_memo, "REUSE_SECONDS", 0.0)
    api.token_delay = 0.5  # the others are waiting for the lock while the first request fails
    api.reply(TOKEN_PATH, 503, "", delay=0.5)
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(WORKERS), context.Queue()
    processes = [context.Process(target=_obtain_reporting_error, args=(settings, barrier, results)) for dummy in range(WORKERS)]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=30) for dummy in processes]
    for process in processes:
        process.join(10)

    assert len(api.token_requests) == 1
    assert all("HTTP 503" in outcome for outcome in outcomes), outcomes
    assert sum("made no request of its own" in outcome for outcome in outcomes) == WORKERS - 1


def test_a_replayed_failure_says_whether_the_next_run_may_get_past_it(api, make_settings):
    # The service_token role promises a retry on the module's retryable, whoever made the request.
    unreachable = make_settings(api_url=f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(TelenorTransportError) as first:
        obtain_token(unreachable)
    with pytest.raises(TelenorTransportError) as replayed:
        obtain_token(unreachable)

    assert "made no request of its own" in replayed.value.message
    assert first.value.retryable and replayed.value.retryable


def test_a_call_made_after_the_failure_requests_again(api, settings, monkeypatch):
    # A re-run, or an until loop's next try: the failure does not outlive REUSE_SECONDS for them.
    api.reply(TOKEN_PATH, 503, "")
    with pytest.raises(TelenorAPIError):
        obtain_token(settings)
    monkeypatch.setattr(_failure_memo, "REUSE_SECONDS", 0.0)

    assert obtain_token(settings).cached is False
    assert len(api.token_requests) == 2


@pytest.mark.parametrize(
    "changed",
    [{"ca_path": __file__}, {"timeout": 7}, {"retries": 1}, {"validate_certs": False}],
    ids=["ca_path", "timeout", "retries", "validate_certs"],
)
def test_a_failure_with_other_settings_is_not_replayed(api, make_settings, changed):
    # The operator fixes ca_path and runs again at once: the old failure is not blamed on the new settings.
    api.reply(TOKEN_PATH, 503, "")
    with pytest.raises(TelenorAPIError):
        obtain_token(make_settings())

    assert obtain_token(make_settings(**changed)).cached is False
    assert len(api.token_requests) == 2


def test_a_failure_sealed_for_another_secret_or_tampered_with_is_ignored(api, make_settings, settings):
    # Whoever can write the cache directory but has no secret cannot make hosts fail.
    other = make_settings(client_secret="another-secret")
    memo = os.path.join(settings.cache_dir, settings.cache().key + ".failed")
    api.reply(TOKEN_PATH, 503, "")
    with pytest.raises(TelenorAPIError):
        obtain_token(settings)
    sealed = open(memo, "rb").read()
    cache = other.cache()
    with cache.locked():
        cache.remember_failure(_failure_memo.Failure(at=time.time(), message="planted", kind="api", status=503),
                               _failure_memo.request_context(other))
    os.replace(os.path.join(other.cache_dir, cache.key + ".failed"), memo)  # another identity's, at our name

    assert obtain_token(settings).cached is False
    os.unlink(os.path.join(settings.cache_dir, settings.cache().key + ".token"))
    with open(memo, "wb") as handle:
        handle.write(sealed.replace(b'"ct": "', b'"ct": "A'))  # altered
    assert obtain_token(settings).cached is False
    assert len(api.token_requests) == 3


def test_a_replayed_failure_keeps_its_kind_and_details(api, settings):
    api.reply(TOKEN_PATH, 401, {"error": "invalid_client"})
    with pytest.raises(TelenorAPIError) as first:
        obtain_token(settings)
    with pytest.raises(TelenorAPIError) as second:
        obtain_token(settings)

    assert second.value.oauth_error == first.value.oauth_error == "invalid_client"
    assert (second.value.status, second.value.attempts) == (first.value.status, first.value.attempts)


def test_a_transport_failure_is_remembered_too(make_settings):
    settings = make_settings(api_url=f"http://127.0.0.1:{closed_port()}")

    with pytest.raises(TelenorTransportError):
        obtain_token(settings)
    with pytest.raises(TelenorTransportError) as second:
        obtain_token(settings)

    assert "could not connect" in second.value.message and "made no request of its own" in second.value.message


def test_a_success_forgets_the_failure(api, settings, monkeypatch):
    api.reply(TOKEN_PATH, 503, "")
    with pytest.raises(TelenorAPIError):
        obtain_token(settings)
    monkeypatch.setattr(_failure_memo, "REUSE_SECONDS", 0.0)
    obtain_token(settings)  # asks again, and gets a token
    monkeypatch.setattr(_failure_memo, "REUSE_SECONDS", 2.0)

    obtain_token(settings, force=True)

    assert len(api.token_requests) == 3


def test_a_failure_dated_in_the_future_is_not_trusted(api, settings):
    # Our clock set back: retry rather than refuse for an unknown time.
    cache = settings.cache()
    with cache.locked():
        cache.remember_failure(_failure_memo.Failure(at=time.time() + 3600, message="earlier failure"),
                               _failure_memo.request_context(settings))

    assert obtain_token(settings).cached is False
    assert len(api.token_requests) == 1


# --- refresh_token grant ---------------------------------------------------------


def test_an_expiring_token_with_a_refresh_token_is_renewed_with_it(api, settings):
    api.issue_refresh_tokens = True
    api.issue_token(CACHED_TOKEN, refresh_token=CACHED_REFRESH, scope="mobile sms")  # to the process that cached it
    put_in_cache(settings, age=3500, refresh=CACHED_REFRESH)

    obtained = obtain_token(settings)

    (seen,) = api.token_requests
    assert seen.form == {"grant_type": ["refresh_token"], "refresh_token": [CACHED_REFRESH], "scope": ["mobile sms"]}
    assert obtained.cached is False
    assert obtained.record.refresh_token.startswith(REFRESH_PREFIX)  # the refresh token is itself refreshed
    assert settings.cache().load() == obtained.record


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (401, {"code": 7, "message": "Invalid refresh_token"}),
        (401, "Error code 21 - Unsufficient permissions to use requested grant_type"),
        (400, {"error_code": 2, "error_description": "Missing or invalid grant_type"}),
        # A standards server (RFC 6749 section 5.2) says it without a Telenor code.
        (400, {"error": "invalid_grant", "error_description": "refresh token expired"}),
        (400, {"error": "unsupported_grant_type"}),
    ],
)
def test_a_rejected_refresh_token_falls_back_to_client_credentials(api, settings, status, body):
    put_in_cache(settings, age=4000, refresh=CACHED_REFRESH)
    api.reply(TOKEN_PATH, status, body)

    obtained = obtain_token(settings)

    grants = [seen.form["grant_type"] for seen in api.token_requests]
    assert grants == [["refresh_token"], ["client_credentials"]]
    assert obtained.record.access_token.startswith(TOKEN_PREFIX)
    assert settings.cache().load() == obtained.record


@pytest.mark.parametrize(
    ("status", "body"),
    [(500, "Error code 2 - Internal Server Error"), (401, "Error code 22 - Basic Authentication failed")],
)
def test_other_refresh_failures_are_reported_and_keep_the_cache(api, settings, status, body):
    cached = put_in_cache(settings, age=4000, refresh=CACHED_REFRESH)
    api.reply(TOKEN_PATH, status, body)

    with pytest.raises(TelenorAPIError) as caught:
        obtain_token(settings)

    assert caught.value.status == status
    assert len(api.token_requests) == 1
    assert settings.cache().load() == cached
    assert CACHED_REFRESH not in str(caught.value)


# --- many processes, one request -------------------------------------------------


def _obtain_in_worker(settings, barrier, results, force) -> None:
    barrier.wait(10)
    try:
        obtained = obtain_token(settings, force=force)
        results.put((obtained.record.access_token, obtained.cached))
    except Exception as exc:  # pylint: disable=broad-except
        results.put(("error", repr(exc)))


WORKERS = 20


def _run_workers(settings, *, force: bool) -> list[tuple[str, bool]]:
    context = multiprocessing.get_context("fork")
    barrier = context.Barrier(WORKERS)
    results = context.Queue()
    processes = [
        context.Process(target=_obtain_in_worker, args=(settings, barrier, results, force)) for dummy in range(WORKERS)
    ]
    for process in processes:
        process.start()
    outcomes = [results.get(timeout=30) for dummy in processes]
    for process in processes:
        process.join(10)
    assert all(process.exitcode == 0 for process in processes)
    assert all(token != "error" for token, dummy in outcomes), outcomes
    return outcomes


def test_many_processes_on_a_cold_cache_make_exactly_one_request(api, settings):
    api.token_delay = 0.3  # the first fetch is still in flight while the others miss

    outcomes = _run_workers(settings, force=False)

    tokens = {token for token, dummy in outcomes}
    assert len(tokens) == 1, outcomes
    assert tokens.pop().startswith(TOKEN_PREFIX)
    assert sorted(cached for dummy, cached in outcomes) == [False] + [True] * (WORKERS - 1)
    assert len(api.token_requests) == 1
    assert settings.cache().load().access_token == outcomes[0][0]


def test_many_processes_forcing_renewal_never_get_the_old_token(api, settings):
    put_in_cache(settings)
    api.token_delay = 0.1

    outcomes = _run_workers(settings, force=True)

    tokens = {token for token, dummy in outcomes}
    assert CACHED_TOKEN not in tokens
    assert all(token.startswith(TOKEN_PREFIX) for token in tokens)
    # Renewals are serialised by the lock, and a waiter takes a token renewed after it asked.
    assert 1 <= len(api.token_requests) <= WORKERS
    assert len(tokens) == len(api.token_requests)
    assert settings.cache().load().access_token in tokens


# --- revoke_token ----------------------------------------------------------------


def test_revoking_the_cached_token_drops_it(api, settings):
    api.issue_token(CACHED_TOKEN)  # to the process that cached it
    put_in_cache(settings)

    assert revoke_token(settings) == CACHED_TOKEN

    (seen,) = api.logout_requests
    assert seen.headers["Authorization"] == f"Bearer {CACHED_TOKEN}"
    assert settings.cache().load() is None
    assert obtain_token(settings).cached is False  # the next obtain fetches a new one


@pytest.mark.parametrize("body", ["Error code 2 - Invalid access token", '{"code": 2}'])
def test_an_already_invalid_cached_token_is_dropped(api, settings, body):
    put_in_cache(settings)
    api.reply(LOGOUT_PATH, 401, body)

    assert revoke_token(settings) is None

    assert len(api.logout_requests) == 1
    assert settings.cache().load() is None


@pytest.mark.parametrize(
    ("status", "body"),
    [(500, "Error code 2 - Internal Server Error"), (401, "Error code 6 - Missing or bad Authorization header")],
)
def test_a_failed_revocation_raises_and_keeps_the_cached_token(api, settings, status, body):
    cached = put_in_cache(settings)
    api.reply(LOGOUT_PATH, status, body)

    with pytest.raises(TelenorAPIError) as caught:
        revoke_token(settings)

    assert caught.value.status == status
    assert CACHED_TOKEN not in str(caught.value)
    assert settings.cache().load() == cached


def test_an_unreachable_api_keeps_the_cached_token(make_settings):
    settings = make_settings(api_url=f"http://127.0.0.1:{closed_port()}")
    cached = put_in_cache(settings)

    with pytest.raises(TelenorTransportError):
        revoke_token(settings)

    assert settings.cache().load() == cached


def test_an_expired_cached_token_is_dropped_without_a_request(api, settings):
    put_in_cache(settings, age=4000)

    assert revoke_token(settings) is None

    assert api.seen == []
    assert settings.cache().load() is None


def test_nothing_cached_and_no_token_given_is_a_no_op(api, settings):
    assert revoke_token(settings) is None
    assert api.seen == []


def test_revoking_a_given_token_keeps_a_different_cached_one(api, settings):
    cached = put_in_cache(settings)
    api.issue_token("AT-Given-Elsewhere")  # to another process

    assert revoke_token(settings, "AT-Given-Elsewhere") == "AT-Given-Elsewhere"

    (seen,) = api.logout_requests
    assert seen.headers["Authorization"] == "Bearer AT-Given-Elsewhere"
    assert settings.cache().load() == cached


def test_revoking_the_cached_token_by_value_drops_it(api, settings):
    api.issue_token(CACHED_TOKEN)  # to the process that cached it
    put_in_cache(settings)

    assert revoke_token(settings, CACHED_TOKEN) == CACHED_TOKEN
    assert settings.cache().load() is None


@pytest.mark.parametrize(
    ("cached_age", "given", "expected"),
    [
        pytest.param(None, None, None, id="nothing-to-revoke"),
        pytest.param(0, None, CACHED_TOKEN, id="live-cached-token"),
        pytest.param(4000, None, None, id="expired-cached-token"),
        pytest.param(None, "AT-Given", "AT-Given", id="given-token"),
    ],
)
def test_revoke_in_check_mode_predicts_without_a_request(api, settings, cached_age, given, expected):
    cached = None if cached_age is None else put_in_cache(settings, age=cached_age)

    assert revoke_token(settings, given, check_mode=True) == expected

    assert api.seen == []
    assert settings.cache().load() == cached


# --- issue 9: a cache that cannot keep a token costs no token ----------------------


def _no_space(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


def test_a_cache_that_cannot_be_written_fails_before_any_token_request(api, settings, monkeypatch):
    # Issue 9: on a full disk, 20 hosts made 20 token requests and left 20 live tokens.
    monkeypatch.setattr(os, "fsync", _no_space)

    for host in range(20):
        with pytest.raises(TelenorCacheError) as caught:
            obtain_token(settings)
        assert settings.cache_dir in str(caught.value)
        assert os.strerror(errno.ENOSPC) in str(caught.value)

    assert api.token_requests == []
    assert api.logout_requests == []


def test_a_token_that_could_not_be_stored_is_revoked(api, settings, monkeypatch):
    def fail_store(self, record):
        raise TelenorCacheError(f"Cannot write to the token cache {self.cache_dir!r}: No space left on device")

    monkeypatch.setattr(TokenCache, "store", fail_store)

    with pytest.raises(TelenorCacheError, match="the new token was revoked"):
        obtain_token(settings)

    assert len(api.token_requests) == 1
    (logout,) = api.logout_requests
    assert logout.headers["Authorization"] == f"Bearer {TOKEN_PREFIX}-1"


@pytest.mark.parametrize("exception", [RuntimeError("a bug"), KeyboardInterrupt(), ValueError("odd")])
def test_any_exception_during_logout_puts_the_record_back(api, settings, monkeypatch, exception):
    # Issue 9: only TelenorOAuthError restored the dropped record.
    cached = put_in_cache(settings)

    def explode(self, token):
        raise exception

    monkeypatch.setattr(TelenorClient, "revoke", explode)
    with pytest.raises(type(exception)):
        revoke_token(settings)

    assert settings.cache().load() == cached


# --- issue 12: an unusable HOME falls back to a private temp directory ---------------


@pytest.fixture
def system_temp(tmp_path, monkeypatch):
    path = tmp_path / "system-tmp"
    path.mkdir()
    path.chmod(0o1777)
    monkeypatch.setattr(tempfile, "tempdir", str(path))
    return path


@pytest.fixture
def home_is_a_file(tmp_path, monkeypatch):
    home = tmp_path / "home-is-a-file"
    home.write_text("")
    monkeypatch.setenv("HOME", str(home))
    return home


def test_an_unusable_home_falls_back_to_a_private_temp_dir_with_one_warning(
        api, make_settings, system_temp, home_is_a_file):
    first = obtain_token(make_settings(cache_dir=None))

    fallback = system_temp / f"telenor_oauth-{os.geteuid()}"
    (warning,) = first.warnings
    assert str(fallback) in warning and "cannot be used" in warning
    assert stat.S_IMODE(os.lstat(fallback).st_mode) == 0o700
    assert os.lstat(fallback).st_uid == os.geteuid()
    assert len(api.token_requests) == 1

    # The next lookup (another fork, a later run) finds the token there: no request, no warning.
    again = obtain_token(make_settings(cache_dir=None))
    assert again.cached is True
    assert again.record == first.record
    assert again.warnings == []
    assert len(api.token_requests) == 1


@pytest.mark.parametrize("planted", ["loose", "symlink", "file"])
def test_a_fallback_dir_that_is_not_private_is_refused(
        api, make_settings, system_temp, home_is_a_file, tmp_path, planted):
    fallback = system_temp / f"telenor_oauth-{os.geteuid()}"
    if planted == "loose":
        fallback.mkdir(mode=0o755)
        fallback.chmod(0o755)
    elif planted == "symlink":
        target = tmp_path / "attacker"
        target.mkdir(mode=0o700)
        fallback.symlink_to(target)
    else:
        fallback.write_text("")

    with pytest.raises(TelenorCacheError, match="Refusing the fallback token cache directory"):
        obtain_token(make_settings(cache_dir=None))
    assert api.token_requests == []


def test_an_explicit_cache_dir_that_fails_stays_an_error(api, make_settings, system_temp, home_is_a_file):
    with pytest.raises(TelenorCacheError, match="Cannot create the token cache directory"):
        obtain_token(make_settings(cache_dir=str(home_is_a_file / "cache")))

    assert not (system_temp / f"telenor_oauth-{os.geteuid()}").exists()
    assert api.token_requests == []

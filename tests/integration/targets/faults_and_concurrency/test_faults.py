# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lookup and the module under faults the API injects, and under concurrent runs, through the real ansible-playbook.

Every run prints only a SHA-1 digest of the token it got, never the token. The
test reads the token from the encrypted cache with the collection's own code
and checks on the emulator's protected resource that it works and that it is
the one the playbook got.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import CLIENT_ID, CLIENT_SECRET, core_independent, further_variant, scale

HERE = Path(__file__).parent
TOKEN = HERE / "token.yml"

DIGEST = re.compile(r"TOKEN_SHA1=([0-9a-f]{40})")
SECONDS = re.compile(r"SECONDS=([0-9.]+)")


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def sha1(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()


def digests(output: str) -> list[str]:
    return DIGEST.findall(output)


@pytest.fixture
def cached(collections_path, ansible):
    """Read the record the lookup cached, with the collection's own option handling and cache."""
    if str(collections_path) not in sys.path:
        sys.path.insert(0, str(collections_path))
    options = importlib.import_module("ansible_collections.telenor.oauth.plugins.module_utils._options")

    def read(api_url: str | None = None):
        values = {
            "api_url": api_url or ansible.emulator.url,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "cache_dir": str(ansible.cache_dir),
            # Only the cache is used; the shared option code keeps no defaults of its own.
            "validate_certs": True,
            "timeout": 10,
            "retries": 0,
            "min_ttl": 300,
        }
        return options.settings_from_options(values.get).cache().load()

    return read


def assert_clean(run) -> None:
    """No Python traceback, and neither the secret nor a token in the output."""
    assert "Traceback" not in run.stdout, run.output
    assert "Traceback" not in run.stderr, run.output
    assert CLIENT_SECRET not in run.output


def assert_got_working_token(run, emulator, cached) -> str:
    """The run succeeded, every host printed the digest of the cached token, and it works."""
    assert run.rc == 0, run.output
    record = cached()
    assert record is not None
    got = set(digests(run.stdout))
    assert got == {sha1(record.access_token)}, run.output
    assert record.access_token not in run.output
    assert emulator.client.is_token_valid(record.access_token)
    return record.access_token


def assert_recovers_with_one_request(ansible, emulator, cached) -> None:
    """After a failure, faults cleared: the next run gets a working token with exactly one request.

    Once the failure no longer counts for a new run (REUSE_SECONDS after it; its memo is
    removed here rather than waited for).
    """
    emulator.clear_faults()
    for memo in ansible.cache_dir.glob("*.failed"):
        memo.unlink()
    before = emulator.stats()["token_requests"]
    run = ansible.run(TOKEN, inventory=ansible.inventory(1))
    assert_clean(run)
    assert_got_working_token(run, emulator, cached)
    assert emulator.stats()["token_requests"] == before + 1


# -------------------------------------------------------------- token endpoint faults

RETRIES = 2  # retries after the first attempt: 3 attempts in all; keeps backoff short


@pytest.mark.parametrize(
    ("faults", "requests"),
    [
        pytest.param({"fail_next": 1, "fail_status": 500}, 2, id="500-once"),
        pytest.param({"fail_next": RETRIES, "fail_status": 500}, RETRIES + 1, id="500-as-many-times-as-retries", marks=further_variant),
        pytest.param({"fail_next": 1, "fail_status": 502}, 2, id="502", marks=further_variant),
        pytest.param({"fail_next": 1, "fail_status": 503}, 2, id="503", marks=further_variant),
        pytest.param({"fail_next": 1, "fail_status": 504}, 2, id="504", marks=further_variant),
        # The emulator hangs up before answering, then in the middle of the body.
        pytest.param({"drop_next": 1, "truncate_next": 1}, 3, id="connection-dropped", marks=further_variant),
    ],
)
def test_transient_faults_are_retried_and_the_token_works(ansible, emulator, cached, faults, requests):
    emulator.faults(**faults)
    run = ansible.run(TOKEN, inventory=ansible.inventory(2), env={"TELENOR_RETRIES": str(RETRIES)})
    assert_clean(run)
    assert_got_working_token(run, emulator, cached)
    assert emulator.stats()["token_requests"] == requests


@core_independent
def test_429_retry_after_is_honoured(ansible, emulator, cached):
    emulator.faults(rate_limit_next=1, retry_after=1)
    run = ansible.run(TOKEN, inventory=ansible.inventory(1))
    assert_clean(run)
    assert_got_working_token(run, emulator, cached)
    assert emulator.stats()["token_requests"] == 2
    # Our own first backoff would be 0.25-0.5 s; the lookup waited the server's 1 s.
    assert float(SECONDS.search(run.stdout).group(1)) >= 1.0, run.stdout


def body(**fields) -> str:
    return json.dumps(fields)


FAKE_TOKEN = "X" * 43
# An attacker's review: lines the service_token role would have written into a service's env file.
HOSTILE_SCOPE = "read\nLD_PRELOAD=/tmp/evil.so\n\u001b[2J"


@pytest.mark.parametrize(
    ("faults", "env", "requests", "expected"),
    [
        pytest.param({"fail_next": RETRIES + 1, "fail_status": 500}, {"TELENOR_RETRIES": str(RETRIES)}, RETRIES + 1,
                     ["HTTP 500", "error code 2", "Internal Server Error", f"after {RETRIES + 1} attempts"],
                     id="500-more-times-than-retries"),
        pytest.param({"latency": 2.5, "latency_next": 2}, {"TELENOR_TIMEOUT": "1", "TELENOR_RETRIES": "1"}, 2,
                     ["timed out", "timeout option", "after 2 attempts"], id="slower-than-timeout", marks=further_variant),
        pytest.param({"html_next": 1}, {}, 1, ["answered 200", "not JSON", "HTML"], id="200-html", marks=further_variant),
        pytest.param({"body_next": 1, "body": body(access_token=FAKE_TOKEN, expires_in=3599)[:30]}, {}, 1,
                     ["answered 200", "not JSON", "truncated"], id="200-truncated-json", marks=further_variant),
        pytest.param({"body_next": 1, "body": body(expires_in=3599, token_type="Bearer")}, {}, 1,
                     ["answered 200 without an 'access_token'"], id="200-no-access-token", marks=further_variant),
        pytest.param({"body_next": 1, "body": body(access_token=FAKE_TOKEN, token_type="Bearer")}, {}, 1,
                     ["no usable 'expires_in'"], id="expires-in-missing", marks=further_variant),
        pytest.param({"expires_in": 0}, {}, 1, ["'expires_in' 0", "already expired"], id="expires-in-0", marks=further_variant),
        pytest.param({"expires_in": -30}, {}, 1, ["'expires_in' -30", "already expired"], id="expires-in-negative", marks=further_variant),
        pytest.param({"body_next": 1, "body": body(access_token=FAKE_TOKEN, expires_in="soon", token_type="Bearer")},
                     {}, 1, ["non-numeric 'expires_in'"], id="expires-in-non-numeric", marks=further_variant),
        pytest.param({"body_next": 1, "body": body(access_token=FAKE_TOKEN, expires_in=3599, scope=HOSTILE_SCOPE)}, {}, 1,
                     ["invalid 'scope'", "RFC 6749 section 3.3", "the token it carried was revoked"],
                     id="scope-with-line-breaks", marks=further_variant),
    ],
)
def test_a_failure_is_explained_and_leaves_no_bad_record(ansible, emulator, cached, faults, env, requests, expected):
    emulator.faults(**faults)
    run = ansible.run(TOKEN, inventory=ansible.inventory(1), env=env, args=("-vvv",))
    assert run.rc != 0, run.output
    assert_clean(run)
    for words in expected:
        assert words.lower() in run.output.lower(), run.output
    assert FAKE_TOKEN not in run.output
    assert "LD_PRELOAD" not in run.output
    assert emulator.stats()["token_requests"] == requests
    assert cached() is None
    # No record file at all: load() also answers None for one it cannot read.
    assert not list(ansible.cache_dir.glob("*.token"))
    assert not list(ansible.cache_dir.glob(".*.tmp"))


@core_independent
def test_the_run_after_a_failed_one_gets_a_working_token_with_one_request(ansible, emulator, cached):
    # The table above checks that a failure leaves no record and no temporary file, and a
    # process's locks end with it; this checks once that the next run starts clean.
    emulator.faults(fail_next=RETRIES + 1, fail_status=500)
    failed = ansible.run(TOKEN, inventory=ansible.inventory(1), env={"TELENOR_RETRIES": str(RETRIES)})
    assert failed.rc != 0, failed.output
    assert_recovers_with_one_request(ansible, emulator, cached)


def test_hosts_after_a_failed_request_get_its_error_without_requests_of_their_own(ansible, emulator, cached):
    # Each host waits for the lock and then asked in turn: against an API that keeps failing,
    # 20 hosts made 20 requests, with their retries and backoff, one after another.
    hosts = scale(40, forks=20)
    emulator.faults(fail_next=1000, fail_status=503)
    run = ansible.run(TOKEN, inventory=ansible.inventory(hosts), forks=20, env={"TELENOR_RETRIES": "1"})
    assert run.rc != 0, run.output
    # The first host's attempt and its one retry; the hosts waiting meanwhile, and those queued
    # within REUSE_SECONDS of the failure, make none. (A host queued later, on a starved
    # machine, may try once more: at most one more pair. Without this, 2 per host.)
    requests = emulator.stats()["token_requests"]
    assert requests in (2, 4), requests
    assert run.output.count("HTTP 503") >= hosts
    assert run.output.count("made no request of its own") >= hosts - requests // 2
    assert cached() is None


@core_independent
def test_connection_refused_is_explained(ansible, emulator, cached):
    url = f"http://127.0.0.1:{closed_port()}"
    run = ansible.run(TOKEN, inventory=ansible.inventory(1), env={"TELENOR_API_URL": url, "TELENOR_RETRIES": "1"})
    assert run.rc != 0, run.output
    assert_clean(run)
    assert "could not connect" in run.output, run.output
    assert "after 2 attempts" in run.output, run.output
    assert cached(url) is None
    assert not list(ansible.cache_dir.glob(".*.tmp"))


# -------------------------------------------------------------- logout faults (module)


def test_a_failed_logout_keeps_the_token_cached(ansible, emulator, cached):
    emulator.faults(logout_fail_next=2)
    run = ansible.run(HERE / "logout_fails.yml", inventory=ansible.inventory(1), env={"TELENOR_RETRIES": "1"})
    assert run.rc != 0, run.output
    assert_clean(run)
    assert "HTTP 500, Telenor error code 2" in run.output, run.output
    assert "after 2 attempts" in run.output, run.output
    token = cached().access_token
    assert digests(run.stdout) == [sha1(token)]

    again = ansible.run(HERE / "present.yml", inventory=ansible.inventory(1))
    assert_clean(again)
    assert again.rc == 0, again.output
    assert f"CACHED=True CHANGED=False TOKEN_SHA1={sha1(token)}" in again.stdout, again.output
    assert emulator.client.is_token_valid(token)
    stats = emulator.stats()
    assert (stats["token_requests"], stats["logout_requests"], stats["revoked"]) == (1, 2, 0)


def test_revoking_a_token_twice_by_value_is_not_a_change(ansible, emulator):
    run = ansible.run(HERE / "revoke_twice.yml", inventory=ansible.inventory(1))
    assert_clean(run)
    assert run.rc == 0, run.output
    stats = emulator.stats()
    assert (stats["token_requests"], stats["logout_requests"], stats["revoked"]) == (1, 2, 1)


# -------------------------------------------------------------- expiry and refresh


def sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def wait_until_rejected(emulator, token: str, timeout: float = 5.0) -> None:
    """The client computes expiry from when it sent the request, so the emulator lets go a little later."""
    deadline = time.monotonic() + timeout
    while emulator.client.is_token_valid(token):
        assert time.monotonic() < deadline, "the emulator still accepts the expired token"
        time.sleep(0.1)


@core_independent
def test_an_expired_cached_token_is_replaced_not_returned(ansible, emulator, cached):
    env = {"TELENOR_TOKEN_MIN_TTL": "0"}
    emulator.faults(expires_in=2)
    first = ansible.run(TOKEN, inventory=ansible.inventory(1), env=env)
    assert first.rc == 0, first.output
    old = cached()
    assert old.lifetime == 2
    emulator.clear_faults()

    sleep_until(old.expires_at + 0.3)
    wait_until_rejected(emulator, old.access_token)
    second = ansible.run(TOKEN, inventory=ansible.inventory(1), env=env)
    assert_clean(second)
    new = assert_got_working_token(second, emulator, cached)
    assert new != old.access_token
    assert emulator.stats()["token_requests"] == 2


# With min_ttl 300 (the default) the margin of an 8 s token is capped at 4 s:
# it is reused for 4 s, then renewed while the emulator still accepts it.
SHORT_LIFETIME = 8
MARGIN = SHORT_LIFETIME // 2


def grants(emulator) -> dict[str, int]:
    return emulator.stats()["token_requests_by_grant"]


@core_independent
def test_an_unusable_token_is_renewed_with_its_refresh_token(ansible, emulator, cached):
    short = {"issue_refresh_token": True, "expires_in": SHORT_LIFETIME}
    emulator.faults(**short)
    first = ansible.run(HERE / "record.yml", inventory=ansible.inventory(1))
    token1 = assert_got_working_token(first, emulator, cached)
    record1 = cached()
    assert record1.refresh_token
    assert grants(emulator) == {"client_credentials": 1}

    sleep_until(record1.expires_at - MARGIN + 0.3)
    assert not record1.is_usable(300) and emulator.client.is_token_valid(token1)
    second = ansible.run(HERE / "record.yml", inventory=ansible.inventory(1), args=("-vvv",))
    assert_clean(second)
    token2 = assert_got_working_token(second, emulator, cached)
    record2 = cached()
    assert token2 != token1
    assert grants(emulator) == {"client_credentials": 1, "refresh_token": 1}
    # The refresh token is cached, rotated, and never shown.
    assert record2.refresh_token and record2.refresh_token != record1.refresh_token
    assert "KEYS=access_token,authorization,expires_at,expires_in,scope,token_type" in second.stdout, second.stdout
    for output in (first.output, second.output):
        assert "refresh_token" not in output
        assert record1.refresh_token not in output
        assert record2.refresh_token not in output


@core_independent
def test_a_refused_refresh_token_falls_back_to_client_credentials(ansible, emulator, cached):
    short = {"issue_refresh_token": True, "expires_in": SHORT_LIFETIME}
    emulator.faults(**short)
    first = ansible.run(TOKEN, inventory=ansible.inventory(1))
    assert first.rc == 0, first.output
    record = cached()
    assert record.refresh_token

    # The emulator forgets every refresh token it issued: the refresh is
    # refused with 401 code 7 and the lookup asks with the client credentials.
    sleep_until(record.expires_at - MARGIN + 0.3)
    emulator.reset()
    emulator.faults(**short)
    second = ansible.run(TOKEN, inventory=ansible.inventory(1))
    assert_clean(second)
    assert assert_got_working_token(second, emulator, cached) != record.access_token
    assert grants(emulator) == {"refresh_token": 1, "client_credentials": 1}
    record = cached()

    # The same when the server refuses a refresh token it still knows.
    sleep_until(record.expires_at - MARGIN + 0.3)
    emulator.faults(force_error={"status": 401, "code": 7, "count": 1})
    third = ansible.run(TOKEN, inventory=ansible.inventory(1))
    assert_clean(third)
    assert assert_got_working_token(third, emulator, cached) != record.access_token
    assert grants(emulator) == {"refresh_token": 2, "client_credentials": 2}


# -------------------------------------------------------------- concurrency


def test_a_cold_cache_and_hundreds_of_hosts_make_one_token_request(ansible, emulator, cached):
    emulator.faults(latency=0.5)  # a slow answer, so that all 50 workers miss the cache at once
    # The race is the first 50 workers' on the cold cache; the hosts after them find it warm.
    hosts = scale(200, forks=50)
    run = ansible.run(TOKEN, inventory=ansible.inventory(hosts), forks=50)
    assert_clean(run)
    assert_got_working_token(run, emulator, cached)
    assert len(digests(run.stdout)) == hosts
    assert emulator.stats()["token_requests"] == 1


@core_independent
def test_ten_concurrent_playbooks_on_one_cache_make_one_token_request(ansible, emulator, cached):
    emulator.faults(latency=1.0)
    procs = [
        subprocess.Popen(ansible.command(TOKEN, inventory=ansible.inventory(2, f"inv{i}.ini"), forks=2),
                         cwd=ansible.workdir, env=ansible.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True)
        for i in range(10)
    ]
    outputs = [proc.communicate(timeout=300)[0] for proc in procs]
    assert [proc.returncode for proc in procs] == [0] * 10, "\n".join(outputs)
    token = cached().access_token
    assert emulator.client.is_token_valid(token)
    got = [digest for output in outputs for digest in digests(output)]
    assert got == [sha1(token)] * 20
    assert emulator.stats()["token_requests"] == 1

"""Tests of the Telenor OAuth emulator (tests/emulator), run as a real subprocess on loopback."""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import os
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests

EMULATOR_DIR = Path(__file__).resolve().parents[2] / "emulator"


def _load(name: str, filename: str) -> Any:
    # tests/ is not a package in a collection checkout, so load the emulator's files by path.
    spec = importlib.util.spec_from_file_location(name, EMULATOR_DIR / filename)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


control = _load("telenor_emulator_control", "control.py")
server = _load("telenor_emulator_server", "telenor_emulator.py")

CLIENT, SECRET = "demo-client", "demo-secret"
COLON_CLIENT, COLON_SECRET = "colon-client", "pa:ss:word"
SCOPED_CLIENT, SCOPED_SECRET = "scoped-client", "scoped-secret"
EXPIRES_IN = 3599
TOKEN_PATH, LOGOUT_PATH, PROTECTED_PATH = "/oauth/v2/token", "/oauth/v2/logout", "/v1/protected"


@pytest.fixture(scope="module")
def emulator() -> Any:
    emu = control.Emulator().start(
        clients={CLIENT: SECRET, COLON_CLIENT: COLON_SECRET, SCOPED_CLIENT: SCOPED_SECRET},
        client_scopes={SCOPED_CLIENT: ["read", "write"]},
        expires_in=EXPIRES_IN,
    )
    yield emu
    emu.stop()


@pytest.fixture
def emu(emulator: Any) -> Any:
    emulator.reset()
    return emulator


@pytest.fixture
def http() -> Any:
    session = requests.Session()
    session.trust_env = False  # never send loopback traffic through a proxy from the environment
    yield session
    session.close()


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def post_token(http: Any, emu: Any, data: dict[str, str] | None = None, headers: dict[str, str] | None = None,
               **kwargs: Any) -> requests.Response:
    if headers is None:
        headers = basic(CLIENT, SECRET)
    body = {"grant_type": "client_credentials"} if data is None else data
    kwargs.setdefault("timeout", 5)
    return http.post(emu.url + TOKEN_PATH, data=body, headers=headers, **kwargs)


def get_token(http: Any, emu: Any, **data: str) -> dict[str, Any]:
    resp = post_token(http, emu, {"grant_type": "client_credentials", **data})
    assert resp.status_code == 200, resp.text
    return resp.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_seed_error(resp: requests.Response, status: int, code: int, message: str) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["error_code"] == code
    assert body["error_description"] == message
    assert isinstance(body["error"], str) and body["error"]


# --------------------------------------------------------------------------- token endpoint


def test_success_body_shape(http: Any, emu: Any) -> None:
    resp = post_token(http, emu)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "application/json"
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.json()
    assert set(body) == {"access_token", "expires_in", "token_type"}
    assert body["expires_in"] == EXPIRES_IN and body["token_type"] == "Bearer"
    token = body["access_token"]
    assert len(token) == 43 and set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert emu.is_token_valid(token)
    resp = http.get(emu.url + PROTECTED_PATH, headers=bearer(token), timeout=5)
    assert resp.json() == {"ok": True, "client_id": CLIENT, "scope": None}


def test_each_request_gets_a_new_token(http: Any, emu: Any) -> None:
    assert get_token(http, emu)["access_token"] != get_token(http, emu)["access_token"]


def test_secret_containing_colons(http: Any, emu: Any) -> None:
    resp = post_token(http, emu, headers=basic(COLON_CLIENT, COLON_SECRET))
    assert resp.status_code == 200
    assert_seed_error(post_token(http, emu, headers=basic(COLON_CLIENT, "pa")), 401, 22,
                      "Basic Authentication failed, bad username or password.")


def test_secret_with_a_colon_and_non_ascii_letters_in_utf_8(http: Any, emu: Any) -> None:
    # What curl -u and the collection send: "id:secret" as UTF-8, split at the first colon.
    emu.add_client("unicode-client", "w\u00e6ll:bl\u00e5b\u00e6r")
    resp = post_token(http, emu, headers=basic("unicode-client", "w\u00e6ll:bl\u00e5b\u00e6r"))
    assert resp.status_code == 200
    assert_seed_error(post_token(http, emu, headers=basic("unicode-client", "w\u00e6ll:blab\u00e6r")), 401, 22,
                      "Basic Authentication failed, bad username or password.")


def test_requests_auth_tuple_and_scope_echo(http: Any, emu: Any) -> None:
    resp = http.post(emu.url + TOKEN_PATH, data={"grant_type": "client_credentials", "scope": "read  write"},
                     auth=(SCOPED_CLIENT, SCOPED_SECRET), timeout=5)
    assert resp.status_code == 200
    assert resp.json()["scope"] == "read write"
    protected = http.get(emu.url + PROTECTED_PATH, headers=bearer(resp.json()["access_token"]), timeout=5)
    assert protected.json()["scope"] == "read write"


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


BAD_CREDENTIALS = "Basic Authentication failed, bad username or password."


@pytest.mark.parametrize(
    ("headers", "data", "status", "code", "message"),
    [
        pytest.param({}, None, 401, 6, "Missing or bad Authorization header", id="no-header"),
        pytest.param({"Authorization": "Bearer abc"}, None, 401, 6, "Missing or bad Authorization header",
                     id="not-basic"),
        pytest.param({"Authorization": "Basic %%%not-base64"}, None, 401, 6, "Missing or bad Authorization header",
                     id="bad-base64"),
        pytest.param({"Authorization": "Basic \u00e6\u00f8\u00e5="}, None, 401, 6, "Missing or bad Authorization header",
                     id="non-ascii-in-header"),
        pytest.param({"Authorization": "Basic " + _b64(b"no-colon")}, None, 401, 6,
                     "Missing or bad Authorization header", id="no-colon"),
        pytest.param({"Authorization": "Basic"}, None, 401, 6, "Missing or bad Authorization header",
                     id="empty-basic"),
        pytest.param(basic("nobody", SECRET), None, 401, 1, "Invalid client id", id="unknown-client"),
        pytest.param(basic(CLIENT, "wrong"), None, 401, 22, BAD_CREDENTIALS, id="wrong-secret"),
        pytest.param(basic(CLIENT, ""), None, 401, 22, BAD_CREDENTIALS, id="empty-secret"),
        pytest.param(basic(CLIENT, SECRET), {}, 400, 2, "Missing or invalid grant_type", id="no-grant"),
        pytest.param(basic(CLIENT, SECRET), {"grant_type": ""}, 400, 2, "Missing or invalid grant_type",
                     id="empty-grant"),
        pytest.param(basic(CLIENT, SECRET), {"grant_type": "implicit"}, 400, 2, "Missing or invalid grant_type",
                     id="unknown-grant"),
        pytest.param(basic(CLIENT, SECRET), {"grant_type": "authorization_code", "code": "x"}, 401, 21,
                     "Unsufficient permissions to use requested grant_type", id="authorization-code"),
        pytest.param(basic(CLIENT, SECRET), {"grant_type": "password", "username": "u", "password": "p"}, 401, 21,
                     "Unsufficient permissions to use requested grant_type", id="password"),
        pytest.param(basic(CLIENT, SECRET), {"grant_type": "refresh_token", "refresh_token": "nope"}, 401, 7,
                     "Invalid refresh_token", id="bad-refresh-token"),
        pytest.param(basic(CLIENT, SECRET), {"grant_type": "refresh_token"}, 401, 7, "Invalid refresh_token",
                     id="missing-refresh-token"),
        pytest.param(basic(SCOPED_CLIENT, SCOPED_SECRET), {"grant_type": "client_credentials", "scope": "read admin"},
                     403, 8, "Illegal or non authorized scope", id="scope-not-allowed"),
    ],
)
def test_token_error_paths(http: Any, emu: Any, headers: dict[str, str], data: dict[str, str] | None,
                           status: int, code: int, message: str) -> None:
    resp = post_token(http, emu, data, headers)
    assert_seed_error(resp, status, code, message)
    if status == 401:
        assert resp.headers["WWW-Authenticate"].startswith("Basic ")
    assert emu.stats()["tokens_issued"] == 0


def test_a_token_factory_makes_the_tokens_in_process() -> None:
    # How the unit tests' fake API gets tokens it can name.
    state = server.EmulatorState({CLIENT: server.Client(SECRET)}, expires_in=EXPIRES_IN,
                                 token_factory=lambda kind: f"{kind}-1")
    state.merge_faults({"issue_refresh_token": True})
    answer = state.token_request(basic(CLIENT, SECRET)["Authorization"], {"grant_type": "client_credentials"})
    assert (answer["access_token"], answer["refresh_token"]) == ("access_token-1", "refresh_token-1")
    assert state.logout("Bearer access_token-1") is None


def test_token_endpoint_only_takes_post(http: Any, emu: Any) -> None:
    resp = http.get(emu.url + TOKEN_PATH, timeout=5)
    assert resp.status_code == 405 and resp.headers["Allow"] == "POST"
    assert http.get(emu.url + "/nope", timeout=5).status_code == 404


# --------------------------------------------------------------------------- refresh, logout, expiry


def test_refresh_token_rotation(http: Any, emu: Any) -> None:
    assert "refresh_token" not in get_token(http, emu)
    emu.faults(issue_refresh_token=True)
    first = get_token(http, emu)
    refresh = first["refresh_token"]
    other = post_token(http, emu, {"grant_type": "refresh_token", "refresh_token": refresh},
                       headers=basic(COLON_CLIENT, COLON_SECRET))
    assert_seed_error(other, 401, 7, "Invalid refresh_token")
    resp = post_token(http, emu, {"grant_type": "refresh_token", "refresh_token": refresh})
    assert resp.status_code == 200
    second = resp.json()
    assert second["access_token"] != first["access_token"] and second["refresh_token"] != refresh
    assert emu.is_token_valid(first["access_token"]) and emu.is_token_valid(second["access_token"])
    again = post_token(http, emu, {"grant_type": "refresh_token", "refresh_token": refresh})
    assert_seed_error(again, 401, 7, "Invalid refresh_token")
    assert emu.stats()["token_requests_by_grant"] == {"client_credentials": 2, "refresh_token": 3}


def test_refresh_cannot_widen_scope(http: Any, emu: Any) -> None:
    emu.faults(issue_refresh_token=True)
    resp = http.post(emu.url + TOKEN_PATH, data={"grant_type": "client_credentials", "scope": "read"},
                     auth=(SCOPED_CLIENT, SCOPED_SECRET), timeout=5)
    refresh = resp.json()["refresh_token"]
    wider = http.post(emu.url + TOKEN_PATH, auth=(SCOPED_CLIENT, SCOPED_SECRET), timeout=5,
                      data={"grant_type": "refresh_token", "refresh_token": refresh, "scope": "read write"})
    assert_seed_error(wider, 403, 8, "Illegal or non authorized scope")
    same = http.post(emu.url + TOKEN_PATH, auth=(SCOPED_CLIENT, SCOPED_SECRET), timeout=5,
                     data={"grant_type": "refresh_token", "refresh_token": refresh})
    assert same.status_code == 200 and same.json()["scope"] == "read"


def test_logout_revokes(http: Any, emu: Any) -> None:
    token = get_token(http, emu)["access_token"]
    resp = http.get(emu.url + LOGOUT_PATH, headers=bearer(token), timeout=5)
    assert resp.status_code == 200 and resp.text == "OK!"
    assert not emu.is_token_valid(token)
    protected = http.get(emu.url + PROTECTED_PATH, headers=bearer(token), timeout=5)
    assert_seed_error(protected, 401, 2, "Invalid access token")
    assert 'error="invalid_token"' in protected.headers["WWW-Authenticate"]
    again = http.get(emu.url + LOGOUT_PATH, headers=bearer(token), timeout=5)
    assert_seed_error(again, 401, 2, "Invalid access token")


@pytest.mark.parametrize("path", [LOGOUT_PATH, PROTECTED_PATH])
@pytest.mark.parametrize(
    ("headers", "code", "message"),
    [
        ({}, 6, "Missing or bad Authorization header"),
        ({"Authorization": "Basic " + _b64(b"a:b")}, 6, "Missing or bad Authorization header"),
        ({"Authorization": "Bearer"}, 6, "Missing or bad Authorization header"),
        ({"Authorization": "Bearer not-a-token"}, 2, "Invalid access token"),
    ],
)
def test_bearer_error_paths(http: Any, emu: Any, path: str, headers: dict[str, str], code: int,
                            message: str) -> None:
    assert_seed_error(http.get(emu.url + path, headers=headers, timeout=5), 401, code, message)


def test_logout_fail_next(http: Any, emu: Any) -> None:
    token = get_token(http, emu)["access_token"]
    emu.faults(logout_fail_next=1)
    assert_seed_error(http.get(emu.url + LOGOUT_PATH, headers=bearer(token), timeout=5), 500, 2,
                      "Internal Server Error")
    assert emu.is_token_valid(token)
    assert http.get(emu.url + LOGOUT_PATH, headers=bearer(token), timeout=5).text == "OK!"


def test_token_really_expires(http: Any, emu: Any) -> None:
    emu.faults(expires_in=1)
    body = get_token(http, emu)
    assert body["expires_in"] == 1
    assert emu.is_token_valid(body["access_token"])
    time.sleep(1.05)
    assert not emu.is_token_valid(body["access_token"])
    assert emu.stats()["live_tokens"] == 0


def test_expire_control(http: Any, emu: Any) -> None:
    tokens = [get_token(http, emu)["access_token"] for dummy in range(3)]
    assert emu.expire(tokens[0]) == 1
    assert emu.expire(tokens[0]) == 0
    assert [emu.is_token_valid(t) for t in tokens] == [False, True, True]
    assert emu.expire() == 2
    assert not any(emu.is_token_valid(t) for t in tokens)
    assert emu.expire("unknown") == 0


# --------------------------------------------------------------------------- error formats


@pytest.mark.parametrize(
    ("error_format", "content_type", "expected"),
    [
        ("json", "application/json",
         {"error": "invalid_client", "error_code": 22, "error_description": BAD_CREDENTIALS}),
        ("json_code", "application/json", {"code": 22, "message": BAD_CREDENTIALS}),
        ("json_errorCode", "application/json", {"errorCode": "22", "errorMessage": BAD_CREDENTIALS}),
        ("json_ErrorCode", "application/json", {"ErrorCode": 22, "Message": BAD_CREDENTIALS}),
        ("json_description", "application/json",
         {"error": "invalid_client", "error_description": f"Error code 22 - {BAD_CREDENTIALS}"}),
        ("text", "text/plain", f"Error code 22 - {BAD_CREDENTIALS}"),
    ],
)
def test_error_formats(http: Any, emu: Any, error_format: str, content_type: str, expected: Any) -> None:
    emu.faults(error_format=error_format)
    resp = post_token(http, emu, headers=basic(CLIENT, "wrong"))
    assert resp.status_code == 401
    assert resp.headers["Content-Type"].startswith(content_type)
    assert (resp.text if error_format == "text" else resp.json()) == expected


def test_error_format_applies_to_logout(http: Any, emu: Any) -> None:
    emu.faults(error_format="text")
    resp = http.get(emu.url + LOGOUT_PATH, timeout=5)
    assert resp.status_code == 401 and resp.text == "Error code 6 - Missing or bad Authorization header"


# --------------------------------------------------------------------------- faults


def test_fail_next_then_recovers(http: Any, emu: Any) -> None:
    emu.faults(fail_next=2)
    assert_seed_error(post_token(http, emu), 500, 2, "Internal Server Error")
    assert_seed_error(post_token(http, emu), 500, 2, "Internal Server Error")
    assert post_token(http, emu).status_code == 200
    stats = emu.stats()
    assert (stats["token_requests"], stats["tokens_issued"]) == (3, 1)


@pytest.mark.parametrize("status", [502, 503, 504])
def test_fail_status_gateway(http: Any, emu: Any, status: int) -> None:
    emu.faults(fail_next=1, fail_status=status)
    resp = post_token(http, emu)
    assert resp.status_code == status and resp.headers["Content-Type"].startswith("text/plain")
    assert post_token(http, emu).status_code == 200


def test_rate_limit_with_retry_after(http: Any, emu: Any) -> None:
    emu.faults(rate_limit_next=1, retry_after=7)
    resp = post_token(http, emu)
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "7"
    assert post_token(http, emu).status_code == 200


def test_latency_next(http: Any, emu: Any) -> None:
    emu.faults(latency=0.4, latency_next=1)
    started = time.monotonic()
    assert post_token(http, emu).status_code == 200
    assert time.monotonic() - started >= 0.4
    started = time.monotonic()
    assert post_token(http, emu).status_code == 200
    assert time.monotonic() - started < 0.3


def test_latency_causes_client_timeout(http: Any, emu: Any) -> None:
    emu.faults(latency=0.5)
    with pytest.raises(requests.exceptions.ReadTimeout):
        post_token(http, emu, timeout=0.2)


def test_drop_next(http: Any, emu: Any) -> None:
    emu.faults(drop_next=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        post_token(http, emu)
    assert post_token(http, emu).status_code == 200
    assert emu.stats()["token_requests"] == 2


def test_truncate_next(http: Any, emu: Any) -> None:
    emu.faults(truncate_next=1)
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.exceptions.ConnectionError)):
        post_token(http, emu)
    assert post_token(http, emu).status_code == 200


def test_html_next(http: Any, emu: Any) -> None:
    emu.faults(html_next=1)
    resp = post_token(http, emu)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/html")
    assert resp.text.lstrip().lower().startswith("<!doctype html")
    with pytest.raises(ValueError):
        resp.json()


@pytest.mark.parametrize(
    "body",
    [
        '{"expires_in": 3599, "token_type": "Bearer"}',
        '{"access_token": "abc", "token_type": "Bearer"}',
        '{"access_token": "abc", "expires_in": 0}',
        '{"access_token": "abc", "expires_in": -5}',
        '{"access_token": "abc", "expires_in": "soon"}',
        "[]",
    ],
)
def test_body_next(http: Any, emu: Any, body: str) -> None:
    emu.faults(body_next=1, body=body)
    resp = post_token(http, emu)
    assert resp.status_code == 200 and resp.text == body
    assert resp.headers["Content-Type"] == "application/json"
    assert "access_token" in post_token(http, emu).json()


def test_body_next_content_type(http: Any, emu: Any) -> None:
    emu.faults(body_next=1, body="access_token=abc", content_type="application/x-www-form-urlencoded")
    resp = post_token(http, emu)
    assert resp.headers["Content-Type"] == "application/x-www-form-urlencoded" and resp.text == "access_token=abc"


def test_token_shape_overrides(http: Any, emu: Any) -> None:
    emu.faults(expires_in_as_string=True, expires_in=3600, token_type="mac")
    body = get_token(http, emu)
    assert body["expires_in"] == "3600" and body["token_type"] == "mac"
    emu.faults(omit_token_type=True, expires_in_as_string=False)
    body = get_token(http, emu)
    assert "token_type" not in body and body["expires_in"] == 3600


@pytest.mark.parametrize(
    ("status", "code", "message"),
    [
        (401, 4, "Invalid authorization code"),
        (401, 5, "Not authorized to create access token"),
        (401, 9, "Invalid Client data"),
        (403, 12, "Invalid RedirectURI"),
        (403, 15, "Illegal Response Type"),
        (500, 16, "Invalid App Attributes.Please contact Telenor Admin"),
        (500, 2, "Internal Server Error"),
    ],
)
def test_force_error(http: Any, emu: Any, status: int, code: int, message: str) -> None:
    faults = emu.faults(force_error={"status": status, "code": code, "count": 2})
    assert faults["force_error"]["count"] == 2
    assert_seed_error(post_token(http, emu), status, code, message)
    assert_seed_error(post_token(http, emu), status, code, message)
    assert post_token(http, emu).status_code == 200


def test_force_error_status_defaults_from_code(http: Any, emu: Any) -> None:
    emu.faults(force_error={"code": 16})
    assert_seed_error(post_token(http, emu), 500, 16, "Invalid App Attributes.Please contact Telenor Admin")


@pytest.mark.parametrize(
    "faults",
    [
        {"no_such_fault": 1},
        {"fail_next": -1},
        {"fail_next": True},
        {"fail_status": 418},
        {"error_format": "xml"},
        {"force_error": {"status": 401, "code": 99}},
        {"force_error": {"status": 401}},
        {"latency": "slow"},
    ],
)
def test_bad_faults_rejected(emu: Any, faults: dict[str, Any]) -> None:
    before = emu.faults()
    resp = emu.client.request("POST", "/_emulator/faults", body=json.dumps(faults).encode())
    assert resp.status == 400
    assert "error" in resp.json()
    assert emu.faults() == before


def test_faults_merge_and_clear(emu: Any) -> None:
    emu.faults(fail_next=3)
    merged = emu.faults(html_next=1)
    assert (merged["fail_next"], merged["html_next"]) == (3, 1)
    assert emu.client.control("POST", "faults", {})["fail_next"] == 3
    cleared = emu.clear_faults()
    assert (cleared["fail_next"], cleared["html_next"], cleared["error_format"]) == (0, 0, "json")


def test_fault_order_drop_before_fail(http: Any, emu: Any) -> None:
    emu.faults(fail_next=1, drop_next=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        post_token(http, emu)
    assert post_token(http, emu).status_code == 500
    assert post_token(http, emu).status_code == 200


# --------------------------------------------------------------------------- stats, reset, clients


def test_stats_counters(http: Any, emu: Any) -> None:
    tokens = [get_token(http, emu)["access_token"] for dummy in range(3)]
    post_token(http, emu, headers=basic(CLIENT, "wrong"))
    post_token(http, emu, {})
    http.get(emu.url + LOGOUT_PATH, headers=bearer(tokens[0]), timeout=5)
    http.get(emu.url + LOGOUT_PATH, headers=bearer("bogus"), timeout=5)
    emu.is_token_valid(tokens[1])
    assert emu.stats() == {
        "token_requests": 5,
        "tokens_issued": 3,
        "token_requests_by_grant": {"client_credentials": 4, "(missing)": 1},
        "logout_requests": 2,
        "revoked": 1,
        "protected_requests": 1,
        "live_tokens": 2,
    }


def test_concurrent_token_requests(emu: Any) -> None:
    results: list[int] = []

    def worker() -> None:
        for dummy in range(5):
            results.append(emu.request_token(CLIENT, SECRET).status)

    threads = [threading.Thread(target=worker) for dummy in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 40
    stats = emu.stats()
    assert stats["token_requests"] == stats["tokens_issued"] == stats["live_tokens"] == 40


def test_reset(http: Any, emu: Any) -> None:
    token = get_token(http, emu)["access_token"]
    emu.add_client("runtime", "s3cret")
    emu.faults(fail_next=5)
    emu.reset()
    assert emu.stats()["token_requests"] == 0 and emu.faults()["fail_next"] == 0
    assert not emu.is_token_valid(token)
    assert_seed_error(post_token(http, emu, headers=basic("runtime", "s3cret")), 401, 1, "Invalid client id")


def test_add_client_at_runtime(http: Any, emu: Any) -> None:
    emu.add_client("runtime", "s:e:c", scopes=["a"])
    ok = post_token(http, emu, {"grant_type": "client_credentials", "scope": "a"}, basic("runtime", "s:e:c"))
    assert ok.status_code == 200 and ok.json()["scope"] == "a"
    denied = post_token(http, emu, {"grant_type": "client_credentials", "scope": "b"}, basic("runtime", "s:e:c"))
    assert_seed_error(denied, 403, 8, "Illegal or non authorized scope")
    listed = emu.client.control("GET", "clients")["clients"]
    assert {"client_id": "runtime", "scopes": ["a"]} in listed
    assert "s:e:c" not in json.dumps(listed)


# --------------------------------------------------------------------------- TLS


def test_tls(http: Any, tmp_path: Path) -> None:
    with control.Emulator().start(tls=True, workdir=tmp_path) as emu:
        assert emu.url.startswith("https://127.0.0.1:")
        certs = tmp_path / "certs"
        assert {p.name for p in certs.iterdir()} == {"ca.pem", "server.pem", "server.key"}
        assert stat.S_IMODE((certs / "server.key").stat().st_mode) == 0o600
        assert emu.ca_path == certs / "ca.pem"
        resp = post_token(http, emu, verify=str(emu.ca_path))
        assert resp.status_code == 200
        assert emu.is_token_valid(resp.json()["access_token"])
        by_name = http.post(f"https://localhost:{emu.port}{TOKEN_PATH}", data={"grant_type": "client_credentials"},
                            auth=(CLIENT, SECRET), verify=str(emu.ca_path), timeout=5)
        assert by_name.status_code == 200
        with pytest.raises(requests.exceptions.SSLError):
            post_token(http, emu, verify=True)
        # The emulator survives a client that rejected its certificate.
        assert emu.stats()["tokens_issued"] == 2


# --------------------------------------------------------------------------- process


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_sigterm_clean_exit_and_quiet_log(http: Any, tmp_path: Path) -> None:
    emu = control.Emulator().start(workdir=tmp_path, verbose=True)
    token = get_token(http, emu)["access_token"]
    post_token(http, emu, headers=basic(CLIENT, "wrong-secret-value"))
    http.get(emu.url + LOGOUT_PATH, headers=bearer(token), timeout=5)
    http.close()
    port = emu.port
    assert (tmp_path / "port").exists() and (tmp_path / "pid").read_text().strip() == str(emu.process.pid)
    assert emu.stop() == 0
    assert _port_is_free(port)
    assert not (tmp_path / "port").exists() and not (tmp_path / "pid").exists()
    log = (tmp_path / "emulator.log").read_text()
    assert "POST /oauth/v2/token" in log
    for secret in (SECRET, "wrong-secret-value", token, base64.b64encode(f"{CLIENT}:{SECRET}".encode()).decode()):
        assert secret not in log


def test_default_is_quiet_and_shutdown_endpoint(http: Any, tmp_path: Path) -> None:
    emu = control.Emulator().start(workdir=tmp_path)
    assert post_token(http, emu).status_code == 200
    emu.client.shutdown()
    assert emu.process.wait(5) == 0
    assert emu.stop() == 0
    log = (tmp_path / "emulator.log").read_text().strip().splitlines()
    assert len(log) == 1 and "listening on" in log[0]


def test_refuses_non_loopback_host() -> None:
    proc = subprocess.run(
        [sys.executable, str(EMULATOR_DIR / "telenor_emulator.py"), "--host", "0.0.0.0", "--port", "0"],
        capture_output=True, text=True, timeout=10, check=False,
    )
    assert proc.returncode == 2 and "loopback" in proc.stderr


@pytest.mark.parametrize("host", ["0.0.0.0", "192.0.2.1", "::", "example.com", "127.0.0.1.example.com"])
def test_loopback_host_rejects(host: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError, match="loopback"):
        server.loopback_host(host)


@pytest.mark.parametrize(("host", "bound"), [("127.0.0.1", "127.0.0.1"), ("127.0.0.2", "127.0.0.2"),
                                             ("::1", "::1"), ("localhost", "127.0.0.1")])
def test_loopback_host_accepts(host: str, bound: str) -> None:
    assert server.loopback_host(host) == bound


def test_client_args_split_on_first_colon_and_never_echo_secret(capsys: Any) -> None:
    args = server.parse_args(["--client", "a:b:c", "--client", "d:", "--client-scopes", "a=x, y"])
    assert args.clients["a"].secret == "b:c" and args.clients["a"].scopes == frozenset({"x", "y"})
    assert args.clients["d"].secret == "" and args.clients["d"].scopes is None
    assert set(server.parse_args([]).clients) == {"demo-client"}
    with pytest.raises(SystemExit):
        server.parse_args(["--client", "no-colon-SECRETVALUE"])
    assert "SECRETVALUE" not in capsys.readouterr().err
    with pytest.raises(SystemExit):
        server.parse_args(["--client", "a:b", "--client-scopes", "other=x"])


def test_control_cli_detached(tmp_path: Path, capsys: Any) -> None:
    state = tmp_path / "state"

    def run(*args: str) -> tuple[int, str]:
        code = control.main(list(args))
        return code, capsys.readouterr().out

    code, out = run("start", "--state-dir", str(state), "--client", "cli:se:cret")
    assert code == 0
    url = out.strip()
    assert (state / "url").read_text().strip() == url
    assert {"port", "pid", "url"} <= {p.name for p in state.iterdir()}
    client = control.ControlClient(url)
    assert client.request_token("cli", "se:cret").status == 200
    # One real interpreter run, to prove the script works from a shell.
    proc = subprocess.run([sys.executable, str(EMULATOR_DIR / "control.py"), "faults", '{"fail_next": 1}',
                           "--url", url], capture_output=True, text=True, timeout=15, env=_no_proxy_env(), check=False)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["fail_next"] == 1
    assert client.request_token("cli", "se:cret").status == 500
    assert json.loads(run("stats", "--state-dir", str(state))[1])["token_requests"] == 2
    assert run("faults", '{"nope": 1}', "--state-dir", str(state))[0] == 1
    assert run("reset", "--state-dir", str(state))[0] == 0
    assert client.stats()["token_requests"] == 0
    assert run("start", "--state-dir", str(state))[0] == 1  # already running
    pid = int((state / "pid").read_text())
    assert run("stop", "--state-dir", str(state))[0] == 0
    with pytest.raises(ProcessLookupError):
        _wait_gone(pid)
    assert not (state / "url").exists()
    assert run("stop", "--state-dir", str(state)) == (0, "not running\n")


def _no_proxy_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}


def _wait_gone(pid: int) -> None:
    """Raise ProcessLookupError once ``pid`` is gone (or a zombie), within 5 s."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        os.kill(pid, 0)
        stat_file = Path(f"/proc/{pid}/stat")
        if stat_file.exists() and stat_file.read_text().rsplit(")", 1)[1].split()[0] == "Z":
            raise ProcessLookupError(pid)
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


# --------------------------------------------------------------------------- password grant (system users)

USER_CLIENT, USER_SECRET = "user-client", "user-secret"
ALICE, ALICE_PW = "sys-alice", "alice:pw:1"  # a password may contain ':'
BOB, BOB_PW = "sys-bob", "bob-pw-2"
CC_ONLY_CLIENT, CC_ONLY_SECRET = "cc-only", "cc-only-secret"
PW_ONLY_CLIENT, PW_ONLY_SECRET = "pw-only", "pw-only-secret"


@pytest.fixture(scope="module")
def user_emulator() -> Any:
    emu = control.Emulator().start(
        clients={USER_CLIENT: USER_SECRET, CC_ONLY_CLIENT: CC_ONLY_SECRET, PW_ONLY_CLIENT: PW_ONLY_SECRET},
        users=[(USER_CLIENT, ALICE, ALICE_PW), (USER_CLIENT, BOB, BOB_PW), (CC_ONLY_CLIENT, ALICE, ALICE_PW),
               (PW_ONLY_CLIENT, ALICE, ALICE_PW)],
        client_grants={CC_ONLY_CLIENT: ["client_credentials"], PW_ONLY_CLIENT: ["password"]},
    )
    yield emu
    emu.stop()


@pytest.fixture
def uemu(user_emulator: Any) -> Any:
    user_emulator.reset()
    return user_emulator


def password_grant(uemu: Any, client_id: str = USER_CLIENT, secret: str = USER_SECRET, *,
                   username: str = ALICE, password: str = ALICE_PW, **kwargs: Any) -> Any:
    return uemu.request_token(client_id, secret, grant_type="password", username=username, password=password,
                              **kwargs)


def test_each_system_user_gets_a_token_bound_to_it(uemu: Any) -> None:
    alice = password_grant(uemu)
    bob = password_grant(uemu, username=BOB, password=BOB_PW)

    assert alice.status == 200 and bob.status == 200, (alice.text, bob.text)
    assert alice.json()["access_token"] != bob.json()["access_token"]
    assert uemu.token_owner(alice.json()["access_token"]) == {
        "ok": True, "client_id": USER_CLIENT, "scope": None, "username": ALICE}
    assert uemu.token_owner(bob.json()["access_token"])["username"] == BOB
    assert "refresh_token" in alice.json()  # RFC 6749 section 4.3.3


def test_client_credentials_tokens_report_no_user(uemu: Any) -> None:
    resp = uemu.request_token(USER_CLIENT, USER_SECRET)
    assert resp.status == 200
    assert "username" not in uemu.token_owner(resp.json()["access_token"])


@pytest.mark.parametrize(
    ("username", "password"),
    [
        pytest.param(ALICE, "wrong", id="wrong-password"),
        pytest.param("nobody", ALICE_PW, id="unknown-user"),
        pytest.param(BOB, ALICE_PW, id="another-users-password"),
        pytest.param("", "", id="empty"),
    ],
)
def test_a_bad_system_user_gets_401_code_22_invalid_grant(uemu: Any, username: str, password: str) -> None:
    resp = password_grant(uemu, username=username, password=password)
    assert resp.status == 401
    assert resp.json() == {"error": "invalid_grant", "error_code": 22,
                           "error_description": "Basic Authentication failed, bad username or password."}
    assert uemu.stats()["tokens_issued"] == 0


def test_a_user_of_another_client_does_not_work(uemu: Any) -> None:
    uemu.add_client("other", "other-secret", users={"someone": "pw"})
    resp = password_grant(uemu, "other", "other-secret")  # alice belongs to other clients
    assert resp.status == 401 and resp.json()["error_code"] == 22


@pytest.mark.parametrize(
    ("client_id", "secret", "grant_type", "status"),
    [
        pytest.param(CC_ONLY_CLIENT, CC_ONLY_SECRET, "password", 401, id="cc-only-refuses-password"),
        pytest.param(CC_ONLY_CLIENT, CC_ONLY_SECRET, "client_credentials", 200, id="cc-only-takes-cc"),
        pytest.param(PW_ONLY_CLIENT, PW_ONLY_SECRET, "client_credentials", 401, id="pw-only-refuses-cc"),
        pytest.param(PW_ONLY_CLIENT, PW_ONLY_SECRET, "password", 200, id="pw-only-takes-password"),
    ],
)
def test_client_grants_limit_the_grants(uemu: Any, client_id: str, secret: str, grant_type: str, status: int) -> None:
    resp = uemu.request_token(client_id, secret, grant_type=grant_type, username=ALICE, password=ALICE_PW)
    assert resp.status == status, resp.text
    if status == 401:
        assert resp.json()["error_code"] == 21


def test_refresh_keeps_the_user_and_a_client_without_refresh_grant_refuses_it(uemu: Any) -> None:
    first = password_grant(uemu).json()
    refreshed = uemu.request_token(USER_CLIENT, USER_SECRET, grant_type="refresh_token",
                                   refresh_token=first["refresh_token"])
    assert refreshed.status == 200
    assert uemu.token_owner(refreshed.json()["access_token"])["username"] == ALICE

    pw_only = password_grant(uemu, PW_ONLY_CLIENT, PW_ONLY_SECRET).json()
    refused = uemu.request_token(PW_ONLY_CLIENT, PW_ONLY_SECRET, grant_type="refresh_token",
                                 refresh_token=pw_only["refresh_token"])
    assert refused.status == 401 and refused.json()["error_code"] == 21


def test_a_password_grant_token_is_revoked_by_logout(uemu: Any) -> None:
    token = password_grant(uemu).json()["access_token"]
    assert uemu.client.logout(token).status == 200
    assert uemu.token_owner(token) is None


def test_runtime_client_with_users_and_grants_lists_no_password(uemu: Any) -> None:
    uemu.add_client("rt", "rt-secret", users={"sys-rt": "rt-pw"}, grants=["password"])
    assert password_grant(uemu, "rt", "rt-secret", username="sys-rt", password="rt-pw").status == 200
    listed = uemu.client.control("GET", "clients")["clients"]
    assert {"client_id": "rt", "scopes": None, "users": ["sys-rt"], "grants": ["password"]} in listed
    assert "rt-pw" not in json.dumps(listed)


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param(["--user", "demo-client:only-user"], id="no-password-part"),
        pytest.param(["--user", "nobody:u:p"], id="unknown-client"),
        pytest.param(["--client-grants", "demo-client=teleport"], id="unknown-grant"),
        pytest.param(["--client-grants", "nobody=password"], id="grants-of-unknown-client"),
    ],
)
def test_bad_user_and_grant_arguments_exit_2(argv: list[str], capsys: Any) -> None:
    with pytest.raises(SystemExit) as caught:
        server.parse_args(argv)
    assert caught.value.code == 2


def test_user_argument_splits_on_the_first_two_colons_and_never_echoes_the_password(capsys: Any) -> None:
    args = server.parse_args(["--client", "c:s", "--user", "c:u:p:w"])
    assert args.clients["c"].users == {"u": "p:w"}
    with pytest.raises(SystemExit):
        server.parse_args(["--user", "c-secret-pass-Zq9"])
    assert "c-secret-pass-Zq9" not in capsys.readouterr().err


def test_control_cli_start_takes_users_and_grants(tmp_path: Path) -> None:
    state = tmp_path / "state"
    url = control.start_detached(state, clients=[("c", "s")], users=[("c", "u", "p")],
                                 client_grants={"c": ["password"]})
    try:
        client = control.ControlClient(url)
        assert client.request_token("c", "s", grant_type="password", username="u", password="p").status == 200
        assert client.request_token("c", "s").status == 401
    finally:
        control.stop_detached(state)
    assert control.main(["start", "--state-dir", str(state), "--client", "c:s", "--user", "c:u:p",
                         "--client-grants", "c=client_credentials"]) == 0
    try:
        client = control.ControlClient((state / "url").read_text().strip())
        assert client.request_token("c", "s", grant_type="password", username="u", password="p").status == 401
    finally:
        control.stop_detached(state)

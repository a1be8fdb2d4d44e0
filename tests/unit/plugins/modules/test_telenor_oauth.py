# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The telenor.oauth.telenor_oauth module, run end to end in-process against the fake Telenor API."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sys
import tempfile
import time
import typing as t

import pytest
import yaml

from ansible.module_utils import _internal as module_utils_internal
from ansible.module_utils.common import warnings as ansible_warnings
from ansible.module_utils.testing import patch_module_args
from ansible.plugins.filter.core import get_hash
from ansible.utils.plugin_docs import add_fragments

from ansible_collections.telenor.oauth.plugins.doc_fragments import connection
from ansible_collections.telenor.oauth.plugins.module_utils._options import settings_from_options
from ansible_collections.telenor.oauth.plugins.module_utils._token import TokenRecord
from ansible_collections.telenor.oauth.plugins.modules import telenor_oauth
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
from ansible_collections.telenor.oauth.tests.unit.plugins.module_utils.missing_libraries import MISSING_LIBRARIES

FIRST = f"{TOKEN_PREFIX}-1"
SECOND = f"{TOKEN_PREFIX}-2"
OTHER_TOKEN = "AT-Given-Pq7Wd3"
RESULT_KEYS = {"access_token", "token_type", "expires_in", "expires_at", "scope", "authorization"}
NO_LOG_MARK = "VALUE_SPECIFIED_IN_NO_LOG_PARAMETER"


def fingerprint(token: str) -> str:
    """The documented revoked_fingerprint: the first 12 hex digits of the token's SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()[:12]


# --- documentation -----------------------------------------------------------------------


class _FragmentLoader:
    """Resolves this collection's doc fragment as Ansible's fragment loader would."""

    def get(self, name: str):
        if name != "telenor.oauth.connection":
            return None
        return type("ModuleDocFragment", (connection.ModuleDocFragment,), {"ansible_name": name})


def _documented_options() -> dict[str, dict]:
    doc = yaml.safe_load(telenor_oauth.DOCUMENTATION)
    add_fragments(doc, telenor_oauth.__file__, fragment_loader=_FragmentLoader(), is_module=True)
    return doc["options"]


def _plugin_env_sources() -> dict[str, list[str]]:
    overlay = yaml.safe_load(connection.ModuleDocFragment.PLUGINS)["options"]
    return {name: [entry["name"] for entry in spec.get("env", [])] for name, spec in overlay.items()}


DOCUMENTED = _documented_options()
SPEC = telenor_oauth.argument_spec()


def test_every_option_is_both_documented_and_accepted():
    assert sorted(DOCUMENTED) == sorted(SPEC)


@pytest.mark.parametrize("name", sorted(DOCUMENTED))
def test_option_type_default_and_choices_match_the_documentation(name):
    documented, accepted = DOCUMENTED[name], SPEC[name]
    for field in ("type", "default", "choices", "elements", "required"):
        assert accepted.get(field) == documented.get(field), field


@pytest.mark.parametrize("name", ["client_secret", "access_token"])
def test_secret_options_are_no_log(name):
    assert SPEC[name].get("no_log") is True


def test_env_fallbacks_are_the_lookups_env_sources_and_are_documented():
    fallbacks = {name: spec["fallback"][1] for name, spec in SPEC.items() if "fallback" in spec}
    assert fallbacks == _plugin_env_sources()
    description = " ".join(yaml.safe_load(telenor_oauth.DOCUMENTATION)["description"])
    for names in fallbacks.values():
        for variable in names:
            assert f"C({variable})" in description


# --- running the module ------------------------------------------------------------------


class Run(t.NamedTuple):
    failed: bool
    result: dict
    stdout: str


@pytest.fixture
def base_args(connection_options) -> dict:
    return connection_options


@pytest.fixture
def run(capsys, monkeypatch) -> t.Callable[..., Run]:
    """Run the module as Ansible would, with these arguments."""

    def _run(args: dict, *, check_mode: bool = False) -> Run:
        # As on a managed host: warnings go into the result, not to the controller's display.
        monkeypatch.setattr(module_utils_internal, "is_controller", False)
        # AnsibleModule keeps warnings process-wide; give each run its own.
        monkeypatch.setattr(ansible_warnings, "_global_warnings", {})
        monkeypatch.setattr(ansible_warnings, "_global_deprecations", {})
        module_args = dict(args)
        if check_mode:
            module_args["_ansible_check_mode"] = True
        with patch_module_args(module_args):
            with pytest.raises(SystemExit) as exit_info:
                telenor_oauth.main()
        stdout = capsys.readouterr().out
        result = json.loads(stdout)
        shown = stdout + json.dumps(result, ensure_ascii=False)
        # The secret never leaves the module, not even masked: "********" would mean it
        # had been formatted into a message and only AnsibleModule's masking hid it.
        assert CLIENT_SECRET not in shown
        assert CLIENT_SECRET.split(":", maxsplit=1)[0] not in shown
        assert "********" not in shown
        assert REFRESH_PREFIX not in shown
        failed = bool(result.get("failed"))
        assert (exit_info.value.code or 0) == (1 if failed else 0)
        return Run(failed, result, stdout)

    return _run


def _settings(api, cache_dir: str, **options: t.Any):
    base = {"api_url": api.url, "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "cache_dir": cache_dir}
    base.update(options)
    return settings_from_options(documented_getter(base))


def cached(api, cache_dir: str, **options: t.Any) -> TokenRecord | None:
    """What the cache holds for the default identity."""
    return _settings(api, cache_dir, **options).cache().load()


def put_in_cache(api, cache_dir: str, token: str, *, age: float = 0, lifetime: int = 3600) -> None:
    issued = time.time() - age
    cache = _settings(api, cache_dir).cache()
    with cache.locked():
        cache.store(TokenRecord(token, "Bearer", issued + lifetime, issued, lifetime))


def basic_credentials(seen) -> tuple[str, str]:
    scheme, dummy, encoded = seen.headers["Authorization"].partition(" ")
    assert scheme == "Basic"
    client_id, dummy, secret = base64.b64decode(encoded).decode("utf-8").partition(":")
    return client_id, secret


# --- arguments ---------------------------------------------------------------------------


def test_no_log_values_are_masked_in_the_invocation(run, base_args, api):
    api.issue_token(OTHER_TOKEN)
    put_in_cache(api, base_args["cache_dir"], OTHER_TOKEN)
    outcome = run({**base_args, "state": "absent", "access_token": OTHER_TOKEN})
    assert not outcome.failed
    assert OTHER_TOKEN not in outcome.stdout
    if "invocation" not in outcome.result:
        pytest.skip("this ansible-core does not return the invocation")
    module_args = outcome.result["invocation"]["module_args"]
    assert module_args["client_secret"] == NO_LOG_MARK
    assert module_args["access_token"] == NO_LOG_MARK
    assert module_args["client_id"] == CLIENT_ID


ENV_CASES = [
    pytest.param("client_id", "TELENOR_CLIENT_ID", id="client_id"),
    pytest.param("client_secret", "TELENOR_CLIENT_SECRET", id="client_secret"),
    pytest.param("api_url", "TELENOR_API_URL", id="api_url"),
    pytest.param("scope", "TELENOR_SCOPE", id="scope"),
    pytest.param("cache_dir", "TELENOR_TOKEN_CACHE_DIR", id="cache_dir"),
]


def _env_values(api, tmp_path) -> dict[str, str]:
    return {
        "client_id": "env-client-Rt6",
        "client_secret": "env-secret-Yb2",
        "api_url": api.url,
        "scope": "sms,mobile",
        "cache_dir": str(tmp_path / "env-cache"),
    }


def _assert_effect(name: str, value: str, api, outcome: Run, cache_dir: str) -> None:
    (seen,) = api.token_requests
    if name == "client_id":
        assert basic_credentials(seen)[0] == value
    elif name == "client_secret":
        assert basic_credentials(seen)[1] == value
    elif name == "api_url":
        assert seen.path == TOKEN_PATH  # the request reached the fake API at that URL
    elif name == "scope":
        assert seen.form["scope"] == [value.replace(",", " ")]
        assert outcome.result["scope"] == value.replace(",", " ")
    elif name == "cache_dir":
        assert os.listdir(value)
        assert not os.path.exists(cache_dir)


@pytest.mark.parametrize(("name", "variable"), ENV_CASES)
def test_an_option_falls_back_to_its_environment_variable(run, base_args, api, tmp_path, monkeypatch, name, variable):
    value = _env_values(api, tmp_path)[name]
    if name in ("client_id", "client_secret"):
        api.add_client(**{"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, name: value})
    monkeypatch.setenv(variable, value)
    args = {key: option for key, option in base_args.items() if key != name}
    outcome = run(args)
    assert not outcome.failed, outcome.result
    assert outcome.result["changed"] is True
    _assert_effect(name, value, api, outcome, base_args["cache_dir"])


@pytest.mark.parametrize(("name", "variable"), ENV_CASES)
def test_an_explicit_option_wins_over_its_environment_variable(run, base_args, api, tmp_path, monkeypatch, name, variable):
    wrong = {
        "client_id": "env-client-wrong",
        "client_secret": "env-secret-wrong",
        "api_url": f"http://127.0.0.1:{closed_port()}",
        "scope": "envscope",
        "cache_dir": str(tmp_path / "env-cache-wrong"),
    }[name]
    monkeypatch.setenv(variable, wrong)
    explicit = {"scope": ["sms"]} if name == "scope" else {}
    outcome = run({**base_args, **explicit})
    assert not outcome.failed, outcome.result
    (seen,) = api.token_requests
    assert basic_credentials(seen) == (CLIENT_ID, CLIENT_SECRET)
    if name == "scope":
        assert seen.form["scope"] == ["sms"]
    if name == "cache_dir":
        assert not os.path.exists(wrong)
    assert cached(api, base_args["cache_dir"], scope=explicit.get("scope")).access_token == FIRST


def test_all_connection_options_from_the_environment_alone(run, api, tmp_path, monkeypatch):
    values = _env_values(api, tmp_path)
    api.add_client(values["client_id"], values["client_secret"])
    for name, variable in [(case.values[0], case.values[1]) for case in ENV_CASES]:
        monkeypatch.setenv(variable, values[name])
    monkeypatch.setenv("TELENOR_RETRIES", "0")
    outcome = run({})
    assert not outcome.failed, outcome.result
    assert outcome.result["access_token"] == FIRST
    assert outcome.result["scope"] == "sms mobile"
    (seen,) = api.token_requests
    assert basic_credentials(seen) == (values["client_id"], values["client_secret"])
    again = run({})
    assert again.result["changed"] is False
    assert len(api.token_requests) == 1


@pytest.mark.parametrize(
    ("missing", "value", "words"),
    [
        pytest.param("client_id", None, ("client_id", "TELENOR_CLIENT_ID"), id="client_id-absent"),
        pytest.param("client_id", "  ", ("client_id", "TELENOR_CLIENT_ID"), id="client_id-blank"),
        pytest.param("client_secret", None, ("client_secret", "TELENOR_CLIENT_SECRET"), id="client_secret-absent"),
    ],
)
@pytest.mark.parametrize("state", ["present", "absent"])
def test_missing_credentials_fail_naming_option_and_variable_without_a_request(
    run, base_args, api, missing, value, words, state
):
    args = {**base_args, "state": state}
    if value is None:
        del args[missing]
    else:
        args[missing] = value
    outcome = run(args)
    assert outcome.failed
    for word in words:
        assert word in outcome.result["msg"]
    assert api.seen == []


@pytest.mark.parametrize(("remove", "library"), MISSING_LIBRARIES)
def test_a_missing_library_is_named_with_the_interpreter_to_install_it_for(run, base_args, api, monkeypatch, remove, library):
    remove(monkeypatch)
    outcome = run(base_args)
    assert outcome.failed
    assert outcome.result["msg"].startswith(f"The {library} Python library is required")
    assert f"{sys.executable} -m pip install {library}" in outcome.result["msg"]
    assert outcome.result["retryable"] is False
    assert api.seen == []


# --- state=present -----------------------------------------------------------------------


def test_present_twice_requests_once_then_reuses(run, base_args, api):
    api.issue_refresh_tokens = True  # never returned: `run` checks the output for it
    first = run(base_args)
    assert not first.failed
    assert first.result["changed"] is True
    assert first.result["cached"] is False
    assert first.result["revoked"] is False
    assert RESULT_KEYS <= set(first.result)
    assert first.result["access_token"] == FIRST
    assert first.result["authorization"] == f"Bearer {FIRST}"
    assert first.result["token_type"] == "Bearer"
    assert first.result["scope"] is None
    assert 3590 <= first.result["expires_in"] <= 3600
    assert isinstance(first.result["expires_at"], int)
    assert abs(first.result["expires_at"] - (time.time() + 3600)) < 15
    assert "replaced_access_token" not in first.result
    assert "refresh_token" not in first.result

    second = run(base_args)
    assert second.result["changed"] is False
    assert second.result["cached"] is True
    assert second.result["access_token"] == FIRST
    assert "replaced_access_token" not in second.result
    assert len(api.token_requests) == 1
    assert api.logout_requests == []


def test_revoke_previous_without_force_changes_nothing(run, base_args, api):
    run(base_args)
    outcome = run({**base_args, "revoke_previous": True})
    assert outcome.result["changed"] is False
    assert outcome.result["revoked"] is False
    assert outcome.result["access_token"] == FIRST
    assert len(api.token_requests) == 1
    assert api.logout_requests == []


def test_force_rotates_and_returns_the_replaced_token(run, base_args, api):
    run(base_args)
    rotated = run({**base_args, "force": True})
    assert not rotated.failed
    assert rotated.result["changed"] is True
    assert rotated.result["cached"] is False
    assert rotated.result["access_token"] == SECOND
    assert rotated.result["replaced_access_token"] == FIRST
    assert rotated.result["revoked"] is False
    assert len(api.token_requests) == 2
    assert api.logout_requests == []
    assert cached(api, base_args["cache_dir"]).access_token == SECOND


def test_force_on_an_empty_cache_has_nothing_to_replace(run, base_args, api):
    outcome = run({**base_args, "force": True, "revoke_previous": True})
    assert outcome.result["changed"] is True
    assert outcome.result["access_token"] == FIRST
    assert outcome.result["revoked"] is False
    assert "replaced_access_token" not in outcome.result
    assert api.logout_requests == []


def test_force_with_revoke_previous_logs_the_old_token_out(run, base_args, api):
    run(base_args)
    rotated = run({**base_args, "force": True, "revoke_previous": True})
    assert not rotated.failed
    assert rotated.result["changed"] is True
    assert rotated.result["access_token"] == SECOND
    assert rotated.result["revoked"] is True
    assert rotated.result["revoked_fingerprint"] == fingerprint(FIRST)
    assert "replaced_access_token" not in rotated.result
    (logout,) = api.logout_requests
    assert logout.method == "GET"
    assert logout.headers["Authorization"] == f"Bearer {FIRST}"
    assert FIRST not in rotated.stdout
    assert cached(api, base_args["cache_dir"]).access_token == SECOND


def test_a_failed_revoke_previous_warns_and_keeps_the_new_token(run, base_args, api):
    run(base_args)
    api.reply(LOGOUT_PATH, 500, {"code": 2})
    rotated = run({**base_args, "force": True, "revoke_previous": True})
    assert not rotated.failed
    assert rotated.result["changed"] is True
    assert rotated.result["access_token"] == SECOND
    assert rotated.result["revoked"] is False
    # Not revoked, so handed back to be revoked later.
    assert rotated.result["replaced_access_token"] == FIRST
    warnings = json.dumps(rotated.result.get("warnings"))
    assert "revoking the previous one failed" in warnings
    assert "HTTP 500" in warnings
    assert FIRST not in warnings
    assert len(api.logout_requests) == 1
    assert cached(api, base_args["cache_dir"]).access_token == SECOND


@pytest.mark.parametrize(
    ("status", "body", "words"),
    [
        pytest.param(401, {"code": 22}, ("HTTP 401", "22", "Basic Authentication failed", "Connectid"), id="401-22"),
        pytest.param(401, "Error code 1 - Invalid client id", ("HTTP 401", "Invalid client id", "Connectid"), id="401-1"),
        pytest.param(401, {"code": 5}, ("HTTP 401", "Not authorized to create access token"), id="401-5"),
        pytest.param(403, {"code": 8}, ("HTTP 403", "Illegal or non authorized scope", "scope"), id="403-8"),
        pytest.param(400, {"code": 2}, ("HTTP 400", "Missing or invalid grant_type"), id="400-2"),
        pytest.param(500, {"code": 16}, ("HTTP 500", "Invalid App Attributes"), id="500-16"),
    ],
)
def test_an_api_error_fails_with_the_seed_meaning(run, base_args, api, status, body, words):
    api.reply(TOKEN_PATH, status, body)
    outcome = run(base_args)
    assert outcome.failed
    for word in words:
        assert word in outcome.result["msg"]
    assert outcome.result["status"] == status
    assert outcome.result["telenor_error_code"] == (body["code"] if isinstance(body, dict) else 1)
    assert outcome.result["retryable"] is False  # every run would get the same answer
    assert "access_token" not in outcome.result
    assert cached(api, base_args["cache_dir"]) is None


def test_an_unreachable_api_fails_without_a_traceback_or_secret(run, base_args):
    outcome = run({**base_args, "api_url": f"http://127.0.0.1:{closed_port()}"})
    assert outcome.failed
    assert "could not connect" in outcome.result["msg"]
    assert outcome.result["retryable"] is True  # the service_token role says the next run retries


# --- state=absent ------------------------------------------------------------------------


def test_absent_revokes_the_cached_token_then_has_nothing_to_do(run, base_args, api):
    run(base_args)
    removed = run({**base_args, "state": "absent"})
    assert not removed.failed
    assert removed.result["changed"] is True
    assert removed.result["revoked"] is True
    assert removed.result["cached"] is False
    assert removed.result["revoked_fingerprint"] == fingerprint(FIRST)
    assert "access_token" not in removed.result
    (logout,) = api.logout_requests
    assert logout.headers["Authorization"] == f"Bearer {FIRST}"
    assert cached(api, base_args["cache_dir"]) is None

    again = run({**base_args, "state": "absent"})
    assert not again.failed
    assert again.result["changed"] is False
    assert again.result["revoked"] is False
    assert "revoked_fingerprint" not in again.result
    assert len(api.logout_requests) == 1


@pytest.mark.parametrize(
    ("given", "cache_after"),
    [
        pytest.param(OTHER_TOKEN, FIRST, id="another-token-cache-kept"),
        pytest.param(FIRST, None, id="the-cached-token-cache-emptied"),
    ],
)
def test_absent_revokes_the_given_access_token(run, base_args, api, given, cache_after):
    api.issue_token(OTHER_TOKEN)  # to another process of ours
    run(base_args)
    outcome = run({**base_args, "state": "absent", "access_token": given})
    assert not outcome.failed
    assert outcome.result["changed"] is True
    assert outcome.result["revoked"] is True
    assert outcome.result["revoked_fingerprint"] == fingerprint(given)
    (logout,) = api.logout_requests
    assert logout.headers["Authorization"] == f"Bearer {given}"
    record = cached(api, base_args["cache_dir"])
    assert (record.access_token if record else None) == cache_after


def test_absent_given_a_token_with_an_empty_cache(run, base_args, api):
    api.issue_token(OTHER_TOKEN)  # to another process of ours
    outcome = run({**base_args, "state": "absent", "access_token": OTHER_TOKEN})
    assert outcome.result["changed"] is True
    (logout,) = api.logout_requests
    assert logout.headers["Authorization"] == f"Bearer {OTHER_TOKEN}"
    assert api.token_requests == []


@pytest.mark.parametrize(
    "body",
    [
        pytest.param({"code": 2}, id="json"),
        pytest.param("Error code 2 - Invalid access token", id="text"),
    ],
)
def test_absent_when_the_server_says_the_token_is_already_invalid(run, base_args, api, body):
    run(base_args)
    api.reply(LOGOUT_PATH, 401, body)
    outcome = run({**base_args, "state": "absent"})
    assert not outcome.failed
    assert outcome.result["changed"] is False
    assert outcome.result["revoked"] is False
    assert "revoked_fingerprint" not in outcome.result
    assert cached(api, base_args["cache_dir"]) is None


@pytest.mark.parametrize(
    ("status", "body", "words"),
    [
        pytest.param(500, {"code": 2}, ("HTTP 500", "Internal Server Error"), id="500-2"),
        pytest.param(401, {"code": 6}, ("HTTP 401", "Missing or bad Authorization header"), id="401-6"),
    ],
)
def test_absent_fails_on_a_server_error_and_keeps_the_token(run, base_args, api, status, body, words):
    run(base_args)
    api.reply(LOGOUT_PATH, status, body)
    outcome = run({**base_args, "state": "absent"})
    assert outcome.failed
    for word in words:
        assert word in outcome.result["msg"]
    assert outcome.result["status"] == status
    assert outcome.result["telenor_error_code"] == body["code"]
    assert FIRST not in outcome.stdout
    assert cached(api, base_args["cache_dir"]).access_token == FIRST


def test_absent_with_an_expired_cached_token_drops_it_without_a_request(run, base_args, api):
    put_in_cache(api, base_args["cache_dir"], OTHER_TOKEN, age=4000, lifetime=3600)
    outcome = run({**base_args, "state": "absent"})
    assert outcome.result["changed"] is False
    assert api.seen == []
    assert cached(api, base_args["cache_dir"]) is None


# --- check mode --------------------------------------------------------------------------


CHECK_PRESENT_CASES = [
    # (what is cached: (age, lifetime) or None, extra args, changed, token returned)
    pytest.param(None, {}, True, None, id="empty-cache"),
    pytest.param((0, 3600), {}, False, OTHER_TOKEN, id="reusable-token"),
    pytest.param((3500, 3600), {}, True, None, id="token-below-min_ttl"),
    pytest.param((4000, 3600), {}, True, None, id="expired-token"),
    pytest.param((0, 3600), {"force": True}, True, None, id="force"),
]


@pytest.mark.parametrize(("cache", "extra", "changed", "token"), CHECK_PRESENT_CASES)
def test_check_mode_present_makes_no_request(run, base_args, api, cache, extra, changed, token):
    if cache is not None:
        put_in_cache(api, base_args["cache_dir"], OTHER_TOKEN, age=cache[0], lifetime=cache[1])
    before = cached(api, base_args["cache_dir"])
    outcome = run({**base_args, **extra}, check_mode=True)
    assert not outcome.failed
    assert outcome.result["changed"] is changed
    assert outcome.result.get("access_token") == token
    if token is None:
        assert not RESULT_KEYS & set(outcome.result)
    else:
        assert outcome.result["cached"] is True
        assert outcome.result["authorization"] == f"Bearer {token}"
    assert api.seen == []
    assert cached(api, base_args["cache_dir"]) == before


@pytest.mark.parametrize(
    ("cache", "extra", "changed"),
    [
        pytest.param(None, {}, False, id="empty-cache"),
        pytest.param((0, 3600), {}, True, id="live-token"),
        pytest.param((4000, 3600), {}, False, id="expired-token"),
        pytest.param(None, {"access_token": OTHER_TOKEN}, True, id="given-token"),
    ],
)
def test_check_mode_absent_makes_no_request_and_keeps_the_cache(run, base_args, api, cache, extra, changed):
    if cache is not None:
        put_in_cache(api, base_args["cache_dir"], OTHER_TOKEN, age=cache[0], lifetime=cache[1])
    before = cached(api, base_args["cache_dir"])
    outcome = run({**base_args, "state": "absent", **extra}, check_mode=True)
    assert not outcome.failed
    assert outcome.result["changed"] is changed
    # The token that would be revoked, named; none when nothing would be.
    assert outcome.result.get("revoked_fingerprint") == (fingerprint(OTHER_TOKEN) if changed else None)
    assert api.seen == []
    assert cached(api, base_args["cache_dir"]) == before


# --- revoked_fingerprint -----------------------------------------------------------------


def test_absent_names_the_token_it_revoked_without_revealing_it(run, base_args, api):
    run(base_args)
    outcome = run({**base_args, "state": "absent"})
    (logout,) = api.logout_requests
    sent = logout.headers["Authorization"].removeprefix("Bearer ")
    assert outcome.result["revoked_fingerprint"] == fingerprint(sent)
    assert sent not in outcome.stdout
    assert outcome.result["revoked_fingerprint"] not in sent


@pytest.mark.parametrize("token", [FIRST, OTHER_TOKEN, "AT-" + "x" * 200, "AT-ünïcødé"])
def test_the_fingerprint_is_what_the_documented_hash_filter_gives(token):
    # The module's docs tell users to compare it with (token | ansible.builtin.hash('sha256'))[:12].
    documented = get_hash(token, "sha256")[:12]
    assert telenor_oauth.token_fingerprint(token) == documented
    assert len(documented) == 12 and int(documented, 16) >= 0
# --- issue 12: an unusable HOME falls back, with one warning ------------------------------


def test_an_unusable_home_falls_back_with_a_module_warning(run, base_args, api, tmp_path, monkeypatch):
    home = tmp_path / "home-is-a-file"
    home.write_text("")
    monkeypatch.setenv("HOME", str(home))
    system_temp = tmp_path / "system-tmp"
    system_temp.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(system_temp))
    args = {key: value for key, value in base_args.items() if key != "cache_dir"}

    outcome = run(args)

    assert not outcome.failed, outcome.result
    (warning,) = outcome.result["warnings"]
    assert f"telenor_oauth-{os.geteuid()}" in json.dumps(warning)  # a string, or 2.19's WarningSummary
    assert (system_temp / f"telenor_oauth-{os.geteuid()}").is_dir()


@pytest.mark.parametrize("value", ["ture", "maybe"])
def test_validate_certs_that_is_not_a_boolean_fails_before_any_request(run, base_args, api, value):
    outcome = run({**base_args, "validate_certs": value})

    assert outcome.failed
    assert "validate_certs" in outcome.result["msg"]
    assert api.token_requests == []

# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The lookup and the module against an OAuth 2.0 server none of us wrote (Authlib's),
mounted at the Telenor paths, through the real ansible-playbook.

Issue 9: errors from any OAuth server must come out in words. Authlib answers with RFC
6749 section 5.2 bodies and RFC 6750 challenges, never a Telenor error code.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from tests.integration.conftest import core_independent

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from authlib_server import RESOURCE_PATH, Client, serve  # noqa: E402 pylint: disable=wrong-import-position

pytestmark = core_independent

CLIENT_ID = "std-client-Hw4"
CLIENT_SECRET = "std-Secret:7c2e-never-print-me"
WRONG_SECRET = "std-Wrong:19ab-never-print-me"


@pytest.fixture
def standards_server():
    app, url, stop = serve([Client(CLIENT_ID, CLIENT_SECRET, ("sms", "mobile"))])
    try:
        yield app, url
    finally:
        stop()


def run(ansible, url: str, playbook: str, **env: str):
    ansible.env.update({"TELENOR_API_URL": url, "TELENOR_CLIENT_ID": CLIENT_ID, "TELENOR_CLIENT_SECRET": CLIENT_SECRET})
    ansible.env.update(env)
    return ansible.run(HERE / playbook, inventory=ansible.inventory(3), extra_vars={"resource_url": url + RESOURCE_PATH})


def test_the_lookups_token_works_on_the_protected_resource(ansible, standards_server):
    app, url = standards_server

    result = run(ansible, url, "token.yml")

    assert result.rc == 0, result.output[-3000:]
    assert result.output.count(f"resource status 200 for {CLIENT_ID}") == 3
    assert app.token_requests == 1  # one token for the three hosts
    assert app.resource_requests == [200, 200, 200]


def test_the_module_revokes_through_the_logout_and_the_resource_then_refuses_it(ansible, standards_server):
    app, url = standards_server

    result = run(ansible, url, "revoke.yml")

    assert result.rc == 0, result.output[-3000:]
    assert "revoked True, then resource status 401" in result.output
    assert 401 in app.resource_requests


@pytest.mark.parametrize(
    ("env", "words"),
    [
        pytest.param(
            {"TELENOR_CLIENT_SECRET": WRONG_SECRET},
            ["HTTP 401, OAuth error invalid_client", "check client_id and client_secret", "Connectid"],
            id="wrong-secret",
        ),
        pytest.param(
            {"TELENOR_CLIENT_ID": "someone-else"},
            ["HTTP 401, OAuth error invalid_client", "check client_id and client_secret"],
            id="unknown-client",
        ),
        pytest.param(
            {"TELENOR_SCOPE": "admin"},
            ["HTTP 400, OAuth error invalid_scope", "check the scope option"],
            id="scope-not-granted",
        ),
    ],
)
def test_a_refusal_is_named_with_the_hint(ansible, standards_server, env, words):
    app, url = standards_server

    result = run(ansible, url, "token.yml", **env)

    assert result.rc != 0
    missing = [word for word in words if word not in result.output]
    assert not missing, result.output[-3000:]
    assert "no Telenor error code" not in result.output
    assert "Traceback" not in result.output
    for secret in (CLIENT_SECRET, WRONG_SECRET):
        assert secret not in result.output
    assert app.resource_requests == []

# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Fixtures of the plugin unit tests: the fake Telenor API on 127.0.0.1, and isolation from
the developer's own proxies, ~/.netrc and TELENOR_* settings."""

from __future__ import annotations

import importlib.util
import os
import typing as t

import pytest


def _ensure_collection_importable() -> None:
    # Run from outside the checkout (pytest /path/to/tests/unit/plugins/...),
    # pytest's confcutdir may skip tests/unit/conftest.py: run its setup here.
    try:
        import ansible_collections.telenor.oauth.plugins.module_utils  # noqa: F401 pylint: disable=import-outside-toplevel,unused-import
    except ImportError:
        path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "conftest.py")
        spec = importlib.util.spec_from_file_location("telenor_oauth_unit_conftest", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


_ensure_collection_importable()

from ansible_collections.telenor.oauth.tests.unit.plugins.module_utils.fake_telenor_api import (  # noqa: E402 pylint: disable=wrong-import-position
    CLIENT_ID,
    CLIENT_SECRET,
    FakeTelenorAPI,
)

_PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


@pytest.fixture(scope="session")
def _empty_netrc(tmp_path_factory: pytest.TempPathFactory) -> str:
    path = tmp_path_factory.mktemp("netrc") / "netrc"
    path.write_text("")
    path.chmod(0o600)
    return str(path)


@pytest.fixture(autouse=True)
def _isolated_http_environment(monkeypatch: pytest.MonkeyPatch, _empty_netrc: str) -> None:
    """No developer proxy, CA bundle or ~/.netrc may steer the requests under test."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("NETRC", _empty_netrc)


@pytest.fixture
def api() -> t.Iterator[FakeTelenorAPI]:
    server = FakeTelenorAPI().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def _no_telenor_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own TELENOR_* settings must not steer the tests."""
    for name in list(os.environ):
        if name.startswith("TELENOR_"):
            monkeypatch.delenv(name)


@pytest.fixture
def cache_dir(tmp_path) -> str:
    return str(tmp_path / "cache")


@pytest.fixture
def connection_options(api, cache_dir) -> dict:
    """Options of the lookup and the module for the fake API and a private cache."""
    # retries=0: the client would sleep for real between retries.
    return {
        "api_url": api.url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "cache_dir": cache_dir,
        "retries": 0,
        "timeout": 5,
    }

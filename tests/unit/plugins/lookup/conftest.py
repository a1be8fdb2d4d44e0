# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The fake Telenor API of the module_utils tests, for the lookup tests, and no TELENOR_* leaking in."""

from __future__ import annotations

import importlib.util
import os

import pytest


def _ensure_collection_importable() -> None:
    # Run from outside the checkout, pytest's confcutdir may skip tests/unit/conftest.py.
    try:
        import ansible_collections.telenor.oauth.plugins.module_utils  # noqa: F401 pylint: disable=import-outside-toplevel,unused-import
    except ImportError:
        path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "conftest.py")
        spec = importlib.util.spec_from_file_location("telenor_oauth_unit_conftest", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)


_ensure_collection_importable()

# Re-exported so that pytest finds them here: `api` (the fake API on 127.0.0.1) and the
# autouse isolation from proxies and ~/.netrc.
# pylint: disable-next=wrong-import-position,unused-import
from ansible_collections.telenor.oauth.tests.unit.plugins.module_utils.conftest import (  # noqa: E402,F401
    _empty_netrc,
    _isolated_http_environment,
    api,
)


@pytest.fixture(autouse=True)
def _no_telenor_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own TELENOR_* settings must not steer the tests."""
    for name in list(os.environ):
        if name.startswith("TELENOR_"):
            monkeypatch.delenv(name)

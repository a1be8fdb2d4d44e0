# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Make a test's process look like one where a Python library is not installed."""

from __future__ import annotations

import sys

import pytest

from ansible_collections.telenor.oauth.plugins.module_utils import _cache


def without_requests(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "requests", None)  # any `import requests` now fails


def without_cryptography(monkeypatch: pytest.MonkeyPatch) -> None:
    # What _cache looks like when its cryptography imports failed.
    monkeypatch.setattr(_cache, "HAS_CRYPTOGRAPHY", False)
    for name in ("InvalidTag", "hashes", "AESGCM", "HKDF"):
        monkeypatch.delattr(_cache, name)


# Each way to remove a library, with the library's name as the error gives it.
MISSING_LIBRARIES = [
    pytest.param(without_requests, "requests", id="requests"),
    pytest.param(without_cryptography, "cryptography", id="cryptography"),
]

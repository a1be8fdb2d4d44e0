# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The preload callback loads the lookup and its warm path before the fork, and the redis library
only when cache_url is configured."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import ansible_collections

pytest.importorskip("redis")

# A fresh interpreter, so that what is imported is what the callback imported.
PROBE = """
import json
import sys
from ansible.plugins.loader import callback_loader, init_plugin_loader
init_plugin_loader()
callback_loader.get("telenor.oauth.preload").v2_playbook_on_start(None)
utils = "ansible_collections.telenor.oauth.plugins.module_utils."
print(json.dumps({
    "redis": "redis" in sys.modules,
    "lookup": "ansible_collections.telenor.oauth.plugins.lookup.telenor_token" in sys.modules,
    "warm_path": all(utils + name in sys.modules for name in ("_options", "_service", "_cache", "_token")),
}))
"""


def run_probe(cache_url: str | None) -> dict:
    collections_root = os.path.dirname(list(ansible_collections.__path__)[0])
    env = {key: value for key, value in os.environ.items() if not key.startswith("TELENOR_")}
    env["ANSIBLE_COLLECTIONS_PATH"] = collections_root
    if cache_url:
        env["TELENOR_TOKEN_CACHE_URL"] = cache_url
    probe = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=False)
    assert probe.returncode == 0, probe.stderr
    return json.loads(probe.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("cache_url, imported", [("redis://127.0.0.1:1/0", True), (None, False)])
def test_redis_is_imported_before_the_fork_only_with_a_cache_url(cache_url, imported):
    assert run_probe(cache_url)["redis"] is imported


def test_the_lookup_and_its_warm_path_are_loaded_before_the_fork():
    # What each worker would otherwise load anew (the point of the callback).
    loaded = run_probe(None)
    assert loaded["lookup"] and loaded["warm_path"]

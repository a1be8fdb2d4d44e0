# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
name: preload
type: aggregate
author: Telenor OAuth collection maintainers (@telenor)
version_added: 1.0.0
short_description: Load the telenor_token lookup once, before Ansible forks its workers
description:
  - Ansible runs each host's task in a freshly forked worker process, and each worker loads
    every collection plugin it templates anew (imports and compiles its code, and reads its
    documentation for its options). For a lookup templated on hundreds of hosts, that load costs
    more than the lookup itself, whose warm path only reads one cached file.
  - This callback loads P(telenor.oauth.telenor_token#lookup) once, in the controller's main
    process, when the playbook starts; every worker then inherits it, and the lookup costs about as
    much as P(ansible.builtin.env#lookup).
  - When O(telenor.oauth.telenor_token#lookup:cache_url) is set in the environment or in C(ansible.cfg),
    it also imports the C(redis) Python library once, for the same reason.
  - It changes no output and no behaviour; without it the lookup works the same, only slower on
    large inventories.
notes:
  - Enable it in C(ansible.cfg) with C(callbacks_enabled = telenor.oauth.preload) under
    C([defaults]), or with E(ANSIBLE_CALLBACKS_ENABLED=telenor.oauth.preload).
"""

from ansible.errors import AnsibleError
from ansible.plugins.callback import CallbackBase
from ansible.plugins.loader import lookup_loader

from ansible_collections.telenor.oauth.plugins.module_utils._redis_cache import preload_redis_library


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "telenor.oauth.preload"
    CALLBACK_NEEDS_ENABLED = True

    def v2_playbook_on_start(self, playbook):
        lookup = lookup_loader.get("telenor.oauth.telenor_token")
        # With cache_url set in the environment or ansible.cfg, import the
        # redis library here too: importing it costs more than a warm lookup.
        try:
            lookup.set_options()
            wants_redis = bool(lookup.get_option("cache_url"))
        except AnsibleError:
            return  # a bad option: the lookup reports it when it runs
        if wants_redis:
            preload_redis_library()

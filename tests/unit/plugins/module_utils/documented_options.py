# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Options as a task that sets only some of them sees them.

The rest take the defaults that the doc fragment documents, which is what core's
config layer gives the lookup and what the module's argument spec repeats (sanity's
validate-modules holds those two equal). The shared option code falls back to a
default only for an empty value (an environment variable set to ''), so tests that
build options by hand start from these.
"""

from __future__ import annotations

import typing as t

import yaml

from ansible_collections.telenor.oauth.plugins.doc_fragments.connection import ModuleDocFragment

DOCUMENTED_DEFAULTS: dict[str, t.Any] = {
    name: spec["default"]
    for name, spec in yaml.safe_load(ModuleDocFragment.DOCUMENTATION)["options"].items()
    if "default" in spec
}


def documented_getter(options: dict[str, t.Any]) -> t.Callable[[str], t.Any]:
    """An option getter reading `options`, and the documented default for any option not in it."""
    values = {**DOCUMENTED_DEFAULTS, **options}
    return values.get

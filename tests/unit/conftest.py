# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Make ``ansible_collections.telenor.oauth`` importable from this checkout.

The collection's code imports itself by its full package path. When the
checkout already sits at ``.../ansible_collections/telenor/oauth`` (as under
ansible-test), that tree's root goes on sys.path. Otherwise a private temporary
tree with ``ansible_collections/telenor/oauth`` symlinked to the checkout is
built, so the tests run from any clone, at any path, with nothing installed.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _installed_collections_root() -> str | None:
    namespace_dir = os.path.dirname(REPO_ROOT)
    collections_dir = os.path.dirname(namespace_dir)
    if (
        os.path.basename(REPO_ROOT) == "oauth"
        and os.path.basename(namespace_dir) == "telenor"
        and os.path.basename(collections_dir) == "ansible_collections"
    ):
        return os.path.dirname(collections_dir)
    return None


def _temporary_collections_root() -> str:
    root = tempfile.mkdtemp(prefix="telenor-oauth-unit-")
    namespace_dir = os.path.join(root, "ansible_collections", "telenor")
    os.makedirs(namespace_dir)
    link = os.path.join(namespace_dir, "oauth")
    os.symlink(REPO_ROOT, link)
    owner = os.getpid()

    def remove_tree() -> None:
        # Forked test workers inherit atexit handlers; only the creator cleans up.
        if os.getpid() != owner:
            return
        # Drop the symlink first so that nothing can ever walk into the checkout.
        if os.path.islink(link):
            os.unlink(link)
        shutil.rmtree(root, ignore_errors=True)

    atexit.register(remove_tree)
    return root


def _imported_module_utils() -> str | None:
    try:
        from ansible_collections.telenor.oauth.plugins import module_utils  # pylint: disable=import-outside-toplevel
    except ImportError:
        return None
    return os.path.realpath(list(module_utils.__path__)[0])


def make_collection_importable() -> None:
    """Idempotent: test directories below may call it when pytest skipped this file."""
    expected = os.path.realpath(os.path.join(REPO_ROOT, "plugins", "module_utils"))
    if _imported_module_utils() == expected:
        return
    root = _installed_collections_root() or _temporary_collections_root()
    if root not in sys.path:
        sys.path.insert(0, root)
    imported_from = _imported_module_utils()
    if imported_from != expected:
        raise pytest.UsageError(
            f"ansible_collections.telenor.oauth is imported from {imported_from}, not from this checkout"
            f" ({expected}); remove the other copy from PYTHONPATH"
        )


make_collection_importable()

# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Fixtures: a real redis-server (tests/integration/redis_server.py), started once and stopped afterwards."""

from __future__ import annotations

import shutil

import pytest

pytest.importorskip("redis")

from tests.integration.redis_server import RedisServer  # noqa: E402


@pytest.fixture(scope="session")
def redis_session(tmp_path_factory):
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (Debian package redis-server; scripts/test.sh installs it)")
    server = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield server
    server.stop()


@pytest.fixture
def redis_server(redis_session):
    """The session's Redis, running and empty."""
    if not redis_session.running():
        redis_session.start()
    redis_session.client().flushall()
    yield redis_session


@pytest.fixture(scope="session")
def redis_tls_session(tmp_path_factory):
    """A second redis-server that also listens for TLS, with a CA made for the test."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is not installed (Debian package redis-server; scripts/test.sh installs it)")
    server = RedisServer(tmp_path_factory.mktemp("redis-tls"), tls=True).start()
    yield server
    server.stop()


@pytest.fixture
def redis_tls_server(redis_tls_session):
    """The TLS Redis, running and empty."""
    if not redis_tls_session.running():
        redis_tls_session.start()
    redis_tls_session.client().flushall()
    yield redis_tls_session

# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file is private to the telenor.oauth collection; it is not a public API.

"""An overall deadline for one HTTP attempt, and a bounded read of its answer.

requests' ``timeout`` bounds each socket operation, not the attempt: a server
that sends one byte every half second never trips it (25.8 s for timeout=1,
retries=1, while holding the cache lock). Here every socket an attempt opens
is watched, and shut down when the attempt's time is up; the blocked read then
fails at once and the caller reports "timed out".

Why a watchdog that shuts sockets down, rather than a socket-level check that
sets each operation's timeout to the time left: the blocking calls are made by
code we do not call ourselves (http.client reading the status line and headers
through a buffered file, urllib3, OpenSSL's handshake on the descriptor), so a
per-call check would mean wrapping or patching their internals. A shutdown
from the timer thread wakes whichever of them is blocked. The socket is
watched from the moment connect returns, before urllib3 wraps it in TLS, so
one deadline covers connect, TLS handshake and read (CPython also bounds a
whole handshake by the socket timeout, but then the next read starts afresh).
Connect itself is bounded by requests' connect timeout, the same ``timeout``;
a host name with several addresses gets that much per address.

Imported only on a cache miss, with requests.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import typing as t

# No answer of the token or logout endpoint needs more; a hostile one is cut
# here instead of filling memory (a 200 MB answer took 449 MB).
MAX_RESPONSE_BYTES = 64 * 1024
_CHUNK = 8192

_CURRENT = threading.local()


class AttemptDeadline:
    """Shuts down the sockets of the attempt running in this thread after ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self.expired = False
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def __enter__(self) -> AttemptDeadline:
        _CURRENT.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc_info: t.Any) -> None:
        self._timer.cancel()
        _CURRENT.deadline = None
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()

    def watch(self, sock: socket.socket) -> None:
        # A duplicate descriptor: it stays valid when TLS wraps (and detaches)
        # the original, and shutting it down ends the one connection both share.
        duplicate = socket.socket(fileno=os.dup(sock.fileno()))
        with self._lock:
            self._sockets.append(duplicate)
            if self.expired:
                _shut(duplicate)

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


def _watched_pool_classes() -> dict[str, type]:
    # pylint: disable=import-outside-toplevel
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

    def watched(base: type) -> type:
        class Watched(base):  # type: ignore[misc, valid-type]
            def _new_conn(self):
                sock = super()._new_conn()
                deadline = getattr(_CURRENT, "deadline", None)
                if deadline is not None:
                    deadline.watch(sock)
                return sock

        Watched.__name__ = f"Watched{base.__name__}"
        return Watched

    class WatchedHTTPConnectionPool(HTTPConnectionPool):
        ConnectionCls = watched(HTTPConnection)

    class WatchedHTTPSConnectionPool(HTTPSConnectionPool):
        ConnectionCls = watched(HTTPSConnection)

    return {"http": WatchedHTTPConnectionPool, "https": WatchedHTTPSConnectionPool}


def watched_adapter(requests: t.Any) -> t.Any:
    """A requests transport adapter whose connections the current AttemptDeadline watches."""
    pools = _watched_pool_classes()

    class WatchedAdapter(requests.adapters.HTTPAdapter):
        def init_poolmanager(self, *args: t.Any, **kwargs: t.Any) -> None:
            super().init_poolmanager(*args, **kwargs)
            self.poolmanager.pool_classes_by_scheme = pools

        def proxy_manager_for(self, proxy: str, **kwargs: t.Any) -> t.Any:
            manager = super().proxy_manager_for(proxy, **kwargs)
            if not proxy.lower().startswith("socks"):
                manager.pool_classes_by_scheme = pools
            return manager

    return WatchedAdapter()


def read_bounded(response: t.Any, limit: int = MAX_RESPONSE_BYTES) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of a streamed response body, and whether there was more."""
    body = bytearray()
    for chunk in response.iter_content(chunk_size=_CHUNK):
        body += chunk
        if len(body) > limit:
            return bytes(body[:limit]), True
    return bytes(body), False

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
one deadline covers TLS handshake and reads (CPython bounds a whole handshake
by the socket timeout, but then every read starts afresh). A connect in
progress is not reliably interrupted by a shutdown, so the connection is made
here, each address with only the time left (connect_within). Name resolution
is not bounded.

Imported only on a cache miss, with requests.
"""

from __future__ import annotations

import contextlib
import os
import socket
import sys
import threading
import time
import typing as t

# No answer of the token or logout endpoint needs more; a hostile one is cut
# here instead of filling memory (a 200 MB answer took 449 MB).
MAX_RESPONSE_BYTES = 64 * 1024
_CHUNK = 8192

_CURRENT = threading.local()


class AttemptDeadline:
    """Shuts down the sockets of the attempt running in this thread after ``seconds``."""

    def __init__(self, seconds: float) -> None:
        self._ends = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._shut_down = False
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

    def seconds_left(self) -> float:
        return max(0.0, self._ends - time.monotonic())

    @property
    def cut(self) -> bool:
        """Whether the attempt's sockets were shut down: an answer read since may be cut short."""
        return self._shut_down

    @property
    def expired(self) -> bool:
        # By the clock too, not only once the timer has run: a socket timeout
        # set to the time left may fire a moment before the timer does.
        return self._shut_down or self.seconds_left() <= 0

    def watch(self, sock: socket.socket) -> None:
        # A duplicate descriptor: it stays valid when TLS wraps (and detaches)
        # the original, and shutting it down ends the one connection both share.
        duplicate = socket.socket(fileno=os.dup(sock.fileno()))
        with self._lock:
            self._sockets.append(duplicate)
            if self._shut_down:
                _shut(duplicate)

    def _expire(self) -> None:
        with self._lock:
            self._shut_down = True
            for sock in self._sockets:
                _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)


# Less than this left of an attempt: no new connection is started.
_TOO_LATE = 0.01


def connect_within(deadline: AttemptDeadline, host: str, port: int, *, source_address: t.Any = None,
                   socket_options: t.Any = None) -> socket.socket:
    """A TCP connection to ``host`` made within the attempt's deadline.

    What urllib3's create_connection does, except that each address of the
    name gets only the time left of the attempt, and none is tried once it is
    over: urllib3 gives every address the whole connect timeout, so a name
    with several unreachable addresses cost one timeout per address.
    """
    host = host.strip("[]")  # an IPv6 literal as it appears in a URL
    failure: OSError = socket.timeout("the attempt's deadline passed before a connection was made")
    for family, kind, proto, dummy, address in socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM):
        left = deadline.seconds_left()
        if left < _TOO_LATE:
            break
        sock = socket.socket(family, kind, proto)
        try:
            for option in socket_options or ():
                sock.setsockopt(*option)
            sock.settimeout(left)
            if source_address:
                sock.bind(source_address)
            sock.connect(address)
        except OSError as exc:
            sock.close()
            failure = exc
            continue
        return sock
    raise failure


def _watched_pool_classes() -> dict[str, type]:
    # pylint: disable=import-outside-toplevel
    from urllib3.connection import HTTPConnection, HTTPSConnection
    from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
    from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

    def watched(base: type) -> type:
        class Watched(base):  # type: ignore[misc, valid-type]
            def _new_conn(self):
                deadline = getattr(_CURRENT, "deadline", None)
                if deadline is None:
                    return super()._new_conn()
                # The exceptions urllib3's own _new_conn raises, so that
                # requests reports them as it always does.
                try:
                    sock = connect_within(
                        deadline, getattr(self, "_dns_host", self.host), self.port,
                        source_address=self.source_address, socket_options=self.socket_options,
                    )
                except socket.timeout as exc:
                    raise ConnectTimeoutError(self, f"Connection to {self.host} timed out") from exc
                except OSError as exc:
                    raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc
                sys.audit("http.client.connect", self, self.host, self.port)
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

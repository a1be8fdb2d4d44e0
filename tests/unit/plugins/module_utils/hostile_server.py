# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Hostile HTTP servers on 127.0.0.1 for the client's tests: raw sockets, so that they can
trickle an answer (or a TLS handshake) byte by byte or send more than any client should read.

Each records how much it managed to send before the client hung up, so a test can tell
that the client stopped reading, without timing anything.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
import typing as t


class HostileServer:
    """Answers every connection with ``answer`` (bytes, or an iterable of byte pieces),
    sleeping ``pause`` seconds between pieces."""

    def __init__(self, answer: bytes | t.Callable[[], t.Iterable[bytes]], *, pause: float = 0.0) -> None:
        self._answer = answer
        self._pause = pause
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._stop = threading.Event()
        self.connections = 0
        self.sent: list[int] = []  # bytes sent on each connection before it ended
        self.completed: list[bool] = []  # whether the whole answer went out
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._listener.getsockname()[1]}"

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: t.Any) -> None:
        self._stop.set()
        self._listener.close()

    def _serve(self) -> None:
        self._listener.settimeout(0.05)
        while not self._stop.is_set():
            try:
                connection, dummy = self._listener.accept()
            except (socket.timeout, OSError):
                continue
            self.connections += 1
            threading.Thread(target=self._answer_one, args=(connection,), daemon=True).start()

    def _pieces(self) -> t.Iterable[bytes]:
        if callable(self._answer):
            return self._answer()
        return [self._answer[i:i + 1] for i in range(len(self._answer))] if self._pause else [self._answer]

    def _answer_one(self, connection: socket.socket) -> None:
        sent = 0
        completed = True
        with connection:
            connection.settimeout(5)
            try:
                connection.recv(65536)  # the request; its content does not matter here
                for piece in self._pieces():
                    if self._stop.is_set():
                        completed = False
                        break
                    connection.sendall(piece)
                    sent += len(piece)
                    if self._pause:
                        time.sleep(self._pause)
            except OSError:
                completed = False
        self.sent.append(sent)
        self.completed.append(completed)


def http_answer(status: str, body: bytes, headers: dict[str, str] | None = None) -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close"]
    head += [f"{name}: {value}" for name, value in (headers or {}).items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode("ascii") + body


def endless_body(status: str, total: int, chunk: int = 65536) -> t.Callable[[], t.Iterator[bytes]]:
    """An answer announcing ``total`` bytes of body, made on the fly."""

    def pieces() -> t.Iterator[bytes]:
        yield f"HTTP/1.1 {status}\r\nContent-Length: {total}\r\nContent-Type: application/json\r\n\r\n".encode("ascii")
        left = total
        while left > 0:
            size = min(chunk, left)
            yield b"x" * size
            left -= size

    return pieces


class TrickledTLSHandshakeServer(HostileServer):
    """An HTTPS server whose TLS handshake answer (ServerHello, certificate, ...) goes out
    one byte every ``pause`` seconds, so that no single read by the client ever times out.

    ``certificate`` is (certificate file, key file). ``sent`` and ``completed`` count the
    handshake bytes, ``flight`` records how many there were to send on each connection.
    """

    def __init__(self, certificate: tuple[str, str], *, pause: float) -> None:
        super().__init__(b"", pause=pause)
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(*certificate)
        self.flight: list[int] = []

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self._listener.getsockname()[1]}"

    def _handshake_answer(self, client_hello: bytes) -> bytes:
        # The TLS engine runs on memory buffers, so that its answer can be
        # trickled instead of written to the socket at once.
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        engine = self._context.wrap_bio(incoming, outgoing, server_side=True)
        incoming.write(client_hello)
        try:
            engine.do_handshake()
        except ssl.SSLWantReadError:
            pass  # waiting for the client's next flight, which a trickled answer never lets it send
        return outgoing.read()

    def _answer_one(self, connection: socket.socket) -> None:
        sent = 0
        completed = False
        with connection:
            connection.settimeout(5)
            try:
                answer = self._handshake_answer(connection.recv(65536))
                self.flight.append(len(answer))
                for index in range(len(answer)):
                    if self._stop.is_set():
                        break
                    connection.sendall(answer[index:index + 1])
                    sent += 1
                    time.sleep(self._pause)
                else:
                    completed = True
            except (OSError, ssl.SSLError):
                pass
        self.sent.append(sent)
        self.completed.append(completed)


class UnreachableListener:
    """A loopback address that never completes a TCP handshake, as a firewalled host does:
    a listener whose one-place accept queue is kept full, so that the kernel drops every
    further SYN and a client's connect waits until its own timeout."""

    def __init__(self) -> None:
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(0)
        self._fillers: list[socket.socket] = []

    @property
    def address(self) -> tuple[str, int]:
        return self._listener.getsockname()

    def __enter__(self) -> UnreachableListener:
        for dummy in range(4):  # more than the queue holds, whatever the kernel rounds it to
            filler = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            filler.setblocking(False)
            try:
                filler.connect(self.address)
            except BlockingIOError:
                pass
            self._fillers.append(filler)
        return self

    def __exit__(self, *exc_info: t.Any) -> None:
        for filler in self._fillers:
            filler.close()
        self._listener.close()

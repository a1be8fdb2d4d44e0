# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""A scriptable Telenor OAuth API on 127.0.0.1, real HTTP, for the unit tests.

Each endpoint answers from a queue of scripted replies, then with a default:
a fresh token from ``/oauth/v2/token`` and ``OK!`` from ``/oauth/v2/logout``.
Every request is recorded (method, path, headers, form) in the parent process,
so forked workers that talk to it are counted too.
"""

from __future__ import annotations

import collections
import datetime
import http.server
import ipaddress
import json
import os
import socket
import ssl
import threading
import time
import typing as t
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

TOKEN_PATH = "/oauth/v2/token"
LOGOUT_PATH = "/oauth/v2/logout"

# Distinctive values: if one shows up in a message, it leaked.
CLIENT_ID = "unit-client-7Hq2"
CLIENT_SECRET = "S3cr3t-Zk9:w\u00e6ll-Qp4"  # a colon and a non-ASCII letter, as real secrets may have
TOKEN_PREFIX = "AT-Xv8Lq2"
REFRESH_PREFIX = "RT-Mn5Yc0"


@dataclass
class Reply:
    status: int = 200
    body: bytes | str = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    drop: bool = False  # announce a longer body, send a piece, hang up


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    target: str  # the request line's target: a path, or an absolute URL when we act as a proxy

    @property
    def form(self) -> dict[str, list[str]]:
        return parse_qs(self.body.decode("utf-8"), keep_blank_values=True)


def token_body(access_token: str, expires_in: t.Any = 3600, **extra: t.Any) -> bytes:
    return json.dumps({"access_token": access_token, "expires_in": expires_in, "token_type": "Bearer", **extra}).encode()


class FakeTelenorAPI:
    def __init__(self, *, tls: tuple[str, str] | None = None) -> None:
        """``tls``: (certificate file, key file) to serve HTTPS instead of HTTP."""
        self.seen: list[Seen] = []
        self.token_delay = 0.0
        self.issue_refresh_tokens = False
        self._replies: dict[str, collections.deque[Reply]] = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()
        self._issued = 0
        api = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                api._handle(self)

            do_GET = do_POST  # noqa: N815

            def log_message(self, *args: t.Any) -> None:
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._scheme = "http"
        if tls is not None:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*tls)
            self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
            self._server.handle_error = lambda request, address: None  # refused handshakes are expected
            self._scheme = "https"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        return f"{self._scheme}://127.0.0.1:{self._server.server_port}"

    def start(self) -> FakeTelenorAPI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def reply(self, path: str, status: int = 200, body: bytes | str | dict = b"", **kwargs: t.Any) -> None:
        if isinstance(body, dict):
            body = json.dumps(body)
        self._replies[path].append(Reply(status=status, body=body, **kwargs))

    def requests_to(self, path: str) -> list[Seen]:
        with self._lock:
            return [seen for seen in self.seen if seen.path == path]

    @property
    def token_requests(self) -> list[Seen]:
        return self.requests_to(TOKEN_PATH)

    @property
    def logout_requests(self) -> list[Seen]:
        return self.requests_to(LOGOUT_PATH)

    def _default(self, path: str) -> Reply:
        if path == TOKEN_PATH:
            with self._lock:
                self._issued += 1
                number = self._issued
            extra = {"refresh_token": f"{REFRESH_PREFIX}-{number}"} if self.issue_refresh_tokens else {}
            return Reply(body=token_body(f"{TOKEN_PREFIX}-{number}", **extra), delay=self.token_delay)
        if path == LOGOUT_PATH:
            return Reply(body=b"OK!")
        return Reply(status=404, body=b"not found")

    def _handle(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("Content-Length") or 0)
        body = handler.rfile.read(length) if length else b""
        path = urlsplit(handler.path).path
        with self._lock:
            self.seen.append(Seen(handler.command, path, dict(handler.headers.items()), body, handler.path))
            queued = self._replies[path]
            reply = queued.popleft() if queued else None
        if reply is None:
            reply = self._default(path)
        if reply.delay:
            time.sleep(reply.delay)
        payload = reply.body.encode("utf-8") if isinstance(reply.body, str) else reply.body
        handler.send_response(reply.status)
        for name, value in reply.headers.items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(payload) + (100 if reply.drop else 0)))
        handler.end_headers()
        handler.wfile.write(payload)
        handler.wfile.flush()
        handler.close_connection = True


def closed_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def self_signed_certificate(directory: str) -> tuple[str, str]:
    """Write a certificate for 127.0.0.1 and its key; return their paths."""
    # pylint: disable=import-outside-toplevel
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "telenor-oauth unit test CA")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path = os.path.join(directory, "server.crt")
    key_path = os.path.join(directory, "server.key")
    with open(cert_path, "wb") as handle:
        handle.write(certificate.public_bytes(serialization.Encoding.PEM))
    with open(key_path, "wb") as handle:
        handle.write(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    return cert_path, key_path

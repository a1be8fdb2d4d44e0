# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The Telenor OAuth API of the unit tests: the emulator (tests/emulator), in this process.

The emulator's own state and request handler answer on 127.0.0.1, so tokens, logout and
the errors for bad credentials or unknown tokens are the emulator's. Its one client is
CLIENT_ID:CLIENT_SECRET; ``api.add_client`` adds others, or system users for the password
grant, and ``api.issue_token`` makes a token it knows, as if issued before the test.
This layer adds only what unit tests need and the emulator does not have:

* scripted replies: ``api.reply(path, ...)`` queues answers that take the emulator's place
  for the next requests to that path, for answers no faithful API gives;
* a record of every request (method, path, headers, body), kept in this process, so that
  forked workers that talk to it are counted too;
* tokens numbered in the order they are issued (``AT-Xv8Lq2-1``...), so that a test can
  name the token it expects.
"""

from __future__ import annotations

import base64
import collections
import datetime
import ipaddress
import json
import os
import socket
import ssl
import threading
import typing as t
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

from ....emulator.telenor_emulator import (
    LOGOUT_PATH,
    TOKEN_PATH,
    Client,
    EmulatorHandler,
    EmulatorServer,
    EmulatorState,
)

# Distinctive values: if one shows up in a message, it leaked.
CLIENT_ID = "unit-client-7Hq2"
CLIENT_SECRET = "S3cr3t-Zk9:w\u00e6ll-Qp4"  # a colon and a non-ASCII letter, as real secrets may have
TOKEN_PREFIX = "AT-Xv8Lq2"
REFRESH_PREFIX = "RT-Mn5Yc0"
EXPIRES_IN = 3600


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


def token_body(access_token: str, expires_in: t.Any = EXPIRES_IN, **extra: t.Any) -> bytes:
    return json.dumps({"access_token": access_token, "expires_in": expires_in, "token_type": "Bearer", **extra}).encode()


class _ScriptableHandler(EmulatorHandler):
    """The emulator's handler, which first records the request and plays a scripted reply if one is queued."""

    server: _ScriptableServer

    def _route(self, body: bytes) -> None:
        reply = self.server.api.record_and_take_reply(self, body)
        if reply is None:
            super()._route(body)
        else:
            self._send_scripted(reply)

    def _send_scripted(self, reply: Reply) -> None:
        if reply.delay:
            self.server.stop_event.wait(reply.delay)
        payload = reply.body.encode("utf-8") if isinstance(reply.body, str) else reply.body
        # Only the scripted headers, so that a test controls them all; and a closed connection,
        # which a dropped answer needs anyway.
        self.close_connection = True
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload) + (100 if reply.drop else 0)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(payload)
        self.wfile.flush()


class _ScriptableServer(EmulatorServer):
    handler_class = _ScriptableHandler

    def __init__(self, api: FakeTelenorAPI, *, ssl_context: ssl.SSLContext | None) -> None:
        self.api = api
        super().__init__("127.0.0.1", 0, state=api.state, ssl_context=ssl_context)


class FakeTelenorAPI:
    """The emulator on 127.0.0.1 in a thread of this process, with scripted replies and a record of the requests."""

    def __init__(self, *, tls: tuple[str, str] | None = None) -> None:
        """``tls``: (certificate file, key file) to serve HTTPS instead of HTTP."""
        self.seen: list[Seen] = []
        self._replies: dict[str, collections.deque[Reply]] = collections.defaultdict(collections.deque)
        self._lock = threading.Lock()
        self._issued = 0
        self._chosen: dict[str, str | None] = {}
        self.state = EmulatorState({CLIENT_ID: Client(CLIENT_SECRET)}, expires_in=EXPIRES_IN,
                                   token_factory=self._numbered_token)
        self._server = _ScriptableServer(self, ssl_context=_server_context(tls) if tls else None)
        self._scheme = "https" if tls else "http"
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)

    @property
    def url(self) -> str:
        return f"{self._scheme}://127.0.0.1:{self._server.port}"

    def start(self) -> FakeTelenorAPI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.stop_event.set()  # cuts a delayed reply short
        self._server.shutdown()
        self._server.server_close()

    # the emulator's settings that tests change --------------------------------------

    @property
    def token_delay(self) -> float:
        """Seconds the emulator waits before it answers a token request (its ``latency`` fault)."""
        return self.state.faults_snapshot()["latency"]

    @token_delay.setter
    def token_delay(self, seconds: float) -> None:
        self.state.merge_faults({"latency": seconds})

    @property
    def issue_refresh_tokens(self) -> bool:
        """Whether client-credentials tokens come with a refresh token (the emulator's fault of that name)."""
        return self.state.faults_snapshot()["issue_refresh_token"]

    @issue_refresh_tokens.setter
    def issue_refresh_tokens(self, value: bool) -> None:
        self.state.merge_faults({"issue_refresh_token": value})

    def _numbered_token(self, kind: str) -> str:
        # Called under the state's lock. A refresh token takes the number of the access token
        # issued with it, just before it. A value chosen by issue_token takes no number.
        chosen = self._chosen.pop(kind, None)
        if chosen is not None:
            return chosen
        if kind == "access_token":
            self._issued += 1
            return f"{TOKEN_PREFIX}-{self._issued}"
        return f"{REFRESH_PREFIX}-{self._issued}"

    # what the emulator knows ---------------------------------------------------------

    def add_client(self, client_id: str, client_secret: str = CLIENT_SECRET, *,
                   users: dict[str, str] | None = None) -> None:
        """Make the emulator know this app (or replace it), with these system users for the password grant."""
        self.state.add_client(client_id, Client(client_secret, users=dict(users or {})))

    def issue_token(self, access_token: str | None = None, *, refresh_token: str | None = None,
                    **form: str) -> dict[str, t.Any]:
        """Have the emulator issue a token to CLIENT_ID now, without a request (so not in ``seen``),
        as it did for another process before the test: then a token that a test puts in the cache,
        or asks to revoke, is one the API knows. ``access_token`` and ``refresh_token`` choose the
        values; ``form`` adds to the client-credentials request (scope, or a password grant).
        Returns the emulator's answer. Call it while no request is in flight."""
        self._chosen = {"access_token": access_token, "refresh_token": refresh_token}
        try:
            answer = self.state.token_request(_basic_authorization(CLIENT_ID, CLIENT_SECRET),
                                              {"grant_type": "client_credentials", **form})
        finally:
            self._chosen = {}
        assert isinstance(answer, dict), answer
        assert refresh_token is None or answer.get("refresh_token") == refresh_token, "no refresh token was issued"
        return answer

    # scripted replies and the record --------------------------------------------------

    def reply(self, path: str, status: int = 200, body: bytes | str | dict = b"", **kwargs: t.Any) -> None:
        """Answer the next request to ``path`` with this instead of the emulator's answer."""
        if isinstance(body, dict):
            body = json.dumps(body)
        with self._lock:
            self._replies[path].append(Reply(status=status, body=body, **kwargs))

    def record_and_take_reply(self, handler: EmulatorHandler, body: bytes) -> Reply | None:
        """Record the request; return the scripted reply for it, or None for the emulator's."""
        path = urlsplit(handler.path).path
        with self._lock:
            self.seen.append(Seen(handler.command, path, dict(handler.headers.items()), body, handler.path))
            queued = self._replies[path]
            return queued.popleft() if queued else None

    def requests_to(self, path: str) -> list[Seen]:
        with self._lock:
            return [seen for seen in self.seen if seen.path == path]

    @property
    def token_requests(self) -> list[Seen]:
        return self.requests_to(TOKEN_PATH)

    @property
    def logout_requests(self) -> list[Seen]:
        return self.requests_to(LOGOUT_PATH)


def _basic_authorization(client_id: str, client_secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode("utf-8")).decode("ascii")


def _server_context(tls: tuple[str, str]) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(*tls)
    return context


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

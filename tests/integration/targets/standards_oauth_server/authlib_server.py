# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""A standards OAuth 2.0 server that none of us wrote: Authlib's AuthorizationServer.

client_credentials with client_secret_basic (RFC 6749 sections 4.4 and 2.3.1) at the
Telenor token path, a Bearer-protected resource (RFC 6750) at /resource, and the Telenor
logout (GET with the Bearer token) at /oauth/v2/logout. Served with wsgiref in a thread
on 127.0.0.1. Only the storage glue below is ours; every OAuth answer, error body and
WWW-Authenticate challenge is Authlib's.
"""

from __future__ import annotations

import json
import os
import threading
import time
from socketserver import ThreadingMixIn
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from authlib.common.security import generate_token
from authlib.oauth2 import AuthorizationServer, OAuth2Error, ResourceProtector
from authlib.oauth2.rfc6749 import ClientMixin, OAuth2Payload, OAuth2Request, TokenMixin, grants
from authlib.oauth2.rfc6750 import BearerTokenGenerator, BearerTokenValidator

TOKEN_PATH = "/oauth/v2/token"
LOGOUT_PATH = "/oauth/v2/logout"
RESOURCE_PATH = "/resource"

# Authlib refuses plain http unless told otherwise; this server listens on loopback only.
os.environ["AUTHLIB_INSECURE_TRANSPORT"] = "1"


class Client(ClientMixin):
    def __init__(self, client_id: str, client_secret: str, scopes: tuple[str, ...]) -> None:
        self.client_id = client_id
        self.client_secret = client_secret
        self.scopes = scopes

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return None

    def get_allowed_scope(self, scope):
        if not scope:
            return ""
        return " ".join(item for item in scope.split() if item in self.scopes)

    def check_redirect_uri(self, redirect_uri):
        return False

    def check_client_secret(self, client_secret):
        return client_secret == self.client_secret

    def check_endpoint_auth_method(self, method, endpoint):
        return method == "client_secret_basic"

    def check_response_type(self, response_type):
        return False

    def check_grant_type(self, grant_type):
        return grant_type == "client_credentials"


class Token(TokenMixin):
    def __init__(self, client: Client, data: dict) -> None:
        self.client = client
        self.data = data
        self.issued_at = time.time()
        self.revoked = False

    def check_client(self, client):
        return client.get_client_id() == self.client.client_id

    def get_scope(self):
        return self.data.get("scope", "")

    def get_expires_in(self):
        return self.data["expires_in"]

    def is_expired(self):
        return time.time() > self.issued_at + self.get_expires_in()

    def is_revoked(self):
        return self.revoked

    def get_user(self):
        return None

    def get_client(self):
        return self.client


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic"]


class _Payload(OAuth2Payload):
    def __init__(self, form: dict) -> None:
        self._form = form

    @property
    def data(self):
        return {name: values[0] for name, values in self._form.items()}

    @property
    def datalist(self):
        return self._form


class _Request(OAuth2Request):
    def __init__(self, environ: dict) -> None:
        headers = {key[5:].replace("_", "-").title(): value for key, value in environ.items() if key.startswith("HTTP_")}
        if environ.get("CONTENT_TYPE"):
            headers["Content-Type"] = environ["CONTENT_TYPE"]
        uri = f"http://{environ['HTTP_HOST']}{environ['PATH_INFO']}"
        super().__init__(environ["REQUEST_METHOD"], uri, headers=headers)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length).decode("utf-8") if length else ""
        self._form = parse_qs(body, keep_blank_values=True)
        self.payload = _Payload(self._form)

    @property
    def args(self):
        return {}

    @property
    def form(self):
        return {name: values[0] for name, values in self._form.items()}


class StandardsServer(AuthorizationServer):
    def __init__(self, clients: list[Client]) -> None:
        # Scopes outside this set are refused with invalid_scope (RFC 6749 section 5.2).
        super().__init__(scopes_supported={scope for client in clients for scope in client.scopes})
        self.clients = {client.client_id: client for client in clients}
        self.tokens: dict[str, Token] = {}
        self.token_requests = 0
        self.resource_requests: list[int] = []  # the status of each protected-resource request
        self.register_grant(ClientCredentialsGrant)
        self.register_token_generator("default", BearerTokenGenerator(lambda **kwargs: generate_token(40)))
        self.protector = ResourceProtector()
        server = self

        class Validator(BearerTokenValidator):
            def authenticate_token(self, token_string):
                return server.tokens.get(token_string)

        self.protector.register_token_validator(Validator(realm="standards"))

    # --- the storage glue AuthorizationServer asks its user for ---------------------
    def query_client(self, client_id):
        return self.clients.get(client_id)

    def save_token(self, token, request):
        self.tokens[token["access_token"]] = Token(request.client, token)

    def create_oauth2_request(self, request):
        return request

    def create_json_request(self, request):
        return request

    def handle_response(self, status, body, headers):
        return status, body, headers

    def send_signal(self, name, *args, **kwargs):
        pass

    # --- WSGI ----------------------------------------------------------------------
    def __call__(self, environ, start_response):
        request = _Request(environ)
        path = environ["PATH_INFO"]
        if path == TOKEN_PATH:
            self.token_requests += 1
            status, body, headers = self.create_token_response(request)
        elif path in (RESOURCE_PATH, LOGOUT_PATH):
            status, body, headers = self._protected(request, logout=path == LOGOUT_PATH)
        else:
            status, body, headers = 404, {"error": "not_found"}, []
        payload = json.dumps(body).encode("utf-8") if isinstance(body, dict) else body.encode("utf-8")
        headers = [(name, value) for name, value in headers if name.lower() != "content-type"]
        start_response(f"{status} X", [("Content-Type", "application/json"), *headers])
        return [payload]

    def _protected(self, request, *, logout: bool):
        try:
            token = self.protector.validate_request(None, request)
        except OAuth2Error as error:
            status, body, headers = error()
            if not logout:
                self.resource_requests.append(status)
            return status, dict(body), headers
        if logout:
            token.revoked = True
            return 200, "OK!", []
        self.resource_requests.append(200)
        return 200, {"resource": "protected", "client": token.client.client_id}, []


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


class _ThreadingWSGIServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def serve(clients: list[Client]) -> tuple[StandardsServer, str, callable]:
    """Start the server on 127.0.0.1; return it, its base URL and a stop function."""
    app = StandardsServer(clients)
    httpd = make_server("127.0.0.1", 0, app, server_class=_ThreadingWSGIServer, handler_class=_QuietHandler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    def stop() -> None:
        httpd.shutdown()
        httpd.server_close()

    return app, f"http://127.0.0.1:{httpd.server_port}", stop

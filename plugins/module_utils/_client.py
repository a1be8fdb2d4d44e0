# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file is private to the telenor.oauth collection; it is not a public API.

"""HTTP client for the Telenor OAuth endpoints (token and logout).

``requests`` is imported only when a request is about to be made, so that the
lookup's warm-cache path stays cheap.
"""

from __future__ import annotations

import base64
import datetime
import email.utils
import math
import random
import re
import time
import typing as t
from urllib.parse import urlsplit

from ._errors import (
    CLIENT_CREDENTIALS,
    LOGOUT_ENDPOINT,
    PASSWORD,
    TOKEN_ENDPOINT,
    TelenorAPIError,
    TelenorResponseError,
    TelenorTransportError,
    is_transient_answer,
    missing_library,
)
from ._api_errors import ENDPOINT_ACTIONS, api_error, telenor_error_code
from ._deadline import MAX_RESPONSE_BYTES, AttemptDeadline, read_bounded, watched_adapter
from ._token import TokenRecord
from ._token_response import record_from_response, revocable_token

if t.TYPE_CHECKING:
    from ._options import Settings

TOKEN_PATH = "/oauth/v2/token"
LOGOUT_PATH = "/oauth/v2/logout"

RETRY_BASE_DELAY = 0.5
RETRY_MAX_DELAY = 10.0
RETRY_AFTER_CAP = 30.0


def _is_retryable(endpoint: str, status: int, body: bytes) -> bool:
    """Whether to retry an answer: is_transient_answer, reading the Telenor code only of a 500."""
    # Only the code is needed here; the full error is built once, for the last answer.
    code = telenor_error_code(body, endpoint=endpoint, status=status) if status == 500 else None
    return is_transient_answer(status, code)


def portal_login_kind(client_id: str) -> str | None:
    """The kind of portal login (seed: Connectid username) a client_id looks like, if any."""
    if "@" in client_id:
        return "an e-mail address"
    digits = client_id.replace(" ", "")
    if digits.lstrip("+").isdigit() and 8 <= len(digits.lstrip("+")) <= 15:
        return "a mobile number"
    return None


def basic_authorization(client_id: str, client_secret: str) -> str:
    """The header value ``curl -u client_id:client_secret`` sends (RFC 7617).

    Only the first colon separates the two, so a secret may contain colons.
    """
    raw = f"{client_id}:{client_secret}".encode("utf-8")
    return "Basic " + base64.b64encode(raw).decode("ascii")


def _retry_after_seconds(value: str) -> float:
    """The wait a ``Retry-After`` value asks for; NaN for garbage, so that our own backoff applies."""
    try:
        return float(value.strip())
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
        if when.tzinfo is None:  # "-0000": RFC 5322's unknown zone; HTTP dates are GMT
            when = when.replace(tzinfo=datetime.timezone.utc)
        return when.timestamp() - time.time()
    except (TypeError, ValueError, IndexError, OverflowError):  # garbage, by Python version; a year past datetime's
        return math.nan


def retry_delay(attempt: int, retry_after: str | None) -> float:
    """Seconds to wait before retry number ``attempt`` (1-based).

    A server's ``Retry-After``, in seconds or as an HTTP date (RFC 9110 section
    10.2.3), is honoured up to RETRY_AFTER_CAP; otherwise exponential backoff
    with equal jitter (half the ceiling, plus up to the other half at random),
    capped at RETRY_MAX_DELAY.
    """
    seconds = _retry_after_seconds(retry_after) if retry_after is not None else math.nan
    if not math.isnan(seconds):
        return min(max(seconds, 0.0), RETRY_AFTER_CAP)
    ceiling = min(RETRY_MAX_DELAY, RETRY_BASE_DELAY * (2 ** min(attempt - 1, 32)))
    return ceiling / 2 + random.random() * ceiling / 2


# identity: a compressed answer could expand far beyond the 64 KiB read bound.
_HEADERS = {"Accept": "application/json", "Accept-Encoding": "identity"}


class _Authorization:
    """A requests auth hook that sets our Authorization header.

    Passing ``auth=`` stops requests from applying ~/.netrc credentials, which
    it otherwise does (trust_env) even over an explicit header.
    """

    def __init__(self, value: str) -> None:
        self._value = value

    def __call__(self, request):
        request.headers["Authorization"] = self._value
        return request


def _requests():
    try:
        import requests  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise missing_library("requests", "to talk to the Telenor API") from None
    return requests


# Requests to a loopback host never go through a proxy: HTTP_PROXY would
# otherwise carry the Basic header of an http:// emulator URL in clear to the
# proxy, and the loopback rule of api_url would not hold for the connection
# actually made. None removes the environment's value (requests merge_setting).
_NO_PROXY = {"http": None, "https": None, "all": None}


def _is_loopback_url(url: str) -> bool:
    from ._options import is_loopback  # pylint: disable=import-outside-toplevel

    return is_loopback(urlsplit(url).hostname or "")


def _deadline_passed(requests) -> Exception:
    """The Timeout an attempt ends with when its overall deadline passed."""
    exc = requests.exceptions.Timeout("the attempt's overall deadline passed")
    exc.deadline_passed = True
    return exc


# OpenSSL's library and reason for a failed handshake, as the ssl module words them:
# "[SSL: WRONG_VERSION_NUMBER] ...", "[X509: NO_CERTIFICATE_OR_CRL_FOUND] ..."; OpenSSL 3.2 and
# later word some without a code: "[SSL] record layer failure".
_TLS_REASON = re.compile(r"\[(SSL|X509|PEM): ([A-Z0-9_]{1,64})\]|\[SSL\] ([a-z0-9 ]{1,64}) \(")
# A server or gateway that hung up, or failed, in the middle of the handshake: as passing
# as a dropped connection. Any other reason (a certificate, no TLS version or cipher in
# common, plain HTTP on the port) is the same on every attempt.
_TLS_DROPPED = frozenset({"UNEXPECTED_EOF_WHILE_READING", "TLSV1_ALERT_INTERNAL_ERROR"})


def _tls_reason(exc: Exception) -> tuple[str, str] | tuple[None, None]:
    """OpenSSL's (library, reason) in the error, if it names them."""
    match = _TLS_REASON.search(str(exc))
    if match is None:
        return None, None
    return (match.group(1), match.group(2)) if match.group(1) else ("SSL", match.group(3))


def _tls_handshake_dropped(exc: Exception) -> bool:
    reason = _tls_reason(exc)[1]
    return reason in _TLS_DROPPED or (reason is None and "EOF occurred in violation of protocol" in str(exc))


def _tls_failure_words(exc: Exception, ca_path: str | None) -> str:
    text = str(exc)
    if "Hostname mismatch" in text or "doesn't match" in text:
        return "TLS certificate verification failed: the server's certificate is not for api_url's host name"
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        if ca_path:
            return (
                f"TLS certificate verification failed: no CA in ca_path {ca_path!r} signed the server's certificate"
                " (give the CA that did: the API's, or your TLS-inspecting proxy's)"
            )
        return "TLS certificate verification failed (set ca_path to your CA bundle, or validate_certs=false only for testing)"
    library, reason = _tls_reason(exc)
    if library in ("X509", "PEM"):
        return (
            f"the CA bundle in ca_path could not be loaded ({library}: {reason}): it must hold PEM certificates"
            " (-----BEGIN CERTIFICATE-----)"
        )
    if reason == "TLSV1_ALERT_INTERNAL_ERROR":
        return (
            "the server failed the TLS handshake with an internal_error alert; if it persists, check api_url's"
            " host name (some servers answer so for a name they have no certificate for)"
        )
    if _tls_handshake_dropped(exc):
        return f"the server dropped the connection during the TLS handshake ({reason or 'EOF'})"
    return (
        f"the TLS handshake failed ({reason or type(exc).__name__}): check that api_url's scheme and port are"
        " those of the API's HTTPS, and that it speaks TLS 1.2 or later"
    )


def _malformed_answer(exc: Exception) -> str | None:
    """What http.client could not parse in an answer (requests calls it a ConnectionError), never
    quoting the server's bytes; None for a fault of the connection itself."""
    import http.client  # pylint: disable=import-outside-toplevel  # loaded by requests already

    causes = list(exc.args)  # requests' ConnectionError wraps urllib3's ProtocolError, which wraps http.client's
    for cause in causes:
        if isinstance(cause, http.client.RemoteDisconnected):  # a dropped connection, not a bad answer
            return None
        if isinstance(cause, http.client.LineTooLong):
            return "a line longer than http.client reads"
        if isinstance(cause, http.client.BadStatusLine):  # its text is the server's line: not shown
            return "no HTTP status line"
        if type(cause) is http.client.HTTPException:  # pylint: disable=unidiomatic-typecheck
            return "more header lines than http.client reads" if "headers" in str(cause) else "HTTPException"
        if isinstance(cause, BaseException) and len(causes) < 16:  # bounded: no library nests deeper
            causes.extend(cause.args)
    return None


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it wraps: requests' errors hold urllib3's in args, urllib3's hold the
    socket's error as ``reason`` or ``__cause__``. Bounded: no library nests deeper."""
    found: list[BaseException] = [exc]
    index = 0
    while index < len(found) < 16:  # breadth first: found grows as it is read
        cause = found[index]
        index += 1
        for inner in (*getattr(cause, "args", ()), getattr(cause, "reason", None), cause.__cause__, cause.__context__):
            if isinstance(inner, BaseException) and all(inner is not known for known in found):
                found.append(inner)
    return found


def _host_and_port(api_url: str) -> str:
    """api_url's host:port as a connection uses it (the scheme's port when none is written)."""
    parts = urlsplit(api_url)
    host = parts.hostname or ""
    try:
        port = parts.port or (80 if parts.scheme == "http" else 443)
    except ValueError:  # api_url is checked before any request; this only keeps the message safe
        port = "?"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _connection_failure_words(exc: Exception, api_url: str) -> str:
    """A connection that failed before any answer: refused, or closed by the server unanswered."""
    import http.client  # pylint: disable=import-outside-toplevel  # loaded by requests already

    causes = _causes(exc)
    if api_url and any(isinstance(cause, ConnectionRefusedError) for cause in causes):
        return (
            f"could not connect: nothing accepted the connection at {_host_and_port(api_url)} (connection refused);"
            " check api_url's host and port"
        )
    closed = (http.client.RemoteDisconnected, ConnectionResetError, ConnectionAbortedError, BrokenPipeError)
    if api_url and any(isinstance(cause, closed) for cause in causes):
        words = f"the server at {_host_and_port(api_url)} closed the connection without any answer"
        # A TLS server that gets plain HTTP hangs up without a word: the usual cause on http://.
        if urlsplit(api_url).scheme == "http":
            words += "; if api_url says http:// where the server speaks HTTPS, use https://"
        return words
    return "could not connect, or the connection was dropped"


def _transport_message(
    exc: Exception, action: str, *, deadline_passed: bool = False, timeout: float = 0, ca_path: str | None = None,
    api_url: str = "",
) -> str:
    requests = _requests()
    if deadline_passed:
        why = f"timed out: no complete answer within {timeout:g} s (see the timeout option)"
    elif isinstance(exc, requests.exceptions.SSLError):
        why = _tls_failure_words(exc, ca_path)
    elif isinstance(exc, requests.exceptions.ConnectTimeout):
        why = "timed out connecting"
    elif isinstance(exc, requests.exceptions.Timeout):
        why = "timed out waiting for the answer (see the timeout option)"
    elif isinstance(exc, requests.exceptions.ProxyError):
        why = "the proxy refused or failed the connection"
    elif isinstance(exc, requests.exceptions.ConnectionError) and _malformed_answer(exc):
        why = f"the answer was not HTTP that could be read ({_malformed_answer(exc)}): a proxy or gateway in the way?"
    elif isinstance(exc, requests.exceptions.ConnectionError):
        why = _connection_failure_words(exc, api_url)
    elif isinstance(exc, requests.exceptions.ChunkedEncodingError):
        why = "the connection was dropped in the middle of the answer"
    else:
        why = type(exc).__name__
    return f"Telenor {action} failed: {why}"


# What the portal-login check adds, true under each grant: with the password
# grant a login does belong in the form, but only a system user's, never in client_id.
_PORTAL_LOGIN_IS_NOT = {
    CLIENT_CREDENTIALS: "they are not API credentials",
    PASSWORD: (
        "a login is never the client_id (the app's Consumer Key); the system user's login goes in"
        " username and password"
    ),
}


class TelenorClient:
    """Talks to ``{api_url}/oauth/v2/token`` and ``{api_url}/oauth/v2/logout``."""

    def __init__(self, settings: Settings, *, sleep: t.Callable[[float], None] = time.sleep) -> None:
        self.settings = settings
        self.api_url = settings.api_url
        self.verify: bool | str = (
            settings.ca_path if (settings.validate_certs and settings.ca_path) else settings.validate_certs
        )
        self._sleep = sleep
        self._session = None
        self._proxies = _NO_PROXY if _is_loopback_url(self.api_url) else None

    def __repr__(self) -> str:
        return f"TelenorClient(api_url={self.api_url!r}, client_id={self.settings.client_id!r})"

    def _http(self):
        if self._session is None:
            requests = _requests()
            session = requests.Session()
            # Proxies come from HTTPS_PROXY/HTTP_PROXY/NO_PROXY (trust_env);
            # ~/.netrc is kept out by the explicit auth= of each request.
            session.trust_env = True
            adapter = watched_adapter(requests)
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            if self.verify is False:
                import urllib3  # pylint: disable=import-outside-toplevel

                urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            self._session = session
        return self._session

    def _attempt(self, method: str, path: str, **kwargs: t.Any) -> tuple[t.Any, bytes, bool]:
        """One request under an overall deadline: (response, body, whether the body was cut)."""
        requests = _requests()
        with AttemptDeadline(self.settings.timeout) as deadline:
            try:
                response = self._http().request(
                    method,
                    self.api_url + path,
                    timeout=self.settings.timeout,
                    verify=self.verify,
                    allow_redirects=False,
                    stream=True,
                    proxies=self._proxies,
                    **kwargs,
                )
                try:
                    # Read the body here, bounded, so that a connection dropped
                    # mid-body is a transport error we can retry.
                    body, truncated = read_bounded(response)
                finally:
                    response.close()
            except requests.exceptions.RequestException as exc:
                if deadline.expired:
                    raise _deadline_passed(requests) from exc
                raise
            finally:
                # No connection outlives its attempt: a kept-alive one would be
                # reused by the next attempt without a deadline watching it.
                self._drop_session()
            if deadline.cut:
                # The answer was cut short by the deadline, even if it looked complete. Only
                # a real cut counts: an answer read in full just as the clock ran out is kept,
                # since a token it carries would otherwise stay live and unknown.
                raise _deadline_passed(requests)
        return response, body, truncated

    def _drop_session(self) -> None:
        if self._session is not None:
            self._session.close()
            self._session = None

    def _send(self, endpoint: str, method: str, path: str, **kwargs: t.Any) -> tuple[int, bytes, int, t.Any]:
        """Send with retries on transient faults; return (status, body, attempts made, headers)."""
        requests = _requests()
        action = f"{ENDPOINT_ACTIONS[endpoint]} to {self.api_url}"
        attempts = self.settings.retries + 1
        for attempt in range(1, attempts + 1):
            try:
                response, body, truncated = self._attempt(method, path, **kwargs)
            except requests.exceptions.SSLError as exc:
                if not _tls_handshake_dropped(exc):
                    # A certificate problem, or a TLS the server and we do not share, stays on retrying.
                    message = _transport_message(exc, action, ca_path=self.settings.ca_path)
                    raise TelenorTransportError(message, attempts=attempt) from None
                self._wait_or_give_up(exc, action, attempt, attempts)
                continue
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout,
                    requests.exceptions.ChunkedEncodingError) as exc:
                self._wait_or_give_up(exc, action, attempt, attempts)
                continue
            except requests.exceptions.RequestException as exc:
                raise TelenorTransportError(_transport_message(exc, action), attempts=attempt) from None
            if truncated and response.status_code == 200:
                raise TelenorResponseError(
                    f"The Telenor {action} answered 200 with more than {MAX_RESPONSE_BYTES // 1024} KiB;"
                    " no token response is that large (a proxy or portal page?)"
                )
            if attempt < attempts and _is_retryable(endpoint, response.status_code, body):
                self._sleep(retry_delay(attempt, response.headers.get("Retry-After")))
                continue
            return response.status_code, body, attempt, response.headers
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait_or_give_up(self, exc: Exception, action: str, attempt: int, attempts: int) -> None:
        """After a passing transport fault: wait for the next attempt, or raise when this was the last."""
        if attempt == attempts:
            passed = getattr(exc, "deadline_passed", False)
            message = _transport_message(
                exc, action, deadline_passed=passed, timeout=self.settings.timeout, api_url=self.api_url,
            )
            raise TelenorTransportError(
                f"{message} (gave up after {attempt} attempt{'s' if attempt > 1 else ''})",
                attempts=attempt,
                retryable=True,
            ) from None
        self._sleep(retry_delay(attempt, None))

    def _redacted_values(self, *values: str | None) -> tuple[str, ...]:
        """What an error excerpt must never show: the secret, its Basic forms, the given
        tokens and secrets. safe_excerpt masks each in every encoding a server may echo."""
        basic = basic_authorization(self.settings.client_id, self.settings.client_secret)
        return tuple(value for value in (self.settings.client_secret, basic, basic.partition(" ")[2], *values) if value)

    def request_token(self, scope: str | None = None) -> TokenRecord:
        """Obtain a new token with this client's grant: client credentials (RFC 6749
        section 4.4) or a system user's password (section 4.3)."""
        data = {"grant_type": self.settings.grant_type}
        if self.settings.grant_type == PASSWORD:
            data["username"] = self.settings.username or ""
            data["password"] = self.settings.password or ""
        if scope:
            data["scope"] = scope
        return self._token_request(data, scope)

    def refresh_token(self, refresh_token: str, scope: str | None = None) -> TokenRecord:
        """Renew a token with the refresh-token grant (RFC 6749 section 6)."""
        data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
        if scope:
            data["scope"] = scope
        return self._token_request(data, scope)

    def _token_request(self, data: dict[str, str], scope: str | None) -> TokenRecord:
        requested_at = time.time()
        authorization = basic_authorization(self.settings.client_id, self.settings.client_secret)
        status, body, attempts, headers = self._send(
            TOKEN_ENDPOINT,
            "POST",
            TOKEN_PATH,
            data=data,
            auth=_Authorization(authorization),
            headers=_HEADERS,
        )
        if status != 200:
            success = 200 < status < 300
            error = api_error(
                # A success's body may carry a token in any shape (form-encoded, accessToken, ...): never quoted.
                TOKEN_ENDPOINT, status, b"" if success else body, attempts=attempts,
                www_authenticate=headers.get("WWW-Authenticate"),
                redact=self._redacted_values(authorization, data.get("refresh_token"), self.settings.password,
                                             revocable_token(body)),
                grant_type=self.settings.grant_type,
            )
            if success:
                error = type(error)(
                    f"{error.message} (a success status, but a token answer is a 200, RFC 6749 section 5.1;"
                    " its body is not shown, as it may carry a token)",
                    status=error.status, code=error.code, attempts=error.attempts,
                )
            notes = self._rejected_client_notes(status, error)
            # A 201 or another success that is not RFC 6749's 200 may have minted a token too.
            outcome = self._revoke_carried_token(body) if success else None
            if notes or outcome:
                oauth_name = error.oauth_error
                message = error.message + "".join(f". {note}" for note in notes) + (f"; {outcome}" if outcome else "")
                error = type(error)(message, status=error.status, code=error.code, attempts=error.attempts)
                error.oauth_error = oauth_name
            raise error
        try:
            return record_from_response(body, requested_at=requested_at, requested_scope=scope)
        except TelenorResponseError as exc:
            # A 200 we refuse may still have minted a live token: revoke it, or
            # every host that retries leaves one more behind. The error never
            # names the token.
            outcome = self._revoke_carried_token(body)
            if outcome is None:
                raise
            raise TelenorResponseError(f"{exc.message}; {outcome}") from None

    def _rejected_client_notes(self, status: int, error: TelenorAPIError) -> list[str]:
        """What the settings themselves suggest about an app the token endpoint refused."""
        if status != 401 or not (error.code in (1, 22) or error.oauth_error == "invalid_client"):
            return []
        notes = []
        looks_like = portal_login_kind(self.settings.client_id)
        if looks_like:
            notes.append(
                f"The client_id looks like {looks_like}: that is how Connectid logins look,"
                f" and {_PORTAL_LOGIN_IS_NOT[self.settings.grant_type]}"
            )
        elif error.code == 1:
            notes.append("Check too that client_id and client_secret are not swapped")
        user_looks_like = portal_login_kind(self.settings.username or "") if self.settings.grant_type == PASSWORD else None
        if user_looks_like:
            notes.append(
                f"The username looks like {user_looks_like}: that is how a person's Connectid or Min Bedrift"
                " login looks, and a system user is not a person"
            )
        secret = self.settings.client_secret
        if secret != secret.strip():
            notes.append(
                "The client_secret begins or ends with spaces or a line break, which are sent as part of it"
                " (a secret vaulted with Enter before Ctrl-D ends with one); remove them"
            )
        return notes

    def _revoke_carried_token(self, body: bytes) -> str | None:
        """Revoke the token an answer we refuse carried, if any; what happened, in words."""
        token = revocable_token(body)
        if token is None:
            return None
        if self.revoke_quietly(token):
            return "the token it carried was revoked"
        return "revoking the token it carried failed too, so it stays valid until it expires"

    def revoke(self, access_token: str) -> bool:
        """Revoke a token. True when revoked now, False when it was already invalid."""
        status, body, attempts, headers = self._send(
            LOGOUT_ENDPOINT,
            "GET",
            LOGOUT_PATH,
            auth=_Authorization(f"Bearer {access_token}"),
            headers={"Accept-Encoding": "identity"},
        )
        if status == 200:
            return True
        error = api_error(
            LOGOUT_ENDPOINT, status, body, attempts=attempts, www_authenticate=headers.get("WWW-Authenticate"),
            redact=self._redacted_values(access_token),
        )
        if status == 401 and error.code == 2:
            return False
        raise error

    def revoke_quietly(self, access_token: str) -> bool:
        """Best effort, for a token nobody will keep: True when it is no longer live
        (revoked now, or already invalid), False when the logout failed."""
        try:
            self.revoke(access_token)
        except Exception:  # pylint: disable=broad-exception-caught  # the caller's own error is the one to report
            return False
        return True

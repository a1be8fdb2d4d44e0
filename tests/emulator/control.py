#!/usr/bin/env python
"""Client and process helper for the Telenor OAuth emulator (``telenor_emulator.py``).

In Python (pytest fixtures)::

    with Emulator().start(tls=True) as emu:
        emu.faults(fail_next=1)
        ...                       # point the code under test at emu.url, emu.ca_path
        assert emu.stats()["token_requests"] == 2

From a shell::

    URL=$(python tests/emulator/control.py start --state-dir ~/.cache/telenor-emulator)
    python tests/emulator/control.py faults '{"rate_limit_next": 1}' --state-dir ~/.cache/telenor-emulator
    python tests/emulator/control.py stats --state-dir ~/.cache/telenor-emulator
    python tests/emulator/control.py stop --state-dir ~/.cache/telenor-emulator

Standard library only.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shutil
import signal
import ssl
import stat
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

EMULATOR_SCRIPT = Path(__file__).resolve().with_name("telenor_emulator.py")
# Generous: an exit is seen at once, and on two loaded cores a start that takes 0.1 s
# when idle was once measured past 10 s.
START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0
URL_ENV = "TELENOR_EMULATOR_URL"
CA_ENV = "TELENOR_EMULATOR_CA"

Clients = Mapping[str, str] | Iterable[tuple[str, str]]
# System users of the password grant: (client_id, username, password) triples.
Users = Iterable[tuple[str, str, str]]


class EmulatorError(RuntimeError):
    """The emulator could not be started, stopped or controlled."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    headers: dict[str, str]  # names lower-cased
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


# --------------------------------------------------------------------------- HTTP client


def build_opener(ca_path: str | Path | None) -> urllib.request.OpenerDirector:
    """An opener that ignores proxy variables (loopback must never go through a proxy)."""
    handlers: list[urllib.request.BaseHandler] = [urllib.request.ProxyHandler({})]
    if ca_path is not None:
        handlers.append(urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=str(ca_path))))
    return urllib.request.build_opener(*handlers)


def basic_authorization(client_id: str, client_secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{client_secret}".encode()).decode()


class ControlClient:
    """Talks to a running emulator: the OAuth endpoints and the ``/_emulator/`` control API."""

    def __init__(self, url: str, *, ca_path: str | Path | None = None, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.ca_path = ca_path
        self.timeout = timeout
        self._opener = build_opener(ca_path)

    def request(self, method: str, path: str, *, body: bytes | None = None,
                headers: Mapping[str, str] | None = None) -> HttpResponse:
        """Any request; HTTP errors are returned, not raised."""
        if body is None and method in ("POST", "PUT", "PATCH"):
            body = b""
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=dict(headers or {}))
        try:
            with self._opener.open(req, timeout=self.timeout) as resp:
                return HttpResponse(resp.status, _lower_headers(resp.headers.items()), resp.read())
        except urllib.error.HTTPError as exc:
            with exc:
                return HttpResponse(exc.code, _lower_headers(exc.headers.items()), exc.read())

    def control(self, method: str, name: str, payload: Mapping[str, Any] | None = None) -> Any:
        """Call ``/_emulator/<name>`` and return its JSON; raise EmulatorError unless 2xx."""
        body = None if payload is None else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        try:
            resp = self.request(method, f"/_emulator/{name}", body=body, headers=headers)
        except OSError as exc:
            raise EmulatorError(f"{method} {self.url}/_emulator/{name} failed: {exc}") from exc
        if not 200 <= resp.status < 300:
            raise EmulatorError(f"{method} /_emulator/{name} answered {resp.status}: {resp.text}")
        return resp.json()

    # control API
    def health(self) -> dict[str, Any]:
        return self.control("GET", "health")

    def stats(self) -> dict[str, Any]:
        return self.control("GET", "stats")

    def reset(self) -> None:
        self.control("POST", "reset")

    def faults(self, **faults: Any) -> dict[str, Any]:
        """Merge faults (see README.md); returns all current faults. No arguments: just read them."""
        return self.control("POST", "faults", faults) if faults else self.control("GET", "faults")

    def clear_faults(self) -> dict[str, Any]:
        return self.control("POST", "faults/clear")

    def expire(self, token: str | None = None) -> int:
        """Expire one token now, or every token; returns how many live tokens expired."""
        return self.control("POST", "expire", {} if token is None else {"token": token})["expired"]

    def add_client(self, client_id: str, client_secret: str, scopes: Sequence[str] | None = None, *,
                   users: Mapping[str, str] | None = None, grants: Sequence[str] | None = None) -> None:
        payload: dict[str, Any] = {"client_id": client_id, "client_secret": client_secret,
                                   "scopes": None if scopes is None else list(scopes)}
        if users is not None:
            payload["users"] = dict(users)
        if grants is not None:
            payload["grants"] = list(grants)
        self.control("POST", "clients", payload)

    def shutdown(self) -> None:
        self.control("POST", "shutdown")

    # OAuth endpoints
    def request_token(self, client_id: str, client_secret: str, *, grant_type: str = "client_credentials",
                      scope: str | None = None, refresh_token: str | None = None,
                      username: str | None = None, password: str | None = None) -> HttpResponse:
        form = {"grant_type": grant_type}
        if username is not None:
            form["username"] = username
        if password is not None:
            form["password"] = password
        if scope is not None:
            form["scope"] = scope
        if refresh_token is not None:
            form["refresh_token"] = refresh_token
        headers = {"Authorization": basic_authorization(client_id, client_secret),
                   "Content-Type": "application/x-www-form-urlencoded"}
        return self.request("POST", "/oauth/v2/token", body=urllib.parse.urlencode(form).encode(), headers=headers)

    def logout(self, token: str) -> HttpResponse:
        return self.request("GET", "/oauth/v2/logout", headers={"Authorization": f"Bearer {token}"})

    def is_token_valid(self, token: str) -> bool:
        """True if the protected resource accepts the token, False on 401."""
        resp = self.request("GET", "/v1/protected", headers={"Authorization": f"Bearer {token}"})
        if resp.status in (200, 401):
            return resp.status == 200
        raise EmulatorError(f"protected resource answered {resp.status}: {resp.text}")

    def token_owner(self, token: str) -> dict[str, Any] | None:
        """What the protected resource says about a token (client_id, scope, username), None on 401."""
        resp = self.request("GET", "/v1/protected", headers={"Authorization": f"Bearer {token}"})
        if resp.status == 401:
            return None
        if resp.status != 200:
            raise EmulatorError(f"protected resource answered {resp.status}: {resp.text}")
        return resp.json()


def _lower_headers(items: Iterable[tuple[str, str]]) -> dict[str, str]:
    return {name.lower(): value for name, value in items}


# --------------------------------------------------------------------------- process helpers


def client_args(clients: Clients | None) -> list[str]:
    pairs = clients.items() if isinstance(clients, Mapping) else (clients or ())
    return [arg for client_id, secret in pairs for arg in ("--client", f"{client_id}:{secret}")]


def client_scopes_args(client_scopes: Mapping[str, Sequence[str]] | None) -> list[str]:
    return [arg for client_id, scopes in (client_scopes or {}).items()
            for arg in ("--client-scopes", f"{client_id}={','.join(scopes)}")]


def user_args(users: Users | None) -> list[str]:
    return [arg for client_id, username, password in (users or ())
            for arg in ("--user", f"{client_id}:{username}:{password}")]


def client_grants_args(client_grants: Mapping[str, Sequence[str]] | None) -> list[str]:
    return [arg for client_id, grants in (client_grants or {}).items()
            for arg in ("--client-grants", f"{client_id}={','.join(grants)}")]


def server_command(*, port_file: Path, host: str = "127.0.0.1", port: int = 0, tls: bool = False,
                   cert_dir: Path | None = None, pid_file: Path | None = None, clients: Clients | None = None,
                   client_scopes: Mapping[str, Sequence[str]] | None = None, expires_in: int | None = None,
                   verbose: bool = False, extra_args: Sequence[str] = (), python: str = sys.executable,
                   script: Path = EMULATOR_SCRIPT, users: Users | None = None,
                   client_grants: Mapping[str, Sequence[str]] | None = None) -> list[str]:
    """The argv that starts the emulator with these settings."""
    command = [python, str(script), "--host", host, "--port", str(port), "--port-file", str(port_file)]
    if pid_file is not None:
        command += ["--pid-file", str(pid_file)]
    if tls:
        command += ["--tls", "--cert-dir", str(cert_dir)]
    command += client_args(clients) + client_scopes_args(client_scopes)
    command += user_args(users) + client_grants_args(client_grants)
    if expires_in is not None:
        command += ["--expires-in", str(expires_in)]
    if verbose:
        command.append("--verbose")
    return command + list(extra_args)


def base_url(host: str, port: int, *, tls: bool) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{'https' if tls else 'http'}://{shown}:{port}"


def wait_for_port_file(port_file: Path, process: subprocess.Popen[bytes], timeout: float,
                       log_path: Path | None = None) -> int:
    """Wait until the emulator has written its port; fail early if it exits."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            return int(port_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            pass
        if process.poll() is not None:
            raise EmulatorError(f"emulator exited with {process.returncode} before listening{_log_tail(log_path)}")
        time.sleep(0.02)
    raise EmulatorError(f"emulator did not write {port_file} within {timeout:g}s{_log_tail(log_path)}")


def _log_tail(log_path: Path | None, lines: int = 20) -> str:
    if log_path is None or not log_path.exists():
        return ""
    tail = log_path.read_text(errors="replace").splitlines()[-lines:]
    return ":\n" + "\n".join(tail) if tail else ""


class Emulator:
    """An emulator subprocess on loopback, for pytest fixtures and scripts."""

    def __init__(self, *, host: str = "127.0.0.1", python: str = sys.executable,
                 script: Path = EMULATOR_SCRIPT) -> None:
        self.host = host
        self.python = python
        self.script = script
        self.process: subprocess.Popen[bytes] | None = None
        self.workdir: Path | None = None
        self.port: int | None = None
        self.url: str | None = None
        self.ca_path: Path | None = None
        self._client: ControlClient | None = None
        self._own_workdir = False

    def start(self, *, tls: bool = False, clients: Clients | None = None,
              client_scopes: Mapping[str, Sequence[str]] | None = None, expires_in: int | None = None,
              extra_args: Sequence[str] = (), verbose: bool = False, workdir: str | Path | None = None,
              timeout: float = START_TIMEOUT, users: Users | None = None,
              client_grants: Mapping[str, Sequence[str]] | None = None) -> Emulator:
        """Start the emulator and wait until it listens. ``workdir`` is kept; a temporary one is removed."""
        if self.process is not None:
            raise EmulatorError("emulator already started")
        self._own_workdir = workdir is None
        self.workdir = Path(tempfile.mkdtemp(prefix="telenor-emulator-") if workdir is None else workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        port_file = self.workdir / "port"
        port_file.unlink(missing_ok=True)
        command = server_command(
            port_file=port_file, host=self.host, tls=tls, cert_dir=self.workdir / "certs",
            pid_file=self.workdir / "pid", clients=clients, client_scopes=client_scopes, expires_in=expires_in,
            verbose=verbose, extra_args=extra_args, python=self.python, script=self.script,
            users=users, client_grants=client_grants,
        )
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        try:
            self.port = wait_for_port_file(port_file, self.process, timeout, self.log_path)
        except BaseException:
            self.stop()
            raise
        self.url = base_url(self.host, self.port, tls=tls)
        self.ca_path = self.workdir / "certs" / "ca.pem" if tls else None
        self._client = ControlClient(self.url, ca_path=self.ca_path)
        return self

    @property
    def log_path(self) -> Path:
        assert self.workdir is not None, "emulator not started"
        return self.workdir / "emulator.log"

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    @property
    def client(self) -> ControlClient:
        if self._client is None:
            raise EmulatorError("emulator not started")
        return self._client

    def stats(self) -> dict[str, Any]:
        return self.client.stats()

    def reset(self) -> None:
        self.client.reset()

    def faults(self, **faults: Any) -> dict[str, Any]:
        return self.client.faults(**faults)

    def clear_faults(self) -> dict[str, Any]:
        return self.client.clear_faults()

    def expire(self, token: str | None = None) -> int:
        return self.client.expire(token)

    def add_client(self, client_id: str, client_secret: str, scopes: Sequence[str] | None = None, *,
                   users: Mapping[str, str] | None = None, grants: Sequence[str] | None = None) -> None:
        self.client.add_client(client_id, client_secret, scopes, users=users, grants=grants)

    def is_token_valid(self, token: str) -> bool:
        return self.client.is_token_valid(token)

    def token_owner(self, token: str) -> dict[str, Any] | None:
        return self.client.token_owner(token)

    def request_token(self, client_id: str, client_secret: str, **kwargs: Any) -> HttpResponse:
        return self.client.request_token(client_id, client_secret, **kwargs)

    def stop(self, timeout: float = STOP_TIMEOUT) -> int | None:
        """SIGTERM, wait (SIGKILL after ``timeout``); return the exit code. Idempotent."""
        process, self.process, self._client = self.process, None, None
        returncode = None
        if process is not None:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            returncode = process.returncode
        if self._own_workdir and self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None
        return returncode

    def __enter__(self) -> Emulator:
        if self.process is None:
            self.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------- detached (shell scripts)


def _process_alive(pid: int) -> bool:
    """True if ``pid`` runs (not a zombie) and, where /proc says so, is an emulator."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    proc = Path(f"/proc/{pid}")
    if proc.is_dir():
        try:
            if proc.joinpath("stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                return False
            return EMULATOR_SCRIPT.name.encode() in proc.joinpath("cmdline").read_bytes()
        except (OSError, IndexError):
            return False
    return True


def running_pid(state_dir: Path) -> int | None:
    try:
        pid = int((state_dir / "pid").read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return pid if _process_alive(pid) else None


def make_private_dir(state_dir: Path) -> None:
    """Make ``state_dir`` (0700) or check that it is a directory that only we can write."""
    state_dir.parent.mkdir(parents=True, exist_ok=True)
    try:
        state_dir.mkdir(mode=0o700)
    except FileExistsError:
        pass
    check_private_dir(state_dir)


def check_private_dir(state_dir: Path) -> None:
    """Raise unless ``state_dir`` is a directory that only we can write.

    The emulator writes its port, pid, log and the CA that clients trust there, as whoever
    runs it (root, say), and the other commands signal the pid and trust the URL and the CA
    found there: in a directory that another user made first (/tmp/emu), links would send
    those writes to any file, and a pid, URL or CA of theirs would be used.
    """
    try:
        info = os.lstat(state_dir)
    except FileNotFoundError:
        return  # nothing of anyone's to trust: the command says there is no emulator
    problem = None
    if stat.S_ISLNK(info.st_mode):
        problem = "is a symbolic link"
    elif not stat.S_ISDIR(info.st_mode):
        problem = "is not a directory"
    elif info.st_uid != os.geteuid():
        problem = f"belongs to uid {info.st_uid}"
    elif info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        problem = f"has mode {stat.S_IMODE(info.st_mode):04o}"
    if problem is not None:
        raise EmulatorError(
            f"state dir {state_dir} {problem}; give a directory that only you can write, such as a new one"
            " under your home (it is made with mode 0700)"
        )


def start_detached(state_dir: Path, *, tls: bool = False, host: str = "127.0.0.1", port: int = 0,
                   clients: Clients | None = None, client_scopes: Mapping[str, Sequence[str]] | None = None,
                   expires_in: int | None = None, verbose: bool = False, timeout: float = START_TIMEOUT,
                   users: Users | None = None, client_grants: Mapping[str, Sequence[str]] | None = None) -> str:
    """Start an emulator that outlives this process; write DIR/port, DIR/pid, DIR/url; return the URL."""
    make_private_dir(state_dir)
    pid = running_pid(state_dir)
    if pid is not None:
        raise EmulatorError(f"an emulator (pid {pid}) is already running for {state_dir}")
    for name in ("port", "pid", "url"):
        (state_dir / name).unlink(missing_ok=True)
    log_path = state_dir / "emulator.log"
    command = server_command(port_file=state_dir / "port", host=host, port=port, tls=tls,
                             cert_dir=state_dir / "certs", pid_file=state_dir / "pid", clients=clients,
                             client_scopes=client_scopes, expires_in=expires_in, verbose=verbose,
                             users=users, client_grants=client_grants)
    with open(log_path, "ab") as log:
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
    try:
        bound = wait_for_port_file(state_dir / "port", process, timeout, log_path)
    except EmulatorError:
        process.kill()
        raise
    url = base_url(host, bound, tls=tls)
    (state_dir / "url").write_text(url + "\n")
    return url


def stop_detached(state_dir: Path, *, timeout: float = STOP_TIMEOUT) -> bool:
    """SIGTERM the emulator of ``state_dir`` (SIGKILL after ``timeout``); False if none was running."""
    check_private_dir(state_dir)
    pid = running_pid(state_dir)
    if pid is not None:
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while _process_alive(pid):
            if time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                break
            time.sleep(0.05)
    for name in ("port", "pid", "url"):
        (state_dir / name).unlink(missing_ok=True)
    return pid is not None


# --------------------------------------------------------------------------- CLI


def _client_from_args(args: argparse.Namespace) -> ControlClient:
    url, ca = args.url, args.ca
    if url is None and args.state_dir is not None:
        check_private_dir(args.state_dir)
        try:
            url = (args.state_dir / "url").read_text().strip()
        except FileNotFoundError:
            raise EmulatorError(f"no emulator url in {args.state_dir}; is it started?") from None
        default_ca = args.state_dir / "certs" / "ca.pem"
        if ca is None and url.startswith("https:") and default_ca.exists():
            ca = default_ca
    url = url or os.environ.get(URL_ENV)
    if not url:
        raise EmulatorError(f"give --url, --state-dir or set {URL_ENV}")
    return ControlClient(url, ca_path=ca or os.environ.get(CA_ENV) or None)


def _pair(value: str, separator: str, usage: str) -> tuple[str, str]:
    left, found, right = value.partition(separator)
    if not found or not left:
        raise argparse.ArgumentTypeError(f"expected {usage}")
    return left, right


def _user_triple(value: str) -> tuple[str, str, str]:
    client_id, dummy, rest = value.partition(":")
    username, found, password = rest.partition(":")
    if not found or not client_id or not username:
        raise argparse.ArgumentTypeError("expected CLIENT:USERNAME:PASSWORD")  # never echo a password
    return client_id, username, password


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description="Control the Telenor OAuth emulator.")
    commands = parser.add_subparsers(dest="command", required=True)

    target = argparse.ArgumentParser(add_help=False)
    target.add_argument("--url", help=f"emulator base URL (or ${URL_ENV})")
    target.add_argument("--state-dir", type=Path, help="directory of an emulator started with 'start'")
    target.add_argument("--ca", type=Path, help=f"CA file for an https URL (or ${CA_ENV})")

    for name, text in (("stats", "print counters"), ("reset", "zero counters, forget tokens, clear faults"),
                       ("clear-faults", "clear all faults"), ("shutdown", "stop the emulator via the API"),
                       ("health", "check that it answers")):
        commands.add_parser(name, parents=[target], help=text)
    faults = commands.add_parser("faults", parents=[target], help="merge faults given as a JSON object")
    faults.add_argument("json", nargs="?", help="JSON object; omit to print the current faults")
    expire = commands.add_parser("expire", parents=[target], help="expire one token, or all tokens")
    expire.add_argument("token", nargs="?")
    add_client = commands.add_parser("add-client", parents=[target], help="add a client at run time")
    add_client.add_argument("client_id")
    add_client.add_argument("client_secret")
    add_client.add_argument("--scopes", help="comma-separated scopes the client may request")

    start = commands.add_parser("start", help="start a detached emulator; prints its URL")
    start.add_argument("--state-dir", type=Path, required=True)
    start.add_argument("--tls", action="store_true")
    start.add_argument("--host", default="127.0.0.1")
    start.add_argument("--port", type=int, default=0)
    start.add_argument("--client", action="append", default=[], metavar="ID:SECRET",
                       type=lambda v: _pair(v, ":", "ID:SECRET"))
    start.add_argument("--client-scopes", action="append", default=[], metavar="ID=SCOPE[,SCOPE...]",
                       type=lambda v: _pair(v, "=", "ID=SCOPE[,SCOPE...]"))
    start.add_argument("--user", action="append", default=[], metavar="CLIENT:USERNAME:PASSWORD",
                       type=_user_triple, help="a system user of a client, for the password grant (repeatable)")
    start.add_argument("--client-grants", action="append", default=[], metavar="ID=GRANT[,GRANT...]",
                       type=lambda v: _pair(v, "=", "ID=GRANT[,GRANT...]"))
    start.add_argument("--expires-in", type=int)
    start.add_argument("--verbose", action="store_true")
    start.add_argument("--timeout", type=float, default=START_TIMEOUT)
    stop = commands.add_parser("stop", help="stop the detached emulator of --state-dir")
    stop.add_argument("--state-dir", type=Path, required=True)
    stop.add_argument("--timeout", type=float, default=STOP_TIMEOUT)
    return parser


def run(args: argparse.Namespace) -> Any:
    """Run one CLI command; return what to print (None prints nothing)."""
    if args.command == "start":
        scopes = {client_id: [s for s in value.split(",") if s] for client_id, value in args.client_scopes}
        grants = {client_id: [g for g in value.split(",") if g] for client_id, value in args.client_grants}
        return start_detached(args.state_dir, tls=args.tls, host=args.host, port=args.port,
                              clients=args.client or None, client_scopes=scopes, expires_in=args.expires_in,
                              verbose=args.verbose, timeout=args.timeout, users=args.user or None,
                              client_grants=grants)
    if args.command == "stop":
        return None if stop_detached(args.state_dir, timeout=args.timeout) else "not running"
    client = _client_from_args(args)
    if args.command == "faults":
        return client.faults(**_json_object(args.json)) if args.json else client.faults()
    if args.command == "expire":
        return {"expired": client.expire(args.token)}
    if args.command == "add-client":
        allowed = None if args.scopes is None else [s for s in args.scopes.split(",") if s]
        client.add_client(args.client_id, args.client_secret, allowed)
        return None
    simple = {"stats": client.stats, "health": client.health, "reset": client.reset,
              "clear-faults": client.clear_faults, "shutdown": client.shutdown}
    return simple[args.command]()


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise EmulatorError(f"faults: not JSON: {exc}") from exc
    if not isinstance(value, dict):
        raise EmulatorError("faults: expected a JSON object")
    return value


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = run(args)
    except EmulatorError as exc:
        print(f"control.py: {exc}", file=sys.stderr)
        return 1
    if isinstance(result, str):
        print(result)
    elif result is not None:
        print(json.dumps(result, indent=2, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())

# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Secrets never leak: every shipped example and every integration scenario, at -vvvv with --diff.

Each test runs real ansible-playbook processes against the emulator with
ANSIBLE_KEEP_REMOTE_FILES=0, private ANSIBLE_LOCAL_TEMP/ANSIBLE_REMOTE_TEMP and an
ANSIBLE_LOG_PATH, collects every token the emulator issued (from the encrypted cache,
decrypted here, and from the files the role was asked to write) and then searches
every place a secret could end up for the client secret and each token.
"""

from __future__ import annotations

import base64
import importlib
import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml

from tests.emulator.control import Emulator
from tests.integration.conftest import BIN, CLIENT_ID, CLIENT_SECRET, FAKE_INIT_SCRIPT, ROOT

HERE = Path(__file__).parent
TARGETS = HERE.parent
MODULE_TARGET = TARGETS / "module_telenor_oauth"
ROLE_TARGET = TARGETS / "role_service_token"
DEMO = ROOT / "demo"
VAULT_PASSWORD = "hardening-vault-password-5e0a"
SCANNED_ARGS = ("-vvvv", "--diff")
LOCAL_HOSTS = ("local1", "local2")
# The files site.yml asks the role to write, with the mode it asks for.
ROLE_FILES = {"app.env": 0o600, "app.json": 0o640, "app.yaml": 0o600, "app.ini": 0o600, "token": 0o600, "app.conf": 0o600}
DIFF_HEADER = re.compile(r"^(?:---|\+\+\+) (?:before|after)\b.*$", re.M)


def token_cache_class(collections: Path):
    """A maker of the collection's own TokenCache, imported from the checkout the tests run:
    ``make(cache_dir, api_url=..., client_id=..., ...)`` with the identity's fields."""
    if str(collections) not in sys.path:
        sys.path.insert(0, str(collections))
    module = importlib.import_module("ansible_collections.telenor.oauth.plugins.module_utils._cache")

    def make(cache_dir: str, **identity):
        return module.TokenCache(cache_dir, module.CacheIdentity(**identity))

    return make


def files_under(directory: Path):
    """Regular files under directory (symbolic links are not followed)."""
    for dirpath, dummy, filenames in os.walk(directory):
        for name in filenames:
            path = Path(dirpath) / name
            if stat.S_ISREG(path.lstat().st_mode):
                yield path


class LeakScan:
    """Runs playbooks at -vvvv --diff in a private Ansible setting, then searches for secrets.

    ``allowed`` holds the files a user asked to hold a token (the role's target files):
    they are not searched, but their modes are checked.
    """

    def __init__(self, ansible, collections: Path) -> None:
        self.ansible = ansible
        self.workdir = ansible.workdir
        self.log = self.workdir / "ansible.log"
        self.temp_dirs = [self.workdir / "ansible-local-tmp", self.workdir / "ansible-remote-tmp"]
        for directory in self.temp_dirs:
            directory.mkdir(mode=0o700, exist_ok=True)
        ansible.env.update({
            "ANSIBLE_KEEP_REMOTE_FILES": "0",
            "ANSIBLE_LOCAL_TEMP": str(self.temp_dirs[0]),
            "ANSIBLE_REMOTE_TEMP": str(self.temp_dirs[1]),
            "ANSIBLE_LOG_PATH": str(self.log),
        })
        self.token_cache = token_cache_class(collections)
        self.outputs: list[tuple[str, str]] = []
        self.tokens: dict[str, str] = {}
        self.cache_dirs: list[Path] = [ansible.cache_dir]
        self.private_dirs: list[Path] = [self.workdir / "ansible-home"]
        self.extra_files: list[Path] = []
        self.allowed: dict[Path, int] = {}

    # --- running -------------------------------------------------------------------------

    def run(self, label: str, playbook: Path, *, args: tuple = (), **kwargs):
        run = self.ansible.run(playbook, args=(*args, *SCANNED_ARGS), **kwargs)
        self.outputs.append((f"{label}: stdout", run.stdout))
        self.outputs.append((f"{label}: stderr", run.stderr))
        assert run.rc == 0, f"{label} failed (rc {run.rc}):\n{run.output[-6000:]}"
        return run

    # --- collecting the issued tokens ----------------------------------------------------

    def add_token(self, token: str, where: str) -> None:
        assert len(token) >= 20, f"implausible token from {where}"
        self.tokens.setdefault(token, where)

    def collect_cached(self, where: str, *, api_url: str, cache_dir: Path | None = None, scope: str | None = None) -> None:
        """Decrypt the cache entry of one identity and remember its token (and refresh token)."""
        cache = self.token_cache(str(cache_dir or self.ansible.cache_dir), api_url=api_url, client_id=CLIENT_ID,
                                 scope=scope, client_secret=CLIENT_SECRET)
        record = cache.load()
        assert record is not None, f"no cached token to collect after {where}"
        self.add_token(record.access_token, f"cache after {where}")
        if record.refresh_token:
            self.add_token(record.refresh_token, f"cache after {where} (refresh token)")

    def assert_every_issued_token_collected(self, emulator) -> None:
        issued = emulator.stats()["tokens_issued"]
        assert issued == len(self.tokens), (
            f"the emulator issued {issued} tokens but the test collected {len(self.tokens)}"
            f" ({sorted(self.tokens.values())}); the scan could not look for the others"
        )

    # --- searching -------------------------------------------------------------------------

    def needles(self) -> dict[str, str]:
        basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode("ascii")
        found = {
            "the client secret": CLIENT_SECRET,
            "the client secret, URL-encoded": quote(CLIENT_SECRET, safe=""),
            "the HTTP Basic credentials (base64 of client_id:client_secret)": basic,
        }
        for index, (token, where) in enumerate(sorted(self.tokens.items(), key=lambda item: item[1]), 1):
            found[f"issued token #{index} ({where})"] = token
        return found

    def sources(self):
        """(where, bytes) of everything searched; each file once."""
        for where, text in self.outputs:
            yield where, text.encode("utf-8", errors="surrogateescape")
        seen: set[Path] = set()

        def once(kind: str, paths):
            for path in paths:
                if path in seen or path in self.allowed:
                    continue
                seen.add(path)
                yield f"{kind} {path} (mode {stat.S_IMODE(path.stat().st_mode):04o})", path.read_bytes()

        if self.log.exists():
            yield from once("the ANSIBLE_LOG_PATH file", [self.log])
        for directory in self.cache_dirs:
            if directory.exists():
                yield from once("the token cache file", files_under(directory))
        for directory in self.temp_dirs:
            yield from once("a file left in an Ansible temp directory:", files_under(directory))
        for directory in self.private_dirs:
            if directory.exists():
                yield from once("a file", files_under(directory))
        yield from once("the file", [path for path in self.extra_files if path.exists()])
        readable = [path for path in files_under(self.workdir) if path.stat().st_mode & 0o044]
        yield from once("a group/other-readable file", readable)

    def hits(self) -> list[str]:
        """One line per (place, secret) found: where, how often, and the first hit's context
        with every secret in it replaced by its label, so that the report repeats none."""
        needles = self.needles()
        by_length = sorted(needles.items(), key=lambda item: -len(item[1]))
        found = []
        for where, data in self.sources():
            for label, needle in needles.items():
                raw = needle.encode("utf-8")
                start = data.find(raw)
                if start == -1:
                    continue
                line = data.count(b"\n", 0, start) + 1
                context = data[max(0, start - 60):start + len(raw) + 60].decode("utf-8", errors="replace")
                for other_label, other in by_length:
                    context = context.replace(other, f"<{other_label}>")
                context = context.replace("\n", "\\n")
                found.append(f"{label} in {where}: {data.count(raw)} time(s), first on line {line}: ...{context}...")
        return found

    def assert_no_leaks(self) -> None:
        assert self.tokens, "no token was collected: the scan would prove nothing"
        assert any("ESTABLISH LOCAL CONNECTION" in text for dummy, text in self.outputs) or not self.outputs, (
            "the runs did not print at -vvv or more: the scan would prove little")
        found = self.hits()
        assert not found, f"{len(found)} leak(s):\n" + "\n".join(found)

    def assert_cache_private(self) -> None:
        for directory in self.cache_dirs:
            assert stat.S_IMODE(directory.stat().st_mode) == 0o700, f"{directory} is not 0700"
            entries = list(directory.iterdir())
            assert entries, f"{directory} is empty"
            for path in entries:
                assert stat.S_IMODE(path.lstat().st_mode) == 0o600, (
                    f"{path} is {stat.S_IMODE(path.lstat().st_mode):04o}, not 0600")

    def assert_no_diff_of(self, paths) -> None:
        """No --diff header or before/after of these files in any output."""
        found = []
        for where, text in self.outputs:
            for path in paths:
                name = re.escape(str(path))
                for pattern in (rf"^(?:---|\+\+\+) (?:before|after).*{name}",
                                rf'"(?:before|after)(?:_header)?": "[^"\n]*{name}'):
                    found += [f"{where}: {match.group(0)}" for match in re.finditer(pattern, text, re.M)]
        assert not found, "diffs of token files were shown:\n" + "\n".join(found)


@pytest.fixture
def scan(ansible, collections_path) -> LeakScan:
    return LeakScan(ansible, collections_path)


def vaulted_vars_file(ansible, data: dict) -> tuple[Path, Path]:
    """An extra-vars file encrypted with Ansible Vault, and its 0600 password file."""
    password = ansible.workdir / "vault-password"
    password.write_text(VAULT_PASSWORD)
    password.chmod(0o600)
    path = ansible.workdir / "vaulted-vars.yml"
    path.write_text(yaml.safe_dump(data))
    subprocess.run([str(BIN / "ansible-vault"), "encrypt", "--vault-password-file", str(password), str(path)],
                   check=True, capture_output=True, env=ansible.env)
    assert CLIENT_SECRET not in path.read_text()
    return path, password


# --- the demo ------------------------------------------------------------------------------


@pytest.fixture
def tls_emulator():
    """An HTTPS emulator with its own CA, as `make demo` starts it."""
    emulator = Emulator()
    emulator.start(tls=True, clients=[(CLIENT_ID, CLIENT_SECRET)])
    yield emulator
    emulator.stop()


def test_demo_playbook_cold_and_warm_leaks_nothing(scan, tls_emulator):
    env = {
        "TELENOR_API_URL": tls_emulator.url,
        "TELENOR_CA_PATH": str(tls_emulator.ca_path),
        "TELENOR_DEMO_URL": f"{tls_emulator.url}/v1/protected",
    }
    for run in ("cold cache", "warm cache"):
        result = scan.run(f"demo/demo.yml, {run}", DEMO / "demo.yml", inventory=DEMO / "inventory.ini", forks=4, env=env)
        assert "the token works" in result.stdout
    assert tls_emulator.stats()["protected_requests"] == 16  # 8 hosts, twice: the demo really ran
    scan.collect_cached("demo", api_url=tls_emulator.url)
    scan.assert_every_issued_token_collected(tls_emulator)
    scan.assert_cache_private()
    scan.assert_no_leaks()


# --- the EXAMPLES of the lookup and the module ----------------------------------------------


def test_documented_examples_of_lookup_and_module_leak_nothing(scan, ansible, emulator):
    vars_file, password = vaulted_vars_file(ansible, {
        "my_client_id": CLIENT_ID, "my_vaulted_secret": CLIENT_SECRET,
        "telenor_client_id": CLIENT_ID, "telenor_client_secret": CLIENT_SECRET,
    })
    secret_args = ("-e", f"@{vars_file}", "--vault-password-file", str(password))
    inventory = ansible.inventory(2)  # two hosts share the run's tokens; more would only cost CPU
    url = emulator.url

    scan.run("lookup EXAMPLES, then the module's obtain and use", HERE / "examples_lookup_then_module_obtain.yml",
             inventory=inventory, args=secret_args)
    scan.collect_cached("the lookup EXAMPLES", api_url=url)
    scan.collect_cached("the lookup EXAMPLES, scope sms", api_url=url, scope="sms")
    scan.run("module EXAMPLES, rotate", HERE / "module_examples_rotate.yml", inventory=inventory, args=secret_args)
    scan.collect_cached("the module's rotation example", api_url=url)
    job_cache_copy = ansible.workdir / "job-cache-copy"
    scan.run("module EXAMPLES, a job's own token revoked, and module_defaults", HERE / "module_examples_revoke.yml",
             inventory=inventory, args=(*secret_args, "-e", f"job_cache_copy={job_cache_copy}"))
    scan.collect_cached("the module's job token example", api_url=url, cache_dir=job_cache_copy)
    scan.collect_cached("the module's module_defaults example", api_url=url)

    # The rotation revoked one token, and the job its own; the shared token stayed live.
    assert emulator.stats()["revoked"] == 2
    shared = scan.token_cache(str(ansible.cache_dir), api_url=url, client_id=CLIENT_ID, scope=None,
                              client_secret=CLIENT_SECRET).load()
    assert emulator.client.is_token_valid(shared.access_token)
    scan.assert_every_issued_token_collected(emulator)
    scan.assert_cache_private()
    scan.assert_no_leaks()


# --- the lookup and module integration scenarios -------------------------------------------


def test_lookup_and_module_scenarios_leak_nothing(scan, ansible, emulator):
    """The playbooks of lookup_telenor_token and module_telenor_oauth, in an order in which
    each token is still in the cache when the test reads it."""
    inventory = ansible.inventory(2)  # two hosts share the run's tokens; more would only cost CPU
    url = emulator.url
    scan.run("module check_mode.yml + present_twice.yml", HERE / "scenarios_module_cold_cache.yml", inventory=inventory)
    scan.collect_cached("present_twice.yml", api_url=url)
    scan.run("module rotate.yml", MODULE_TARGET / "rotate.yml", inventory=inventory)
    scan.collect_cached("rotate.yml", api_url=url)
    # Without revoke_previous the module returns the replaced token: a secret in the result.
    scan.run("module rotate.yml, revoke_previous=false", MODULE_TARGET / "rotate.yml", inventory=inventory,
             extra_vars={"revoke_previous": False})
    scan.collect_cached("rotate.yml, revoke_previous=false", api_url=url)
    scan.run("lookup fleet.yml + query.yml + module absent.yml", HERE / "scenarios_lookup_then_absent.yml",
             inventory=inventory)
    scan.collect_cached("absent.yml, which fetches a fresh token last", api_url=url)

    shared_cache = ansible.workdir / "shared-cache"  # shared_with_lookup.yml needs a cold cache
    scan.cache_dirs.append(shared_cache)
    scan.run("module shared_with_lookup.yml", MODULE_TARGET / "shared_with_lookup.yml", inventory=ansible.inventory(2),
             forks=2, env={"TELENOR_TOKEN_CACHE_DIR": str(shared_cache)})
    scan.collect_cached("shared_with_lookup.yml", api_url=url, cache_dir=shared_cache)

    assert emulator.stats()["revoked"] == 2  # rotate.yml revoked one token, absent.yml another
    scan.assert_every_issued_token_collected(emulator)
    scan.assert_cache_private()
    scan.assert_no_leaks()


# --- the role, with rotation -----------------------------------------------------------------


@pytest.fixture
def role_fleet(ansible, tmp_path):
    """site.yml's inventory, local hosts only: their files, fake services, vaulted secret."""
    base = tmp_path / "hosts"
    scripts = []
    for index, host in enumerate(LOCAL_HOSTS):
        directory = base / host
        directory.mkdir(parents=True)
        (directory / "app.env").write_text("# app settings\nexport TELENOR_ACCESS_TOKEN=old\n")
        (directory / "app.json").write_text('{"name": "app", "auth": {"user": "svc"}}\n')
        (directory / "app.yaml").write_text("listen: 8080\n")
        (directory / "app.ini").write_text("[api]\nurl = https://example.invalid\n")
        script = Path("/etc/init.d") / f"telenor-hardening-{os.getpid()}-{index}"
        script.write_text(FAKE_INIT_SCRIPT.format(log=directory / "service.log"))
        script.chmod(0o755)
        scripts.append(script)
    group_vars = tmp_path / "group_vars" / "all"
    group_vars.mkdir(parents=True)
    (group_vars / "main.yml").write_text(yaml.safe_dump({
        "telenor_client_id": CLIENT_ID, "telenor_api_url": ansible.emulator.url, "it_base": str(base)}))
    password = tmp_path / "vault-password"
    password.write_text(VAULT_PASSWORD)
    password.chmod(0o600)
    secret_file = group_vars / "vault.yml"
    secret_file.write_text(yaml.safe_dump({"telenor_client_secret": CLIENT_SECRET}))
    subprocess.run([str(BIN / "ansible-vault"), "encrypt", "--vault-password-file", str(password), str(secret_file)],
                   check=True, capture_output=True, env=ansible.env)
    host_vars = tmp_path / "host_vars"
    host_vars.mkdir()
    for index, host in enumerate(LOCAL_HOSTS):
        (host_vars / f"{host}.yml").write_text(yaml.safe_dump({"it_service": scripts[index].name}))
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("[fleet]\n" + "".join(
        f"{host} ansible_connection=local ansible_python_interpreter={sys.executable}\n" for host in LOCAL_HOSTS))
    # Credentials come from the (vaulted) inventory variables only.
    for name in ("TELENOR_CLIENT_ID", "TELENOR_CLIENT_SECRET", "TELENOR_API_URL"):
        ansible.env.pop(name, None)
    yield {"inventory": inventory, "base": base, "password": password}
    for script in scripts:
        script.unlink()


def test_role_site_and_rotation_leak_nothing_and_show_no_diff(scan, ansible, emulator, role_fleet):
    base = role_fleet["base"]
    args = ("--vault-password-file", str(role_fleet["password"]))
    targets = {base / host / name: mode for host in LOCAL_HOSTS for name, mode in ROLE_FILES.items()}
    scan.allowed.update(targets)
    scan.private_dirs.append(base)  # anything else there (a temp or backup copy) must hold no token
    vault_file = ansible.workdir / "current-token.vault.yml"

    # One host, but next to the same (vaulted) group_vars: hence the vault password.
    control = scan.run("diff_control.yml", HERE / "diff_control.yml", inventory=ansible.inventory(1, "diff-control.ini"), args=args,
                       extra_vars={"control_dir": str(ansible.workdir)})
    assert DIFF_HEADER.search(control.stdout), "--diff shows no diff even for a plain file: the diff check is void"

    def tokens_in_files(after: str) -> str:
        tokens = {path.read_text().strip() for path in targets if path.name == "token"}
        assert len(tokens) == 1, f"the hosts got different tokens after {after}"
        token = tokens.pop()
        scan.add_token(token, f"the role's token files after {after}")
        return token

    scan.run("role site.yml", ROLE_TARGET / "site.yml", inventory=role_fleet["inventory"], args=args)
    tokens_in_files("site.yml")
    scan.run("role site.yml, rotate, vault file", ROLE_TARGET / "site.yml", inventory=role_fleet["inventory"], args=args,
             extra_vars={"service_token_rotate": True, "service_token_vault_file": str(vault_file)})
    new = tokens_in_files("the rotation")
    scan.collect_cached("the rotation", api_url=emulator.url)
    assert len(scan.tokens) == 2 and emulator.stats()["revoked"] == 1

    for path, mode in targets.items():
        assert stat.S_IMODE(path.stat().st_mode) == mode, f"{path} is not {mode:04o}"
        assert new in path.read_text(), f"{path} does not hold the rotated token"
    assert stat.S_IMODE(vault_file.stat().st_mode) == 0o600
    assert vault_file.read_bytes().startswith(b"$ANSIBLE_VAULT;")
    scan.extra_files.append(vault_file)  # encrypted: must not hold the token in clear
    scan.assert_every_issued_token_collected(emulator)
    scan.assert_cache_private()
    scan.assert_no_diff_of(targets)
    scan.assert_no_leaks()


# --- the scan itself ---------------------------------------------------------------------------


class StubAnsible:
    """Just what LeakScan needs, to test the scan without running Ansible."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.cache_dir = workdir / "token-cache"
        self.env: dict[str, str] = {}


def test_the_scan_finds_planted_leaks_and_skips_what_it_should(collections_path, tmp_path):
    scan = LeakScan(StubAnsible(tmp_path), collections_path)
    token = "planted-token-0123456789abcdefghijklmnopqrstu"
    scan.add_token(token, "planted")

    def plant(path: Path, text: str, mode: int) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        path.chmod(mode)

    scan.outputs.append(("a run: stdout", f"ok: [host] => {{'msg': '{token}'}}"))
    plant(scan.log, "Authorization: Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode(), 0o600)
    plant(scan.temp_dirs[1] / "ansible-tmp-1" / "args", f"client_secret={CLIENT_SECRET}", 0o600)
    plant(scan.ansible.cache_dir / "entry.token", f"{{'access_token': '{token}'}}", 0o600)
    plant(tmp_path / "notes" / "readable.txt", f"secret={quote(CLIENT_SECRET, safe='')}", 0o640)
    plant(tmp_path / "private.txt", token, 0o600)  # private, outside the searched directories
    plant(tmp_path / "app.env", f"TELENOR_ACCESS_TOKEN={token}\n", 0o644)
    scan.allowed[tmp_path / "app.env"] = 0o644  # a file the user asked for

    found = "\n".join(scan.hits())
    for where in ("a run: stdout", str(scan.log), "ansible-tmp-1", "entry.token", "readable.txt"):
        assert where in found, (where, found)
    assert "private.txt" not in found and "app.env" not in found
    assert token not in found and CLIENT_SECRET not in found  # the report names leaks, never repeats them
    with pytest.raises(AssertionError):
        scan.assert_no_leaks()

    scan.outputs.append(("a diff run: stdout", f"--- before: {tmp_path / 'app.env'}\n+++ after: {tmp_path / 'app.env'}\n"))
    with pytest.raises(AssertionError, match="diffs of token files"):
        scan.assert_no_diff_of([tmp_path / "app.env"])

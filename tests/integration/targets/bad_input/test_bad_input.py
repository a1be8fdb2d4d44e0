# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bad input, one row per mistake, through the real ansible-playbook at -vvvv.

Each row runs through the edges it applies to: the lookup, the module and the role
(role.yml, one play). Each must fail with a message that names the problem and the
option (for a credential, also the environment variable and the variable it can come
from), print no Python traceback, and leave the emulator without a single token request.

To spend one ansible-playbook run per batch rather than per (row, edge), the lookup and
module edges of all rows that share their environment, ansible.cfg and arguments run as
one generated playbook: one task per (edge, row), named after them, ignore_errors so
that every task runs. Each test then reads its own task's part of the output, so a row
whose message is missing fails on its own. The role keeps one run per row: its checks
are run_once and a failed play ends the playbook, so rows cannot share a run faithfully.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import Ansible

HERE = Path(__file__).parent
EDGES = ("lookup", "module", "role")
ROLE_PLAYBOOK = HERE / "role.yml"
VERBOSE = ("-vvvv",)
URL_PASSWORD = "pw-hidden-9d2e"
# What Ansible prints when a plugin or module dies of an unexpected exception.
CRASH_MARKERS = (
    "Traceback (most recent call last)",
    "An exception occurred during task execution",
    "The full traceback is",
    "MODULE FAILURE",
)

CLIENT_ID_SOURCES = ("TELENOR_CLIENT_ID", "telenor_client_id")
CLIENT_SECRET_SOURCES = ("TELENOR_CLIENT_SECRET", "telenor_client_secret")


@dataclass(frozen=True)
class Row:
    """One bad input. ``lookup``/``module``/``role`` hold the lookup's keyword options,
    the module's arguments and the role's variables; None where the row does not apply.
    Strings may use {url}, {url_with_credentials} and {workdir}."""

    name: str
    expected: tuple[str, ...]
    lookup: dict | None = None
    module: dict | None = None
    role: dict | None = None
    env: dict = field(default_factory=dict)  # a None value removes the variable
    ini: str = ""  # the ansible.cfg of the run, in its working directory
    variables: dict = field(default_factory=dict)  # play variables, for the lookup's vars: sources
    hidden: tuple[str, ...] = ()
    args: tuple[str, ...] = VERBOSE


def both(options: dict) -> dict:
    return {"lookup": options, "module": options}


# A file entry for the role rows about something else: the role refuses to run without one.
ROLE_FILES = {"service_token_files": [{"path": "{workdir}/never-written.env", "format": "env"}]}


ROWS = [
    # --- credentials ----------------------------------------------------------------------
    Row("missing-client-id", ("No client_id given", *CLIENT_ID_SOURCES),
        lookup={}, module={}, role=ROLE_FILES, env={"TELENOR_CLIENT_ID": None}),
    Row("empty-client-id", ("No client_id given", *CLIENT_ID_SOURCES),
        **both({"client_id": ""}), role={**ROLE_FILES, "service_token_client_id": ""}),
    Row("missing-client-secret", ("No client_secret given", *CLIENT_SECRET_SOURCES),
        lookup={}, module={}, role=ROLE_FILES, env={"TELENOR_CLIENT_SECRET": None}),
    Row("empty-client-secret", ("No client_secret given", *CLIENT_SECRET_SOURCES),
        **both({"client_secret": ""}), role={**ROLE_FILES, "service_token_client_secret": ""}),
    Row("client-id-with-colon", ("client_id must not contain ':'",),
        **both({"client_id": "it:client"}), role={**ROLE_FILES, "service_token_client_id": "it:client"}),
    # --- api_url --------------------------------------------------------------------------
    Row("api-url-not-a-url", ("api_url 'not a url'", "is not an http(s) URL"), **both({"api_url": "not a url"})),
    Row("api-url-with-query", ("api_url", "must not have a query string or fragment"),
        **both({"api_url": "{url}/?debug=1"})),
    Row("api-url-with-fragment", ("api_url", "must not have a query string or fragment"),
        **both({"api_url": "{url}/#token"})),
    Row("api-url-with-credentials", ("api_url must not carry credentials", "client_id and client_secret"),
        **both({"api_url": "{url_with_credentials}"}), hidden=(URL_PASSWORD,)),
    Row("api-url-with-credentials-default-verbosity", ("api_url must not carry credentials",),
        module={"api_url": "{url_with_credentials}"}, hidden=(URL_PASSWORD,), args=()),
    Row("api-url-plain-http-to-a-remote-host", ("api_url 'http://api.telenor.no'", "not loopback", "https://"),
        **both({"api_url": "http://api.telenor.no"})),
    # --- other options --------------------------------------------------------------------
    Row("scope-item-with-spaces", ("scope item 'read write' contains whitespace", "own list item"),
        **both({"scope": ["read write"]})),
    Row("negative-min-ttl", ("min_ttl must be a whole number from 0 to", "-1"), **both({"min_ttl": -1})),
    Row("negative-timeout", ("timeout must be a number from 0.001 to 600", "-1"), **both({"timeout": -1})),
    Row("zero-timeout", ("timeout must be a number from 0.001 to 600", "got 0"), **both({"timeout": 0})),
    Row("negative-retries", ("retries must be a whole number from 0 to 10", "-1"), **both({"retries": -1})),
    # --- issue 9: booleans fail closed, numbers have ranges, from every source ----------------
    Row("validate-certs-typo", ("validate_certs", "boolean", "'ture'"), **both({"validate_certs": "ture"})),
    Row("validate-certs-maybe", ("validate_certs", "boolean", "'maybe'"), **both({"validate_certs": "maybe"})),
    Row("validate-certs-typo-from-env", ("validate_certs", "ture"),
        lookup={}, module={}, env={"TELENOR_VALIDATE_CERTS": "ture"}),
    Row("validate-certs-typo-from-ini", ("validate_certs must be a boolean", "'ture'"),
        lookup={}, ini="[telenor_oauth]\nvalidate_certs = ture\n"),
    Row("validate-certs-typo-from-var", ("validate_certs must be a boolean", "'ture'"),
        lookup={}, variables={"telenor_validate_certs": "ture"}),
    # core does not template a var: source; 1.0 read "{{ word }}" as false, too.
    Row("validate-certs-typo-from-templated-var", ("validate_certs must be a boolean", "'ture'"),
        lookup={}, variables={"typo_word": "ture", "telenor_validate_certs": "{{ typo_word }}"}),
    Row("force-maybe", ("force must be a boolean", "'maybe'"), lookup={"force": "maybe"}),
    Row("timeout-nan", ("timeout must be a number from 0.001 to 600", "nan"), **both({"timeout": "nan"})),
    Row("timeout-infinite", ("timeout must be a number from 0.001 to 600", "inf"), **both({"timeout": "inf"})),
    Row("timeout-too-long", ("timeout must be a number from 0.001 to 600", "601"), **both({"timeout": 601})),
    Row("timeout-nan-from-env", ("timeout must be a number from 0.001 to 600",),
        lookup={}, module={}, env={"TELENOR_TIMEOUT": "nan"}),
    Row("retries-too-many", ("retries must be a whole number from 0 to 10", "11"), **both({"retries": 11})),
    Row("invalid-jmespath-query", ("query option '[oops'", "not a valid JMESPath expression"),
        lookup={"query": "[oops"}),
    # Root may write anywhere, so the unwritable path is one whose parent is a regular file.
    Row("cache-dir-under-a-regular-file",
        ("Cannot create the token cache directory", "a-regular-file/cache", "cache_dir", "TELENOR_TOKEN_CACHE_DIR",
         "Not a directory"),
        **both({"cache_dir": "{workdir}/a-regular-file/cache"})),
    # --- role file entries ----------------------------------------------------------------
    Row("role-file-unknown-format", ("service_token_files", "format", "must be one of", "got: toml"),
        role={"service_token_files": [{"path": "{workdir}/app.conf", "format": "toml"}]}),
    Row("role-file-relative-path", ("service_token_files[0]", "path must be absolute", "relative/app.env"),
        role={"service_token_files": [{"path": "relative/app.env", "format": "env"}]}),
    Row("role-file-template-without-template", ("service_token_files", "format is template", "missing: template"),
        role={"service_token_files": [{"path": "{workdir}/app.conf", "format": "template"}]}),
    # A role run with nothing to write would request and cache a token, and report success.
    Row("role-files-empty", ("service_token_files is empty", "path", "format", "/etc/myapp/env"),
        role={"service_token_files": []}),
    # `service_token_files:` with nothing after it is null, not [].
    Row("role-files-left-empty-in-yaml", ("service_token_files is empty", "format: env", "service_token_vault_file"),
        role={"service_token_files": None}),
    Row("role-files-misspelt", ("service_token_files is not set", "service_token_file is set", "format: env"),
        role={"service_token_file": ROLE_FILES["service_token_files"]}),
    # --- the role's vault file: checked before the token is requested or any file written ---
    Row("role-vault-file-relative-path", ("service_token_vault_file", "must be absolute", "relative/token.vault.yml"),
        role={**ROLE_FILES, "service_token_vault_file": "relative/token.vault.yml"}),
    Row("role-vault-file-without-a-vault-secret",
        ("service_token_vault_file", "needs a vault secret", "--vault-id", "--vault-password-file"),
        role={**ROLE_FILES, "service_token_vault_file": "{workdir}/token.vault.yml"}),
    # Root may write anywhere, so the directory that cannot be written to is a regular file.
    Row("role-vault-file-directory-is-a-file",
        ("service_token_vault_file", "a-regular-file/token.vault.yml", "is not a directory"),
        role={**ROLE_FILES, "service_token_vault_file": "{workdir}/a-regular-file/token.vault.yml"}),
]
ROWS_BY_NAME = {row.name: row for row in ROWS}


def cases():
    for row in ROWS:
        for edge in EDGES:
            if getattr(row, edge) is None:
                continue
            yield pytest.param(row.name, edge, id=f"{edge}-{row.name}")


def fill(value, places: dict):
    """The row's options with {url}, {url_with_credentials} and {workdir} filled in."""
    if isinstance(value, str):
        return value.format_map(places)
    if isinstance(value, list):
        return [fill(item, places) for item in value]
    if isinstance(value, dict):
        return {key: fill(item, places) for key, item in value.items()}
    return value


def batch_key(name: str, edge: str) -> tuple:
    """Which run a (row, edge) is part of: the lookup and module edges of every row with the
    same environment, ansible.cfg and arguments share one; each role row runs alone."""
    row = ROWS_BY_NAME[name]
    if edge == "role":
        return ("role", name)
    return ("tasks", tuple(sorted(row.env.items(), key=lambda item: item[0])), row.ini, row.args)


def task_name(name: str, edge: str) -> str:
    return f"{edge} {name}"


def rows_play(members: list[tuple[str, str]]) -> dict:
    """One play with a task per (row, edge), each with the row's options from the vars file
    (bad_input_rows) and the row's variables as task vars (for the lookup's vars: sources)."""
    tasks = []
    for name, edge in members:
        options = f"bad_input_rows[{json.dumps(task_name(name, edge))}]"
        if edge == "lookup":
            task = {"ansible.builtin.debug": {"msg": f"{{{{ lookup('telenor.oauth.telenor_token', **{options}) | length }}}}"}}
        else:
            task = {"telenor.oauth.telenor_oauth": f"{{{{ {options} }}}}", "delegate_to": "localhost", "run_once": True}
        task = {"name": task_name(name, edge), **task, "ignore_errors": True}  # so that every row's task runs
        if ROWS_BY_NAME[name].variables:
            task["vars"] = ROWS_BY_NAME[name].variables
        tasks.append(task)
    return {"name": "Bad inputs, one task each", "hosts": "fleet", "gather_facts": False, "tasks": tasks}


def task_output(output: str, name: str) -> str:
    """The part of the output from the task's TASK header to the next header or the recap."""
    header = re.search(rf"^TASK \[{re.escape(name)}\] \*+$", output, re.MULTILINE)
    if not header:
        return ""
    end = re.compile(r"^(TASK \[|PLAY \[|PLAY RECAP )", re.MULTILINE).search(output, header.end())
    return output[header.start():end.start() if end else len(output)]


# Where Ansible quotes the playbook (task headers, task paths, the numbered source lines and
# carets under "Origin:"): they show task names such as "timeout-nan" and the role's fail_msg
# templates, so they must not count as what the message says.
PLAYBOOK_ECHO = re.compile(r"^(TASK \[.*|task path: .*|\d+ .*|\s+\^ column \d+)$\n?", re.MULTILINE)
FAILED = re.compile(r"^fatal: \[[^\]]+\]: FAILED! =>", re.MULTILINE)


@dataclass
class RowRun:
    """What one (row, edge) saw of the run it was part of."""

    failed: bool  # its task failed (for the role: the run failed)
    output: str  # its own part of the output, without the playbook quoted
    run_output: str  # the whole run's output
    stats: dict  # the emulator's counters for the whole run


class Batches:
    """Makes each batched run once, when a test first needs it, and keeps what each row saw."""

    def __init__(self, collections: Path, emulator, tmp_path_factory) -> None:
        self.collections = collections
        self.emulator = emulator
        self.tmp_path_factory = tmp_path_factory
        self.runs: dict[tuple[str, str], RowRun] = {}
        self.playbook_runs = 0

    def get(self, name: str, edge: str) -> RowRun:
        if (name, edge) not in self.runs:
            self.run(batch_key(name, edge))
        return self.runs[(name, edge)]

    def run(self, key: tuple) -> None:
        members = [(row.name, edge) for row in ROWS for edge in EDGES
                   if getattr(row, edge) is not None and batch_key(row.name, edge) == key]
        row = ROWS_BY_NAME[members[0][0]]  # env, ini and args are the same for every member
        workdir = self.tmp_path_factory.mktemp("batch")
        ansible = Ansible(self.collections, workdir, self.emulator)
        (workdir / "a-regular-file").write_text("not a directory\n")
        places = {"url": self.emulator.url, "workdir": str(workdir),
                  "url_with_credentials": self.emulator.url.replace("://", f"://it-user:{URL_PASSWORD}@", 1)}
        if key[0] == "role":
            playbook = ROLE_PLAYBOOK
            data = {**fill(row.role, places), **row.variables}
        else:
            playbook = workdir / "rows.yml"
            playbook.write_text(yaml.safe_dump([rows_play(members)], sort_keys=False, width=1000))
            data = {"bad_input_rows": {task_name(name, edge): fill(getattr(ROWS_BY_NAME[name], edge), places)
                                       for name, edge in members}}
        if row.ini:
            (workdir / "ansible.cfg").write_text(row.ini)  # ansible-playbook runs in workdir
        # From a file: -vvvv echoes the values of -e '{...}', and would show the URL's password itself.
        vars_file = workdir / "row-vars.json"
        vars_file.write_text(json.dumps(data))
        env = dict(ansible.env, PYTHONUNBUFFERED="1")
        for variable, value in row.env.items():
            if value is None:
                env.pop(variable, None)
            else:
                env[variable] = value
        self.emulator.reset()
        # stderr into stdout, in order, so that each task's [ERROR] lines stay under its header.
        proc = subprocess.run(
            ansible.command(playbook, inventory=ansible.inventory(1), args=("-e", f"@{vars_file}", *row.args)),
            cwd=workdir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600,
            check=False,
        )
        self.playbook_runs += 1
        stats = self.emulator.stats()
        for name, edge in members:
            if key[0] == "role":
                part, failed = proc.stdout, proc.returncode != 0
            else:
                part = task_output(proc.stdout, task_name(name, edge))
                failed = bool(FAILED.search(part))
            self.runs[(name, edge)] = RowRun(failed, PLAYBOOK_ECHO.sub("", part), proc.stdout, stats)


@pytest.fixture(scope="module")
def batches(collections_path, emulator_server, tmp_path_factory):
    return Batches(collections_path, emulator_server, tmp_path_factory)


@pytest.mark.parametrize(("name", "edge"), list(cases()))
def test_bad_input_fails_clearly_before_any_request(batches, name, edge):
    row = ROWS_BY_NAME[name]
    run = batches.get(name, edge)
    assert run.failed, f"{edge} {name} did not fail:\n{run.output[-4000:] or run.run_output[-4000:]}"
    missing = [words for words in row.expected if words not in run.output]
    assert not missing, f"the message does not say {missing}:\n{run.output[-4000:]}"
    # In the whole run: a crash or a leak anywhere in it fails every row it ran.
    crashes = [marker for marker in CRASH_MARKERS if marker in run.run_output]
    assert not crashes, f"{crashes}:\n{run.run_output[-4000:]}"
    assert run.stats["token_requests"] == 0, run.stats
    assert run.stats["logout_requests"] == 0, run.stats
    shown = [value for value in row.hidden if value in run.run_output]
    assert not shown, "the output shows " + ", ".join(
        f"{value!r} on line {run.run_output[:run.run_output.index(value)].count(chr(10)) + 1}" for value in shown)


# --- each message names just what is wrong, and where it was set --------------------------------


@pytest.mark.parametrize(("name", "edge", "wanted", "unwanted"), [
    pytest.param("role-file-template-without-template", "role", (), ("path must be absolute",),
                 id="role-template-entry-is-not-told-its-absolute-path-is-wrong"),
    pytest.param("role-file-relative-path", "role", (), ("format is template",),
                 id="role-env-entry-is-not-told-about-templates"),
    pytest.param("empty-client-id", "role", ("service_token_client_id",), (),
                 id="role-empty-override-names-the-variable-that-was-set"),
    pytest.param("empty-client-secret", "role", ("service_token_client_secret",), (),
                 id="role-empty-secret-override-names-the-variable-that-was-set"),
    pytest.param("client-id-with-colon", "lookup", CLIENT_ID_SOURCES, (),
                 id="lookup-colon-in-client-id-names-its-sources"),
    pytest.param("client-id-with-colon", "module", CLIENT_ID_SOURCES, (),
                 id="module-colon-in-client-id-names-its-sources"),
])
def test_message_is_precise(batches, name, edge, wanted, unwanted):
    run = batches.get(name, edge)
    assert run.failed
    error_lines = "\n".join(line for line in run.output.splitlines() if "[ERROR]" in line)
    assert error_lines, run.output[-3000:]
    assert not [words for words in wanted if words not in error_lines], error_lines
    assert not [words for words in unwanted if words in error_lines], error_lines

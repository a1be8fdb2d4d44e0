# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Bad input, one row per mistake, through the real ansible-playbook at -vvvv.

Each row runs through the edges it applies to: the lookup (lookup.yml), the module
(module.yml, one task) and the role (role.yml, one play). Every run must fail with a
message that names the problem and the option (for a credential, also the environment
variable and the variable it can come from), print no Python traceback, and leave the
emulator without a single token request.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import pytest

HERE = Path(__file__).parent
PLAYBOOKS = {"lookup": HERE / "lookup.yml", "module": HERE / "module.yml", "role": HERE / "role.yml"}
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


ROWS = [
    # --- credentials ----------------------------------------------------------------------
    Row("missing-client-id", ("No client_id given", *CLIENT_ID_SOURCES),
        lookup={}, module={}, role={}, env={"TELENOR_CLIENT_ID": None}),
    Row("empty-client-id", ("No client_id given", *CLIENT_ID_SOURCES),
        **both({"client_id": ""}), role={"service_token_client_id": ""}),
    Row("missing-client-secret", ("No client_secret given", *CLIENT_SECRET_SOURCES),
        lookup={}, module={}, role={}, env={"TELENOR_CLIENT_SECRET": None}),
    Row("empty-client-secret", ("No client_secret given", *CLIENT_SECRET_SOURCES),
        **both({"client_secret": ""}), role={"service_token_client_secret": ""}),
    Row("client-id-with-colon", ("client_id must not contain ':'",),
        **both({"client_id": "it:client"}), role={"service_token_client_id": "it:client"}),
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
]
ROWS_BY_NAME = {row.name: row for row in ROWS}


def cases():
    for row in ROWS:
        for edge in PLAYBOOKS:
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


# Runs already made, by (row, edge): the precision tests below read the message again.
RUNS: dict[tuple[str, str], object] = {}


def run_row(ansible, emulator, name: str, edge: str):
    row = ROWS_BY_NAME[name]
    workdir = ansible.workdir
    (workdir / "a-regular-file").write_text("not a directory\n")
    places = {"url": emulator.url, "workdir": str(workdir),
              "url_with_credentials": emulator.url.replace("://", f"://it-user:{URL_PASSWORD}@", 1)}
    options = fill(getattr(row, edge), places)
    data = {"lookup": {"lookup_options": options}, "module": {"module_options": options}, "role": options}[edge]
    data.update(row.variables)
    if row.ini:
        (workdir / "ansible.cfg").write_text(row.ini)  # ansible-playbook runs in workdir
    # From a file: -vvvv echoes the values of -e '{...}', and would show the URL's password itself.
    vars_file = workdir / "row-vars.json"
    vars_file.write_text(json.dumps(data))
    for variable, value in row.env.items():
        if value is None:
            ansible.env.pop(variable, None)
        else:
            ansible.env[variable] = value
    run = ansible.run(PLAYBOOKS[edge], inventory=ansible.inventory(1), args=("-e", f"@{vars_file}", *row.args))
    stats = emulator.stats()
    RUNS[(name, edge)] = run
    return row, run, stats


@pytest.mark.parametrize(("name", "edge"), list(cases()))
def test_bad_input_fails_clearly_before_any_request(ansible, emulator, name, edge):
    row, run, stats = run_row(ansible, emulator, name, edge)
    assert run.rc != 0, run.output
    missing = [words for words in row.expected if words not in run.output]
    assert not missing, f"the message does not say {missing}:\n{run.output[-4000:]}"
    crashes = [marker for marker in CRASH_MARKERS if marker in run.output]
    assert not crashes, f"{crashes}:\n{run.output[-4000:]}"
    assert stats["token_requests"] == 0, stats
    assert stats["logout_requests"] == 0, stats
    shown = [value for value in row.hidden if value in run.output]
    assert not shown, "the output shows " + ", ".join(
        f"{value!r} on line {run.output[:run.output.index(value)].count(chr(10)) + 1}" for value in shown)


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
def test_message_is_precise(ansible, emulator, name, edge, wanted, unwanted):
    run = RUNS.get((name, edge)) or run_row(ansible, emulator, name, edge)[1]
    assert run.rc != 0
    error_lines = "\n".join(line for line in run.output.splitlines() if "[ERROR]" in line)
    assert error_lines, run.output[-3000:]
    assert not [words for words in wanted if words not in error_lines], error_lines
    assert not [words for words in unwanted if words in error_lines], error_lines

# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json
import os
import pwd
import stat
import typing as t

import pytest
import yaml

from ansible.module_utils.testing import patch_module_args

from ansible_collections.telenor.oauth.plugins.module_utils import _token_file
from ansible_collections.telenor.oauth.plugins.module_utils._token_file import (
    TokenFileError,
    format_mode,
    new_content,
    parse_mode,
    shell_value,
)
from ansible_collections.telenor.oauth.plugins.modules import token_file

TOKEN = "AT-Qm7Xv2Lp9sZr-token-file-unit"
OLD_SECRET = "OLD-Hk4Tn8Wc-previous-token"


class Run(t.NamedTuple):
    rc: int
    result: dict
    stdout: str


@pytest.fixture
def run(capsys: pytest.CaptureFixture) -> t.Callable[..., Run]:
    """Run the module end to end with these arguments, as Ansible would."""

    def _run(**args: t.Any) -> Run:
        with patch_module_args(args):
            with pytest.raises(SystemExit) as exit_info:
                token_file.main()
        stdout = capsys.readouterr().out
        # Whatever happened, the token never leaves the module. AnsibleModule would mask the
        # no_log values as ******** in a message, which would still be a leak in the module.
        assert TOKEN not in stdout
        assert OLD_SECRET not in stdout
        assert "********" not in stdout
        result = json.loads(stdout)
        assert "diff" not in result
        return Run(exit_info.value.code or 0, result, stdout)

    return _run


def _mode(path: os.PathLike | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _siblings(path: os.PathLike | str) -> list[str]:
    return sorted(os.listdir(os.path.dirname(path)))


# --- the new content, format by format ---------------------------------------------------

EMPTY_FILE_CASES = [
    pytest.param("env", {}, f"TELENOR_ACCESS_TOKEN={TOKEN}\n", id="env"),
    pytest.param("env", {"key": "SMS_TOKEN"}, f"SMS_TOKEN={TOKEN}\n", id="env-key"),
    pytest.param("json", {}, f'{{\n  "telenor": {{\n    "access_token": "{TOKEN}"\n  }}\n}}\n', id="json"),
    pytest.param("json", {"key": "token"}, f'{{\n  "token": "{TOKEN}"\n}}\n', id="json-flat-key"),
    pytest.param("yaml", {}, f"telenor:\n  access_token: {TOKEN}\n", id="yaml"),
    pytest.param("ini", {}, f"[telenor]\naccess_token = {TOKEN}\n", id="ini"),
    pytest.param("ini", {"section": "api", "key": "bearer"}, f"[api]\nbearer = {TOKEN}\n", id="ini-section-key"),
    pytest.param("raw", {}, f"{TOKEN}\n", id="raw"),
]


@pytest.mark.parametrize(("fmt", "options", "expected"), EMPTY_FILE_CASES)
def test_new_content_of_a_missing_file(fmt, options, expected):
    assert new_content(b"", fmt=fmt, value=TOKEN, **options) == expected.encode()


def test_content_is_written_exactly():
    content = f"# rendered on the controller\ntoken: {TOKEN}"  # no trailing newline added
    assert new_content(b"old", fmt="content", content=content) == content.encode()


EXISTING_FILE_CASES = [
    pytest.param(
        "env",
        {},
        "# Telenor\n\nexport TELENOR_ACCESS_TOKEN=old  \nOTHER='x y'   # keep\n",
        f"# Telenor\n\nexport TELENOR_ACCESS_TOKEN={TOKEN}\nOTHER='x y'   # keep\n",
        id="env-export-kept-comments-kept",
    ),
    pytest.param(
        "env",
        {},
        "A=1\r\n  TELENOR_ACCESS_TOKEN = old\r\n# TELENOR_ACCESS_TOKEN=commented\r\n",
        f"A=1\r\n  TELENOR_ACCESS_TOKEN={TOKEN}\r\n# TELENOR_ACCESS_TOKEN=commented\r\n",
        id="env-crlf-indented-comment-untouched",
    ),
    pytest.param(
        "env",
        {},
        "TELENOR_ACCESS_TOKEN=a\nX=1\nexport TELENOR_ACCESS_TOKEN=b\n",
        f"TELENOR_ACCESS_TOKEN={TOKEN}\nX=1\nexport TELENOR_ACCESS_TOKEN={TOKEN}\n",
        id="env-every-assignment",
    ),
    pytest.param(
        "env",
        {},
        "TELENOR_ACCESS_TOKEN_OLD=a\nMY_TELENOR_ACCESS_TOKEN=b",
        f"TELENOR_ACCESS_TOKEN_OLD=a\nMY_TELENOR_ACCESS_TOKEN=b\nTELENOR_ACCESS_TOKEN={TOKEN}\n",
        id="env-append-after-missing-newline",
    ),
    pytest.param(
        "env",
        {},
        "A=1\r\n",
        f"A=1\r\nTELENOR_ACCESS_TOKEN={TOKEN}\r\n",
        id="env-append-with-the-files-line-ending",
    ),
    pytest.param(
        "json",
        {"key": "sms.telenor.token"},
        '{"b": 1, "sms": {"url": "https://x", "telenor": {"token": "old", "z": [1]}}, "a": null}',
        '{\n  "b": 1,\n  "sms": {\n    "url": "https://x",\n    "telenor": {\n'
        f'      "token": "{TOKEN}",\n      "z": [\n        1\n      ]\n    }}\n  }},\n  "a": null\n}}\n',
        id="json-nested-order-kept",
    ),
    pytest.param(
        "json",
        {},
        '{"other": {"x": 1}}',
        f'{{\n  "other": {{\n    "x": 1\n  }},\n  "telenor": {{\n    "access_token": "{TOKEN}"\n  }}\n}}\n',
        id="json-intermediate-created",
    ),
    pytest.param("json", {}, "  \n", f'{{\n  "telenor": {{\n    "access_token": "{TOKEN}"\n  }}\n}}\n', id="json-blank"),
    pytest.param(
        "yaml",
        {},
        "zeta: 1\ntelenor:\n  url: https://api.telenor.no\n  access_token: old\nalpha: [1, 2]\n",
        f"zeta: 1\ntelenor:\n  url: https://api.telenor.no\n  access_token: {TOKEN}\nalpha:\n- 1\n- 2\n",
        id="yaml-order-kept",
    ),
    pytest.param("yaml", {}, "---\n", f"telenor:\n  access_token: {TOKEN}\n", id="yaml-empty-document"),
    pytest.param(
        "ini",
        {},
        "; top comment\n[other]\naccess_token = other\n\n[telenor]\n# the token\naccess_token=old\nurl = x\n",
        "; top comment\n[other]\naccess_token = other\n\n[telenor]\n# the token\n"
        f"access_token={TOKEN}\nurl = x\n",
        id="ini-replace-keeps-separator-other-section-untouched",
    ),
    pytest.param(
        "ini",
        {},
        "[telenor]\nAccess_Token : old\n",
        f"[telenor]\nAccess_Token : {TOKEN}\n",
        id="ini-replace-case-folded-colon",
    ),
    pytest.param(
        "ini",
        {},
        "[telenor]\naccess_token =\n",
        f"[telenor]\naccess_token = {TOKEN}\n",
        id="ini-replace-empty-value",
    ),
    pytest.param(
        "ini",
        {},
        "[telenor]\naccess_token = old\n  continued\n\n  more\n# note\nurl = x\n",
        f"[telenor]\naccess_token = {TOKEN}\n# note\nurl = x\n",
        id="ini-replace-drops-old-continuation-lines",
    ),
    pytest.param(
        "ini",
        {},
        "[telenor]\nurl = x\n  continued\n\n# about [next]\n[next]\na = 1\n",
        f"[telenor]\nurl = x\n  continued\naccess_token = {TOKEN}\n\n# about [next]\n[next]\na = 1\n",
        id="ini-insert-at-end-of-section",
    ),
    pytest.param(
        "ini",
        {},
        "[telenor]\nurl = x",
        f"[telenor]\nurl = x\naccess_token = {TOKEN}\n",
        id="ini-insert-after-missing-newline",
    ),
    pytest.param(
        "ini",
        {},
        "# hello\n[other]\na = 1\n",
        f"# hello\n[other]\na = 1\n\n[telenor]\naccess_token = {TOKEN}\n",
        id="ini-append-section",
    ),
    pytest.param(
        "ini",
        {"section": "DEFAULT"},
        "[DEFAULT]\nx = 1\n[s]\naccess_token = s\n",
        f"[DEFAULT]\nx = 1\naccess_token = {TOKEN}\n[s]\naccess_token = s\n",
        id="ini-default-section",
    ),
    pytest.param("raw", {}, f"{OLD_SECRET}\n", f"{TOKEN}\n", id="raw-replaced"),
]


@pytest.mark.parametrize(("fmt", "options", "before", "after"), EXISTING_FILE_CASES)
def test_new_content_keeps_the_rest_of_the_file(fmt, options, before, after):
    assert new_content(before.encode(), fmt=fmt, value=TOKEN, **options).decode() == after


@pytest.mark.parametrize(("fmt", "options", "before", "after"), EXISTING_FILE_CASES)
def test_new_content_is_a_fixed_point(fmt, options, before, after):
    assert new_content(after.encode(), fmt=fmt, value=TOKEN, **options).decode() == after


def test_env_keeps_undecodable_bytes():
    before = b"# caf\xe9 latin-1\nTELENOR_ACCESS_TOKEN=old\n"
    assert new_content(before, fmt="env", value=TOKEN) == b"# caf\xe9 latin-1\nTELENOR_ACCESS_TOKEN=" + TOKEN.encode() + b"\n"


@pytest.mark.parametrize(
    "fmt, before",
    [
        pytest.param("json", '{ "telenor":{"access_token":"%s"}, "x":1 }', id="json"),
        pytest.param("yaml", "# keep me\ntelenor: {access_token: '%s'}  # and me\n", id="yaml"),
    ],
)
def test_document_already_holding_the_token_is_left_as_it_is(fmt, before):
    data = (before % TOKEN).encode()
    assert new_content(data, fmt=fmt, value=TOKEN) is data


@pytest.mark.parametrize(
    ("value", "written"),
    [
        pytest.param("abc.DEF_123-~+/=", "abc.DEF_123-~+/=", id="url-safe"),
        pytest.param("a b", "'a b'", id="space"),
        pytest.param("a$b`c", "'a$b`c'", id="shell-specials"),
        pytest.param("it's", "'it'\\''s'", id="single-quote"),
        pytest.param('"x"', "'\"x\"'", id="double-quote"),
    ],
)
def test_env_quotes_only_what_needs_quoting(value, written):
    assert shell_value(value) == written


@pytest.mark.parametrize(
    ("fmt", "options", "before", "option", "fragment"),
    [
        pytest.param("env", {"key": "1BAD"}, "", "key", "'1BAD'", id="env-key-digit"),
        pytest.param("env", {"key": "A-B"}, "", "key", "'A-B'", id="env-key-dash"),
        pytest.param("json", {"key": "a..b"}, "", "key", "empty segment", id="json-empty-segment"),
        pytest.param("yaml", {"key": "a."}, "", "key", "empty segment", id="yaml-empty-segment"),
        pytest.param("ini", {"key": "a=b"}, "", "key", "'a=b'", id="ini-key-delimiter"),
        pytest.param("ini", {"section": "a]b"}, "", "section", "'a]b'", id="ini-section-bracket"),
        pytest.param("raw", {"key": "x"}, "", "key", "format=raw", id="raw-with-key"),
        pytest.param("json", {"key": "a.b.c"}, '{"a": {"b": 3}}', "key", "'a.b'", id="json-intermediate-scalar"),
        pytest.param("json", {"key": "a.b"}, '{"a": [1]}', "key", "'a'", id="json-intermediate-list"),
        pytest.param("yaml", {"key": "a.b"}, "a: text\n", "key", "'a'", id="yaml-intermediate-scalar"),
        pytest.param("json", {"key": "a"}, '{"a": {"b": 1}}', "key", "structure", id="json-leaf-object"),
        pytest.param("json", {}, "[1, 2]", None, "not an object", id="json-array-document"),
        pytest.param("yaml", {}, "- 1\n", None, "not a mapping", id="yaml-list-document"),
        pytest.param("yaml", {}, "just text\n", None, "not a mapping", id="yaml-scalar-document"),
    ],
)
def test_bad_keys_and_documents_are_errors_naming_the_culprit(fmt, options, before, option, fragment):
    with pytest.raises(TokenFileError) as error:
        new_content(before.encode(), fmt=fmt, value=TOKEN, path="/etc/x.conf", **options)
    assert error.value.option == option
    assert fragment in error.value.message
    assert TOKEN not in error.value.message


@pytest.mark.parametrize(
    ("fmt", "broken"),
    [
        pytest.param("json", '{"access_token": "%s",, }', id="json"),
        pytest.param("json", "\xff%s", id="json-not-utf8"),
        pytest.param("yaml", "a: [%s\nb: {", id="yaml"),
        pytest.param("yaml", "a: 1\n---\nb: %s\n", id="yaml-two-documents"),
        pytest.param("ini", "[telenor]\n%s\n", id="ini-bad-line"),
        pytest.param("ini", "token = %s\n", id="ini-no-section"),
        pytest.param("ini", "[s]\na = %s\n[s]\n", id="ini-duplicate-section"),
        pytest.param("ini", "[s]\na = %s\nA = 2\n", id="ini-duplicate-option"),
    ],
)
def test_unparsable_file_is_an_error_that_does_not_quote_it(fmt, broken):
    data = (broken % OLD_SECRET).encode("latin-1")
    with pytest.raises(TokenFileError) as error:
        new_content(data, fmt=fmt, value=TOKEN, path="/etc/x.conf")
    assert f"/etc/x.conf is not valid {fmt}" in error.value.message
    assert OLD_SECRET not in error.value.message


@pytest.mark.parametrize(
    ("fmt", "value"),
    [
        pytest.param("env", "", id="empty"),
        pytest.param("env", "a\nb", id="env-newline"),
        pytest.param("ini", "a\rb", id="ini-carriage-return"),
    ],
)
def test_values_a_format_cannot_hold_are_refused(fmt, value):
    with pytest.raises(TokenFileError) as error:
        new_content(b"", fmt=fmt, value=value)
    assert error.value.option == "value"


def test_ini_value_that_would_not_read_back_is_refused():
    with pytest.raises(TokenFileError, match="would not parse back"):
        new_content(b"", fmt="ini", value=" padded ")


@pytest.mark.parametrize(
    ("mode", "bits"),
    [
        pytest.param("0600", 0o600, id="string"),
        pytest.param("640", 0o640, id="string-without-zero"),
        pytest.param("0o440", 0o440, id="python-octal"),
        pytest.param("04750", 0o4750, id="setuid"),
        pytest.param(0o640, 0o640, id="int"),
    ],
)
def test_mode_accepts_octal(mode, bits):
    assert parse_mode(mode) == bits


@pytest.mark.parametrize("mode", ["u=rw,g=r", "0800", "12345", "", 0o10000, -1, True, 1.5, None])
def test_mode_refuses_the_rest(mode):
    with pytest.raises(TokenFileError) as error:
        parse_mode(mode)
    assert error.value.option == "mode"
    assert error.value.message.startswith("mode ")


@pytest.mark.parametrize(("bits", "shown"), [(0o600, "0600"), (0o4750, "04750"), (0, "0000")])
def test_mode_is_shown_as_ansible_shows_modes(bits, shown):
    assert format_mode(bits) == shown


# --- the module, end to end --------------------------------------------------------------

FILES = {
    "env": ("service.env", f"TELENOR_ACCESS_TOKEN={TOKEN}\n"),
    "json": ("config.json", f'{{\n  "telenor": {{\n    "access_token": "{TOKEN}"\n  }}\n}}\n'),
    "yaml": ("config.yml", f"telenor:\n  access_token: {TOKEN}\n"),
    "ini": ("service.ini", f"[telenor]\naccess_token = {TOKEN}\n"),
    "raw": ("token", f"{TOKEN}\n"),
}


@pytest.mark.parametrize("fmt", sorted(FILES))
def test_module_creates_the_file_then_changes_nothing(run, tmp_path, fmt):
    name, expected = FILES[fmt]
    path = tmp_path / name

    first = run(path=str(path), format=fmt, value=TOKEN)

    assert first.rc == 0
    # ansible-core 2.19 adds "invocation"; 2.21 does not.
    assert {key: value for key, value in first.result.items() if key != "invocation"} == {
        "changed": True,
        "created": True,
        "path": str(path),
        "format": fmt,
        "mode": "0600",
    }
    assert path.read_text() == expected
    assert _mode(path) == 0o600
    before = os.stat(path)

    second = run(path=str(path), format=fmt, value=TOKEN)

    assert second.result["changed"] is False
    assert second.result["created"] is False
    assert path.read_text() == expected
    after = os.stat(path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert _siblings(path) == [name]


def test_module_writes_content_exactly(run, tmp_path):
    path = tmp_path / "credentials.conf"
    content = f"[auth]\ntoken = {TOKEN}"

    assert run(path=str(path), format="content", content=content).result["changed"] is True
    assert path.read_bytes() == content.encode()
    assert run(path=str(path), format="content", content=content).result["changed"] is False


@pytest.mark.parametrize(
    ("fmt", "name", "before", "after"),
    [
        pytest.param(
            "env",
            "service.env",
            f"# keep\nexport TELENOR_ACCESS_TOKEN={OLD_SECRET}\n\nPORT=8080\n",
            f"# keep\nexport TELENOR_ACCESS_TOKEN={TOKEN}\n\nPORT=8080\n",
            id="env",
        ),
        pytest.param(
            "json",
            "config.json",
            f'{{"port": 8080, "telenor": {{"access_token": "{OLD_SECRET}", "scope": "sms"}}}}',
            f'{{\n  "port": 8080,\n  "telenor": {{\n    "access_token": "{TOKEN}",\n    "scope": "sms"\n  }}\n}}\n',
            id="json",
        ),
        pytest.param(
            "yaml",
            "config.yml",
            f"port: 8080\ntelenor:\n  access_token: {OLD_SECRET}\n  scope: sms\n",
            f"port: 8080\ntelenor:\n  access_token: {TOKEN}\n  scope: sms\n",
            id="yaml",
        ),
        pytest.param(
            "ini",
            "service.ini",
            f"# service\n[server]\nport = 8080\n\n[telenor]\n; rotated by Ansible\naccess_token = {OLD_SECRET}\n",
            f"# service\n[server]\nport = 8080\n\n[telenor]\n; rotated by Ansible\naccess_token = {TOKEN}\n",
            id="ini",
        ),
    ],
)
def test_module_updates_an_existing_file_keeping_the_rest(run, tmp_path, fmt, name, before, after):
    path = tmp_path / name
    path.write_text(before)
    path.chmod(0o600)

    outcome = run(path=str(path), format=fmt, value=TOKEN)

    assert outcome.result["changed"] is True
    assert outcome.result["created"] is False
    assert path.read_text() == after
    assert run(path=str(path), format=fmt, value=TOKEN).result["changed"] is False


def test_file_has_its_mode_before_the_first_byte(run, tmp_path, monkeypatch):
    path = tmp_path / "service.env"
    seen = {}
    real_replace = os.replace
    real_fchmod = os.fchmod

    def spy_fchmod(fd, mode):
        seen["size_at_fchmod"] = os.fstat(fd).st_size
        real_fchmod(fd, mode)

    def spy_replace(src, dst):
        with open(src, "rb") as handle:
            seen.update(src=os.path.basename(src), mode=_mode(src), data=handle.read())
        real_replace(src, dst)

    monkeypatch.setattr(token_file.os, "fchmod", spy_fchmod)
    monkeypatch.setattr(token_file.os, "replace", spy_replace)

    assert run(path=str(path), format="env", value=TOKEN, mode="0640").result["mode"] == "0640"

    assert seen["size_at_fchmod"] == 0
    assert seen["mode"] == 0o640
    assert seen["data"] == f"TELENOR_ACCESS_TOKEN={TOKEN}\n".encode()
    assert seen["src"].startswith(".service.env.") and seen["src"].endswith(".tmp")
    assert _mode(path) == 0o640


@pytest.mark.skipif(os.geteuid() != 0, reason="changing a file's owner needs root")
def test_file_has_its_owner_before_the_first_byte(run, tmp_path, monkeypatch):
    nobody = pwd.getpwnam("nobody")
    path = tmp_path / "token"
    seen = {}
    real_replace = os.replace

    def spy_replace(src, dst):
        seen["uid"] = os.stat(src).st_uid
        real_replace(src, dst)

    monkeypatch.setattr(token_file.os, "replace", spy_replace)

    assert run(path=str(path), format="raw", value=TOKEN, owner="nobody").result["changed"] is True
    assert seen["uid"] == nobody.pw_uid
    assert os.stat(path).st_uid == nobody.pw_uid
    # An existing file keeps its owner when the option is not given.
    assert run(path=str(path), format="raw", value=TOKEN + "2").result["changed"] is True
    assert os.stat(path).st_uid == nobody.pw_uid


@pytest.mark.parametrize(
    ("fmt", "broken"),
    [
        pytest.param("json", '{"telenor": {"access_token": "%s"', id="json"),
        pytest.param("yaml", "telenor:\n  access_token: [%s\n", id="yaml"),
        pytest.param("ini", "[telenor]\naccess_token %s\n", id="ini"),
    ],
)
def test_unparsable_file_fails_and_is_left_untouched(run, tmp_path, fmt, broken):
    path = tmp_path / f"config.{fmt}"
    path.write_text(broken % OLD_SECRET)
    path.chmod(0o644)
    before = os.stat(path)
    data = path.read_bytes()

    outcome = run(path=str(path), format=fmt, value=TOKEN)

    assert outcome.rc == 1
    assert outcome.result["failed"] is True
    assert str(path) in outcome.result["msg"]
    assert f"not valid {fmt}" in outcome.result["msg"]
    assert path.read_bytes() == data
    after = os.stat(path)
    assert (after.st_ino, after.st_mtime_ns, after.st_mode) == (before.st_ino, before.st_mtime_ns, before.st_mode)
    assert _siblings(path) == [path.name]


def test_failure_while_replacing_leaves_the_original_and_no_temporary_file(run, tmp_path, monkeypatch):
    path = tmp_path / "service.env"
    path.write_text(f"TELENOR_ACCESS_TOKEN={OLD_SECRET}\n")

    def failing_replace(src, dst):
        raise PermissionError(13, "Permission denied", dst)

    monkeypatch.setattr(token_file.os, "replace", failing_replace)

    outcome = run(path=str(path), format="env", value=TOKEN)

    assert outcome.rc == 1
    assert "Permission denied" in outcome.result["msg"]
    assert path.read_text() == f"TELENOR_ACCESS_TOKEN={OLD_SECRET}\n"
    assert _siblings(path) == ["service.env"]


def test_failure_while_writing_removes_the_temporary_file(run, tmp_path, monkeypatch):
    path = tmp_path / "token"

    def failing_fsync(fd):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(token_file.os, "fsync", failing_fsync)

    outcome = run(path=str(path), format="raw", value=TOKEN)

    assert outcome.rc == 1
    assert "No space left on device" in outcome.result["msg"]
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("exists", [False, True], ids=["missing", "existing"])
def test_check_mode_writes_nothing(run, tmp_path, exists):
    path = tmp_path / "service.env"
    if exists:
        path.write_text("A=1\n")
        path.chmod(0o644)

    outcome = run(path=str(path), format="env", value=TOKEN, mode="0640", _ansible_check_mode=True)

    assert outcome.result["changed"] is True
    assert outcome.result["created"] is not exists
    assert outcome.result["mode"] == "0640"
    if exists:
        assert path.read_text() == "A=1\n"
        assert _mode(path) == 0o644
    assert _siblings(path) == (["service.env"] if exists else [])


def test_check_mode_reports_no_change_when_there_is_none(run, tmp_path):
    path = tmp_path / "token"
    path.write_text(f"{TOKEN}\n")
    path.chmod(0o600)

    assert run(path=str(path), format="raw", value=TOKEN, _ansible_check_mode=True).result["changed"] is False


def test_mode_only_change_does_not_rewrite_the_file(run, tmp_path, monkeypatch):
    path = tmp_path / "token"
    path.write_text(f"{TOKEN}\n")
    path.chmod(0o644)
    before = os.stat(path)

    def no_rewrite(*args, **kwargs):
        raise AssertionError("the file must not be rewritten")

    monkeypatch.setattr(token_file.tempfile, "mkstemp", no_rewrite)

    outcome = run(path=str(path), format="raw", value=TOKEN)

    assert outcome.result["changed"] is True
    assert outcome.result["mode"] == "0600"
    assert _mode(path) == 0o600
    assert os.stat(path).st_ino == before.st_ino
    assert run(path=str(path), format="raw", value=TOKEN).result["changed"] is False


def test_symlink_is_kept_and_its_target_written(run, tmp_path):
    real = tmp_path / "real" / "service.env"
    real.parent.mkdir()
    real.write_text("A=1\n")
    link = tmp_path / "service.env"
    link.symlink_to(real)

    outcome = run(path=str(link), format="env", value=TOKEN)

    assert outcome.result["changed"] is True
    assert outcome.result["path"] == str(link)
    assert link.is_symlink()
    assert os.readlink(link) == str(real)
    assert real.read_text() == f"A=1\nTELENOR_ACCESS_TOKEN={TOKEN}\n"
    assert _siblings(real) == ["service.env"]
    assert run(path=str(link), format="env", value=TOKEN).result["changed"] is False


def test_diff_is_never_returned(run, tmp_path):
    path = tmp_path / "token"
    path.write_text(f"{OLD_SECRET}\n")

    outcome = run(path=str(path), format="raw", value=TOKEN, _ansible_diff=True)

    assert outcome.result["changed"] is True
    assert "diff" not in outcome.result


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        pytest.param({"path": "relative/token", "format": "raw", "value": TOKEN}, "path must be absolute", id="relative"),
        pytest.param({"format": "env", "value": TOKEN, "key": "BAD-KEY"}, "key 'BAD-KEY'", id="env-key"),
        pytest.param({"format": "raw", "value": TOKEN, "mode": "u=rw"}, "mode must be", id="symbolic-mode"),
        pytest.param({"format": "raw", "value": TOKEN, "owner": "no-such-user-xyz"}, "owner:", id="owner"),
        pytest.param({"format": "raw", "value": TOKEN, "group": "no-such-group-xyz"}, "group:", id="group"),
        pytest.param({"format": "raw", "value": ""}, "value is empty", id="empty-value"),
        pytest.param({"format": "env"}, "value", id="value-missing"),
        pytest.param({"format": "content"}, "content", id="content-missing"),
        pytest.param({"format": "content", "content": TOKEN, "value": TOKEN}, "mutually exclusive", id="both"),
        pytest.param({"format": "env", "content": TOKEN}, "value", id="content-with-env"),
        pytest.param({"format": "json", "value": TOKEN, "key": "a..b"}, "empty segment", id="json-key"),
        pytest.param({"format": "ini", "value": TOKEN, "section": ""}, "section ''", id="empty-section"),
    ],
)
def test_bad_arguments_fail_before_anything_is_written(run, tmp_path, args, fragment):
    args = {"path": str(tmp_path / "token"), **args}

    outcome = run(**args)

    assert outcome.rc == 1
    assert fragment in outcome.result["msg"]
    assert os.listdir(tmp_path) == []


def test_missing_directory_is_not_created(run, tmp_path):
    outcome = run(path=str(tmp_path / "missing" / "token"), format="raw", value=TOKEN)

    assert outcome.rc == 1
    assert "does not exist" in outcome.result["msg"]
    assert os.listdir(tmp_path) == []


def test_directory_as_path_is_refused(run, tmp_path):
    outcome = run(path=str(tmp_path), format="raw", value=TOKEN)

    assert outcome.rc == 1
    assert "is a directory" in outcome.result["msg"]


def test_missing_pyyaml_is_reported_only_for_yaml(run, tmp_path, monkeypatch):
    monkeypatch.setattr(token_file, "HAS_YAML", False)
    monkeypatch.setattr(token_file, "YAML_IMPORT_ERROR", "ImportError: No module named 'yaml'")

    outcome = run(path=str(tmp_path / "config.yml"), format="yaml", value=TOKEN)

    assert outcome.rc == 1
    assert "PyYAML" in outcome.result["msg"]
    assert run(path=str(tmp_path / "token"), format="raw", value=TOKEN).rc == 0


def test_yaml_written_is_read_back_by_pyyaml(tmp_path):
    data = new_content(b"", fmt="yaml", value="needs: quoting #", key="a.b")
    assert yaml.safe_load(data) == {"a": {"b": "needs: quoting #"}}


def test_yaml_is_written_as_safe_dump_without_sorting_would():
    before = "z: 1\nb:\n  y: [1, {k: v}]\n  a: 2020-01-01\ntelenor: {}\n"
    data = new_content(before.encode(), fmt="yaml", value=TOKEN)
    expected = yaml.safe_load(before)
    expected["telenor"]["access_token"] = TOKEN
    assert data.decode() == yaml.safe_dump(expected, default_flow_style=False, sort_keys=False)


def test_argument_spec_matches_the_documentation():
    documented = yaml.safe_load(token_file.DOCUMENTATION)["options"]
    spec = token_file.argument_spec()
    assert sorted(documented) == sorted(spec)
    for name, option in spec.items():
        doc = documented[name]
        assert doc["type"] == option["type"], name
        assert doc.get("default") == option.get("default"), name
        assert doc.get("choices") == option.get("choices"), name
        assert doc.get("required", False) == option.get("required", False), name
    assert _token_file.FORMATS == tuple(documented["format"]["choices"])

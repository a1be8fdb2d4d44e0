# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The pure logic of token_file: a config file's new bytes from its old bytes."""

from __future__ import annotations

import json
import subprocess

import pytest
import yaml

from ansible_collections.telenor.oauth.plugins.module_utils._token_file import (
    new_readers_of_old_content,
    TokenFileError,
    format_mode,
    new_content,
    shell_value,
)

TOKEN = "AT-Qm7Xv2Lp9sZr-token-file-unit"
OLD_SECRET = "OLD-Hk4Tn8Wc-previous-token"


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


@pytest.mark.parametrize("number", ["1e400", "-2.5E+309"])
def test_a_json_number_beyond_a_float_is_an_error_not_an_infinity_written_back(number):
    # Python reads 1e400 as inf and writes it back as Infinity, which JSON parsers refuse:
    # the service's whole config would stop parsing.
    with pytest.raises(TokenFileError) as error:
        new_content(f'{{"limit": {number}}}'.encode(), fmt="json", value=TOKEN, path="/etc/x.json")
    assert "/etc/x.json has a number too large for format=json to write back unchanged" in error.value.message
    assert number not in error.value.message


def test_json_numbers_a_float_holds_are_kept():
    after = new_content(b'{"ratio": 0.25, "big": 1e300, "count": 123456789012345678901234567890}',
                        fmt="json", value=TOKEN, path="/etc/x.json")
    assert json.loads(after) == {"ratio": 0.25, "big": 1e300, "count": 123456789012345678901234567890,
                                 "telenor": {"access_token": TOKEN}}


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


@pytest.mark.parametrize(("bits", "shown"), [(0o600, "0600"), (0o4750, "04750"), (0, "0000")])
def test_mode_is_shown_as_ansible_shows_modes(bits, shown):
    assert format_mode(bits) == shown


def test_yaml_written_is_read_back_by_pyyaml(tmp_path):
    data = new_content(b"", fmt="yaml", value="needs: quoting #", key="a.b")
    assert yaml.safe_load(data) == {"a": {"b": "needs: quoting #"}}


def test_yaml_is_written_as_safe_dump_without_sorting_would():
    before = "z: 1\nb:\n  y: [1, {k: v}]\n  a: 2020-01-01\ntelenor: {}\n"
    data = new_content(before.encode(), fmt="yaml", value=TOKEN)
    expected = yaml.safe_load(before)
    expected["telenor"]["access_token"] = TOKEN
    assert data.decode() == yaml.safe_dump(expected, default_flow_style=False, sort_keys=False)


@pytest.mark.parametrize("before", [
    pytest.param(f'db_password: !!int "{OLD_SECRET}"\n', id="int-tag-on-text"),
    pytest.param(f'db_password: !!float "{OLD_SECRET}"\n', id="float-tag-on-text"),
    pytest.param("started: 2001-13-14\n", id="no-such-date"),
    pytest.param("port: " + "7" * 5000 + "\n", id="more-digits-than-python-converts"),
    pytest.param(f'db_password: !!bool "{OLD_SECRET}"\n', id="bool-tag-on-text"),
    pytest.param(f'rotated: !!timestamp "{OLD_SECRET}"\n', id="timestamp-tag-on-text"),
])
def test_a_yaml_value_that_its_tag_cannot_hold_is_an_error_that_quotes_nothing(before):
    # An attacker's pass: PyYAML raised ValueError here, not YAMLError, so the module failed
    # with a traceback quoting the existing value ("invalid literal for int(): 'OLD-...'").
    with pytest.raises(TokenFileError) as caught:
        new_content(before.encode(), fmt="yaml", value=TOKEN)

    assert "is not valid yaml: a value its tag or form cannot hold" in caught.value.message
    assert OLD_SECRET not in caught.value.message and "Hk4" not in caught.value.message


def test_a_yaml_value_that_cannot_be_written_back_is_an_error_that_quotes_nothing():
    # Read as an int, which Python will not write out in decimal beyond 4,300 digits.
    with pytest.raises(TokenFileError) as caught:
        new_content(("port: 0x" + "f" * 5000 + "\n").encode(), fmt="yaml", value=TOKEN)

    assert "holds a value that cannot be written back as yaml" in caught.value.message


# --- env: values over several lines, and the result read by sh -------------------------

MULTI_LINE_ENV_CASES = [
    pytest.param(
        f"TELENOR_ACCESS_TOKEN='{OLD_SECRET}\nsecond line of it'\nPORT=8080\n",
        f"TELENOR_ACCESS_TOKEN={TOKEN}\nPORT=8080\n",
        id="single-quoted-over-two-lines",
    ),
    pytest.param(
        f'export TELENOR_ACCESS_TOKEN="{OLD_SECRET} \\"quoted\\"\nand on"\nPORT=8080\n',
        f"export TELENOR_ACCESS_TOKEN={TOKEN}\nPORT=8080\n",
        id="double-quoted-with-escapes-export-kept",
    ),
    pytest.param(
        f"TELENOR_ACCESS_TOKEN={OLD_SECRET}\\\ncontinued\\\r\nand-more\r\nPORT=8080\r\n",
        f"TELENOR_ACCESS_TOKEN={TOKEN}\r\nPORT=8080\r\n",
        id="backslash-continuations-crlf",
    ),
    pytest.param(
        "NOTE='the next line is text\nTELENOR_ACCESS_TOKEN=not-an-assignment\n'\n",
        "NOTE='the next line is text\nTELENOR_ACCESS_TOKEN=not-an-assignment\n'\n"
        f"TELENOR_ACCESS_TOKEN={TOKEN}\n",
        id="lookalike-inside-another-value-untouched",
    ),
    pytest.param(
        f"# it's the token, \"rotated\"\nTELENOR_ACCESS_TOKEN={OLD_SECRET} # old\nPORT=8080\n",
        f"# it's the token, \"rotated\"\nTELENOR_ACCESS_TOKEN={TOKEN}\nPORT=8080\n",
        id="quotes-in-comments-do-not-count",
    ),
]


@pytest.mark.parametrize(("before", "after"), MULTI_LINE_ENV_CASES)
def test_env_replaces_a_multi_line_assignment_whole(before, after):
    assert new_content(before.encode(), fmt="env", value=TOKEN).decode() == after


@pytest.mark.parametrize(("before", "after"), MULTI_LINE_ENV_CASES)
def test_env_result_parses_in_sh(tmp_path, before, after):
    path = tmp_path / "service.env"
    path.write_bytes(new_content(before.encode(), fmt="env", value=TOKEN).replace(b"\r\n", b"\n"))
    shown = subprocess.run(
        ["sh", "-c", '. "$1" && printf "%s|%s" "$TELENOR_ACCESS_TOKEN" "${PORT-unset}"', "sh", str(path)],
        capture_output=True,
        text=True,
        check=True,
    )
    assert shown.stdout.split("|")[0] == TOKEN
    assert shown.stdout.split("|")[1] == ("8080" if "PORT" in before else "unset")


@pytest.mark.parametrize("before", ["TELENOR_ACCESS_TOKEN='%s\n", 'A=1\nB="%s\\"\n'], ids=["single", "double"])
def test_env_with_an_unclosed_quote_is_an_error_that_does_not_quote_it(before):
    with pytest.raises(TokenFileError) as error:
        new_content((before % OLD_SECRET).encode(), fmt="env", value=TOKEN, path="/etc/x.env")
    assert "/etc/x.env is not valid for format=env" in error.value.message
    assert "not closed" in error.value.message
    assert OLD_SECRET not in error.value.message


# --- hostile documents -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "document"),
    [
        pytest.param("json", '{"a": ' * 100_000 + "1" + "}" * 100_000, id="json-objects"),
        pytest.param("json", "[" * 100_000 + "]" * 100_000, id="json-arrays"),
        pytest.param("yaml", "a: " + "[" * 20_000 + "]" * 20_000 + "\n", id="yaml-flow"),
    ],
)
def test_deeply_nested_document_is_an_error_naming_the_file(fmt, document):
    with pytest.raises(TokenFileError) as error:
        new_content(document.encode(), fmt=fmt, value=TOKEN, path="/etc/deep.conf")
    assert error.value.message == f"/etc/deep.conf is not valid {fmt}: nested too deeply to be read"


class OldFile:
    """The parts of an os.stat_result the check reads."""

    def __init__(self, uid: int, gid: int, mode: int) -> None:
        self.st_uid, self.st_gid, self.st_mode = uid, gid, 0o100000 | mode


SVC, OPS = 1001, 2002


@pytest.mark.parametrize(("old", "owner", "group", "mode", "groups", "gained"), [
    # A root-only file moved onto the path by the directory's owner: the new owner gains it.
    pytest.param(OldFile(0, 0, 0o600), SVC, SVC, 0o600, [SVC], ["its owner"], id="root-only-key-to-the-service"),
    pytest.param(OldFile(0, 0, 0o600), SVC, OPS, 0o640, [SVC], ["its owner", "its group"], id="and-to-a-group"),
    pytest.param(OldFile(0, 0, 0o600), SVC, SVC, 0o644, [SVC], ["its owner", "its group", "everyone"],
                 id="and-to-everyone"),
    # Nothing is handed over: readable before, or to the same readers.
    pytest.param(OldFile(0, 0, 0o644), SVC, SVC, 0o600, [SVC], [], id="readable-by-everyone-before"),
    pytest.param(OldFile(SVC, SVC, 0o600), SVC, SVC, 0o600, [SVC], [], id="the-owners-own-file"),
    pytest.param(OldFile(0, SVC, 0o640), SVC, SVC, 0o600, [SVC], [], id="readable-through-the-owners-group"),
    pytest.param(OldFile(0, OPS, 0o640), 0, OPS, 0o640, [0], [], id="root-and-the-same-group"),
    pytest.param(OldFile(0, 0, 0o600), 0, 0, 0o600, [0], [], id="root-keeps-a-root-file"),
])
def test_kept_content_is_never_handed_to_someone_who_could_not_read_it(old, owner, group, mode, groups, gained):
    assert new_readers_of_old_content(old, owner=owner, group=group, mode=mode, owner_groups=groups) == gained

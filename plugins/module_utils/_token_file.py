# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file is private to the telenor.oauth collection; it is not a public API.

"""Pure logic of the token_file module: a config file's new bytes from its old bytes.

Nothing here touches the file system. Every error message may name the path, the
format, the key or the section, and never the value, the content, or a line of the
existing file (which may hold the previous token).
"""

from __future__ import annotations

import configparser
import json
import math
import re
import traceback
import typing as t

try:
    import yaml
except ImportError:
    HAS_YAML = False
    YAML_IMPORT_ERROR: str | None = traceback.format_exc()
else:
    HAS_YAML = True
    YAML_IMPORT_ERROR = None

    class _InOrderSafeDumper(yaml.SafeDumper):
        """yaml.safe_dump(sort_keys=False) for any PyYAML: sort_keys only came in 5.1."""

    def _represent_dict_in_order(dumper: yaml.SafeDumper, data: dict) -> t.Any:
        # A list of pairs is never sorted, whatever the PyYAML version.
        return dumper.represent_mapping("tag:yaml.org,2002:map", list(data.items()))

    _InOrderSafeDumper.add_representer(dict, _represent_dict_in_order)

FORMATS = ("env", "json", "yaml", "ini", "raw", "content")
KEYED_FORMATS = ("env", "json", "yaml", "ini")
DEFAULT_KEYS = {
    "env": "TELENOR_ACCESS_TOKEN",
    "json": "telenor.access_token",
    "yaml": "telenor.access_token",
    "ini": "access_token",
}
DEFAULT_SECTION = "telenor"
DEFAULT_MODE = "0600"

_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ENV_SAFE_VALUE = re.compile(r"^[A-Za-z0-9._~+/=-]+$")
_INI_KEY_FORBIDDEN = re.compile(r"[=:\r\n]")
# configparser's own patterns, so that the line-based edit sees the sections and
# options exactly as the validating parse does.
_INI_SECTION = configparser.ConfigParser.SECTCRE
_INI_OPTION = configparser.ConfigParser.OPTCRE
_INI_COMMENT_PREFIXES = ("#", ";")


class TokenFileError(Exception):
    """A problem with the options or with the existing file; the message is safe to show."""

    def __init__(self, message: str, *, option: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.option = option


# --- options -----------------------------------------------------------------------------


def format_mode(mode: int) -> str:
    """Octal, as Ansible's file modules show modes: V(0600), V(04750)."""
    return f"0{mode:03o}"


def effective_key(fmt: str, key: str | None) -> str | None:
    """O(key), or the format's default; V(None) for the formats that take no key."""
    if fmt not in KEYED_FORMATS:
        if key is not None:
            raise TokenFileError(f"key is not used with format={fmt}", option="key")
        return None
    key = DEFAULT_KEYS[fmt] if key is None else key
    validate_key(fmt, key)
    return key


def validate_key(fmt: str, key: str) -> None:
    if fmt == "env":
        if not _ENV_KEY.match(key):
            raise TokenFileError(
                f"key {key!r} is not a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*)",
                option="key",
            )
    elif fmt in ("json", "yaml"):
        if any(segment == "" for segment in key.split(".")):
            raise TokenFileError(f"key {key!r} has an empty segment in its dotted path", option="key")
    elif fmt == "ini":
        if key != key.strip() or not key or _INI_KEY_FORBIDDEN.search(key) or key[0] in "[#;":
            raise TokenFileError(
                f"key {key!r} is not a valid INI option name (no '=', ':', line breaks,"
                " surrounding blanks, or leading '[', '#', ';')",
                option="key",
            )


def validate_section(section: str) -> None:
    if not section or section != section.strip() or "\n" in section or "\r" in section or "]" in section:
        raise TokenFileError(
            f"section {section!r} is not a valid INI section name (not empty, no ']',"
            " line breaks or surrounding blanks)",
            option="section",
        )


def validate_value(fmt: str, value: str) -> None:
    if value == "":
        raise TokenFileError("value is empty; refusing to write an empty token", option="value")
    if fmt in ("env", "ini") and ("\n" in value or "\r" in value):
        raise TokenFileError(f"value contains a line break, which format={fmt} cannot hold", option="value")


# --- text helpers ------------------------------------------------------------------------


def _split_lines(text: str) -> list[str]:
    """Lines with their endings. Only LF ends a line (str.splitlines would also split on
    form feeds and Unicode separators, and a CR before an LF stays part of its line)."""
    lines = [line + "\n" for line in text.split("\n")]
    last = lines.pop()[:-1]
    if last:
        lines.append(last)
    return lines


def _line_ending(lines: list[str]) -> str:
    """The file's own line ending, so that added lines match it."""
    for line in lines:
        if line.endswith("\n"):
            return "\r\n" if line.endswith("\r\n") else "\n"
    return "\n"


def _body_and_ending(line: str) -> tuple[str, str]:
    for ending in ("\r\n", "\n"):
        if line.endswith(ending):
            return line[: -len(ending)], ending
    return line, ""


def _append_lines(lines: list[str], new_lines: list[str]) -> str:
    eol = _line_ending(lines)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += eol
    return "".join(lines) + "".join(line + eol for line in new_lines)


# --- env ---------------------------------------------------------------------------------


def shell_value(value: str) -> str:
    """The value unquoted when it is URL-safe, else single-quoted as a POSIX shell would need."""
    if _ENV_SAFE_VALUE.match(value):
        return value
    return "'" + value.replace("'", "'\\''") + "'"


def _shell_lines(text: str, path: str) -> list[str]:
    """The text cut into the logical lines a POSIX shell reads, each with its line ending.

    A line break inside single or double quotes, or after a backslash, does not end a logical
    line, so that a multi-line value is one line here; a C(#) that starts a word starts a
    comment, whose quotes do not count.
    """
    lines, start, index, quote, quote_at, word_start = [], 0, 0, "", 0, True
    while index < len(text):
        char = text[index]
        if quote:
            if char == quote:
                quote = ""
            elif char == "\\" and quote == '"':
                index += 1
        elif char == "\\":
            # A backslash continues the line, also before a CRLF ending.
            index += 2 if text.startswith("\r\n", index + 1) else 1
        elif char in "'\"":
            quote, quote_at = char, index
        elif char == "#" and word_start:
            end = text.find("\n", index)
            index = len(text) if end == -1 else end
            continue
        elif char == "\n":
            lines.append(text[start:index + 1])
            start = index + 1
        word_start = char in " \t\n;&|()"
        index += 1
    if quote:
        line = text.count("\n", 0, quote_at) + 1
        raise TokenFileError(
            f"{path} is not valid for format=env: a quote ({quote}) is not closed, near line {line};"
            " the file would not parse in sh either"
        )
    if start < len(text):
        lines.append(text[start:])
    return lines


def env_with_token(text: str, *, key: str, value: str, path: str = "the file") -> str:
    """Set C(KEY=value): every assignment of KEY is replaced whole, other lines kept.

    Whole means up to the end of its logical line: a quoted value that spans lines, or one
    continued with a backslash, goes entirely, so that no piece of the old token stays.
    """
    assignment = re.compile(r"^(?P<lead>[ \t]*(?:export[ \t]+)?)" + re.escape(key) + r"[ \t]*=")
    rendered = shell_value(value)
    lines = _shell_lines(text, path)
    found = False
    for index, line in enumerate(lines):
        match = assignment.match(line)
        if match:
            # Every assignment is replaced, not only the first: with a shell, the last one wins.
            lines[index] = f"{match.group('lead')}{key}={rendered}{_body_and_ending(line)[1]}"
            found = True
    if found:
        return "".join(lines)
    return _append_lines(lines, [f"{key}={rendered}"])


# --- json and yaml -----------------------------------------------------------------------


def _set_dotted(data: dict, key: str, value: str, *, kind: str) -> bool:
    """Set the dotted key in data; return whether anything changed."""
    segments = key.split(".")
    node = data
    for depth, segment in enumerate(segments[:-1], start=1):
        child = node.get(segment)
        if child is None and segment not in node:
            child = node[segment] = {}
        if not isinstance(child, dict):
            raise TokenFileError(
                f"key {'.'.join(segments[:depth])!r} exists and is not {kind}, so {key!r} cannot be set",
                option="key",
            )
        node = child
    leaf = segments[-1]
    current = node.get(leaf)
    if isinstance(current, (dict, list)):
        raise TokenFileError(
            f"key {key!r} holds a structure, not a value; refusing to replace it with the token",
            option="key",
        )
    if leaf in node and current == value and isinstance(current, str):
        return False
    node[leaf] = value
    return True


class _NumberTooLarge(ValueError):
    """A JSON number beyond a float (1e400): Python reads it as inf and writes Infinity, which is not JSON."""


def _finite_float(text: str) -> float:
    number = float(text)
    if math.isinf(number):
        raise _NumberTooLarge(text)
    return number


def json_with_token(text: str, *, key: str, value: str, path: str = "the file") -> str:
    if text.strip() == "":
        data: t.Any = {}
    else:
        try:
            data = json.loads(text, parse_float=_finite_float)
        except _NumberTooLarge as exc:
            raise TokenFileError(
                f"{path} has a number too large for format=json to write back unchanged ({len(str(exc))} characters,"
                " beyond a double-precision float): it would become Infinity, which is not JSON; the file was left as it was"
            ) from None
        except ValueError as exc:
            # Only the position: JSONDecodeError.msg never quotes the document.
            where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
            reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "undecodable"
            raise TokenFileError(f"{path} is not valid json: {reason}{where}") from None
    if not isinstance(data, dict):
        raise TokenFileError(f"{path} is valid json but not an object, so format=json cannot set a key in it")
    if not _set_dotted(data, key, value, kind="an object"):
        return text
    return json.dumps(data, indent=2, ensure_ascii=False) + "\n"


def yaml_with_token(text: str, *, key: str, value: str, path: str = "the file") -> str:
    """Needs PyYAML: the module says so when HAS_YAML is false, before calling."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        # Never str(exc): PyYAML quotes the offending line, which may hold the old token.
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise TokenFileError(f"{path} is not valid yaml: {problem}{where}") from None
    except RecursionError:
        raise  # "nested too deeply", said for every format by new_content
    except Exception as exc:  # pylint: disable=broad-exception-caught
        # Raised by the constructors (ValueError for !!int "text" or a 13th month, KeyError for
        # !!bool "text", AttributeError for !!timestamp "text"); their words quote the value,
        # which may be a secret of the service's.
        raise TokenFileError(f"{path} is not valid yaml: a value its tag or form cannot hold ({type(exc).__name__})") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise TokenFileError(f"{path} is valid yaml but not a mapping, so format=yaml cannot set a key in it")
    if not _set_dotted(data, key, value, kind="a mapping"):
        return text
    try:
        return yaml.dump(data, Dumper=_InOrderSafeDumper, default_flow_style=False, allow_unicode=True)
    except RecursionError:
        raise
    except Exception as exc:  # pylint: disable=broad-exception-caught
        # A value read that cannot be written back (an integer of thousands of digits given in hex).
        raise TokenFileError(f"{path} holds a value that cannot be written back as yaml ({type(exc).__name__})") from None


# --- ini ---------------------------------------------------------------------------------


def _ini_parser() -> configparser.ConfigParser:
    return configparser.ConfigParser(strict=True, interpolation=None)


def _ini_error_reason(exc: configparser.Error) -> str:
    """Why the parse failed, with line numbers but without the line (it may hold the old token)."""
    if isinstance(exc, configparser.MissingSectionHeaderError):
        return f"a line before the first section header (line {exc.lineno})"
    if isinstance(exc, configparser.ParsingError):
        numbers = ", ".join(str(lineno) for lineno, _line in exc.errors)
        return f"unparsable line(s) {numbers}"
    if isinstance(exc, configparser.DuplicateSectionError):
        return f"section {exc.section!r} appears twice (line {exc.lineno})"
    if isinstance(exc, configparser.DuplicateOptionError):
        return f"option {exc.option!r} appears twice in section {exc.section!r} (line {exc.lineno})"
    return type(exc).__name__


def parse_ini(text: str, *, path: str = "the file") -> configparser.ConfigParser:
    parser = _ini_parser()
    try:
        parser.read_string(text, source=path)
    except configparser.Error as exc:
        raise TokenFileError(f"{path} is not valid ini: {_ini_error_reason(exc)}") from None
    return parser


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def ini_with_token(text: str, *, section: str, key: str, value: str, path: str = "the file") -> str:
    """Set key in [section] by editing lines, so that comments and layout are kept.

    The line scan follows configparser.RawConfigParser._read (full-line comments,
    continuation lines indented deeper than their option, case-folded option names),
    and the result is parsed again to prove that it says what was meant.
    """
    parse_ini(text, path=path)
    lines = _split_lines(text)
    wanted = key.lower()  # configparser's default optionxform
    in_section = False
    section_found = False
    last_content = -1  # the section's last header, option or continuation line
    current_option: int | None = None  # the option line that continuation lines extend
    option_indent = 0
    target: int | None = None
    continuation: list[int] = []
    for index, line in enumerate(lines):
        stripped = line.strip()
        if not stripped or stripped.startswith(_INI_COMMENT_PREFIXES):
            continue
        if current_option is not None and _indent(line) > option_indent:
            if in_section:
                last_content = index
                if current_option == target:
                    continuation.append(index)
            continue
        if _INI_SECTION.match(stripped):
            if in_section:
                break  # strict parsing guarantees the section appears once
            in_section = _INI_SECTION.match(stripped).group("header") == section
            section_found = section_found or in_section
            current_option = None
            if in_section:
                last_content = index
            continue
        current_option, option_indent = index, _indent(line)
        if in_section:
            last_content = index
            option = _INI_OPTION.match(stripped)
            if target is None and option and option.group("option").rstrip().lower() == wanted:
                target = index
    if target is not None:
        _replace_ini_value(lines, target, continuation, value)
    elif section_found:
        eol = _line_ending(lines)
        if not lines[last_content].endswith("\n"):
            lines[last_content] += eol
        lines.insert(last_content + 1, f"{key} = {value}{eol}")
    else:
        new_lines = [f"[{section}]", f"{key} = {value}"]
        if lines and lines[-1].strip() != "":
            new_lines.insert(0, "")
        lines = _split_lines(_append_lines(lines, new_lines))
    new_text = "".join(lines)
    _check_ini_result(new_text, section=section, key=key, value=value, path=path)
    return new_text


def _replace_ini_value(lines: list[str], target: int, continuation: list[int], value: str) -> None:
    body, ending = _body_and_ending(lines[target])
    indent = body[: _indent(body)]
    stripped = body.strip()
    option = _INI_OPTION.match(stripped)
    if option is None:  # pragma: no cover - the scan only picks option lines
        raise AssertionError("not an ini option line")
    # Keep the option's spelling and its separator with the blanks around it:
    # "key=v", "key = v", "key: v" stay so.
    if option.group("value"):
        prefix = stripped[: option.start("value")]
    else:
        spaced = option.end("option") < option.start("vi")
        prefix = stripped[: option.end("vi")] + (" " if spaced else "")
    lines[target] = f"{indent}{prefix}{value}{ending}"
    # The old value's continuation lines, and the blank lines among them, go with it.
    if continuation:
        drop = set(continuation)
        drop.update(index for index in range(target + 1, continuation[-1]) if lines[index].strip() == "")
        lines[:] = [line for index, line in enumerate(lines) if index not in drop]


def _check_ini_result(text: str, *, section: str, key: str, value: str, path: str) -> None:
    parser = _ini_parser()
    try:
        parser.read_string(text, source=path)
        written = parser.get(section, key)
    except configparser.Error:
        written = None
    if written != value:
        raise TokenFileError(
            f"cannot set key {key!r} in section {section!r} of {path} by editing its lines"
            " (the result would not parse back to the value); edit the file by hand or use another format"
        )


# --- all formats -------------------------------------------------------------------------


def _decode(data: bytes, fmt: str, path: str) -> str:
    if fmt in ("json", "yaml"):
        try:
            return data.decode("utf-8-sig" if fmt == "json" else "utf-8")
        except UnicodeDecodeError:
            raise TokenFileError(f"{path} is not valid {fmt}: not UTF-8 text") from None
    # Line-based formats keep undecodable bytes byte for byte.
    return data.decode("utf-8", errors="surrogateescape")


def new_content(
    current: bytes,
    *,
    fmt: str,
    value: str | None = None,
    content: str | None = None,
    key: str | None = None,
    section: str = DEFAULT_SECTION,
    path: str = "the file",
) -> bytes:
    """The file's bytes with the token set; V(current) itself when nothing needs to change."""
    if fmt not in FORMATS:
        raise TokenFileError(f"unknown format {fmt!r}", option="format")
    key = effective_key(fmt, key)
    if fmt == "content":
        if content is None:
            raise TokenFileError("content is required with format=content", option="content")
        return content.encode("utf-8", errors="surrogateescape")
    if value is None:
        raise TokenFileError(f"value is required with format={fmt}", option="value")
    validate_value(fmt, value)
    if fmt == "raw":
        return value.encode("utf-8", errors="surrogateescape") + b"\n"
    if key is None:  # pragma: no cover - callers resolve the default key first
        raise AssertionError("no key for this format")
    text = _decode(current, fmt, path)
    if fmt == "env":
        new_text = env_with_token(text, key=key, value=value, path=path)
    elif fmt in ("json", "yaml"):
        edit = json_with_token if fmt == "json" else yaml_with_token
        try:
            new_text = edit(text, key=key, value=value, path=path)
        except RecursionError:
            # Both parsers recurse once per level: a hostile file must not crash the module.
            raise TokenFileError(f"{path} is not valid {fmt}: nested too deeply to be read") from None
    else:
        validate_section(section)
        new_text = ini_with_token(text, section=section, key=key, value=value, path=path)
    if new_text is text:
        return current
    return new_text.encode("utf-8", errors="surrogateescape")


def new_readers_of_old_content(
    old: t.Any, *, owner: int, group: int, mode: int, owner_groups: t.Collection[int]
) -> list[str]:
    """Who the new file lets read the content kept from ``old`` (an os.stat_result) who could
    not read ``old`` itself: "its owner", "its group", "everyone"; empty when nobody.

    The keyed formats keep the rest of the existing file. Whoever can write its directory can
    rename any file there onto the path (a root-only key, say); the new file must not hand
    that content to its new owner, group or everyone. Root reads everything anyway.
    """
    old_mode = old.st_mode
    if old_mode & 0o004:
        return []
    gained = []
    owner_could = owner == 0 or (old.st_uid == owner and old_mode & 0o400) or (
        old_mode & 0o040 and old.st_gid in owner_groups)
    if mode & 0o400 and not owner_could:
        gained.append("its owner")
    if mode & 0o040 and group != 0 and not (old_mode & 0o040 and old.st_gid == group):
        gained.append("its group")
    if mode & 0o004:
        gained.append("everyone")
    return gained

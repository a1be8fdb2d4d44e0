# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file is private to the telenor.oauth collection; it is not a public API.

"""Reading and validating the shared connection options, once, for every edge.

The lookup reads options with ``get_option`` and the module with
``module.params.get``; both are an ``OptionGetter``, so the validation below is
written once.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import typing as t
from urllib.parse import unquote, urlsplit

from ansible.module_utils.parsing.convert_bool import BOOLEANS_FALSE, BOOLEANS_TRUE

from ._errors import CLIENT_CREDENTIALS, GRANT_TYPES, TelenorConfigError

if t.TYPE_CHECKING:
    from ._cache import TokenCache

DEFAULT_API_URL = "https://api.telenor.no"
DEFAULT_CACHE_DIR = "~/.cache/telenor_oauth"

# Accepted ranges of the numeric options: (minimum, maximum). A timeout must
# be finite and above zero; 600 s per attempt is far beyond any sane answer.
MAX_TIMEOUT = 600.0
NUMBER_RANGES: dict[str, tuple[float, float]] = {
    "timeout": (0.001, MAX_TIMEOUT),
    "retries": (0, 10),
    "min_ttl": (0, 366 * 24 * 3600),
}
# Plain decimal spellings only: no "1_000", "1e3", "nan" or "inf" from an
# environment variable or ini file.
_INTEGER_TEXT = re.compile(r"-?[0-9]{1,15}")
_DECIMAL_TEXT = re.compile(r"-?(?:[0-9]{1,15}(?:\.[0-9]{0,15})?|\.[0-9]{1,15})")

_SOURCES = {
    "client_id": (
        "the client_id option, the TELENOR_CLIENT_ID environment variable, or (for the lookup"
        " and the service_token role) the telenor_client_id variable"
    ),
    "client_secret": (
        "the client_secret option, the TELENOR_CLIENT_SECRET environment variable, or (for the"
        " lookup and the service_token role) the telenor_client_secret variable, kept in Ansible Vault"
    ),
}
# Where the system user of the password grant is set, and what it is. The role
# reads the telenor_* variables too (service_token_* override them).
_USER_SOURCES = {
    "username": (
        "the username option, the TELENOR_USERNAME environment variable, or (for the lookup and the"
        " service_token role) the telenor_username variable, which the role's service_token_username overrides"
    ),
    "password": (
        "the password option, the TELENOR_PASSWORD environment variable, or (for the lookup and the"
        " service_token role) the telenor_password variable, which the role's service_token_password overrides"
    ),
}
_SYSTEM_USER_WORDS = (
    "the system user that your company's administrator creates in Min Bedrift, in its API section"
    " (a non-personal machine user, not a person's Connectid or Min Bedrift login)"
)
_CREDENTIAL_WORDS = {
    "client_id": "the Consumer Key of your app in the Telenor developer portal",
    "client_secret": "the Consumer Secret of your app in the Telenor developer portal",
}


OptionGetter = t.Callable[[str], t.Any]
"""Reads an option by name: a plugin's get_option, or a module's params.get."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """Validated connection settings. The secrets are left out of repr()."""

    api_url: str
    client_id: str
    client_secret: str = dataclasses.field(repr=False)
    scope: str | None
    validate_certs: bool = dataclasses.field(repr=False)
    ca_path: str | None = dataclasses.field(repr=False)
    timeout: float = dataclasses.field(repr=False)
    retries: int = dataclasses.field(repr=False)
    min_ttl: int = dataclasses.field(repr=False)
    cache_dir: str = dataclasses.field(repr=False)
    # Only the default location may fall back to a private temp directory;
    # a cache_dir the user chose that cannot be used stays an error.
    cache_dir_is_default: bool = dataclasses.field(default=False, repr=False)
    grant_type: str = CLIENT_CREDENTIALS
    username: str | None = None
    password: str | None = dataclasses.field(default=None, repr=False)
    # May carry the Redis password in its userinfo.
    cache_url: str | None = dataclasses.field(default=None, repr=False)
    cache_ca_path: str | None = dataclasses.field(default=None, repr=False)

    def client(self):
        from ._client import TelenorClient  # pylint: disable=import-outside-toplevel

        return TelenorClient(self)

    # The cache classes are imported here, not at the top: a worker whose token
    # is cached compiles only the backend it reads (the collection loader keeps
    # no bytecode, so every module imported costs each fresh worker its compile).
    def cache(self) -> TokenCache:
        from ._cache import CacheIdentity  # pylint: disable=import-outside-toplevel

        identity = CacheIdentity(
            api_url=self.api_url,
            client_id=self.client_id,
            scope=self.scope,
            client_secret=self.client_secret,
            grant_type=self.grant_type,
            username=self.username,
            password=self.password,
        )
        if self.cache_url:
            from ._redis_cache import RedisTokenCache  # pylint: disable=import-outside-toplevel

            return RedisTokenCache(  # type: ignore[return-value]  # the same interface
                self.cache_url, identity, ca_path=self.cache_ca_path, timeout=self.timeout, retries=self.retries,
            )
        from ._cache import TokenCache  # pylint: disable=import-outside-toplevel

        return TokenCache(self.cache_dir, identity, may_fall_back=self.cache_dir_is_default)


def _cache_url_options(get: OptionGetter) -> tuple[str | None, str | None]:
    """cache_url and cache_ca_path, checked; the Redis backend is loaded only when one of them is set."""
    if not get("cache_url") and not get("cache_ca_path"):
        return None, None
    from ._redis_cache import redis_cache_options  # pylint: disable=import-outside-toplevel

    return redis_cache_options(get)


def is_loopback(host: str) -> bool:
    import ipaddress  # pylint: disable=import-outside-toplevel  # only for http:// URLs

    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _userinfo(url: str) -> tuple[str, str, str] | None:
    """(before, userinfo, after) of a URL with a user:password@ part, else None."""
    scheme, sep, rest = url.partition("://")
    # Up to the last '@': a password may hold '/', '?' or '#' (base64 does), and a
    # path or query that holds an '@' is masked too rather than a password shown.
    if not sep or "@" not in rest:
        return None
    userinfo, _at, after = rest.rpartition("@")
    return f"{scheme}{sep}", userinfo, f"@{after}"


def url_without_password(url: str, *, keep_user: bool = True) -> str:
    """The URL as it may appear in a message: the password of its user:password@ part masked,
    and the user too unless ``keep_user`` (a Redis user is a name; an API URL's may be a token)."""
    parts = _userinfo(url)
    if parts is None:
        return url if "://" in url or "@" not in url else "***"
    before, userinfo, after = parts
    user, colon, _password = userinfo.partition(":")
    # Without a colon, what was written may be a password meant as one: mask it all.
    return f"{before}{user}:***{after}" if colon and keep_user else f"{before}***{after}"


def url_secrets(url: t.Any) -> list[str]:
    """The user:password part of a URL and its password, as written and percent-decoded,
    longest first: values to keep out of output."""
    parts = _userinfo(url) if isinstance(url, str) else None
    if parts is None:
        return []
    userinfo = parts[1]
    # Without a colon, the whole userinfo may be a password meant as one.
    password = userinfo.partition(":")[2] if ":" in userinfo else userinfo
    values = {value for value in (userinfo, password, unquote(password)) if value}
    return sorted(values, key=len, reverse=True)


def normalize_api_url(value: t.Any) -> str:
    """Check ``api_url`` and return it without a trailing slash."""
    if not isinstance(value, str) or not value.strip():
        raise TelenorConfigError("api_url must be a URL such as https://api.telenor.no")
    url = value.strip()
    shown = url_without_password(url, keep_user=False)
    try:
        parts = urlsplit(url)
        has_credentials = parts.username is not None or parts.password is not None
        # .port raises ValueError for a port that is not a number or above 65535;
        # port 0 parses but no server listens there.
        if parts.port == 0:
            raise ValueError("port 0")
    except ValueError as exc:
        raise TelenorConfigError(f"api_url {shown!r} is not a valid URL ({type(exc).__name__})") from None
    if has_credentials:
        raise TelenorConfigError(
            "api_url must not carry credentials (user:password@); set client_id and client_secret instead"
        )
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise TelenorConfigError(
            f"api_url {shown!r} is not an http(s) URL with a host; expected for example https://api.telenor.no"
        )
    if parts.query or parts.fragment or url.endswith(("?", "#")):
        raise TelenorConfigError(f"api_url {shown!r} must not have a query string or fragment")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise TelenorConfigError(
            f"api_url {shown!r} uses plain http:// to a host that is not loopback; the client secret"
            " would cross the network unencrypted. Use https:// (http:// is accepted only for"
            " 127.0.0.1, ::1 or localhost, such as a local emulator)"
        )
    return url.rstrip("/")


def normalize_scope(value: t.Any) -> str | None:
    """Scopes as the space-separated string the token endpoint takes."""
    if value is None or value == "" or value == []:
        return None
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise TelenorConfigError("scope must be a list of scope names")
    scopes: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise TelenorConfigError(f"scope items must be strings, got {type(item).__name__}")
        name = item.strip()
        if not name:
            continue
        if any(char.isspace() for char in name):
            # A string from any source (TELENOR_SCOPE, ansible.cfg, a variable or argument
            # written as a string) is split at commas, by core and above; spaces separate nothing.
            raise TelenorConfigError(
                f"scope item {name!r} contains whitespace; give each scope as its own list item,"
                f" or where scope is one string (TELENOR_SCOPE, ansible.cfg) separate them with commas:"
                f" {','.join(name.split())!r}"
            )
        if name not in scopes:
            scopes.append(name)
    return " ".join(scopes) or None


def _credential(get: OptionGetter, name: str) -> str:
    value = get(name)
    if value is None or (isinstance(value, str) and not value.strip()):
        raise TelenorConfigError(
            f"No {name} given, or it is empty: set {_SOURCES[name]}. It is {_CREDENTIAL_WORDS[name]};"
            " Connectid and Min Bedrift logins are portal logins, not API credentials"
        )
    if not isinstance(value, str):
        raise TelenorConfigError(f"{name} must be a string, got {type(value).__name__}: check where it is set, {_SOURCES[name]}")
    return value


def _is_unset(value: t.Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def grant_credentials(get: OptionGetter) -> tuple[str, str | None, str | None]:
    """The grant type and, for the password grant (RFC 6749 section 4.3), the system user.

    username and password belong to the password grant alone: given with client
    credentials they would be ignored, which hides a mistake, so they are refused.
    """
    grant_type = get("grant_type")
    if grant_type is None or grant_type == "":
        grant_type = CLIENT_CREDENTIALS
    if grant_type not in GRANT_TYPES:
        shown = grant_type if isinstance(grant_type, str) and len(grant_type) <= 40 else type(grant_type).__name__
        raise TelenorConfigError(
            f"grant_type must be {' or '.join(GRANT_TYPES)}, got {shown!r} (the option grant_type,"
            " the TELENOR_GRANT_TYPE environment variable or the telenor_grant_type variable)"
        )
    username, password = get("username"), get("password")
    if grant_type == CLIENT_CREDENTIALS:
        given = [name for name, value in (("username", username), ("password", password)) if not _is_unset(value)]
        if given:
            # Name where they may come from: an environment variable set for another
            # tool appears nowhere in the playbook.
            raise TelenorConfigError(
                f"{' and '.join(given)} given with grant_type=client_credentials: username and password are"
                " only for grant_type=password (a system user, for the APIs that need one). Set"
                " grant_type=password, or leave username and password unset;"
                f" {'it is' if len(given) == 1 else 'they are'} read from"
                f" {'; and '.join(_USER_SOURCES[name] for name in given)}"
            )
        return grant_type, None, None
    missing = [name for name, value in (("username", username), ("password", password)) if _is_unset(value)]
    if missing:
        raise TelenorConfigError(
            f"grant_type=password needs {' and '.join(missing)}, and {'it is' if len(missing) == 1 else 'they are'}"
            f" missing or empty: set {'; and '.join(_USER_SOURCES[name] for name in missing)}"
            f"{', kept in Ansible Vault' if 'password' in missing else ''}. They are"
            f" {_SYSTEM_USER_WORDS}"
        )
    for name, value in (("username", username), ("password", password)):
        if not isinstance(value, str):
            raise TelenorConfigError(
                f"{name} must be a string, got {type(value).__name__}: check where it is set, {_USER_SOURCES[name]}"
            )
    return grant_type, username, password


def strict_boolean(name: str, value: t.Any) -> bool:
    """A boolean option's value; anything but a real boolean is an error.

    The spellings are those of Ansible's strict boolean (true/false, yes/no,
    on/off, 1/0, ...). Core's config layer maps every other string to False,
    which for validate_certs would turn TLS verification off.
    """
    if isinstance(value, bool):
        return value
    normalized = value.strip().lower() if isinstance(value, str) else value
    if isinstance(normalized, (str, int, float)):
        if normalized in BOOLEANS_TRUE:
            return True
        if normalized in BOOLEANS_FALSE:
            return False
    shown = repr(value)[:40]
    raise TelenorConfigError(f"{name} must be a boolean (true/false, yes/no, on/off or 1/0), got {shown}")


def _plain_number(value: float) -> str:
    """``value`` as the documentation writes it: 31622400, not 3.16224e+07 (``:g``); 0.001 as it is."""
    return str(int(value)) if float(value).is_integer() else str(value)


def _number(get: OptionGetter, name: str, *, integer: bool) -> t.Any:
    """A numeric option, in NUMBER_RANGES[name]; NaN, infinity and Python-only spellings refused.

    Its default comes from the plugin's documentation or the module's argument spec.
    """
    minimum, maximum = NUMBER_RANGES[name]
    value = get(name)
    kind = "a whole number" if integer else "a number"
    shown = repr(value)[:40]
    expected = f"{name} must be {kind} from {_plain_number(minimum)} to {_plain_number(maximum)}, got {shown}"
    if isinstance(value, bool):
        raise TelenorConfigError(expected)
    if isinstance(value, str):
        text = value.strip()
        if not (_INTEGER_TEXT if integer else _DECIMAL_TEXT).fullmatch(text):
            raise TelenorConfigError(expected)
        value = int(text) if integer else float(text)
    if not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TelenorConfigError(expected)
    if integer:
        if value != int(value):
            raise TelenorConfigError(expected)
        value = int(value)
    else:
        value = float(value)
    if not minimum <= value <= maximum:
        raise TelenorConfigError(expected)
    return value


def _cache_dir(get: OptionGetter) -> tuple[str, bool]:
    """The cache directory, absolute, and whether it is the default location."""
    value = get("cache_dir")
    # Options of type path arrive expanded: the default is recognised in
    # either form (a cache_dir set to the default location counts as it).
    is_default = value in (None, "", DEFAULT_CACHE_DIR) or (
        isinstance(value, str) and value == os.path.expanduser(DEFAULT_CACHE_DIR)
    )
    if not isinstance(value, str) or not value:
        value = DEFAULT_CACHE_DIR
    expanded = os.path.expanduser(value)
    if expanded.startswith("~"):
        if is_default:
            return "", True  # no home directory at all: the cache falls back
        raise TelenorConfigError(
            f"cache_dir {value!r} cannot be expanded: there is no home directory for the user"
        )
    return os.path.abspath(expanded), is_default


def settings_from_options(get: OptionGetter) -> Settings:
    """Validate every shared option; raise TelenorConfigError naming the bad one."""
    client_id = _credential(get, "client_id")
    if ":" in client_id:
        raise TelenorConfigError(
            "client_id must not contain ':' (HTTP Basic authentication cannot carry it);"
            f" check that client_id and client_secret are not swapped or joined where it is set: {_SOURCES['client_id']}"
        )
    client_secret = _credential(get, "client_secret")
    grant_type, username, password = grant_credentials(get)
    timeout = _number(get, "timeout", integer=False)
    cache_dir, cache_dir_is_default = _cache_dir(get)
    validate_certs = strict_boolean("validate_certs", get("validate_certs"))
    ca_path = get("ca_path") or None
    if ca_path is not None and not os.path.exists(os.path.expanduser(ca_path)):
        raise TelenorConfigError(f"ca_path {ca_path!r} does not exist")
    cache_url, cache_ca_path = _cache_url_options(get)
    return Settings(
        # The documented default arrives as such; this is for an empty value (TELENOR_API_URL='').
        api_url=normalize_api_url(get("api_url") or DEFAULT_API_URL),
        client_id=client_id,
        client_secret=client_secret,
        scope=normalize_scope(get("scope")),
        validate_certs=validate_certs,
        ca_path=os.path.expanduser(ca_path) if ca_path else None,
        timeout=timeout,
        retries=_number(get, "retries", integer=True),
        min_ttl=_number(get, "min_ttl", integer=True),
        cache_dir=cache_dir,
        cache_dir_is_default=cache_dir_is_default,
        grant_type=grant_type,
        username=username,
        password=password,
        cache_url=cache_url,
        cache_ca_path=cache_ca_path,
    )

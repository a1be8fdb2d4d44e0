# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # The connection, credential and cache options shared by the lookup and
    # the module. Documented once here; PLUGINS below adds only the sources a
    # plugin reads them from.
    DOCUMENTATION = r"""
options:
  client_id:
    description:
      - The OAuth client ID of your app, shown as C(client_id) or Consumer Key under your apps
        in the Telenor developer portal dashboard.
      - This is not a Connectid or Min Bedrift username; those are portal logins and do not
        work against the API.
      - Must not contain V(:), which HTTP Basic authentication cannot carry.
    type: str
  client_secret:
    description:
      - The OAuth client secret of your app (Consumer Secret). Keep it in Ansible Vault.
      - It is sent only to the token endpoint, in the HTTP Basic C(Authorization) header,
        and is never written to the cache, logs or error messages.
    type: str
  grant_type:
    description:
      - The OAuth2 grant to obtain tokens with. Which one an API takes is in its documentation;
        see the collection guide "Which credentials for which API".
      - V(client_credentials) (RFC 6749 section 4.4) authenticates the app alone, with
        O(client_id) and O(client_secret). The Telenor Stores API takes it.
      - V(password), the resource owner password credentials grant (RFC 6749 section 4.3),
        also sends a company system user's O(username) and O(password). Mobile Subscription
        Info and Mobile Subscription Order take it.
      - Tokens of different grants and system users are cached separately.
    type: str
    choices: [client_credentials, password]
    default: client_credentials
  username:
    description:
      - With O(grant_type=password), the username of the company system user, the non-personal
        machine user that your company's administrator creates in Min Bedrift, in its API section.
      - Not a person's Connectid or Min Bedrift login.
      - Required with O(grant_type=password); refused with O(grant_type=client_credentials).
    type: str
  password:
    description:
      - With O(grant_type=password), the password of the system user O(username). Keep it in
        Ansible Vault.
      - It is sent only to the token endpoint, in the request body, and is never written to the
        cache, logs or error messages.
      - Required with O(grant_type=password); refused with O(grant_type=client_credentials).
    type: str
  scope:
    description:
      - Scopes to request, each as its own list item; sent space-separated.
      - Given as one string, as in the E(TELENOR_SCOPE) environment variable, scopes are separated
        by commas (V(sms,read)), not spaces.
      - Tokens for different scopes are cached separately.
    type: list
    elements: str
  api_url:
    description:
      - Base URL of the Telenor API. The token endpoint is O(api_url)C(/oauth/v2/token)
        and the logout endpoint O(api_url)C(/oauth/v2/logout).
      - Must be C(https://); plain C(http://) is accepted only for a loopback host
        (V(127.0.0.1), V(::1) or V(localhost)), such as a local emulator.
    type: str
    default: https://api.telenor.no
  validate_certs:
    description:
      - Verify the server's TLS certificate. Turn off only for testing.
      - Only a real boolean is accepted (V(true)/V(false), V(yes)/V(no), V(on)/V(off), V(1)/V(0));
        anything else fails, from any source, before a request is made.
    type: bool
    default: true
  ca_path:
    description:
      - A CA bundle file to verify the server's certificate with, instead of the system's.
    type: path
  timeout:
    description:
      - Seconds an attempt may take in all, from connecting to the last byte of the answer.
      - From V(0.001) to V(600).
    type: float
    default: 10
  retries:
    description:
      - How many times to retry after a connection error, a dropped connection (in the TLS
        handshake too), a timeout, an HTTP 5xx or an HTTP 429, with jittered exponential backoff and honouring
        C(Retry-After), in seconds or as an HTTP date (up to 30 seconds). Other HTTP 4xx answers
        fail at once.
      - From V(0) to V(10).
      - When a request has failed after its retries, the calls that were waiting for it (the
        other hosts of the play, and runs with the same settings on the same controller) and
        those made within 2 seconds get its error, saying so, rather than each repeat it against
        a failing API. A call made later requests again.
    type: int
    default: 3
  min_ttl:
    description:
      - A cached token is reused while it has at least this many seconds left; otherwise a
        new token is requested.
      - The margin used is at most half the token's lifetime, so a short-lived token is
        still reused rather than requested anew on every call.
      - From V(0) to V(31622400) (366 days).
    type: int
    default: 300
  cache_dir:
    description:
      - Directory of the token cache, shared by all forks, hosts, runs and concurrent
        C(ansible-playbook) processes of the user. Created with mode C(0700).
      - An existing directory is used only if it belongs to the user and no one else can write
        to it; it is never chmod-ed.
      - When the default location cannot be used (no home directory, or a read-only one), a
        private C(telenor_oauth-<uid>) directory under the system temporary directory is used
        instead, with a warning. A O(cache_dir) you set that cannot be used is an error.
      - Records are encrypted with AES-256-GCM under a key derived from O(client_secret)
        (and, with O(grant_type=password), from O(password) too); files are mode C(0600).
    type: path
    default: ~/.cache/telenor_oauth
  cache_url:
    description:
      - Keep the token cache in Redis instead of O(cache_dir), so that every controller, AWX or
        Automation Platform job and CI runner pointing at the same Redis shares one token (one
        token request for all of them, not one per job).
      - "Accepted forms: V(redis://[[user]:password@]host[:port][/db]),
        V(rediss://[[user]:password@]host[:port][/db]) (TLS, verified against O(cache_ca_path) or the
        system's CAs), and V(unix://[[user]:password@]/path/to/redis.sock[?db=N])."
      - Records are the same AES-256-GCM envelopes as in the file cache, under key names that are
        hashes, each expiring with its token. The lock that makes one process request the token
        while the others wait is a Redis key with an expiry, so a holder that dies frees it.
      - When Redis cannot be reached, refuses the password or times out, the task fails with an
        error naming Redis and the URL (without its password), and no token is requested. Unset
        O(cache_url) to fall back to the file cache.
      - The URL's password is never shown in output or errors. Needs the C(redis) Python library.
      - When unset, the file cache in O(cache_dir) is used.
    type: str
  cache_ca_path:
    description:
      - A CA bundle file to verify the Redis server's TLS certificate with, for a V(rediss://)
        O(cache_url), instead of the system's CAs.
    type: path
requirements:
  - redis (the Python library; only with O(cache_url))
notes:
  - Proxies are taken from the usual C(HTTPS_PROXY), C(HTTP_PROXY) and C(NO_PROXY) environment
    variables, except for a loopback O(api_url), which is never reached through a proxy.
  - Error messages name the HTTP status, the Telenor error code (or the OAuth error) and what it
    means; they never contain the client secret, the system user's password or a token.
"""

    # Where the lookup reads each shared option from, besides its keyword arguments.
    PLUGINS = r"""
options:
  client_id:
    env:
      - name: TELENOR_CLIENT_ID
    vars:
      - name: telenor_client_id
  client_secret:
    env:
      - name: TELENOR_CLIENT_SECRET
    vars:
      - name: telenor_client_secret
  grant_type:
    env:
      - name: TELENOR_GRANT_TYPE
    vars:
      - name: telenor_grant_type
  username:
    env:
      - name: TELENOR_USERNAME
    vars:
      - name: telenor_username
  password:
    env:
      - name: TELENOR_PASSWORD
    vars:
      - name: telenor_password
  scope:
    env:
      - name: TELENOR_SCOPE
    vars:
      - name: telenor_scope
    ini:
      - section: telenor_oauth
        key: scope
  api_url:
    env:
      - name: TELENOR_API_URL
    vars:
      - name: telenor_api_url
    ini:
      - section: telenor_oauth
        key: api_url
  validate_certs:
    env:
      - name: TELENOR_VALIDATE_CERTS
    vars:
      - name: telenor_validate_certs
    ini:
      - section: telenor_oauth
        key: validate_certs
  ca_path:
    env:
      - name: TELENOR_CA_PATH
    vars:
      - name: telenor_ca_path
    ini:
      - section: telenor_oauth
        key: ca_path
  timeout:
    env:
      - name: TELENOR_TIMEOUT
    ini:
      - section: telenor_oauth
        key: timeout
  retries:
    env:
      - name: TELENOR_RETRIES
    ini:
      - section: telenor_oauth
        key: retries
  min_ttl:
    env:
      - name: TELENOR_TOKEN_MIN_TTL
    ini:
      - section: telenor_oauth
        key: min_ttl
  cache_dir:
    env:
      - name: TELENOR_TOKEN_CACHE_DIR
    ini:
      - section: telenor_oauth
        key: cache_dir
  cache_url:
    env:
      - name: TELENOR_TOKEN_CACHE_URL
    vars:
      - name: telenor_cache_url
    ini:
      - section: telenor_oauth
        key: cache_url
  cache_ca_path:
    env:
      - name: TELENOR_TOKEN_CACHE_CA_PATH
    vars:
      - name: telenor_cache_ca_path
    ini:
      - section: telenor_oauth
        key: cache_ca_path
"""

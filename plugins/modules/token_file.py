#!/usr/bin/python
# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: token_file
author: Telenor OAuth collection maintainers (@telenor)
version_added: 1.0.0
short_description: Put a Telenor API access token into a service's config file, atomically
description:
  - Sets a token in a configuration file on the managed host, in one of several formats,
    keeping the rest of the file as it is where the format allows.
  - The file is written atomically, with its final owner, group, mode, SELinux context and
    attributes before the first byte of the secret is written, so that no other user can ever read
    a partly written or too-open file. The file options behave as in M(ansible.builtin.copy).
  - The module runs as root through C(become), often in a directory that the service's own user
    owns. It never writes, chowns or chmods through a symbolic link, nor reads or replaces a file
    that has other hard links, see O(path).
  - "The module never returns the token, the content, or a diff, and never quotes a line of the
    existing file in an error message (the line may hold the previous token). Still use
    C(no_log: true) on the task, so that the token does not show in the task's arguments."
  - The role P(telenor.oauth.service_token#role) calls this module once per file.
options:
  path:
    description:
      - Absolute path of the configuration file on the managed host.
      - A missing file is created; its parent directory must exist.
      - If O(path) is a symbolic link, dangling or not, the task fails and nothing is written, because
        whoever can write the directory could point the link at V(/etc/passwd). Give the path
        of the file itself, or remove the link.
      - If a link appears at O(path) while the module runs, the new file replaces the link (as
        with M(ansible.builtin.copy)); what the link pointed to is never opened.
      - If the file at O(path) has other hard links, the task fails and nothing is written. The
        module reads the existing file to keep its other content, so a hard link to, say,
        V(/etc/shadow), planted by whoever can write the directory, would copy that file's content
        into one they can read. Remove the other links, or the file.
      - For the formats that keep the rest of the file (V(env), V(json), V(yaml), V(ini)), the task
        fails, naming the path, when the new file would let its owner, its group or everyone read
        that content and they could not read the existing file; whoever can write the directory
        could have moved a root-only file of it onto O(path). Make the existing file readable to
        them first, or remove it so that it is created anew.
      - An existing file keeps its owner and group where O(owner) and O(group) do not set them,
        as with M(ansible.builtin.copy), unless someone else could have chosen them. When
        someone other than root and the user the module runs as can put a file in the directory
        (its owner, its group or an ACL entry, or everyone, sticky bit or not, as in V(/var/tmp)),
        or can replace a directory above it, and the owner or group to keep differs from what a
        new file gets, the task fails, naming the path and the options to set, and nothing is
        written. They could otherwise put a file of theirs at the path, or move in a root-owned
        one with their group, and read the token. Set O(owner) and O(group) for such a file, or
        remove it so that it is created anew.
      - If the directory, or a directory above it, can be written by anyone but root and the
        file's owner (it belongs to another user, or it is group- or world-writable without the
        sticky bit; a group that is its owner's private one, with no other member, does not
        count), the module warns, as they can replace or remove the file at any time. The write
        itself stays safe.
    type: path
    required: true
  format:
    description:
      - How the token goes into the file.
      - V(env) sets C(KEY=value) for the variable O(key). Every assignment of it (with or
        without a leading C(export )) is replaced in place, keeping C(export ), and replaced
        whole, so that a quoted value over several lines, or one continued with a backslash, goes
        entirely. Every other line (comments, blank lines, order) is kept byte for byte. A file
        with a quote that is never closed is an error, as it would be for C(sh). Without an
        assignment of O(key), C(KEY=value) is appended. The value is written unquoted when it consists only of
        C(A-Z a-z 0-9 . _ ~ + / = -), as tokens do, and single-quoted shell-style otherwise.
      - V(json) loads the file as a JSON object (an empty or missing file counts as C({})),
        sets the dotted key path O(key), creating the objects along the path, and writes it back
        with an indentation of two spaces, keeping the order of keys.
      - V(yaml) does the same for a YAML mapping. Comments in the file are B(not) kept when the
        file is rewritten.
      - V(ini) sets the option O(key) in the section O(section). The file must parse as INI
        (Python C(configparser), strict, no interpolation). The edit is line-based, so comments
        and everything else are kept. The option's line is replaced (keeping its separator
        style), or the option is added at the end of the section, or the section is appended
        at the end of the file.
      - V(raw) makes the file the token alone, followed by a newline.
      - V(content) makes the file exactly O(content), for example a template rendered on the
        controller. It is how the service_token role writes its V(template) format. For a file
        that holds a token, prefer it to M(ansible.builtin.copy) with C(content), whose C(--diff)
        output shows the token. This writes as the other formats do, and never shows a diff.
      - A json or yaml file whose value at O(key) already is the token is left as it is,
        formatting and comments included.
    type: str
    required: true
    choices: [env, json, yaml, ini, raw, content]
  value:
    description:
      - The token.
      - Required unless O(format=content). Must not be empty. With O(format=env) and
        O(format=ini), it must not contain line breaks.
    type: str
  content:
    description:
      - The whole content of the file.
      - Required with O(format=content), and only used with it.
    type: str
  key:
    description:
      - Where the token goes in the file.
      - With O(format=env), the variable name, matching C([A-Za-z_][A-Za-z0-9_]*); the
        default is V(TELENOR_ACCESS_TOKEN).
      - With O(format=json) and O(format=yaml), a dotted key path such as V(telenor.access_token)
        (the default) whose segments are not empty. Every segment but the last must be an object
        (or be missing), and the last must not hold an object or a list.
      - With O(format=ini), the option name; the default is V(access_token).
      - Not used with O(format=raw) and O(format=content), and an error there.
    type: str
  section:
    description:
      - With O(format=ini), the section that O(key) is set in.
    type: str
    default: telenor
  mode:
    description:
      - The permissions of the file, as an octal string such as V('0640'), an integer, which is
        used as is (so in YAML either quote it or write it with a leading zero), or a symbolic mode
        such as V(u=rw,g=r), applied to the existing file's mode (or V(0600) for a new file), as
        with M(ansible.builtin.copy).
      - A symbolic mode starts from V(0600), not from the existing file's mode, when the file
        changes owner or group, since its bits were chosen by whoever had it, who may have planted it.
        It never carries set-id or sticky bits over from the existing file.
    type: raw
    default: '0600'
extends_documentation_fragment:
  - ansible.builtin.files
notes:
  - The file is replaced, not edited in place (this is what makes the write atomic), also when
    only its owner, group, mode, SELinux context or attributes change. The old file's SELinux
    context is kept where no option sets one; its ACLs and extended attributes are not carried
    over, and the new file does not take the directory's default ACL, so only owner, group and
    mode grant access to it.
  - The new file's owner, group and mode are set through its open descriptor, never by path. Its
    SELinux context and attributes are set by path, in a directory that only the module's user
    can change, created next to the file for the write and removed after it.
  - An existing file with an ACL is judged by its owner bits only, as its group bits are the ACL's
    mask and an entry can shut out anyone. So a symbolic O(mode) starts from them, and its content
    is kept only where the new file gives no one else read access it did not already have by them.
  - O(unsafe_writes) is ignored; the write is always atomic.
  - O(attributes) cannot add V(i) (immutable) or V(a) (append only), as they forbid replacing the
    file, which every write of a token does.
  - A JSON or YAML file nested too deeply to be read safely is an error naming the file, and so is
    an existing file larger than 16 MiB, which is not read.
  - There is no O(ignore:backup) option on purpose, because a backup would be another copy of a secret.
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: The existing file is read and checked as in a real run, and nothing is written.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
    details: The module never shows a diff, because the content is a secret.
  idempotent:
    description: When run twice in a row outside check mode, with the same arguments, the second invocation indicates no change.
    support: full
  platform:
    description: Target OS/families that can be operated against.
    support: full
    platforms: posix
requirements:
  - PyYAML on the managed host, for O(format=yaml) only
seealso:
  - module: telenor.oauth.telenor_oauth
  - module: ansible.builtin.copy
"""

EXAMPLES = r"""
- name: Put the token into the service's environment file
  telenor.oauth.token_file:
    path: /etc/sms-gateway/telenor.env
    format: env
    value: "{{ telenor.access_token }}"
    owner: root
    group: sms-gateway
    mode: '0640'
  no_log: true

- name: Set it under a custom variable name
  telenor.oauth.token_file:
    path: /etc/default/sms-gateway
    format: env
    key: SMS_API_TOKEN
    value: "{{ telenor.access_token }}"
  no_log: true

- name: Set a nested key in a JSON config (sms.telenor.token)
  telenor.oauth.token_file:
    path: /opt/sms/config.json
    format: json
    key: sms.telenor.token
    value: "{{ telenor.access_token }}"
  no_log: true

- name: Set the option in an INI file's [api] section
  telenor.oauth.token_file:
    path: /etc/sms-gateway/gateway.ini
    format: ini
    section: api
    key: bearer_token
    value: "{{ telenor.access_token }}"
  no_log: true

- name: A file holding nothing but the token
  telenor.oauth.token_file:
    path: /run/secrets/telenor_token
    format: raw
    value: "{{ telenor.access_token }}"
    mode: '0400'
  no_log: true

- name: A file rendered from a template on the controller
  telenor.oauth.token_file:
    path: /etc/sms-gateway/credentials.conf
    format: content
    content: "{{ lookup('ansible.builtin.template', 'credentials.conf.j2') }}"
  no_log: true
"""

RETURN = r"""
path:
  description: The path of the file, as given in O(path).
  returned: always
  type: str
  sample: /etc/sms-gateway/telenor.env
format:
  description: The format the file was written in, as given in O(format).
  returned: always
  type: str
  sample: env
mode:
  description: The file's permissions after the run (in check mode, what they would be), in octal.
  returned: always
  type: str
  sample: '0600'
created:
  description: Whether the file did not exist before (in check mode, whether it would be created).
  returned: always
  type: bool
  sample: false
"""

import grp
import os
import pwd
import stat
import typing as t

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.telenor.oauth.plugins.module_utils._io import (
    FileTargetError,
    directories_others_can_change,
    others_who_can_add_files,
    parse_mode,
    read_regular_file,
    target_path,
    write_atomically,
)
from ansible_collections.telenor.oauth.plugins.module_utils._token_file import (
    DEFAULT_MODE,
    DEFAULT_SECTION,
    FORMATS,
    HAS_YAML,
    KEYED_FORMATS,
    YAML_IMPORT_ERROR,
    TokenFileError,
    format_mode,
    new_content,
    new_readers_of_old_content,
)

# The permission bits a symbolic mode starts from for a new file: the temporary file's.
_NEW_FILE_STAT = os.stat_result((0o100600,) + (0,) * 9)
_SET_ID_BITS = stat.S_ISUID | stat.S_ISGID | stat.S_ISVTX


class TokenFileModule(AnsibleModule):
    def add_path_info(self, kwargs: dict) -> dict:
        # AnsibleModule would add the stat of RV(path) to every result, from lstat(): the mode
        # before the change in check mode. The result documents its own keys instead.
        return kwargs


def argument_spec() -> dict:
    """The module's own options; add_file_common_args adds owner, group, SELinux and attributes."""
    return {
        "path": {"type": "path", "required": True},
        "format": {"type": "str", "required": True, "choices": list(FORMATS)},
        "value": {"type": "str", "no_log": True},
        "content": {"type": "str", "no_log": True},
        "key": {"type": "str", "no_log": False},
        "section": {"type": "str", "default": DEFAULT_SECTION},
        "mode": {"type": "raw", "default": DEFAULT_MODE},
    }


def _needs_value() -> list:
    return [("format", fmt, ["value"]) for fmt in FORMATS if fmt != "content"]


def symbolic_mode_start(st: os.stat_result | None, file_args: dict) -> os.stat_result:
    """The mode a symbolic O(mode) is applied to: the existing file's, if it stays in the same hands.

    The bits of a file that changes owner or group were chosen by whoever had it, perhaps the
    service user who owns the directory and planted it (0666, or a set-id executable); applied to
    them, V(u=rw,g=r) would hand a root-owned file to everyone. Such a file starts from 0600, as a
    new one does, and set-id and sticky bits are never carried over.
    """
    if st is None:
        return _NEW_FILE_STAT
    try:
        same_hands = (numeric_id("owner", file_args["owner"]), numeric_id("group", file_args["group"])) == (st.st_uid, st.st_gid)
    except TokenFileError:
        same_hands = False  # check mode, with an owner that an earlier task would create
    if not same_hands:
        return _NEW_FILE_STAT
    return os.stat_result((st.st_mode & ~_SET_ID_BITS,) + (0,) * 9)


def file_mode(mode: t.Any, start: os.stat_result) -> int:
    """O(mode) as bits: octal as given, or symbolic as ansible.builtin.copy reads it, from ``start``."""
    try:
        return parse_mode(mode)
    except FileTargetError:
        pass
    try:
        return AnsibleModule._symbolic_mode_to_octal(start, str(mode))
    except ValueError:
        raise TokenFileError(
            f"mode must be in octal (such as '0600') or symbolic (such as 'u=rw,g=r') form, not {mode!r}",
            option="mode",
        ) from None


def metadata_differs(module: AnsibleModule, file_args: dict) -> bool:
    """Whether owner, group, mode, SELinux context or attributes of the file differ from file_args.

    Asked of AnsibleModule's own setters in check mode, where they compare and change nothing,
    so that every file option is compared exactly as ansible.builtin.copy compares it.
    """
    check_mode, module.check_mode = module.check_mode, True
    try:
        return module.set_fs_attributes_if_different(file_args, False, expand=False)
    finally:
        module.check_mode = check_mode


def ensure_file(module: AnsibleModule) -> dict:
    params = module.params
    path, fmt = params["path"], params["format"]
    if fmt == "yaml" and not HAS_YAML:
        module.fail_json(msg=missing_required_lib("PyYAML"), exception=YAML_IMPORT_ERROR, path=path, format=fmt)
    target = target_path(path)
    existing = read_regular_file(target, single_link=True, with_acl=True)
    current, st, has_acl = existing if existing is not None else (b"", None, False)
    # With an ACL, the group bits are its mask and a named entry can shut out anyone, the owner's
    # group or everyone included: only the owner bits say for sure who could read the file.
    sure = owner_bits_only(st) if has_acl else st
    data = new_content(
        current,
        fmt=fmt,
        value=params["value"],
        content=params["content"],
        key=params["key"],
        section=params["section"],
        path=path,
    )
    file_args = module.load_file_common_arguments(params, path=target)
    refuse_attributes_that_forbid_replacing(file_args["attributes"])
    if st is not None:
        refuse_a_planted_owner(st, target, file_args, path=path)
        # The new file keeps the old one's owner, group and SELinux context where no option sets
        # them, as with ansible.builtin.copy.
        file_args["owner"] = file_args["owner"] or str(st.st_uid)
        file_args["group"] = file_args["group"] or str(st.st_gid)
        if module.selinux_enabled():
            held = module.selinux_context(target)
            file_args["secontext"] = [held[i] if wanted is None else wanted for i, wanted in enumerate(file_args["secontext"])]
    file_args["mode"] = file_mode(params["mode"], symbolic_mode_start(sure, file_args))
    changed = st is None or data != current or metadata_differs(module, file_args)
    if changed and st is not None and fmt in KEYED_FORMATS:
        refuse_to_hand_over(sure, file_args, path=path)
    if changed and not module.check_mode:
        uid, gid = numeric_id("owner", file_args["owner"]), numeric_id("group", file_args["group"])
        # Also when only the metadata differs: a new file replaces the old one rather than a
        # chmod or chown by path, which a link planted in the meantime could redirect.
        write_atomically(target, data, mode=file_args["mode"], owner=uid, group=gid, prepare=label_and_attributes(module, file_args))
    else:
        # In check mode the owner may be a user that an earlier task of the play creates.
        try:
            uid = numeric_id("owner", file_args["owner"])
        except TokenFileError:
            uid = None
    owner_uid = uid if uid is not None else (st.st_uid if st is not None else os.geteuid())
    warn_about_the_directory(module, target, owner_uid=owner_uid)
    return {"changed": changed, "path": path, "format": fmt, "mode": format_mode(file_args["mode"]), "created": st is None}


def refuse_attributes_that_forbid_replacing(attributes: str | None) -> None:
    """Fail on chattr's i (immutable) or a (append only) being set: the file is replaced on every
    change, which they forbid, so every run would fail and leave its temporary file behind."""
    if attributes is None or attributes.startswith("-"):
        return
    forbidding = [f"{flag} ({meaning})" for flag, meaning in (("i", "immutable"), ("a", "append only")) if flag in attributes]
    if forbidding:
        raise TokenFileError(
            f"attributes {attributes!r} sets {' and '.join(forbidding)}, which forbid"
            " replacing the file, as every write of a token does; leave them out",
            option="attributes",
        )


def owner_bits_only(st: os.stat_result) -> os.stat_result:
    return os.stat_result((st.st_mode & ~0o077,) + tuple(st)[1:10])


def refuse_a_planted_owner(st: os.stat_result, target: str, file_args: dict, *, path: str) -> None:
    """Fail when the new file would keep an owner or group that whoever put the file there chose.

    The new file keeps what no option sets, as with ansible.builtin.copy. But someone who can put
    a file in the directory (the service user who owns it, anyone in /var/tmp, the group of a
    group-writable one), or who can replace a directory above it, can put a file of their choosing
    at the path before the run, or move one in (a root-owned file with their group, say): kept, its
    owner or group would be handed the token. Where only root and we can do that, or where what
    would be kept is what a new file gets anyway, the file is kept as it is.
    """
    kept = [option for option, value, ours in (("owner", st.st_uid, os.geteuid()), ("group", st.st_gid, os.getegid()))
            if file_args[option] is None and value != ours]
    if not kept:
        return
    directory = os.path.dirname(target)
    who = others_who_can_add_files(directory)
    # Above the directory (its real ancestors, whatever links the path goes through), whoever
    # can replace a directory can put a file anywhere below it.
    found = (directory, who) if who is not None else directories_others_can_change(directory, owner_uid=os.geteuid())
    if found is None:
        return
    where, who = found
    unset = " and ".join(option for option in ("owner", "group") if file_args[option] is None)
    raise TokenFileError(
        f"path {path} belongs to uid {st.st_uid} and gid {st.st_gid}, and {where} can be written by {who}, who could"
        f" have put it there to receive the token; refusing to keep its {' and '.join(kept)}: set {unset} for this"
        " file, or remove it so that it is created anew",
        option=kept[0],
    )


def refuse_to_hand_over(st: os.stat_result, file_args: dict, *, path: str) -> None:
    """Fail when the new file would let someone read the kept content who could not read it before."""
    try:
        uid, gid = numeric_id("owner", file_args["owner"]), numeric_id("group", file_args["group"])
    except TokenFileError:
        return  # check mode with a user that does not exist yet: nobody to hand it to
    owner = os.geteuid() if uid is None else uid
    group = os.getegid() if gid is None else gid
    try:
        entry = pwd.getpwuid(owner)
        owner_groups = os.getgrouplist(entry.pw_name, entry.pw_gid)
    except KeyError:
        owner_groups = []
    gained = new_readers_of_old_content(st, owner=owner, group=group, mode=file_args["mode"], owner_groups=owner_groups)
    if gained:
        raise TokenFileError(
            f"path {path}: its current content is not readable by {' or '.join(gained)} of the new file, which"
            " keeps that content; refusing to hand it over (whoever can write the directory could have moved"
            " another file there). Make the existing file readable to them, or remove it so that it is"
            " created anew",
            option="path",
        )


def numeric_id(option: str, name: str | None) -> int | None:
    """O(owner) as a uid or O(group) as a gid, or None to keep the writer's."""
    if name is None:
        return None
    try:
        return int(name)
    except ValueError:
        pass
    try:
        return pwd.getpwnam(name).pw_uid if option == "owner" else grp.getgrnam(name).gr_gid
    except KeyError:
        kind = "user" if option == "owner" else "group"
        raise TokenFileError(f"{option}: failed to look up {kind} {name!r} on this host", option=option) from None


def label_and_attributes(module: AnsibleModule, file_args: dict) -> t.Callable[[str], None] | None:
    """What sets the SELinux context and chattr attributes of the temporary file, if any is to be set.

    Owner, group and mode are set on the descriptor by write_atomically. These two have no
    descriptor call that AnsibleModule (lsetfilecon) or chattr offer, so they go by a path that
    write_atomically makes sure no one else can redirect, and with AnsibleModule's own setters,
    so that they behave as in ansible.builtin.copy.
    """
    if not module.selinux_enabled() and file_args["attributes"] is None:
        return None

    def prepare(temporary: str) -> None:
        module.set_context_if_different(temporary, file_args["secontext"], True)
        module.set_attributes_if_different(temporary, file_args["attributes"], True, expand=False)

    return prepare


def warn_about_the_directory(module: AnsibleModule, target: str, *, owner_uid: int) -> None:
    directory = os.path.dirname(target)
    found = directories_others_can_change(directory, owner_uid=owner_uid)
    if found is None:
        return
    where, who = found
    if where == directory:
        module.warn(
            f"{directory}, the directory of path {target}, can be written by {who}, who can replace"
            " or remove the file at any time; keep secrets in a directory that only root and the"
            " file's owner can write"
        )
    else:
        module.warn(
            f"{where}, a directory above path {target}, can be written by {who}, who can replace the"
            " directories below it, and so the file, at any time; keep secrets in directories that"
            " only root and the file's owner can write, all the way up"
        )


def main() -> None:
    module = TokenFileModule(
        argument_spec=argument_spec(),
        mutually_exclusive=[("value", "content")],
        required_if=[("format", "content", ["content"])] + _needs_value(),
        supports_check_mode=True,
        add_file_common_args=True,
    )
    path, fmt = module.params["path"], module.params["format"]
    try:
        result = ensure_file(module)
    except TokenFileError as exc:
        module.fail_json(msg=exc.message, path=path, format=fmt)
    except FileTargetError as exc:
        module.fail_json(msg=str(exc), path=path, format=fmt)
    except OSError as exc:
        # strerror and the file name only: never str() of anything that saw the content.
        reason = exc.strerror or type(exc).__name__
        where = f" ({exc.filename})" if exc.filename else ""
        module.fail_json(msg=f"Could not update {path} as {fmt}: {reason}{where}", path=path, format=fmt)
    module.exit_json(**result)


if __name__ == "__main__":
    main()

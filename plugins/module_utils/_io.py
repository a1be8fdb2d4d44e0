# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# This file is private to the telenor.oauth collection; it is not a public API.

"""The one writer of private files: token_file, the token_vault action and the token cache.

A temporary file is created next to the target (O_CREAT|O_EXCL|O_NOFOLLOW, 0600), gets its final
owner, group and mode through its descriptor (and any other metadata through a path only we can
change) before its first byte, is fsynced and renamed over the target (rename(2)
replaces a link, never follows it), and the directory is fsynced. Every call goes through a
descriptor of the directory, so that a directory swapped for a link half-way cannot redirect it.
Standard library only, Python 3.8+.
"""

from __future__ import annotations

import errno
import grp
import os
import pwd
import secrets
import stat
import typing as t
from contextlib import suppress

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_CLOEXEC = getattr(os, "O_CLOEXEC", 0)
_DIRECTORY = getattr(os, "O_DIRECTORY", 0)


class FileTargetError(ValueError):
    """The target cannot be written safely; the message names the path, never any content."""


def parse_mode(mode: t.Any) -> int:
    """The bits of a mode option: an octal string, or an int taken as is (as ansible.builtin.file does)."""
    if isinstance(mode, int) and not isinstance(mode, bool):
        value = mode
    elif isinstance(mode, str) and mode.strip():
        text = mode.strip()
        text = text[2:] if text[:2].lower() == "0o" else text
        if any(char not in "01234567" for char in text):
            raise FileTargetError(f"mode must be an octal string such as '0600' or an integer, not {mode!r}")
        value = int(text, 8)
    else:
        raise FileTargetError(f"mode must be an octal string such as '0600' or an integer, not {type(mode).__name__}")
    if not 0 <= value <= 0o7777:
        raise FileTargetError(f"mode {mode!r} is not between 0000 and 7777 (octal)")
    return value


def target_path(path: str, *, follow_symlinks: bool = False) -> str:
    """``path`` checked for writing; a link there is refused, or with ``follow_symlinks`` resolved
    (as ansible-vault does) where only root or we could have made it."""
    if not os.path.isabs(path):
        raise FileTargetError(f"path must be absolute, got {path!r}")
    # Not normpath: a ".." after a linked directory is that directory's real parent, as the kernel reads it.
    target = "/" + "/".join(part for part in path.split("/") if part not in ("", "."))
    if follow_symlinks:
        target = _trusted_link_target(target, shown=path)
    if os.path.islink(target):
        raise FileTargetError(
            f"path {path} is a symbolic link; refusing to write through it (the link could point"
            " anywhere): remove the link, or give the path of the file itself"
        )
    if os.path.isdir(target):
        raise FileTargetError(f"path {path} is a directory")
    directory = os.path.dirname(target)
    if not os.path.isdir(directory):
        problem = "is not a directory" if os.path.lexists(directory) else "does not exist"
        raise FileTargetError(f"the directory of path {path} ({directory}) {problem}")
    return target


_MAX_LINKS = 40  # as the kernel's own limit on links in one path


def _others_in_the_group_bits(dir_fd: int, info: os.stat_result) -> str | None:
    """Who besides its owner may write the directory through its group bits; None if nobody.

    The group's write bit lets its members in, unless the group is its owner's private group
    (named after them, no other member, as systems with umask 002 give every user) and no ACL
    names anyone else: with an ACL, the group bits are its mask, and the users and groups it
    names may write too.
    """
    if not info.st_mode & stat.S_IWGRP:
        return None
    group = f"its group (gid {info.st_gid})"
    has_acl = _has_acl(dir_fd)
    if has_acl:
        return f"{group} or the users and groups its ACL names"
    return None if has_acl is False and _is_private_group(info.st_gid, owner_uid=info.st_uid) else group


def _is_private_group(gid: int, *, owner_uid: int) -> bool:
    """Whether ``gid`` is the user private group of ``owner_uid`` and no one else's: named after
    them, their primary group, and no other account in it, whether listed as a member, by its
    primary group (as RHEL's sync and operator are in root's), or through a second group entry
    with the same gid. Accounts that the name service does not list (LDAP without enumeration)
    cannot be seen; such a group is as private as its listing says."""
    try:
        owner, group = pwd.getpwuid(owner_uid), grp.getgrgid(gid)
    except KeyError:
        return False
    if group.gr_name != owner.pw_name or owner.pw_gid != gid or not set(group.gr_mem) <= {owner.pw_name}:
        return False
    if any(entry.gr_gid == gid and (entry.gr_name != group.gr_name or not set(entry.gr_mem) <= {owner.pw_name})
           for entry in grp.getgrall()):
        return False
    return not any(entry.pw_gid == gid and entry.pw_uid != owner_uid for entry in pwd.getpwall())


def _has_acl(dir_fd: int) -> bool | None:
    """Whether the directory has an access ACL; None where that cannot be known."""
    listxattr = getattr(os, "listxattr", None)
    if listxattr is None:
        return None  # not Linux (macOS controllers): an ACL cannot be ruled out
    try:
        return "system.posix_acl_access" in listxattr(dir_fd)
    except OSError as exc:
        return False if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP) else None  # no extended attributes: no ACL


def _link_is_trusted(parent_fd: int) -> bool:
    """A link in a directory that only root or we can change (ours or root's, writable by no one
    else) was put there by root or by us; for root, only root's count."""
    info = os.fstat(parent_fd)
    return info.st_uid in (0, os.geteuid()) and not info.st_mode & stat.S_IWOTH and _others_in_the_group_bits(parent_fd, info) is None


def _open_directory(directory: str) -> int:
    """A descriptor of ``directory``, opened one component at a time without following links.

    A link among the components (say /srv/app/etc -> /etc, planted by the service user who owns
    /srv/app) would send a write run as root anywhere, so a link is followed only where only root
    or the writing user could have made it (/var/run -> /run, ~/.cache -> /data/cache); any
    other is refused, naming it.
    """
    flags = os.O_RDONLY | _DIRECTORY | _CLOEXEC | _NOFOLLOW
    pending = [part for part in directory.split("/") if part]
    fd = os.open("/", flags)
    shown = ""
    links = 0
    try:
        while pending:
            part = pending.pop(0)
            if part == ".":
                continue
            try:
                next_fd = os.open(part, flags, dir_fd=fd)
            except OSError as exc:
                if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
                    raise
                if not stat.S_ISLNK(os.lstat(part, dir_fd=fd).st_mode):
                    raise
                links += 1
                if links > _MAX_LINKS or not _link_is_trusted(fd):
                    raise FileTargetError(
                        f"{shown}/{part} in the directory of the path is a symbolic link in a directory that"
                        " others can change; refusing to write through it (give the real directory)"
                    ) from None
                target = os.readlink(part, dir_fd=fd)
                pending = [item for item in target.split("/") if item] + pending
                if target.startswith("/"):
                    os.close(fd)
                    fd, shown = os.open("/", flags), ""
                continue
            os.close(fd)
            fd = next_fd
            shown = os.path.normpath(f"{shown}/{part}") if part != ".." else os.path.dirname(shown) or ""
        return fd
    except BaseException:
        os.close(fd)
        raise


def _trusted_link_target(path: str, *, shown: str) -> str:
    """Where the links at ``path`` lead, followed only as _open_directory follows links.

    A link in a directory that others can write (say the project's group_vars/all, shared
    with a group) could point the write at any file of ours, or of root's.
    """
    for dummy in range(_MAX_LINKS):
        directory, name = os.path.split(path)
        try:
            dir_fd = _open_directory(directory)
        except OSError:
            return path  # no such directory: the checks that follow say so
        try:
            target = os.readlink(name, dir_fd=dir_fd)
        except OSError:
            return path  # not a link, or nothing there
        else:
            if not _link_is_trusted(dir_fd):
                raise FileTargetError(
                    f"path {shown} is a symbolic link in a directory that others can change; refusing to"
                    " write through it (give the path of the file itself)"
                )
        finally:
            os.close(dir_fd)
        path = os.path.join(directory, target)  # not normpath, as above
    raise FileTargetError(f"path {shown}: too many levels of symbolic links")


# The largest existing file read to keep its content. Configuration files holding a token
# are far smaller; a larger one is refused rather than read into memory and written again (a
# sparse file that the directory's owner made with truncate costs them nothing, and the run
# gigabytes).
MAX_READ_SIZE = 16 * 1024 * 1024


def read_regular_file(
    path: str, *, max_size: int = MAX_READ_SIZE, single_link: bool = False, with_acl: bool = False
) -> tuple[bytes, os.stat_result] | tuple[bytes, os.stat_result, bool] | None:
    """The bytes and stat of the regular file at ``path``, or None when there is none; ``with_acl``
    adds whether it has an access ACL, read on the same descriptor.

    O_NOFOLLOW, O_NONBLOCK (a planted FIFO cannot hang the run), and checked on the descriptor.
    A file larger than ``max_size`` bytes is refused.
    With ``single_link``, a file with other hard links is refused before it is read: whoever can
    write the directory can link any file of the same file system there (/etc/shadow, say), and
    a writer that keeps the rest of the file would copy its content into a file they can read.
    """
    directory, name = os.path.split(path)
    try:
        # Through the directory's descriptor, as the write goes: a link among the directories
        # that someone else could have planted is refused, not followed.
        dir_fd = _open_directory(directory)
        try:
            fd = os.open(name, os.O_RDONLY | _NOFOLLOW | _CLOEXEC | getattr(os, "O_NONBLOCK", 0), dir_fd=dir_fd)
        finally:
            os.close(dir_fd)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise FileTargetError(f"path {path} is a symbolic link; refusing to read or write through it") from None
        raise
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise FileTargetError(f"path {path} exists and is not a regular file")
        if single_link and info.st_nlink > 1:
            raise FileTargetError(
                f"path {path} has {info.st_nlink} hard links; refusing to read or replace it, as the other"
                " names could be any file linked into this directory (such as /etc/shadow): give a file"
                " with a single link, or remove the other links"
            )
        data = handle.read(max_size + 1) if info.st_size <= max_size else b""
        if info.st_size > max_size or len(data) > max_size:
            raise FileTargetError(
                f"path {path} is larger than {max_size // (1024 * 1024)} MiB ({max(info.st_size, len(data))} bytes);"
                " refusing to read it: a file that holds a token is far smaller. Remove it, or give another path"
            )
        return (data, info, _has_access_acl(fd)) if with_acl else (data, info)


def _others_who_can_write(directory: str, *, besides: int, sticky_keeps_out: bool) -> str | None:
    dir_fd = _open_directory(directory)  # the directory that is written to, not a link's target
    try:
        return _others_who_can_write_at(dir_fd, besides=besides, sticky_keeps_out=sticky_keeps_out)
    finally:
        os.close(dir_fd)


def _others_who_can_write_at(dir_fd: int, *, besides: int, sticky_keeps_out: bool) -> str | None:
    info = os.fstat(dir_fd)
    if info.st_uid not in (0, besides):
        return f"its owner (uid {info.st_uid})"
    if sticky_keeps_out and info.st_mode & stat.S_ISVTX:
        return None
    if info.st_mode & stat.S_IWOTH:
        return "everyone"
    return _others_in_the_group_bits(dir_fd, info)


def others_who_can_replace(directory: str, *, owner_uid: int) -> str | None:
    """Who, besides root and the file's owner, can replace files in ``directory``; None if nobody.

    A sticky bit keeps others from replacing a file that is not theirs.
    """
    return _others_who_can_write(directory, besides=owner_uid, sticky_keeps_out=True)


def directories_others_can_change(directory: str, *, owner_uid: int) -> tuple[str, str] | None:
    """The first of ``directory`` and the directories above it that someone besides root and
    ``owner_uid`` can change, and who; None if there is none. Whoever can change a directory
    above can rename the one below it away and put their own in its place.

    The directories above are those of the directory itself, reached from its descriptor by
    "..", not those of the path as given: behind a link (/etc/app -> /srv/app/conf), the
    directories that matter are /srv/app and /srv, which the path does not name. One found above
    is named by its real path.
    """
    fd = _open_directory(directory)
    try:
        real = _real_path(fd, directory)
        shown = directory
        while True:
            who = _others_who_can_write_at(fd, besides=owner_uid, sticky_keeps_out=True)
            if who is not None:
                return shown, who
            above = os.open("..", os.O_RDONLY | _DIRECTORY | _CLOEXEC, dir_fd=fd)
            here, there = os.fstat(fd), os.fstat(above)
            os.close(fd)
            fd = above
            if (here.st_dev, here.st_ino) == (there.st_dev, there.st_ino):
                return None  # "/" is its own parent
            real = os.path.dirname(real)
            shown = real
    finally:
        os.close(fd)


def _real_path(fd: int, directory: str) -> str:
    """The path of the directory open at ``fd``, for messages: links resolved, as the kernel knows it."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return os.path.realpath(directory)  # not Linux


def others_who_can_add_files(directory: str) -> str | None:
    """Who, besides root and us, can put a file in ``directory`` (create one, or move one of theirs
    in); None if nobody. A sticky bit does not keep them out (``/var/tmp``)."""
    return _others_who_can_write(directory, besides=os.geteuid(), sticky_keeps_out=False)


def write_atomically(
    path: str,
    data: bytes,
    *,
    mode: int = 0o600,
    owner: int | None = None,
    group: int | None = None,
    prepare: t.Callable[[str], None] | None = None,
) -> None:
    """Replace ``path`` with ``data``; on any failure the old file is left as it was.

    ``owner``, ``group`` (ids; None is ours, also in a set-gid directory) and ``mode`` are set on the open descriptor
    before the first byte, never by path. ``prepare(temporary_path)`` then runs, still before the
    first byte, for what has no descriptor call here (SELinux context, chattr attributes); see
    ``_path_only_we_can_change``.
    """
    directory, name = os.path.split(path)
    dir_fd = _open_directory(directory)
    try:
        if prepare is None:
            _write_temporary_then_rename(
                data, work_fd=dir_fd, dir_fd=dir_fd, name=name, path=path, mode=mode, owner=owner, group=group, prepare=None
            )
        else:
            private = f".{name}.{secrets.token_hex(8)}.d"
            private_fd = _make_private_directory(private, dir_fd=dir_fd, path=path)
            try:
                _write_temporary_then_rename(
                    data, work_fd=private_fd, dir_fd=dir_fd, name=name, path=path, mode=mode, owner=owner, group=group,
                    prepare=lambda temporary: prepare(
                        _path_only_we_can_change(private_fd, temporary, fallback=os.path.join(directory, private))
                    ),
                )
            finally:
                os.close(private_fd)
                # By name: if someone swapped the name, this removes their empty directory at most.
                with suppress(OSError):
                    os.rmdir(private, dir_fd=dir_fd)
        _fsync(dir_fd)
    finally:
        os.close(dir_fd)


def _write_temporary_then_rename(
    data: bytes,
    *,
    work_fd: int,
    dir_fd: int,
    name: str,
    path: str,
    mode: int,
    owner: int | None,
    group: int | None,
    prepare: t.Callable[[str], None] | None,
) -> None:
    temporary = f".{name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NOFOLLOW | _CLOEXEC, 0o600, dir_fd=work_fd)
    try:
        with os.fdopen(fd, "wb") as handle:
            # On the descriptor: whoever can write the directory can swap the temporary file's
            # name (for a hard link to /etc/shadow, say) at any time, but not the open file.
            _drop_inherited_acl(fd)
            # In a set-gid directory a new file gets the directory's group, which its owner (a
            # service user) chose. Only then is ours set, so that where no chown is needed (file
            # systems that refuse one, such as vfat) none is made.
            if group is None and os.fstat(fd).st_gid != os.getegid():
                group = os.getegid()
            # chown first, as it clears the set-id bits that the mode may then set.
            if owner is not None or group is not None:
                os.fchown(fd, -1 if owner is None else owner, -1 if group is None else group)
            os.fchmod(fd, mode)  # 0600 & umask until now, and nothing written yet
            if prepare is not None:
                prepare(temporary)
            handle.write(data)
            handle.flush()
            os.fsync(fd)
            # The rename goes by name; make sure the name is still our file, as late as can be.
            _check_still_ours(fd, temporary, dir_fd=work_fd, path=path)
        os.replace(temporary, name, src_dir_fd=work_fd, dst_dir_fd=dir_fd)
    except BaseException:
        with suppress(OSError):
            os.unlink(temporary, dir_fd=work_fd)
        raise


# errnos that mean "no ACL here": none was inherited, or the file system has no ACLs.
_NO_ACL = {getattr(errno, name) for name in ("ENODATA", "ENOATTR", "ENOTSUP", "EOPNOTSUPP") if hasattr(errno, name)}


def _drop_inherited_acl(fd: int) -> None:
    """Remove the access ACL that a new file inherits from its directory's default ACL.

    Whoever owns the directory chooses its default ACL, and with a mode that has group bits
    (0640) the named users in it could read the file: only owner, group and mode grant access.
    """
    if not hasattr(os, "removexattr"):
        return  # not Linux: no POSIX ACLs through extended attributes
    try:
        os.removexattr(fd, "system.posix_acl_access")
    except OSError as exc:
        if exc.errno in _NO_ACL or not _has_access_acl(fd):
            return  # none inherited; some file systems (FUSE, NFS) refuse the call itself (EPERM, ENOSYS)
        raise


def _has_access_acl(fd: int) -> bool:
    try:
        os.getxattr(fd, "system.posix_acl_access")
    except OSError:
        return False  # none, or none that the file system can report
    return True


def _make_private_directory(name: str, *, dir_fd: int, path: str) -> int:
    """A descriptor of a new directory ``name`` in ``dir_fd`` that only we (and root) can change."""
    os.mkdir(name, 0o700, dir_fd=dir_fd)  # 0700 or less under any umask
    fd = os.open(name, os.O_RDONLY | _DIRECTORY | _NOFOLLOW | _CLOEXEC, dir_fd=dir_fd)
    # Whoever can write the parent can swap the new name for another directory between mkdir
    # and open, even one of ours: accept only what looks like the directory just made (ours,
    # private, empty), and never change it, so that a swapped one is left as it was.
    info = os.fstat(fd)
    if info.st_uid != os.geteuid() or stat.S_IMODE(info.st_mode) & 0o077 or os.listdir(fd):
        os.close(fd)
        raise FileTargetError(
            f"the temporary directory for path {path} was replaced by someone else while it was being"
            " created; nothing was written"
        )
    return fd


def _path_only_we_can_change(private_fd: int, name: str, *, fallback: str) -> str:
    """A path to ``name`` in our private directory that no one else can redirect.

    SELinux labels (lsetfilecon) and chattr attributes are set by path, and chattr and lsattr
    refuse /proc/PID/fd/N of the file itself (a link), so the file sits in a directory only we
    can change, reached through its descriptor: /proc/PID/fd/N/name. The PID, not "self", as
    chattr runs in a child process, which inherits none of our descriptors. Elsewhere than
    Linux, the directory's own path.
    """
    by_fd = f"/proc/{os.getpid()}/fd/{private_fd}"
    return os.path.join(by_fd if os.path.isdir(by_fd) else fallback, name)


def _check_still_ours(fd: int, temporary: str, *, dir_fd: int, path: str) -> None:
    ours, there = os.fstat(fd), os.stat(temporary, dir_fd=dir_fd, follow_symlinks=False)
    if (ours.st_dev, ours.st_ino) != (there.st_dev, there.st_ino):
        raise FileTargetError(
            f"the temporary file for path {path} was replaced by someone else while it was being"
            " written; the file at the path was left as it was"
        )


def fsync_directory(directory: str) -> None:
    """Make renames and unlinks in ``directory`` durable, where the file system can."""
    with suppress(OSError):
        dir_fd = _open_directory(directory)
        try:
            _fsync(dir_fd)
        finally:
            os.close(dir_fd)


def _fsync(dir_fd: int) -> None:
    # Some file systems cannot fsync a directory; the rename has happened all the same.
    with suppress(OSError):
        os.fsync(dir_fd)

# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The one writer of private files, used by token_file, the token_vault action and the cache."""

from __future__ import annotations

import grp
import os
import pwd
import stat
import subprocess
import sys
import threading

import pytest

from ansible_collections.telenor.oauth.plugins.module_utils import _io
from ansible_collections.telenor.oauth.plugins.module_utils._io import (
    FileTargetError,
    directories_others_can_change,
    fsync_directory,
    others_who_can_replace,
    parse_mode,
    read_regular_file,
    target_path,
    write_atomically,
)

SECRET = b"io-secret-7Hq2-never-elsewhere"
NOBODY = 65534
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="changing owners needs root")


def _mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def _fingerprint(path) -> tuple:
    info = os.lstat(path)
    with open(path, "rb") as handle:
        return handle.read(), info.st_ino, info.st_mode, info.st_uid, info.st_gid, info.st_mtime_ns


@pytest.fixture
def decoy(tmp_path):
    """A stand-in for /etc/passwd, outside the directory written to."""
    outside = tmp_path / "etc"
    outside.mkdir()
    path = outside / "passwd"
    path.write_bytes(b"root:x:0:0:root:/root:/bin/sh\n")
    path.chmod(0o644)
    return path


# --- modes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "bits"),
    [("0600", 0o600), ("640", 0o640), ("0o440", 0o440), (" 0644 ", 0o644), ("04750", 0o4750), ("0", 0), (0o640, 0o640), (384, 0o600)],
)
def test_parse_mode_reads_octal_strings_and_takes_ints_as_they_are(mode, bits):
    assert parse_mode(mode) == bits


@pytest.mark.parametrize("mode", ["u=rw", "0800", "", "rw-------", "017777", "12345", 0o10000, -1, True, 1.5, None])
def test_parse_mode_refuses_the_rest(mode):
    with pytest.raises(FileTargetError, match="^mode "):
        parse_mode(mode)


# --- the target -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "message"),
    [
        pytest.param("token", "path must be absolute, got 'token'", id="relative"),
        pytest.param("{tmp}/missing/token", "the directory of path {tmp}/missing/token ({tmp}/missing) does not exist", id="no-directory"),
        pytest.param("{tmp}/a-file/token", "the directory of path {tmp}/a-file/token ({tmp}/a-file) is not a directory",
                     id="under-a-file"),
        pytest.param("{tmp}", "path {tmp} is a directory", id="directory"),
    ],
)
def test_target_path_refuses_what_cannot_be_written(tmp_path, path, message):
    (tmp_path / "a-file").write_text("not a directory")
    with pytest.raises(FileTargetError) as caught:
        target_path(path.format(tmp=tmp_path))
    assert str(caught.value) == message.format(tmp=tmp_path)


@pytest.mark.parametrize("dangling", [False, True], ids=["to-a-file", "dangling"])
def test_target_path_refuses_a_symlink_unless_told_to_follow_it(tmp_path, decoy, dangling):
    link = tmp_path / "app.env"
    link.symlink_to(tmp_path / "etc" / "absent" if dangling else decoy)
    with pytest.raises(FileTargetError, match=f"path {link} is a symbolic link; refusing to write through it"):
        target_path(str(link))
    if not dangling:
        assert target_path(str(link), follow_symlinks=True) == str(decoy)


def test_read_regular_file(tmp_path):
    path = tmp_path / "token"
    assert read_regular_file(str(path)) is None
    path.write_bytes(SECRET)
    data, info = read_regular_file(str(path))
    assert data == SECRET and info.st_ino == os.stat(path).st_ino


def test_read_regular_file_never_follows_a_link(tmp_path, decoy):
    link = tmp_path / "app.env"
    link.symlink_to(decoy)
    with pytest.raises(FileTargetError, match="is a symbolic link"):
        read_regular_file(str(link))


def test_read_regular_file_refuses_a_file_with_other_hard_links_when_told(tmp_path, decoy):
    service = tmp_path / "service"
    service.mkdir()
    os.link(decoy, service / "app.env")
    with pytest.raises(FileTargetError, match=f"path {service}/app.env has 2 hard links; refusing to read or replace it"):
        read_regular_file(str(service / "app.env"), single_link=True)
    assert read_regular_file(str(service / "app.env"))[0] == decoy.read_bytes()


def test_read_regular_file_refuses_a_fifo_without_blocking_on_it(tmp_path):
    fifo = tmp_path / "app.env"
    os.mkfifo(fifo)
    with pytest.raises(FileTargetError, match="exists and is not a regular file"):
        read_regular_file(str(fifo))


# --- writing ----------------------------------------------------------------------------


@pytest.mark.parametrize("mode", [0o600, 0o640, 0o644, 0o400])
def test_the_file_has_its_mode_before_its_first_byte_whatever_the_umask(tmp_path, mode):
    path = tmp_path / "token"
    seen = {}

    def prepare(temporary):
        info = os.lstat(temporary)
        seen.update(size=info.st_size, mode=stat.S_IMODE(info.st_mode), name=os.path.basename(temporary))

    previous = os.umask(0o077)
    try:
        write_atomically(str(path), SECRET, mode=mode, prepare=prepare)
    finally:
        os.umask(previous)
    assert seen["size"] == 0 and seen["mode"] == mode
    assert seen["name"].startswith(".token.") and seen["name"].endswith(".tmp")
    assert path.read_bytes() == SECRET and _mode(path) == mode
    assert os.listdir(tmp_path) == ["token"]


def test_a_file_created_for_the_write_is_never_readable_by_others(tmp_path, monkeypatch):
    created_modes = []
    real_open = os.open

    def spy_open(name, flags, mode=0o777, **kwargs):
        fd = real_open(name, flags, mode, **kwargs)
        if flags & os.O_CREAT:
            created_modes.append((stat.S_IMODE(os.fstat(fd).st_mode), flags))
        return fd

    monkeypatch.setattr(os, "open", spy_open)
    write_atomically(str(tmp_path / "token"), SECRET, mode=0o644)
    ((created_mode, flags),) = created_modes
    assert created_mode & 0o077 == 0
    assert flags & os.O_EXCL and flags & os.O_NOFOLLOW


@pytest.mark.parametrize("fail_at", ["fsync", "replace"])
def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path, monkeypatch, fail_at):
    path = tmp_path / "token"
    path.write_bytes(b"old")

    def fail(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, fail_at, fail)
    with pytest.raises(OSError, match="No space left on device"):
        write_atomically(str(path), SECRET)
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["token"]


def test_a_link_planted_at_the_path_is_replaced_not_written_through(tmp_path, decoy):
    # What happens when a link appears after every check: rename(2) replaces the link itself.
    before = _fingerprint(decoy)
    link = tmp_path / "app.env"
    link.symlink_to(decoy)
    write_atomically(str(link), SECRET, mode=0o600)
    assert not link.is_symlink() and link.read_bytes() == SECRET
    assert _fingerprint(decoy) == before


def test_a_link_planted_at_the_temporary_name_is_never_opened(tmp_path, decoy, monkeypatch):
    before = _fingerprint(decoy)
    monkeypatch.setattr(_io.secrets, "token_hex", lambda nbytes: "guessed")
    (tmp_path / ".app.env.guessed.tmp").symlink_to(decoy)
    with pytest.raises(FileExistsError):
        write_atomically(str(tmp_path / "app.env"), SECRET)
    assert _fingerprint(decoy) == before
    assert not (tmp_path / "app.env").exists()


def test_a_temporary_file_swapped_while_being_prepared_is_never_written(tmp_path, decoy):
    before = _fingerprint(decoy)

    def swap(temporary):  # the directory's owner, racing
        os.unlink(temporary)
        os.symlink(decoy, temporary)

    with pytest.raises(FileTargetError, match="was replaced by someone else while it was being written"):
        write_atomically(str(tmp_path / "app.env"), SECRET, prepare=swap)
    assert _fingerprint(decoy) == before
    assert sorted(os.listdir(tmp_path)) == ["etc"]


@needs_root
def test_owner_group_and_mode_go_on_the_descriptor_never_by_the_temporary_name(tmp_path, decoy, monkeypatch):
    """The temporary file's name swapped for a hard link to /etc/passwd: passwd is not chowned."""
    before = _fingerprint(decoy)
    real_open = os.open

    def open_then_swap(name, flags, mode=0o777, **kwargs):
        fd = real_open(name, flags, mode, **kwargs)
        if flags & os.O_EXCL and str(name).endswith(".tmp"):  # the directory's owner, racing
            os.rename(name, f"{name}.aside", src_dir_fd=kwargs.get("dir_fd"), dst_dir_fd=kwargs.get("dir_fd"))
            os.link(decoy, name, dst_dir_fd=kwargs.get("dir_fd"))
        return fd

    monkeypatch.setattr(os, "open", open_then_swap)
    with pytest.raises(FileTargetError, match="was replaced by someone else while it was being written"):
        write_atomically(str(tmp_path / "app.env"), SECRET, mode=0o600, owner=NOBODY, group=NOBODY)
    monkeypatch.undo()

    assert _fingerprint(decoy) == before and os.stat(decoy).st_nlink == 1
    assert not (tmp_path / "app.env").exists()


@needs_root
def test_owner_and_group_are_set_before_the_first_byte(tmp_path):
    seen = {}

    def prepare(temporary):
        info = os.lstat(temporary)
        seen.update(size=info.st_size, owner=(info.st_uid, info.st_gid), mode=stat.S_IMODE(info.st_mode))

    write_atomically(str(tmp_path / "token"), SECRET, mode=0o2640, owner=NOBODY, group=NOBODY, prepare=prepare)
    # The set-gid bit survives: the mode is set after the owner, whose change would clear it.
    assert seen == {"size": 0, "owner": (NOBODY, NOBODY), "mode": 0o2640}
    info = os.stat(tmp_path / "token")
    assert (info.st_uid, info.st_gid, _mode(tmp_path / "token")) == (NOBODY, NOBODY, 0o2640)


def test_prepare_gets_a_path_a_child_process_can_use_in_a_directory_only_we_can_change(tmp_path):
    """chattr and lsattr run as child processes, which inherit none of our descriptors."""
    seen = {}

    def prepare(temporary):
        child = [sys.executable, "-c", "import os, sys; print(os.stat(sys.argv[1]).st_ino)", temporary]
        seen["inode"] = int(subprocess.run(child, check=True, capture_output=True, text=True).stdout)
        holder = os.stat(os.path.dirname(temporary))
        seen["holder"] = (holder.st_uid, stat.S_IMODE(holder.st_mode))

    write_atomically(str(tmp_path / "token"), SECRET, prepare=prepare)

    assert seen["inode"] == os.stat(tmp_path / "token").st_ino
    assert seen["holder"] == (os.geteuid(), 0o700)
    assert os.listdir(tmp_path) == ["token"]


def test_a_directory_swapped_for_a_link_mid_way_does_not_redirect_the_write(tmp_path, decoy):
    service = tmp_path / "service"
    service.mkdir()
    moved = tmp_path / "moved"
    before = _fingerprint(decoy)

    def swap_directory(temporary):
        os.rename(service, moved)
        os.symlink(decoy.parent, service)

    write_atomically(str(service / "passwd"), SECRET, prepare=swap_directory)
    assert _fingerprint(decoy) == before
    assert (moved / "passwd").read_bytes() == SECRET


def test_fsync_directory_of_a_missing_directory_is_no_error(tmp_path):
    fsync_directory(str(tmp_path / "missing"))


def test_concurrent_writers_never_leave_a_partial_file(tmp_path):
    path = tmp_path / "token"
    payloads = [bytes([65 + n]) * 200_000 for n in range(4)]

    def writer(payload):
        for dummy in range(10):
            write_atomically(str(path), payload)

    threads = [threading.Thread(target=writer, args=(payload,)) for payload in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert path.read_bytes() in payloads
    assert os.listdir(tmp_path) == ["token"]


# --- who else can replace the file ---------------------------------------------------------


NOGROUP = grp.getgrnam("nogroup").gr_gid


@needs_root
@pytest.mark.parametrize(
    ("dir_uid", "dir_gid", "dir_mode", "owner_uid", "who"),
    [
        pytest.param(0, 0, 0o755, 0, None, id="root-0755"),
        pytest.param(0, 0, 0o1777, 0, None, id="root-sticky-1777"),
        pytest.param(NOBODY, 0, 0o755, NOBODY, None, id="owned-by-the-files-owner"),
        pytest.param(NOBODY, 0, 0o755, 0, "its owner (uid 65534)", id="owned-by-another-user"),
        pytest.param(0, NOGROUP, 0o775, 0, f"its group (gid {NOGROUP})", id="group-writable"),
        # root's group has no other member here: as a user private group, its write bit lets no one in.
        pytest.param(0, 0, 0o775, 0, None, id="writable-by-the-owners-private-group"),
        pytest.param(0, 0, 0o777, 0, "everyone", id="world-writable"),
    ],
)
def test_others_who_can_replace(tmp_path, dir_uid, dir_gid, dir_mode, owner_uid, who):
    directory = tmp_path / "service"
    directory.mkdir()
    os.chown(directory, dir_uid, dir_gid)
    directory.chmod(dir_mode)
    assert others_who_can_replace(str(directory), owner_uid=owner_uid) == who


@needs_root
def test_the_directories_above_are_those_the_directory_is_really_in_not_those_the_path_names(tmp_path):
    tmp_path.chmod(0o755)
    app = tmp_path / "srv" / "app"
    (app / "conf").mkdir(parents=True)
    os.chown(app, NOBODY, NOBODY)
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "app").symlink_to(app / "conf")  # root's link: followed

    found = directories_others_can_change(str(tmp_path / "etc" / "app"), owner_uid=0)

    assert found == (str(app), f"its owner (uid {NOBODY})")


@needs_root
@pytest.mark.parametrize(
    "another_account",
    [
        pytest.param(lambda: [pwd.struct_passwd(("operator", "x", 11, 0, "", "/root", "/sbin/nologin"))], id="by-primary-group"),
        pytest.param(lambda: [grp.struct_group(("wheel2", "x", 0, ["eve"]))], id="by-a-second-entry-of-the-gid"),
    ],
)
def test_a_group_someone_else_is_in_is_not_the_owners_private_group(tmp_path, monkeypatch, another_account):
    # RHEL's operator and sync have root's group as their primary group, and are not listed as its members.
    extra = another_account()
    if isinstance(extra[0], pwd.struct_passwd):
        everyone = pwd.getpwall()
        monkeypatch.setattr(pwd, "getpwall", lambda: everyone + extra)
    else:
        groups = grp.getgrall()
        monkeypatch.setattr(grp, "getgrall", lambda: groups + extra)
    directory = tmp_path / "service"
    directory.mkdir()
    os.chown(directory, 0, 0)
    directory.chmod(0o775)

    assert others_who_can_replace(str(directory), owner_uid=0) == "its group (gid 0)"


@needs_root
def test_where_acls_cannot_be_read_a_private_group_still_counts_as_others(tmp_path, monkeypatch):
    # No os.listxattr (macOS controllers): an ACL cannot be ruled out, so the group bits are not trusted.
    monkeypatch.delattr(os, "listxattr")
    directory = tmp_path / "service"
    directory.mkdir()
    os.chown(directory, 0, 0)
    directory.chmod(0o775)
    assert others_who_can_replace(str(directory), owner_uid=0) == "its group (gid 0)"


@needs_root
@pytest.mark.skipif(not hasattr(os, "setxattr"), reason="POSIX ACLs are set through Linux extended attributes")
def test_a_user_an_acl_lets_write_is_named_even_where_the_group_is_the_owners_own(tmp_path):
    # root's group is root's private group here (see above): only the ACL lets another user in.
    directory = tmp_path / "service"
    directory.mkdir()
    os.chown(directory, 0, 0)
    directory.chmod(0o755)
    _let_write_by_acl(directory, NOBODY)

    assert others_who_can_replace(str(directory), owner_uid=0) == "its group (gid 0) or the users and groups its ACL names"


@needs_root
@pytest.mark.skipif(not hasattr(os, "setxattr"), reason="POSIX ACLs are set through Linux extended attributes")
def test_a_link_in_a_directory_an_acl_lets_another_user_write_is_refused(tmp_path, decoy):
    tmp_path.chmod(0o755)
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chown(shared, 0, 0)
    shared.chmod(0o755)
    _let_write_by_acl(shared, NOBODY)
    (shared / "conf").symlink_to(decoy.parent)

    with pytest.raises(FileTargetError, match="symbolic link"):
        write_atomically(str(shared / "conf" / "passwd"), SECRET)
    assert decoy.read_bytes() == b"root:x:0:0:root:/root:/bin/sh\n"


# --- links among the directory's components ----------------------------------------------


@needs_root
def test_a_link_in_a_directory_someone_else_owns_never_redirects_a_root_write(tmp_path, decoy):
    """/srv/app is the service user's: its link app/etc -> (the decoy's directory) is refused."""
    tmp_path.chmod(0o755)
    app = tmp_path / "app"
    app.mkdir()
    os.chown(app, NOBODY, NOBODY)
    (app / "etc").symlink_to(decoy.parent)
    before = _fingerprint(decoy)

    with pytest.raises(FileTargetError, match=r"app/etc in the directory of the path is a symbolic link"):
        write_atomically(str(app / "etc" / "passwd"), SECRET)

    assert _fingerprint(decoy) == before
    assert sorted(os.listdir(decoy.parent)) == ["passwd"]


def test_a_link_that_only_we_or_root_could_make_is_followed(tmp_path):
    """Like /var/run -> /run, or a user's own ~/.cache -> /data/cache."""
    tmp_path.chmod(0o755)
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "alias").symlink_to("real")  # relative, in a directory that is ours (or root's)

    write_atomically(str(tmp_path / "alias" / "token"), SECRET)

    assert (real / "token").read_bytes() == SECRET


def test_a_link_in_a_directory_others_can_write_is_refused(tmp_path, decoy):
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    (shared / "conf").symlink_to(decoy.parent)

    with pytest.raises(FileTargetError, match="symbolic link"):
        write_atomically(str(shared / "conf" / "passwd"), SECRET)
    assert decoy.read_bytes() == b"root:x:0:0:root:/root:/bin/sh\n"


@needs_root
def test_a_link_in_a_directory_someone_else_owns_is_not_followed_to_read(tmp_path, decoy):
    """What token_file reads to keep is read through the same directory walk as the write."""
    tmp_path.chmod(0o755)
    app = tmp_path / "app"
    app.mkdir()
    os.chown(app, NOBODY, NOBODY)
    (app / "etc").symlink_to(decoy.parent)

    with pytest.raises(FileTargetError, match=r"app/etc in the directory of the path is a symbolic link"):
        read_regular_file(str(app / "etc" / "passwd"))


@pytest.mark.parametrize("decoy_mode, decoy_entry", [(0o755, None), (0o700, "key.pem")], ids=["shared", "not-empty"])
def test_a_private_directory_swapped_after_mkdir_is_refused_and_left_as_it_was(
    tmp_path, monkeypatch, decoy_mode, decoy_entry
):
    # Whoever can write the directory renames our new private directory away and one of
    # the directory's own (ours, as root's would be) into its place before we open it.
    decoy = tmp_path / "ssl"
    decoy.mkdir()
    decoy.chmod(decoy_mode)
    if decoy_entry:
        (decoy / decoy_entry).write_text("kept")
    real_mkdir = os.mkdir

    def mkdir_then_swap(name, mode=0o777, *, dir_fd=None):
        real_mkdir(name, mode, dir_fd=dir_fd)
        os.rename(name, "ours-moved-away", src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        os.rename(decoy.name, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)

    monkeypatch.setattr(_io.os, "mkdir", mkdir_then_swap)
    target = tmp_path / "app.env"
    target.write_text("TOKEN=old\n")

    with pytest.raises(FileTargetError, match="replaced by someone else"):
        write_atomically(str(target), b"TOKEN=new\n", prepare=lambda temporary: None)

    swapped = [entry for entry in tmp_path.iterdir() if entry.name.startswith(".app.env.")]
    assert len(swapped) == 1 and stat.S_IMODE(swapped[0].stat().st_mode) == decoy_mode  # never chmod-ed
    assert target.read_text() == "TOKEN=old\n"


def _acl(*entries: tuple[int, int, int]) -> bytes:
    """A POSIX ACL as the kernel stores it in system.posix_acl_*: (tag, permission bits, id)."""
    import struct  # pylint: disable=import-outside-toplevel

    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *entry) for entry in entries)


USER_OBJ, USER, GROUP_OBJ, MASK, OTHER = 0x01, 0x02, 0x04, 0x10, 0x20
ANY = 0xFFFFFFFF  # the id of an entry that names no one


def _default_acl_granting_read_to(uid: int) -> bytes:
    """system.posix_acl_default as `setfacl -d -m u:UID:r` writes it: u::rwx, u:UID:r, g::---, m::rwx, o::---."""
    return _acl((USER_OBJ, 7, ANY), (USER, 4, uid), (GROUP_OBJ, 0, ANY), (MASK, 7, ANY), (OTHER, 0, ANY))


def _let_write_by_acl(directory, uid: int) -> None:
    """`setfacl -m u:UID:rwx` on a 0755 directory: its group bits become the ACL's mask, rwx."""
    try:
        os.setxattr(directory, "system.posix_acl_access",
                    _acl((USER_OBJ, 7, ANY), (USER, 7, uid), (GROUP_OBJ, 5, ANY), (MASK, 7, ANY), (OTHER, 5, ANY)))
    except OSError as exc:
        pytest.skip(f"this file system takes no ACLs: {exc}")


def _access_acl(path) -> bytes | None:
    try:
        return os.getxattr(path, "system.posix_acl_access", follow_symlinks=False)
    except OSError:
        return None


@pytest.mark.skipif(not hasattr(os, "setxattr"), reason="POSIX ACLs are set through Linux extended attributes")
@pytest.mark.parametrize("prepare", [None, lambda temporary: None], ids=["in-the-directory", "in-a-private-directory"])
def test_a_default_acl_of_the_directory_is_not_inherited(tmp_path, prepare):
    # Whoever owns the directory can give it a default ACL naming another user; a file created
    # there would inherit it, and a mode with group bits (0640) would let that user read it.
    try:
        os.setxattr(tmp_path, "system.posix_acl_default", _default_acl_granting_read_to(NOBODY))
    except OSError as exc:
        pytest.skip(f"this file system takes no ACLs: {exc}")
    path = tmp_path / "app.env"

    write_atomically(str(path), SECRET, mode=0o640, prepare=prepare)

    assert _access_acl(path) is None
    assert _mode(path) == 0o640 and path.read_bytes() == SECRET


def test_a_file_larger_than_the_limit_is_refused_without_being_read(tmp_path, monkeypatch):
    # A sparse file of the directory's owner (truncate -s 300M) costs them no disk; read and
    # written again it would cost the run its size in memory and in real disk.
    path = tmp_path / "app.env"
    with open(path, "wb") as handle:
        handle.truncate(_io.MAX_READ_SIZE + 1)

    with pytest.raises(FileTargetError, match=r"path .*app\.env is larger than 16 MiB \(16777217 bytes\)"):
        read_regular_file(str(path))

    path.write_bytes(b"A=1\n")
    assert read_regular_file(str(path))[0] == b"A=1\n"


@pytest.mark.skipif(not hasattr(os, "removexattr"), reason="POSIX ACLs are set through Linux extended attributes")
def test_a_file_system_that_refuses_to_remove_acls_still_takes_files_without_one(tmp_path, monkeypatch):
    # Some FUSE and NFS mounts answer EPERM or ENOSYS to removexattr even where there is no ACL.
    def refuse(*args, **kwargs):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "removexattr", refuse)
    path = tmp_path / "app.env"

    write_atomically(str(path), SECRET, mode=0o640)

    assert path.read_bytes() == SECRET and _mode(path) == 0o640

# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

import json
import grp
import os
import pwd
import stat
import subprocess
import typing as t

import pytest
import yaml

from ansible.module_utils import _internal as module_utils_internal
from ansible.module_utils.common import warnings
from ansible.module_utils.testing import patch_module_args

from ansible_collections.telenor.oauth.plugins.module_utils import _token_file
from ansible_collections.telenor.oauth.plugins.modules import token_file

TOKEN = "AT-Qm7Xv2Lp9sZr-token-file-unit"
OLD_SECRET = "OLD-Hk4Tn8Wc-previous-token"


class Run(t.NamedTuple):
    rc: int
    result: dict
    stdout: str
    warnings: tuple


@pytest.fixture
def run(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> t.Callable[..., Run]:
    """Run the module end to end with these arguments, as Ansible would."""

    def _run(**args: t.Any) -> Run:
        # As on a managed host: warnings go into the result, not to the controller's display.
        monkeypatch.setattr(module_utils_internal, "is_controller", False)
        # AnsibleModule keeps warnings process-wide; give each run its own.
        monkeypatch.setattr(warnings, "_global_warnings", {})
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
        return Run(exit_info.value.code or 0, result, stdout, warnings.get_warning_messages())

    return _run


def _mode(path: os.PathLike | str) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def _siblings(path: os.PathLike | str) -> list[str]:
    return sorted(os.listdir(os.path.dirname(path)))


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

    def spy_replace(src, dst, **kwargs):
        with open(tmp_path / src, "rb") as handle:
            seen.update(src=src, mode=_mode(tmp_path / src), data=handle.read())
        real_replace(src, dst, **kwargs)

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

    def spy_replace(src, dst, **kwargs):
        seen["uid"] = os.stat(tmp_path / src).st_uid
        real_replace(src, dst, **kwargs)

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

    def failing_replace(src, dst, **kwargs):
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


def test_check_mode_accepts_an_owner_and_group_that_an_earlier_task_would_create(run, tmp_path):
    # In --check, the task that creates the service user has not run: not an error yet.
    path = tmp_path / "service.env"

    outcome = run(path=str(path), format="env", value=TOKEN, owner="svc-not-created-yet",
                  group="svc-not-created-yet", _ansible_check_mode=True)

    assert outcome.result.get("failed") is not True, outcome.result
    assert outcome.result["changed"] is True
    assert not path.exists()


def test_check_mode_reports_no_change_when_there_is_none(run, tmp_path):
    path = tmp_path / "token"
    path.write_text(f"{TOKEN}\n")
    path.chmod(0o600)

    assert run(path=str(path), format="raw", value=TOKEN, _ansible_check_mode=True).result["changed"] is False


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        pytest.param("0640", 0o640, id="octal"),
        pytest.param("u=rw,g=r", 0o640, id="symbolic"),
        pytest.param("g+r", 0o640, id="symbolic-from-the-files-mode"),
    ],
)
def test_mode_only_change_replaces_the_file_with_the_same_bytes(run, tmp_path, monkeypatch, mode, expected):
    path = tmp_path / "token"
    path.write_text(f"{TOKEN}\n")
    path.chmod(0o600)

    def no_chmod_by_path(*args, **kwargs):
        raise AssertionError("the file must not be chmod-ed by path, which a planted link could redirect")

    monkeypatch.setattr(os, "chmod", no_chmod_by_path)

    outcome = run(path=str(path), format="raw", value=TOKEN, mode=mode)

    assert outcome.result["changed"] is True
    assert outcome.result["mode"] == f"0{expected:o}"
    assert _mode(path) == expected
    assert path.read_text() == f"{TOKEN}\n"
    assert _siblings(path) == ["token"]
    assert run(path=str(path), format="raw", value=TOKEN, mode=mode).result["changed"] is False


@pytest.mark.parametrize("dangling", [False, True], ids=["to-a-file", "dangling"])
def test_symlink_at_the_path_is_refused_and_nothing_is_written(run, tmp_path, dangling):
    real = tmp_path / "real" / "service.env"
    real.parent.mkdir()
    if not dangling:
        real.write_text("A=1\n")
        real.chmod(0o644)
    link = tmp_path / "service.env"
    link.symlink_to(real)

    outcome = run(path=str(link), format="env", value=TOKEN)

    assert outcome.rc == 1
    assert f"path {link} is a symbolic link; refusing to write through it" in outcome.result["msg"]
    assert os.readlink(link) == str(real)
    if dangling:
        assert not real.exists()
    else:
        assert (real.read_text(), _mode(real)) == ("A=1\n", 0o644)
    assert _siblings(link) == ["real", "service.env"]


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        pytest.param({"path": "relative/token", "format": "raw", "value": TOKEN}, "path must be absolute", id="relative"),
        pytest.param({"format": "env", "value": TOKEN, "key": "BAD-KEY"}, "key 'BAD-KEY'", id="env-key"),
        pytest.param({"format": "raw", "value": TOKEN, "mode": "u=banana"}, "mode must be in octal", id="bad-mode"),
        pytest.param({"format": "raw", "value": TOKEN, "mode": "0800"}, "mode must be in octal", id="not-octal"),
        pytest.param({"format": "raw", "value": TOKEN, "owner": "no-such-user-xyz"}, "look up user", id="owner"),
        pytest.param({"format": "raw", "value": TOKEN, "group": "no-such-group-xyz"}, "look up group", id="group"),
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


# --- as an attacker: a service directory owned by an unprivileged user --------------------

NOBODY = pwd.getpwnam("nobody").pw_uid
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="become runs the module as root; so must this test")


@pytest.fixture
def service_dir(tmp_path):
    """/etc/sms-gateway as its service user owns it: everything in it is theirs to plant."""
    directory = tmp_path / "sms-gateway"
    directory.mkdir()
    os.chown(directory, NOBODY, -1)
    return directory


@pytest.fixture
def decoy(tmp_path):
    """A stand-in for /etc/passwd, which the service user would like to own."""
    (tmp_path / "etc").mkdir()
    path = tmp_path / "etc" / "passwd"
    path.write_text("root:x:0:0:root:/root:/bin/sh\n")
    path.chmod(0o644)
    return path


def _fingerprint(path) -> tuple:
    info = os.lstat(path)
    return path.read_bytes(), info.st_ino, info.st_mode, info.st_uid, info.st_gid, info.st_mtime_ns


@needs_root
@pytest.mark.parametrize("fmt", ["env", "raw"])
@pytest.mark.parametrize("dangling", [False, True], ids=["link-to-passwd", "dangling-link"])
def test_a_link_planted_by_the_directory_owner_is_refused(run, tmp_path, service_dir, decoy, fmt, dangling):
    before = _fingerprint(decoy)
    link = service_dir / "app.env"
    link.symlink_to(tmp_path / "etc" / "shadow" if dangling else decoy)

    outcome = run(path=str(link), format=fmt, value=TOKEN, owner="nobody", mode="0600")

    assert outcome.rc == 1
    assert f"path {link} is a symbolic link; refusing to write through it" in outcome.result["msg"]
    assert _fingerprint(decoy) == before
    assert sorted(os.listdir(tmp_path / "etc")) == ["passwd"]  # the dangling link created nothing
    assert sorted(os.listdir(service_dir)) == ["app.env"] and link.is_symlink()


@needs_root
@pytest.mark.parametrize("change", ["content", "mode-only"])
def test_a_link_planted_after_the_checks_is_replaced_not_followed(run, service_dir, decoy, monkeypatch, change):
    path = service_dir / "app.env"
    path.write_text(f"TELENOR_ACCESS_TOKEN={OLD_SECRET if change == 'content' else TOKEN}\n")
    path.chmod(0o644)
    before = _fingerprint(decoy)
    real_read = token_file.read_regular_file

    def read_then_plant(target, **kwargs):  # the directory's owner wins the race after the file was read
        existing = real_read(target, **kwargs)
        os.unlink(target)
        os.symlink(decoy, target)
        return existing

    monkeypatch.setattr(token_file, "read_regular_file", read_then_plant)

    outcome = run(path=str(path), format="env", value=TOKEN, owner="root", mode="0600")

    assert outcome.result["changed"] is True
    assert _fingerprint(decoy) == before
    assert not path.is_symlink()
    assert path.read_text() == f"TELENOR_ACCESS_TOKEN={TOKEN}\n"
    info = os.stat(path)
    assert (info.st_uid, stat.S_IMODE(info.st_mode)) == (0, 0o600)


@needs_root
@pytest.mark.parametrize(
    ("dir_uid", "dir_mode", "warned"),
    [
        pytest.param(0, 0o755, None, id="root-0755"),
        pytest.param(0, 0o1777, None, id="root-sticky"),
        pytest.param(NOBODY, 0o755, "can be written by its owner (uid 65534)", id="owned-by-the-service-user"),
        pytest.param(0, 0o777, "can be written by everyone", id="world-writable"),
    ],
)
def test_a_directory_others_can_write_gets_a_warning(run, tmp_path, dir_uid, dir_mode, warned):
    directory = tmp_path / "service"
    directory.mkdir()
    os.chown(directory, dir_uid, 0)
    directory.chmod(dir_mode)

    outcome = run(path=str(directory / "token"), format="raw", value=TOKEN)

    assert outcome.result["changed"] is True
    if warned is None:
        assert outcome.warnings == ()
    else:
        (warning,) = outcome.warnings
        assert warning.startswith(f"{directory}, the directory of path {directory}/token, {warned}")


@needs_root
def test_a_directory_others_can_write_higher_up_the_path_gets_a_warning(run, service_dir):
    # /srv/app/etc is root's, but the service user who owns /srv/app can rename it away and put a
    # directory of its own, with files of its choosing, in its place.
    directory = service_dir / "etc"
    directory.mkdir()
    directory.chmod(0o755)

    outcome = run(path=str(directory / "token"), format="raw", value=TOKEN)

    assert outcome.result["changed"] is True
    (warning,) = outcome.warnings
    assert warning.startswith(
        f"{service_dir}, a directory above path {directory}/token, can be written by its owner (uid {NOBODY})"
    )


@needs_root
def test_a_file_owned_by_the_directorys_owner_gets_no_warning(run, service_dir):
    outcome = run(path=str(service_dir / "token"), format="raw", value=TOKEN, owner="nobody")
    assert outcome.warnings == ()
    assert os.stat(service_dir / "token").st_uid == NOBODY


@needs_root
def test_a_temporary_file_swapped_for_a_hard_link_never_gets_the_owner_or_mode(run, service_dir, decoy, monkeypatch):
    """The directory's owner swaps the temporary file's name for a hard link to /etc/passwd."""
    path = service_dir / "app.env"
    path.write_text(f"TELENOR_ACCESS_TOKEN={OLD_SECRET}\n")
    before, old = _fingerprint(decoy), _fingerprint(path)
    real_open = os.open

    def open_then_swap(name, flags, mode=0o777, **kwargs):
        fd = real_open(name, flags, mode, **kwargs)
        if flags & os.O_EXCL and str(name).endswith(".tmp"):
            os.rename(name, f"{name}.aside", src_dir_fd=kwargs.get("dir_fd"), dst_dir_fd=kwargs.get("dir_fd"))
            os.link(decoy, name, dst_dir_fd=kwargs.get("dir_fd"))
        return fd

    monkeypatch.setattr(os, "open", open_then_swap)
    outcome = run(path=str(path), format="env", value=TOKEN, owner="nobody", group="nogroup", mode="0600")
    monkeypatch.undo()

    assert outcome.rc == 1
    assert f"the temporary file for path {path} was replaced by someone else" in outcome.result["msg"]
    assert _fingerprint(decoy) == before
    assert _fingerprint(path) == old


@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "check-mode"])
def test_a_file_with_other_hard_links_is_refused_and_nothing_is_written(run, tmp_path, decoy, check_mode):
    """A hard link to /etc/shadow planted by the directory's owner would have its content copied."""
    service = tmp_path / "service"
    service.mkdir()
    path = service / "app.env"
    os.link(decoy, path)
    before = _fingerprint(decoy)

    outcome = run(path=str(path), format="env", value=TOKEN, _ansible_check_mode=check_mode)

    assert outcome.rc == 1
    assert outcome.result["msg"].startswith(f"path {path} has 2 hard links; refusing to read or replace it")
    assert "root:x:0:0" not in outcome.stdout
    assert _fingerprint(decoy) == before and os.listdir(service) == ["app.env"]


def _chattr_works(directory) -> bool:
    probe = directory / "probe"
    probe.touch()
    try:
        return subprocess.run(["chattr", "+A", str(probe)], capture_output=True, check=False).returncode == 0
    except OSError:
        return False
    finally:
        probe.unlink()


def test_attributes_are_set_on_the_new_file(run, tmp_path):
    if not _chattr_works(tmp_path):
        pytest.skip("chattr is missing, or the file system has no attributes")
    path = tmp_path / "token"

    outcome = run(path=str(path), format="raw", value=TOKEN, attributes="A")

    assert (outcome.rc, outcome.result["changed"]) == (0, True)
    flags = subprocess.run(["lsattr", "-d", str(path)], capture_output=True, text=True, check=True).stdout.split()[0]
    assert "A" in flags, flags
    assert os.listdir(tmp_path) == ["token"]


@pytest.mark.parametrize("attributes", ["+i", "a", "=Ai"])
def test_attributes_that_forbid_replacing_the_file_fail_before_any_write(run, tmp_path, attributes):
    # chattr +i or +a on the temporary file made its rename and removal fail, on every run.
    path = tmp_path / "token"
    path.write_text("old\n")

    outcome = run(path=str(path), format="raw", value=TOKEN, attributes=attributes)

    assert outcome.result["failed"] is True
    assert outcome.result["msg"].startswith(f"attributes {attributes!r} sets ")
    assert "forbid replacing the file" in outcome.result["msg"]
    assert path.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["token"]


@pytest.mark.skipif(os.geteuid() != 0, reason="a root-only file and another owner need root")
@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "check-mode"])
def test_a_root_only_file_moved_onto_the_path_is_not_handed_to_the_new_owner(run, tmp_path, check_mode):
    # The service user owns the directory and renames a root-only file there onto app.env;
    # the module, as root, would keep its lines in a file the service user owns.
    path = tmp_path / "app.env"
    path.write_text("ROOT_ONLY_KEY=s3cr3t\n")
    path.chmod(0o600)

    outcome = run(path=str(path), format="env", value=TOKEN, owner="nobody", _ansible_check_mode=check_mode)

    assert outcome.result["failed"] is True
    assert "not readable by its owner" in outcome.result["msg"] and str(path) in outcome.result["msg"]
    assert path.read_text() == "ROOT_ONLY_KEY=s3cr3t\n" and path.stat().st_uid == 0
    assert _siblings(path) == ["app.env"]


@needs_root
@pytest.mark.parametrize(
    ("planted_mode", "mode", "expected"),
    [
        pytest.param(0o666, "u=rw,g=r", 0o640, id="world-writable-file"),
        pytest.param(0o4755, "u+rw", 0o600, id="set-uid-executable"),
    ],
)
def test_a_symbolic_mode_ignores_the_bits_of_a_file_planted_by_the_directory_owner(
    run, service_dir, planted_mode, mode, expected
):
    # The service user replaces the root-owned app.env with a file of its own whose mode it chose;
    # applied to those bits, the symbolic mode would give everyone the token (or root a set-uid file).
    path = service_dir / "app.env"
    path.write_text("OTHER=1\n")
    os.chown(path, NOBODY, -1)
    path.chmod(planted_mode)

    outcome = run(path=str(path), format="env", value=TOKEN, owner="root", group="root", mode=mode)

    assert outcome.result["changed"] is True
    assert outcome.result["mode"] == f"0{expected:o}"
    info = path.stat()
    assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (expected, 0, 0)
    assert path.read_text() == f"OTHER=1\nTELENOR_ACCESS_TOKEN={TOKEN}\n"


NOGROUP = grp.getgrnam("nogroup").gr_gid if "nogroup" in {group.gr_name for group in grp.getgrall()} else NOBODY


def _shared_directory(tmp_path, *, uid: int, gid: int, mode: int, nested: bool = False):
    """The directory of the token file, as someone else may share it; ``nested``: root's own
    directory inside it."""
    directory = tmp_path / "shared"
    directory.mkdir()
    os.chown(directory, uid, gid)
    directory.chmod(mode)
    if nested:
        directory = directory / "etc"
        directory.mkdir()
        directory.chmod(0o755)
    return directory


@needs_root
@pytest.mark.parametrize("check_mode", [False, True], ids=["run", "check-mode"])
@pytest.mark.parametrize(
    ("directory_args", "file_ids", "options", "where", "who", "kept", "unset"),
    [
        pytest.param({"uid": 0, "gid": 0, "mode": 0o1777}, (NOBODY, NOGROUP), {}, "shared", "everyone",
                     "owner and group", "owner and group", id="pre-created-in-a-sticky-shared-directory"),
        pytest.param({"uid": NOBODY, "gid": 0, "mode": 0o755}, (NOBODY, NOGROUP), {}, "shared",
                     f"its owner (uid {NOBODY})", "owner and group", "owner and group", id="planted-by-the-directory-owner"),
        pytest.param({"uid": NOBODY, "gid": 0, "mode": 0o755}, (0, NOGROUP), {"owner": "root", "mode": "0640"}, "shared",
                     f"its owner (uid {NOBODY})", "group", "group", id="a-root-file-with-the-planters-group-moved-in"),
        pytest.param({"uid": 0, "gid": NOGROUP, "mode": 0o770}, (NOBODY, NOGROUP), {}, "shared",
                     f"its group (gid {NOGROUP})", "owner and group", "owner and group", id="a-group-writable-directory"),
        pytest.param({"uid": NOBODY, "gid": 0, "mode": 0o755, "nested": True}, (NOBODY, NOGROUP), {}, "shared",
                     f"its owner (uid {NOBODY})", "owner and group", "owner and group", id="a-directory-above-the-planters"),
    ],
)
def test_a_file_someone_else_could_have_put_there_does_not_give_them_the_token(
    run, tmp_path, check_mode, directory_args, file_ids, options, where, who, kept, unset
):
    # Someone who can put a file in the directory does so before the role runs (an empty file of
    # theirs, or a root-owned one with their group, moved in); keeping its owner or group, as for
    # any existing file, would let them read the token that root writes into it.
    directory = _shared_directory(tmp_path, **directory_args)
    path = directory / "app.token"
    path.write_text("")
    os.chown(path, *file_ids)
    path.chmod(0o640)

    outcome = run(path=str(path), format="raw", value=TOKEN, _ansible_check_mode=check_mode, **options)

    assert outcome.result["failed"] is True
    assert outcome.result["msg"] == (
        f"path {path} belongs to uid {file_ids[0]} and gid {file_ids[1]}, and {tmp_path / where} can be written by {who},"
        f" who could have put it there to receive the token; refusing to keep its {kept}: set {unset} for this file,"
        " or remove it so that it is created anew"
    )
    assert path.read_text() == ""
    assert (path.stat().st_uid, path.stat().st_gid) == file_ids
    assert _siblings(path) == ["app.token"]


@needs_root
def test_a_new_file_in_a_set_gid_directory_gets_our_group_not_the_one_its_owner_chose(run, tmp_path):
    # The service user owns the directory and sets its set-gid bit: a new file would get their group,
    # and with mode 0640 they would read root's token.
    directory = _shared_directory(tmp_path, uid=NOBODY, gid=NOGROUP, mode=0o2755)
    path = directory / "app.env"

    outcome = run(path=str(path), format="env", value=TOKEN, owner="root", mode="0640")

    assert outcome.result["changed"] is True
    assert (path.stat().st_uid, path.stat().st_gid) == (0, os.getegid())


def _acl_shutting_out_the_group(path) -> None:
    """`setfacl -m g::---,u:nobody:r` on a 0600 file: its group bits show the mask, r, although its
    group may read nothing."""
    import struct  # pylint: disable=import-outside-toplevel

    entries = [(0x01, 6, 0xFFFFFFFF), (0x02, 4, NOBODY), (0x04, 0, 0xFFFFFFFF), (0x10, 4, 0xFFFFFFFF), (0x20, 0, 0xFFFFFFFF)]
    try:
        os.setxattr(path, "system.posix_acl_access", struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e) for e in entries))
    except (AttributeError, OSError) as exc:
        pytest.skip(f"no POSIX ACLs here: {exc}")
    assert _mode(path) == 0o640


@needs_root
def test_a_file_whose_acl_shuts_out_its_group_is_not_handed_to_that_group(run, tmp_path):
    # A root-only key in a file with an ACL, moved onto the path by the service user, whose group it is.
    path = tmp_path / "app.env"
    path.write_text("ROOT_ONLY_KEY=s3cr3t\n")
    os.chown(path, 0, NOGROUP)
    _acl_shutting_out_the_group(path)

    outcome = run(path=str(path), format="env", value=TOKEN, owner="root", group=str(NOGROUP), mode="0640")

    assert outcome.result["failed"] is True
    assert "refusing to hand it over" in outcome.result["msg"]
    assert path.read_text() == "ROOT_ONLY_KEY=s3cr3t\n"


@needs_root
def test_a_symbolic_mode_on_a_file_with_an_acl_starts_from_its_owner_bits(run, tmp_path):
    path = tmp_path / "token"
    path.write_text("old\n")
    os.chown(path, 0, NOGROUP)
    _acl_shutting_out_the_group(path)

    outcome = run(path=str(path), format="raw", value=TOKEN, mode="u=rw")

    assert outcome.result["mode"] == "0600"
    assert _mode(path) == 0o600


@needs_root
def test_a_file_planted_behind_a_link_is_judged_by_the_directories_it_really_is_in(run, tmp_path):
    # root's link /etc/app -> /srv/app/conf, where the service user owns /srv/app: the path names
    # only root's directories, but the service user can swap conf for a directory of theirs.
    tmp_path.chmod(0o755)
    directory = _shared_directory(tmp_path, uid=NOBODY, gid=0, mode=0o755, nested=True)
    links = tmp_path / "etc"
    links.mkdir()
    (links / "app").symlink_to(directory)
    path = directory / "app.token"
    path.write_text("")
    os.chown(path, NOBODY, NOGROUP)

    outcome = run(path=str(links / "app" / "app.token"), format="raw", value=TOKEN)

    assert outcome.result["failed"] is True
    assert f"and {tmp_path / 'shared'} can be written by its owner (uid {NOBODY})" in outcome.result["msg"]
    assert path.read_text() == ""


@needs_root
@pytest.mark.parametrize(
    ("directory_args", "file_ids"),
    [
        pytest.param({"uid": 0, "gid": 0, "mode": 0o755}, (NOBODY, NOGROUP), id="another-users-file-where-only-root-writes"),
        pytest.param({"uid": NOBODY, "gid": 0, "mode": 0o755}, (0, 0), id="a-root-file-as-a-new-one-would-be"),
    ],
)
def test_an_existing_file_keeps_its_owner_and_group_where_no_one_else_could_have_chosen_them(
    run, tmp_path, directory_args, file_ids
):
    directory = _shared_directory(tmp_path, **directory_args)
    path = directory / "app.token"
    path.write_text("")
    os.chown(path, *file_ids)

    outcome = run(path=str(path), format="raw", value=TOKEN)

    assert outcome.result["changed"] is True
    assert (path.stat().st_uid, path.stat().st_gid) == file_ids
    assert path.read_text() == f"{TOKEN}\n"


def test_a_symbolic_mode_never_carries_set_id_bits_over(run, tmp_path):
    path = tmp_path / "token"
    path.write_text(f"{TOKEN}\n")
    path.chmod(0o6600)

    outcome = run(path=str(path), format="raw", value=TOKEN, mode="g+r")

    assert outcome.result["mode"] == "0640"
    assert _mode(path) == 0o640


def test_a_huge_existing_file_fails_naming_the_path_and_is_left_as_it_was(run, tmp_path):
    path = tmp_path / "app.env"
    with open(path, "wb") as handle:
        handle.truncate(300 * 1024 * 1024)

    outcome = run(path=str(path), format="env", value=TOKEN)

    assert outcome.result["failed"] is True
    assert f"path {path} is larger than 16 MiB" in outcome.result["msg"]
    assert path.stat().st_size == 300 * 1024 * 1024 and _siblings(path) == ["app.env"]

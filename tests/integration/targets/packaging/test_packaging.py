# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The collection as users get it: the built tarball, its install, EE metadata, the changelog release."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

from tests.integration.conftest import BIN, ROOT, on_the_oldest_core

FLEET = ROOT / "tests/integration/targets/lookup_telenor_token/fleet.yml"


def tracked_files() -> list[str]:
    listing = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                             capture_output=True, text=True, check=True)
    return [name for name in listing.stdout.splitlines() if (ROOT / name).exists()]


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory) -> Path:
    """The checkout's files, with some clutter a developer's tree has, as the build sees them."""
    copy = tmp_path_factory.mktemp("src") / "oauth"
    for name in tracked_files():
        target = copy / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, target, follow_symlinks=False)
    for clutter in (".venv/core219/bin/python", "tests/output/junit.xml", "docs/build/html/index.html",
                    "plugins/module_utils/__pycache__/_cache.cpython-311.pyc", ".pytest_cache/README.md",
                    "build/ansible_collections/x"):
        (copy / clutter).parent.mkdir(parents=True, exist_ok=True)
        (copy / clutter).write_text("clutter\n")
    return copy


@pytest.fixture(scope="module")
def tarball(source_copy, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", str(source_copy), "--output-path", str(out)],
                   capture_output=True, text=True, check=True)
    (built,) = out.glob("telenor-oauth-*.tar.gz")
    return built


def test_tarball_carries_the_collection_and_no_clutter(tarball):
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
    for wanted in ("MANIFEST.json", "FILES.json", "README.md", "LICENSE", "meta/runtime.yml",
                   "meta/execution-environment.yml", "requirements.txt", "bindep.txt",
                   "plugins/lookup/telenor_token.py", "plugins/modules/telenor_oauth.py",
                   "plugins/modules/token_file.py", "plugins/action/token_vault.py",
                   "plugins/doc_fragments/connection.py", "plugins/module_utils/_client.py",
                   "roles/service_token/tasks/main.yml", "roles/service_token/meta/argument_specs.yml",
                   "changelogs/changelog.yaml"):
        assert wanted in names, wanted
    for name in names:
        parts = Path(name).parts
        assert not {".venv", "__pycache__", ".pytest_cache", "output"} & set(parts), name
        assert not name.startswith(("build/", "docs/build", ".git/", ".ci/")), name
        assert not name.endswith((".pyc", ".tar.gz")), name


# What only contributors use: the suite and the demo run from a checkout, not from an install.
CONTRIBUTOR_ONLY = ("Makefile", "pytest.ini", "scripts/", "demo/", ".github/", "docs/site/")


def test_tarball_leaves_out_contributor_only_files(tarball, source_copy):
    with tarfile.open(tarball) as archive:
        names = set(archive.getnames())
    for unwanted in CONTRIBUTOR_ONLY:
        assert (source_copy / unwanted.rstrip("/")).exists(), f"{unwanted} is gone from the checkout: drop it here"
        clash = sorted(name for name in names if name == unwanted.rstrip("/") or name.startswith(unwanted))
        assert not clash, clash
    # The user's documentation stays.
    assert {"docs/README.md", "docs/docsite/links.yml", "docs/docsite/rst/guide_getting_started.rst"} <= names


def test_readme_and_documentation_links_work_from_galaxy(tarball):
    # Galaxy shows README.md as it is, relative links included, and they lead nowhere there.
    with tarfile.open(tarball) as archive:
        readme = archive.extractfile("README.md").read().decode()
        manifest = json.load(archive.extractfile("MANIFEST.json"))
    targets = re.findall(r"\]\(([^)\s]+)\)", readme)
    assert targets
    for target in targets:
        assert target.startswith(("https://", "#")), f"README.md links to {target!r}, which breaks on Galaxy"
    repository = "https://github.com/telenor/ansible-collection-oauth/blob/main/"
    for target in targets:
        if target.startswith(repository):
            path = target[len(repository):].split("#", 1)[0].split("?", 1)[0]
            assert (ROOT / path).exists(), f"README.md links to {path}, which the repository lacks"
    # documentation: a page that GitHub renders (Markdown), in this repository.
    documentation = manifest["collection_info"]["documentation"]
    assert documentation.startswith(repository) and documentation.endswith(".md"), documentation
    assert (ROOT / documentation[len(repository):]).is_file()


# The pages a user follows to install the collection and keep its secret.
USER_DOCS = ("README.md", "roles/service_token/README.md", *sorted(
    str(page.relative_to(ROOT)) for page in (ROOT / "docs/docsite/rst").glob("*.rst")))


@pytest.mark.parametrize("page", USER_DOCS)
def test_install_commands_name_the_version_being_built(page):
    # A tarball name with another version than galaxy.yml's is a command that fails as written.
    version = yaml.safe_load((ROOT / "galaxy.yml").read_text())["version"]
    named = set(re.findall(r"telenor-oauth-(\d+\.\d+\.\d+)\.tar\.gz", (ROOT / page).read_text()))
    assert named <= {version}, f"{page} names telenor-oauth-{sorted(named)}.tar.gz; galaxy.yml builds {version}"


@pytest.mark.parametrize("page", USER_DOCS)
def test_vault_recipes_keep_the_secret_out_of_shell_history(page):
    # ansible-vault encrypt_string with the secret as an argument leaves it in the shell's history.
    commands = re.findall(r"^\s*(ansible-vault encrypt_string\b.*)$", (ROOT / page).read_text(), re.MULTILINE)
    for command in commands:
        assert re.search(r"--stdin-name|--prompt|\s-p\b", command), f"{page}: {command}"


def install(tarball: Path, path: Path, env: dict) -> None:
    # Only the new path: the test's own collections path already holds the checkout.
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", str(tarball), "-p", str(path)],
                   capture_output=True, text=True, check=True, env={**env, "ANSIBLE_COLLECTIONS_PATH": str(path)})


def test_the_lookup_works_from_the_installed_tarball(tarball, ansible, emulator, tmp_path):
    installed = tmp_path / "installed"
    install(tarball, installed, ansible.env)
    assert (installed / "ansible_collections/telenor/oauth/plugins/lookup/telenor_token.py").is_file()
    run = ansible.run(FLEET, inventory=ansible.inventory(3), env={"ANSIBLE_COLLECTIONS_PATH": str(installed)})
    assert run.rc == 0, run.output
    assert emulator.stats()["token_requests"] == 1
    assert emulator.stats()["protected_requests"] == 3


def test_execution_environment_metadata_names_the_dependencies(tarball, tmp_path, ansible):
    installed = tmp_path / "installed"
    install(tarball, installed, ansible.env)
    introspected = subprocess.run([str(BIN / "ansible-builder"), "introspect", "--sanitize", str(installed)],
                                  capture_output=True, text=True, check=True)
    data = yaml.safe_load(introspected.stdout)
    python = " ".join(data["python"])
    system = " ".join(data["system"])
    for library in ("requests", "jmespath", "cryptography"):
        assert library in python
    assert "ca-certificates" in system

    # A build context for an EE with this collection: ansible-builder create writes it.
    (tmp_path / "collection").mkdir()
    shutil.copy(tarball, tmp_path / "collection" / tarball.name)
    (tmp_path / "requirements.yml").write_text(yaml.safe_dump(
        {"collections": [{"name": f"collection/{tarball.name}", "type": "file"}]}))
    (tmp_path / "execution-environment.yml").write_text(yaml.safe_dump({
        "version": 3,
        "images": {"base_image": {"name": "quay.io/ansible/ansible-runner:latest"}},
        "dependencies": {"galaxy": "requirements.yml", "python": str(ROOT / "requirements.txt"),
                         "system": str(ROOT / "bindep.txt")},
    }))
    subprocess.run([str(BIN / "ansible-builder"), "create", "--file", "execution-environment.yml",
                    "--context", "context"], cwd=tmp_path, capture_output=True, text=True, check=True)
    build = tmp_path / "context" / "_build"
    assert "collection/" in (build / "requirements.yml").read_text()
    for library in ("requests", "jmespath", "cryptography"):
        assert library in (build / "requirements.txt").read_text()
    assert "ca-certificates" in (build / "bindep.txt").read_text()
    (containerfile,) = [path.read_text() for path in (tmp_path / "context").glob("*file") if path.is_file()]
    assert "introspect" in containerfile  # the image build reads the collection's own metadata too


def test_the_release_notes_are_committed_for_the_version_being_built(source_copy, tmp_path):
    """CHANGELOG.rst has the galaxy.yml version, and regenerating it from changelog.yaml changes nothing."""
    version = yaml.safe_load((source_copy / "galaxy.yml").read_text())["version"]
    committed = (source_copy / "CHANGELOG.rst").read_text()
    assert f"v{version}\n" in committed
    copy = tmp_path / "release"
    shutil.copytree(source_copy, copy)
    # It lists the new plugins with ansible-doc, found on PATH.
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"}
    subprocess.run([str(BIN / "antsibull-changelog"), "generate"], cwd=copy, capture_output=True, text=True,
                   check=True, env=env)
    assert (copy / "CHANGELOG.rst").read_text() == committed
    for name in ("telenor.oauth.telenor_token", "telenor.oauth.telenor_oauth", "telenor.oauth.token_file",
                 "telenor.oauth.service_token"):
        assert name in committed, name


# --- galaxy-importer: what Galaxy runs on an upload --------------------------------------------

IMPORTER_CONFIG = """\
[galaxy-importer]
run_ansible_doc = True
run_flake8 = True
run_ansible_lint = True
offline_ansible_lint = True
run_ansible_test = False
check_changelog = True
"""


# Galaxy runs its importer with its own ansible-core: what it checks is the tarball, which
# is the same in every lane, so one lane runs it.
@pytest.mark.skipif(not on_the_oldest_core(), reason="the importer checks the tarball; the oldest core's lane runs it")
def test_galaxy_importer_accepts_the_tarball_with_flake8_and_ansible_lint_clean(tarball, tmp_path):
    config = tmp_path / "galaxy-importer.cfg"
    config.write_text(IMPORTER_CONFIG)
    # It finds flake8, ansible-lint and ansible-doc on PATH. Every proxy points at a closed port,
    # so that anything reaching for the network fails instead of passing here and not in CI.
    unreachable = "http://127.0.0.1:9"
    env = {**os.environ, "GALAXY_IMPORTER_CONFIG": str(config), "HOME": str(tmp_path),
           "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}", "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"),
           "HTTP_PROXY": unreachable, "HTTPS_PROXY": unreachable, "http_proxy": unreachable,
           "https_proxy": unreachable, "NO_PROXY": "", "no_proxy": ""}
    run = subprocess.run([str(BIN / "python"), "-m", "galaxy_importer.main", str(tarball)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, check=False, timeout=900)
    output = run.stdout + run.stderr
    assert run.returncode == 0, output
    assert "Importer processing completed successfully" in output, output
    # The checks ran: every plugin through flake8, the whole collection through ansible-lint.
    assert "Linting module telenor_oauth via flake8" in output, output
    assert "Linting lookup telenor_token via flake8" in output, output
    assert "ansible-lint run complete" in output, output
    complaints = [line for line in output.splitlines() if line.startswith(("WARNING", "ERROR", "CRITICAL"))]
    assert not complaints, "\n".join(complaints)
    result = json.loads((tmp_path / "importer_result.json").read_text())
    names = {(item["content_type"], item["name"]) for item in result["contents"]}
    for wanted in (("lookup", "telenor_token"), ("module", "telenor_oauth"), ("role", "service_token")):
        assert wanted in names, names

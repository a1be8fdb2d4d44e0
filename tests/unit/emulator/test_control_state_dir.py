# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""control.py start keeps its files (port, pid, url, log, the CA users trust) where only its user can write."""

from __future__ import annotations

import importlib.util
import os
import stat
import sys
from pathlib import Path

import pytest

EMULATOR_DIR = Path(__file__).resolve().parents[2] / "emulator"


def _load_control():
    # tests/ is not a package in a collection checkout, so load the file by path.
    spec = importlib.util.spec_from_file_location("telenor_emulator_control_state", EMULATOR_DIR / "control.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


control = _load_control()


def test_a_new_state_dir_is_made_private(tmp_path):
    state = tmp_path / "emu"
    url = control.start_detached(state)
    try:
        assert url.startswith("http://127.0.0.1:")
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
    finally:
        control.stop_detached(state)


def _planted_state_dir(tmp_path, kind):
    """A state dir as another local user would prepare it, with their link to a file of ours as its log."""
    real = tmp_path / "real"
    real.mkdir()
    victim = real / "precious"
    victim.write_text("precious\n")
    state = tmp_path / "emu"
    if kind == "symlink":
        state.symlink_to(real)
        (real / "emulator.log").symlink_to(victim)
    else:
        state.mkdir()
        state.chmod(0o777 if kind == "world-writable" else 0o770)
        (state / "emulator.log").symlink_to(victim)
    return state, victim


KINDS = ["world-writable", "group-writable", "symlink"]


@pytest.mark.parametrize("kind", KINDS)
def test_start_refuses_a_state_dir_others_could_change_and_writes_nothing(tmp_path, kind):
    state, victim = _planted_state_dir(tmp_path, kind)

    with pytest.raises(control.EmulatorError) as caught:
        control.start_detached(state)

    assert f"state dir {state}" in str(caught.value) and "only you can write" in str(caught.value)
    assert victim.read_text() == "precious\n"
    assert sorted(os.listdir(state)) == (["emulator.log", "precious"] if kind == "symlink" else ["emulator.log"])


@pytest.mark.parametrize("command", ["stop", "stats"])
@pytest.mark.parametrize("kind", KINDS)
def test_other_commands_refuse_a_state_dir_others_could_change(tmp_path, capsys, kind, command):
    # stop would signal the pid found there, and stats trust the URL and the CA.
    state, victim = _planted_state_dir(tmp_path, kind)

    assert control.main([command, "--state-dir", str(state)]) == 1

    assert f"state dir {state}" in capsys.readouterr().err
    assert victim.read_text() == "precious\n"

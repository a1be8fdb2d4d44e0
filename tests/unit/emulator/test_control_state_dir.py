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


@pytest.mark.parametrize("kind", ["world-writable", "group-writable", "symlink"])
def test_a_state_dir_others_could_change_is_refused_before_anything_is_written(tmp_path, kind):
    # Another local user made /tmp/emu first, or pointed it at a directory of root's.
    real = tmp_path / "real"
    real.mkdir()
    state = tmp_path / "emu"
    if kind == "symlink":
        state.symlink_to(real)
    else:
        state.mkdir()
        state.chmod(0o777 if kind == "world-writable" else 0o770)
    victim = real / "pid"
    victim.write_text("precious\n")

    with pytest.raises(control.EmulatorError) as caught:
        control.start_detached(state)

    assert f"state dir {state}" in str(caught.value)
    assert "only you can write" in str(caught.value)
    assert victim.read_text() == "precious\n"
    assert sorted(os.listdir(real)) == ["pid"]
    if kind != "symlink":
        assert os.listdir(state) == []

#!/usr/bin/env python
# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Benchmark of the token cache: prints figures, asserts nothing.

For an inventory of HOSTS local hosts run with FORKS forks, against the
emulator on loopback:
  * token requests made by a playbook using the lookup on a cold cache, and
    by a second run (warm cache);
  * wall time of that playbook on a warm cache divided by the same playbook
    using lookup('ansible.builtin.env', 'HOME'): medians of interleaved runs.
Targets: 1 request cold, 0 warm, ratio at most 1.10.

    python scripts/bench.py [--hosts 200] [--forks 20] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.emulator.control import Emulator  # noqa: E402  pylint: disable=wrong-import-position

PLAY = """\
- name: Benchmark
  hosts: fleet
  gather_facts: false
  tasks:
    - name: Template the value on every host
      ansible.builtin.debug:
        msg: "{{{{ {expr} | length }}}}"
"""
LOOKUPS = {
    "telenor_token": "lookup('telenor.oauth.telenor_token')",
    "env": "lookup('ansible.builtin.env', 'HOME')",
}


def write_fixture(work: Path, hosts: int) -> dict[str, Path]:
    inventory = work / "inventory.ini"
    lines = ["[fleet]"] + [f"h{i:04d}" for i in range(hosts)]
    lines += ["", "[fleet:vars]", "ansible_connection=local", f"ansible_python_interpreter={sys.executable}"]
    inventory.write_text("\n".join(lines) + "\n")
    playbooks = {}
    for name, expr in LOOKUPS.items():
        playbooks[name] = work / f"{name}.yml"
        playbooks[name].write_text(PLAY.format(expr=expr))
    playbooks["inventory"] = inventory
    return playbooks


def run(playbook: Path, inventory: Path, forks: int, env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(playbook), "--forks", str(forks)],
        env=env, capture_output=True, text=True, check=False,
    )
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"bench: {playbook.name} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--forks", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    emulator = Emulator().start(clients=[("bench-client", "bench-secret")])
    with tempfile.TemporaryDirectory(prefix="telenor-bench.") as tmp:
        work = Path(tmp)
        collections = work / "collections" / "ansible_collections" / "telenor"
        collections.mkdir(parents=True)
        (collections / "oauth").symlink_to(ROOT)
        env = {
            **os.environ,
            "ANSIBLE_COLLECTIONS_PATH": str(work / "collections"),
            "ANSIBLE_LOCAL_TEMP": str(work / "tmp"),
            "TELENOR_API_URL": emulator.url,
            "TELENOR_CLIENT_ID": "bench-client",
            "TELENOR_CLIENT_SECRET": "bench-secret",
            "TELENOR_TOKEN_CACHE_DIR": str(work / "cache"),
        }
        files = write_fixture(work, args.hosts)
        inventory = files["inventory"]

        cold_time = run(files["telenor_token"], inventory, args.forks, env)
        cold_requests = emulator.stats()["token_requests"]
        run(files["telenor_token"], inventory, args.forks, env)
        warm_requests = emulator.stats()["token_requests"] - cold_requests

        times: dict[str, list[float]] = {name: [] for name in LOOKUPS}
        for _round in range(args.rounds):
            for name in LOOKUPS:  # interleaved, so drift hits both alike
                times[name].append(run(files[name], inventory, args.forks, env))
        total_requests = emulator.stats()["token_requests"]
    emulator.stop()

    median = {name: statistics.median(values) for name, values in times.items()}
    ratio = median["telenor_token"] / median["env"]
    print(f"hosts={args.hosts} forks={args.forks} rounds={args.rounds}")
    print(f"token requests, cold cache run:        {cold_requests}   (target 1)")
    print(f"token requests, second run (warm):     {warm_requests}   (target 0)")
    print(f"token requests, all {2 + args.rounds} lookup runs:      {total_requests}")
    print(f"cold run wall time:                    {cold_time:.2f} s")
    for name in LOOKUPS:
        spread = ", ".join(f"{value:.2f}" for value in times[name])
        print(f"median wall time, {name:<14}        {median[name]:.2f} s   ({spread})")
    print(f"ratio telenor_token / env (warm):      {ratio:.3f}   (target <= 1.10)")


if __name__ == "__main__":
    main()

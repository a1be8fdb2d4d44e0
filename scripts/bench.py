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
    using lookup('ansible.builtin.env', 'HOME'): medians of interleaved runs,
    once as Ansible runs by default and once with the telenor.oauth.preload
    callback enabled (for both playbooks), which loads the lookup before
    Ansible forks its per-host workers;
  * the same for a minimal collection lookup (one option, a short
    DOCUMENTATION): the floor that any collection lookup pays on Ansible's
    defaults;
  * the time a freshly forked worker takes to load each lookup, in ms.
Targets: 1 request cold, 0 warm; ratio at most 1.10 on the defaults and at
most 1.03 with the preload callback, at 200 and at 1,000 hosts.
The Redis column (bench_redis) does the same with cache_url on a local
redis-server, at the first inventory size (needs redis-server and the redis
library; --no-redis skips it): warm lookup through Redis / env lookup, target
at most 1.15.

    python scripts/bench.py [--hosts 200,1000] [--forks 20] [--rounds 5]
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
    "floor": "lookup('bench.floor.minimal')",
}
TARGETS = {"default": 1.10, "preload": 1.03}

# The floor: the smallest lookup a collection can ship (one option, a short
# DOCUMENTATION), so that what Ansible itself costs per worker is visible.
FLOOR_LOOKUP = '''
from __future__ import annotations

DOCUMENTATION = """
name: minimal
short_description: A minimal lookup, for the benchmark's floor
description: Returns its option.
options:
  value:
    description: What to return.
    type: str
    default: floor
"""

from ansible.plugins.lookup import LookupBase


class LookupModule(LookupBase):
    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        return [self.get_option("value")]
'''

# Run in a fresh interpreter: load each lookup in forked children of a process
# that has initialised Ansible's plugin loader, as a per-host worker does.
LOAD_TIME = '''
import os, statistics, sys, time
from ansible.plugins.loader import init_plugin_loader, lookup_loader
init_plugin_loader()
lookup_loader.get("ansible.builtin.env")
def once(name):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        start = time.perf_counter()
        lookup_loader.get(name)
        os.write(write, repr(time.perf_counter() - start).encode())
        os._exit(0)
    os.close(write)
    value = float(os.read(read, 64))
    os.close(read)
    os.waitpid(pid, 0)
    return value
for name in sys.argv[1:]:
    print(name, statistics.median(once(name) for _ in range(31)) * 1000)
'''


def write_floor_collection(collections: Path) -> None:
    plugin = collections / "ansible_collections" / "bench" / "floor" / "plugins" / "lookup" / "minimal.py"
    plugin.parent.mkdir(parents=True)
    plugin.write_text(FLOOR_LOOKUP)
    (plugin.parents[2] / "galaxy.yml").write_text("namespace: bench\nname: floor\nversion: 1.0.0\n")


def load_times(env: dict[str, str]) -> dict[str, float]:
    """Median ms for a freshly forked worker to load each lookup."""
    names = ["telenor.oauth.telenor_token", "bench.floor.minimal", "ansible.builtin.env"]
    proc = subprocess.run([sys.executable, "-c", LOAD_TIME, *names], env=env, capture_output=True,
                          text=True, check=False)
    if proc.returncode != 0:
        sys.exit(f"bench: measuring load times failed:\n{proc.stderr[-3000:]}")
    return {name: float(ms) for name, ms in (line.split() for line in proc.stdout.splitlines())}


def write_fixture(work: Path, hosts: int) -> dict[str, Path]:
    inventory = work / f"inventory-{hosts}.ini"
    lines = ["[fleet]"] + [f"h{i:04d}" for i in range(hosts)]
    lines += ["", "[fleet:vars]", "ansible_connection=local", f"ansible_python_interpreter={sys.executable}"]
    inventory.write_text("\n".join(lines) + "\n")
    playbooks = {}
    for name, expr in LOOKUPS.items():
        playbooks[name] = work / f"{name}-{hosts}.yml"
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


def measure(files: dict[str, Path], *, forks: int, rounds: int, env: dict[str, str], emulator) -> None:
    """Print the request counts and the warm-cache ratios for one inventory size."""
    inventory = files["inventory"]
    hosts = len(inventory.read_text().split("[fleet:vars]")[0].split()) - 1
    before = emulator.stats()["token_requests"]
    cold_time = run(files["telenor_token"], inventory, forks, env)
    cold_requests = emulator.stats()["token_requests"] - before
    run(files["telenor_token"], inventory, forks, env)
    warm_requests = emulator.stats()["token_requests"] - before - cold_requests

    preload_env = {**env, "ANSIBLE_CALLBACKS_ENABLED": "telenor.oauth.preload"}
    modes = {"default": env, "preload": preload_env}
    times: dict[tuple[str, str], list[float]] = {(mode, name): [] for mode in modes for name in LOOKUPS}
    for _round in range(rounds):
        for mode, mode_env in modes.items():
            for name in LOOKUPS:  # interleaved, so drift hits all alike
                times[mode, name].append(run(files[name], inventory, forks, mode_env))
    total_requests = emulator.stats()["token_requests"] - before

    median = {key: statistics.median(values) for key, values in times.items()}
    runs = 2 + rounds * len(modes)
    print(f"\nhosts={hosts} forks={forks} rounds={rounds} cpus={os.cpu_count()}")
    print(f"token requests, cold cache run:             {cold_requests}   (target 1)")
    print(f"token requests, second run (warm):          {warm_requests}   (target 0)")
    print(f"token requests, all {runs} lookup runs:          {total_requests}   (target 1)")
    print(f"cold run wall time:                         {cold_time:.2f} s")
    for mode in modes:
        for name in LOOKUPS:
            spread = ", ".join(f"{value:.2f}" for value in times[mode, name])
            print(f"median wall time, {mode:<8} {name:<14}    {median[mode, name]:.2f} s   ({spread})")
    for mode in modes:
        for name in ("telenor_token", "floor"):
            ratio = median[mode, name] / median[mode, "env"]
            target = f"(target <= {TARGETS[mode]:.2f})" if name == "telenor_token" else "(the floor)"
            print(f"ratio {name} / env, warm, {mode:<8} {' ' * (14 - len(name))}{ratio:.3f}   {target}")


def bench_redis(args: argparse.Namespace, emulator: Emulator, work: Path, env: dict[str, str],
                files: dict[str, Path]) -> list[str]:
    """The Redis column: the same lookup with cache_url on a local redis-server, against env; its figures."""
    import shutil  # pylint: disable=import-outside-toplevel

    try:
        from tests.integration.redis_server import RedisServer  # pylint: disable=import-outside-toplevel
    except ImportError:
        return ["redis: skipped (the redis Python library is not installed)"]
    if shutil.which("redis-server") is None:
        return ["redis: skipped (redis-server is not installed: apt-get install redis-server)"]
    (work / "redis").mkdir()
    server = RedisServer(work / "redis").start()
    try:
        redis_env = {**env, "TELENOR_TOKEN_CACHE_URL": server.url, "TELENOR_TOKEN_CACHE_DIR": str(work / "unused-cache")}
        inventory = files["inventory"]
        before = emulator.stats()["token_requests"]
        cold_time = run(files["telenor_token"], inventory, args.forks, redis_env)
        cold_requests = emulator.stats()["token_requests"] - before
        run(files["telenor_token"], inventory, args.forks, redis_env)
        warm_requests = emulator.stats()["token_requests"] - before - cold_requests
        modes = {
            "default": (redis_env, env),
            "preload": ({**redis_env, "ANSIBLE_CALLBACKS_ENABLED": "telenor.oauth.preload"},
                        {**env, "ANSIBLE_CALLBACKS_ENABLED": "telenor.oauth.preload"}),
        }
        names = ("telenor_token", "env")
        times: dict[tuple[str, str], list[float]] = {(mode, name): [] for mode in modes for name in names}
        for _round in range(args.rounds):
            for mode, (lookup_env, env_env) in modes.items():
                times[mode, "telenor_token"].append(run(files["telenor_token"], inventory, args.forks, lookup_env))
                times[mode, "env"].append(run(files["env"], inventory, args.forks, env_env))
    finally:
        server.stop()
    figures = [
        f"redis: token requests, cold cache run:      {cold_requests}   (target 1)",
        f"redis: token requests, second run (warm):   {warm_requests}   (target 0)",
        f"redis: cold run wall time:                  {cold_time:.2f} s",
    ]
    for mode in modes:
        for name in names:
            spread = ", ".join(f"{value:.2f}" for value in times[mode, name])
            median = statistics.median(times[mode, name])
            figures.append(f"redis: median wall time, {mode:<8} {name:<14}    {median:.2f} s   ({spread})")
    for mode in modes:
        ratio = statistics.median(times[mode, "telenor_token"]) / statistics.median(times[mode, "env"])
        figures.append(f"redis: ratio telenor_token (Redis) / env, warm, {mode:<8}   {ratio:.3f}   (target <= 1.15)")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", default="200,1000", help="inventory sizes, comma-separated (default 200,1000)")
    parser.add_argument("--forks", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis column (option cache_url)")
    args = parser.parse_args()
    sizes = [int(size) for size in args.hosts.split(",")]

    emulator = Emulator().start(clients=[("bench-client", "bench-secret")])
    try:
        with tempfile.TemporaryDirectory(prefix="telenor-bench.") as tmp:
            work = Path(tmp)
            collections = work / "collections" / "ansible_collections" / "telenor"
            collections.mkdir(parents=True)
            (collections / "oauth").symlink_to(ROOT)
            write_floor_collection(work / "collections")
            env = {
                **os.environ,
                "ANSIBLE_COLLECTIONS_PATH": str(work / "collections"),
                "ANSIBLE_LOCAL_TEMP": str(work / "tmp"),
                "TELENOR_API_URL": emulator.url,
                "TELENOR_CLIENT_ID": "bench-client",
                "TELENOR_CLIENT_SECRET": "bench-secret",
                "TELENOR_TOKEN_CACHE_DIR": str(work / "cache"),
            }
            print("per-worker load time (median of 31 forked workers):")
            for name, ms in load_times(env).items():
                print(f"  {name:<30} {ms:6.1f} ms")
            for hosts in sizes:
                measure(write_fixture(work, hosts), forks=args.forks, rounds=args.rounds, env=env, emulator=emulator)
            if not args.no_redis:
                print()
                files = write_fixture(work, sizes[0])
                print("\n".join(bench_redis(args, emulator, work, env, files)))
    finally:
        emulator.stop()


if __name__ == "__main__":
    main()

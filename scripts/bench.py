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
    Ansible forks its per-host workers.
Targets: 1 request cold, 0 warm, ratio at most 1.10.
The Redis column (bench_redis) does the same with cache_url on a local
redis-server (needs redis-server and the redis library; --no-redis skips it):
warm lookup through Redis / env lookup, target at most 1.15.

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
    parser.add_argument("--no-redis", action="store_true", help="skip the Redis column (option cache_url)")
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

        preload_env = {**env, "ANSIBLE_CALLBACKS_ENABLED": "telenor.oauth.preload"}
        modes = {"default": env, "preload": preload_env}
        times: dict[tuple[str, str], list[float]] = {(mode, name): [] for mode in modes for name in LOOKUPS}
        for _round in range(args.rounds):
            for mode, mode_env in modes.items():
                for name in LOOKUPS:  # interleaved, so drift hits all alike
                    times[mode, name].append(run(files[name], inventory, args.forks, mode_env))
        total_requests = emulator.stats()["token_requests"]
        redis_figures = [] if args.no_redis else bench_redis(args, emulator, work, env, files)
    emulator.stop()

    median = {key: statistics.median(values) for key, values in times.items()}
    runs = 2 + args.rounds * len(modes)
    print(f"hosts={args.hosts} forks={args.forks} rounds={args.rounds} cpus={os.cpu_count()}")
    print(f"token requests, cold cache run:             {cold_requests}   (target 1)")
    print(f"token requests, second run (warm):          {warm_requests}   (target 0)")
    print(f"token requests, all {runs} lookup runs:          {total_requests}")
    print(f"cold run wall time:                         {cold_time:.2f} s")
    for mode in modes:
        for name in LOOKUPS:
            spread = ", ".join(f"{value:.2f}" for value in times[mode, name])
            print(f"median wall time, {mode:<8} {name:<14}    {median[mode, name]:.2f} s   ({spread})")
    for mode in modes:
        ratio = median[mode, "telenor_token"] / median[mode, "env"]
        print(f"ratio telenor_token / env, warm, {mode:<8}   {ratio:.3f}   (target <= 1.10)")
    for line in redis_figures:
        print(line)


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
        times: dict[tuple[str, str], list[float]] = {(mode, name): [] for mode in modes for name in LOOKUPS}
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
        for name in LOOKUPS:
            spread = ", ".join(f"{value:.2f}" for value in times[mode, name])
            median = statistics.median(times[mode, name])
            figures.append(f"redis: median wall time, {mode:<8} {name:<14}    {median:.2f} s   ({spread})")
    for mode in modes:
        ratio = statistics.median(times[mode, "telenor_token"]) / statistics.median(times[mode, "env"])
        figures.append(f"redis: ratio telenor_token (Redis) / env, warm, {mode:<8}   {ratio:.3f}   (target <= 1.15)")
    return figures


if __name__ == "__main__":
    main()

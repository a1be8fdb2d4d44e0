# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""The service_token role on a schedule: a soak with short-lived tokens and a prober, then faults.

A scheduler loop starts the real ansible-playbook every fifth of the token's lifetime (the role
README's documented maximum interval) while a prober calls the emulator's
protected resource with each host's file token every PROBE_EVERY seconds. No probe may fail,
during clean runs and when the token endpoint is down for a run or a host is unreachable.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.integration.conftest import CLIENT_ID, CLIENT_SECRET, FAKE_INIT_SCRIPT, core_independent

HERE = Path(__file__).parent
SCHEDULE = HERE / "schedule.yml"
MIN_TTL = HERE / "min_ttl.yml"
# One host that stays healthy and one made unreachable for one renewal: the role's per-host
# work is the same for every host, and each run costs CPU per host.
HOSTS = ("soak1", "soak2")
FLAKY = "soak2"
# The token lifetime: TELENOR_SOAK_LIFETIME, or else thirty times a warm-up run's duration, between
# SHORTEST and LONGEST. A tenth of the lifetime is what the schedule keeps to spare for a run,
# so about three warm-ups: runs beside the busy lanes vary (3 to 13 s after a 6 s warm-up),
# and a spare of one warm-up left them a second of margin.
SHORTEST, LONGEST = 60, 180
CLEAN_LIFETIMES = 2  # clean scheduled runs before the faults: two renewals
MAX_RUNS_PER_FAULT = 4  # a renewal is due at least every third run; bounded either way
PROBE_EVERY = 0.5
FIGURES = os.environ.get("TELENOR_SOAK_FIGURES")  # where to write the figures as JSON, if set


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ProbeCount:
    probes: int = 0
    failures: int = 0


class Prober(threading.Thread):
    """Calls the protected resource with each host's current file token, every PROBE_EVERY seconds."""

    def __init__(self, emulator, files: dict[str, Path]) -> None:
        super().__init__(daemon=True)
        self.emulator = emulator
        self.files = files
        self.counts = {host: ProbeCount() for host in files}
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(PROBE_EVERY):
            for host, path in self.files.items():
                ok = self.emulator.client.is_token_valid(file_token(path))
                count = self.counts[host]
                count.probes += 1
                count.failures += not ok

    def snapshot(self) -> dict[str, ProbeCount]:
        return {host: ProbeCount(c.probes, c.failures) for host, c in self.counts.items()}

    def stop(self) -> None:
        self.stopping.set()
        self.join()


def file_token(path: Path) -> str:
    match = re.search(r"^TELENOR_ACCESS_TOKEN=(\S+)$", path.read_text(), re.M)
    return match.group(1) if match else ""


@dataclass
class Schedule:
    """Runs the role every `interval` seconds, start to start, like cron or a systemd timer."""

    ansible: object
    base: Path
    service_prefix: str
    hosts: tuple[str, ...] = HOSTS
    next_start: float = 0.0
    runs: list = field(default_factory=list)
    overruns: int = 0
    # Per run: how late it started after its slot, and how long it took, in seconds. A run
    # that takes longer than the L/10 the schedule keeps to spare voids the guarantee.
    timings: list = field(default_factory=list)
    warm_up: float | None = None  # the warm-up run's duration, when it chose the lifetime

    def inventory(self, unreachable: tuple[str, ...] = ()) -> Path:
        lines = ["[fleet]"]
        for host in self.hosts:
            if host in unreachable:
                lines.append(f"{host} ansible_connection=ssh ansible_host=127.0.0.1 ansible_port={closed_port()}"
                             " ansible_ssh_common_args='-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null'")
            else:
                lines.append(f"{host} ansible_connection=local ansible_python_interpreter={sys.executable}")
        path = self.base / "inventory.ini"
        path.write_text("\n".join(lines) + "\n")
        return path

    interval: int = 0

    def run(self, *, unreachable: tuple[str, ...] = (), playbook: Path = SCHEDULE, env: dict | None = None, **extra):
        now = time.monotonic()
        slot = self.next_start or now
        if now < self.next_start:
            time.sleep(self.next_start - now)
        elif self.next_start:
            self.overruns += 1  # the previous run took longer than the interval
        self.next_start = max(now, self.next_start) + self.interval
        started = time.monotonic()
        result = self.ansible.run(playbook, inventory=self.inventory(unreachable), env=env, extra_vars={
            "soak_base": str(self.base), "soak_interval": self.interval, "soak_service_prefix": self.service_prefix,
            **extra})
        self.runs.append(result)
        self.timings.append((round(started - slot, 1), round(time.monotonic() - started, 1)))
        return result

    def longest_run(self, first: int = 0) -> float:
        """The longest run since run number `first`, in seconds."""
        return max((took for _late, took in self.timings[first:]), default=0.0)

    def timing_report(self, lifetime: int) -> str:
        """For a failure message and the figures: whether the runs kept within what the schedule spares."""
        runs = ", ".join(f"({late}, {took})" for late, took in self.timings)
        return f"the schedule keeps {lifetime // 10} s to spare; runs as (started late by, took) in seconds: {runs}"

    def tokens(self) -> dict[str, str]:
        return {host: file_token(self.base / host / "app.env") for host in self.hosts}

    def files(self) -> dict[str, bytes]:
        return {host: (self.base / host / "app.env").read_bytes() for host in self.hosts}

    def reloads(self, host: str) -> int:
        log = self.base / host / "service.log"
        return log.read_text().split().count("reload") if log.exists() else 0


def fresh_hosts(base: Path, hosts: tuple[str, ...] = HOSTS) -> None:
    for host in hosts:
        directory = base / host
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "app.env").write_text("LOG_LEVEL=info\n")
        (directory / "service.log").unlink(missing_ok=True)


def hosts_on_schedule(ansible, tmp_path, hosts: tuple[str, ...]):
    base = tmp_path / "hosts"
    fresh_hosts(base, hosts)
    prefix = f"telenor-soak-{os.getpid()}"
    scripts = []
    for host in hosts:
        script = Path("/etc/init.d") / f"{prefix}-{host}"
        script.write_text(FAKE_INIT_SCRIPT.format(log=base / host / "service.log"))
        script.chmod(0o755)
        scripts.append(script)
    yield Schedule(ansible, base, prefix, hosts)
    for script in scripts:
        script.unlink()


@pytest.fixture
def schedule(ansible, tmp_path):
    yield from hosts_on_schedule(ansible, tmp_path, HOSTS)


@pytest.fixture
def one_host_schedule(ansible, tmp_path):
    """For the renewal rule's tests: what they check is decided once per run, not per host."""
    yield from hosts_on_schedule(ansible, tmp_path, HOSTS[:1])


def soak_lifetime(schedule: Schedule, emulator) -> int:
    """The token lifetime for this machine: thirty warm-up runs' worth, within bounds."""
    if os.environ.get("TELENOR_SOAK_LIFETIME"):
        return int(os.environ["TELENOR_SOAK_LIFETIME"])
    started = time.monotonic()
    warmup = schedule.run(env={"TELENOR_TOKEN_CACHE_DIR": str(schedule.base.parent / "warm-up-cache")})
    assert warmup.rc == 0, warmup.output
    took = time.monotonic() - started
    schedule.warm_up = round(took, 1)
    emulator.reset()
    fresh_hosts(schedule.base)
    schedule.next_start = 0.0
    schedule.runs.clear()
    schedule.timings.clear()
    return max(SHORTEST, min(LONGEST, 30 * (int(took) + 1)))


def recap(output: str) -> dict[str, dict[str, int]]:
    rows = re.findall(r"^(\S+)\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", output, re.M)
    return {host: {"ok": int(ok), "changed": int(ch), "unreachable": int(un), "failed": int(fa)}
            for host, ok, ch, un, fa in rows}


def failed_probes(before: dict[str, ProbeCount], after: dict[str, ProbeCount], hosts) -> dict[str, int]:
    return {host: after[host].failures - before[host].failures for host in hosts}


def probes(before: dict[str, ProbeCount], after: dict[str, ProbeCount]) -> int:
    return sum(after[host].probes - before[host].probes for host in after)


def renew_until(schedule: Schedule, condition, **kwargs):
    """Run on schedule until condition(result, tokens_before) holds; bounded by MAX_RUNS_PER_FAULT."""
    for _attempt in range(MAX_RUNS_PER_FAULT):
        before = schedule.tokens()
        result = schedule.run(**kwargs)
        if condition(result, before):
            return result, before
    pytest.fail(f"the fault never met a renewal in {MAX_RUNS_PER_FAULT} runs")


# The soak's guarantee rests on the schedule's timing (an interval of a fifth of the lifetime,
# renewal at half of it) and on the collection's atomic writes, not on the core version; the
# role's runs on the newest core, failed hosts included, are the role tests' and the shorter
# scheduled tests' below. On the oldest core only, whose figures go into docs/hardening.md.
@core_independent
def test_on_schedule_no_probe_ever_fails_even_when_a_run_fails(schedule, emulator):
    lifetime = soak_lifetime(schedule, emulator)
    schedule.interval = lifetime // 5  # the documented maximum interval
    emulator.faults(expires_in=lifetime)
    first = schedule.run()
    assert first.rc == 0, first.output
    prober = Prober(emulator, {host: schedule.base / host / "app.env" for host in HOSTS})
    prober.start()
    figures = {"lifetime_s": lifetime, "warm_up_run_s": schedule.warm_up, "interval_s": schedule.interval,
               "probe_every_s": PROBE_EVERY}
    try:
        # Clean: CLEAN_LIFETIMES lifetimes of scheduled runs.
        start = prober.snapshot()
        seen = {host: {schedule.tokens()[host]} for host in HOSTS}
        clean_runs = CLEAN_LIFETIMES * lifetime // schedule.interval
        for _run in range(clean_runs):
            run = schedule.run()
            assert run.rc == 0, run.output
            assert "WARNING: service_token_schedule_interval" not in run.stdout  # settings leave no gap
            for host, token in schedule.tokens().items():
                seen[host].add(token)
        clean_end = prober.snapshot()
        stats = emulator.stats()
        runs = clean_runs + 1
        assert failed_probes(start, clean_end, HOSTS) == {host: 0 for host in HOSTS}, schedule.timing_report(lifetime)
        assert 2 <= stats["tokens_issued"] < runs  # renewed several times, not on every run
        assert stats["revoked"] == 0  # natural renewal: the previous token expires on its own
        for host in HOSTS:  # one reload per renewal, not per run
            assert len(seen[host]) == stats["tokens_issued"]
            assert schedule.reloads(host) == stats["tokens_issued"]
        figures["clean"] = {"runs": runs, "probes": probes(start, clean_end),
                            "failed_probes": 0, "renewals": stats["tokens_issued"],
                            "token_requests": stats["token_requests"],
                            "reloads_per_host": stats["tokens_issued"], "overruns": schedule.overruns,
                            "longest_run_s": schedule.longest_run()}

        # The token endpoint is down from now until a run that needs it has failed.
        emulator.faults(fail_next=10_000, fail_status=500)
        held = schedule.files()
        outage = renew_until(schedule, lambda result, _before: result.rc != 0)[0]
        assert "No token for this run" in outage.stdout, outage.output
        assert all(host in outage.stdout.split("No token for this run", 1)[1] for host in HOSTS)
        assert schedule.files() == held  # no file touched
        assert all(emulator.is_token_valid(token) for token in schedule.tokens().values())
        emulator.faults(fail_next=0)
        healed = schedule.run()
        assert healed.rc == 0, healed.output
        assert len(set(schedule.tokens().values())) == 1

        # One host unreachable until the others got a renewal without it.
        healthy = [host for host in HOSTS if host != FLAKY]
        flaky_file = (schedule.base / FLAKY / "app.env").read_bytes()
        missed, before = renew_until(
            schedule, lambda result, before: schedule.tokens()[healthy[0]] != before[healthy[0]],
            unreachable=(FLAKY,))
        assert missed.rc != 0
        assert recap(missed.stdout)[FLAKY]["unreachable"] == 1
        assert f"failed or were unreachable and did not get this run's token: {FLAKY}." in missed.stdout
        assert (schedule.base / FLAKY / "app.env").read_bytes() == flaky_file
        assert emulator.is_token_valid(before[FLAKY])  # the token it holds still works
        back = schedule.run()
        assert back.rc == 0, back.output
        assert len(set(schedule.tokens().values())) == 1  # healed: it has the current token
        schedule.run()
        end = prober.snapshot()
    finally:
        prober.stop()
    stats = emulator.stats()
    assert failed_probes(clean_end, end, healthy) == {host: 0 for host in healthy}, schedule.timing_report(lifetime)
    figures["faults"] = {
        "runs": len(schedule.runs) - runs, "probes": probes(clean_end, end),
        "failed_probes_healthy": 0, "failed_probes_unreachable_host": end[FLAKY].failures - clean_end[FLAKY].failures,
        "renewals": stats["tokens_issued"] - figures["clean"]["renewals"],
        "token_requests": stats["token_requests"] - figures["clean"]["token_requests"],
        "reloads_per_host": {host: schedule.reloads(host) - figures["clean"]["reloads_per_host"] for host in HOSTS},
        "overruns": schedule.overruns - figures["clean"]["overruns"],
        "longest_run_s": schedule.longest_run(runs),
    }
    print(json.dumps(figures, indent=2))
    print(schedule.timing_report(lifetime))
    if FIGURES:
        Path(FIGURES).write_text(json.dumps(figures, indent=2) + "\n")


# (case, the role's variables, whether the run warns). The emulator's tokens live 3599 s, as
# the Telenor API's do.
INTERVAL_CASES = [
    ("min-ttl-shorter-than-interval", {"service_token_schedule_interval": 1500, "service_token_min_ttl": 300}, True),
    ("interval-longer-than-half-the-lifetime", {"service_token_schedule_interval": 1800}, True),
    ("defaults-and-ten-minutes", {"service_token_schedule_interval": 600}, False),
    # The README's bound when every run succeeds: half the lifetime less the run's duration.
    ("defaults-and-25-minutes", {"service_token_schedule_interval": 1500}, False),
    ("min-ttl-covers-the-interval", {"service_token_schedule_interval": 600, "service_token_min_ttl": 900}, False),
]


def test_a_declared_interval_that_leaves_a_gap_is_warned_about(one_host_schedule, emulator):
    # One play per case in one ansible-playbook run, each with a cache of its own, so that
    # each obtains its token as a first run would.
    base = one_host_schedule.base
    plays = [{
        "name": f"Interval case {case}",
        "hosts": "fleet",
        "gather_facts": False,
        "roles": [{"role": "telenor.oauth.service_token", "vars": {
            **variables,
            "service_token_cache_dir": str(base.parent / f"cache-{case}"),
            "service_token_files": [{"path": "{{ soak_base }}/{{ inventory_hostname }}/app.env", "format": "env"}],
        }}],
    } for case, variables, _warned in INTERVAL_CASES]
    playbook = base.parent / "intervals.yml"
    playbook.write_text(json.dumps(plays))  # JSON is YAML
    run = one_host_schedule.run(playbook=playbook)
    assert run.rc == 0, run.output
    sections = {match.group(1): match.group(2) for match in
                re.finditer(r"^PLAY \[Interval case (\S+)\].*?$(.*?)(?=^PLAY |\Z)", run.stdout, re.M | re.S)}
    assert sorted(sections) == sorted(case for case, _variables, _warned in INTERVAL_CASES), run.stdout
    for case, variables, warned in INTERVAL_CASES:
        assert ("WARNING: service_token_schedule_interval" in sections[case]) is warned, f"{case}:\n{sections[case]}"
        if warned:
            warning = re.search(r'"msg": "(WARNING: service_token_schedule_interval.*)"$', sections[case], re.M)
            assert warning, f"{case}:\n{sections[case]}"
            # One sentence on one line, whose advice to leave min_ttl unset is for those who set it.
            assert "\\n" not in warning.group(1), warning.group(1)
            assert ("service_token_min_ttl" in warning.group(1)) is ("service_token_min_ttl" in variables), warning.group(1)
    assert emulator.stats()["token_requests"] == len(INTERVAL_CASES)  # each case obtained its own


def age_cached_token(ansible, collections_path: Path, seconds: int) -> None:
    """Make the role's cached token look `seconds` older, as it would be that much later:
    deterministic, where waiting for a token to age is not."""
    if str(collections_path) not in sys.path:
        sys.path.insert(0, str(collections_path))
    cache_module = importlib.import_module("ansible_collections.telenor.oauth.plugins.module_utils._cache")
    cache = cache_module.TokenCache(str(ansible.cache_dir), cache_module.CacheIdentity(
        api_url=ansible.emulator.url, client_id=CLIENT_ID, scope=None, client_secret=CLIENT_SECRET))
    with cache.locked():
        record = cache.load()
        assert record is not None, "the role cached no token"
        cache.store(dataclasses.replace(record, issued_at=record.issued_at - seconds,
                                        expires_at=record.expires_at - seconds))


# The emulator's tokens live 3599 s, as the Telenor API's do: half of that is 1799 s. Each rule
# runs the role once, then again after each age in turn: (age of the cached token, renewed).
@pytest.mark.parametrize(("min_ttl", "steps"), [
    pytest.param(None, [(1700, False), (1900, True), (3000, True)], id="defaults"),  # 3000: the 50th minute
    pytest.param(300, [(1900, False), (3000, False), (3400, True)], id="min-ttl-300"),
])
def test_a_token_is_renewed_at_half_its_lifetime_unless_min_ttl_is_set(
        one_host_schedule, emulator, collections_path, min_ttl, steps):
    schedule = one_host_schedule
    settings = {} if min_ttl is None else {"service_token_min_ttl": min_ttl}
    first = schedule.run(playbook=MIN_TTL, **settings)
    assert first.rc == 0, first.output
    issued, age = 1, 0
    for target_age, renewed in steps:
        held = schedule.tokens()
        age_cached_token(schedule.ansible, collections_path, target_age - age)
        later = schedule.run(playbook=MIN_TTL, **settings)
        assert later.rc == 0, later.output
        issued += renewed
        assert emulator.stats()["tokens_issued"] == issued, f"a token {target_age} s old"
        assert (schedule.tokens() != held) is renewed, f"a token {target_age} s old"
        age = 0 if renewed else target_age

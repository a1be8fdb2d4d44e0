# Copyright (c) telenor.oauth contributors
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Many processes on one cache identity, some of them SIGKILLed mid-operation.

Readers call ``obtain_token``, forcers renew, revokers revoke, all against the
fake Telenor API on loopback, while the test kills random workers. Whatever is
killed where, the cache file is a valid record or absent, the lock comes free,
and every worker that lives reports a valid token or a TelenorOAuthError.
"""

from __future__ import annotations

import glob
import multiprocessing
import os
import random
import signal
import stat
import threading
import time
import typing as t

import pytest

from ansible_collections.telenor.oauth.plugins.module_utils._cache import unseal
from ansible_collections.telenor.oauth.plugins.module_utils._client import TelenorClient
from ansible_collections.telenor.oauth.plugins.module_utils._errors import TelenorOAuthError
from ansible_collections.telenor.oauth.plugins.module_utils._options import Settings, settings_from_options
from ansible_collections.telenor.oauth.plugins.module_utils._service import obtain_token, revoke_token
from ansible_collections.telenor.oauth.plugins.module_utils._token import TokenRecord
from ansible_collections.telenor.oauth.tests.unit.plugins.module_utils.fake_telenor_api import (
    CLIENT_ID,
    CLIENT_SECRET,
    TOKEN_PREFIX,
)
from ansible_collections.telenor.oauth.tests.unit.plugins.module_utils.documented_options import documented_getter

CONTEXT = multiprocessing.get_context("fork")
KILLS = 12  # random workers SIGKILLed per run, about half of them while they hold the lock
HARD_LIMIT = 15.0  # seconds: the kill loop stops here even if it made fewer kills
LOCK_WAIT = 5.0  # a killed holder's lock must come free well within this
ROLES = ("reader",) * 4 + ("forcer",) * 2 + ("revoker",)
PAUSE = {"reader": (0.0, 0.002), "forcer": (0.03, 0.1), "revoker": (0.1, 0.3)}


@pytest.fixture
def settings(api, tmp_path) -> Settings:
    api.token_delay = 0.02  # renewals hold the lock for a while, so kills land inside it
    options = {
        "api_url": api.url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "cache_dir": str(tmp_path / "cache"),
        "retries": 0,
        "timeout": 5,
    }
    return settings_from_options(documented_getter(options))


def is_valid(record: TokenRecord | None, settings: Settings) -> bool:
    return (
        record is not None
        and record.access_token.startswith(TOKEN_PREFIX)
        and record.token_type == "Bearer"
        and record.is_usable(settings.min_ttl)
    )


def cache_state(settings: Settings) -> str:
    """'absent', 'valid' or 'corrupt': what a reader finds in the cache file right now."""
    cache = settings.cache()
    try:
        with open(cache.path, "rb") as handle:
            blob = handle.read()
    except FileNotFoundError:
        return "absent"
    record = unseal(blob, secret=settings.client_secret, key=cache.key)
    return "valid" if is_valid(record, settings) else "corrupt"


def temp_files(settings: Settings) -> list[str]:
    cache = settings.cache()
    return glob.glob(os.path.join(glob.escape(cache.cache_dir), f".{cache.key}.*.tmp"))


# --------------------------------------------------------------- workers (forked)


def _work(role: str, settings: Settings, stop_path: str, log_path: str, seed: int) -> None:
    """Loop until told to stop, logging one line per operation: ok, bad, error or crash."""
    rng = random.Random(seed)
    deadline = time.monotonic() + HARD_LIMIT + 10
    with open(log_path, "a", encoding="utf-8", buffering=1) as log:
        while not os.path.exists(stop_path) and time.monotonic() < deadline:
            try:
                if role == "revoker":
                    revoke_token(settings)
                    outcome = "ok"
                else:
                    record = obtain_token(settings, force=role == "forcer").record
                    outcome = "ok" if is_valid(record, settings) else f"bad {record!r}"
            except TelenorOAuthError as exc:
                outcome = "error " + exc.message.replace("\n", " ")
            except Exception as exc:  # pylint: disable=broad-except
                outcome = f"crash {exc!r}".replace("\n", " ")
            log.write(outcome + "\n")
            time.sleep(rng.uniform(*PAUSE[role]))
        log.write("done\n")


def _hold_lock_then_exit(settings: Settings) -> None:
    with settings.cache().locked(timeout=LOCK_WAIT):
        pass


def _sigkill_self(*_args: t.Any, **_kwargs: t.Any) -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _die_inside_store(settings: Settings, kill_at: str) -> None:
    """Take the lock and renew, but die in TokenCache.store at ``os.<kill_at>``: a temp file is written, never renamed."""
    setattr(os, kill_at, _sigkill_self)  # only in this forked child
    obtain_token(settings, force=True)


def _die_right_after_the_logout(settings: Settings) -> None:
    """Revoke the cached token, and die the moment the API has answered that it is revoked."""
    original = TelenorClient.revoke

    def revoke_then_die(self: TelenorClient, access_token: str) -> bool:
        original(self, access_token)
        _sigkill_self()
        return True

    TelenorClient.revoke = revoke_then_die  # only in this forked child
    revoke_token(settings)


# --------------------------------------------------------------- helpers (parent)


class Worker:
    def __init__(self, role: str, settings: Settings, stop_path: str, log_path: str, seed: int) -> None:
        self.role = role
        self.log_path = log_path
        self.process = CONTEXT.Process(target=_work, args=(role, settings, stop_path, log_path, seed), daemon=True)
        self.process.start()
        self.killed = False

    def lines(self) -> list[str]:
        with open(self.log_path, encoding="utf-8") as handle:
            text = handle.read()
        complete = text if text.endswith("\n") else text.rpartition("\n")[0]  # a kill may cut the last line
        return complete.splitlines()


def lock_holders(settings: Settings) -> set[int]:
    """Pids holding the identity's flock, from /proc/locks (empty where there is none)."""
    try:
        inode = os.stat(settings.cache().lock_path).st_ino
        with open("/proc/locks", encoding="ascii") as handle:
            rows = [line.split() for line in handle]
    except OSError:
        return set()
    return {
        int(row[4]) for row in rows
        if len(row) > 5 and row[1] == "FLOCK" and row[5].rsplit(":", 1)[-1] == str(inode)
    }


def lock_is_free_for_a_new_process(settings: Settings) -> float:
    """Seconds a fresh process took to get the identity's lock; fails if it could not."""
    started = time.monotonic()
    probe = CONTEXT.Process(target=_hold_lock_then_exit, args=(settings,))
    probe.start()
    probe.join(LOCK_WAIT + 5)
    if probe.is_alive():
        probe.kill()
        probe.join()
        pytest.fail("a new process could not take the cache lock: deadlock")
    assert probe.exitcode == 0, "a new process timed out waiting for the cache lock"
    return time.monotonic() - started


class Watcher(threading.Thread):
    """Reads the cache file without the lock, as readers do, as fast as it can."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.settings = settings
        self.stop = threading.Event()
        self.seen: dict[str, int] = {"absent": 0, "valid": 0, "corrupt": 0}

    def run(self) -> None:
        while not self.stop.is_set():
            self.seen[cache_state(self.settings)] += 1
            time.sleep(0.002)


# --------------------------------------------------------------- tests


def test_random_kills_never_corrupt_the_cache_nor_deadlock(api, settings, tmp_path):
    rng = random.Random(20240607)
    stop_path = str(tmp_path / "stop")
    logs = tmp_path / "logs"
    logs.mkdir()
    spawned = 0

    def spawn(role: str) -> Worker:
        nonlocal spawned
        spawned += 1
        return Worker(role, settings, stop_path, str(logs / f"{spawned:03d}-{role}.log"), rng.randrange(1 << 30))

    workers = [spawn(role) for role in ROLES]
    watcher = Watcher(settings)
    watcher.start()
    kills = holder_kills = 0
    limit = time.monotonic() + HARD_LIMIT
    try:
        while kills < KILLS and time.monotonic() < limit:
            time.sleep(rng.uniform(0.05, 0.2))
            alive = {worker.process.pid: worker for worker in workers if not worker.killed}
            victim = None
            if kills % 2 == 0:  # every other kill: whoever holds the lock, mid-renewal or mid-revocation
                probing = time.monotonic() + 0.5
                while victim is None and time.monotonic() < probing:
                    victim = next((alive[pid] for pid in lock_holders(settings) if pid in alive), None)
                holder_kills += victim is not None
            victim = victim or rng.choice(list(alive.values()))
            victim.process.kill()
            victim.process.join(5)
            victim.killed = True
            kills += 1
            # Right after the kill: the record is whole or absent, and the lock comes free.
            assert cache_state(settings) in ("absent", "valid")
            assert lock_is_free_for_a_new_process(settings) < LOCK_WAIT
            workers.append(spawn(victim.role))
        with open(stop_path, "w", encoding="ascii"):
            pass
        for worker in workers:
            worker.process.join(10)
        stuck = [worker.log_path for worker in workers if worker.process.is_alive()]
        assert not stuck, f"workers did not finish: deadlock? {stuck}"
    finally:
        watcher.stop.set()
        watcher.join(5)
        for worker in workers:
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join(5)

    assert kills >= KILLS // 2
    assert holder_kills >= 1 or not os.path.exists("/proc/locks")
    assert watcher.seen["corrupt"] == 0, watcher.seen
    assert watcher.seen["valid"] > 0, watcher.seen

    survivors = [worker for worker in workers if not worker.killed]
    outcomes: dict[str, int] = {}
    for worker in survivors:
        assert worker.process.exitcode == 0, worker.log_path
        lines = worker.lines()
        assert lines and lines[-1] == "done", worker.log_path
        for line in lines[:-1]:
            kind = line.split(" ", 1)[0]
            assert kind in ("ok", "error"), f"{worker.log_path}: {line}"
            if kind == "error":
                assert len(line) > len("error "), f"{worker.log_path}: an error without a message"
            outcomes[f"{worker.role} {kind}"] = outcomes.get(f"{worker.role} {kind}", 0) + 1
    assert outcomes.get("reader ok", 0) > 0, outcomes

    # The next store cleans any temp file a killed writer left, and the cache works.
    obtained = obtain_token(settings, force=True)
    assert is_valid(obtained.record, settings)
    assert temp_files(settings) == []
    assert obtain_token(settings).record == obtained.record


@pytest.mark.parametrize(
    ("kill_at", "warm"),
    [
        pytest.param("fsync", True, id="after-write-before-fsync"),
        pytest.param("replace", True, id="after-fsync-before-rename"),
        pytest.param("replace", False, id="cold-cache-before-rename"),
    ],
)
def test_a_writer_killed_inside_store_leaves_the_old_record_and_frees_the_lock(api, settings, kill_at, warm):
    before = obtain_token(settings).record if warm else None

    writer = CONTEXT.Process(target=_die_inside_store, args=(settings, kill_at))
    writer.start()
    writer.join(10)
    assert writer.exitcode == -signal.SIGKILL

    leftovers = temp_files(settings)
    assert len(leftovers) == 1  # its temp file, written under the lock, never renamed
    assert stat.S_IMODE(os.stat(leftovers[0]).st_mode) == 0o600
    assert settings.cache().load() == before  # the old record, whole, or still none
    assert cache_state(settings) == ("valid" if warm else "absent")
    assert lock_is_free_for_a_new_process(settings) < LOCK_WAIT

    after = obtain_token(settings)  # a miss (cold) or a hit (warm): only a renewal stores
    if warm:
        assert after.cached and after.record == before
        after = obtain_token(settings, force=True)
    assert not after.cached and is_valid(after.record, settings)
    assert temp_files(settings) == []
    assert settings.cache().load() == after.record


def test_a_revoker_killed_after_the_logout_leaves_no_revoked_token_cached(api, settings):
    before = obtain_token(settings).record

    revoker = CONTEXT.Process(target=_die_right_after_the_logout, args=(settings,))
    revoker.start()
    revoker.join(10)
    assert revoker.exitcode == -signal.SIGKILL

    (logout,) = api.logout_requests  # the API answered OK!: the token is revoked
    assert logout.headers["Authorization"] == f"Bearer {before.access_token}"
    assert lock_is_free_for_a_new_process(settings) < LOCK_WAIT
    after = obtain_token(settings)
    assert after.record.access_token != before.access_token, "obtain_token returned the revoked token"

"""The rate-limit and quota counters: exact under concurrency, across processes.

The end-to-end counts under ``bawaba serve --workers 2`` are in test_api_workers.py."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from limits import parse_many

from bawaba.api.limits import Caller, RateLimits
from bawaba.core.counters import QuietMemoryStorage, open_counter
from bawaba.core.lmdb_windows import LMDBWindows
from bawaba.core.redis_client import CountersUnavailable
from bawaba.keys.quotas import SQLiteQuotas
from bawaba.keys.store import KeyStore

PROCESSES = 4
MONTH = "2026-12"


def test_memory_limits_count_and_refuse_without_starting_threads(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    limits = RateLimits(open_counter("memory://", tmp_path))
    started: list[threading.Thread] = []
    original = threading.Thread.start

    def spy(thread: threading.Thread) -> None:
        started.append(thread)
        original(thread)

    monkeypatch.setattr(threading.Thread, "start", spy)
    caller = Caller("addr:192.0.2.1", "anonymous", list(parse_many("5/minute;100/hour")))
    verdicts = [limits.check(caller) for _ in range(6)]
    assert [v.allowed for v in verdicts] == [True] * 5 + [False]
    assert verdicts[4].remaining == 0
    assert verdicts[5].limit.amount == 5
    assert limits.check(Caller("addr:192.0.2.2", "anonymous", caller.limits)).allowed
    assert started == []  # limits' own memory storage starts a Timer thread here


def test_expired_counters_are_purged_inline(monkeypatch: pytest.MonkeyPatch) -> None:
    storage = QuietMemoryStorage("memory://")
    storage.incr("gone", expiry=0)
    assert storage.get("gone") == 0
    monkeypatch.setattr(QuietMemoryStorage, "PURGE_EVERY_S", 0.0)
    storage.incr("kept", expiry=60)
    assert "gone" not in storage.storage
    assert storage.get("kept") == 1


@pytest.mark.parametrize("uri", ["lmdb://", "memory://"])
def test_every_limit_of_a_caller_holds_and_the_tightest_is_reported(
    uri: str, tmp_path: Path
) -> None:
    limits = RateLimits(open_counter(uri, tmp_path))
    caller = Caller("addr:192.0.2.9", "anonymous", list(parse_many("4/minute;6/hour;9/day")))
    verdicts = [limits.check(caller) for _ in range(5)]
    assert [v.allowed for v in verdicts] == [True] * 4 + [False]
    assert verdicts[3].remaining == 0
    assert verdicts[4].limit.amount == 4
    assert verdicts[0].remaining == 3  # per minute is closest to refusing
    assert not limits.peek(caller).allowed
    assert limits.peek(Caller("addr:192.0.2.10", "anonymous", caller.limits)).allowed


def test_an_ended_window_starts_again(tmp_path: Path) -> None:
    windows = LMDBWindows(tmp_path / "w.lmdb")
    assert [w.count for w in windows.hit("k", [0, 60])] == [1, 1]
    assert [w.count for w in windows.hit("k", [0, 60])] == [1, 2]
    assert [w.count for w in windows.peek("k", [0, 60])] == [0, 2]


def test_a_full_store_refuses_until_windows_end_and_make_room(tmp_path: Path) -> None:
    windows = LMDBWindows(tmp_path / "w.lmdb", map_bytes=256 * 1024)
    windows.hit("kept", [3600])
    held = _callers_until_full(windows, "addr", [1])
    assert held > 500  # a quarter of a MiB holds hundreds of callers
    time.sleep(1.1)
    # As many new callers again: the room of the ended windows is reused.
    assert _callers_until_full(windows, "new", [3600], most=held) == held
    assert windows.peek("kept", [3600])[0].count == 1


def _callers_until_full(
    windows: LMDBWindows, prefix: str, lengths: list[int], most: int = 100_000
) -> int:
    """How many new callers ``windows`` counts before it refuses one as full."""
    for n in range(most):
        try:
            windows.hit(f"{prefix}:{n}", lengths)
        except CountersUnavailable as refusal:
            refused = str(refusal)
            break
    else:
        return most
    assert "rate-limit counters" in refused, refused
    assert "are full" in refused, refused
    return n


def _hold_the_write_lock(path: str, holding: multiprocessing.Queue[bool]) -> None:
    windows = LMDBWindows(Path(path))
    with windows._env.begin(write=True):
        holding.put(True)
        time.sleep(600)


def test_a_process_killed_holding_the_counters_lock_does_not_stop_the_others(
    tmp_path: Path,
) -> None:
    path = tmp_path / "w.lmdb"
    windows = LMDBWindows(path)
    windows.hit("addr:one", [60])
    context = multiprocessing.get_context("spawn")
    holding = context.Queue()
    holder = context.Process(target=_hold_the_write_lock, args=(str(path), holding))
    holder.start()
    assert holding.get(timeout=60)
    os.kill(holder.pid, signal.SIGKILL)  # type: ignore[arg-type]
    holder.join(timeout=30)
    assert holder.exitcode == -signal.SIGKILL  # killed, not finished
    counted: list[int] = []
    counting = threading.Thread(
        target=lambda: counted.append(windows.hit("addr:one", [60])[0].count)
    )
    counting.start()
    counting.join(timeout=30)
    assert counted == [2]


def _hit_many(path: str, key: str, times: int, allowed: multiprocessing.Queue[int]) -> None:
    limits = RateLimits(LMDBWindows(Path(path)))
    caller = Caller(key, "anonymous", list(parse_many("50/minute;70/hour")))
    allowed.put(sum(limits.check(caller).allowed for _ in range(times)))


def _admit_and_take(
    path: str, quotas_of: tuple[int, int], served: multiprocessing.Queue[tuple[int, int]]
) -> None:
    quotas = SQLiteQuotas(Path(path))
    most_requests, most_rows = quotas_of
    requests = rows = 0
    for _ in range(30):
        if quotas.admit("key", MONTH, most_requests, most_rows) is None:
            requests += 1
            rows += quotas.take_rows("key", MONTH, most_rows, 3, whole=False)
    served.put((requests, rows))


def _in_processes(target: object, *args: object) -> list[object]:
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [
        context.Process(target=target, args=(*args, queue))  # type: ignore[arg-type]
        for _ in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)
        assert worker.exitcode == 0
    return results


def test_a_rate_limit_shared_by_processes_lets_exactly_its_limit_through(tmp_path: Path) -> None:
    allowed = _in_processes(_hit_many, str(tmp_path / "limits.lmdb"), "addr:one", 40)
    assert sum(allowed) == 50  # type: ignore[arg-type]  # 160 hits, 50 per minute


@pytest.mark.parametrize(
    ("quotas_of", "expected"),
    [
        ((30, 100), (30, 90)),  # the request quota binds: 30 requests of 3 rows
        ((50, 100), (34, 100)),  # the row quota binds: 33 x 3 rows, the 34th cut to 1
    ],
)
def test_quotas_shared_by_processes_serve_exactly_their_requests_and_rows(
    tmp_path: Path, quotas_of: tuple[int, int], expected: tuple[int, int]
) -> None:
    KeyStore(tmp_path / "keys.sqlite", b"x" * 32)  # the usage table quotas start from
    served = _in_processes(_admit_and_take, str(tmp_path / "keys.sqlite"), quotas_of)
    requests = sum(r for r, _ in served)  # type: ignore[misc]
    rows = sum(n for _, n in served)  # type: ignore[misc]
    assert (requests, rows) == expected  # of 4 x 30 tries
    assert SQLiteQuotas(tmp_path / "keys.sqlite").used("key", MONTH) == expected


@given(
    wants=st.lists(st.tuples(st.integers(0, 40), st.booleans()), max_size=30),
    quota=st.integers(1, 200),
)
def test_rows_taken_never_pass_the_quota_and_fill_it_when_asked(
    tmp_path_factory: pytest.TempPathFactory, wants: list[tuple[int, bool]], quota: int
) -> None:
    path = tmp_path_factory.mktemp("quota") / "keys.sqlite"
    KeyStore(path, b"x" * 32)
    quotas = SQLiteQuotas(path)
    assert quotas.admit("key", MONTH, None, quota) is None
    left = quota
    for wanted, whole in wants:
        got = quotas.take_rows("key", MONTH, quota, wanted, whole=whole)
        expected = (wanted if wanted <= left else 0) if whole else min(wanted, left)
        assert got == expected
        left -= got
    assert quotas.used("key", MONTH) == (1, quota - left)

"""The anonymous rate limiter in memory: counts, refuses, and starts no thread."""

from __future__ import annotations

import threading

import pytest
from limits import parse_many

from bawaba.api.limits import Caller, QuietMemoryStorage, RateLimits


def test_memory_limits_count_and_refuse_without_starting_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    limits = RateLimits("memory://")
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

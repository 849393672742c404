"""Fixed-window counters for rate limits, shared by every process that opens the same store.

``WindowCounter`` is the interface the rate limits use. Three implementations:

* ``LMDBWindows`` (``bawaba.core.lmdb_windows``): one LMDB file for the worker processes
  of one machine, one write transaction per request, atomic across processes.
* ``RedisWindows`` (``bawaba.core.redis_windows``): one Redis for many replicas
  (``redis://``, ``rediss://``, ``unix://``), one Lua script per request.
* ``LimitsWindows``: a storage of the ``limits`` library (``memory://`` for one process),
  one key per window.

A window starts at the first hit after the previous one ended, as in limits' fixed-window
strategy.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from limits.storage import MemoryStorage, Storage, storage_from_string

from bawaba.core.redis_client import connect, is_redis
from bawaba.errors import ConfigError

MAX_WINDOWS = 3
"""Limits one policy may have (``120/minute;3000/hour;20000/day``)."""


@dataclass(frozen=True, slots=True)
class Window:
    count: int
    """Hits in the window, this one included."""
    ends_at: float
    """Epoch seconds."""


class WindowCounter(Protocol):
    def hit(self, key: str, lengths: Sequence[int], cost: int = 1) -> list[Window]:
        """Add ``cost`` to each window of ``key`` (``lengths`` in seconds, at most
        ``MAX_WINDOWS``), starting again any that ended; the windows after the hit."""
        ...

    def peek(self, key: str, lengths: Sequence[int]) -> list[Window]:
        """The windows of ``key`` as they stand, without a hit."""
        ...


class QuietMemoryStorage(MemoryStorage):
    """limits' memory storage without its expiry thread.

    limits (5.8) schedules a 10 ms ``threading.Timer`` from every ``incr`` whose previous
    timer has finished, so under steady load the event loop starts up to a hundred threads
    a second and waits for each to run (measured: a third of a cached answer's time on a
    busy 2-core machine, bench/api.py). The timer only drops expired counters, which
    ``get`` already ignores, so this storage drops them inline instead, at most once per
    ``PURGE_EVERY_S``: memory stays bounded, no thread is started.
    """

    PURGE_EVERY_S = 1.0

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False) -> None:
        super().__init__(uri, wrap_exceptions=wrap_exceptions)
        self.timer.cancel()  # the one started by the constructor
        self._purged_at = time.monotonic()

    # Overrides the private hook that MemoryStorage.incr calls (name-mangled there).
    def _MemoryStorage__schedule_expiry(self) -> None:
        now = time.monotonic()
        if now - self._purged_at >= self.PURGE_EVERY_S:
            self._purged_at = now
            self._MemoryStorage__expire_events()  # type: ignore[attr-defined]


class LimitsWindows:
    """Counters in a storage of the limits library, one key per window."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def hit(self, key: str, lengths: Sequence[int], cost: int = 1) -> list[Window]:
        found = []
        for i, length in enumerate(lengths):
            name = f"{key}/{i}/{length}"
            count = self.storage.incr(name, length, amount=cost)
            found.append(Window(count, self.storage.get_expiry(name)))
        return found

    def peek(self, key: str, lengths: Sequence[int]) -> list[Window]:
        found = []
        for i, length in enumerate(lengths):
            name = f"{key}/{i}/{length}"
            found.append(Window(self.storage.get(name), self.storage.get_expiry(name)))
        return found


def open_counter(uri: str, var_dir: Path) -> WindowCounter:
    """The counter a storage URI names: ``lmdb://`` (a file under ``var_dir``),
    ``lmdb:///absolute/path``, ``redis://…`` (also ``rediss://``, ``unix://``),
    ``memory://``, or any other storage of limits whose client is installed."""
    if is_redis(uri):
        from bawaba.core.redis_windows import RedisWindows

        return RedisWindows(connect(uri))
    if uri == "lmdb://" or uri.startswith("lmdb:///"):
        from bawaba.core.lmdb_windows import LMDBWindows

        path = uri.removeprefix("lmdb://")
        return LMDBWindows(Path(path) if path else var_dir / "rate-limits.lmdb")
    if uri.startswith("memory://"):
        return LimitsWindows(QuietMemoryStorage(uri))
    try:
        storage = storage_from_string(uri)
    except Exception as error:  # limits raises ConfigurationError or the driver's own
        raise ConfigError(
            f"BAWABA_RATE_LIMIT_STORAGE_URI = {uri!r} is not a usable storage: {error}",
            hint="use lmdb:// (one machine, any number of workers), redis://host:6379/0 "
            "(many machines) or memory:// (one process)",
        ) from None
    if not isinstance(storage, Storage):
        raise ConfigError(
            f"BAWABA_RATE_LIMIT_STORAGE_URI = {uri!r} names an asynchronous storage",
            hint="drop the async+ prefix",
        )
    return LimitsWindows(storage)

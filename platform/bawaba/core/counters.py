"""Fixed-window counters for rate limits, shared by every process that opens the same store.

``WindowCounter`` is the interface the rate limits use. Three implementations:

* ``SQLiteWindows``: one SQLite file in WAL mode, for the worker processes of one machine.
  A caller's windows (at most ``MAX_WINDOWS``, e.g. per minute and per hour) are one row,
  counted by one upsert whose ``RETURNING`` gives the counts after it: one short write
  transaction per request, atomic across processes, so ``--workers N`` lets exactly the
  limit through rather than N times it. (Per window a row of its own took two statements
  and 2.5 times as long.)
* ``RedisWindows`` (``bawaba.core.redis_windows``): one Redis for many replicas
  (``redis://``, ``rediss://``, ``unix://``), one Lua script per request.
* ``LimitsWindows``: a storage of the ``limits`` library (``memory://`` for one process),
  one key per window.

A window starts at the first hit after the previous one ended, as in limits' fixed-window
strategy.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from limits.storage import MemoryStorage, Storage, storage_from_string

from bawaba.core.redis_client import connect, is_redis
from bawaba.errors import ConfigError

MAX_WINDOWS = 3
"""Limits one policy may have (``120/minute;3000/hour;20000/day``): a row's columns."""


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


_SCHEMA = """
CREATE TABLE IF NOT EXISTS windows (
    key TEXT PRIMARY KEY,
    ends0 REAL NOT NULL, n0 INTEGER NOT NULL,
    ends1 REAL NOT NULL, n1 INTEGER NOT NULL,
    ends2 REAL NOT NULL, n2 INTEGER NOT NULL
) WITHOUT ROWID
"""
# ?1 key, ?2 now, ?3 cost, ?4-?6 the windows' lengths (0 for none). A window that ended
# starts again at the cost; SET reads the row as it was, so each pair sees the old end.
_HIT = """
INSERT INTO windows VALUES (?1, ?2 + ?4, ?3, ?2 + ?5, ?3, ?2 + ?6, ?3)
ON CONFLICT (key) DO UPDATE SET
    n0 = CASE WHEN ends0 <= ?2 THEN ?3 ELSE n0 + ?3 END,
    ends0 = CASE WHEN ends0 <= ?2 THEN ?2 + ?4 ELSE ends0 END,
    n1 = CASE WHEN ends1 <= ?2 THEN ?3 ELSE n1 + ?3 END,
    ends1 = CASE WHEN ends1 <= ?2 THEN ?2 + ?5 ELSE ends1 END,
    n2 = CASE WHEN ends2 <= ?2 THEN ?3 ELSE n2 + ?3 END,
    ends2 = CASE WHEN ends2 <= ?2 THEN ?2 + ?6 ELSE ends2 END
RETURNING n0, ends0, n1, ends1, n2, ends2
"""
_PEEK = "SELECT n0, ends0, n1, ends1, n2, ends2 FROM windows WHERE key = ?"
_PURGE = "DELETE FROM windows WHERE max(ends0, ends1, ends2) <= ?"


class SQLiteWindows:
    """Counters in one SQLite file (WAL), shared by the processes that open it."""

    PURGE_EVERY_S = 60.0
    """How often a process drops the rows whose windows have all ended."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._purged_at = time.monotonic()
        path.parent.mkdir(parents=True, exist_ok=True)
        self._connection().execute(_SCHEMA)

    def _connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            # Counters are worth less than the time to sync them: a crash at worst forgets
            # the current windows.
            db = sqlite3.connect(self.path, timeout=10, isolation_level=None)
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = OFF")
            self._local.db = db
        return db

    @staticmethod
    def _padded(lengths: Sequence[int]) -> list[int]:
        if not 1 <= len(lengths) <= MAX_WINDOWS:
            raise ValueError(f"1 to {MAX_WINDOWS} windows, not {len(lengths)}")
        return [*lengths, *([0] * (MAX_WINDOWS - len(lengths)))]

    @staticmethod
    def _windows(row: Sequence[float], n: int) -> list[Window]:
        return [Window(int(row[2 * i]), float(row[2 * i + 1])) for i in range(n)]

    def hit(self, key: str, lengths: Sequence[int], cost: int = 1) -> list[Window]:
        now = time.time()
        db = self._connection()
        row = db.execute(_HIT, (key, now, cost, *self._padded(lengths))).fetchone()
        if time.monotonic() - self._purged_at >= self.PURGE_EVERY_S:
            self._purged_at = time.monotonic()
            db.execute(_PURGE, (now,))
        return self._windows(row, len(lengths))

    def peek(self, key: str, lengths: Sequence[int]) -> list[Window]:
        self._padded(lengths)
        now = time.time()
        row = self._connection().execute(_PEEK, (key,)).fetchone()
        if row is None:
            return [Window(0, now + length) for length in lengths]
        return [
            w if w.ends_at > now else Window(0, now + length)
            for w, length in zip(self._windows(row, len(lengths)), lengths, strict=True)
        ]


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
    """The counter a storage URI names: ``sqlite://`` (a file under ``var_dir``),
    ``sqlite:///absolute/path``, ``redis://…`` (also ``rediss://``, ``unix://``),
    ``memory://``, or any other storage of limits whose client is installed."""
    if is_redis(uri):
        from bawaba.core.redis_windows import RedisWindows

        return RedisWindows(connect(uri))
    if uri == "sqlite://":
        return SQLiteWindows(var_dir / "rate-limits.sqlite")
    if uri.startswith("sqlite:///"):
        return SQLiteWindows(Path(uri.removeprefix("sqlite://")))
    if uri.startswith("memory://"):
        return LimitsWindows(QuietMemoryStorage(uri))
    try:
        storage = storage_from_string(uri)
    except Exception as error:  # limits raises ConfigurationError or the driver's own
        raise ConfigError(
            f"BAWABA_RATE_LIMIT_STORAGE_URI = {uri!r} is not a usable storage: {error}",
            hint="use sqlite:// (one machine, any number of workers), redis://host:6379/0 "
            "(many machines) or memory:// (one process)",
        ) from None
    if not isinstance(storage, Storage):
        raise ConfigError(
            f"BAWABA_RATE_LIMIT_STORAGE_URI = {uri!r} names an asynchronous storage",
            hint="drop the async+ prefix",
        )
    return LimitsWindows(storage)
